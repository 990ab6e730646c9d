//! Status events and the deterministic fold that derives a ticket's status.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::machine::{StatusChange, TransitionError, apply};
use crate::status::{ActionOrigin, HoldReason, Status, StatusAction};

/// Where the device was when it recorded an event (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres, if the device reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// One entry of a ticket document's append-only `events` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// Unique within the document. [`crate::TicketDoc::stamp_event`] uses the
    /// HLC stamp's string form.
    pub id: String,
    pub kind: StatusAction,
    /// Automerge actor id (lowercase hex) of the writer; equals `hlc.actor()`.
    pub actor: String,
    /// The writer's clock when the event happened: milliseconds since the Unix
    /// epoch (an Automerge timestamp in the document).
    pub device_time: i64,
    pub hlc: Hlc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// For `hold`: a [`HoldReason`] name (required). Otherwise free text, e.g.
    /// why a ticket was declined or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `assign` and `reassign` (required there, refused elsewhere): the
    /// technician the ticket now belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// For field events: the id of the `assign`/`reassign` event that was
    /// current in the writer's fold when it wrote this event (`None` if there
    /// was none). The fold ignores a field event made under an assignment that
    /// is no longer current; see [`fold_status`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
}

impl StatusEvent {
    /// Adds where the event happened.
    pub fn with_position(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Adds a reason (a [`HoldReason`] name for `hold`).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a hold reason.
    pub fn with_hold_reason(self, reason: HoldReason) -> Self {
        self.with_reason(reason.as_str())
    }

    /// Adds the assignee of an `assign`/`reassign`.
    pub fn with_assignee(mut self, assignee: impl Into<String>) -> Self {
        self.assignee = Some(assignee.into());
        self
    }

    /// The order in which the fold applies events: HLC stamp, then actor,
    /// then id.
    pub fn sort_key(&self) -> (&Hlc, &str, &str) {
        (&self.hlc, &self.actor, &self.id)
    }
}

/// Why [`fold_status`] did not apply an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The state machine does not allow this action from the status the
    /// ticket had at that point of the fold (or a hold had no valid reason).
    #[error("{error}")]
    NotAllowed {
        #[serde(serialize_with = "transition_error_text")]
        error: TransitionError,
    },
    /// A field event made under an assignment that a later server event
    /// (reassign, unassign, decline, reopen, …) had already replaced.
    #[error("made under assignment {made_under:?}, but the current assignment is {current:?}")]
    StaleAssignment {
        made_under: Option<String>,
        current: Option<String>,
    },
    /// Another event with the same id came earlier in fold order.
    #[error("duplicate event id")]
    DuplicateId,
}

fn transition_error_text<S: serde::Serializer>(
    e: &TransitionError,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

/// An event the fold skipped, with why, so a UI can show the conflict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredEvent {
    pub id: String,
    pub kind: StatusAction,
    pub actor: String,
    pub hlc: Hlc,
    /// The folded status when this event was considered.
    pub status_then: Status,
    pub reason: IgnoreReason,
}

/// The status derived from a ticket's events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldedStatus {
    pub status: Status,
    /// Set while the status is `on_hold`.
    pub hold_reason: Option<HoldReason>,
    /// The technician of the current assignment.
    pub assignee: Option<String>,
    /// Id of the `assign`/`reassign` event of the current assignment.
    pub assignment: Option<String>,
    /// Device time of the latest applied `accept` in the current assignment.
    pub accepted_at: Option<i64>,
    /// Device time of the first applied `check_in` in the current assignment.
    pub arrived_at: Option<i64>,
    /// Device time of the latest applied `complete_work`; cleared by `rework`.
    pub completed_at: Option<i64>,
    /// Ids of the applied events, in fold order.
    pub applied: Vec<String>,
    /// Events that were skipped, in fold order.
    pub ignored: Vec<IgnoredEvent>,
}

impl Default for FoldedStatus {
    fn default() -> Self {
        Self {
            status: Status::New,
            hold_reason: None,
            assignee: None,
            assignment: None,
            accepted_at: None,
            arrived_at: None,
            completed_at: None,
            applied: Vec::new(),
            ignored: Vec::new(),
        }
    }
}

