//! The `MediaStore` contract: media references and signatures. Every test
//! runs on SQLite and on PostgreSQL (`name::sqlite`, `name::postgres`).

use std::sync::Arc;

use chrono::{Duration, Utc};
use truckroll_server::store::{
    Actor, StoreError,
    media::{MediaBegin, MediaKind, MediaState, NewMedia, Signature},
};
use truckroll_tests::{
    TestDb,
    fixtures::{TenantFixture, new_ticket},
};
use uuid::Uuid;

backend_tests!(
    begin_is_idempotent_per_ticket_content_and_kind,
    the_per_ticket_limit_counts_pending_and_stored,
    completion_stores_once_and_is_audited,
    rejection_drops_only_pending_references,
    the_sweep_removes_old_pending_references_and_reports_unreferenced_content,
    signatures_round_trip_and_the_latest_wins,
    media_are_tenant_scoped,
);

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn new_media(ticket_id: Uuid, n: u8, kind: MediaKind) -> NewMedia {
    NewMedia {
        ticket_id,
        kind,
        content_type: "image/png".into(),
        size: 1000 + i64::from(n),
        sha256: hash(n),
    }
}

async fn ticket(db: &TestDb, tenant: &TenantFixture) -> Uuid {
    db.store
        .create_ticket(tenant.actor(), &new_ticket(tenant.site_id, "Leak"))
        .await
        .expect("ticket")
        .id
}

async fn setup(db: &TestDb) -> (TenantFixture, Uuid) {
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let ticket = ticket(db, &tenant).await;
    (tenant, ticket)
}

async fn begin_media_created(db: &TestDb, actor: Actor, media: &NewMedia) -> Uuid {
    match db
        .store
        .begin_media(actor, media, 100)
        .await
        .expect("begin")
    {
        MediaBegin::Created(m) => m.id,
        MediaBegin::Existing(m) => panic!("expected a new reference, got {m:?}"),
    }
}

