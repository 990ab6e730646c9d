//! PostgreSQL backend: production and several replicas.

use std::{fmt, str::FromStr, time::Duration};

use sqlx::{
    PgPool, Postgres,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    StoreResult, migrations, sql::impl_store, sql_assignment::impl_assignment_store,
    sql_locations::impl_location_store,
};

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and operations that inspect the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn migrator(&self) -> Migrator {
        migrations::postgres()
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

impl_store!(PgStore, Postgres, super::Backend::Postgres);
impl_location_store!(PgStore, Postgres);
impl_assignment_store!(PgStore, Postgres);
super::sql_offers::impl_offer_store!(PgStore, Postgres);
super::sql_push::impl_push_store!(PgStore, Postgres);
super::sql_territories::impl_territory_store!(PgStore, Postgres);
super::sql_sla::impl_sla_store!(PgStore, Postgres);
super::sql_documents::impl_document_store!(PgStore, Postgres);
