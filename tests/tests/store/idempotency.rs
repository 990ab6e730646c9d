//! IdempotencyStore: keys replay the first answer and guard against concurrent use.

use super::*;

backend_tests!(idempotency_keys_replay_and_guard,);

// ---------------------------------------------------------------------------
// Idempotency keys

async fn idempotency_keys_replay_and_guard(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let (t, u) = (a.tenant_id, a.admin_id);
    let other_user = store
        .create_user(
            a.actor(),
            &new_user("second@alpha.example", Role::Dispatcher),
            PASSWORD_HASH,
        )
        .await
        .expect("second user");

    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a", window())
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a", window())
            .await
            .expect("begin again"),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-b", window())
            .await
            .expect("begin other request"),
        IdempotencyBegin::Mismatch
    );

    // Keys belong to one user of one tenant.
    assert_eq!(
        store
            .idempotency_begin(t, other_user.id, "k1", "hash-a", window())
            .await
            .expect("other user"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(b.tenant_id, b.admin_id, "k1", "hash-a", window())
            .await
            .expect("other tenant"),
        IdempotencyBegin::Started
    );

    // Bodies are bytes, not text: NUL and invalid UTF-8 survive.
    let mut body = br#"{"number":"TR-000001"}"#.to_vec();
    body.extend_from_slice(&[0, 159, 255]);
    let response = StoredResponse {
        status: 201,
        content_type: "application/json".to_owned(),
        body,
    };
    store
        .idempotency_complete(t, u, "k1", &response)
        .await
        .expect("complete");
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a", window())
            .await
            .expect("replay"),
        IdempotencyBegin::Replay(response.clone())
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a", window())
            .await
            .expect("replay twice"),
        IdempotencyBegin::Replay(response)
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-b", window())
            .await
            .expect("mismatch"),
        IdempotencyBegin::Mismatch
    );

    // A completed key cannot be aborted.
    store
        .idempotency_abort(t, u, "k1")
        .await
        .expect("abort completed");
    assert!(matches!(
        store
            .idempotency_begin(t, u, "k1", "hash-a", window())
            .await
            .expect("still replay"),
        IdempotencyBegin::Replay(_)
    ));

    // Aborting an in-progress key frees it, even for a different request.
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-a", window())
            .await
            .expect("begin k2"),
        IdempotencyBegin::Started
    );
    store.idempotency_abort(t, u, "k2").await.expect("abort k2");
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-c", window())
            .await
            .expect("begin k2 again"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-c", window())
            .await
            .expect("k2 in progress"),
        IdempotencyBegin::InProgress
    );
}

/// Keys live a day; one begun two minutes ago without an answer was abandoned.
fn window() -> truckroll_server::store::idempotency::IdempotencyWindow {
    let now = chrono::Utc::now();
    truckroll_server::store::idempotency::IdempotencyWindow {
        now,
        abandoned_before: now - chrono::Duration::seconds(120),
        expired_before: now - chrono::Duration::days(1),
    }
}
