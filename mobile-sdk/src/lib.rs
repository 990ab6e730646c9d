//! `truckroll-sdk`: the offline-first client a technician's phone app embeds.
//!
//! - [`store`]: the local SQLite database (documents, sync states, ticket
//!   headers, quarantine, outbox, session);
//! - [`edits`]: the typed edits an app makes ([`Edit`]);
//! - [`engine`]: the sync engine (`POST /v1/sync`, PROTOCOL.md 3.4) with
//!   retries and exponential backoff;
//! - [`transport`]: how frames reach the server (a trait, so tests can put a
//!   lossy network in between);
//! - [`api`]: sign-in, token refresh, device registration, ticket headers,
//!   media uploads;
//! - [`media`]: the media outbox (photos and signatures captured offline,
//!   uploaded with retries, resumable after process death);
//! - [`day`] and its parts [`offers`], [`location`], [`push`], [`comments`],
//!   [`availability`]: the rest of a technician's day, each working offline
//!   and sent once when back online ([`Client::flush_outboxes`]).
//!
//! Every local edit is committed to SQLite (document chunk and outbox row in
//! one transaction, `synchronous = FULL`) before [`Client::edit`] returns,
//! so a killed process loses nothing it acknowledged.

pub mod api;
pub mod approvals;
pub mod articles;
pub mod availability;
pub mod cli;
pub mod comments;
pub mod day;
pub mod edits;
pub mod engine;
mod error;
pub mod location;
pub mod media;
pub mod offers;
pub mod packet;
pub mod push;
pub mod store;
pub mod transport;
pub mod van;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Mutex, Notify, broadcast};
use truckroll_sync::{
    ActorId, ChangeHash, ChecklistItem, CustomValue, FoldedStatus, MediaRef, Part, StatusEvent,
    TicketDoc, TimeEntry,
};

pub use edits::Edit;
pub use engine::{Backoff, Rejection, SyncReport};
pub use error::{SdkError, SdkResult};
pub use media::{Captured, MediaReport, SignatureCapture, UploadOptions};
pub use packet::{DayVisit, StoredPacket};
pub use store::{MediaEntry, OutboxEntry, QuarantineRow};
pub use transport::{BaseUrl, HttpTransport, Transport};
pub use truckroll_sync;

pub use availability::{Availability, AvailabilityState};
pub use comments::{CommentDelivery, CommentInfo, CommentThread, CommentVisibility};
pub use day::FlushReport;
pub use location::{LocationFix, PendingPing, PingDecision};
pub use offers::{Answer, OfferAnswer, OfferInfo, OfferList, OfferState, QueuedAnswer};
pub use push::{PushTokenState, SignedOut};
pub use van::{VanLine, VanStock};

/// The device's clock, injectable so tests decide what "now" is.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Something that changed locally, for UIs that observe the SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A local edit was stored.
    Edited { doc_id: String },
    /// A sync brought changes from the server.
    Received { doc_id: String },
    /// The ticket was announced to this device; its document is on its way.
    Added { doc_id: String },
    /// The ticket's document has arrived from the server: it can be edited.
    Ready { doc_id: String },
    /// The ticket left this device.
    Removed { doc_id: String },
    /// The server refused the local version; it is in the quarantine.
    Quarantined { doc_id: String, quarantine_id: i64 },
}

/// Where a local document is in its life on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Announced (or reset after a refusal) and not yet filled from the
    /// server: edits wait, because this device's actor may already have
    /// changes in the server's version and must continue that sequence.
    Receiving,
    /// Editable.
    Active,
    /// Left the device's set; kept until its local changes reached the server.
    Leaving,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Receiving => "receiving",
            Phase::Active => "active",
            Phase::Leaving => "leaving",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "active" => Phase::Active,
            "leaving" => Phase::Leaving,
            _ => Phase::Receiving,
        }
    }
}

/// The signed-in session, kept in the local database.
#[derive(Debug, Clone)]
pub struct Session {
    pub tenant: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    pub device_id: String,
    pub actor_hex: String,
}

/// A ticket in the list view.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSummary {
    pub id: String,
    pub phase: Phase,
    pub status: FoldedStatus,
    /// The server's ticket header (title, site, priority, …) as last fetched.
    pub header: Option<serde_json::Value>,
    pub pending_edits: usize,
}

