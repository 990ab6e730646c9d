#![allow(clippy::unwrap_used)]

use truckroll_sync::{
    ActionOrigin, HoldReason, Status, StatusAction, StatusChange, TRANSITIONS, TransitionError,
    action_between, allowed_actions, apply, transition,
};

use Status::*;
use StatusAction::*;

/// The contract, written out independently of `TRANSITIONS` so that an edit
/// to the table has to be mirrored here. Order matters: for `action_between`
/// the first matching row wins.
const EXPECTED: &[(Status, StatusAction, Status)] = &[
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

const STATUS_NAMES: [(Status, &str); 9] = [
    (New, "new"),
    (Assigned, "assigned"),
    (Accepted, "accepted"),
    (EnRoute, "en_route"),
    (OnSite, "on_site"),
    (OnHold, "on_hold"),
    (WorkDone, "work_done"),
    (Closed, "closed"),
    (Cancelled, "cancelled"),
];

const ACTION_NAMES: [(StatusAction, &str); 14] = [
    (Assign, "assign"),
    (Reassign, "reassign"),
    (Unassign, "unassign"),
    (Accept, "accept"),
    (Decline, "decline"),
    (StartTravel, "start_travel"),
    (CheckIn, "check_in"),
    (Hold, "hold"),
    (Resume, "resume"),
    (CompleteWork, "complete_work"),
    (Rework, "rework"),
    (Close, "close"),
    (Cancel, "cancel"),
    (Reopen, "reopen"),
];

#[test]
fn table_is_exactly_the_contract() {
    assert_eq!(TRANSITIONS, EXPECTED);
}

#[test]
fn every_status_action_pair() {
    assert_eq!(Status::ALL, STATUS_NAMES.map(|(s, _)| s));
    assert_eq!(StatusAction::ALL, ACTION_NAMES.map(|(a, _)| a));

    let mut allowed = 0;
    for from in Status::ALL {
        for action in StatusAction::ALL {
            let expected = EXPECTED
                .iter()
                .find(|&&(f, a, _)| f == from && a == action)
                .map(|&(_, _, to)| to);
            match expected {
                Some(to) => {
                    allowed += 1;
                    assert_eq!(transition(from, action), Ok(to), "{action} from {from}");
                }
                None => assert_eq!(
                    transition(from, action),
                    Err(TransitionError::NotAllowed { from, action }),
                    "{action} from {from}"
                ),
            }
        }
    }
    assert_eq!(allowed, EXPECTED.len());
}

#[test]
fn allowed_actions_follow_table_order() {
    for from in Status::ALL {
        let expected: Vec<_> = EXPECTED
            .iter()
            .filter(|&&(f, _, _)| f == from)
            .map(|&(_, a, to)| (a, to))
            .collect();
        assert_eq!(
            allowed_actions(from).collect::<Vec<_>>(),
            expected,
            "{from}"
        );
    }
}

#[test]
fn every_status_pair_for_action_between() {
    for from in Status::ALL {
        for to in Status::ALL {
            let expected = EXPECTED
                .iter()
                .find(|&&(f, _, t)| f == from && t == to)
                .map(|&(_, a, _)| a);
            match expected {
                Some(action) => {
                    assert_eq!(action_between(from, to), Ok(action), "{from} -> {to}")
                }
                None => assert_eq!(
                    action_between(from, to),
                    Err(TransitionError::NoPath { from, to }),
                    "{from} -> {to}"
                ),
            }
        }
    }
}

#[test]
fn action_between_prefers_the_first_row() {
    assert_eq!(action_between(Assigned, New), Ok(Unassign));
    assert_eq!(action_between(Assigned, Assigned), Ok(Reassign));
    assert_eq!(action_between(OnHold, Accepted), Ok(Resume));
    assert!(action_between(New, New).is_err());
}

#[test]
fn serde_names_round_trip() {
    for (status, name) in STATUS_NAMES {
        let json = format!("\"{name}\"");
        assert_eq!(serde_json::to_string(&status).unwrap(), json);
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
        assert_eq!(status.as_str(), name);
        assert_eq!(status.to_string(), name);
        assert_eq!(name.parse::<Status>().unwrap(), status);
    }
    for (action, name) in ACTION_NAMES {
        let json = format!("\"{name}\"");
        assert_eq!(serde_json::to_string(&action).unwrap(), json);
        assert_eq!(serde_json::from_str::<StatusAction>(&json).unwrap(), action);
        assert_eq!(action.as_str(), name);
        assert_eq!(action.to_string(), name);
        assert_eq!(name.parse::<StatusAction>().unwrap(), action);
    }
    for (reason, name) in [
        (HoldReason::WaitingCustomer, "waiting_customer"),
        (HoldReason::WaitingParts, "waiting_parts"),
    ] {
        let json = format!("\"{name}\"");
        assert_eq!(serde_json::to_string(&reason).unwrap(), json);
        assert_eq!(serde_json::from_str::<HoldReason>(&json).unwrap(), reason);
        assert_eq!(name.parse::<HoldReason>().unwrap(), reason);
    }
}

#[test]
fn status_change_json() {
    let hold = StatusChange::hold(HoldReason::WaitingParts);
    let json = serde_json::to_string(&hold).unwrap();
    assert_eq!(json, r#"{"action":"hold","hold_reason":"waiting_parts"}"#);
    assert_eq!(serde_json::from_str::<StatusChange>(&json).unwrap(), hold);

    let accept = StatusChange::new(Accept);
    assert_eq!(
        serde_json::to_string(&accept).unwrap(),
        r#"{"action":"accept"}"#
    );
    assert_eq!(
        serde_json::from_str::<StatusChange>(r#"{"action":"accept"}"#).unwrap(),
        accept
    );
}

#[test]
fn from_str_errors_name_the_value_and_the_choices() {
    let err = "done".parse::<Status>().unwrap_err();
    assert_eq!(err.value(), "done");
    assert_eq!(err.kind(), "status");
    assert_eq!(err.allowed(), STATUS_NAMES.map(|(_, n)| n));
    assert_eq!(
        err.to_string(),
        "unknown status `done`; expected one of: new, assigned, accepted, en_route, on_site, \
         on_hold, work_done, closed, cancelled"
    );

    let err = "CheckIn".parse::<StatusAction>().unwrap_err();
    assert_eq!(err.value(), "CheckIn");
    assert_eq!(err.allowed(), ACTION_NAMES.map(|(_, n)| n));
    assert!(
        err.to_string()
            .starts_with("unknown status action `CheckIn`; expected one of: assign, ")
    );

    let err = "".parse::<HoldReason>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown hold reason ``; expected one of: waiting_customer, waiting_parts"
    );
}

#[test]
fn error_messages_say_what_is_allowed() {
    assert_eq!(
        transition(Assigned, CheckIn).unwrap_err().to_string(),
        "cannot check_in a ticket that is assigned; allowed: reassign, unassign, accept, decline, cancel"
    );
    assert_eq!(
        transition(Closed, Cancel).unwrap_err().to_string(),
        "cannot cancel a ticket that is closed; allowed: reopen"
    );
    assert_eq!(
        action_between(Closed, OnSite).unwrap_err().to_string(),
        "cannot move a ticket from closed to on_site; it can move to: new"
    );
}

#[test]
fn hold_reason_rules() {
    for from in [Accepted, EnRoute, OnSite] {
        for reason in HoldReason::ALL {
            assert_eq!(apply(from, &StatusChange::hold(reason)), Ok(OnHold));
        }
        assert_eq!(
            apply(from, &StatusChange::new(Hold)),
            Err(TransitionError::HoldReasonRequired)
        );
    }
    for action in StatusAction::ALL.into_iter().filter(|&a| a != Hold) {
        let change = StatusChange {
            action,
            hold_reason: Some(HoldReason::WaitingCustomer),
        };
        for from in Status::ALL {
            assert_eq!(
                apply(from, &change),
                Err(TransitionError::UnexpectedHoldReason)
            );
        }
    }
    // A well-formed change still has to be allowed from the current status.
    assert_eq!(
        apply(New, &StatusChange::hold(HoldReason::WaitingParts)),
        Err(TransitionError::NotAllowed {
            from: New,
            action: Hold
        })
    );
    assert_eq!(apply(Assigned, &StatusChange::new(Accept)), Ok(Accepted));
}

#[test]
fn happy_path_then_reopen() {
    let steps = [
        (StatusChange::new(Assign), Assigned),
        (StatusChange::new(Accept), Accepted),
        (StatusChange::new(StartTravel), EnRoute),
        (StatusChange::new(CheckIn), OnSite),
        (StatusChange::hold(HoldReason::WaitingParts), OnHold),
        (StatusChange::new(Resume), Accepted),
        (StatusChange::new(StartTravel), EnRoute),
        (StatusChange::new(CheckIn), OnSite),
        (StatusChange::new(CompleteWork), WorkDone),
        (StatusChange::new(Rework), OnSite),
        (StatusChange::new(CompleteWork), WorkDone),
        (StatusChange::new(Close), Closed),
        (StatusChange::new(Reopen), New),
    ];
    let mut status = New;
    for (change, expected) in steps {
        status = apply(status, &change).unwrap();
        assert_eq!(status, expected, "after {}", change.action);
    }
    assert!(Closed.is_terminal() && !Closed.is_open());
    assert!(Cancelled.is_terminal());
    assert_eq!(
        Status::ALL.iter().filter(|s| s.is_terminal()).count(),
        2,
        "only closed and cancelled are terminal"
    );
}

#[test]
fn action_origins() {
    let server = [Assign, Reassign, Unassign, Cancel, Reopen];
    for action in StatusAction::ALL {
        let expected = if server.contains(&action) {
            ActionOrigin::Server
        } else {
            ActionOrigin::Field
        };
        assert_eq!(action.origin(), expected, "{action}");
    }
}
