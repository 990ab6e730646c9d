//! SQLite backend: the embedded default, one file under the data directory.

use std::{fmt, str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    StoreError, StoreResult, migrations, sql::impl_store, sql_assignment::impl_assignment_store,
    sql_locations::impl_location_store,
};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating the file and its directory when missing) with WAL and
    /// foreign keys on.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = options.get_filename();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Database(sqlx::Error::Configuration(
                    format!("cannot create database directory {}: {e}", dir.display()).into(),
                ))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn migrator(&self) -> Migrator {
        migrations::sqlite()
    }

    /// Takes the write lock up front: a deferred transaction that later
    /// upgrades to writing can fail with SQLITE_BUSY instead of waiting.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_store!(SqliteStore, Sqlite, super::Backend::Sqlite);
impl_location_store!(SqliteStore, Sqlite);
impl_assignment_store!(SqliteStore, Sqlite);
super::sql_offers::impl_offer_store!(SqliteStore, Sqlite);
super::sql_push::impl_push_store!(SqliteStore, Sqlite);
super::sql_territories::impl_territory_store!(SqliteStore, Sqlite);
super::sql_sla::impl_sla_store!(SqliteStore, Sqlite);
super::sql_sla_timers::impl_sla_timer_store!(SqliteStore, Sqlite);
super::sql_sla_report::impl_sla_report_store!(
    SqliteStore,
    Sqlite,
    false,
    "(CAST(strftime('%Y', o.created_us / 1000000, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', o.created_us / 1000000, 'unixepoch') AS INTEGER) - 1)"
);
super::sql_webhooks::impl_webhook_store!(SqliteStore, Sqlite);
super::sql_documents::impl_document_store!(SqliteStore, Sqlite);
super::sql_media::impl_media_store!(SqliteStore, Sqlite);

#[async_trait::async_trait]
impl super::leader::LeaderStore for SqliteStore {
    /// One process owns an SQLite database, so it leads every job.
    async fn try_acquire_lease(
        &self,
        _job: &str,
    ) -> StoreResult<Option<Box<dyn super::leader::HeldLease>>> {
        Ok(Some(Box::new(super::leader::ProcessLease)))
    }
}
