//! [`backend_tests!`]: the one macro that runs a test on every database
//! backend, with the same layout everywhere — `name::sqlite` and
//! `name::postgres` (and `name::sqlite_fs` … `name::postgres_s3` for tests
//! that also run on both blob stores).

use std::future::Future;

use crate::{TestBackend, TestDb};

/// Marks a test function taking the backend: it starts what it needs itself
/// (usually a [`crate::app::TestApp`]).
#[derive(Debug)]
pub enum TakesBackend {}

/// Marks a test function taking `&TestDb`: it gets a fresh, migrated
/// database of its own.
#[derive(Debug)]
pub enum TakesDb {}

/// A test body [`backend_tests!`] can run on one backend: an
/// `async fn(TestBackend)` or an `async fn(&TestDb)`.
pub trait BackendTest<Takes> {
    fn run(self, backend: TestBackend) -> impl Future<Output = ()>;
}

impl<F, Fut> BackendTest<TakesBackend> for F
where
    F: FnOnce(TestBackend) -> Fut,
    Fut: Future<Output = ()>,
{
    fn run(self, backend: TestBackend) -> impl Future<Output = ()> {
        self(backend)
    }
}

impl<F> BackendTest<TakesDb> for F
where
    F: AsyncFnOnce(&TestDb),
{
    async fn run(self, backend: TestBackend) {
        let db = TestDb::new(backend).await;
        self(&db).await;
    }
}

/// For each `async fn name(…)` listed, generates the module `name` with the
/// tests `sqlite` and `postgres`, so `cargo test … name` runs both and
/// `cargo test … ::postgres` one backend across the suite. The function
/// takes either a [`TestBackend`] or a `&TestDb` (a fresh database per
/// test). Attributes written before a name (e.g. `#[ignore = "why"]`) apply
/// to every generated test.
///
/// `backend_tests!(blobs: name, …)` is for `async fn name(backend:
/// TestBackend, blobs: media::Blobs)`: `name::{sqlite,postgres}_{fs,s3}`.
///
/// ```ignore
/// async fn tickets_are_numbered(db: &TestDb) { /* … */ }
/// async fn login_works(backend: TestBackend) { /* … */ }
/// truckroll_tests::backend_tests!(tickets_are_numbered, login_works);
/// ```
#[macro_export]
macro_rules! backend_tests {
    (blobs: $($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        mod $name {
            $crate::backend_tests!(@blobs $(#[$meta])* $name, sqlite_fs, Sqlite, Fs);
            $crate::backend_tests!(@blobs $(#[$meta])* $name, sqlite_s3, Sqlite, S3);
            $crate::backend_tests!(@blobs $(#[$meta])* $name, postgres_fs, Postgres, Fs);
            $crate::backend_tests!(@blobs $(#[$meta])* $name, postgres_s3, Postgres, S3);
        }
    )+};
    (@blobs $(#[$meta:meta])* $name:ident, $test:ident, $backend:ident, $blobs:ident) => {
        $(#[$meta])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            super::$name($crate::TestBackend::$backend, $crate::media::Blobs::$blobs).await;
        }
    };
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        mod $name {
            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::BackendTest::run(super::$name, $crate::TestBackend::Sqlite).await;
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::BackendTest::run(super::$name, $crate::TestBackend::Postgres).await;
            }
        }
    )+};
}
