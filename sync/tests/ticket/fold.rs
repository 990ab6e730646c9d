//! `fold_status`: determinism and the rules for conflicting events.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use truckroll_sync::{
    FoldedStatus, Hlc, HoldReason, IgnoreReason, Status, StatusAction, StatusEvent, TicketDoc,
    TransitionError, fold_status,
};

use StatusAction::*;

const SERVER: &str = "5e5e";
const TECH_A: &str = "d1d1";
const TECH_B: &str = "d2d2";

/// A hand-made event: `at` is both the device time and the HLC wall clock.
fn ev(id: &str, kind: StatusAction, actor: &str, at: i64, counter: u32) -> StatusEvent {
    StatusEvent {
        id: id.into(),
        kind,
        actor: actor.into(),
        device_time: at,
        hlc: Hlc::from_parts(at as u64, counter, actor),
        position: None,
        reason: None,
        assignee: None,
        assignment: None,
    }
}

fn under(mut e: StatusEvent, assignment: &str) -> StatusEvent {
    e.assignment = Some(assignment.into());
    e
}

/// Calls `f` with every permutation of `items` (Heap's algorithm).
fn for_each_permutation<T: Clone>(items: &[T], f: &mut impl FnMut(&[T])) {
    let mut v = items.to_vec();
    let n = v.len();
    let mut c = vec![0; n];
    f(&v);
    let mut i = 0;
    while i < n {
        if c[i] < i {
            if i % 2 == 0 {
                v.swap(0, i);
            } else {
                v.swap(c[i], i);
            }
            f(&v);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
}

fn assert_order_independent(events: &[StatusEvent]) -> FoldedStatus {
    let expected = fold_status(events);
    let mut count = 0;
    for_each_permutation(events, &mut |p| {
        assert_eq!(
            fold_status(p),
            expected,
            "order {:?}",
            p.iter().map(|e| &e.id).collect::<Vec<_>>()
        );
        count += 1;
    });
    assert_eq!(count, (1..=events.len()).product::<usize>());
    expected
}

#[test]
fn fold_is_the_same_for_every_arrival_order() {
    // A full lifecycle with a concurrent duplicate accept and hold.
    let lifecycle = [
        ev("assign", Assign, SERVER, 100, 0).with_assignee("tech-a"),
        under(ev("accept-a", Accept, TECH_A, 200, 0), "assign"),
        under(ev("accept-a2", Accept, TECH_B, 200, 0), "assign"),
        under(ev("travel", StartTravel, TECH_A, 300, 0), "assign"),
        under(ev("hold", Hold, TECH_A, 300, 1), "assign")
            .with_hold_reason(HoldReason::WaitingCustomer),
        under(ev("check-in", CheckIn, TECH_A, 400, 0), "assign"),
    ];
    let folded = assert_order_independent(&lifecycle);
    assert_eq!(folded.status, Status::OnHold);
    assert_eq!(folded.hold_reason, Some(HoldReason::WaitingCustomer));
    let ignored: Vec<_> = folded.ignored.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ignored, ["accept-a2", "check-in"]);

    // Server and field racing: cancel concurrent with travel and arrival.
    let race = [
        ev("assign", Assign, SERVER, 100, 0).with_assignee("tech-a"),
        under(ev("accept", Accept, TECH_A, 150, 0), "assign"),
        ev("cancel", Cancel, SERVER, 250, 0).with_reason("customer called"),
        under(ev("travel", StartTravel, TECH_A, 200, 0), "assign"),
        under(ev("check-in", CheckIn, TECH_A, 300, 0), "assign"),
        ev("reopen", Reopen, SERVER, 400, 0),
    ];
    let folded = assert_order_independent(&race);
    assert_eq!(folded.status, Status::New);
    assert_eq!(folded.assignee, None);

    // Ties on the wall clock are broken by counter, then actor, then id.
    let ties = [
        ev("assign", Assign, SERVER, 100, 0).with_assignee("tech-a"),
        under(ev("x", Accept, TECH_B, 100, 1), "assign"),
        under(ev("y", Accept, TECH_A, 100, 1), "assign"),
        under(ev("z", Decline, TECH_A, 100, 1), "assign"),
        ev("unassign", Unassign, SERVER, 100, 1),
    ];
    let folded = assert_order_independent(&ties);
    // (100,1,"5e5e") < (100,1,"d1d1") < (100,1,"d2d2"): unassign first.
    assert_eq!(folded.applied, ["assign", "unassign"]);
    assert_eq!(folded.status, Status::New);
}

#[test]
fn a_field_event_after_a_server_cancel_is_ignored() {
    let mut server = assigned_doc("tech-a");
    let mut phone = server.fork_with_actor(device(1));
    act(&mut phone, Accept, T0 + 1_000);
    act(&mut phone, StartTravel, T0 + 2_000);
    sync_fresh(&mut server, &mut phone);

    // The phone goes offline; the dispatcher cancels; the phone checks in later.
    let cancel = server
        .stamp_event(Cancel, T0 + 3_000)
        .with_reason("duplicate ticket");
    server.append_event(&cancel).unwrap();
    let check_in = act(&mut phone, CheckIn, T0 + 4_000);
    sync_fresh(&mut server, &mut phone);

    for doc in [&server, &phone] {
        let folded = doc.status();
        assert_eq!(folded.status, Status::Cancelled);
        assert_eq!(folded.ignored.len(), 1);
        let ignored = &folded.ignored[0];
        assert_eq!(
            (ignored.id.as_str(), ignored.kind),
            (check_in.as_str(), CheckIn)
        );
        assert_eq!(ignored.status_then, Status::Cancelled);
        assert_eq!(
            ignored.reason,
            IgnoreReason::NotAllowed {
                error: TransitionError::NotAllowed {
                    from: Status::Cancelled,
                    action: CheckIn
                }
            }
        );
        // The check-in is still in the document: nothing is lost.
        assert!(doc.events().iter().any(|e| e.id == check_in));
    }
}

#[test]
fn a_field_event_before_the_cancel_applies_first() {
    // The phone's clock says it checked in before the cancel: it applies,
    // and the cancel then applies on top.
    let mut server = assigned_doc("tech-a");
    let mut phone = server.fork_with_actor(device(1));
    act(&mut phone, Accept, T0 + 1_000);
    act(&mut phone, StartTravel, T0 + 2_000);
    sync_fresh(&mut server, &mut phone);
    act(&mut phone, CheckIn, T0 + 2_500);
    act(&mut server, Cancel, T0 + 3_000);
    sync_fresh(&mut server, &mut phone);
    let folded = phone.status();
    assert_eq!(folded.status, Status::Cancelled);
    assert!(folded.ignored.is_empty());
    assert_eq!(folded.arrived_at, Some(T0 + 2_500));
}

#[test]
fn after_a_reassign_the_old_technicians_offline_events_are_ignored() {
    let mut server = assigned_doc("tech-a");
    let mut phone_a = server.fork_with_actor(device(1));
    // The server reassigns to tech-b while phone A is offline; phone A then
    // accepts (the state machine alone would allow assigned → accepted).
    let reassign = server
        .stamp_event(Reassign, T0 + 1_000)
        .with_assignee("tech-b");
    server.append_event(&reassign).unwrap();
    let stale_accept = act(&mut phone_a, Accept, T0 + 2_000);
    let stale_decline = act(&mut phone_a, Decline, T0 + 2_001);
    sync_fresh(&mut server, &mut phone_a);

    let folded = server.status();
    assert_eq!(folded.status, Status::Assigned);
    assert_eq!(folded.assignee.as_deref(), Some("tech-b"));
    assert_eq!(folded.assignment.as_deref(), Some(reassign.id.as_str()));
    let ignored: Vec<_> = folded.ignored.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ignored, [stale_accept, stale_decline]);
    assert!(matches!(
        folded.ignored[0].reason,
        IgnoreReason::StaleAssignment { .. }
    ));

    // Tech B, having synced, works normally.
    let mut phone_b = TicketDoc::new(TICKET, device(2)).unwrap();
    sync_fresh(&mut server, &mut phone_b);
    act(&mut phone_b, Accept, T0 + 3_000);
    sync_fresh(&mut server, &mut phone_b);
    assert_eq!(server.status().status, Status::Accepted);
    assert_eq!(server.status().accepted_at, Some(T0 + 3_000));
}

