//! The names of ticket statuses, the actions that move between them, and hold reasons.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a ticket is in its life, from creation to closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Assigned,
    Accepted,
    EnRoute,
    OnSite,
    OnHold,
    WorkDone,
    Closed,
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 9] = [
        Status::New,
        Status::Assigned,
        Status::Accepted,
        Status::EnRoute,
        Status::OnSite,
        Status::OnHold,
        Status::WorkDone,
        Status::Closed,
        Status::Cancelled,
    ];

    /// The snake_case name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Assigned => "assigned",
            Status::Accepted => "accepted",
            Status::EnRoute => "en_route",
            Status::OnSite => "on_site",
            Status::OnHold => "on_hold",
            Status::WorkDone => "work_done",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Closed and cancelled tickets only leave their status by being reopened.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }

    /// Not terminal: the ticket still needs work or a decision.
    pub const fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

/// Why a ticket is on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    WaitingCustomer,
    WaitingParts,
}

impl HoldReason {
    /// Every hold reason.
    pub const ALL: [HoldReason; 2] = [HoldReason::WaitingCustomer, HoldReason::WaitingParts];

    /// The snake_case name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            HoldReason::WaitingCustomer => "waiting_customer",
            HoldReason::WaitingParts => "waiting_parts",
        }
    }
}

/// Something a dispatcher, the server or a technician does to a ticket's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusAction {
    Assign,
    Reassign,
    Unassign,
    Accept,
    Decline,
    StartTravel,
    CheckIn,
    Hold,
    Resume,
    CompleteWork,
    Rework,
    Close,
    Cancel,
    Reopen,
}

impl StatusAction {
    /// Every action.
    pub const ALL: [StatusAction; 14] = [
        StatusAction::Assign,
        StatusAction::Reassign,
        StatusAction::Unassign,
        StatusAction::Accept,
        StatusAction::Decline,
        StatusAction::StartTravel,
        StatusAction::CheckIn,
        StatusAction::Hold,
        StatusAction::Resume,
        StatusAction::CompleteWork,
        StatusAction::Rework,
        StatusAction::Close,
        StatusAction::Cancel,
        StatusAction::Reopen,
    ];

    /// The snake_case name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusAction::Assign => "assign",
            StatusAction::Reassign => "reassign",
            StatusAction::Unassign => "unassign",
            StatusAction::Accept => "accept",
            StatusAction::Decline => "decline",
            StatusAction::StartTravel => "start_travel",
            StatusAction::CheckIn => "check_in",
            StatusAction::Hold => "hold",
            StatusAction::Resume => "resume",
            StatusAction::CompleteWork => "complete_work",
            StatusAction::Rework => "rework",
            StatusAction::Close => "close",
            StatusAction::Cancel => "cancel",
            StatusAction::Reopen => "reopen",
        }
    }

    /// Who normally performs this action.
    pub const fn origin(self) -> ActionOrigin {
        match self {
            StatusAction::Assign
            | StatusAction::Reassign
            | StatusAction::Unassign
            | StatusAction::Cancel
            | StatusAction::Reopen => ActionOrigin::Server,
            StatusAction::Accept
            | StatusAction::Decline
            | StatusAction::StartTravel
            | StatusAction::CheckIn
            | StatusAction::Hold
            | StatusAction::Resume
            | StatusAction::CompleteWork
            | StatusAction::Rework
            | StatusAction::Close => ActionOrigin::Field,
        }
    }
}

/// Which side of the system performs an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOrigin {
    /// Only dispatchers or the server itself.
    Server,
    /// The technician's phone; dispatchers may also perform these.
    Field,
}

/// A name that is not one of the allowed snake_case names of a [`Status`],
/// [`StatusAction`] or [`HoldReason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`; expected one of: {}", .allowed.join(", "))]
pub struct ParseNameError {
    kind: &'static str,
    value: String,
    allowed: Vec<&'static str>,
}

impl ParseNameError {
    /// What was being parsed: `"status"`, `"status action"` or `"hold reason"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The rejected input.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The names that would have been accepted.
    pub fn allowed(&self) -> &[&'static str] {
        &self.allowed
    }
}

// Matching is exact (no trimming or case folding) so that FromStr accepts
// precisely what serde accepts.
fn parse_name<T: Copy>(
    kind: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    input: &str,
) -> Result<T, ParseNameError> {
    all.iter()
        .copied()
        .find(|&v| name(v) == input)
        .ok_or_else(|| ParseNameError {
            kind,
            value: input.to_owned(),
            allowed: all.iter().map(|&v| name(v)).collect(),
        })
}

impl FromStr for Status {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("status", &Status::ALL, Status::as_str, s)
    }
}

impl FromStr for StatusAction {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("status action", &StatusAction::ALL, StatusAction::as_str, s)
    }
}

impl FromStr for HoldReason {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_name("hold reason", &HoldReason::ALL, HoldReason::as_str, s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StatusAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_and_parses_back() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        for a in StatusAction::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
            assert_eq!(a.as_str().parse::<StatusAction>().unwrap(), a);
        }
        for r in HoldReason::ALL {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
            assert_eq!(r.as_str().parse::<HoldReason>().unwrap(), r);
        }
    }

    #[test]
    fn parse_is_exact() {
        assert!("New".parse::<Status>().is_err());
        assert!(" new".parse::<Status>().is_err());
        assert!("enroute".parse::<Status>().is_err());
    }

    #[test]
    fn terminal_and_open_are_complements() {
        for s in Status::ALL {
            assert_ne!(s.is_terminal(), s.is_open());
        }
        assert!(Status::Closed.is_terminal());
        assert!(Status::Cancelled.is_terminal());
        assert!(Status::WorkDone.is_open());
    }
}
