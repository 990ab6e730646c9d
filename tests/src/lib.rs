//! Shared support for Truckroll's integration tests.
//!
//! - [`sqlite_store`] and [`postgres_store`] open a brand-new, migrated
//!   database per call; the returned guard removes it on drop, so tests can
//!   run in parallel without seeing each other's data.
//! - [`TestDb`] bundles a store with its guard and opens raw connections
//!   ([`RawDb`]) for tests that must go around the `Store` API, e.g. to
//!   tamper with the audit log.
//! - [`backend_tests!`] runs each listed test once on SQLite and once on
//!   PostgreSQL (`name::sqlite`, `name::postgres`).
//! - [`fixtures`] builds valid domain inputs and API worlds (a shop with
//!   technicians, a technician with assigned tickets) with little ceremony.
//!
//! PostgreSQL is found through `TEST_DATABASE_URL` (default
//! [`DEFAULT_TEST_DATABASE_URL`]); when it cannot be reached the tests panic
//! with a clear message instead of being skipped.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use sqlx::{
    Connection, PgConnection, PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use truckroll_server::store::{Store, postgres::PgStore, sqlite::SqliteStore};
use uuid::Uuid;

/// Used when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every database [`postgres_store`] creates.
pub const TEST_DATABASE_PREFIX: &str = "truckroll_test_";

/// Connections per test store: enough for the concurrency tests, few enough
/// that many tests in parallel stay under PostgreSQL's `max_connections`.
const POOL_SIZE: u32 = 5;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// SQLite

/// A temporary directory holding one SQLite database; removed on drop.
#[derive(Debug)]
pub struct TempGuard {
    dir: PathBuf,
    url: String,
}

impl TempGuard {
    /// A fresh, empty, uniquely named directory under the system temp dir.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", dir.display()));
        Self {
            dir,
            url: String::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `sqlite://…` of the database in this directory (empty for a bare directory).
    pub fn database_url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh SQLite file database in its own temp dir, migrated.
pub async fn sqlite_store() -> (Arc<dyn Store>, TempGuard) {
    let mut guard = TempGuard::new("truckroll-test-");
    guard.url = format!("sqlite://{}", guard.dir.join("truckroll.db").display());
    let store = SqliteStore::connect(&guard.url, POOL_SIZE)
        .await
        .unwrap_or_else(|e| panic!("cannot open SQLite test database {}: {e}", guard.url));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate SQLite test database {}: {e}", guard.url));
    (Arc::new(store), guard)
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// `TEST_DATABASE_URL`, or [`DEFAULT_TEST_DATABASE_URL`].
pub fn test_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_DATABASE_URL.to_owned())
}

/// `url` with its database (the path) replaced by `database`, keeping any
/// `?query` parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

/// One throwaway PostgreSQL database; dropped (best effort) with the guard.
#[derive(Debug)]
pub struct PgGuard {
    admin_url: String,
    name: String,
    url: String,
}

impl PgGuard {
    /// URL of the test database itself, for raw connections.
    pub fn database_url(&self) -> &str {
        &self.url
    }

    pub fn database_name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        // Drop may run inside a runtime (or while unwinding from a failed
        // test): do the async work on a thread with its own runtime.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let connect = tokio::time::timeout(CONNECT_TIMEOUT, admin_connection(&admin_url));
                if let Ok(Ok(mut admin)) = connect.await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = worker.join();
    }
}

async fn admin_connection(url: &str) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    PgConnection::connect_with(&options).await
}

/// A brand-new PostgreSQL database `truckroll_test_<uuid>`, migrated.
///
/// Panics when the server in `TEST_DATABASE_URL` cannot be reached: a test
/// run without PostgreSQL must fail loudly, never pass by skipping.
pub async fn postgres_store() -> (Arc<dyn Store>, PgGuard) {
    let admin_url = test_database_url();
    let unreachable = |detail: String| -> ! {
        panic!(
            "PostgreSQL not reachable at {admin_url}: start it (scripts/test.sh does) \
             or set TEST_DATABASE_URL ({detail})"
        )
    };
    let mut admin = match tokio::time::timeout(CONNECT_TIMEOUT, admin_connection(&admin_url)).await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => unreachable(e.to_string()),
        Err(_) => unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")),
    };
    let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name} at {admin_url}: {e}"));
    let _ = admin.close().await;
    // From here on the guard drops the database, even if a later step panics.
    let guard = PgGuard {
        url: with_database(&admin_url, &name),
        admin_url,
        name,
    };
    let store = PgStore::connect(&guard.url, POOL_SIZE)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", guard.url));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate test database {}: {e}", guard.url));
    (Arc::new(store), guard)
}

// ---------------------------------------------------------------------------
// Backend-neutral test database

/// Which backend a [`TestDb`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

#[derive(Debug)]
enum Guard {
    Sqlite(TempGuard),
    Postgres(PgGuard),
}

/// A migrated store in its own database, removed when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    // Declared before the guard so the pool is released first.
    pub store: Arc<dyn Store>,
    guard: Guard,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let (store, guard) = sqlite_store().await;
        Self {
            store,
            guard: Guard::Sqlite(guard),
        }
    }

    pub async fn postgres() -> Self {
        let (store, guard) = postgres_store().await;
        Self {
            store,
            guard: Guard::Postgres(guard),
        }
    }

    /// The SQLite database `truckroll.db` in `dir`, made by something else
    /// (`truckroll restore`), opened and migrated; removed with `dir`.
    pub async fn existing_sqlite(mut dir: TempGuard) -> Self {
        dir.url = format!("sqlite://{}", dir.dir.join("truckroll.db").display());
        let store = SqliteStore::connect(&dir.url, POOL_SIZE)
            .await
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", dir.url));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate {}: {e}", dir.url));
        Self {
            store: Arc::new(store),
            guard: Guard::Sqlite(dir),
        }
    }

    pub async fn new(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Sqlite => Self::sqlite().await,
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    pub fn backend(&self) -> TestBackend {
        match self.guard {
            Guard::Sqlite(_) => TestBackend::Sqlite,
            Guard::Postgres(_) => TestBackend::Postgres,
        }
    }

    pub fn database_url(&self) -> &str {
        match &self.guard {
            Guard::Sqlite(guard) => guard.database_url(),
            Guard::Postgres(guard) => guard.database_url(),
        }
    }

    /// A separate raw connection to the same database.
    pub async fn raw(&self) -> RawDb {
        RawDb::connect(self.database_url()).await
    }
}