#[test]
fn field_events_made_before_the_reassign_still_count() {
    let mut server = assigned_doc("tech-a");
    let mut phone_a = server.fork_with_actor(device(1));
    act(&mut phone_a, Accept, T0 + 500);
    let reassign = server
        .stamp_event(Reassign, T0 + 1_000)
        .with_assignee("tech-b");
    server.append_event(&reassign).unwrap();
    sync_fresh(&mut server, &mut phone_a);
    let folded = server.status();
    // accept (500) then reassign (1000) from accepted → assigned to tech-b.
    assert_eq!(folded.applied.len(), 3);
    assert_eq!(folded.status, Status::Assigned);
    assert_eq!(folded.accepted_at, None);
    assert_eq!(folded.assignee.as_deref(), Some("tech-b"));
}

#[test]
fn timestamps_follow_the_lifecycle() {
    let e = [
        ev("a", Assign, SERVER, 100, 0).with_assignee("t"),
        under(ev("b", Accept, TECH_A, 200, 0), "a"),
        under(ev("c", StartTravel, TECH_A, 300, 0), "a"),
        under(ev("d", CheckIn, TECH_A, 400, 0), "a"),
        under(ev("e", Hold, TECH_A, 500, 0), "a").with_hold_reason(HoldReason::WaitingParts),
        under(ev("f", Resume, TECH_A, 600, 0), "a"),
        under(ev("g", StartTravel, TECH_A, 700, 0), "a"),
        under(ev("h", CheckIn, TECH_A, 800, 0), "a"),
        under(ev("i", CompleteWork, TECH_A, 900, 0), "a"),
        under(ev("j", Rework, TECH_A, 1000, 0), "a"),
        under(ev("k", CompleteWork, TECH_A, 1100, 0), "a"),
        under(ev("l", Close, TECH_A, 1200, 0), "a"),
    ];
    let f = fold_status(&e);
    assert_eq!(f.status, Status::Closed);
    assert!(f.ignored.is_empty(), "{:?}", f.ignored);
    assert_eq!(
        (f.accepted_at, f.arrived_at, f.completed_at),
        (Some(200), Some(400), Some(1100))
    );
    assert_eq!(f.hold_reason, None);
}

