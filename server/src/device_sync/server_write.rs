//! Server-side changes of a ticket (REST, assignment, offers, SLA
//! escalation) as events in its document: a [`Draft`] starts from the
//! stored document (or one built from the row), takes status steps as
//! events of a fresh server actor, and yields the document change and the
//! row's projection, which the store writes in one transaction.

use truckroll_sync::{
    ChangeHash, FoldedStatus, HoldReason, Position, Status, StatusAction, StatusChange, TicketDoc,
    TransitionError,
};
use uuid::Uuid;

use super::merge::ms_to_time;
use super::{Loaded, WRITE_ATTEMPTS, body_for, load, now_ms, server_actor};
use crate::domain::{custom_fields, ticket::Ticket};
use crate::store::documents::{DocumentBody, DocumentChange, ServerWrite};
use crate::store::{Actor, Store, StoreError, StoreResult};

/// One status step the server takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub action: StatusAction,
    pub hold_reason: Option<HoldReason>,
    /// The technician of an `assign`/`reassign`.
    pub assignee: Option<Uuid>,
    /// Where a check-in happened, when the phone said.
    pub position: Option<Position>,
}

impl Step {
    pub const fn new(action: StatusAction) -> Self {
        Self {
            action,
            hold_reason: None,
            assignee: None,
            position: None,
        }
    }

    /// `assign` from `new`, `reassign` otherwise.
    pub const fn assign(from: Status, technician: Uuid) -> Self {
        let action = if matches!(from, Status::New) {
            StatusAction::Assign
        } else {
            StatusAction::Reassign
        };
        Self {
            assignee: Some(technician),
            ..Self::new(action)
        }
    }
}

/// A server change of one ticket's document, being planned.
#[derive(Debug)]
pub struct Draft {
    /// The stored document, `None` when the ticket has none yet.
    loaded: Option<Loaded>,
    doc: TicketDoc,
    /// Heads of the document the change starts from.
    before: Vec<ChangeHash>,
    /// Whether `doc` was built from the row (the change then creates it).
    built: bool,
    /// The fold the draft started from.
    fold_before: FoldedStatus,
}

impl Draft {
    /// Starts from the ticket's stored document, or from one built from
    /// `ticket` when it has none.
    pub async fn load(store: &dyn Store, ticket: &Ticket) -> StoreResult<Self> {
        match load(store, ticket.tenant_id, ticket.id).await? {
            Some(loaded) => {
                let doc = loaded.doc.fork_with_actor(server_actor());
                let before = doc.heads();
                Ok(Self {
                    loaded: Some(loaded),
                    fold_before: doc.status(),
                    doc,
                    before,
                    built: false,
                })
            }
            None => {
                let doc = seed(ticket)?;
                Ok(Self {
                    loaded: None,
                    before: doc.heads(),
                    fold_before: doc.status(),
                    doc,
                    built: true,
                })
            }
        }
    }

    /// The document's fold as it stands in this draft.
    pub fn fold(&self) -> FoldedStatus {
        self.doc.status()
    }

    /// `ticket` with status, hold reason and assignee as the draft's fold
    /// has them: the ticket as a change must be judged against.
    pub fn current(&self, ticket: &Ticket) -> Ticket {
        let mut current = ticket.clone();
        self.project(&mut current);
        current
    }

    /// Sets `ticket`'s status, hold reason and assignee to the fold's.
    pub fn project(&self, ticket: &mut Ticket) {
        let fold = self.fold();
        ticket.status = fold.status;
        ticket.hold_reason = fold.hold_reason;
        ticket.assignee_id = fold
            .assignee
            .as_deref()
            .and_then(|a| Uuid::parse_str(a).ok());
    }

    /// Appends `step` as an event of the server's actor (a field action
    /// carries the current assignment, as a phone's would). Refused, and
    /// nothing appended, when the fold would not apply it.
    pub fn step(&mut self, step: Step) -> Result<(), TransitionError> {
        let fold = self.fold();
        let change = StatusChange {
            action: step.action,
            hold_reason: step.hold_reason,
        };
        truckroll_sync::apply(fold.status, &change)?;
        let mut event = self.doc.stamp_event(step.action, now_ms());
        if let Some(a) = step.assignee {
            event = event.with_assignee(a.to_string());
        }
        if let Some(r) = step.hold_reason {
            event = event.with_hold_reason(r);
        }
        if let Some(p) = step.position {
            event = event.with_position(p);
        }
        let id = event.id.clone();
        // A well-formed event with a fresh id: the document accepts it.
        if self.doc.append_event(&event).is_err() {
            return Err(TransitionError::NotAllowed {
                from: fold.status,
                action: step.action,
            });
        }
        if !self.fold().applied.contains(&id) {
            return Err(TransitionError::NotAllowed {
                from: fold.status,
                action: step.action,
            });
        }
        Ok(())
    }

