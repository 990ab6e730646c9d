//! The schema check, on documents built with raw Automerge operations.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use truckroll_sync::automerge::transaction::Transactable;
use truckroll_sync::automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use truckroll_sync::{SchemaError, SchemaProblem, StatusAction, TicketDoc, validate_schema};

/// A complete, valid document written with raw operations only, the way a
/// client on another Automerge implementation would follow PROTOCOL.md.
fn raw_valid() -> Automerge {
    let mut doc = Automerge::new().with_actor(actor(0xaa));
    tx(&mut doc, |t| {
        t.put(ROOT, "ticket_id", TICKET).unwrap();
        t.put(ROOT, "schema_version", 1_i64).unwrap();
        let notes = t.put_object(ROOT, "notes", ObjType::Text).unwrap();
        t.splice_text(&notes, 0, 0, "hello").unwrap();
        let checklist = t.put_object(ROOT, "checklist", ObjType::List).unwrap();
        let item = t.insert_object(&checklist, 0, ObjType::Map).unwrap();
        t.put(&item, "id", "c1").unwrap();
        t.put(&item, "label", "Isolate").unwrap();
        t.put(&item, "done", true).unwrap();
        t.put(&item, "done_by", "tech-1").unwrap();
        t.put(&item, "done_at", ScalarValue::Timestamp(T0)).unwrap();
        let parts = t.put_object(ROOT, "parts", ObjType::List).unwrap();
        let part = t.insert_object(&parts, 0, ObjType::Map).unwrap();
        t.put(&part, "id", "p1").unwrap();
        t.put(&part, "part_number", "X-1").unwrap();
        t.put(&part, "quantity", 2_i64).unwrap(); // an int, as JavaScript writes whole numbers
        t.put(&part, "serial", ScalarValue::Null).unwrap();
        let times = t.put_object(ROOT, "time_entries", ObjType::List).unwrap();
        let entry = t.insert_object(&times, 0, ObjType::Map).unwrap();
        t.put(&entry, "id", "t1").unwrap();
        t.put(&entry, "kind", "work").unwrap();
        t.put(&entry, "started_at", ScalarValue::Timestamp(T0))
            .unwrap();
        let photos = t.put_object(ROOT, "photos", ObjType::List).unwrap();
        let photo = t.insert_object(&photos, 0, ObjType::Map).unwrap();
        t.put(&photo, "id", "m1").unwrap();
        t.put(&photo, "sha256", "0".repeat(64)).unwrap();
        t.put(&photo, "content_type", "image/jpeg").unwrap();
        t.put(&photo, "state", "stored").unwrap();
        t.put(&photo, "taken_at", ScalarValue::Timestamp(T0))
            .unwrap();
        t.put_object(ROOT, "signatures", ObjType::List).unwrap();
        let custom = t.put_object(ROOT, "custom", ObjType::Map).unwrap();
        t.put(&custom, "gate", "4711").unwrap();
        t.put(&custom, "count", ScalarValue::Uint(3)).unwrap();
        let events = t.put_object(ROOT, "events", ObjType::List).unwrap();
        let e = t.insert_object(&events, 0, ObjType::Map).unwrap();
        t.put(&e, "id", "e1").unwrap();
        t.put(&e, "kind", "assign").unwrap();
        t.put(&e, "actor", "aa").unwrap();
        t.put(&e, "device_time", ScalarValue::Timestamp(T0))
            .unwrap();
        t.put(&e, "hlc", "001767225600000-0000000000-aa").unwrap();
        t.put(&e, "assignee", "tech-1").unwrap();
        let e = t.insert_object(&events, 1, ObjType::Map).unwrap();
        t.put(&e, "id", "e2").unwrap();
        t.put(&e, "kind", "accept").unwrap();
        t.put(&e, "actor", "bb").unwrap();
        t.put(&e, "device_time", ScalarValue::Timestamp(T0 + 1))
            .unwrap();
        t.put(&e, "hlc", "001767225600001-0000000000-bb").unwrap();
        t.put(&e, "assignment", "e1").unwrap();
        let pos = t.put_object(&e, "position", ObjType::Map).unwrap();
        t.put(&pos, "lat", 48.1_f64).unwrap();
        t.put(&pos, "lon", 11_i64).unwrap();
    });
    doc
}

