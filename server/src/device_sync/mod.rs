//! The server's side of ticket-document sync: loading and storing ticket
//! documents, the server's own writes into them (every status change made
//! on the server as an event, planned with a [`Draft`] and stored with the
//! ticket row in one transaction; office custom fields; media stored), and
//! one device's sync session ([`Session`], shared by the one-shot HTTP
//! exchange and the WebSocket) with the validation of custom fields and the
//! projection of merged documents into the ticket row.
//!
//! The document type and the wire protocol are the `truckroll_sync` crate's.

pub mod cache;
pub mod geofence;
mod merge;
mod server_write;
mod session;

pub use server_write::{ATTEMPTS, Draft, Step, WorkEdit, lost_race, take_step};
pub use session::{Session, SessionError};

use chrono::Utc;
use truckroll_sync::{ActorId, TicketDoc};
use uuid::Uuid;

use crate::domain::ticket::Ticket;
use crate::store::documents::{
    COMPACT_THRESHOLD_BYTES, DocumentBody, DocumentWrite, StoredDocument,
};
use crate::store::{Actor, Store, StoreError, StoreResult};
/// Attempts of a document write that lost a race with another writer.
const WRITE_ATTEMPTS: usize = 5;

/// How long after a ticket left a technician's set their device's trailing
/// changes (made offline before it learned of the removal) are still
/// accepted (PROTOCOL.md 3.3, step 6).
pub const REMOVAL_GRACE_MS: i64 = 72 * 3600 * 1000;

/// A loaded document and the stored version it was read at.
#[derive(Debug)]
pub struct Loaded {
    pub doc: TicketDoc,
    pub version: i64,
    pub incremental_bytes: i64,
}

fn decode(ticket_id: Uuid, stored: StoredDocument) -> StoreResult<Loaded> {
    let mut bytes = stored.snapshot;
    for chunk in stored.chunks {
        bytes.extend_from_slice(&chunk);
    }
    let doc = TicketDoc::load(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("ticket document: {e}")))?;
    let cache = cache::global();
    if cache.enabled() {
        cache.put(
            ticket_id,
            stored.version,
            stored.incremental_bytes,
            doc.fork_with_actor(ActorId::random()),
            bytes.len(),
        );
    }
    Ok(Loaded {
        doc,
        version: stored.version,
        incremental_bytes: stored.incremental_bytes,
    })
}

/// The ticket's document, if it has one: from this replica's cache when
/// the stored version is the one cached ([`cache`]).
pub async fn load(
    store: &dyn Store,
    tenant_id: Uuid,
    ticket_id: Uuid,
) -> StoreResult<Option<Loaded>> {
    load_at(store, tenant_id, ticket_id, None).await
}

/// [`load`] when the stored version was read already (`known`, with the
/// versions of a whole set): the cache's check costs no query then.
async fn load_at(
    store: &dyn Store,
    tenant_id: Uuid,
    ticket_id: Uuid,
    known: Option<i64>,
) -> StoreResult<Option<Loaded>> {
    let cache = cache::global();
    if cache.enabled() {
        let version = match known {
            Some(version) => version,
            None => match store.document_version(tenant_id, ticket_id).await? {
                Some(version) => version,
                None => return Ok(None),
            },
        };
        if let Some((doc, incremental_bytes)) = cache.get(ticket_id, version) {
            return Ok(Some(Loaded {
                doc,
                version,
                incremental_bytes,
            }));
        }
    }
    match store.load_document(tenant_id, ticket_id).await? {
        Some(stored) => decode(ticket_id, stored).map(Some),
        None => Ok(None),
    }
}

