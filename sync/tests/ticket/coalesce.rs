//! Coalescing a device's run of own changes into one
//! (`TicketDoc::coalesce_own_changes`, issue 18).
#![allow(clippy::unwrap_used)]

use crate::common::*;
use truckroll_sync::{NewPart, StatusAction, TicketDoc, TimeEntryKind};

fn content(doc: &TicketDoc) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}",
        doc.notes(),
        doc.checklist(),
        doc.parts(),
        doc.time_entries(),
        doc.events()
    )
}

fn own_changes(doc: &TicketDoc) -> usize {
    doc.as_automerge()
        .get_changes(&[])
        .iter()
        .filter(|c| c.actor_id() == doc.actor())
        .count()
}

#[test]
fn a_run_of_own_changes_becomes_one_with_the_same_content_and_ids() {
    let server_doc = assigned_doc("tech-1");
    let mut phone = server_doc.fork_with_actor(device(1));
    let sealed = phone.heads();
    act(&mut phone, StatusAction::Accept, T0 + 60_000);
    act(&mut phone, StatusAction::StartTravel, T0 + 120_000);
    let item = phone.add_checklist_item("Check refrigerant").unwrap();
    phone
        .set_checklist_done(&item, true, "ada", T0 + 180_000)
        .unwrap();
    let part = phone
        .add_part(&NewPart {
            part_number: "CMP-220".into(),
            quantity: 1.0,
            serial: None,
        })
        .unwrap();
    phone
        .add_time_entry(TimeEntryKind::Work, T0 + 200_000, Some(T0 + 260_000))
        .unwrap();
    phone.notes_append("first\n").unwrap();
    phone.notes_append("second\n").unwrap();
    assert_eq!(own_changes(&phone), 8);

    let coalesced = phone.coalesce_own_changes(&sealed).unwrap();
    assert_eq!(coalesced.replaced.len(), 8);
    let mut squashed = coalesced.doc;
    assert_eq!(own_changes(&squashed), 1);
    assert_eq!(squashed.heads(), vec![coalesced.hash]);
    assert_eq!(content(&squashed), content(&phone));
    let times: Vec<i64> = squashed.events().iter().map(|e| e.device_time).collect();
    assert_eq!(
        times,
        vec![T0, T0 + 60_000, T0 + 120_000],
        "each event its own time"
    );

    // The ids the app holds still name their items; later edits go on.
    squashed
        .set_checklist_done(&item, false, "ada", T0 + 300_000)
        .unwrap();
    squashed.remove_part(&part).unwrap();
    assert_eq!(own_changes(&squashed), 3);

    // The server takes the coalesced change and ends up with the same content.
    let mut server = server_doc.fork_with_actor(server());
    let before_sync = squashed.heads();
    let mut device_copy = squashed.fork_with_actor(device(1));
    server.merge(&mut device_copy).unwrap();
    assert_eq!(content(&server), content(&squashed));
    assert!(server.contains_heads(&before_sync));
}

#[test]
fn nothing_to_coalesce_or_a_foreign_change_in_the_run_leaves_it() {
    let server_doc = assigned_doc("tech-1");
    let mut phone = server_doc.fork_with_actor(device(1));
    let sealed = phone.heads();
    assert!(phone.coalesce_own_changes(&sealed).is_none(), "no change");
    phone.notes_append("one\n").unwrap();
    assert!(phone.coalesce_own_changes(&sealed).is_none(), "one change");

    // The server's change arrives between two of the phone's.
    let mut server = server_doc.fork_with_actor(server());
    server.notes_append("office note\n").unwrap();
    phone.merge(&mut server).unwrap();
    phone.notes_append("two\n").unwrap();
    assert!(phone.coalesce_own_changes(&sealed).is_none());

    // Heads the document does not have seal nothing it can cut.
    let other = TicketDoc::new(TICKET, device(2)).unwrap();
    let mut phone = server_doc.fork_with_actor(device(1));
    phone.notes_append("a\n").unwrap();
    phone.notes_append("b\n").unwrap();
    assert!(
        phone.coalesce_own_changes(&[]).is_none(),
        "the skeleton is not ours"
    );
    let foreign_heads = {
        let mut o = other;
        o.notes_append("x").unwrap();
        o.heads()
    };
    assert!(phone.coalesce_own_changes(&foreign_heads).is_none());
}