fn root_obj(doc: &Automerge, key: &str) -> ObjId {
    doc.get(ROOT, key).unwrap().unwrap().1
}

fn first_item(doc: &Automerge, list: &str) -> ObjId {
    let list = root_obj(doc, list);
    doc.get(&list, 0).unwrap().unwrap().1
}

/// Applies `f` to a valid raw document and returns the schema error.
fn broken(f: impl FnOnce(&mut Automerge)) -> SchemaError {
    let mut doc = raw_valid();
    f(&mut doc);
    let err = validate_schema(&doc).expect_err("the schema check accepted a malformed document");
    // The same document loaded through the typed API is refused the same way.
    let loaded = TicketDoc::load(&doc.save());
    assert!(loaded.is_err());
    err
}

#[test]
fn a_document_written_by_another_client_passes() {
    let doc = raw_valid();
    validate_schema(&doc).unwrap();
    let typed = TicketDoc::load(&doc.save()).unwrap();
    assert_eq!(typed.notes(), "hello");
    assert_eq!(typed.parts()[0].quantity, 2.0);
    assert_eq!(typed.events()[1].position.unwrap().lon, 11.0);
    assert_eq!(typed.status().status, truckroll_sync::Status::Accepted);
}

#[test]
fn typed_documents_pass() {
    let mut doc = assigned_doc("tech-1");
    act(&mut doc, StatusAction::Cancel, T0 + 5);
    doc.validate().unwrap();
}

#[test]
fn events_must_be_a_list() {
    let err = broken(|d| {
        tx(d, |t| {
            t.put_object(ROOT, "events", ObjType::Map).unwrap();
        })
    });
    assert_eq!(err.path, "/events");
    assert_eq!(
        err.problem,
        SchemaProblem::WrongType {
            expected: "list",
            found: "map".into()
        }
    );
    assert_eq!(err.to_string(), "schema: /events: expected list, found map");
}

#[test]
fn an_event_needs_a_kind() {
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| t.delete(&e, "kind").unwrap());
    });
    assert_eq!(
        (err.path.as_str(), &err.problem),
        ("/events/0/kind", &SchemaProblem::Missing)
    );
}

#[test]
fn an_event_kind_must_be_a_known_action() {
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| t.put(&e, "kind", "teleport").unwrap());
    });
    assert_eq!(err.path, "/events/0/kind");
    assert!(err.to_string().contains("teleport"), "{err}");
}

#[test]
fn notes_must_be_text() {
    let err = broken(|d| tx(d, |t| t.put(ROOT, "notes", "plain string").unwrap()));
    assert_eq!(err.path, "/notes");
    assert_eq!(
        err.to_string(),
        "schema: /notes: expected text, found string"
    );
}

#[test]
fn unknown_top_level_keys_are_refused() {
    let err = broken(|d| tx(d, |t| t.put(ROOT, "status", "closed").unwrap()));
    assert_eq!(
        (err.path.as_str(), &err.problem),
        ("/status", &SchemaProblem::UnknownKey)
    );
}

#[test]
fn unknown_item_keys_are_refused() {
    let err = broken(|d| {
        let item = first_item(d, "checklist");
        tx(d, |t| t.put(&item, "colour", "red").unwrap());
    });
    assert_eq!(err.path, "/checklist/0/colour");
}

#[test]
fn missing_root_keys_are_refused() {
    let err = broken(|d| tx(d, |t| t.delete(ROOT, "custom").unwrap()));
    assert_eq!(
        (err.path.as_str(), &err.problem),
        ("/custom", &SchemaProblem::Missing)
    );
    let err = broken(|d| tx(d, |t| t.put(ROOT, "schema_version", 2_i64).unwrap()));
    assert_eq!(err.path, "/schema_version");
}

