//! The transition table and the functions that consult it.

use serde::{Deserialize, Serialize};

use crate::status::{HoldReason, Status, StatusAction};

use Status::*;
use StatusAction::*;

/// Every allowed transition as `(from, action, to)`. Anything not listed is
/// refused. Where two rows lead from the same status to the same target, the
/// earlier one is the action [`action_between`] picks.
pub const TRANSITIONS: &[(Status, StatusAction, Status)] = &[
    (New, Assign, Assigned),
    (New, Cancel, Cancelled),
    (Assigned, Reassign, Assigned),
    (Assigned, Unassign, New),
    (Assigned, Accept, Accepted),
    (Assigned, Decline, New),
    (Assigned, Cancel, Cancelled),
    (Accepted, StartTravel, EnRoute),
    (Accepted, Hold, OnHold),
    (Accepted, Reassign, Assigned),
    (Accepted, Unassign, New),
    (Accepted, Cancel, Cancelled),
    (EnRoute, CheckIn, OnSite),
    (EnRoute, Hold, OnHold),
    (EnRoute, Reassign, Assigned),
    (EnRoute, Unassign, New),
    (EnRoute, Cancel, Cancelled),
    (OnSite, CompleteWork, WorkDone),
    (OnSite, Hold, OnHold),
    (OnSite, Cancel, Cancelled),
    (OnHold, Resume, Accepted),
    (OnHold, Reassign, Assigned),
    (OnHold, Unassign, New),
    (OnHold, Cancel, Cancelled),
    (WorkDone, Close, Closed),
    (WorkDone, Rework, OnSite),
    (Closed, Reopen, New),
    (Cancelled, Reopen, New),
];

/// Why a status change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {action} a ticket that is {from}; allowed: {}", allowed_action_names(*.from))]
    NotAllowed { from: Status, action: StatusAction },
    #[error("cannot move a ticket from {from} to {to}; it can move to: {}", reachable_names(*.from))]
    NoPath { from: Status, to: Status },
    #[error("hold needs a reason: waiting_customer or waiting_parts")]
    HoldReasonRequired,
    #[error("a hold reason is only accepted with the hold action")]
    UnexpectedHoldReason,
}

fn allowed_action_names(from: Status) -> String {
    let names: Vec<_> = allowed_actions(from).map(|(a, _)| a.as_str()).collect();
    names.join(", ")
}

fn reachable_names(from: Status) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, to) in allowed_actions(from) {
        if !names.contains(&to.as_str()) {
            names.push(to.as_str());
        }
    }
    names.join(", ")
}

/// The status that `action` leads to from `from`.
pub fn transition(from: Status, action: StatusAction) -> Result<Status, TransitionError> {
    allowed_actions(from)
        .find(|&(a, _)| a == action)
        .map(|(_, to)| to)
        .ok_or(TransitionError::NotAllowed { from, action })
}

/// The action that moves a ticket from `from` to `to`, for callers that only
/// know the target status. If several actions lead there, the first in
/// [`TRANSITIONS`] wins (e.g. `unassign` rather than `decline` for
/// assigned → new).
pub fn action_between(from: Status, to: Status) -> Result<StatusAction, TransitionError> {
    allowed_actions(from)
        .find(|&(_, t)| t == to)
        .map(|(a, _)| a)
        .ok_or(TransitionError::NoPath { from, to })
}

/// The actions allowed from `from` and where each leads, in table order.
pub fn allowed_actions(from: Status) -> impl Iterator<Item = (StatusAction, Status)> {
    TRANSITIONS
        .iter()
        .filter(move |&&(f, _, _)| f == from)
        .map(|&(_, action, to)| (action, to))
}

/// A requested status change: the action plus the data some actions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusChange {
    pub action: StatusAction,
    /// Required for [`StatusAction::Hold`], refused for every other action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<HoldReason>,
}

impl StatusChange {
    /// A change without a hold reason.
    pub const fn new(action: StatusAction) -> Self {
        Self {
            action,
            hold_reason: None,
        }
    }

    /// A hold with its reason.
    pub const fn hold(reason: HoldReason) -> Self {
        Self {
            action: StatusAction::Hold,
            hold_reason: Some(reason),
        }
    }
}

/// Validates `change` and returns the status it leads to from `from`.
pub fn apply(from: Status, change: &StatusChange) -> Result<Status, TransitionError> {
    // The shape of the request is checked before the current status, so a
    // malformed change is refused the same way whatever state the ticket is in.
    match (change.action, change.hold_reason) {
        (StatusAction::Hold, None) => return Err(TransitionError::HoldReasonRequired),
        (StatusAction::Hold, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(TransitionError::UnexpectedHoldReason),
    }
    transition(from, change.action)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_way_out() {
        for s in Status::ALL {
            assert!(allowed_actions(s).next().is_some(), "{s} is a dead end");
        }
    }

    #[test]
    fn table_has_no_duplicate_from_action_pairs() {
        for (i, &(f, a, _)) in TRANSITIONS.iter().enumerate() {
            assert!(
                !TRANSITIONS[..i]
                    .iter()
                    .any(|&(f2, a2, _)| f2 == f && a2 == a),
                "duplicate row for {a} from {f}"
            );
        }
    }

    #[test]
    fn no_path_message_lists_distinct_targets() {
        let err = action_between(Assigned, OnSite).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move a ticket from assigned to on_site; it can move to: assigned, new, accepted, cancelled"
        );
    }
}
