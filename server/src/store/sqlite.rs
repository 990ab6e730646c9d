//! SQLite backend: the embedded default, one file under the data directory.

use std::{fmt, str::FromStr, time::Duration};

use sqlx::{
    Sqlite, SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{Backend, StoreError, StoreResult, migrations, sql};

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
    const BACKEND: Backend = Backend::Sqlite;
    /// Ends a read of rows a batch write will change: nothing on SQLite, whose
    /// write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
    const ROW_LOCK: &str = "";
    /// SQLite has no `percentile_disc`: the SLA report ranks with window queries.
    const PERCENTILE_DISC: bool = false;
    /// The SLA report's month key of a ticket's creation (UTC): year × 12 + month − 1.
    const REPORT_MONTH: &str = "(CAST(strftime('%Y', o.created_us / 1000000, 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', o.created_us / 1000000, 'unixepoch') AS INTEGER) - 1)";
    /// Ends the SLA report's per-ticket subquery (nothing to add on SQLite).
    const SUBQUERY_FENCE: &str = "";
    /// Run before the SLA report's GROUP BY (nothing on SQLite).
    const REPORT_SETUP: Option<&str> = None;

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
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // The request's Idempotency-Key commits with its write, so a retry
        // after a crash knows the write happened (`store/idempotency.rs`).
        if let Some(request) = super::idempotency::current_idempotent_request() {
            sqlx::query(
                "UPDATE idempotency_keys SET committed_at = $4 \
                 WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND committed_at IS NULL",
            )
            .bind(request.tenant_id)
            .bind(request.user_id)
            .bind(&request.key)
            .bind(super::sql::now())
            .execute(&mut *transaction)
            .await?;
        }
        Ok(transaction)
    }
}

sql::impl_store!(SqliteStore, Sqlite);

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
