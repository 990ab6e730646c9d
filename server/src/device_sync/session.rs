//! One device's sync session: the hello, the set of documents it holds,
//! merging its changes through validation, and the server's replies.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use truckroll_sync::protocol::{ErrorCode, Incoming, Message, PROTOCOL_VERSION, RemovalReason};
use truckroll_sync::{ActorId, Limits, Status, StatusAction, SyncState, TicketDoc};
use uuid::Uuid;

use super::merge::{PlausibleTimes, ms_to_time, status_steps};
use super::{
    Loaded, REMOVAL_GRACE_MS, WRITE_ATTEMPTS, body_for, cache, load, load_or_create,
    load_or_create_at, now_ms, server_actor, written_size,
};
use crate::domain::ticket::Ticket;
use crate::events::{Event, EventBus};
use crate::store::documents::{DocumentWrite, Projection, WrittenDocument};
use crate::store::{Actor, PageRequest, Store, StoreError, StoreResult, TicketFilter};

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

/// The server's sync state, in a one-shot exchange, for a device that has no
/// state for the document: the device holds none of it (a new member of its
/// set, or a reset: both start from an empty document, PROTOCOL.md §3.3 and
/// §3.5). Starting as if the device had said "I have nothing" makes the
/// server's first answer carry the whole document, which saves a request.
/// Not on a WebSocket: there the device's own first message crosses ours,
/// and would make us send the document twice.
fn holds_nothing() -> SyncState {
    SyncState {
        their_heads: Some(Vec::new()),
        their_need: Some(Vec::new()),
        their_have: Some(vec![truckroll_sync::automerge::sync::Have::default()]),
        ..SyncState::new()
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
    /// Documents as left by the device's last message in this exchange,
    /// Automerge's queue included: the reply is generated from them so its
    /// `need` names the dependency a queued change waits for (a reply from
    /// the stored version would ask for the queued change itself, which the
    /// device resends without its dependency, and the sync would not end).
    received: HashMap<Uuid, TicketDoc>,
    /// Documents this exchange stored, by ticket: (version, incremental
    /// bytes, estimated saved size). Each goes to the document cache once
    /// the answer is generated from it (taken, not copied).
    written: HashMap<Uuid, (i64, i64, usize)>,
    /// Documents this session said `doc_removed` for.
    removed: BTreeSet<Uuid>,
    /// A one-shot HTTP exchange (see [`holds_nothing`]).
    one_shot: bool,
    /// The set as of the last exchange, for what the edge adds to the
    /// answer (the job packets, `crate::packet`).
    set: Vec<Ticket>,
    /// The rows of the set during an exchange, by id, as its writes left them.
    rows: HashMap<Uuid, Ticket>,
    /// The stored document versions of the set, read once per exchange that
    /// carries `sync` frames, for the document cache's check (dropped for a
    /// document whose write found it moved on).
    versions: HashMap<Uuid, i64>,
    /// `dispatch.checkin_radius_m`, for check-ins that arrive by sync.
    checkin_radius_m: f64,
    /// Documents this session received `sync` frames for, up to `max_documents`.
    touched: BTreeSet<Uuid>,
    max_documents: usize,
    /// Tickets whose work record or status this session's syncs changed,
    /// as they were before and after, until the edge takes them
    /// ([`Session::take_synced`]) to run the trigger rules on them.
    synced: Vec<(Ticket, Ticket)>,
}

/// A device's changes merged into a stored document, waiting for (or
/// back from) the write that stores them.
#[derive(Debug)]
struct Merge {
    /// The row the merge was judged against.
    ticket: Ticket,
    draining: bool,
    loaded: Loaded,
    doc: TicketDoc,
    sync_state: SyncState,
}

/// What a `sync` frame came to.
#[derive(Debug)]
enum Merged {
    /// Answer with this error frame; nothing was applied.
    Refused(Message),
    /// The document did not change; applied (the sync state moved on).
    Unchanged,
    /// The document changed: the merge and the write that stores it.
    Changed(Box<(Merge, DocumentWrite)>),
}

/// The merges of one exchange waiting for their one transaction, with the
/// frames' data (a merge whose document moved on is redone from it).
#[derive(Debug, Default)]
struct Batch<'a> {
    merges: Vec<(Merge, &'a [u8])>,
    writes: Vec<DocumentWrite>,
}

/// The one answer to a document the device may not sync, whatever the
/// reason (a colleague's ticket, another tenant's, an id that names nothing):
/// like the REST API's 404, it reveals nothing about the ticket.
const NOT_IN_SET_DETAIL: &str = "no such document in this device's set; changes not applied";

impl Session {
    /// Checks the `hello` frame: version, and a device registered to the caller.
    pub async fn start(
        store: &dyn Store,
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
        let Some((owner, actor_hex)) = store.device_actors(actor.tenant_id, device_id).await?
        else {
            return Err(unauthorized());
        };
        if Some(owner) != actor.user_id {
            return Err(unauthorized());
        }
        let user_id = actor.user_id.ok_or_else(unauthorized)?;
        let technician = store
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
            received: HashMap::new(),
            written: HashMap::new(),
            removed: BTreeSet::new(),
            one_shot: false,
            set: Vec::new(),
            rows: HashMap::new(),
            versions: HashMap::new(),
            checkin_radius_m: super::geofence::DEFAULT_CHECKIN_RADIUS_M,
            touched: BTreeSet::new(),
            max_documents: usize::MAX,
            synced: Vec::new(),
        })
    }

    /// Marks this session as one `POST /v1/sync` exchange.
    pub fn one_shot(mut self) -> Self {
        self.one_shot = true;
        self
    }

    /// A fresh state for a device that holds no state for a document.
    fn fresh_state(&self) -> SyncState {
        if self.one_shot {
            holds_nothing()
        } else {
            SyncState::new()
        }
    }

    /// The geofence radius for check-ins merged in this session.
    pub fn with_checkin_radius(mut self, radius_m: f64) -> Self {
        self.checkin_radius_m = radius_m;
        self
    }

    /// At most `max` documents get changes through this session; frames for
    /// more are answered `session_limit`.
    pub fn with_max_documents(mut self, max: usize) -> Self {
        self.max_documents = max;
        self
    }

    /// The server's `hello` answer.
    pub fn hello(&self) -> Message {
        Message::Hello {
            version: PROTOCOL_VERSION,
            device_id: self.device_id.to_string(),
        }
    }

    /// The tickets now in the device's set.
    async fn current_set(&self, store: &dyn Store) -> StoreResult<Vec<Ticket>> {
        let filter = TicketFilter {
            assignee_id: Some(self.technician_id),
            ..TicketFilter::default()
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = store
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

    /// Why a document this device held left its set. Only asked for
    /// documents the device held (a persisted sync state, or announced in
    /// this session): for those the device already knew the ticket.
    async fn removal_reason(
        &self,
        store: &dyn Store,
        ticket_id: Uuid,
    ) -> StoreResult<RemovalReason> {
        Ok(
            match store.get_ticket(self.actor.tenant_id, ticket_id).await {
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
        store: &dyn Store,
        out: &mut Vec<Message>,
    ) -> StoreResult<Vec<Ticket>> {
        let set = self.current_set(store).await?;
        let ids: BTreeSet<Uuid> = set.iter().map(|t| t.id).collect();
        let stored = store
            .device_sync_states(self.actor.tenant_id, self.device_id)
            .await?;
        let mut held: BTreeSet<Uuid> = stored.iter().map(|(id, _)| *id).collect();
        held.extend(self.announced.iter().copied());
        for gone in held.difference(&ids) {
            let reason = self.removal_reason(store, *gone).await?;
            out.push(Message::DocRemoved {
                doc_id: gone.to_string(),
                reason,
            });
            store
                .delete_sync_state(self.actor.tenant_id, self.device_id, *gone)
                .await?;
            self.states.remove(gone);
            self.persisted.remove(gone);
            self.removed.insert(*gone);
        }
        // The stored states, read with the set rather than one by one; what
        // this session wrote itself is newer.
        for (id, state) in stored {
            if ids.contains(&id) {
                self.persisted.entry(id).or_insert(state);
            }
        }
        for added in ids.difference(&self.announced) {
            out.push(Message::DocAdded {
                doc_id: added.to_string(),
            });
        }
        self.announced = ids;
        Ok(set)
    }

    async fn sync_state(&mut self, store: &dyn Store, ticket_id: Uuid) -> StoreResult<SyncState> {
        if let Some(s) = self.states.get(&ticket_id) {
            return Ok(s.clone());
        }
        if let Some(state) = self
            .persisted
            .get(&ticket_id)
            .and_then(|b| SyncState::decode(b).ok())
        {
            return Ok(state);
        }
        let persisted = store
            .load_sync_state(self.actor.tenant_id, self.device_id, ticket_id)
            .await?;
        Ok(persisted
            .and_then(|b| SyncState::decode(&b).ok())
            .unwrap_or_else(|| self.fresh_state()))
    }

    /// Whether `ticket` left this technician's set recently enough that
    /// trailing changes from the device are still accepted: the document
    /// assigned it to them, and the server event that took it away (or, if
    /// the document has none, the ticket's last update) is within
    /// [`REMOVAL_GRACE_MS`]. Closed tickets are frozen: no grace.
    async fn in_removal_grace(&self, store: &dyn Store, ticket: &Ticket) -> StoreResult<bool> {
        if ticket.status == Status::Closed {
            return Ok(false);
        }
        let Some(loaded) = load(store, ticket.tenant_id, ticket.id).await? else {
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

    /// Admits one `sync` frame: the document must be in the device's set (or
    /// in its removal grace) and within the session's document limit.
    /// Answers the ticket and whether it is draining, or the error to send.
    async fn admit(
        &mut self,
        store: &dyn Store,
        doc_id: &str,
    ) -> StoreResult<Result<(Ticket, bool), Message>> {
        let Ok(ticket_id) = Uuid::parse_str(doc_id) else {
            return Ok(Err(Message::Error {
                doc_id: Some(doc_id.to_owned()),
                code: ErrorCode::NotInSet,
                detail: NOT_IN_SET_DETAIL.into(),
            }));
        };
        if !self.touched.contains(&ticket_id) {
            if self.touched.len() >= self.max_documents {
                return Ok(Err(error_frame(
                    Some(ticket_id),
                    ErrorCode::SessionLimit,
                    "this session already carried changes for as many documents as the server allows; sync this one in a new session",
                )));
            }
            self.touched.insert(ticket_id);
        }
        // The set's row, read with the set at the start of this exchange
        // (and replaced by what this exchange's writes made of it).
        let current = match self.rows.get(&ticket_id) {
            Some(row) => Ok(row.clone()),
            None => store.get_ticket(self.actor.tenant_id, ticket_id).await,
        };
        match current {
            Ok(t) if t.assignee_id == Some(self.technician_id) && !t.status.is_terminal() => {
                Ok(Ok((t, false)))
            }
            Ok(t) if self.in_removal_grace(store, &t).await? => Ok(Ok((t, true))),
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(Err(error_frame(
                Some(ticket_id),
                ErrorCode::NotInSet,
                NOT_IN_SET_DETAIL,
            ))),
            Err(e) => Err(e),
        }
    }

    /// Merges an admitted frame and writes it alone, again from the stored
    /// document while the document keeps moving on under the write.
    async fn write_alone(
        &mut self,
        store: &dyn Store,
        events: &dyn EventBus,
        ticket: Ticket,
        draining: bool,
        data: &[u8],
    ) -> StoreResult<Option<Message>> {
        for _ in 0..WRITE_ATTEMPTS {
            let (merge, write) = match self.merge_frame(store, &ticket, draining, data).await? {
                Merged::Refused(refusal) => return Ok(Some(refusal)),
                Merged::Unchanged => return Ok(None),
                Merged::Changed(changed) => *changed,
            };
            match store.write_document(self.actor, &write).await {
                Ok(written) => {
                    self.apply(events, merge, &write, written);
                    return Ok(None);
                }
                Err(StoreError::Conflict(_)) => {
                    self.versions.remove(&ticket.id);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(error_frame(
            Some(ticket.id),
            ErrorCode::Internal,
            "the document kept changing; retry",
        )))
    }

    /// Merges the device's message into the stored document of an admitted
    /// ticket, through validation. A change comes back with the write that
    /// stores it; the session's states take it once that write is stored
    /// ([`Session::apply`]). A document the message left unchanged is
    /// applied here (the sync state still moves on).
    async fn merge_frame(
        &mut self,
        store: &dyn Store,
        ticket: &Ticket,
        draining: bool,
        data: &[u8],
    ) -> StoreResult<Merged> {
        let ticket_id = ticket.id;
        let known = self.versions.get(&ticket_id).copied();
        let loaded = load_or_create_at(store, self.actor, ticket, known).await?;
        let mut sync_state = self.sync_state(store, ticket_id).await?;
        let before = loaded.doc.heads();
        let merged = super::merge::receive(
            store,
            ticket,
            &loaded.doc,
            &mut sync_state,
            data,
            &self.actors,
            &self.limits,
        )
        .await?;
        let mut doc = match merged {
            Ok(doc) => doc,
            Err(e) => {
                // Reset: nothing applied, the device starts over from our version.
                self.states.insert(ticket_id, self.fresh_state());
                self.persisted.remove(&ticket_id);
                self.received.remove(&ticket_id);
                store
                    .delete_sync_state(self.actor.tenant_id, self.device_id, ticket_id)
                    .await?;
                tracing::info!(ticket = %ticket_id, device = %self.device_id, error = %e, "refused a device's sync message");
                return Ok(Merged::Refused(error_frame(
                    Some(ticket_id),
                    e.code(),
                    e.to_string(),
                )));
            }
        };
        // Nothing on this path writes with it; a fresh one keeps any later
        // server edit of this copy from reusing the loaded document's actor.
        doc.set_actor(server_actor());
        if doc.heads() == before {
            self.states.insert(ticket_id, sync_state);
            self.received.insert(ticket_id, doc);
            if draining {
                self.draining.insert(ticket_id, ticket.clone());
            }
            return Ok(Merged::Unchanged);
        }
        // Without a new event the fold, the check-in and the device times
        // are the stored document's: only the fold's times are projected.
        let new_events = doc.event_count() != loaded.doc.event_count();
        let fold = doc.status();
        let status_changed = new_events && {
            let fold_before = loaded.doc.status();
            (fold.status, fold.hold_reason) != (fold_before.status, fold_before.hold_reason)
        };
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
            parts: super::merge::storable_parts(&doc),
            field_updated_at: received,
            custom: super::merge::custom_diff(&loaded.doc, &doc),
            check_in: if new_events {
                super::geofence::judge_synced_check_in(
                    store,
                    ticket,
                    &loaded.doc,
                    &doc,
                    self.checkin_radius_m,
                    received,
                )
                .await?
            } else {
                None
            },
        };
        let implausible = if new_events {
            window.flag_new_events(&loaded.doc, &doc)
        } else {
            Vec::new()
        };
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
        // The sync state is not part of this write: the answer's
        // [`Session::generate`] persists the states of the whole set in
        // one statement before the answer leaves (a state older than the
        // document only makes the device send changes the server has).
        let write = DocumentWrite {
            ticket_id,
            expected_version: Some(loaded.version),
            body: Some(body_for(&loaded, &doc, &before)),
            sync_state: None,
            projection: Some(projection),
            audit_action: Some("ticket.field_sync"),
            audit_detail: Some(detail),
        };
        Ok(Merged::Changed(Box::new((
            Merge {
                ticket: ticket.clone(),
                draining,
                loaded,
                doc,
                sync_state,
            },
            write,
        ))))
    }

    /// Takes a stored merge into the session: the cache, the version, the
    /// row, the event, the states the answer is generated from.
    fn apply(
        &mut self,
        events: &dyn EventBus,
        merge: Merge,
        write: &DocumentWrite,
        written: WrittenDocument,
    ) {
        let ticket_id = merge.ticket.id;
        if let Some(body) = &write.body {
            let (incremental_bytes, saved) = written_size(&merge.loaded, body);
            self.written
                .insert(ticket_id, (written.version, incremental_bytes, saved));
        }
        self.versions.insert(ticket_id, written.version);
        // Status, assignee (a decline) and counts may have moved.
        if let Some(after) = written.ticket {
            if let Some(event) = Event::for_ticket(Some(&merge.ticket), &after) {
                events.publish(event);
            }
            if let Some(row) = self.rows.get_mut(&ticket_id) {
                *row = after.clone();
            }
            self.synced.push((merge.ticket.clone(), after));
        }
        self.states.insert(ticket_id, merge.sync_state);
        self.received.insert(ticket_id, merge.doc);
        if merge.draining {
            self.draining.insert(ticket_id, merge.ticket);
        }
    }

    /// Stores the exchange's merges waiting in `batch` in one transaction
    /// (`DocumentStore::write_documents`); one whose document moved on in
    /// the meantime is merged and written again alone, and what refused it
    /// goes to `out`.
    async fn flush(
        &mut self,
        store: &dyn Store,
        events: &dyn EventBus,
        batch: &mut Batch<'_>,
        out: &mut Vec<Message>,
    ) -> StoreResult<()> {
        if batch.writes.is_empty() {
            return Ok(());
        }
        let writes = std::mem::take(&mut batch.writes);
        let merges = std::mem::take(&mut batch.merges);
        let results = store.write_documents(self.actor, &writes).await?;
        for (((merge, data), write), result) in merges.into_iter().zip(&writes).zip(results) {
            match result {
                Some(written) => self.apply(events, merge, write, written),
                None => {
                    let ticket_id = merge.ticket.id;
                    self.versions.remove(&ticket_id);
                    if let Some(refusal) = self
                        .write_alone(store, events, merge.ticket, merge.draining, data)
                        .await?
                    {
                        out.push(refusal);
                    }
                }
            }
        }
        Ok(())
    }

    /// The document to answer from: the one the device's message in this
    /// exchange left (queue included), else the stored one.
    async fn reply_doc(&mut self, store: &dyn Store, ticket: &Ticket) -> StoreResult<TicketDoc> {
        match self.received.remove(&ticket.id) {
            Some(doc) => Ok(doc),
            None => Ok(load_or_create(store, self.actor, ticket).await?.doc),
        }
    }

    /// After its answer: a document this exchange stored goes to the cache,
    /// so the next load on this replica needs no decode.
    fn cache_written(&mut self, ticket_id: Uuid, doc: TicketDoc) {
        if let Some((version, incremental_bytes, saved)) = self.written.remove(&ticket_id) {
            cache::global().put(ticket_id, version, incremental_bytes, doc, saved);
        }
    }

    /// The server's next `sync` frame for each ticket in `tickets` (if any),
    /// in `doc_id` order (PROTOCOL.md §3.4, "Order of the answer").
    pub async fn generate(
        &mut self,
        store: &dyn Store,
        tickets: &[Ticket],
        out: &mut Vec<Message>,
    ) -> StoreResult<()> {
        let mut replies = Vec::new();
        let mut states = Vec::new();
        let draining: Vec<Ticket> = self.draining.drain().map(|(_, t)| t).collect();
        for ticket in &draining {
            let doc = self.reply_doc(store, ticket).await?;
            let mut sync_state = self.sync_state(store, ticket.id).await?;
            if let Some(data) = doc.generate_sync_message(&mut sync_state) {
                replies.push(Message::Sync {
                    doc_id: ticket.id.to_string(),
                    data,
                });
            }
            self.states.insert(ticket.id, sync_state);
            self.cache_written(ticket.id, doc);
        }
        for ticket in tickets {
            let doc = self.reply_doc(store, ticket).await?;
            let mut sync_state = self.sync_state(store, ticket.id).await?;
            if let Some(data) = doc.generate_sync_message(&mut sync_state) {
                replies.push(Message::Sync {
                    doc_id: ticket.id.to_string(),
                    data,
                });
            }
            // Persist only what changed (an idle WebSocket ticks often).
            let encoded = sync_state.encode();
            if self.persisted.get(&ticket.id) != Some(&encoded) {
                states.push((ticket.id, encoded));
            }
            self.states.insert(ticket.id, sync_state);
            self.cache_written(ticket.id, doc);
        }
        // All of them in one statement, before the answer leaves.
        if !states.is_empty() {
            store
                .write_sync_states(self.actor.tenant_id, self.device_id, &states)
                .await?;
            self.persisted.extend(states);
        }
        self.received.clear();
        self.written.clear();
        replies.sort_by(|a, b| a.doc_id().cmp(&b.doc_id()));
        out.extend(replies);
        Ok(())
    }

    /// Handles the frames after `hello` and returns the answer, in the order
    /// PROTOCOL.md §3.4 fixes: the set refresh (`doc_removed`, then
    /// `doc_added`), then per request frame in request order what refused it
    /// (`doc_removed` and `error`, or `error`), then the server's `sync`
    /// replies by `doc_id`. Frames of unknown type are skipped; a bad frame
    /// fails only itself.
    pub async fn exchange(
        &mut self,
        store: &dyn Store,
        events: &dyn EventBus,
        frames: &[Incoming],
    ) -> StoreResult<Vec<Message>> {
        let mut out = Vec::new();
        let set = self.refresh_set(store, &mut out).await?;
        self.rows = set.iter().map(|t| (t.id, t.clone())).collect();
        let syncs = frames
            .iter()
            .any(|f| matches!(f, Incoming::Frame(Message::Sync { .. })));
        if syncs && cache::global().enabled() {
            let ids: Vec<Uuid> = set.iter().map(|t| t.id).collect();
            self.versions = store
                .document_versions(self.actor.tenant_id, &ids)
                .await?
                .into_iter()
                .collect();
        }
        let mut batch = Batch::default();
        for frame in frames {
            let frame = match frame {
                Incoming::Frame(frame) => frame,
                Incoming::Unknown(kind) => {
                    tracing::debug!(%kind, "skipped a frame of unknown type");
                    continue;
                }
                bad @ Incoming::Bad { .. } => {
                    out.extend(bad.error_frame());
                    continue;
                }
            };
            match frame {
                Message::Sync { doc_id, data } => {
                    let refusal = match self.admit(store, doc_id).await? {
                        Err(refusal) => Some(refusal),
                        Ok((ticket, draining)) => {
                            // A second frame for a document builds on the first one's write.
                            if batch.merges.iter().any(|(m, _)| m.ticket.id == ticket.id) {
                                self.flush(store, events, &mut batch, &mut out).await?;
                            }
                            match self.merge_frame(store, &ticket, draining, data).await? {
                                Merged::Refused(refusal) => Some(refusal),
                                Merged::Unchanged => None,
                                Merged::Changed(changed) => {
                                    let (merge, write) = *changed;
                                    batch.merges.push((merge, data));
                                    batch.writes.push(write);
                                    None
                                }
                            }
                        }
                    };
                    if let Some(err) = refusal {
                        // What refused the earlier frames goes first.
                        self.flush(store, events, &mut batch, &mut out).await?;
                        if let Message::Error {
                            code: ErrorCode::NotInSet,
                            ..
                        } = &err
                        {
                            self.not_in_set(store, doc_id, &mut out).await?;
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
        self.flush(store, events, &mut batch, &mut out).await?;
        self.rows.clear();
        self.versions.clear();
        self.generate(store, &set, &mut out).await?;
        self.set = set;
        Ok(out)
    }

    /// The `doc_removed` before a `not_in_set` error (PROTOCOL.md §3.4): the
    /// real reason for a document this device held (it knew the ticket), the
    /// same `not_in_set` for every other id — a colleague's ticket, another
    /// tenant's, one that does not exist — as REST answers 404 for all three.
    /// Nothing if this session already said `doc_removed` for it.
    async fn not_in_set(
        &mut self,
        store: &dyn Store,
        doc_id: &str,
        out: &mut Vec<Message>,
    ) -> StoreResult<()> {
        let held = match Uuid::parse_str(doc_id) {
            Ok(id) if self.removed.contains(&id) => return Ok(()),
            Ok(id) => store
                .load_sync_state(self.actor.tenant_id, self.device_id, id)
                .await?
                .map(|_| id),
            Err(_) => None,
        };
        let reason = match held {
            Some(id) => {
                self.removed.insert(id);
                self.removal_reason(store, id).await?
            }
            None => RemovalReason::NotInSet,
        };
        out.push(Message::DocRemoved {
            doc_id: doc_id.to_owned(),
            reason,
        });
        Ok(())
    }

    /// The tickets the syncs since the last call changed (before, after),
    /// oldest first.
    pub fn take_synced(&mut self) -> Vec<(Ticket, Ticket)> {
        std::mem::take(&mut self.synced)
    }

    /// The tickets in the device's set as of the last [`Session::exchange`].
    pub fn set(&self) -> &[Ticket] {
        &self.set
    }
}
