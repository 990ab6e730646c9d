//! SSRF: webhook receivers at internal addresses are refused when they are
//! registered and again at every send (a name may resolve elsewhere later);
//! `[egress] allow` lets an operator reach an on-premises receiver.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, extract::State, routing::post};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::{
    egress::EgressPolicy,
    sla::webhooks::{WebhookConfig, WebhookWorker},
    store::Store,
};
use truckroll_tests::{TestBackend, app::TestApp, fixtures::Shop};

backend_tests!(
    internal_webhook_urls_are_refused_however_written,
    deliveries_to_internal_addresses_are_never_sent,
    the_allow_list_lets_an_on_premises_receiver_in,
);

const INTERNAL: &[&str] = &[
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://2130706433:8080/hook",
    "http://0x7f.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://localhost:8080/hook",
    "http://10.0.0.7/hook",
    "http://192.168.1.10/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0:8080/hook",
    "http://224.0.0.1/hook",
];

async fn internal_webhook_urls_are_refused_however_written(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.webhooks.worker_enabled = false).await;
    let tenant = app.create_tenant("ssrf").await;
    let admin = &tenant.admin_token;
    for url in INTERNAL {
        let reply = app
            .post(
                "/v1/webhooks",
                admin,
                &json!({"url": url, "events": ["ticket.created"]}),
            )
            .await;
        super::assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, url);
        assert_eq!(
            reply.body["errors"][0]["field"], "url",
            "{url}: {}",
            reply.body
        );
    }
    // The server's own API is internal too.
    let own = format!("{}/v1/tickets", app.base_url);
    let reply = app
        .post(
            "/v1/webhooks",
            admin,
            &json!({"url": own, "events": ["ticket.created"]}),
        )
        .await;
    super::assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, &own);
    let webhooks = app.get("/v1/webhooks", admin).await.expect(StatusCode::OK);
    assert_eq!(webhooks, json!([]), "nothing was registered");
    app.stop().await;
}

/// A receiver counting the requests it gets.
async fn counting_receiver() -> (Arc<AtomicUsize>, u16) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/hook",
            post(|State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("receiver runs");
    });
    (hits, port)
}

fn worker(app: &TestApp, egress: EgressPolicy) -> WebhookWorker {
    let store: Arc<dyn Store> = app.state.store.clone();
    WebhookWorker::new(
        store,
        WebhookConfig {
            max_attempts: 3,
            timeout_ms: 5_000,
            ..WebhookConfig::default()
        },
        egress,
    )
    .expect("worker")
}

/// Subscriptions stored before this check existed (or whose name resolved
/// publicly when registered) still reach nothing internal: the address
/// literal is checked at send time, a name through the client's resolver.
async fn deliveries_to_internal_addresses_are_never_sent(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.webhooks.worker_enabled = false).await;
    let shop = Shop::builder(&app, "rebind").build().await;
    let (hits, port) = counting_receiver().await;
    let store = app.state.store.clone();
    let actor = truckroll_server::store::Actor {
        tenant_id: shop.tenant.id,
        user_id: Some(shop.tenant.admin_id),
    };
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
    ] {
        store
            .create_webhook(
                actor,
                &url,
                &["ticket.created".to_owned()],
                true,
                "whsec_test",
            )
            .await
            .expect("stored as an old subscription would be");
    }
    shop.ticket(&app, "P3").await;
    let worker = worker(&app, EgressPolicy::default());
    let mut rounds = 0;
    while worker.run_once(Utc::now()).await.expect("round") > 0 {
        rounds += 1;
        assert!(rounds < 20, "the worker never ran out of deliveries");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "an internal receiver was reached"
    );
    let dead = app
        .get(
            "/v1/webhooks/deliveries?state=dead",
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let items = dead.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{dead}");
    for item in &items {
        let error = item["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("destination refused"), "{item}");
        assert!(
            !error.contains(&port.to_string()),
            "the port leaks: {error}"
        );
    }
    app.stop().await;
}

async fn the_allow_list_lets_an_on_premises_receiver_in(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.webhooks.worker_enabled = false;
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let shop = Shop::builder(&app, "onprem").build().await;
    let (hits, port) = counting_receiver().await;
    app.post(
        "/v1/webhooks",
        &shop.tenant.admin_token,
        &json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["ticket.created"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    // Not the rest of the loopback range, not IPv6 loopback.
    for url in ["http://127.0.0.2:9/hook", "http://[::1]:9/hook"] {
        let reply = app
            .post(
                "/v1/webhooks",
                &shop.tenant.admin_token,
                &json!({"url": url, "events": ["ticket.created"]}),
            )
            .await;
        super::assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, url);
    }
    shop.ticket(&app, "P3").await;
    let worker = worker(&app, app.state.egress.clone());
    while worker.run_once(Utc::now()).await.expect("round") > 0 {}
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    app.stop().await;
}