    /// Writes the office's custom fields (`fields`, the whole JSON object
    /// as the row will hold it) into the document: afterwards it holds
    /// exactly the fields of `fields` a document can hold
    /// ([`custom_fields::in_document`]).
    pub fn set_custom_fields(&mut self, fields: &serde_json::Value) -> StoreResult<()> {
        let wanted = custom_fields::in_document(fields);
        let held = self.doc.custom();
        let corrupt =
            |e: truckroll_sync::DocError| StoreError::Corrupt(format!("custom field: {e}"));
        for key in held.keys().filter(|k| !wanted.contains_key(*k)) {
            self.doc.remove_custom(key).map_err(corrupt)?;
        }
        for (key, value) in &wanted {
            let same = held.get(key).is_some_and(|v| {
                custom_fields::from_document(v) == custom_fields::from_document(value)
            });
            if !same {
                self.doc.set_custom(key, value.clone()).map_err(corrupt)?;
            }
        }
        Ok(())
    }

    /// Whether the draft changed the document (steps, custom fields).
    pub fn changed(&self) -> bool {
        self.doc.heads() != self.before
    }

    /// The document change to store with the row, `None` if the draft
    /// changed nothing.
    pub fn change(&self) -> Option<DocumentChange> {
        if self.doc.heads() == self.before && !self.built {
            return None;
        }
        let fold = self.fold();
        let body = match &self.loaded {
            Some(loaded) => body_for(loaded, &self.doc, &self.before),
            None => DocumentBody::Snapshot(self.doc.save()),
        };
        let moved = |now: Option<i64>, then: Option<i64>| (now != then).then(|| ms_to_time(now));
        let then = &self.fold_before;
        Some(DocumentChange {
            expected_version: self.loaded.as_ref().map(|l| l.version),
            body,
            accepted_at: moved(fold.accepted_at, then.accepted_at),
            arrived_at: moved(fold.arrived_at, then.arrived_at),
            completed_at: moved(fold.completed_at, then.completed_at),
        })
    }

    /// The write of an assignment planned on `based_on`: the projection of
    /// the fold and the document change.
    pub fn server_write(&self, based_on: &Ticket) -> Option<ServerWrite> {
        let document = self.change()?;
        let projected = self.current(based_on);
        Some(ServerWrite {
            based_on: based_on.updated_at,
            status: projected.status,
            hold_reason: projected.hold_reason,
            assignee_id: projected.assignee_id,
            document,
        })
    }

    /// The document version this draft started from.
    pub fn version(&self) -> Option<i64> {
        self.loaded.as_ref().map(|l| l.version)
    }
}

/// Whether a server write that answered `Conflict` lost a race it may
/// simply run again: the row or the document moved since `ticket` and
/// `draft` were read, but the ticket's status, hold reason and assignee are
/// as they were (a phone's notes, counts or times merged meanwhile). When
/// they changed, or nothing moved, the conflict is the answer (another
/// dispatcher's decision, capacity, an offer no longer open, …).
pub async fn lost_race(store: &dyn Store, ticket: &Ticket, draft: &Draft) -> StoreResult<bool> {
    let now = store.get_ticket(ticket.tenant_id, ticket.id).await?;
    if (now.status, now.hold_reason, now.assignee_id)
        != (ticket.status, ticket.hold_reason, ticket.assignee_id)
    {
        return Ok(false);
    }
    if now.updated_at != ticket.updated_at {
        return Ok(true);
    }
    let version = store
        .load_document(ticket.tenant_id, ticket.id)
        .await?
        .map(|d| d.version);
    Ok(version != draft.version())
}

/// How many times a server write is planned again after losing a race.
pub const ATTEMPTS: usize = WRITE_ATTEMPTS;

/// One server status step on `ticket` as an event in its document with the
/// row's projection, in one transaction, planned again when it lost a race
/// (what `PATCH /v1/tickets/{id}` does for a status change). `Ok(None)`
/// when the ticket's fold does not allow the step; otherwise the row it
/// was planned on and the changed ticket, for `AssignmentFlow::after_change`.
pub async fn take_step(
    store: &dyn Store,
    actor: Actor,
    ticket: &Ticket,
    step: Step,
) -> StoreResult<Option<(Ticket, Ticket)>> {
    let mut before = ticket.clone();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            before = store.get_ticket(ticket.tenant_id, ticket.id).await?;
        }
        let mut draft = Draft::load(store, &before).await?;
        if draft.step(step).is_err() {
            return Ok(None);
        }
        let mut after = draft.current(&before);
        draft.project(&mut after);
        match store
            .update_ticket(actor, &before, &after, draft.change().as_ref())
            .await
        {
            Ok(updated) => return Ok(Some((before, updated))),
            Err(StoreError::Conflict(why)) => {
                if attempt == ATTEMPTS || !lost_race(store, &before, &draft).await? {
                    return Err(StoreError::Conflict(why));
                }
            }
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Conflict("the ticket kept changing".into()))
}

