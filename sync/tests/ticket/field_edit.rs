//! `check_field_edit`: what a field device may and may not change.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use truckroll_sync::automerge::transaction::Transactable;
use truckroll_sync::automerge::{ObjType, ROOT, ReadDoc, ScalarValue, sync};
use truckroll_sync::protocol::ErrorCode;
use truckroll_sync::{
    CustomValue, EditError, Limits, MediaKind, NewMediaRef, NewPart, ReceiveError, StatusAction,
    SyncState, TicketDoc, TimeEntryKind, check_field_edit,
};

fn photo(c: char) -> NewMediaRef {
    NewMediaRef {
        sha256: std::iter::repeat_n(c, 64).collect(),
        content_type: "image/jpeg".into(),
        taken_at: T0,
    }
}

/// A server document with a few events and a stored and a pending photo.
fn server_doc() -> TicketDoc {
    let mut doc = assigned_doc("tech-1");
    doc.notes_append("Customer reports noise.").unwrap();
    let stored = doc.add_photo_ref(&photo('a')).unwrap();
    doc.mark_photo_stored(&stored).unwrap();
    doc.add_photo_ref(&photo('b')).unwrap();
    let mut phone = doc.fork_with_actor(device(1));
    act(&mut phone, StatusAction::Accept, T0 + 100);
    doc.merge(&mut phone).unwrap();
    doc
}

fn check(before: &TicketDoc, after: &TicketDoc) -> Result<(), EditError> {
    check_field_edit(before, after, &Limits::default())
}

fn events_list(doc: &truckroll_sync::automerge::Automerge) -> truckroll_sync::automerge::ObjId {
    doc.get(ROOT, "events").unwrap().unwrap().1
}

#[test]
fn field_edits_are_accepted() {
    let before = server_doc();
    let mut phone = before.fork_with_actor(device(1));
    phone.notes_splice(0, 8, "Client").unwrap();
    let item = phone.add_checklist_item("Isolate power").unwrap();
    phone
        .set_checklist_done(&item, true, "tech-1", T0 + 1)
        .unwrap();
    phone
        .add_part(&NewPart {
            part_number: "CAP-1".into(),
            quantity: 1.0,
            serial: None,
        })
        .unwrap();
    phone
        .add_time_entry(TimeEntryKind::Work, T0, Some(T0 + 60_000))
        .unwrap();
    phone.add_photo_ref(&photo('c')).unwrap();
    phone.add_signature_ref(&photo('d')).unwrap();
    phone.set_custom("floor", CustomValue::Int(3)).unwrap();
    // A pending photo may be withdrawn.
    let pending = phone.photos()[1].id.clone();
    phone.remove_media_ref(MediaKind::Photo, &pending).unwrap();
    act(&mut phone, StatusAction::StartTravel, T0 + 200);
    act(&mut phone, StatusAction::CheckIn, T0 + 300);
    check(&before, &phone).unwrap();
    // Nothing changed at all is fine too.
    check(&before, &before.fork_with_actor(device(1))).unwrap();
}

#[test]
fn the_server_accepts_a_phone_message_after_checking_it() {
    let mut server = server_doc();
    let mut phone = TicketDoc::new(TICKET, device(1)).unwrap();
    let (mut s_state, mut p_state) = (SyncState::new(), SyncState::new());
    sync_until_quiet(&mut server, &mut s_state, &mut phone, &mut p_state);

    phone.notes_append(" Fixed.").unwrap();
    act(&mut phone, StatusAction::StartTravel, T0 + 200);
    let message = phone.generate_sync_message(&mut p_state).unwrap();
    let before = server.heads();
    server
        .receive_field_sync_message(&mut s_state, &message, &[device(1)], &Limits::default())
        .unwrap();
    assert_eq!(server.change_actors_since(&before), vec![device(1)]);
    assert_eq!(
        server.actor(),
        &crate::common::server(),
        "the server keeps writing as itself"
    );
    sync_until_quiet(&mut server, &mut s_state, &mut phone, &mut p_state);
    assert_eq!(server.heads(), phone.heads());
    assert!(server.notes().ends_with(" Fixed."));
}

