//! Typed edits, save/load, merging replicas and the Automerge sync protocol.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::common::*;
use truckroll_sync::{
    ChecklistItem, CustomValue, DocError, HoldReason, MediaState, NewMediaRef, NewPart, Position,
    Status, StatusAction, SyncState, TicketDoc, TimeEntryKind,
};

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

/// Everything a reader can see, for whole-document comparisons.
fn content(doc: &TicketDoc) -> String {
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        doc.ticket_id(),
        doc.notes(),
        doc.checklist(),
        doc.parts(),
        doc.time_entries(),
        doc.photos(),
        doc.signatures(),
        doc.custom(),
        doc.events(),
    )
}

#[test]
fn typed_edits_round_trip_through_save_and_load() {
    let doc = assigned_doc("tech-1");
    let mut dev = doc.fork_with_actor(device(1));
    dev.notes_append("Compressor noisy. ").unwrap();
    dev.notes_insert(0, "Ölwechsel ✓ — ").unwrap();
    dev.notes_splice(0, 1, "Oe").unwrap();
    let item = dev.add_checklist_item("Isolate power").unwrap();
    let other = dev.add_checklist_item("Photograph nameplate").unwrap();
    dev.set_checklist_done(&item, true, "tech-1", T0 + 5)
        .unwrap();
    let part = dev
        .add_part(&NewPart {
            part_number: "CAP-45-5".into(),
            quantity: 1.0,
            serial: Some("SN123".into()),
        })
        .unwrap();
    dev.add_part(&NewPart {
        part_number: "CABLE-3G".into(),
        quantity: 2.5,
        serial: None,
    })
    .unwrap();
    let travel = dev.add_time_entry(TimeEntryKind::Travel, T0, None).unwrap();
    dev.end_time_entry(&travel, T0 + 1_800_000).unwrap();
    let photo = dev
        .add_photo_ref(&NewMediaRef {
            sha256: sha('a'),
            content_type: "image/jpeg".into(),
            taken_at: T0 + 10,
        })
        .unwrap();
    dev.add_signature_ref(&NewMediaRef {
        sha256: sha('b'),
        content_type: "image/png".into(),
        taken_at: T0 + 20,
    })
    .unwrap();
    dev.set_custom("meter_reading", CustomValue::F64(1234.5))
        .unwrap();
    dev.set_custom("gate_code", CustomValue::Str("4711".into()))
        .unwrap();
    dev.set_custom("ladder_needed", CustomValue::Bool(true))
        .unwrap();
    dev.set_custom("visits", CustomValue::Int(2)).unwrap();
    dev.set_custom("tmp", CustomValue::Null).unwrap();
    dev.remove_custom("tmp").unwrap();
    act(&mut dev, StatusAction::Accept, T0 + 1000);
    act(&mut dev, StatusAction::StartTravel, T0 + 2000);
    let check_in = dev
        .stamp_event(StatusAction::CheckIn, T0 + 3000)
        .with_position(Position {
            lat: 52.52,
            lon: 13.405,
            accuracy_m: Some(8.0),
        });
    dev.append_event(&check_in).unwrap();
    let hold = dev
        .stamp_event(StatusAction::Hold, T0 + 4000)
        .with_hold_reason(HoldReason::WaitingParts);
    dev.append_event(&hold).unwrap();
    dev.validate().unwrap();

    let loaded = TicketDoc::load(&dev.save()).unwrap();
    assert_eq!(content(&loaded), content(&dev));
    assert_eq!(loaded.heads(), dev.heads());

    assert_eq!(loaded.ticket_id(), TICKET);
    assert_eq!(loaded.notes(), "Oelwechsel ✓ — Compressor noisy. ");
    assert_eq!(
        loaded.checklist(),
        vec![
            ChecklistItem {
                id: item.clone(),
                label: "Isolate power".into(),
                done: true,
                done_by: Some("tech-1".into()),
                done_at: Some(T0 + 5),
            },
            ChecklistItem {
                id: other,
                label: "Photograph nameplate".into(),
                done: false,
                done_by: None,
                done_at: None,
            },
        ]
    );
    let parts = loaded.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        (parts[0].id.as_str(), parts[0].serial.as_deref()),
        (part.as_str(), Some("SN123"))
    );
    assert_eq!(parts[1].quantity, 2.5);
    let entries = loaded.time_entries();
    assert_eq!(entries[0].kind, TimeEntryKind::Travel);
    assert_eq!(entries[0].ended_at, Some(T0 + 1_800_000));
    assert_eq!(loaded.photos()[0].id, photo);
    assert_eq!(loaded.photos()[0].state, MediaState::Pending);
    assert_eq!(loaded.signatures()[0].content_type, "image/png");
    let custom: BTreeMap<_, _> = loaded.custom();
    assert_eq!(custom.len(), 4);
    assert_eq!(custom["meter_reading"], CustomValue::F64(1234.5));
    assert_eq!(custom["visits"], CustomValue::Int(2));

    let events = loaded.events();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    use StatusAction::*;
    assert_eq!(kinds, [Assign, Accept, StartTravel, CheckIn, Hold]);
    assert_eq!(events[3], check_in);
    let status = loaded.status();
    assert_eq!(status.status, Status::OnHold);
    assert_eq!(status.hold_reason, Some(HoldReason::WaitingParts));
    assert_eq!(status.assignee.as_deref(), Some("tech-1"));
    assert_eq!(status.accepted_at, Some(T0 + 1000));
    assert_eq!(status.arrived_at, Some(T0 + 3000));
    assert!(status.ignored.is_empty());

    // Removing items and unticking.
    let mut dev = loaded.fork_with_actor(device(1));
    dev.set_checklist_done(&item, false, "tech-1", T0).unwrap();
    assert_eq!(dev.checklist()[0].done_by, None);
    dev.remove_checklist_item(&item).unwrap();
    dev.remove_part(&part).unwrap();
    assert_eq!(dev.checklist().len(), 1);
    assert_eq!(dev.parts().len(), 1);
    dev.validate().unwrap();
}

