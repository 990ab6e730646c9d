//! DocumentStore: a batch of document writes (a sync exchange's merges)
//! stores, in one transaction, every write that still applies, skips the
//! one whose document moved on or belongs to another tenant, and records
//! one audit entry per stored write on an intact chain.

use truckroll_server::store::documents::{DocumentBody, DocumentWrite, Projection};

use super::*;

backend_tests!(a_batch_stores_what_applies_and_skips_what_moved_on,);

fn chunk_write(ticket_id: Uuid, expected_version: i64, bytes: &[u8]) -> DocumentWrite {
    DocumentWrite {
        ticket_id,
        expected_version: Some(expected_version),
        body: Some(DocumentBody::Chunk(bytes.to_vec())),
        sync_state: None,
        projection: None,
        audit_action: Some("ticket.field_sync"),
        audit_detail: Some(json!({"bytes": bytes.len()})),
    }
}

async fn a_batch_stores_what_applies_and_skips_what_moved_on(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let mut tickets = Vec::new();
    for title in ["One", "Two", "Three"] {
        let ticket = store
            .create_ticket(a.actor(), &new_ticket(a.site_id, title))
            .await
            .expect("ticket");
        let created = store
            .write_document(
                a.actor(),
                &DocumentWrite {
                    ticket_id: ticket.id,
                    expected_version: None,
                    body: Some(DocumentBody::Snapshot(b"snapshot".to_vec())),
                    sync_state: None,
                    projection: None,
                    audit_action: None,
                    audit_detail: None,
                },
            )
            .await
            .expect("document");
        assert_eq!(created.version, 1);
        tickets.push(ticket);
    }
    let audited = audit_len(store, a.tenant_id).await;

    let mut projected = chunk_write(tickets[2].id, 1, b"three");
    projected.projection = Some(Projection {
        status: None,
        steps: Vec::new(),
        accepted_at: None,
        arrived_at: None,
        completed_at: None,
        photo_count: 2,
        part_count: 0,
        field_updated_at: Utc::now(),
        custom: Default::default(),
        check_in: None,
        parts: Vec::new(),
    });
    let written = store
        .write_documents(
            a.actor(),
            &[
                chunk_write(tickets[0].id, 1, b"one"),
                // A version its document is not at: moved on since the merge.
                chunk_write(tickets[1].id, 7, b"two"),
                projected,
            ],
        )
        .await
        .expect("batch");
    assert_eq!(written.len(), 3);
    let first = written[0].as_ref().expect("the first write applies");
    assert_eq!((first.version, first.ticket.as_ref()), (2, None));
    assert!(written[1].is_none(), "the moved-on write is skipped");
    let third = written[2].as_ref().expect("the third write applies");
    assert_eq!(third.version, 2);
    let row = third.ticket.as_ref().expect("the projected row");
    assert_eq!(row.id, tickets[2].id);
    assert!(
        row.updated_at > tickets[2].updated_at,
        "the row's version moved"
    );
    let columns = store
        .field_columns(a.tenant_id, tickets[2].id)
        .await
        .expect("columns");
    assert_eq!(columns.field_photo_count, Some(2));

    let stored = |id: Uuid| async move {
        store
            .load_document(a.tenant_id, id)
            .await
            .expect("load")
            .expect("a document")
    };
    let one = stored(tickets[0].id).await;
    assert_eq!((one.version, one.chunks), (2, vec![b"one".to_vec()]));
    let two = stored(tickets[1].id).await;
    assert_eq!(
        (two.version, two.chunks.len()),
        (1, 0),
        "nothing of the skipped write"
    );

    // Two entries, one per stored write, on a chain that verifies.
    assert_eq!(audit_len(store, a.tenant_id).await, audited + 2);
    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert!(report.valid, "{report:?}");

    // Another tenant cannot write alpha's document through a batch.
    let audited_b = audit_len(store, b.tenant_id).await;
    let foreign = store
        .write_documents(b.actor(), &[chunk_write(tickets[0].id, 2, b"foreign")])
        .await
        .expect("batch");
    assert!(foreign[0].is_none());
    assert_eq!(stored(tickets[0].id).await.version, 2);
    assert_eq!(audit_len(store, b.tenant_id).await, audited_b);
}
