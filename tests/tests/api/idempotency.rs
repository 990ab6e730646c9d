//! Idempotency-Key: a retried write replays the first answer.

use super::*;

backend_tests!(idempotency_key_replays_the_first_answer,);

// ---------------------------------------------------------------------------
// 4. Idempotency-Key

async fn idempotency_key_replays_the_first_answer(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "idem").await;
    let admin = w.tenant.admin_token.as_str();
    let raw = app.db.raw().await;
    let body = ticket_body(w.site_id, "Retried from a bad network");
    let key = [("idempotency-key", "7b1f3c0e-retry-1")];

    let first = app
        .send_with(Method::POST, "/v1/tickets", Some(admin), Some(&body), &key)
        .await;
    assert!(header(&first.headers, "idempotent-replayed").is_none());
    let first_body = first.clone().expect(StatusCode::CREATED);
    assert_eq!(first_body["number"], "TR-000001");

    let second = app
        .send_with(Method::POST, "/v1/tickets", Some(admin), Some(&body), &key)
        .await;
    assert_eq!(header(&second.headers, "idempotent-replayed"), Some("true"));
    assert_eq!(
        header(&second.headers, "content-type"),
        Some("application/json")
    );
    let second_body = second.expect(StatusCode::CREATED);
    assert_eq!(second_body, first_body, "the replay is the first answer");
    assert_eq!(raw.scalar_i64("SELECT COUNT(*) FROM tickets", &[]).await, 1);
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.create'",
            &[]
        )
        .await,
        1
    );

    // Same key, other body (or other route): refused, nothing written.
    let other = ticket_body(w.site_id, "A different ticket");
    app.send_with(Method::POST, "/v1/tickets", Some(admin), Some(&other), &key)
        .await
        .expect_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/idempotency-key-mismatch",
        );
    app.send_with(
        Method::POST,
        "/v1/customers",
        Some(admin),
        Some(&json!({"name": "Other"})),
        &key,
    )
    .await
    .expect_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "/idempotency-key-mismatch",
    );
    assert_eq!(raw.scalar_i64("SELECT COUNT(*) FROM tickets", &[]).await, 1);

    // Another user's key space is their own.
    let (_, dispatcher) = app
        .create_user(&w.tenant, "dispatch@idem.test", "dispatcher")
        .await;
    let theirs = app
        .send_with(
            Method::POST,
            "/v1/tickets",
            Some(&dispatcher),
            Some(&body),
            &key,
        )
        .await;
    assert!(header(&theirs.headers, "idempotent-replayed").is_none());
    let theirs = theirs.expect(StatusCode::CREATED);
    assert_ne!(theirs["id"], first_body["id"]);
    assert_eq!(theirs["number"], "TR-000002");
    let again = app
        .send_with(
            Method::POST,
            "/v1/tickets",
            Some(&dispatcher),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(header(&again.headers, "idempotent-replayed"), Some("true"));
    assert_eq!(again.expect(StatusCode::CREATED), theirs);

    // A refusal is remembered too: the retry gets the same problem.
    let bad_key = [("idempotency-key", "bad-body-1")];
    let invalid = json!({"title": "", "category": "hvac", "priority": "P3", "site_id": w.site_id});
    let refused = app
        .send_with(
            Method::POST,
            "/v1/tickets",
            Some(admin),
            Some(&invalid),
            &bad_key,
        )
        .await;
    refused.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let refused_again = app
        .send_with(
            Method::POST,
            "/v1/tickets",
            Some(admin),
            Some(&invalid),
            &bad_key,
        )
        .await;
    refused_again.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(refused_again.body, refused.body);

    // Keys must be visible ASCII.
    app.send_with(
        Method::POST,
        "/v1/tickets",
        Some(admin),
        Some(&body),
        &[("idempotency-key", "has space")],
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");

    assert_eq!(raw.scalar_i64("SELECT COUNT(*) FROM tickets", &[]).await, 2);
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.create'",
            &[]
        )
        .await,
        2
    );
    raw.close().await;
    app.stop().await;
}
