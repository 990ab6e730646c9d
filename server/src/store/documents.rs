//! Ticket documents: a compacted Automerge snapshot plus incremental change
//! chunks per ticket, per-(device, ticket) sync states, and the projection
//! of a merged document into the ticket row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, StoreResult};

/// Incremental bytes past which a write compacts the document into one
/// snapshot, so loading a ticket never replays more than this.
pub const COMPACT_THRESHOLD_BYTES: i64 = 64 * 1024;

/// A document as stored: snapshot and the chunks written after it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub snapshot: Vec<u8>,
    pub chunks: Vec<Vec<u8>>,
    pub incremental_bytes: i64,
    /// Bumped by every write; writes are conditional on it.
    pub version: i64,
}

/// What a merge changed in the ticket row.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// The folded status, written only when the merge changed the fold.
    pub status: Option<(truckroll_sync::Status, Option<truckroll_sync::HoldReason>)>,
    /// The status steps the merged events make, at their (bounded) device
    /// times, for the SLA status history; empty: one step at the write time.
    pub steps: Vec<(
        DateTime<Utc>,
        truckroll_sync::Status,
        Option<truckroll_sync::HoldReason>,
    )>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub photo_count: i64,
    pub part_count: i64,
    pub field_updated_at: DateTime<Utc>,
    /// What the merge changed in the document's custom fields, applied to
    /// the row's `custom_fields` as read in the write's transaction.
    pub custom: CustomFieldsDiff,
    /// A check-in the merge applied, judged against the site's geofence
    /// (`device_sync/geofence.rs`); `None` leaves the recorded one.
    pub check_in: Option<crate::domain::checkin::CheckIn>,
    /// The document's part entries after the merge; the stock ledger's
    /// consumption is reconciled to them in the write's transaction
    /// (`sql/parts.rs`).
    pub parts: Vec<truckroll_sync::Part>,
}

/// Custom fields a document change set or removed (values as projected
/// into the ticket row's `custom_fields`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomFieldsDiff {
    pub set: serde_json::Map<String, serde_json::Value>,
    pub removed: Vec<String>,
}

impl CustomFieldsDiff {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }

    /// `fields` (a JSON object) with this diff applied.
    pub fn apply_to(&self, fields: &serde_json::Value) -> serde_json::Value {
        let mut out = fields.as_object().cloned().unwrap_or_default();
        for key in &self.removed {
            out.remove(key);
        }
        for (key, value) in &self.set {
            out.insert(key.clone(), value.clone());
        }
        serde_json::Value::Object(out)
    }
}

/// The document side of a server write of a ticket (a REST change, an
/// assignment, an accepted offer), stored in the transaction that writes
/// the ticket row, so row and document never disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentChange {
    /// The document version read; `None`: the ticket has no document yet
    /// and `body` is the snapshot that creates it.
    pub expected_version: Option<i64>,
    pub body: DocumentBody,
    /// The fold's field times where the change moved them (`Some(None)`:
    /// cleared), projected into the row; `None` leaves the row's column as
    /// it is (a phone's time bounded at its merge stays bounded).
    pub accepted_at: Option<Option<DateTime<Utc>>>,
    pub arrived_at: Option<Option<DateTime<Utc>>>,
    pub completed_at: Option<Option<DateTime<Utc>>>,
}

/// A server write that assigns (an assignment or an accepted offer): the
/// row as the document change was planned on, the projected assignment
/// and status, and the document change, all written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerWrite {
    /// `updated_at` of the row the change was planned on; the write is a
    /// `Conflict` when the row moved since.
    pub based_on: DateTime<Utc>,
    pub status: truckroll_sync::Status,
    pub hold_reason: Option<truckroll_sync::HoldReason>,
    pub assignee_id: Option<Uuid>,
    pub document: DocumentChange,
}

/// The projected field columns of a ticket row, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FieldColumns {
    pub accepted_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub field_photo_count: Option<i64>,
    pub field_part_count: Option<i64>,
    pub field_updated_at: Option<DateTime<Utc>>,
}

/// How the document part of a write is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentBody {
    /// Replace snapshot and chunks by this snapshot.
    Snapshot(Vec<u8>),
    /// Append one incremental chunk.
    Chunk(Vec<u8>),
}

/// One write of a ticket document, all in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentWrite {
    pub ticket_id: Uuid,
    /// The version read (`None`: the document must not exist yet, or `body`
    /// is `None` and only the sync state is written).
    pub expected_version: Option<i64>,
    /// `None` when only the sync state changed.
    pub body: Option<DocumentBody>,
    /// (device, encoded sync state) to persist.
    pub sync_state: Option<(Uuid, Vec<u8>)>,
    /// Ticket row projection (after a device's accepted changes).
    pub projection: Option<Projection>,
    /// Audit action for the document change (e.g. `ticket.field_sync`).
    pub audit_action: Option<&'static str>,
    pub audit_detail: Option<serde_json::Value>,
}

/// What [`DocumentStore::write_document`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenDocument {
    /// The document's version after the write (0 when only the sync state
    /// was written).
    pub version: i64,
    /// The ticket row as the projection left it (`None` without one).
    pub ticket: Option<crate::domain::ticket::Ticket>,
}

#[async_trait]
pub trait DocumentStore {
    async fn load_document(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<StoredDocument>>;
    /// The stored version of the ticket's document (what a write checks),
    /// `None` when it has none: lets a cached decoded copy be reused.
    async fn document_version(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<i64>>;
    /// [`DocumentStore::document_version`] of those of `ticket_ids` that
    /// have a document, in one query.
    async fn document_versions(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<(Uuid, i64)>>;
    async fn load_sync_state(
        &self,
        tenant_id: Uuid,
        device_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<Vec<u8>>>;
    /// Drops a device's sync state for a ticket (after a reset).
    async fn delete_sync_state(
        &self,
        tenant_id: Uuid,
        device_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<()>;
    /// The tickets this device holds a sync state for, with the state.
    async fn device_sync_states(
        &self,
        tenant_id: Uuid,
        device_id: Uuid,
    ) -> StoreResult<Vec<(Uuid, Vec<u8>)>>;
    /// Stores the device's sync states of several tickets in one statement.
    async fn write_sync_states(
        &self,
        tenant_id: Uuid,
        device_id: Uuid,
        states: &[(Uuid, Vec<u8>)],
    ) -> StoreResult<()>;
    /// The owner and actor ids of a device; `None` if unknown in the tenant.
    async fn device_actors(
        &self,
        tenant_id: Uuid,
        device_id: Uuid,
    ) -> StoreResult<Option<(Uuid, Vec<String>)>>;
    /// The ticket's projected field columns.
    async fn field_columns(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<FieldColumns>;
    /// Stores the write; `Conflict` when the document's version moved on.
    async fn write_document(
        &self,
        actor: Actor,
        write: &DocumentWrite,
    ) -> StoreResult<WrittenDocument>;
    /// Stores several writes in one transaction (one commit, one advance of
    /// the audit chain), in order. Each answer is the write's result, or
    /// `None` when that write was not stored because its document moved on
    /// or its ticket is gone (the caller retries it alone, with
    /// [`DocumentStore::write_document`]); the others are stored.
    async fn write_documents(
        &self,
        actor: Actor,
        writes: &[DocumentWrite],
    ) -> StoreResult<Vec<Option<WrittenDocument>>>;
}
