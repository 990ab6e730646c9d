//! Persistence: the `Store` trait, two backends (PostgreSQL and SQLite).
//!
//! `Store` is the sum of one sub-trait per resource, each in its own file
//! beside this one (`users.rs`, `tickets.rs`, `offers.rs`, …) with the types
//! it takes and returns. Methods of the sub-traits are callable on a
//! `dyn Store` without importing them.
//!
//! The SQL is portable and written once, in `sql/` (one file per resource,
//! the same names); `postgres.rs` and `sqlite.rs` own their connection,
//! migrations and dialect details and instantiate it with one macro call.
//! Row structs are private (`rows.rs`) and converted to domain types.

pub mod approvals;
pub mod assignment;
pub mod audit;
pub mod automation;
pub mod backup;
pub mod console;
pub mod customers;
pub mod documents;
pub mod export;
pub mod idempotency;
pub mod intake;
pub mod knowledge;
pub mod leader;
pub mod lifecycle;
pub mod locations;
pub mod macros;
pub mod maintenance;
pub mod media;
pub mod migrations;
pub mod notify;
pub mod offers;
pub mod parts;
pub mod postgres;
pub mod privacy;
pub mod progress;
pub mod push;
pub mod report;
pub mod retention;
mod rows;
pub mod schedule;
pub mod search;
pub mod sla;
pub mod sla_report;
pub mod sla_timers;
mod sql;
pub mod sqlite;
pub mod technicians;
pub mod territories;
pub mod tickets;
pub mod users;
pub mod watch;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use idempotency::{IdempotencyBegin, StoredResponse};
pub use tickets::TicketFilter;
pub use users::{RefreshOutcome, RefreshTokenRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule or a concurrent change: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A reference to a record that does not exist in this tenant.
    #[error("{field}: {message}")]
    Reference {
        field: &'static str,
        message: String,
    },
    /// The record is referred to (by open tickets, for an archive): the
    /// reason in words, e.g. "site has 3 open tickets".
    #[error("{0}")]
    InUse(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Who is writing, for the audit log and tenant scoping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: Uuid,
    /// Absent for the command line and system jobs.
    pub user_id: Option<Uuid>,
}

/// Keyset pagination: items after `after` in id (creation) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Id of the last item when more may follow.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Everything Truckroll keeps in its database.
#[async_trait]
pub trait Store:
    users::UserStore
    + technicians::TechnicianStore
    + customers::CustomerStore
    + tickets::TicketStore
    + audit::AuditStore
    + idempotency::IdempotencyStore
    + locations::LocationStore
    + assignment::AssignmentStore
    + offers::OfferStore
    + push::PushStore
    + territories::TerritoryStore
    + sla::SlaStore
    + sla_report::SlaReportStore
    + sla_timers::SlaTimerStore
    + webhooks::WebhookStore
    + documents::DocumentStore
    + leader::LeaderStore
    + media::MediaStore
    + intake::IntakeStore
    + notify::NotifyStore
    + console::ConsoleStore
    + report::ReportStore
    + lifecycle::LifecycleStore
    + search::SearchStore
    + progress::ProgressStore
    + schedule::ScheduleStore
    + maintenance::MaintenanceStore
    + automation::AutomationStore
    + knowledge::KnowledgeStore
    + parts::PartStore
    + approvals::ApprovalStore
    + macros::MacroStore
    + watch::WatchStore
    + retention::RetentionStore
    + privacy::PrivacyStore
    + Send
    + Sync
    + std::fmt::Debug
{
    fn backend(&self) -> Backend;
    async fn migrate(&self) -> StoreResult<()>;
    /// Database reachable and every migration applied.
    async fn ready(&self) -> StoreResult<bool>;
    /// (connections open, connections idle)
    fn pool_stats(&self) -> (u32, u32);
}

/// Opens the backend `database_url` names and applies its migrations.
pub async fn connect(database_url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if database_url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::connect(database_url, max_connections).await?)
    } else {
        Arc::new(postgres::PgStore::connect(database_url, max_connections).await?)
    };
    Ok(store)
}
