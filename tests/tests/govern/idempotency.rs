//! Idempotency keys that recover: a key whose request died before writing
//! is taken over after `[governance] idempotency_abandoned_after_secs`; one
//! whose write committed is never run twice; keys expire.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use truckroll_server::store::{IdempotencyBegin, StoredResponse, idempotency::IdempotencyWindow};
use truckroll_tests::{TestBackend, app::TestApp, fixtures::Shop};

backend_tests!(
    a_key_whose_request_died_before_writing_is_taken_over,
    a_key_whose_write_committed_never_runs_twice,
    a_write_marks_its_key_committed_in_its_own_transaction,
    keys_expire,
);

/// The hash the server keeps of a request (method, path, body bytes).
fn request_hash(path: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"POST");
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(body).expect("json"));
    hex::encode(hasher.finalize())
}

fn window_at(now: chrono::DateTime<Utc>) -> IdempotencyWindow {
    IdempotencyWindow {
        now,
        abandoned_before: now - Duration::seconds(120),
        expired_before: now - Duration::days(1),
    }
}

/// Begins `key` as a request would have `ago` before now, and leaves it
/// there, as a process killed mid-request does.
async fn begun_long_ago(app: &TestApp, shop: &Shop, key: &str, body: &Value, ago: Duration) {
    let begun = app
        .state
        .store
        .idempotency_begin(
            shop.tenant.id,
            shop.tenant.admin_id,
            key,
            &request_hash("/v1/customers", body),
            window_at(Utc::now() - ago),
        )
        .await
        .expect("begin");
    assert_eq!(begun, IdempotencyBegin::Started);
}

async fn post_customer(
    app: &TestApp,
    shop: &Shop,
    key: &str,
    body: &Value,
) -> truckroll_tests::app::Reply {
    app.send_with(
        Method::POST,
        "/v1/customers",
        Some(&shop.tenant.admin_token),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

async fn customers_named(app: &TestApp, name: &str) -> i64 {
    let raw = app.db.raw().await;
    let count = raw
        .scalar_i64(
            &format!("SELECT COUNT(*) FROM customers WHERE name = '{name}'"),
            &[],
        )
        .await;
    raw.close().await;
    count
}

async fn a_key_whose_request_died_before_writing_is_taken_over(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "idem-died").build().await;
    let body = json!({"name": "Died Midway"});
    // Fresh: the first request may still be running.
    begun_long_ago(&app, &shop, "k-fresh", &body, Duration::seconds(5)).await;
    post_customer(&app, &shop, "k-fresh", &body)
        .await
        .expect_problem(StatusCode::CONFLICT, "/idempotency-key-in-progress");
    // Abandoned ten minutes ago without a write: the retry runs.
    begun_long_ago(&app, &shop, "k-died", &body, Duration::minutes(10)).await;
    let created = post_customer(&app, &shop, "k-died", &body)
        .await
        .expect(StatusCode::CREATED);
    let replay = post_customer(&app, &shop, "k-died", &body).await;
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(replay.expect(StatusCode::CREATED), created);
    assert_eq!(customers_named(&app, "Died Midway").await, 1);
    app.stop().await;
}

async fn a_key_whose_write_committed_never_runs_twice(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "idem-wrote").build().await;
    let body = json!({"name": "Wrote Then Died"});
    begun_long_ago(&app, &shop, "k-wrote", &body, Duration::minutes(10)).await;
    // The write committed (and marked the key), then the process died
    // before the answer was recorded.
    let raw = app.db.raw().await;
    raw.execute(
        "UPDATE idempotency_keys SET committed_at = created_at WHERE tenant_id = $1",
        &[shop.tenant.id],
    )
    .await;
    raw.close().await;
    let reply = post_customer(&app, &shop, "k-wrote", &body).await;
    reply.expect_problem(StatusCode::CONFLICT, "/idempotency-key-committed");
    assert_eq!(
        customers_named(&app, "Wrote Then Died").await,
        0,
        "not run again"
    );
    app.stop().await;
}

async fn a_write_marks_its_key_committed_in_its_own_transaction(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "idem-mark").build().await;
    let body = json!({"name": "Marked"});
    post_customer(&app, &shop, "k-mark", &body)
        .await
        .expect(StatusCode::CREATED);
    let raw = app.db.raw().await;
    let marked = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM idempotency_keys WHERE tenant_id = $1 AND key = 'k-mark' \
             AND committed_at IS NOT NULL AND status_code = 201",
            &[shop.tenant.id],
        )
        .await;
    assert_eq!(marked, 1);
    // A refused write commits nothing, so its key stays unmarked.
    post_customer(&app, &shop, "k-refused", &json!({"name": ""}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let unmarked = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM idempotency_keys WHERE tenant_id = $1 AND key = 'k-refused' \
             AND committed_at IS NULL",
            &[shop.tenant.id],
        )
        .await;
    assert_eq!(unmarked, 1);
    raw.close().await;
    app.stop().await;
}

async fn keys_expire(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "idem-old").build().await;
    let old_body = json!({"name": "Two Days Ago"});
    let store = &app.state.store;
    let two_days_ago = Utc::now() - Duration::days(2);
    store
        .idempotency_begin(
            shop.tenant.id,
            shop.tenant.admin_id,
            "k-old",
            &request_hash("/v1/customers", &old_body),
            window_at(two_days_ago),
        )
        .await
        .expect("begin");
    store
        .idempotency_complete(
            shop.tenant.id,
            shop.tenant.admin_id,
            "k-old",
            &StoredResponse {
                status: 201,
                content_type: "application/json".into(),
                body: b"{}".to_vec(),
            },
        )
        .await
        .expect("complete");
    // A day later than the time to live, the key means nothing: another
    // request with it runs.
    let body = json!({"name": "Today"});
    post_customer(&app, &shop, "k-old", &body)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(customers_named(&app, "Today").await, 1);
    // And the sweep removes what expired.
    let swept = store
        .idempotency_sweep(Utc::now() + Duration::seconds(1))
        .await
        .expect("sweep");
    assert!(swept >= 1);
    app.stop().await;
}
