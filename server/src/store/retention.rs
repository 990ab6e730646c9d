//! Retention (issue 19): each tenant's policy, the bounded deletions the
//! housekeeping sweeper makes, and failed sign-ins shared by every replica.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actor, StoreResult};

/// A tenant's retention policy. `None`: kept (for location trails: the
/// server's `[dispatch] location_retention_days`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Months after a ticket is closed (or cancelled) before its personal
    /// fields — description, custom fields, comment bodies — are blanked.
    pub closed_ticket_anonymise_months: Option<u32>,
    /// Days after a ticket is closed before its photos are deleted
    /// (signatures are records of the job and stay).
    pub media_days: Option<u32>,
    /// Days location pings are kept.
    pub location_days: Option<u32>,
    /// Days after a ticket is closed before its comments are deleted.
    pub comment_days: Option<u32>,
}

/// Rows every tenant's housekeeping deletes once they are older than a
/// server-wide cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepKind {
    /// `Idempotency-Key`s created before the cut-off.
    IdempotencyKeys,
    /// Webhook deliveries delivered before the cut-off (dead letters stay).
    DeliveredWebhooks,
    /// Push notifications sent, queued before the cut-off (failed ones stay).
    SentPush,
    /// Customer emails and SMS sent before the cut-off (failed ones stay).
    SentNotifications,
    /// Staff notifications read before the cut-off.
    ReadStaffNotifications,
    /// Refresh tokens (sessions) that expired before the cut-off.
    ExpiredSessions,
    /// Failed sign-in counts last touched before the cut-off.
    LoginFailures,
    /// Location pings taken before the cut-off, of tenants without a
    /// `location_days` of their own.
    DefaultLocations,
}

impl SweepKind {
    pub const ALL: [SweepKind; 8] = [
        SweepKind::IdempotencyKeys,
        SweepKind::DeliveredWebhooks,
        SweepKind::SentPush,
        SweepKind::SentNotifications,
        SweepKind::ReadStaffNotifications,
        SweepKind::ExpiredSessions,
        SweepKind::LoginFailures,
        SweepKind::DefaultLocations,
    ];

    /// The name metrics and logs use.
    pub fn name(self) -> &'static str {
        match self {
            SweepKind::IdempotencyKeys => "idempotency_keys",
            SweepKind::DeliveredWebhooks => "delivered_webhooks",
            SweepKind::SentPush => "sent_push",
            SweepKind::SentNotifications => "sent_notifications",
            SweepKind::ReadStaffNotifications => "read_staff_notifications",
            SweepKind::ExpiredSessions => "expired_sessions",
            SweepKind::LoginFailures => "login_failures",
            SweepKind::DefaultLocations => "locations",
        }
    }
}

/// What one tenant's policy removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSweep {
    /// Location pings taken before the cut-off.
    Locations,
    /// Comments of tickets closed before the cut-off.
    Comments,
    /// Photos (not signatures) of tickets closed before the cut-off.
    Media,
    /// Personal fields of tickets closed before the cut-off.
    AnonymiseTickets,
}

impl TenantSweep {
    pub fn name(self) -> &'static str {
        match self {
            TenantSweep::Locations => "tenant_locations",
            TenantSweep::Comments => "comments",
            TenantSweep::Media => "media",
            TenantSweep::AnonymiseTickets => "anonymised_tickets",
        }
    }
}

/// A media object whose row a sweep deleted: its content may now be unreferenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptObject {
    pub tenant_id: Uuid,
    pub sha256: String,
}

/// What one bounded sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Rows deleted or anonymised.
    pub rows: u64,
    /// Media contents whose rows were deleted (only for [`TenantSweep::Media`]).
    pub objects: Vec<SweptObject>,
}

#[async_trait]
pub trait RetentionStore {
    /// The tenant's policy (all `None` until one is set).
    async fn retention_policy(&self, tenant_id: Uuid) -> StoreResult<RetentionPolicy>;
    /// Replaces the tenant's policy, audited.
    async fn set_retention_policy(
        &self,
        actor: Actor,
        policy: &RetentionPolicy,
    ) -> StoreResult<RetentionPolicy>;
    /// Every tenant that set a policy.
    async fn retention_policies(&self) -> StoreResult<Vec<(Uuid, RetentionPolicy)>>;
    /// Deletes at most `limit` rows of `kind` older than `before`.
    async fn sweep_expired(
        &self,
        kind: SweepKind,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64>;
    /// Applies at most `limit` rows' worth of one part of a tenant's policy
    /// with its cut-off `before`, at `now`.
    async fn sweep_tenant(
        &self,
        tenant_id: Uuid,
        sweep: TenantSweep,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Swept>;
    /// Documents of tickets (any tenant) closed or cancelled before
    /// `before` and not squashed since: (tenant, ticket, document version).
    async fn squash_candidates(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, Uuid, i64)>>;
    /// Replaces the ticket's document with `snapshot` (the same content
    /// without history) if it is still at `version`, drops its chunks and
    /// every device's sync state for it, audited. `false`: it moved on.
    async fn replace_squashed_document(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        version: i64,
        snapshot: &[u8],
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Consecutive failed sign-ins of one (account, address) pair and the last one's time.
    async fn login_failures(&self, pair_hash: &str) -> StoreResult<Option<(u32, DateTime<Utc>)>>;
    async fn record_login_failure(&self, pair_hash: &str, at: DateTime<Utc>) -> StoreResult<()>;
    async fn clear_login_failures(&self, pair_hash: &str) -> StoreResult<()>;
}
