//! PostgreSQL backend: production and several replicas.

use std::{fmt, str::FromStr, time::Duration};

use sqlx::{
    PgPool, Postgres,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{Backend, StoreResult, migrations, sql};

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
    const BACKEND: Backend = Backend::Postgres;
    /// Ends a read of rows a batch write will change: locked until the commit,
    /// so a conditional write after it cannot find them moved.
    const ROW_LOCK: &str = " FOR UPDATE";
    /// The SLA report's percentiles come from `percentile_disc` in the GROUP BY.
    const PERCENTILE_DISC: bool = true;
    /// The SLA report's month key of a ticket's creation (UTC): year × 12 + month − 1.
    const REPORT_MONTH: &str = "CAST(EXTRACT(YEAR FROM t.created_at AT TIME ZONE 'UTC') * 12 + EXTRACT(MONTH FROM t.created_at AT TIME ZONE 'UTC') - 1 AS BIGINT)";
    /// Ends the SLA report's per-ticket subquery: `OFFSET 0` keeps the planner
    /// from inlining it, so its expressions are computed once per ticket below
    /// the Gather, in the parallel workers, instead of once per aggregate in
    /// the single process that groups.
    const SUBQUERY_FENCE: &str = " OFFSET 0";
    /// Run before the SLA report's GROUP BY, in its transaction. The planner
    /// prices the on-site fallback subquery as if every ticket ran it, so a
    /// 1 M-ticket report crosses the JIT's inlining and optimisation
    /// thresholds: 3.2 s of compiling in a 6.8 s run (EXPLAIN ANALYZE).
    const REPORT_SETUP: Option<&str> = Some("SET LOCAL jit = off");

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
        let mut transaction = self.pool.begin().await?;
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

sql::impl_store!(PgStore, Postgres);

/// A session-level advisory lock held by a connection of its own (outside
/// the pool, so the lease never takes a pool slot or returns to it locked).
struct PgLease {
    connection: Option<sqlx::PgConnection>,
    key: i64,
}

impl fmt::Debug for PgLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLease")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl super::leader::HeldLease for PgLease {
    async fn still_held(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        // The lock lives as long as the session: a session that answers still
        // holds it. One that does not is closed, so the server frees the lock.
        let alive = sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&mut *connection)
            .await;
        match alive {
            Ok(_) => true,
            Err(_) => {
                if let Some(connection) = self.connection.take() {
                    let _ = sqlx::Connection::close(connection).await;
                }
                false
            }
        }
    }

    async fn release(mut self: Box<Self>) {
        if let Some(mut connection) = self.connection.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut connection)
                .await;
            let _ = sqlx::Connection::close(connection).await;
        }
    }
}

#[async_trait::async_trait]
impl super::leader::LeaderStore for PgStore {
    async fn try_acquire_lease(
        &self,
        job: &str,
    ) -> StoreResult<Option<Box<dyn super::leader::HeldLease>>> {
        use sqlx::ConnectOptions;
        let key = super::leader::advisory_key(job);
        let mut connection = self.pool.connect_options().connect().await?;
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if acquired {
            Ok(Some(Box::new(PgLease {
                connection: Some(connection),
                key,
            })))
        } else {
            let _ = sqlx::Connection::close(connection).await;
            Ok(None)
        }
    }
}
