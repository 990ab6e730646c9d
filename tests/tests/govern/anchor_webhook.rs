//! The audit anchor as a webhook: a tenant that subscribes to
//! `audit.anchored` gets each anchor the sealer writes (a checkpoint signed
//! with the audit key) through the one webhook outbox, signed with the
//! subscription's secret, on a receiver the egress rules allow; a receiver
//! at an internal address is refused as for any webhook.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use truckroll_server::{
    governance::audit_key::{read_anchor, seal_once},
    sla::webhooks::{WebhookConfig, WebhookWorker},
};
use truckroll_tests::{TestBackend, app::TestApp};

backend_tests!(each_anchor_reaches_the_tenants_receiver_signed);

const KEY: &str = "k1:anchor-webhook-audit-key-0123456789ab";

type Received = Arc<Mutex<Vec<(String, String, String)>>>;

async fn hook(
    State(received): State<Received>,
    headers: HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    received.lock().expect("lock").push((
        header("truckroll-event-type"),
        header("truckroll-signature"),
        body,
    ));
    axum::http::StatusCode::NO_CONTENT
}

/// `t=…,v1=…` over `<t>.<body>` with the subscription's secret.
fn signed_by(secret: &str, header: &str, body: &str) -> bool {
    let mut parts = header.split(',').filter_map(|p| p.split_once('='));
    let (Some(("t", t)), Some(("v1", v1))) = (parts.next(), parts.next()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    hex::decode(v1).is_ok_and(|expected| mac.verify_slice(&expected).is_ok())
}

async fn each_anchor_reaches_the_tenants_receiver_signed(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.governance.audit_key = KEY.into();
        config.governance.audit_seal_interval_ms = 3_600_000;
        config.webhooks.worker_enabled = false;
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/anchors", listener.local_addr().expect("address"));
    let receiver = Router::new()
        .route("/anchors", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, receiver).await.expect("receiver") });

    let acme = app.create_tenant("acme").await;
    let quiet = app.create_tenant("quiet").await;
    let refused = app
        .post(
            "/v1/webhooks",
            &acme.admin_token,
            &json!({"url": "http://169.254.169.254/anchors", "events": ["audit.anchored"]}),
        )
        .await;
    super::assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "link-local");
    let created = app
        .post(
            "/v1/webhooks",
            &acme.admin_token,
            &json!({"url": url, "events": ["audit.anchored"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().expect("secret").to_owned();

    let worker = WebhookWorker::new(
        app.state.store.clone(),
        WebhookConfig {
            timeout_ms: 5_000,
            ..WebhookConfig::default()
        },
        app.state.egress.clone(),
    )
    .expect("worker");
    let keyring = app.config.governance.keyring().expect("keyring");
    for round in 0..2 {
        for tenant in [&acme, &quiet] {
            app.post(
                "/v1/customers",
                &tenant.admin_token,
                &json!({"name": format!("Customer {round}")}),
            )
            .await
            .expect(StatusCode::CREATED);
        }
        let sealed = seal_once(
            app.state.store.as_ref(),
            app.state.blobs.as_ref(),
            &keyring,
            Duration::from_secs(600),
            Utc::now(),
        )
        .await
        .expect("sealed");
        assert!(sealed > 0);
        while worker.run_once(Utc::now()).await.expect("round") > 0 {}

        let anchor = read_anchor(app.state.blobs.as_ref(), acme.id)
            .await
            .expect("read")
            .expect("an anchor");
        let got = received.lock().expect("lock").clone();
        assert_eq!(got.len(), round + 1, "one checkpoint per anchor: {got:?}");
        let (event, signature, body) = got.last().expect("delivered").clone();
        assert_eq!(event, "audit.anchored");
        assert!(signed_by(&secret, &signature, &body), "{signature}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["tenant_id"], json!(acme.id));
        assert_eq!(
            body["data"]["anchor"],
            serde_json::to_value(&anchor).expect("anchor"),
            "the checkpoint is the anchor in the blob store"
        );
    }
    let verified = app
        .get("/v1/audit/verify", &acme.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["valid"], json!(true), "{verified}");
}