/// Raw SQL on a test database, around the `Store` API. Statements use `$N`
/// placeholders (both backends accept them) bound to UUIDs, in order.
#[derive(Debug, Clone)]
pub enum RawDb {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl RawDb {
    pub async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .unwrap_or_else(|e| panic!("bad SQLite URL {url}: {e}"))
                .foreign_keys(true)
                .busy_timeout(CONNECT_TIMEOUT);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
            Self::Sqlite(pool)
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect(url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
            Self::Postgres(pool)
        }
    }

    /// Runs a statement; returns the number of rows it affected.
    pub async fn execute(&self, sql: &str, ids: &[Uuid]) -> u64 {
        let result = match self {
            Self::Postgres(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(pool).await.map(|r| r.rows_affected())
            }
            Self::Sqlite(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(pool).await.map(|r| r.rows_affected())
            }
        };
        result.unwrap_or_else(|e| panic!("raw statement failed: {sql}: {e}"))
    }

    /// Runs a query returning one integer, e.g. `SELECT COUNT(*) …`.
    pub async fn scalar_i64(&self, sql: &str, ids: &[Uuid]) -> i64 {
        let result = match self {
            Self::Postgres(pool) => {
                let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_one(pool).await
            }
            Self::Sqlite(pool) => {
                let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_one(pool).await
            }
        };
        result.unwrap_or_else(|e| panic!("raw query failed: {sql}: {e}"))
    }

    /// Runs a query returning one optional text value.
    pub async fn scalar_text(&self, sql: &str, ids: &[Uuid]) -> Option<String> {
        let result = match self {
            Self::Postgres(pool) => {
                let mut query =
                    sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_one(pool).await
            }
            Self::Sqlite(pool) => {
                let mut query =
                    sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_one(pool).await
            }
        };
        result.unwrap_or_else(|e| panic!("raw query failed: {sql}: {e}"))
    }

    /// Every `table.column` (tables and columns discovered from the
    /// catalogue, not listed by hand) holding any of `needles` in a text,
    /// JSON, full-text or binary value. On SQLite every column is read, as
    /// a blob, since any column may hold text.
    pub async fn columns_containing(&self, needles: &[&str]) -> Vec<String> {
        let holds = |bytes: &[u8]| {
            needles.iter().any(|n| {
                let n = n.as_bytes();
                !n.is_empty() && bytes.windows(n.len()).any(|w| w == n)
            })
        };
        let mut found = Vec::new();
        match self {
            Self::Postgres(pool) => {
                let columns: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() ORDER BY table_name, column_name",
                )
                .fetch_all(pool)
                .await
                .expect("catalogue");
                for (table, column, data_type) in columns {
                    let values: Vec<Vec<u8>> = match data_type.as_str() {
                        "bytea" => sqlx::query_scalar::<_, Option<Vec<u8>>>(sqlx::AssertSqlSafe(
                            format!("SELECT \"{column}\" FROM \"{table}\""),
                        ))
                        .fetch_all(pool)
                        .await
                        .unwrap_or_else(|e| panic!("{table}.{column}: {e}"))
                        .into_iter()
                        .flatten()
                        .collect(),
                        "text" | "character varying" | "character" | "json" | "jsonb"
                        | "tsvector" | "ARRAY" | "USER-DEFINED" => {
                            sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(format!(
                                "SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\""
                            )))
                            .fetch_all(pool)
                            .await
                            .unwrap_or_else(|e| panic!("{table}.{column}: {e}"))
                            .into_iter()
                            .flatten()
                            .map(String::into_bytes)
                            .collect()
                        }
                        _ => continue,
                    };
                    if values.iter().any(|v| holds(v)) {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
            Self::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )
                .fetch_all(pool)
                .await
                .expect("catalogue");
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT name FROM pragma_table_info('{table}')"
                    )))
                    .fetch_all(pool)
                    .await
                    .expect("columns");
                    for column in columns {
                        let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(
                            format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""),
                        ))
                        .fetch_all(pool)
                        .await
                        .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
                        if values.iter().flatten().any(|v| holds(v)) {
                            found.push(format!("{table}.{column}"));
                        }
                    }
                }
            }
        }
        found
    }

    /// How many columns `columns_containing` reads: the scan is not empty.
    pub async fn table_count(&self) -> i64 {
        match self {
            Self::Postgres(_) => {
                self.scalar_i64(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                    &[],
                )
                .await
            }
            Self::Sqlite(_) => {
                self.scalar_i64(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                    &[],
                )
                .await
            }
        }
    }

    pub async fn close(self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

pub mod fixtures;

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432", "t1"),
            "postgres://u:p@db:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u@h/x?sslmode=disable", "t1"),
            "postgresql://u@h/t1?sslmode=disable"
        );
    }
}

pub mod app;
pub mod backends;
pub mod bench;
pub mod browser;
pub mod intake;
pub mod js_client;
pub mod live;
pub mod media;
pub mod pg_notices;
pub mod smtp;

pub use backends::BackendTest;
