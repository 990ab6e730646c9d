//! Persistence: one `Store` trait, two backends (PostgreSQL and SQLite).
//!
//! The SQL is portable and written once (`sql.rs`); each backend module owns
//! its connection, migrations and dialect details and instantiates it.

pub mod assignment;
pub mod documents;
pub mod leader;
pub mod locations;
pub mod media;
pub mod migrations;
pub mod offers;
pub mod postgres;
pub mod push;
mod rows;
pub mod sla;
pub mod sla_report;
pub mod sla_timers;
mod sql;
mod sql_assignment;
mod sql_documents;
mod sql_locations;
mod sql_media;
mod sql_offers;
mod sql_push;
mod sql_sla;
mod sql_sla_report;
mod sql_sla_timers;
mod sql_territories;
mod sql_webhooks;
pub mod sqlite;
pub mod territories;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    audit::{AuditEntry, ChainReport},
    people::{
        Asset, Customer, Device, NewAsset, NewCustomer, NewDevice, NewSite, NewTechnician, NewUser,
        Site, Technician, Tenant, User, UserPatch,
    },
    ticket::{Category, Comment, NewCategory, NewComment, NewTicket, Priority, Ticket},
};
use truckroll_sync::Status;

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub assignee_id: Option<Uuid>,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub site_id: Option<Uuid>,
    /// Tickets whose site resolves to this territory.
    pub territory_id: Option<Uuid>,
    pub tag: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of title or description.
    pub text: Option<String>,
}

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The old token is spent; the new one is stored in the same family.
    Rotated(User),
    /// The token was already rotated: the whole family is now revoked.
    Reused,
    /// Unknown, expired, revoked, or its user is inactive.
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time: run the request, then `idempotency_complete`.
    Started,
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used before with a different request.
    Mismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Everything Truckroll keeps in its database.
#[async_trait]
pub trait Store:
    locations::LocationStore
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

    // Tenants and users.
    async fn create_tenant(
        &self,
        name: &str,
        admin: &NewUser,
        admin_password_hash: &str,
    ) -> StoreResult<(Tenant, User)>;
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>>;
    async fn user_credentials(
        &self,
        tenant_id: Uuid,
        email: &str,
    ) -> StoreResult<Option<(User, String)>>;
    async fn create_user(
        &self,
        actor: Actor,
        user: &NewUser,
        password_hash: &str,
    ) -> StoreResult<User>;
    async fn get_user(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<User>;
    async fn list_users(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<User>>;
    async fn update_user(
        &self,
        actor: Actor,
        id: Uuid,
        patch: &UserPatch,
        password_hash: Option<&str>,
    ) -> StoreResult<User>;

    // Tokens and devices.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Spends the token hashed `old_hash` and stores `new_hash` in its
    /// family (same tenant and user), valid until `expires_at`.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;
    async fn register_device(
        &self,
        actor: Actor,
        user_id: Uuid,
        device: &NewDevice,
    ) -> StoreResult<Device>;

    // Technicians, customers, sites, assets, categories.
    async fn create_technician(
        &self,
        actor: Actor,
        technician: &NewTechnician,
    ) -> StoreResult<Technician>;
    async fn get_technician(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Technician>;
    async fn technician_for_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Technician>>;
    async fn list_technicians(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Technician>>;
    /// Writes `after` if the technician was not changed since `before` was read.
    async fn update_technician(
        &self,
        actor: Actor,
        before: &Technician,
        after: &Technician,
    ) -> StoreResult<Technician>;
    async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer>;
    async fn list_customers(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;
    async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site>;
    async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site>;
    async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>>;
    async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset>;
    async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset>;
    async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>>;
    async fn create_category(&self, actor: Actor, category: &NewCategory) -> StoreResult<Category>;
    async fn category_by_name(&self, tenant_id: Uuid, name: &str) -> StoreResult<Option<Category>>;
    async fn list_categories(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Category>>;

    // Tickets and comments.
    async fn create_ticket(&self, actor: Actor, ticket: &NewTicket) -> StoreResult<Ticket>;
    async fn get_ticket(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket>;
    async fn list_tickets(
        &self,
        tenant_id: Uuid,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Ticket>>;
    /// Writes `after` if the ticket was not changed since `before` was read
    /// (otherwise `Conflict`), with its audit entry, in one transaction.
    async fn update_ticket(
        &self,
        actor: Actor,
        before: &Ticket,
        after: &Ticket,
    ) -> StoreResult<Ticket>;
    async fn add_comment(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        comment: &NewComment,
    ) -> StoreResult<Comment>;
    async fn list_comments(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Comment>>;

    // Audit log.
    async fn list_audit(
        &self,
        tenant_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    async fn verify_audit(&self, tenant_id: Uuid) -> StoreResult<ChainReport>;

    // Idempotency keys.
    async fn idempotency_begin(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key: &str,
        request_hash: &str,
    ) -> StoreResult<IdempotencyBegin>;
    async fn idempotency_complete(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    async fn idempotency_abort(&self, tenant_id: Uuid, user_id: Uuid, key: &str)
    -> StoreResult<()>;
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