#[test]
fn notes_positions_count_unicode_scalar_values() {
    let mut doc = TicketDoc::new(TICKET, device(1)).unwrap();
    doc.notes_append("a😀b").unwrap();
    doc.notes_insert(2, "é").unwrap();
    assert_eq!(doc.notes(), "a😀éb");
    doc.notes_splice(1, 1, "").unwrap();
    assert_eq!(doc.notes(), "aéb");
    assert!(matches!(
        doc.notes_splice(3, 1, ""),
        Err(DocError::OutOfRange { .. })
    ));
    doc.set_notes("aéb, then more").unwrap();
    assert_eq!(doc.notes(), "aéb, then more");
    let loaded = TicketDoc::load(&doc.save()).unwrap();
    let mut loaded = loaded.fork_with_actor(device(2));
    loaded.notes_insert(2, "😀").unwrap();
    assert_eq!(loaded.notes(), "aé😀b, then more");
}

#[test]
fn incremental_saves_append_to_a_snapshot() {
    let mut doc = assigned_doc("tech-1");
    let snapshot = doc.save();
    let heads = doc.heads();
    doc.notes_append("one").unwrap();
    doc.add_checklist_item("two").unwrap();
    let chunk = doc.save_after(&heads);
    let mut bytes = snapshot.clone();
    bytes.extend_from_slice(&chunk);
    let loaded = TicketDoc::load(&bytes).unwrap();
    assert_eq!(content(&loaded), content(&doc));
    let mut base = TicketDoc::load(&snapshot).unwrap();
    base.load_incremental(&chunk).unwrap();
    assert_eq!(base.heads(), doc.heads());
}

#[test]
fn invalid_edits_are_refused_and_leave_no_change() {
    let mut doc = assigned_doc("tech-1");
    let heads = doc.heads();
    assert!(matches!(
        doc.set_checklist_done("nope", true, "x", T0),
        Err(DocError::NotFound { .. })
    ));
    assert!(
        doc.add_part(&NewPart {
            part_number: "P".into(),
            quantity: 0.0,
            serial: None
        })
        .is_err()
    );
    assert!(
        doc.add_time_entry(TimeEntryKind::Work, T0, Some(T0 - 1))
            .is_err()
    );
    assert!(
        doc.add_photo_ref(&NewMediaRef {
            sha256: "abc".into(),
            content_type: "image/jpeg".into(),
            taken_at: T0
        })
        .is_err()
    );
    assert!(doc.set_custom("x", CustomValue::F64(f64::NAN)).is_err());
    // A hold without a reason, an assign without an assignee, a duplicate id,
    // a malformed content type: refused by the schema's own reader.
    let hold = doc.stamp_event(StatusAction::Hold, T0);
    assert!(matches!(doc.append_event(&hold), Err(DocError::Schema(_))));
    let assign = doc.stamp_event(StatusAction::Reassign, T0);
    let err = doc.append_event(&assign).unwrap_err();
    assert!(err.to_string().contains("/events/1/assignee"), "{err}");
    let first = doc.events()[0].clone();
    assert!(matches!(
        doc.append_event(&first),
        Err(DocError::DuplicateEventId(_))
    ));
    assert_eq!(doc.heads(), heads, "refused edits must not create changes");
    doc.validate().unwrap();
}