/// A sync message carrying exactly `changes` (raw change chunks).
fn message_with(heads: Vec<truckroll_sync::ChangeHash>, changes: Vec<Vec<u8>>) -> Vec<u8> {
    sync::Message {
        heads,
        need: vec![],
        have: vec![],
        changes: changes.into(),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

#[test]
fn changes_waiting_for_dependencies_are_kept_and_checked() {
    // Bloom-filter false positives make a peer send a change before one it
    // depends on. The server must keep the early change queued (not drop it
    // with a discarded fork) and apply it when the dependency arrives.
    let mut server = server_doc();
    let mut phone = server.fork_with_actor(device(1));
    phone.notes_append(" first").unwrap();
    phone.notes_append(" second").unwrap();
    let changes = phone.as_automerge().get_changes(&server.heads());
    assert_eq!(changes.len(), 2);
    let (first, second) = (
        changes[0].raw_bytes().to_vec(),
        changes[1].raw_bytes().to_vec(),
    );
    let mut state = SyncState::new();
    let limits = Limits::default();

    let heads = server.heads();
    server
        .receive_field_sync_message(
            &mut state,
            &message_with(phone.heads(), vec![second]),
            &[device(1)],
            &limits,
        )
        .unwrap();
    assert_eq!(server.heads(), heads, "the early change waits");
    server
        .receive_field_sync_message(
            &mut state,
            &message_with(phone.heads(), vec![first]),
            &[device(1)],
            &limits,
        )
        .unwrap();
    assert_eq!(server.heads(), phone.heads());
    assert!(server.notes().ends_with(" first second"));

    // A waiting change from a foreign actor is refused up front.
    let mut intruder = server.fork_with_actor(device(9));
    intruder.notes_append(" a").unwrap();
    intruder.notes_append(" b").unwrap();
    let changes = intruder.as_automerge().get_changes(&server.heads());
    let message = message_with(intruder.heads(), vec![changes[1].raw_bytes().to_vec()]);
    let err = server
        .receive_field_sync_message(&mut state, &message, &[device(1)], &limits)
        .unwrap_err();
    assert!(matches!(err, ReceiveError::ForeignActor { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::ForeignActor);
}

#[test]
fn a_refused_message_changes_nothing() {
    let mut server = server_doc();
    let mut phone = TicketDoc::new(TICKET, device(1)).unwrap();
    let (mut s_state, mut p_state) = (SyncState::new(), SyncState::new());
    sync_until_quiet(&mut server, &mut s_state, &mut phone, &mut p_state);
    let (heads, state_bytes) = (server.heads(), s_state.encode());
    let limits = Limits::default();

    // A server-only action from the phone.
    act(&mut phone, StatusAction::Cancel, T0 + 500);
    let message = phone.generate_sync_message(&mut p_state).unwrap();
    let err = server
        .receive_field_sync_message(&mut s_state, &message, &[device(1)], &limits)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFieldEditable);
    assert!(err.code().requires_reset());
    // The phone's actor is not registered to the device the message came on.
    let err = server
        .receive_field_sync_message(&mut s_state, &message, &[device(2)], &limits)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ForeignActor);
    // Garbage and oversize messages.
    let err = server
        .receive_field_sync_message(&mut s_state, b"\x42garbage", &[device(1)], &limits)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::MalformedSyncMessage);
    let tiny = Limits {
        max_sync_message_bytes: 10,
        ..Limits::default()
    };
    let err = server
        .receive_field_sync_message(&mut s_state, &message, &[device(1)], &tiny)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded);

    assert_eq!(server.heads(), heads);
    assert_eq!(s_state.encode(), state_bytes);
    assert!(
        server
            .events()
            .iter()
            .all(|e| e.kind != StatusAction::Cancel)
    );
}

#[test]
fn deleting_an_event_is_refused() {
    let before = server_doc();
    let after = raw_edit(&before, device(1), |d| {
        let events = events_list(d);
        tx(d, |t| t.delete(&events, 1).unwrap());
    });
    after.validate().unwrap();
    let err = check(&before, &after).unwrap_err();
    assert!(
        matches!(err, EditError::EventRemoved { ref path, .. } if path == "/events/1"),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::NotFieldEditable);
}

