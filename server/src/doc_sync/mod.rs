//! Server side of ticket-document sync (issue 3): loading and storing ticket
//! documents, one device session's frame handling (shared by the one-shot
//! HTTP exchange and the WebSocket), projection into the ticket row, and
//! server events written into documents after REST changes.
//!
//! Not to be confused with the `truckroll_sync` crate, which this uses.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use truckroll_sync::protocol::{ErrorCode, Message, PROTOCOL_VERSION, RemovalReason};
use truckroll_sync::{ActorId, Limits, Status, StatusAction, SyncState, TicketDoc};
use uuid::Uuid;

use crate::domain::ticket::Ticket;
use crate::http::AppState;
use crate::store::documents::{
    COMPACT_THRESHOLD_BYTES, DocumentBody, DocumentWrite, Projection, StoredDocument,
};
use crate::store::{Actor, PageRequest, StoreError, StoreResult, TicketFilter};

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

fn decode(stored: StoredDocument) -> StoreResult<Loaded> {
    let mut bytes = stored.snapshot;
    for chunk in stored.chunks {
        bytes.extend_from_slice(&chunk);
    }
    let doc = TicketDoc::load(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("ticket document: {e}")))?;
    Ok(Loaded {
        doc,
        version: stored.version,
        incremental_bytes: stored.incremental_bytes,
    })
}