/// Everything the device holds about one ticket.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: String,
    pub phase: Phase,
    pub status: FoldedStatus,
    pub header: Option<serde_json::Value>,
    pub notes: String,
    pub checklist: Vec<ChecklistItem>,
    pub parts: Vec<Part>,
    pub time_entries: Vec<TimeEntry>,
    pub photos: Vec<MediaRef>,
    pub signatures: Vec<MediaRef>,
    pub custom: BTreeMap<String, CustomValue>,
    /// In fold order.
    pub events: Vec<StatusEvent>,
}

impl TicketView {
    fn of(doc: &TicketDoc, phase: Phase, header: Option<serde_json::Value>) -> Self {
        Self {
            id: doc.ticket_id(),
            phase,
            status: doc.status(),
            header,
            notes: doc.notes(),
            checklist: doc.checklist(),
            parts: doc.parts(),
            time_entries: doc.time_entries(),
            photos: doc.photos(),
            signatures: doc.signatures(),
            custom: doc.custom(),
            events: doc.events(),
        }
    }
}

/// A quarantined local version, readable.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    #[serde(flatten)]
    pub row: QuarantineRow,
    /// The refused version's content (`None` if the bytes do not even load).
    pub content: Option<TicketView>,
}

/// How to open a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// `android`, `ios` or `web`, sent when the device registers.
    pub platform: String,
    pub clock: Arc<dyn Clock>,
    /// `None`: HTTP (`POST /v1/sync`) to `base_url`.
    pub transport: Option<Arc<dyn Transport>>,
}

impl ClientConfig {
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            platform: "android".into(),
            clock: Arc::new(SystemClock),
            transport: None,
        }
    }
}

/// A document loaded in memory, as stored.
#[derive(Debug)]
pub(crate) struct LocalDoc {
    pub doc: TicketDoc,
    pub incremental_bytes: i64,
    pub phase: Phase,
}

/// The state behind the client's lock: the database connection and the
/// documents loaded so far.
#[derive(Debug)]
pub(crate) struct Local {
    pub conn: SqliteConnection,
    pub docs: HashMap<String, LocalDoc>,
}

/// The SDK: one per installation (one local database).
#[derive(Debug)]
pub struct Client {
    pub(crate) local: Mutex<Local>,
    pub(crate) api: api::Api,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    base_url: BaseUrl,
    platform: String,
    changes: broadcast::Sender<Change>,
    online: AtomicBool,
    wake: Notify,
}

const META_SESSION: &str = "session";
const META_ACTOR: &str = "actor_id";

impl Client {
    /// Opens the local database at `path` (created if missing).
    pub async fn open(path: &Path, config: ClientConfig) -> SdkResult<Self> {
        let conn = store::open(path).await?;
        let base_url = BaseUrl::new(&config.base_url);
        let transport: Arc<dyn Transport> = match config.transport {
            Some(t) => t,
            None => Arc::new(HttpTransport::new(base_url.clone())?),
        };
        let (changes, _) = broadcast::channel(256);
        Ok(Self {
            local: Mutex::new(Local {
                conn,
                docs: HashMap::new(),
            }),
            api: api::Api::new(base_url.clone())?,
            transport,
            clock: config.clock,
            base_url,
            platform: config.platform,
            changes,
            online: AtomicBool::new(true),
            wake: Notify::new(),
        })
    }

    /// Points the SDK (API and default transport) at another server address.
    pub fn set_base_url(&self, url: &str) {
        self.base_url.set(url);
    }

