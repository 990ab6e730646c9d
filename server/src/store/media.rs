//! Media references (photos, signatures, documents) on tickets and the
//! signatures bound to them. The bytes live in the blob store; these rows
//! say which ticket references which content and whether the server has
//! checked it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Signature,
    Document,
}

impl MediaKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Signature => "signature",
            MediaKind::Document => "document",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "photo" => Some(MediaKind::Photo),
            "signature" => Some(MediaKind::Signature),
            "document" => Some(MediaKind::Document),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Upload URL handed out; not yet checked, not visible on the ticket.
    Pending,
    /// The server checked size, type and hash of the stored object.
    Stored,
}

impl MediaState {
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
        }
    }
}

/// One reference from a ticket to stored content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Media {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub kind: MediaKind,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub state: MediaState,
    pub has_thumbnail: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    pub ticket_id: Uuid,
    pub kind: MediaKind,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// What `begin_media` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaBegin {
    /// A new pending reference.
    Created(Media),
    /// The ticket already references this content as this kind (a retry):
    /// the existing reference, pending or stored.
    Existing(Media),
}

impl MediaBegin {
    pub fn media(&self) -> &Media {
        match self {
            MediaBegin::Created(m) | MediaBegin::Existing(m) => m,
        }
    }
}

/// A pending reference the orphan sweep removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptMedia {
    pub tenant_id: Uuid,
    pub sha256: String,
    /// No other reference in the tenant names this content: the object may go.
    pub object_unreferenced: bool,
}

/// A customer's signature as captured and bound at signing time.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Signature {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub media_id: Uuid,
    pub signer_name: String,
    pub signed_at: DateTime<Utc>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The strokes as sent (JSON), from which the image is rendered.
    #[schema(value_type = Object)]
    pub strokes: serde_json::Value,
    /// Hex change hashes of the ticket document at signing time, sorted.
    pub doc_heads: Vec<String>,
    /// SHA-256 over the sorted heads.
    pub heads_hash: String,
    /// SHA-256 of the rendered PNG.
    pub image_sha256: String,
    /// SHA-256 binding every field above (see `media::signature::seal`).
    pub seal: String,
    pub created_by: Option<Uuid>,
}

#[async_trait]
pub trait MediaStore {
    /// A pending reference, or the existing one for the same ticket,
    /// content and kind. `Conflict` when the ticket already has
    /// `max_per_ticket` references.
    async fn begin_media(
        &self,
        actor: Actor,
        media: &NewMedia,
        max_per_ticket: u32,
    ) -> StoreResult<MediaBegin>;
    async fn get_media(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Media>;
    /// The ticket's stored (checked) media in creation order.
    async fn list_ticket_media(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Media>>;
    /// [`MediaStore::list_ticket_media`] of all of `ticket_ids` in one
    /// query, by ticket.
    async fn stored_media_of_tickets(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<Media>>;
    /// Pending → stored, with an audit entry; a stored reference is
    /// returned as it is.
    async fn complete_media(
        &self,
        actor: Actor,
        id: Uuid,
        has_thumbnail: bool,
    ) -> StoreResult<Media>;
    /// Drops a pending reference whose upload failed the checks, with an
    /// audit entry naming the reason.
    async fn reject_media(&self, actor: Actor, id: Uuid, reason: &str) -> StoreResult<()>;
    /// Removes pending references created before `cutoff` (at most
    /// `limit`) and tells for each whether its object is now unreferenced.
    async fn sweep_pending_media(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<SweptMedia>>;
    /// Whether any reference (pending or stored) in the tenant names this content.
    async fn media_referenced(&self, tenant_id: Uuid, sha256: &str) -> StoreResult<bool>;
    /// Stores the signature and its stored image reference in one
    /// transaction, with an audit entry.
    async fn insert_signature(
        &self,
        actor: Actor,
        media: &NewMedia,
        signature: &Signature,
    ) -> StoreResult<Signature>;
    /// The ticket's latest signature.
    async fn latest_signature(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<Signature>>;
}