/// Derives a ticket's status from its events, identically on every replica.
///
/// 1. Events are sorted by [`StatusEvent::sort_key`] — HLC stamp, then actor,
///    then id — so the result does not depend on the order they arrived in,
///    nor on their order in the document's list. An event whose id was
///    already seen is ignored ([`IgnoreReason::DuplicateId`]).
/// 2. Starting from `new`, each event is applied through the state machine
///    ([`apply`]). An event that is not allowed from the status reached so
///    far is recorded in `ignored` and changes nothing. For `hold`, `reason`
///    must name a [`HoldReason`].
/// 3. A field-origin event ([`ActionOrigin::Field`]) is applied only if its
///    `assignment` equals the current assignment (the id of the last applied
///    `assign`/`reassign`, cleared by `unassign`, `decline` and `reopen`);
///    otherwise it is ignored as [`IgnoreReason::StaleAssignment`].
///
/// How server events win: the server stamps its events from its own HLC,
/// which has observed every event it holds, so a field event made after the
/// device saw a server event is stamped later, and a field event made
/// concurrently (offline) is ordered by the two clocks. Either way, a field
/// event sorted after a `cancel` meets `cancelled`, which has no field
/// transitions, and is ignored; one sorted after a `reassign`/`unassign`
/// carries the old assignment and is ignored by rule 3, even where the state
/// machine alone would allow it (e.g. the old technician's offline `accept`
/// after a reassign). Field events sorted *before* the server event are
/// applied first and the server event then applies on top (or is itself
/// ignored if the state machine refuses it, e.g. reassigning a ticket that is
/// on site). Concurrent field events are all kept in the document and apply
/// in HLC-then-actor order.
pub fn fold_status(events: &[StatusEvent]) -> FoldedStatus {
    let mut sorted: Vec<&StatusEvent> = events.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let mut out = FoldedStatus::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for e in sorted {
        let ignore = |out: &mut FoldedStatus, reason| {
            out.ignored.push(IgnoredEvent {
                id: e.id.clone(),
                kind: e.kind,
                actor: e.actor.clone(),
                hlc: e.hlc.clone(),
                status_then: out.status,
                reason,
            })
        };
        if !seen.insert(&e.id) {
            ignore(&mut out, IgnoreReason::DuplicateId);
            continue;
        }
        if e.kind.origin() == ActionOrigin::Field && e.assignment != out.assignment {
            let reason = IgnoreReason::StaleAssignment {
                made_under: e.assignment.clone(),
                current: out.assignment.clone(),
            };
            ignore(&mut out, reason);
            continue;
        }
        let change = match e.kind {
            StatusAction::Hold => {
                match e
                    .reason
                    .as_deref()
                    .and_then(|r| r.parse::<HoldReason>().ok())
                {
                    Some(r) => StatusChange::hold(r),
                    None => {
                        let error = TransitionError::HoldReasonRequired;
                        ignore(&mut out, IgnoreReason::NotAllowed { error });
                        continue;
                    }
                }
            }
            kind => StatusChange::new(kind),
        };
        let next = match apply(out.status, &change) {
            Ok(next) => next,
            Err(error) => {
                ignore(&mut out, IgnoreReason::NotAllowed { error });
                continue;
            }
        };
        out.status = next;
        out.hold_reason = change.hold_reason;
        match e.kind {
            StatusAction::Assign | StatusAction::Reassign => {
                out.assignee = e.assignee.clone();
                out.assignment = Some(e.id.clone());
                out.accepted_at = None;
                out.arrived_at = None;
                out.completed_at = None;
            }
            StatusAction::Unassign | StatusAction::Decline | StatusAction::Reopen => {
                out.assignee = None;
                out.assignment = None;
                out.accepted_at = None;
                out.arrived_at = None;
                out.completed_at = None;
            }
            StatusAction::Accept => out.accepted_at = Some(e.device_time),
            StatusAction::CheckIn => {
                out.arrived_at.get_or_insert(e.device_time);
            }
            StatusAction::CompleteWork => out.completed_at = Some(e.device_time),
            StatusAction::Rework => out.completed_at = None,
            StatusAction::StartTravel
            | StatusAction::Hold
            | StatusAction::Resume
            | StatusAction::Close
            | StatusAction::Cancel => {}
        }
        out.applied.push(e.id.clone());
    }
    out
}