    /// Observes local changes (edits, arrivals, removals, quarantine).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    pub(crate) fn emit(&self, change: Change) {
        // Nobody listening is fine.
        let _ = self.changes.send(change);
    }

    /// Reports connectivity; going online wakes the sync loop.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
        if online {
            self.wake.notify_one();
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    // ---- session ------------------------------------------------------------

    /// This installation's Automerge actor, created once and kept.
    async fn actor_hex(conn: &mut SqliteConnection) -> SdkResult<String> {
        if let Some(actor) = store::meta(conn, META_ACTOR).await? {
            return Ok(actor);
        }
        let actor = ActorId::random().to_hex_string();
        store::set_meta(conn, META_ACTOR, &actor).await?;
        Ok(actor)
    }

    /// Signs in, keeps the tokens, and registers this installation as a
    /// device (once per installation and user).
    pub async fn sign_in(&self, tenant: &str, email: &str, password: &str) -> SdkResult<Session> {
        let tokens = self.api.login(tenant, email, password).await?;
        let mut local = self.local.lock().await;
        let previous = Self::load_session(&mut local.conn).await?;
        let actor_hex = Self::actor_hex(&mut local.conn).await?;
        let device_id = match previous {
            Some(s) if s.tenant == tenant && s.email == email => s.device_id,
            _ => {
                let push_token = push::registration_token(&mut local.conn).await?;
                let id = self
                    .api
                    .register_device(
                        &tokens.access_token,
                        &self.platform,
                        &actor_hex,
                        push_token.as_deref(),
                    )
                    .await?;
                push::registered_with(&mut local.conn, push_token.as_deref()).await?;
                id
            }
        };
        let session = Session {
            tenant: tenant.to_owned(),
            email: email.to_owned(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            device_id,
            actor_hex,
        };
        Self::store_session(&mut local.conn, &session).await?;
        drop(local);
        // A device kept from an earlier sign-in may lack the current token.
        if let Err(e) = self.flush_push_token().await {
            tracing::info!(error = %e, "push token stays queued");
        }
        Ok(session)
    }

    async fn load_session(conn: &mut SqliteConnection) -> SdkResult<Option<Session>> {
        let Some(text) = store::meta(conn, META_SESSION).await? else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let field = |k: &str| v[k].as_str().map(str::to_owned);
        Ok(
            match (
                field("tenant"),
                field("email"),
                field("access_token"),
                field("refresh_token"),
                field("device_id"),
                field("actor_hex"),
            ) {
                (
                    Some(tenant),
                    Some(email),
                    Some(access),
                    Some(refresh),
                    Some(device),
                    Some(actor),
                ) => Some(Session {
                    tenant,
                    email,
                    access_token: access,
                    refresh_token: refresh,
                    device_id: device,
                    actor_hex: actor,
                }),
                _ => None,
            },
        )
    }

    async fn store_session(conn: &mut SqliteConnection, s: &Session) -> SdkResult<()> {
        let v = serde_json::json!({
            "tenant": s.tenant, "email": s.email, "access_token": s.access_token,
            "refresh_token": s.refresh_token, "device_id": s.device_id, "actor_hex": s.actor_hex,
        });
        store::set_meta(conn, META_SESSION, &v.to_string()).await
    }

    /// The signed-in session, if any.
    pub async fn session(&self) -> SdkResult<Option<Session>> {
        let mut local = self.local.lock().await;
        Self::load_session(&mut local.conn).await
    }

    pub(crate) async fn require_session(&self) -> SdkResult<Session> {
        self.session()
            .await?
            .ok_or_else(|| SdkError::Unauthorized("sign in first".into()))
    }

    /// Trades the refresh token for new tokens (each refresh token works once).
    pub async fn refresh_tokens(&self) -> SdkResult<Session> {
        let mut session = self.require_session().await?;
        let tokens = self.api.refresh(&session.refresh_token).await?;
        session.access_token = tokens.access_token;
        session.refresh_token = tokens.refresh_token;
        let mut local = self.local.lock().await;
        Self::store_session(&mut local.conn, &session).await?;
        Ok(session)
    }

    // ---- reading ------------------------------------------------------------

    /// The tickets on this device.
    pub async fn tickets(&self) -> SdkResult<Vec<TicketSummary>> {
        let mut local = self.local.lock().await;
        let ids = store::doc_ids(&mut local.conn).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let header = store::header(&mut local.conn, &id).await?;
            let pending = store::outbox(&mut local.conn, Some(&id), Some("pending"))
                .await?
                .len();
            let entry = local.doc(&id).await?;
            out.push(TicketSummary {
                id,
                phase: entry.phase,
                status: entry.doc.status(),
                header,
                pending_edits: pending,
            });
        }
        Ok(out)
    }

    /// One ticket as this device holds it.
    pub async fn ticket(&self, ticket_id: &str) -> SdkResult<TicketView> {
        let mut local = self.local.lock().await;
        let header = store::header(&mut local.conn, ticket_id).await?;
        let entry = local.doc(ticket_id).await?;
        Ok(TicketView::of(&entry.doc, entry.phase, header))
    }

    /// The saved bytes of the local document (Automerge format), e.g. to
    /// compare replicas.
    pub async fn document_bytes(&self, ticket_id: &str) -> SdkResult<Vec<u8>> {
        let mut local = self.local.lock().await;
        Ok(local.doc(ticket_id).await?.doc.save())
    }

    /// The heads of the local document.
    pub async fn heads(&self, ticket_id: &str) -> SdkResult<Vec<ChangeHash>> {
        let mut local = self.local.lock().await;
        Ok(local.doc(ticket_id).await?.doc.heads())
    }

    /// Local edits, oldest first (`state`: `pending`, `acked`, `quarantined`).
    pub async fn outbox(&self, state: Option<&str>) -> SdkResult<Vec<OutboxEntry>> {
        let mut local = self.local.lock().await;
        store::outbox(&mut local.conn, None, state).await
    }

    // ---- editing ------------------------------------------------------------

    /// Applies `edit` to the ticket's document and stores it (document chunk
    /// and outbox row in one committed transaction) before returning. Returns
    /// the id of a created item or event, if any.
    pub async fn edit(&self, ticket_id: &str, edit: Edit) -> SdkResult<Option<String>> {
        let session = self.require_session().await?;
        let now = self.clock.now_ms();
        let created = {
            let mut local = self.local.lock().await;
            let actor = parse_actor(&session.actor_hex)?;
            let entry = local.doc(ticket_id).await?;
            match entry.phase {
                Phase::Active => {}
                Phase::Receiving => return Err(SdkError::NotReceived(ticket_id.to_owned())),
                Phase::Leaving => return Err(SdkError::UnknownTicket(ticket_id.to_owned())),
            }
            if entry.doc.actor() != &actor {
                entry.doc.set_actor(actor);
            }
            let before = entry.doc.heads();
            let applied = edits::apply(&mut entry.doc, &edit, &session.email, now)?;
            let heads = entry.doc.heads();
            if heads == before {
                return Ok(applied.created_id);
            }
            let body = body_for(entry, &before);
            let hash = heads.first().map(ToString::to_string).unwrap_or_default();
            let record = serde_json::to_string(&edit).unwrap_or_default();
            let written = write_edit(&mut local.conn, ticket_id, body, &hash, &record, now).await;
            match written {
                Ok(incremental) => {
                    if let Some(entry) = local.docs.get_mut(ticket_id) {
                        entry.incremental_bytes = incremental;
                    }
                }
                Err(e) => {
                    // The in-memory copy is ahead of the database: drop it.
                    local.docs.remove(ticket_id);
                    return Err(e);
                }
            }
            applied.created_id
        };
        self.emit(Change::Edited {
            doc_id: ticket_id.to_owned(),
        });
        self.wake.notify_one();
        Ok(created)
    }

    /// Changes the local document with `change` outside the typed API, stored
    /// and recorded in the outbox like an edit. Meant for tests that play a
    /// misbehaving client (foreign actors, server-only parts, bad shapes).
    #[doc(hidden)]
    pub async fn edit_unchecked(
        &self,
        ticket_id: &str,
        label: &str,
        change: impl FnOnce(&mut TicketDoc) -> Result<(), String>,
    ) -> SdkResult<()> {
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        let entry = local.doc(ticket_id).await?;
        let actor = entry.doc.actor().clone();
        let before = entry.doc.heads();
        let result = change(&mut entry.doc);
        entry.doc.set_actor(actor);
        if let Err(detail) = result {
            local.docs.remove(ticket_id);
            return Err(SdkError::CorruptDocument {
                doc_id: ticket_id.to_owned(),
                detail,
            });
        }
        let body = body_for(entry, &before);
        let hash = entry
            .doc
            .heads()
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        let record = serde_json::json!({"edit": "unchecked", "label": label}).to_string();
        match write_edit(&mut local.conn, ticket_id, body, &hash, &record, now).await {
            Ok(incremental) => {
                if let Some(entry) = local.docs.get_mut(ticket_id) {
                    entry.incremental_bytes = incremental;
                }
                Ok(())
            }
            Err(e) => {
                local.docs.remove(ticket_id);
                Err(e)
            }
        }
    }

    // ---- quarantine ---------------------------------------------------------

    /// Every quarantined local version, with its readable content.
    pub async fn quarantine(&self) -> SdkResult<Vec<Quarantined>> {
        let mut local = self.local.lock().await;
        let rows = store::quarantine(&mut local.conn).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let content = TicketDoc::load_unvalidated(&row.saved)
                    .ok()
                    .map(|d| TicketView::of(&d, Phase::Leaving, None));
                Quarantined { row, content }
            })
            .collect())
    }

    /// The quarantined version's saved bytes (Automerge format), marked as
    /// exported.
    pub async fn export_quarantined(&self, id: i64) -> SdkResult<Vec<u8>> {
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        let row = store::quarantine(&mut local.conn)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(SdkError::UnknownQuarantine(id))?;
        store::mark_exported(&mut local.conn, id, now).await?;
        Ok(row.saved)
    }

    /// Deletes a quarantined version: only ever on the user's explicit request.
    pub async fn discard_quarantined(&self, id: i64) -> SdkResult<()> {
        let mut local = self.local.lock().await;
        if store::discard_quarantine(&mut local.conn, id).await? {
            Ok(())
        } else {
            Err(SdkError::UnknownQuarantine(id))
        }
    }

    // ---- background sync ----------------------------------------------------

    /// Runs until the client is dropped: syncs after every edit, when the
    /// device comes online and every `interval`, with `backoff` between
    /// failed attempts. Spawn it on the app's runtime.
    pub async fn run_sync_loop(self: Arc<Self>, backoff: Backoff, interval: std::time::Duration) {
        loop {
            if self.is_online() {
                // Offer answers race their window: before the sync, which
                // then brings an accepted ticket's document.
                match self.flush_outboxes().await {
                    Ok(report) if !report.errors.is_empty() => {
                        tracing::info!(errors = ?report.errors, "day outboxes wait");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::info!(error = %e, "day outboxes gave up for now"),
                }
                if let Err(e) = self.sync_with_retries(&backoff).await {
                    tracing::info!(error = %e, "sync gave up for now");
                }
                if let Err(e) = self.upload_media(&backoff).await {
                    tracing::info!(error = %e, "media upload gave up for now");
                }
            }
            let _ = tokio::time::timeout(interval, self.wake.notified()).await;
        }
    }
}