#[test]
fn independent_skeletons_are_the_same_change() {
    // The server and a device create the same ticket's document on their own:
    // the skeleton change is identical, so the root objects do not conflict.
    let a = TicketDoc::new(TICKET, server()).unwrap();
    let b = TicketDoc::new(TICKET, device(1)).unwrap();
    assert_eq!(a.heads(), b.heads());
    let mut a = a;
    let mut b = b;
    a.notes_append("from server. ").unwrap();
    b.notes_append("from device.").unwrap();
    a.merge(&mut b).unwrap();
    a.validate().unwrap();
    let notes = a.notes();
    assert!(
        notes.contains("from server. ") && notes.contains("from device."),
        "{notes}"
    );
    // A different ticket has a different skeleton.
    assert_ne!(
        TicketDoc::new("other", server()).unwrap().heads(),
        a.heads()
    );
}

#[test]
fn two_offline_replicas_merge_both_ways_without_losing_anything() {
    let mut server_doc = assigned_doc("tech-1");
    server_doc.notes_append("Customer reports noise.").unwrap();
    let item = server_doc.add_checklist_item("Check filter").unwrap();

    let mut a = server_doc.fork_with_actor(device(1));
    let mut b = server_doc.fork_with_actor(device(2));

    // Offline edits on both replicas.
    a.notes_insert(0, "[A] ").unwrap();
    a.notes_append(" Fan bearing worn.").unwrap();
    a.set_checklist_done(&item, true, "tech-1", T0 + 100)
        .unwrap();
    let a_item = a.add_checklist_item("Replace bearing").unwrap();
    let a_accept = act(&mut a, StatusAction::Accept, T0 + 1_000);
    let a_travel = act(&mut a, StatusAction::StartTravel, T0 + 2_000);
    a.set_custom("floor", CustomValue::Int(3)).unwrap();

    b.notes_append(" Access via rear door.").unwrap();
    let b_item = b.add_checklist_item("Ask for key").unwrap();
    let b_accept = act(&mut b, StatusAction::Accept, T0 + 1_500);
    b.set_custom("floor", CustomValue::Int(4)).unwrap();
    b.set_custom("dog", CustomValue::Bool(true)).unwrap();

    let mut ab = a.fork_with_actor(device(3));
    ab.merge(&mut b).unwrap();
    let mut ba = b.fork_with_actor(device(4));
    ba.merge(&mut a).unwrap();

    assert_eq!(content(&ab), content(&ba));
    assert_eq!(ab.heads(), ba.heads());
    ab.validate().unwrap();

    let notes = ab.notes();
    for piece in [
        "[A] ",
        "Customer reports noise.",
        " Fan bearing worn.",
        " Access via rear door.",
    ] {
        assert!(notes.contains(piece), "{piece:?} lost from {notes:?}");
    }
    let ids: Vec<_> = ab.checklist().into_iter().map(|i| i.id).collect();
    for id in [&item, &a_item, &b_item] {
        assert!(ids.contains(id));
    }
    assert!(ab.checklist().iter().any(|i| i.id == item && i.done));
    let event_ids: Vec<_> = ab.events().into_iter().map(|e| e.id).collect();
    for id in [&a_accept, &a_travel, &b_accept] {
        assert!(event_ids.contains(id));
    }
    // Both accepts are kept; the later one (by HLC) is ignored in the fold.
    let status = ab.status();
    assert_eq!(status.status, Status::EnRoute);
    assert_eq!(status.ignored.len(), 1);
    assert_eq!(status.ignored[0].id, b_accept);
    // Concurrent puts of one custom field: one value wins, the same everywhere.
    assert_eq!(ab.custom()["floor"], ba.custom()["floor"]);
    assert_eq!(ab.custom()["dog"], CustomValue::Bool(true));
}