/// What a document stored by a write of `body` on top of `loaded` weighs,
/// for the cache: its incremental bytes and an estimate of its saved size.
fn written_size(loaded: &Loaded, body: &DocumentBody) -> (i64, usize) {
    match body {
        DocumentBody::Snapshot(snapshot) => (0, snapshot.len()),
        DocumentBody::Chunk(chunk) => {
            let chunk = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
            let incremental = loaded.incremental_bytes.saturating_add(chunk);
            // The snapshot's size is not known here; the incremental part
            // and a floor for the rest keep the estimate honest enough.
            (
                incremental,
                usize::try_from(incremental).unwrap_or(usize::MAX).max(4096),
            )
        }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A fresh actor for one server write: server writes on several replicas
/// are concurrent, and an Automerge actor's changes must form one sequence.
fn server_actor() -> ActorId {
    ActorId::random()
}

/// The ticket's document, created from the ticket row when it has none
/// (tickets whose status never changed, and those from before every status
/// change was an event): see [`server_write::seed`].
pub async fn load_or_create(
    store: &dyn Store,
    actor: Actor,
    ticket: &Ticket,
) -> StoreResult<Loaded> {
    load_or_create_at(store, actor, ticket, None).await
}

/// [`load_or_create`] with the stored version read already (see [`load_at`]).
async fn load_or_create_at(
    store: &dyn Store,
    actor: Actor,
    ticket: &Ticket,
    mut known: Option<i64>,
) -> StoreResult<Loaded> {
    for _ in 0..WRITE_ATTEMPTS {
        if let Some(loaded) = load_at(store, ticket.tenant_id, ticket.id, known.take()).await? {
            return Ok(loaded);
        }
        let doc = server_write::seed(ticket)?;
        let write = DocumentWrite {
            ticket_id: ticket.id,
            expected_version: None,
            body: Some(DocumentBody::Snapshot(doc.save())),
            sync_state: None,
            projection: None,
            audit_action: None,
            audit_detail: None,
        };
        match store.write_document(actor, &write).await {
            Ok(_) | Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict(
        "ticket document creation kept racing".into(),
    ))
}

/// The body that stores `doc` after a change from `before` heads.
fn body_for(
    loaded: &Loaded,
    doc: &TicketDoc,
    before: &[truckroll_sync::ChangeHash],
) -> DocumentBody {
    let chunk = doc.save_after(before);
    let size = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    if loaded.incremental_bytes + size > COMPACT_THRESHOLD_BYTES {
        DocumentBody::Snapshot(doc.save())
    } else {
        DocumentBody::Chunk(chunk)
    }
}

/// Stores the server's change of ticket `ticket_id`'s `doc` (a fork of `loaded` made at
/// `before`), if it changed anything. `false` when another writer got there
/// first: the caller reloads and tries again.
async fn write_server_change(
    store: &dyn Store,
    actor: Actor,
    ticket_id: Uuid,
    loaded: &Loaded,
    doc: &TicketDoc,
    before: &[truckroll_sync::ChangeHash],
) -> StoreResult<bool> {
    if doc.heads() == before {
        return Ok(true);
    }
    let write = DocumentWrite {
        ticket_id,
        expected_version: Some(loaded.version),
        body: Some(body_for(loaded, doc, before)),
        sync_state: None,
        projection: None,
        audit_action: None,
        audit_detail: None,
    };
    match store.write_document(actor, &write).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// After the server checked an upload: every "pending" photo or signature
/// reference in the ticket's document with this content becomes "stored",
/// so the phone that queued it learns through sync. Best effort (logged):
/// the media row is already stored, and the next completion of the same
/// content retries.
pub async fn mark_media_stored(store: &dyn Store, actor: Actor, ticket_id: Uuid, sha256: &str) {
    if let Err(e) = try_mark_media_stored(store, actor, ticket_id, sha256).await {
        tracing::warn!(ticket = %ticket_id, error = %e, "marking media stored in the ticket document failed");
    }
}

async fn try_mark_media_stored(
    store: &dyn Store,
    actor: Actor,
    ticket_id: Uuid,
    sha256: &str,
) -> StoreResult<()> {
    use truckroll_sync::{MediaKind, MediaState};
    for _ in 0..WRITE_ATTEMPTS {
        let Some(loaded) = load(store, actor.tenant_id, ticket_id).await? else {
            return Ok(());
        };
        let mut doc = loaded.doc.fork_with_actor(server_actor());
        let before = doc.heads();
        for kind in [MediaKind::Photo, MediaKind::Signature] {
            for media in doc.media(kind) {
                if media.sha256 == sha256 && media.state == MediaState::Pending {
                    doc.mark_media_stored(kind, &media.id)
                        .map_err(|e| StoreError::Corrupt(format!("media state: {e}")))?;
                }
            }
        }
        if write_server_change(store, actor, ticket_id, &loaded, &doc, &before).await? {
            return Ok(());
        }
    }
    Err(StoreError::Conflict(
        "ticket document write kept racing".into(),
    ))
}