#[test]
fn a_hold_without_a_valid_reason_and_duplicate_ids_are_ignored() {
    let e = [
        ev("a", Assign, SERVER, 100, 0).with_assignee("t"),
        under(ev("b", Accept, TECH_A, 200, 0), "a"),
        under(ev("c", Hold, TECH_A, 300, 0), "a").with_reason("lunch"),
        under(ev("b", StartTravel, TECH_A, 400, 0), "a"),
    ];
    let f = fold_status(&e);
    assert_eq!(f.status, Status::Accepted);
    assert_eq!(
        f.ignored
            .iter()
            .map(|i| i.reason.clone())
            .collect::<Vec<_>>(),
        [
            IgnoreReason::NotAllowed {
                error: TransitionError::HoldReasonRequired
            },
            IgnoreReason::DuplicateId
        ]
    );
    assert_eq!(fold_status(&[]), FoldedStatus::default());
    assert_eq!(FoldedStatus::default().status, Status::New);
}

#[test]
fn ignored_events_serialise_for_uis() {
    let e = [ev("x", CheckIn, TECH_A, 100, 0)];
    let json = serde_json::to_value(fold_status(&e)).unwrap();
    assert_eq!(json["ignored"][0]["reason"]["kind"], "not_allowed");
    assert_eq!(
        json["ignored"][0]["reason"]["error"],
        "cannot check_in a ticket that is new; allowed: assign, cancel"
    );
    assert_eq!(json["ignored"][0]["hlc"], "000000000000100-0000000000-d1d1");
}