/// The ticket's document, if it has one.
pub async fn load(
    state: &AppState,
    tenant_id: Uuid,
    ticket_id: Uuid,
) -> StoreResult<Option<Loaded>> {
    match state.store.load_document(tenant_id, ticket_id).await? {
        Some(stored) => decode(stored).map(Some),
        None => Ok(None),
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

fn append_server(
    doc: &mut TicketDoc,
    kind: StatusAction,
    assignee: Option<Uuid>,
) -> StoreResult<()> {
    let mut event = doc.stamp_event(kind, now_ms());
    if let Some(a) = assignee {
        event = event.with_assignee(a.to_string());
    }
    doc.append_event(&event)
        .map_err(|e| StoreError::Corrupt(format!("server event: {e}")))
}

/// The ticket's document, created from the ticket row when it has none: the
/// skeleton plus server events reproducing the assignment and the progress
/// the row already shows.
pub async fn load_or_create(
    state: &AppState,
    actor: Actor,
    ticket: &Ticket,
) -> StoreResult<Loaded> {
    for _ in 0..WRITE_ATTEMPTS {
        if let Some(loaded) = load(state, ticket.tenant_id, ticket.id).await? {
            return Ok(loaded);
        }
        let mut doc = TicketDoc::new(&ticket.id.to_string(), server_actor())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(assignee) = ticket.assignee_id {
            append_server(&mut doc, StatusAction::Assign, Some(assignee))?;
            let steps: &[StatusAction] = match ticket.status {
                Status::Accepted | Status::OnHold => &[StatusAction::Accept],
                Status::EnRoute => &[StatusAction::Accept, StatusAction::StartTravel],
                Status::OnSite => &[
                    StatusAction::Accept,
                    StatusAction::StartTravel,
                    StatusAction::CheckIn,
                ],
                Status::WorkDone => &[
                    StatusAction::Accept,
                    StatusAction::StartTravel,
                    StatusAction::CheckIn,
                    StatusAction::CompleteWork,
                ],
                _ => &[],
            };
            for step in steps {
                append_server(&mut doc, *step, None)?;
            }
        }
        let write = DocumentWrite {
            ticket_id: ticket.id,
            expected_version: None,
            body: Some(DocumentBody::Snapshot(doc.save())),
            sync_state: None,
            projection: None,
            audit_action: None,
            audit_detail: None,
        };
        match state.store.write_document(actor, &write).await {
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

/// When a field event can have happened: not before its ticket existed, not
/// after the server received it (each give or take
/// [`CLOCK_SKEW_TOLERANCE_MS`]). A device time outside is kept in the
/// document (never rewritten) but the projected columns use the nearest
/// bound, and the merge's audit entry flags the event.
#[derive(Debug, Clone, Copy)]
struct PlausibleTimes {
    earliest: i64,
    latest: i64,
}

/// Phone clocks drift: a device time this close outside the window is taken
/// as it is, not flagged.
const CLOCK_SKEW_TOLERANCE_MS: i64 = 5 * 60 * 1000;

impl PlausibleTimes {
    /// `ms` if within the window (give or take the skew tolerance), else the
    /// nearest end of the window.
    fn bound(self, ms: i64) -> i64 {
        if ms < self.earliest - CLOCK_SKEW_TOLERANCE_MS {
            self.earliest
        } else if ms > self.latest + CLOCK_SKEW_TOLERANCE_MS {
            self.latest
        } else {
            ms
        }
    }

    /// The events `after` has that `before` lacks whose device time is
    /// outside the window, as audit detail.
    fn flag_new_events(self, before: &TicketDoc, after: &TicketDoc) -> Vec<serde_json::Value> {
        let known: BTreeSet<String> = before.events().into_iter().map(|e| e.id).collect();
        after
            .events()
            .into_iter()
            .filter(|e| !known.contains(&e.id))
            .filter_map(|e| {
                let why = if e.device_time > self.latest + CLOCK_SKEW_TOLERANCE_MS {
                    "after_receipt"
                } else if e.device_time < self.earliest - CLOCK_SKEW_TOLERANCE_MS {
                    "before_ticket"
                } else {
                    return None;
                };
                Some(serde_json::json!({
                    "event": e.id, "kind": e.kind.as_str(), "actor": e.actor,
                    "device_time": e.device_time, "bounded_to": self.bound(e.device_time), "why": why,
                }))
            })
            .collect()
    }
}

/// The status steps a merge makes, for the SLA status history: at each new
/// event (by `before`'s ids) where the fold of the events up to it differs
/// from the fold before it, that status at the event's device time (bounded
/// to the plausible window). Ends with the merged fold: when the last step
/// is not it, the fold at `received` follows.
fn status_steps(
    before: &TicketDoc,
    after: &TicketDoc,
    window: PlausibleTimes,
    received: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Status, Option<truckroll_sync::HoldReason>)> {
    let known: BTreeSet<String> = before.events().into_iter().map(|e| e.id).collect();
    let events = after.events();
    let mut steps = Vec::new();
    if let Some(first) = events.iter().position(|e| !known.contains(&e.id)) {
        let mut previous = truckroll_sync::fold_status(&events[..first]);
        for i in first..events.len() {
            let folded = truckroll_sync::fold_status(&events[..=i]);
            let moved =
                (folded.status, folded.hold_reason) != (previous.status, previous.hold_reason);
            if moved
                && !known.contains(&events[i].id)
                && let Some(at) = ms_to_time(Some(window.bound(events[i].device_time)))
            {
                steps.push((at, folded.status, folded.hold_reason));
            }
            previous = folded;
        }
    }
    let last = truckroll_sync::fold_status(&events);
    let ends_there = steps
        .last()
        .is_some_and(|(_, status, reason)| (*status, *reason) == (last.status, last.hold_reason));
    if !ends_there {
        steps.push((received, last.status, last.hold_reason));
    }
    steps
}

fn ms_to_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
}

/// After a REST write committed: writes the server event(s) that bring the
/// ticket's document (if it has one) in line with the row — assign,
/// reassign, unassign, cancel. Runs after the REST transaction, so a crash in
/// between leaves the document behind the row until the next REST change of
/// the ticket (see DECISIONS.md, "Sync").
pub async fn record_server_events(
    state: &AppState,
    actor: Actor,
    ticket: &Ticket,
) -> StoreResult<()> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(loaded) = load(state, ticket.tenant_id, ticket.id).await? else {
            return Ok(());
        };
        let mut doc = loaded.doc.fork_with_actor(server_actor());
        let before = doc.heads();
        let fold = doc.status();
        let wanted = ticket.assignee_id.map(|a| a.to_string());
        if ticket.status == Status::Cancelled {
            if fold.status != Status::Cancelled {
                append_server(&mut doc, StatusAction::Cancel, None)?;
            }
        } else if wanted != fold.assignee {
            match ticket.assignee_id {
                Some(a) if fold.assignee.is_some() => {
                    append_server(&mut doc, StatusAction::Reassign, Some(a))?
                }
                Some(a) => append_server(&mut doc, StatusAction::Assign, Some(a))?,
                None => append_server(&mut doc, StatusAction::Unassign, None)?,
            }
        }
        if doc.heads() == before {
            return Ok(());
        }
        let write = DocumentWrite {
            ticket_id: ticket.id,
            expected_version: Some(loaded.version),
            body: Some(body_for(&loaded, &doc, &before)),
            sync_state: None,
            projection: None,
            audit_action: None,
            audit_detail: None,
        };
        match state.store.write_document(actor, &write).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict(
        "ticket document write kept racing".into(),
    ))
}

/// After the server checked an upload: every "pending" photo or signature
/// reference in the ticket's document with this content becomes "stored",
/// so the phone that queued it learns through sync. Best effort (logged):
/// the media row is already stored, and the next completion of the same
/// content retries.
pub async fn mark_media_stored(state: &AppState, actor: Actor, ticket_id: Uuid, sha256: &str) {
    if let Err(e) = try_mark_media_stored(state, actor, ticket_id, sha256).await {
        tracing::warn!(ticket = %ticket_id, error = %e, "marking media stored in the ticket document failed");
    }
}

async fn try_mark_media_stored(
    state: &AppState,
    actor: Actor,
    ticket_id: Uuid,
    sha256: &str,
) -> StoreResult<()> {
    use truckroll_sync::{MediaKind, MediaState};
    for _ in 0..WRITE_ATTEMPTS {
        let Some(loaded) = load(state, actor.tenant_id, ticket_id).await? else {
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
        if doc.heads() == before {
            return Ok(());
        }
        let write = DocumentWrite {
            ticket_id,
            expected_version: Some(loaded.version),
            body: Some(body_for(&loaded, &doc, &before)),
            sync_state: None,
            projection: None,
            audit_action: None,
            audit_detail: None,
        };
        match state.store.write_document(actor, &write).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict(
        "ticket document write kept racing".into(),
    ))
}

/// Calls [`record_server_events`] and logs a failure: the REST change has
/// already happened and must not turn into an error response.
pub async fn after_rest_write(state: &AppState, actor: Actor, ticket: &Ticket) {
    if let Err(e) = record_server_events(state, actor, ticket).await {
        tracing::warn!(ticket = %ticket.id, error = %e, "writing server events into the ticket document failed");
    }
}

/// A refused session start.
#[derive(Debug)]
pub enum SessionError {
    /// Answer with this frame and end the session.
    Frame(Message),
    Store(StoreError),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn error_frame(doc_id: Option<Uuid>, code: ErrorCode, detail: impl Into<String>) -> Message {
    Message::Error {
        doc_id: doc_id.map(|d| d.to_string()),
        code,
        detail: detail.into(),
    }
}

/// One device's sync session (one HTTP exchange or one WebSocket).
#[derive(Debug)]
pub struct Session {
    pub actor: Actor,
    pub device_id: Uuid,
    pub technician_id: Uuid,
    actors: Vec<ActorId>,
    limits: Limits,
    /// In-memory sync states of this connection, started from the persisted ones.
    states: HashMap<Uuid, SyncState>,
    /// The set as last announced to the device.
    announced: BTreeSet<Uuid>,
    /// Encoded sync states as last persisted by this session.
    persisted: HashMap<Uuid, Vec<u8>>,
    /// Tickets that left the set but whose trailing changes this session
    /// accepts (grace); answered without persisting a sync state.
    draining: HashMap<Uuid, Ticket>,
}

impl Session {
    /// Checks the `hello` frame: version, and a device registered to the caller.
    pub async fn start(
        state: &AppState,
        actor: Actor,
        hello: Option<&Message>,
    ) -> Result<Self, SessionError> {
        let Some(Message::Hello { version, device_id }) = hello else {
            return Err(SessionError::Frame(error_frame(
                None,
                ErrorCode::HelloRequired,
                "the first frame must be `hello`",
            )));
        };
        if *version != PROTOCOL_VERSION {
            return Err(SessionError::Frame(error_frame(
                None,
                ErrorCode::UnsupportedVersion,
                format!("this server speaks version {PROTOCOL_VERSION}"),
            )));
        }
        let unauthorized = || {
            SessionError::Frame(error_frame(
                None,
                ErrorCode::Unauthorized,
                "the device is not registered to the signed-in user",
            ))
        };
        let device_id = Uuid::parse_str(device_id).map_err(|_| unauthorized())?;
        let Some((owner, actor_hex)) = state
            .store
            .device_actors(actor.tenant_id, device_id)
            .await?
        else {
            return Err(unauthorized());
        };
        if Some(owner) != actor.user_id {
            return Err(unauthorized());
        }
        let user_id = actor.user_id.ok_or_else(unauthorized)?;
        let technician = state
            .store
            .technician_for_user(actor.tenant_id, user_id)
            .await?
            .ok_or_else(|| {
                SessionError::Frame(error_frame(
                    None,
                    ErrorCode::Unauthorized,
                    "only a technician's device syncs tickets",
                ))
            })?;
        let actors = actor_hex
            .iter()
            .filter_map(|h| hex::decode(h).ok())
            .map(ActorId::from)
            .collect();
        Ok(Self {
            actor,
            device_id,
            technician_id: technician.id,
            actors,
            limits: Limits::default(),
            states: HashMap::new(),
            announced: BTreeSet::new(),
            persisted: HashMap::new(),
            draining: HashMap::new(),
        })
    }

    /// The server's `hello` answer.
    pub fn hello(&self) -> Message {
        Message::Hello {
            version: PROTOCOL_VERSION,
            device_id: self.device_id.to_string(),
        }
    }

    /// The tickets now in the device's set.
    async fn current_set(&self, state: &AppState) -> StoreResult<Vec<Ticket>> {
        let filter = TicketFilter {
            assignee_id: Some(self.technician_id),
            ..TicketFilter::default()
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = state
                .store
                .list_tickets(
                    self.actor.tenant_id,
                    &filter,
                    PageRequest { limit: 500, after },
                )
                .await?;
            out.extend(page.items.into_iter().filter(|t| !t.status.is_terminal()));
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    async fn removal_reason(
        &self,
        state: &AppState,
        ticket_id: Uuid,
    ) -> StoreResult<RemovalReason> {
        Ok(
            match state
                .store
                .get_ticket(self.actor.tenant_id, ticket_id)
                .await
            {
                Err(StoreError::NotFound(_)) => RemovalReason::Deleted,
                Err(e) => return Err(e),
                Ok(t) if t.status == Status::Cancelled => RemovalReason::Cancelled,
                Ok(t) if t.status == Status::Closed => RemovalReason::Closed,
                Ok(t) => match t.assignee_id {
                    Some(a) if a == self.technician_id => RemovalReason::NotInSet,
                    Some(_) => RemovalReason::Reassigned,
                    None => RemovalReason::Unassigned,
                },
            },
        )
    }

    /// Re-checks the set: `doc_added` for new members, `doc_removed` for
    /// documents that left it (announced in this session, or with a
    /// persisted sync state), whose sync state is then dropped.
    pub async fn refresh_set(
        &mut self,
        state: &AppState,
        out: &mut Vec<Message>,
    ) -> StoreResult<Vec<Ticket>> {
        let set = self.current_set(state).await?;
        let ids: BTreeSet<Uuid> = set.iter().map(|t| t.id).collect();
        let mut held: BTreeSet<Uuid> = state
            .store
            .device_documents(self.actor.tenant_id, self.device_id)
            .await?
            .into_iter()
            .collect();
        held.extend(self.announced.iter().copied());
        for gone in held.difference(&ids) {
            let reason = self.removal_reason(state, *gone).await?;
            out.push(Message::DocRemoved {
                doc_id: gone.to_string(),
                reason,
            });
            state
                .store
                .delete_sync_state(self.actor.tenant_id, self.device_id, *gone)
                .await?;
            self.states.remove(gone);
            self.persisted.remove(gone);
        }
        for added in ids.difference(&self.announced) {
            out.push(Message::DocAdded {
                doc_id: added.to_string(),
            });
        }
        self.announced = ids;
        Ok(set)
    }

    async fn sync_state(&mut self, state: &AppState, ticket_id: Uuid) -> StoreResult<SyncState> {
        if let Some(s) = self.states.get(&ticket_id) {
            return Ok(s.clone());
        }
        let persisted = state
            .store
            .load_sync_state(self.actor.tenant_id, self.device_id, ticket_id)
            .await?;
        Ok(persisted
            .and_then(|b| SyncState::decode(&b).ok())
            .unwrap_or_default())
    }

    /// Whether `ticket` left this technician's set recently enough that
    /// trailing changes from the device are still accepted: the document
    /// assigned it to them, and the server event that took it away (or, if
    /// the document has none, the ticket's last update) is within
    /// [`REMOVAL_GRACE_MS`]. Closed tickets are frozen: no grace.
    async fn in_removal_grace(&self, state: &AppState, ticket: &Ticket) -> StoreResult<bool> {
        if ticket.status == Status::Closed {
            return Ok(false);
        }
        let Some(loaded) = load(state, ticket.tenant_id, ticket.id).await? else {
            return Ok(false);
        };
        let me = self.technician_id.to_string();
        let events = loaded.doc.events();
        let Some(mine) = events.iter().rposition(|e| {
            matches!(e.kind, StatusAction::Assign | StatusAction::Reassign)
                && e.assignee.as_deref() == Some(me.as_str())
        }) else {
            return Ok(false);
        };
        let left_at = events[mine + 1..]
            .iter()
            .find(|e| {
                matches!(
                    e.kind,
                    StatusAction::Reassign
                        | StatusAction::Unassign
                        | StatusAction::Cancel
                        | StatusAction::Decline
                )
            })
            .map(|e| e.device_time)
            .unwrap_or_else(|| ticket.updated_at.timestamp_millis());
        Ok(now_ms() - left_at <= REMOVAL_GRACE_MS)
    }

    /// Applies one `sync` frame from the device. `Some(frame)` is an error to send.
    pub async fn receive(
        &mut self,
        state: &AppState,
        doc_id: &str,
        data: &[u8],
    ) -> StoreResult<Option<Message>> {
        let Ok(ticket_id) = Uuid::parse_str(doc_id) else {
            return Ok(Some(Message::Error {
                doc_id: Some(doc_id.to_owned()),
                code: ErrorCode::NotInSet,
                detail: "no such document in this device's set".into(),
            }));
        };
        let (ticket, draining) = match state
            .store
            .get_ticket(self.actor.tenant_id, ticket_id)
            .await
        {
            Ok(t) if t.assignee_id == Some(self.technician_id) && !t.status.is_terminal() => {
                (t, false)
            }
            Ok(t) if self.in_removal_grace(state, &t).await? => (t, true),
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Ok(Some(error_frame(
                    Some(ticket_id),
                    ErrorCode::NotInSet,
                    "this ticket is not assigned to this device's technician; changes not applied",
                )));
            }
            Err(e) => return Err(e),
        };
        for _ in 0..WRITE_ATTEMPTS {
            let loaded = load_or_create(state, self.actor, &ticket).await?;
            let mut sync_state = self.sync_state(state, ticket_id).await?;
            let mut doc = loaded.doc.fork_with_actor(server_actor());
            // `fork_with_actor` drops nothing: the loaded document has no queue.
            let before = doc.heads();
            let fold_before = doc.status();
            if let Err(e) =
                doc.receive_field_sync_message(&mut sync_state, data, &self.actors, &self.limits)
            {
                // Reset: nothing applied, the device starts over from our version.
                self.states.insert(ticket_id, SyncState::new());
                self.persisted.remove(&ticket_id);
                state
                    .store
                    .delete_sync_state(self.actor.tenant_id, self.device_id, ticket_id)
                    .await?;
                tracing::info!(ticket = %ticket_id, device = %self.device_id, error = %e, "refused a device's sync message");
                return Ok(Some(error_frame(Some(ticket_id), e.code(), e.to_string())));
            }
            let changed = doc.heads() != before;
            let (body, projection, audit_detail) = if changed {
                let fold = doc.status();
                let status_changed = (fold.status, fold.hold_reason)
                    != (fold_before.status, fold_before.hold_reason);
                let received = Utc::now();
                let window = PlausibleTimes {
                    earliest: ticket.created_at.timestamp_millis(),
                    latest: received.timestamp_millis(),
                };
                let steps = if status_changed {
                    status_steps(&loaded.doc, &doc, window, received)
                } else {
                    Vec::new()
                };
                let projection = Projection {
                    status: status_changed.then_some((fold.status, fold.hold_reason)),
                    steps,
                    accepted_at: ms_to_time(fold.accepted_at.map(|t| window.bound(t))),
                    arrived_at: ms_to_time(fold.arrived_at.map(|t| window.bound(t))),
                    completed_at: ms_to_time(fold.completed_at.map(|t| window.bound(t))),
                    photo_count: i64::try_from(doc.photos().len()).unwrap_or(i64::MAX),
                    part_count: i64::try_from(doc.parts().len()).unwrap_or(i64::MAX),
                    field_updated_at: received,
                };
                let implausible = window.flag_new_events(&loaded.doc, &doc);
                if !implausible.is_empty() {
                    tracing::warn!(ticket = %ticket_id, device = %self.device_id, events = %serde_json::Value::from(implausible.clone()), "implausible device times bounded");
                }
                let mut detail = serde_json::json!({
                    "device_id": self.device_id,
                    "heads": doc.heads().iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    "status": fold.status.as_str(),
                });
                if !implausible.is_empty() {
                    detail["implausible_times"] = serde_json::Value::from(implausible);
                }
                (
                    Some(body_for(&loaded, &doc, &before)),
                    Some(projection),
                    Some(detail),
                )
            } else {
                (None, None, None)
            };
            let encoded = sync_state.encode();
            let write = DocumentWrite {
                ticket_id,
                expected_version: changed.then_some(loaded.version),
                body,
                // A draining ticket keeps no state: it is not in the set any more.
                sync_state: (!draining).then(|| (self.device_id, encoded.clone())),
                projection,
                audit_action: changed.then_some("ticket.field_sync"),
                audit_detail,
            };
            match state.store.write_document(self.actor, &write).await {
                Ok(_) => {
                    if changed {
                        // Status, assignee (a decline) and counts may have moved.
                        match state
                            .store
                            .get_ticket(self.actor.tenant_id, ticket_id)
                            .await
                        {
                            Ok(after) => state.ticket_changed(Some(&ticket), &after),
                            Err(error) => {
                                tracing::warn!(%error, ticket = %ticket_id, "change not published")
                            }
                        }
                    }
                    self.states.insert(ticket_id, sync_state);
                    if draining {
                        self.draining.insert(ticket_id, ticket);
                    } else {
                        self.persisted.insert(ticket_id, encoded);
                    }
                    return Ok(None);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Some(error_frame(
            Some(ticket_id),
            ErrorCode::Internal,
            "the document kept changing; retry",
        )))
    }

    /// The server's next `sync` frame for each ticket in `tickets` (if any).
    pub async fn generate(
        &mut self,
        state: &AppState,
        tickets: &[Ticket],
        out: &mut Vec<Message>,
    ) -> StoreResult<()> {
        let draining: Vec<Ticket> = self.draining.drain().map(|(_, t)| t).collect();
        for ticket in &draining {
            let loaded = load_or_create(state, self.actor, ticket).await?;
            let mut sync_state = self.sync_state(state, ticket.id).await?;
            if let Some(data) = loaded.doc.generate_sync_message(&mut sync_state) {
                out.push(Message::Sync {
                    doc_id: ticket.id.to_string(),
                    data,
                });
            }
            self.states.insert(ticket.id, sync_state);
        }
        for ticket in tickets {
            let loaded = load_or_create(state, self.actor, ticket).await?;
            let mut sync_state = self.sync_state(state, ticket.id).await?;
            if let Some(data) = loaded.doc.generate_sync_message(&mut sync_state) {
                out.push(Message::Sync {
                    doc_id: ticket.id.to_string(),
                    data,
                });
            }
            // Persist only what changed (an idle WebSocket ticks often).
            let encoded = sync_state.encode();
            if self.persisted.get(&ticket.id) != Some(&encoded) {
                let write = DocumentWrite {
                    ticket_id: ticket.id,
                    expected_version: None,
                    body: None,
                    sync_state: Some((self.device_id, encoded.clone())),
                    projection: None,
                    audit_action: None,
                    audit_detail: None,
                };
                state.store.write_document(self.actor, &write).await?;
                self.persisted.insert(ticket.id, encoded);
            }
            self.states.insert(ticket.id, sync_state);
        }
        Ok(())
    }

    /// Handles frames after `hello` and returns the answer frames: the set
    /// refresh, errors for refused messages, then the server's sync replies.
    pub async fn exchange(
        &mut self,
        state: &AppState,
        frames: &[Message],
    ) -> StoreResult<Vec<Message>> {
        let mut out = Vec::new();
        let set = self.refresh_set(state, &mut out).await?;
        for frame in frames {
            match frame {
                Message::Sync { doc_id, data } => {
                    if let Some(err) = self.receive(state, doc_id, data).await? {
                        // A document the device mentioned outside its set: say
                        // why it is not there (PROTOCOL.md 3.4) before the error.
                        if let (
                            Message::Error {
                                code: ErrorCode::NotInSet,
                                ..
                            },
                            Ok(id),
                        ) = (&err, Uuid::parse_str(doc_id))
                        {
                            let reason = self.removal_reason(state, id).await?;
                            out.push(Message::DocRemoved {
                                doc_id: doc_id.clone(),
                                reason,
                            });
                        }
                        out.push(err);
                    }
                }
                Message::Hello { .. } => out.push(error_frame(
                    None,
                    ErrorCode::MalformedFrame,
                    "`hello` is only the first frame",
                )),
                // Errors from the device are logged; other frames are server → device.
                Message::Error {
                    doc_id,
                    code,
                    detail,
                } => {
                    tracing::info!(?doc_id, ?code, %detail, "device reported an error");
                }
                _ => {}
            }
        }
        self.generate(state, &set, &mut out).await?;
        Ok(out)
    }
}