pub(crate) fn parse_actor(hex_str: &str) -> SdkResult<ActorId> {
    let bytes = (0..hex_str.len())
        .step_by(2)
        .map(|i| {
            hex_str
                .get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| SdkError::CorruptDocument {
            doc_id: "-".into(),
            detail: format!("stored actor id `{hex_str}` is not hex"),
        })?;
    Ok(ActorId::from(bytes))
}

/// How to store `entry.doc` after a change from `before`: an incremental
/// chunk, or a snapshot once the chunks would pass the threshold.
pub(crate) fn body_for(entry: &LocalDoc, before: &[ChangeHash]) -> store::DocBody {
    let chunk = entry.doc.save_after(before);
    let size = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    if entry.incremental_bytes + size > store::COMPACT_THRESHOLD_BYTES {
        store::DocBody::Snapshot(entry.doc.save())
    } else {
        store::DocBody::Chunk {
            bytes: chunk,
            incremental_bytes: entry.incremental_bytes + size,
        }
    }
}

pub(crate) fn incremental_after(body: &store::DocBody) -> i64 {
    match body {
        store::DocBody::Snapshot(_) => 0,
        store::DocBody::Chunk {
            incremental_bytes, ..
        } => *incremental_bytes,
    }
}

async fn write_edit(
    conn: &mut SqliteConnection,
    doc_id: &str,
    body: store::DocBody,
    hash: &str,
    record: &str,
    now: i64,
) -> SdkResult<i64> {
    let incremental = incremental_after(&body);
    let mut tx = conn.begin().await?;
    store::put_doc(&mut tx, doc_id, body, now).await?;
    store::insert_outbox(&mut tx, doc_id, hash, record, now).await?;
    tx.commit().await?;
    Ok(incremental)
}

impl Local {
    /// The document, loaded from the database on first use.
    pub(crate) async fn doc(&mut self, doc_id: &str) -> SdkResult<&mut LocalDoc> {
        if !self.docs.contains_key(doc_id) {
            let stored = store::load_doc(&mut self.conn, doc_id)
                .await?
                .ok_or_else(|| SdkError::UnknownTicket(doc_id.to_owned()))?;
            let mut doc = TicketDoc::load_unvalidated(&stored.bytes).map_err(|e| {
                SdkError::CorruptDocument {
                    doc_id: doc_id.to_owned(),
                    detail: e.to_string(),
                }
            })?;
            if let Some(actor) = store::meta(&mut self.conn, META_ACTOR).await? {
                doc.set_actor(parse_actor(&actor)?);
            }
            self.docs.insert(
                doc_id.to_owned(),
                LocalDoc {
                    doc,
                    incremental_bytes: stored.incremental_bytes,
                    phase: Phase::parse(&stored.phase),
                },
            );
        }
        self.docs
            .get_mut(doc_id)
            .ok_or_else(|| SdkError::UnknownTicket(doc_id.to_owned()))
    }
}