#[test]
fn modifying_an_event_is_refused() {
    let before = server_doc();
    for (key, value) in [
        ("device_time", ScalarValue::Timestamp(T0 - 1)),
        ("reason", "changed my mind".into()),
    ] {
        let after = raw_edit(&before, device(1), |d| {
            let events = events_list(d);
            let e = d.get(&events, 1).unwrap().unwrap().1;
            tx(d, |t| t.put(&e, key, value).unwrap());
        });
        after.validate().unwrap();
        let err = check(&before, &after).unwrap_err();
        assert!(matches!(err, EditError::EventModified { .. }), "{err}");
    }
    // Replacing an event in place counts as removing it.
    let after = raw_edit(&before, device(1), |d| {
        let events = events_list(d);
        tx(d, |t| {
            t.put_object(&events, 0, ObjType::Map).unwrap();
        });
    });
    assert!(check(&before, &after).is_err());
}

#[test]
fn appending_a_server_event_from_a_field_actor_is_refused() {
    let before = server_doc();
    let mut phone = before.fork_with_actor(device(1));
    act(&mut phone, StatusAction::Cancel, T0 + 500);
    phone.validate().unwrap();
    let err = check(&before, &phone).unwrap_err();
    assert!(
        matches!(err, EditError::ServerEvent { kind: StatusAction::Cancel, ref path } if path == "/events/2"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "/events/2: `cancel` is a server event; a field device may not append it"
    );
}

#[test]
fn an_event_in_someone_elses_name_is_refused() {
    let before = server_doc();
    let mut phone = before.fork_with_actor(device(1));
    let mut forged = before
        .fork_with_actor(server())
        .stamp_event(StatusAction::StartTravel, T0 + 500);
    forged.id = "forged".into();
    phone.append_event(&forged).unwrap();
    let err = check(&before, &phone).unwrap_err();
    assert!(matches!(err, EditError::EventActor { .. }), "{err}");
}

#[test]
fn root_objects_and_header_fields_are_protected() {
    let before = server_doc();
    let after = raw_edit(&before, device(1), |d| {
        tx(d, |t| {
            t.put_object(ROOT, "events", ObjType::List).unwrap();
        })
    });
    let err = check(&before, &after).unwrap_err();
    assert_eq!(
        err,
        EditError::Protected {
            path: "/events".into()
        }
    );

    let after = raw_edit(&before, device(1), |d| {
        tx(d, |t| t.put(ROOT, "ticket_id", "other").unwrap())
    });
    assert_eq!(
        check(&before, &after).unwrap_err(),
        EditError::Protected {
            path: "/ticket_id".into()
        }
    );
}

#[test]
fn media_rules() {
    let before = server_doc();
    // Marking a photo stored is the server's job.
    let mut phone = before.fork_with_actor(device(1));
    let pending = phone.photos()[1].id.clone();
    phone.mark_photo_stored(&pending).unwrap();
    let err = check(&before, &phone).unwrap_err();
    assert!(matches!(err, EditError::MediaModified { .. }), "{err}");

    // A stored photo may not be removed.
    let mut phone = before.fork_with_actor(device(1));
    let stored = phone.photos()[0].id.clone();
    phone.remove_media_ref(MediaKind::Photo, &stored).unwrap();
    let err = check(&before, &phone).unwrap_err();
    assert!(matches!(err, EditError::MediaRemoved { .. }), "{err}");

    // A new reference must start pending.
    let after = raw_edit(&before, device(1), |d| {
        let sigs = d.get(ROOT, "signatures").unwrap().unwrap().1;
        tx(d, |t| {
            let m = t.insert_object(&sigs, 0, ObjType::Map).unwrap();
            t.put(&m, "id", "sig").unwrap();
            t.put(&m, "sha256", "e".repeat(64)).unwrap();
            t.put(&m, "content_type", "image/png").unwrap();
            t.put(&m, "state", "stored").unwrap();
            t.put(&m, "taken_at", ScalarValue::Timestamp(T0)).unwrap();
        });
    });
    after.validate().unwrap();
    assert_eq!(
        check(&before, &after).unwrap_err(),
        EditError::MediaNotPending {
            path: "/signatures/0".into()
        }
    );
}

#[test]
fn schema_violations_and_limits_are_refused() {
    let before = server_doc();
    let after = raw_edit(&before, device(1), |d| {
        let events = events_list(d);
        let e = d.get(&events, 0).unwrap().unwrap().1;
        tx(d, |t| t.delete(&e, "kind").unwrap());
    });
    let err = check(&before, &after).unwrap_err();
    assert!(matches!(err, EditError::Schema(_)));
    assert_eq!(err.code(), ErrorCode::SchemaViolation);
    assert_eq!(err.to_string(), "schema: /events/0/kind: missing");

    let mut phone = before.fork_with_actor(device(1));
    phone.notes_append(&"x".repeat(50)).unwrap();
    let small = Limits {
        max_notes_chars: 40,
        ..Limits::default()
    };
    let err = check_field_edit(&before, &phone, &small).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LimitExceeded);
    assert_eq!(
        err.to_string(),
        "limit: /notes: 73 Unicode scalar values exceeds the limit of 40"
    );

    let mut phone = before.fork_with_actor(device(1));
    phone
        .set_custom("essay", CustomValue::Str("y".repeat(3_000)))
        .unwrap();
    let err = check(&before, &phone).unwrap_err();
    assert_eq!(
        err.to_string(),
        "limit: /custom/essay: 3000 Unicode scalar values exceeds the limit of 2000"
    );

    let tiny = Limits {
        max_doc_bytes: 100,
        ..Limits::default()
    };
    let err = check_field_edit(&before, &before.fork_with_actor(device(1)), &tiny).unwrap_err();
    assert!(
        matches!(err, EditError::Limit(ref l) if l.unit == "bytes"),
        "{err}"
    );
    assert!(
        Limits::default()
            .check_sync_message(&vec![0; 5 * 1024 * 1024])
            .is_err()
    );
}