/// A document for a ticket that has none, built from its row: the skeleton,
/// the custom fields the document holds, and server events reproducing the
/// assignment and the status the row shows (its device times the row's
/// `updated_at`), so the fold equals the row.
pub(super) fn seed(ticket: &Ticket) -> StoreResult<TicketDoc> {
    use StatusAction::*;
    let corrupt = |e: truckroll_sync::DocError| StoreError::Corrupt(e.to_string());
    let mut doc = TicketDoc::new(&ticket.id.to_string(), server_actor()).map_err(corrupt)?;
    for (key, value) in custom_fields::in_document(&ticket.custom_fields) {
        doc.set_custom(&key, value).map_err(corrupt)?;
    }
    let mut path: Vec<(StatusAction, Option<Uuid>, Option<HoldReason>)> = Vec::new();
    if let Some(assignee) = ticket.assignee_id
        && ticket.status != Status::New
    {
        path.push((Assign, Some(assignee), None));
        let field: &[StatusAction] = match ticket.status {
            Status::Accepted | Status::OnHold => &[Accept],
            Status::EnRoute => &[Accept, StartTravel],
            Status::OnSite => &[Accept, StartTravel, CheckIn],
            Status::WorkDone => &[Accept, StartTravel, CheckIn, CompleteWork],
            Status::Closed => &[Accept, StartTravel, CheckIn, CompleteWork, Close],
            Status::Cancelled => &[Cancel],
            Status::New | Status::Assigned => &[],
        };
        path.extend(field.iter().map(|a| (*a, None, None)));
        if ticket.status == Status::OnHold {
            path.push((Hold, None, ticket.hold_reason));
        }
    } else if ticket.status == Status::Cancelled {
        path.push((Cancel, None, None));
    }
    let at = ticket.updated_at.timestamp_millis();
    for (action, assignee, reason) in path {
        let mut event = doc.stamp_event(action, at);
        if let Some(a) = assignee {
            event = event.with_assignee(a.to_string());
        }
        if let Some(r) = reason {
            event = event.with_hold_reason(r);
        }
        doc.append_event(&event)
            .map_err(|e| StoreError::Corrupt(format!("server event: {e}")))?;
    }
    Ok(doc)
}

/// An office correction of the work record (`work::corrections`): a fork
/// of the stored document as a fresh server actor, stored with its audit
/// entry and the row's projection (part and photo counts) in one
/// transaction, conditional on the version it was read at.
#[derive(Debug)]
pub struct WorkEdit {
    loaded: Loaded,
    pub doc: TicketDoc,
    before: Vec<ChangeHash>,
}

impl WorkEdit {
    /// Starts from the ticket's document (created from the row when it has
    /// none yet, as `version` 0 then means).
    pub async fn load(
        store: &dyn Store,
        actor: crate::store::Actor,
        ticket: &Ticket,
    ) -> StoreResult<Self> {
        let loaded = super::load_or_create(store, actor, ticket).await?;
        let doc = loaded.doc.fork_with_actor(server_actor());
        let before = doc.heads();
        Ok(Self {
            loaded,
            doc,
            before,
        })
    }

    /// The stored version this edit started from.
    pub fn version(&self) -> i64 {
        self.loaded.version
    }

    /// Hex id of the server actor writing this edit.
    pub fn actor_hex(&self) -> String {
        self.doc.actor().to_hex_string()
    }

    /// Stores the edit with an audit entry (`action`, `detail`); returns the
    /// new version. `Conflict` when the document moved since it was read.
    pub async fn write(
        &self,
        store: &dyn Store,
        actor: crate::store::Actor,
        ticket_id: Uuid,
        action: &'static str,
        detail: serde_json::Value,
    ) -> StoreResult<i64> {
        use crate::store::documents::{CustomFieldsDiff, DocumentWrite, Projection};
        let columns = store.field_columns(actor.tenant_id, ticket_id).await?;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let projection = Projection {
            status: None,
            steps: Vec::new(),
            accepted_at: columns.accepted_at,
            arrived_at: columns.arrived_at,
            completed_at: columns.completed_at,
            photo_count: count(self.doc.photos().len()),
            part_count: count(self.doc.parts().len()),
            parts: super::merge::storable_parts(&self.doc),
            field_updated_at: chrono::Utc::now(),
            custom: CustomFieldsDiff::default(),
            check_in: None,
        };
        let write = DocumentWrite {
            ticket_id,
            expected_version: Some(self.loaded.version),
            body: Some(body_for(&self.loaded, &self.doc, &self.before)),
            sync_state: None,
            projection: Some(projection),
            audit_action: Some(action),
            audit_detail: Some(detail),
        };
        Ok(store.write_document(actor, &write).await?.version)
    }
}