#[test]
fn scalar_types_are_checked() {
    let err = broken(|d| {
        let item = first_item(d, "checklist");
        tx(d, |t| t.put(&item, "done", "yes").unwrap());
    });
    assert_eq!(
        err.to_string(),
        "schema: /checklist/0/done: expected boolean, found string"
    );

    let err = broken(|d| {
        let item = first_item(d, "checklist");
        tx(d, |t| t.put(&item, "done_at", T0).unwrap()); // an int, not a timestamp
    });
    assert_eq!(
        err.to_string(),
        "schema: /checklist/0/done_at: expected timestamp, found int"
    );

    let err = broken(|d| {
        let item = first_item(d, "parts");
        tx(d, |t| t.put(&item, "quantity", -1_i64).unwrap());
    });
    assert_eq!(err.path, "/parts/0/quantity");

    let err = broken(|d| {
        let custom = root_obj(d, "custom");
        tx(d, |t| {
            t.put_object(&custom, "nested", ObjType::Map).unwrap();
        });
    });
    assert_eq!(err.path, "/custom/nested");

    let err = broken(|d| {
        let custom = root_obj(d, "custom");
        tx(d, |t| {
            t.put(&custom, "bin", ScalarValue::Bytes(vec![1])).unwrap()
        });
    });
    assert_eq!(err.path, "/custom/bin");
}

#[test]
fn list_items_must_be_maps() {
    let err = broken(|d| {
        let list = root_obj(d, "parts");
        tx(d, |t| t.insert(&list, 1, "P-2").unwrap());
    });
    assert_eq!(
        err.to_string(),
        "schema: /parts/1: expected map, found string"
    );
}

#[test]
fn media_references_are_checked() {
    let err = broken(|d| {
        let photo = first_item(d, "photos");
        tx(d, |t| t.put(&photo, "sha256", "ABC").unwrap());
    });
    assert_eq!(err.path, "/photos/0/sha256");
    let err = broken(|d| {
        let photo = first_item(d, "photos");
        tx(d, |t| t.put(&photo, "state", "lost").unwrap());
    });
    assert_eq!(err.path, "/photos/0/state");
}

#[test]
fn ids_are_unique_within_a_list() {
    let err = broken(|d| {
        let list = root_obj(d, "checklist");
        tx(d, |t| {
            let item = t.insert_object(&list, 1, ObjType::Map).unwrap();
            t.put(&item, "id", "c1").unwrap();
            t.put(&item, "label", "again").unwrap();
            t.put(&item, "done", false).unwrap();
        });
    });
    assert_eq!(
        (err.path.as_str(), &err.problem),
        ("/checklist/1/id", &SchemaProblem::DuplicateId("c1".into()))
    );
}

#[test]
fn event_rules_are_checked() {
    // The HLC stamp's actor must be the event's actor.
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| {
            t.put(&e, "hlc", "001767225600000-0000000000-cc").unwrap()
        });
    });
    assert_eq!(err.path, "/events/0/hlc");
    // A malformed stamp.
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| t.put(&e, "hlc", "yesterday").unwrap());
    });
    assert_eq!(err.path, "/events/0/hlc");
    // assign needs an assignee; others may not have one.
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| t.delete(&e, "assignee").unwrap());
    });
    assert_eq!(
        (err.path.as_str(), &err.problem),
        ("/events/0/assignee", &SchemaProblem::Missing)
    );
    // hold needs a hold reason.
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| {
            t.put(&e, "kind", "hold").unwrap();
            t.delete(&e, "assignee").unwrap();
            t.put(&e, "reason", "lunch").unwrap();
        });
    });
    assert_eq!(err.path, "/events/0/reason");
    // device_time must be a timestamp; positions are range-checked.
    let err = broken(|d| {
        let e = first_item(d, "events");
        tx(d, |t| {
            t.put(&e, "device_time", "2026-01-01T00:00:00Z").unwrap()
        });
    });
    assert_eq!(err.path, "/events/0/device_time");
    let err = broken(|d| {
        let list = root_obj(d, "events");
        let e = d.get(&list, 1).unwrap().unwrap().1;
        let pos = d.get(&e, "position").unwrap().unwrap().1;
        tx(d, |t| t.put(&pos, "lat", 91.0).unwrap());
    });
    assert_eq!(err.path, "/events/1/position/lat");
}

#[test]
fn keys_with_slashes_are_escaped_in_paths() {
    let err = broken(|d| {
        let custom = root_obj(d, "custom");
        tx(d, |t| {
            t.put(&custom, "a/b~c", ScalarValue::Counter(1.into()))
                .unwrap()
        });
    });
    assert_eq!(err.path, "/custom/a~1b~0c");
}