#[test]
fn sync_messages_converge_two_documents() {
    let mut server_doc = assigned_doc("tech-1");
    let mut phone = TicketDoc::new(TICKET, device(1)).unwrap();
    let (mut s_state, mut p_state) = (SyncState::new(), SyncState::new());
    sync_until_quiet(&mut server_doc, &mut s_state, &mut phone, &mut p_state);
    assert_eq!(phone.heads(), server_doc.heads());
    assert_eq!(phone.status().status, Status::Assigned);

    // Edits on both sides, then another round on the same connection.
    phone.notes_append("on my way").unwrap();
    act(&mut phone, StatusAction::Accept, T0 + 10);
    server_doc.add_checklist_item("Bring ladder").unwrap();
    sync_until_quiet(&mut server_doc, &mut s_state, &mut phone, &mut p_state);
    assert_eq!(content(&phone), content(&server_doc));
    assert_eq!(phone.heads(), server_doc.heads());

    // Reconnect after a day offline: both sides persisted their sync state
    // (only the shared heads survive encode/decode).
    let mut s_state = SyncState::decode(&s_state.encode()).unwrap();
    let mut p_state = SyncState::decode(&p_state.encode()).unwrap();
    for i in 0..20 {
        phone.notes_append(&format!(" edit {i}")).unwrap();
    }
    let messages = sync_until_quiet(&mut server_doc, &mut s_state, &mut phone, &mut p_state);
    assert!(messages <= 4, "catching up took {messages} messages");
    assert_eq!(content(&phone), content(&server_doc));
}

#[test]
fn office_corrections_of_a_part_and_a_time_entry_merge_into_the_phone() {
    let doc = assigned_doc("tech-1");
    let mut phone = doc.fork_with_actor(device(1));
    let part = phone
        .add_part(&NewPart {
            part_number: "FAN-220".into(),
            quantity: 1.0,
            serial: None,
        })
        .unwrap();
    let entry = phone
        .add_time_entry(TimeEntryKind::Work, T0, Some(T0 + 60_000))
        .unwrap();
    let mut office = phone.fork_with_actor(device(9));
    office.set_part_quantity(&part, 2.5).unwrap();
    office.set_time_entry_span(&entry, T0 + 1000, None).unwrap();
    assert!(office.set_part_quantity(&part, -1.0).is_err());
    assert!(office.set_part_quantity("nope", 1.0).is_err());
    assert!(
        office
            .set_time_entry_span(&entry, T0, Some(T0 - 1))
            .is_err()
    );
    phone.merge(&mut office).unwrap();
    assert_eq!(phone.parts()[0].quantity, 2.5);
    let entry = &phone.time_entries()[0];
    assert_eq!((entry.started_at, entry.ended_at), (T0 + 1000, None));
    phone.validate().unwrap();
}

#[test]
fn a_squashed_document_keeps_the_content_without_history_or_erased_text() {
    let doc = assigned_doc("tech-1");
    let mut dev = doc.fork_with_actor(device(1));
    dev.notes_append("Call Ada Lovelace on arrival. ").unwrap();
    dev.notes_append("Typo Ada Lovelacx fixed.").unwrap();
    dev.set_notes("Call Ada Lovelace on arrival.").unwrap();
    dev.add_checklist_item("Ask Ada Lovelace to sign").unwrap();
    dev.add_part(&NewPart {
        part_number: "R-1".into(),
        quantity: 2.0,
        serial: None,
    })
    .unwrap();
    dev.set_custom("contact", CustomValue::Str("Ada Lovelace".into()))
        .unwrap();
    act(&mut dev, StatusAction::Accept, 1_000);
    let redact = |text: &str| text.replace("Ada Lovelace", "[erased]");
    let squashed = dev.squashed(server(), &redact).unwrap();
    let squashed = TicketDoc::load(&squashed.save()).unwrap();

    assert_eq!(squashed.notes(), "Call [erased] on arrival.");
    assert_eq!(squashed.checklist()[0].label, "Ask [erased] to sign");
    assert_eq!(squashed.checklist()[0].id, dev.checklist()[0].id);
    assert_eq!(squashed.parts(), dev.parts());
    assert_eq!(squashed.events(), dev.events());
    assert_eq!(squashed.status(), dev.status());
    assert_eq!(
        squashed.custom().get("contact"),
        Some(&CustomValue::Str("[erased]".into()))
    );
    // Neither the value nor the deleted typo survives in the bytes.
    let bytes = squashed.as_automerge().save_nocompress();
    for gone in [&b"Ada Lovelace"[..], b"Lovelacx"] {
        assert!(!bytes.windows(gone.len()).any(|w| w == gone));
    }
    let before = dev.as_automerge().save_nocompress();
    assert!(before.windows(8).any(|w| w == b"Lovelacx"));
}