#[test]
fn a_version_missing_server_changes_is_refused() {
    let mut before = server_doc();
    let phone = before.fork_with_actor(device(1));
    before.add_checklist_item("added by dispatcher").unwrap();
    assert_eq!(
        check(&before, &phone).unwrap_err(),
        EditError::NotDescendant
    );
}

#[test]
fn a_field_event_must_carry_the_writers_assignment() {
    let before = server_doc();
    let current = before.status().assignment.unwrap();
    for wrong in [None, Some("001767225600000-0000000000-5e".to_owned())] {
        let mut phone = before.fork_with_actor(device(1));
        let mut event = phone.stamp_event(StatusAction::StartTravel, T0 + 200);
        assert_eq!(event.assignment.as_deref(), Some(current.as_str()));
        event.assignment = wrong;
        phone.append_event(&event).unwrap();
        let err = check(&before, &phone).unwrap_err();
        assert!(matches!(err, EditError::WrongAssignment { .. }), "{err}");
        assert_eq!(err.code(), ErrorCode::SchemaViolation);
        let text = err.to_string();
        assert!(text.starts_with("/events/"), "{text}");
        assert!(text.contains(&format!("/assignment: must be the `assign`/`reassign` event current in the writer's fold when it wrote the event (`{current}`)")), "{text}");
    }

    // With it, the same event is accepted.
    let mut phone = before.fork_with_actor(device(1));
    act(&mut phone, StatusAction::StartTravel, T0 + 200);
    check(&before, &phone).unwrap();

    // A writer that had seen no assignment writes none, and is accepted
    // (the fold ignores the event).
    let mut unassigned = TicketDoc::new("t-1", server()).unwrap();
    let mut phone = unassigned.fork_with_actor(device(1));
    act(&mut phone, StatusAction::Accept, T0 + 300);
    assert_eq!(phone.events()[0].assignment, None);
    check(&unassigned, &phone).unwrap();
    unassigned.merge(&mut phone).unwrap();
    assert_eq!(unassigned.status().ignored.len(), 1);
}
