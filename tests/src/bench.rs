//! Shared setup of the benchmark binaries that bulk-load a throwaway
//! database with SQL (`kb-bench`, `parts-bench`, `search-bench`): the
//! backend argument, a fresh migrated database with one tenant and its
//! admin, the two dialects' row series and id expressions, a deterministic
//! pseudo-random sequence, percentiles, and raw id queries.

use truckroll_server::domain::people::{NewUser, Role};
use uuid::Uuid;

use crate::{RawDb, TestBackend, TestDb};

/// The first command-line argument: `postgres` (the default) or `sqlite`.
pub fn backend_arg(arg: Option<&str>) -> anyhow::Result<TestBackend> {
    match arg {
        Some("sqlite") => Ok(TestBackend::Sqlite),
        Some("postgres") | None => Ok(TestBackend::Postgres),
        Some(other) => anyhow::bail!("unknown backend `{other}` (postgres or sqlite)"),
    }
}

/// A fresh database with one tenant, `bench`, and its admin.
pub struct Bench {
    pub backend: TestBackend,
    pub db: TestDb,
    /// Raw SQL on the same database (one connection).
    pub raw: RawDb,
    pub tenant_id: Uuid,
    /// The admin's user id.
    pub user_id: Uuid,
    pub sql: Dialect,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("backend", &self.backend)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Bench {
    pub async fn open(backend: TestBackend) -> anyhow::Result<Self> {
        let db = TestDb::new(backend).await;
        let admin = NewUser {
            email: "admin@bench.test".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password: "not-used-for-login".into(),
        };
        let (tenant, user) = db
            .store
            .create_tenant("bench", &admin, "unused-hash")
            .await?;
        let raw = db.raw().await;
        Ok(Self {
            backend,
            db,
            raw,
            tenant_id: tenant.id,
            user_id: user.id,
            sql: Dialect::of(backend),
        })
    }

    /// Closes the raw connection (the database is dropped with `db`).
    pub async fn close(self) {
        self.raw.close().await;
    }

    /// `VACUUM ANALYZE` (PostgreSQL) or `ANALYZE` (SQLite) after loading.
    pub async fn analyze(&self) {
        match self.backend {
            TestBackend::Postgres => self.raw.execute("VACUUM ANALYZE", &[]).await,
            TestBackend::Sqlite => self.raw.execute("ANALYZE", &[]).await,
        };
    }
}

/// The SQL that differs between the backends in bulk loads.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// A `FROM` item of rows `g` = 1..={n}.
    series: &'static str,
    /// A fresh id per row (`{p}`: a prefix keeping kinds apart).
    uuid: &'static str,
    /// The current time as the backend stores it.
    pub now: &'static str,
}

impl Dialect {
    pub fn of(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Postgres => Self {
                series: "generate_series(CAST(1 AS BIGINT), {n}) AS s(g)",
                uuid: "md5('{p}' || g)::uuid",
                now: "now()",
            },
            TestBackend::Sqlite => Self {
                series: "(WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r WHERE g < {n}) SELECT g FROM r) AS s",
                uuid: "randomblob(16)",
                now: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            },
        }
    }

    /// A `FROM` item of `count` rows, `g` = 1..=count.
    pub fn rows(&self, count: u64) -> String {
        self.series.replace("{n}", &count.to_string())
    }

    /// A fresh id per row `g`, different per `prefix`.
    pub fn id(&self, prefix: &str) -> String {
        self.uuid.replace("{p}", prefix)
    }
}

/// The `p`-th percentile (nearest rank) of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// A deterministic pseudo-random sequence (same queries every run).
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `below`.
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }

    /// The next index below `len`.
    pub fn index(&mut self, len: usize) -> usize {
        self.next(len as u64) as usize
    }
}

/// The ids a raw query answers.
pub async fn ids(db: &RawDb, sql: &str) -> Vec<Uuid> {
    match db {
        RawDb::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("raw query failed: {sql}: {e}")),
        RawDb::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("raw query failed: {sql}: {e}")),
    }
}