async fn begin_is_idempotent_per_ticket_content_and_kind(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    let photo = new_media(ticket, 1, MediaKind::Photo);
    let id = begin_media_created(db, actor, &photo).await;
    let again = db
        .store
        .begin_media(actor, &photo, 100)
        .await
        .expect("again");
    assert_eq!(again, MediaBegin::Existing(again.media().clone()));
    assert_eq!(again.media().id, id);
    assert_eq!(again.media().state, MediaState::Pending);
    // The same content as another kind, or on another ticket, is another reference.
    let document = NewMedia {
        kind: MediaKind::Document,
        ..photo.clone()
    };
    assert_ne!(begin_media_created(db, actor, &document).await, id);
    let other_ticket = ticket_of(db, &tenant).await;
    let elsewhere = NewMedia {
        ticket_id: other_ticket,
        ..photo.clone()
    };
    assert_ne!(begin_media_created(db, actor, &elsewhere).await, id);
    // Concurrent begins of one content create one reference.
    let store = Arc::clone(&db.store);
    let fresh = new_media(ticket, 2, MediaKind::Photo);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, fresh) = (Arc::clone(&store), fresh.clone());
            tokio::spawn(async move { store.begin_media(actor, &fresh, 100).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task").expect("begin").media().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

async fn ticket_of(db: &TestDb, tenant: &TenantFixture) -> Uuid {
    ticket(db, tenant).await
}

async fn the_per_ticket_limit_counts_pending_and_stored(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    let first = begin_media_created(db, actor, &new_media(ticket, 1, MediaKind::Photo)).await;
    db.store
        .complete_media(actor, first, false)
        .await
        .expect("complete");
    db.store
        .begin_media(actor, &new_media(ticket, 2, MediaKind::Photo), 2)
        .await
        .expect("second");
    let third = db
        .store
        .begin_media(actor, &new_media(ticket, 3, MediaKind::Photo), 2)
        .await;
    assert!(matches!(third, Err(StoreError::Conflict(_))), "{third:?}");
    // A retry of an existing reference is not a new one.
    db.store
        .begin_media(actor, &new_media(ticket, 2, MediaKind::Photo), 2)
        .await
        .expect("retry");
}

async fn completion_stores_once_and_is_audited(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    let id = begin_media_created(db, actor, &new_media(ticket, 1, MediaKind::Photo)).await;
    assert!(
        db.store
            .list_ticket_media(tenant.tenant_id, ticket)
            .await
            .expect("list")
            .is_empty()
    );
    let stored = db
        .store
        .complete_media(actor, id, true)
        .await
        .expect("complete");
    assert_eq!(stored.state, MediaState::Stored);
    assert!(stored.has_thumbnail);
    assert!(stored.completed_at.is_some());
    let again = db
        .store
        .complete_media(actor, id, false)
        .await
        .expect("again");
    assert_eq!(again, stored, "a second completion changes nothing");
    let listed = db
        .store
        .list_ticket_media(tenant.tenant_id, ticket)
        .await
        .expect("list");
    assert_eq!(listed, vec![stored.clone()]);
    assert_eq!(
        db.store.get_media(tenant.tenant_id, id).await.expect("get"),
        stored
    );
    let audit = db
        .store
        .list_audit(tenant.tenant_id, 0, 500)
        .await
        .expect("audit");
    let completions: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "media.complete")
        .collect();
    assert_eq!(completions.len(), 1);
    assert_eq!(completions[0].entity_id, Some(id));
    assert!(
        db.store
            .verify_audit(tenant.tenant_id)
            .await
            .expect("verify")
            .valid
    );
}

async fn rejection_drops_only_pending_references(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    let pending = begin_media_created(db, actor, &new_media(ticket, 1, MediaKind::Photo)).await;
    db.store
        .reject_media(actor, pending, "type mismatch")
        .await
        .expect("reject");
    assert!(matches!(
        db.store.get_media(tenant.tenant_id, pending).await,
        Err(StoreError::NotFound(_))
    ));
    let stored = begin_media_created(db, actor, &new_media(ticket, 2, MediaKind::Photo)).await;
    db.store
        .complete_media(actor, stored, false)
        .await
        .expect("complete");
    assert!(matches!(
        db.store.reject_media(actor, stored, "late").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        db.store
            .list_ticket_media(tenant.tenant_id, ticket)
            .await
            .expect("list")
            .len(),
        1
    );
    let audit = db
        .store
        .list_audit(tenant.tenant_id, 0, 500)
        .await
        .expect("audit");
    assert_eq!(
        audit.iter().filter(|e| e.action == "media.reject").count(),
        1
    );
}

async fn the_sweep_removes_old_pending_references_and_reports_unreferenced_content(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    let other = ticket_of(db, &tenant).await;
    // Content 1: stored on one ticket, pending on another.
    let kept = begin_media_created(db, actor, &new_media(ticket, 1, MediaKind::Photo)).await;
    db.store
        .complete_media(actor, kept, false)
        .await
        .expect("complete");
    begin_media_created(db, actor, &new_media(other, 1, MediaKind::Photo)).await;
    // Content 2: only pending.
    begin_media_created(db, actor, &new_media(other, 2, MediaKind::Photo)).await;

    let now = Utc::now();
    assert!(
        db.store
            .sweep_pending_media(now - Duration::hours(1), 100)
            .await
            .expect("sweep")
            .is_empty()
    );
    let mut swept = db
        .store
        .sweep_pending_media(now + Duration::hours(1), 100)
        .await
        .expect("sweep");
    swept.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    assert_eq!(swept.len(), 2);
    assert_eq!(
        (swept[0].sha256.as_str(), swept[0].object_unreferenced),
        (hash(1).as_str(), false)
    );
    assert_eq!(
        (swept[1].sha256.as_str(), swept[1].object_unreferenced),
        (hash(2).as_str(), true)
    );
    assert!(swept.iter().all(|s| s.tenant_id == tenant.tenant_id));
    assert!(
        db.store
            .media_referenced(tenant.tenant_id, &hash(1))
            .await
            .expect("ref")
    );
    assert!(
        !db.store
            .media_referenced(tenant.tenant_id, &hash(2))
            .await
            .expect("ref")
    );
    assert!(
        db.store
            .sweep_pending_media(now + Duration::hours(1), 100)
            .await
            .expect("sweep")
            .is_empty()
    );
    assert_eq!(
        db.store
            .get_media(tenant.tenant_id, kept)
            .await
            .expect("kept")
            .state,
        MediaState::Stored
    );
}

fn signature(ticket_id: Uuid, name: &str, image: u8) -> Signature {
    Signature {
        id: Uuid::nil(),
        tenant_id: Uuid::nil(),
        ticket_id,
        media_id: Uuid::nil(),
        signer_name: name.to_owned(),
        signed_at: truckroll_server::domain::audit::audit_time(Utc::now()),
        lat: Some(52.5),
        lon: Some(13.4),
        strokes: serde_json::json!({"width": 100, "height": 40, "strokes": [[{"x": 1.5, "y": 2.0}]]}),
        doc_heads: vec![hash(9)],
        heads_hash: hash(8),
        image_sha256: hash(image),
        seal: hash(7),
        created_by: None,
    }
}

async fn signatures_round_trip_and_the_latest_wins(db: &TestDb) {
    let (tenant, ticket) = setup(db).await;
    let actor = tenant.actor();
    assert!(
        db.store
            .latest_signature(tenant.tenant_id, ticket)
            .await
            .expect("none")
            .is_none()
    );
    let first = signature(ticket, "Erika", 3);
    let media = new_media(ticket, 3, MediaKind::Signature);
    let stored = db
        .store
        .insert_signature(actor, &media, &first)
        .await
        .expect("insert");
    assert_eq!(stored.signer_name, "Erika");
    assert_eq!(stored.signed_at, first.signed_at);
    assert_eq!(stored.strokes, first.strokes);
    assert_eq!(stored.doc_heads, first.doc_heads);
    assert_eq!(stored.tenant_id, tenant.tenant_id);
    let image = db
        .store
        .get_media(tenant.tenant_id, stored.media_id)
        .await
        .expect("image");
    assert_eq!(
        (image.kind, image.state),
        (MediaKind::Signature, MediaState::Stored)
    );
    let second = db
        .store
        .insert_signature(
            actor,
            &new_media(ticket, 4, MediaKind::Signature),
            &signature(ticket, "Max", 4),
        )
        .await
        .expect("second");
    let latest = db
        .store
        .latest_signature(tenant.tenant_id, ticket)
        .await
        .expect("latest");
    assert_eq!(latest.map(|s| s.id), Some(second.id));
    let audit = db
        .store
        .list_audit(tenant.tenant_id, 0, 500)
        .await
        .expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "signature.capture")
            .count(),
        2
    );
}

async fn media_are_tenant_scoped(db: &TestDb) {
    let (acme, ticket) = setup(db).await;
    let globex = TenantFixture::create(db.store.as_ref(), "globex").await;
    let id = begin_media_created(db, acme.actor(), &new_media(ticket, 1, MediaKind::Photo)).await;
    assert!(matches!(
        db.store.get_media(globex.tenant_id, id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.store.complete_media(globex.actor(), id, false).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.store.reject_media(globex.actor(), id, "x").await,
        Err(StoreError::NotFound(_))
    ));
    // Another tenant cannot reference acme's ticket.
    let begin = db
        .store
        .begin_media(globex.actor(), &new_media(ticket, 2, MediaKind::Photo), 100)
        .await;
    assert!(matches!(begin, Err(StoreError::NotFound(_))), "{begin:?}");
    assert!(
        !db.store
            .media_referenced(globex.tenant_id, &hash(1))
            .await
            .expect("ref")
    );
    assert!(
        db.store
            .list_ticket_media(globex.tenant_id, ticket)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        db.store
            .latest_signature(globex.tenant_id, ticket)
            .await
            .expect("sig")
            .is_none()
    );
}
