//! Webhooks out, end to end against a real HTTP receiver on 127.0.0.1 (an
//! axum app in the test). The delivery worker is driven with an explicit
//! `now` (`WebhookWorker::run_once`), so retries and backoff need no sleeps.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use truckroll_server::{
    sla::{
        SlaTimers,
        webhooks::{WebhookConfig, WebhookWorker},
    },
    store::Store,
};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    events_arrive_signed_and_in_order,
    a_failing_receiver_gets_each_event_once_in_order_after_recovering,
    dead_letters_after_the_budget_and_redelivery,
    subscriptions_are_admin_only_and_validated,
    sla_warning_and_breach_are_delivered,
    status_changes_synced_from_a_phone_are_delivered
);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    accepted: bool,
    event_id: String,
    event_type: String,
    signature: String,
    body: String,
}

#[derive(Debug, Default)]
struct Receiver {
    failing: AtomicBool,
    requests: Mutex<Vec<Received>>,
}

impl Receiver {
    fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.accepted).collect()
    }
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
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
    let accepted = !receiver.failing.load(Ordering::SeqCst);
    receiver.requests.lock().expect("lock").push(Received {
        accepted,
        event_id: header("truckroll-event-id"),
        event_type: header("truckroll-event-type"),
        signature: header("truckroll-signature"),
        body,
    });
    if accepted {
        axum::http::StatusCode::NO_CONTENT
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Starts a receiver on a loopback port; returns it and its URL.
async fn receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("receiver runs");
    });
    (receiver, format!("http://{address}/hook"))
}

/// Verifies `t=…,v1=…` over `<t>.<body>` with HMAC-SHA256, as the README
/// tells receivers to, independently of the server's code.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn worker(app: &TestApp, max_attempts: u32) -> WebhookWorker {
    let store: Arc<dyn Store> = app.state.store.clone();
    WebhookWorker::new(
        store,
        WebhookConfig {
            max_attempts,
            backoff_base_ms: 60_000,
            backoff_cap_ms: 600_000,
            timeout_ms: 5_000,
            ..WebhookConfig::default()
        },
        app.state.egress.clone(),
    )
    .expect("worker")
}

/// Runs rounds at `now` until nothing is due; returns the rounds that sent something.
async fn drain(worker: &WebhookWorker, now: DateTime<Utc>) -> usize {
    for rounds in 0..100 {
        if worker.run_once(now).await.expect("round") == 0 {
            return rounds;
        }
    }
    panic!("the worker never ran out of due deliveries");
}

/// The receivers run on loopback: an on-premises receiver the operator
/// allows (`[egress] allow`); internal addresses are refused otherwise.
async fn start(backend: TestBackend) -> TestApp {
    TestApp::start_with(backend, |config| {
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await
}

async fn subscribe(app: &TestApp, shop: &Shop, url: &str, events: &[&str]) -> (Uuid, String) {
    let created = app
        .post(
            "/v1/webhooks",
            &shop.tenant.admin_token,
            &json!({"url": url, "events": events}),
        )
        .await
        .expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    (id_of(&created, "id"), secret)
}

async fn ticket(app: &TestApp, shop: &Shop, title: &str) -> Uuid {
    let body = json!({"title": title, "category": "hvac", "priority": "P3", "site_id": shop.site});
    id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

/// Assign, then the technician's steps up to work done.
async fn work_through(app: &TestApp, shop: &Shop, id: Uuid) {
    let path = format!("/v1/tickets/{id}");
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &shop.tenant.admin_token,
        &json!({"technician_id": shop.tech().id}),
    )
    .await
    .expect(StatusCode::OK);
    for status in ["accepted", "en_route", "on_site", "work_done"] {
        app.patch(&path, &shop.tech().token, &json!({"status": status}))
            .await
            .expect(StatusCode::OK);
    }
}

const ALL: [&str; 6] = [
    "ticket.created",
    "ticket.assigned",
    "ticket.status_changed",
    "ticket.completed",
    "sla.warning",
    "sla.breached",
];

/// (type, status after) of each event of one ticket, in arrival order.
fn ticket_events(received: &[Received], ticket: Uuid) -> Vec<(String, String)> {
    received
        .iter()
        .filter_map(|r| {
            let body: Value = serde_json::from_str(&r.body).ok()?;
            let ticket_id = body["data"]["ticket"]["id"]
                .as_str()
                .or(body["data"]["ticket_id"].as_str())?;
            (ticket_id == ticket.to_string()).then(|| {
                (
                    r.event_type.clone(),
                    body["data"]["ticket"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
        })
        .collect()
}

fn expected_lifecycle() -> Vec<(String, String)> {
    [
        ("ticket.created", "new"),
        ("ticket.assigned", "assigned"),
        ("ticket.status_changed", "assigned"),
        ("ticket.status_changed", "accepted"),
        ("ticket.status_changed", "en_route"),
        ("ticket.status_changed", "on_site"),
        ("ticket.status_changed", "work_done"),
        ("ticket.completed", "work_done"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect()
}

async fn events_arrive_signed_and_in_order(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let (receiver, url) = receiver().await;
    let (_, secret) = subscribe(&app, &shop, &url, &ALL).await;
    let id = ticket(&app, &shop, "Chiller").await;
    work_through(&app, &shop, id).await;
    assert!(
        receiver.requests().is_empty(),
        "nothing is sent by the writes themselves"
    );
    drain(&worker(&app, 5), Utc::now()).await;
    let received = receiver.accepted();
    assert_eq!(ticket_events(&received, id), expected_lifecycle());
    for r in &received {
        assert!(
            verify(&secret, &r.signature, &r.body),
            "bad signature: {r:?}"
        );
        assert!(!verify("whsec_wrong", &r.signature, &r.body));
        let body: Value = serde_json::from_str(&r.body).expect("json body");
        assert_eq!(body["id"].as_str(), Some(r.event_id.as_str()));
        assert_eq!(body["type"].as_str(), Some(r.event_type.as_str()));
        assert_eq!(id_of(&body, "tenant_id"), shop.tenant.id);
    }
    // Tampering with the body breaks the signature.
    let first = &received[0];
    assert!(!verify(
        &secret,
        &first.signature,
        &first.body.replace("Chiller", "Boiler")
    ));
    let delivered = app
        .get(
            "/v1/webhooks/deliveries?state=delivered",
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(delivered.as_array().map(Vec::len), Some(received.len()));
    assert_eq!(delivered[0]["last_status"], 204);
    app.stop().await;
}

async fn a_failing_receiver_gets_each_event_once_in_order_after_recovering(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let (receiver, url) = receiver().await;
    subscribe(&app, &shop, &url, &ALL).await;
    receiver.failing.store(true, Ordering::SeqCst);
    let first = ticket(&app, &shop, "First").await;
    let second = ticket(&app, &shop, "Second").await;
    work_through(&app, &shop, first).await;
    work_through(&app, &shop, second).await;
    let worker = worker(&app, 10);
    let t0 = Utc::now();
    // Three rounds an hour apart while the receiver is down: only each
    // ticket's first event is ever tried, the rest wait behind it.
    for hour in 0..3 {
        worker
            .run_once(t0 + Duration::hours(hour))
            .await
            .expect("round");
    }
    let tried = receiver.requests();
    assert_eq!(tried.len(), 6, "two tickets × three attempts: {tried:?}");
    assert!(
        tried
            .iter()
            .all(|r| r.event_type == "ticket.created" && !r.accepted)
    );
    receiver.failing.store(false, Ordering::SeqCst);
    drain(&worker, t0 + Duration::hours(10)).await;
    let accepted = receiver.accepted();
    let mut per_event: HashMap<&str, usize> = HashMap::new();
    for r in &accepted {
        *per_event.entry(r.event_id.as_str()).or_default() += 1;
    }
    assert!(
        per_event.values().all(|&n| n == 1),
        "an event was accepted twice"
    );
    assert_eq!(accepted.len(), 16, "eight events per ticket");
    assert_eq!(ticket_events(&accepted, first), expected_lifecycle());
    assert_eq!(ticket_events(&accepted, second), expected_lifecycle());
    // Nothing left to send, however late.
    assert_eq!(drain(&worker, t0 + Duration::days(30)).await, 0);
    assert_eq!(receiver.accepted().len(), 16);
    app.stop().await;
}

async fn dead_letters_after_the_budget_and_redelivery(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (receiver, url) = receiver().await;
    let (subscription, secret) = subscribe(&app, &shop, &url, &["ticket.created"]).await;
    receiver.failing.store(true, Ordering::SeqCst);
    ticket(&app, &shop, "Doomed").await;
    let worker = worker(&app, 3);
    let t0 = Utc::now();
    for hour in 0..6 {
        worker
            .run_once(t0 + Duration::hours(hour))
            .await
            .expect("round");
    }
    assert_eq!(receiver.requests().len(), 3, "the budget is three attempts");
    let dead = app
        .get(
            &format!("/v1/webhooks/deliveries?state=dead&subscription_id={subscription}"),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    let dead = dead.as_array().expect("list").clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["last_status"], 503);
    assert_eq!(dead[0]["event_type"], "ticket.created");
    // A dead letter blocks nothing: the next event of another ticket flows.
    receiver.failing.store(false, Ordering::SeqCst);
    let delivery = id_of(&dead[0], "id");
    let again = app
        .post(
            &format!("/v1/webhooks/deliveries/{delivery}/redeliver"),
            &admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["state"], "pending");
    assert_eq!(again["attempts"], 0);
    // Redelivering a pending delivery is a conflict.
    app.post(
        &format!("/v1/webhooks/deliveries/{delivery}/redeliver"),
        &admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    drain(&worker, Utc::now() + Duration::seconds(1)).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        accepted[0].event_id,
        dead[0]["event_id"].as_str().unwrap_or_default()
    );
    assert!(verify(&secret, &accepted[0].signature, &accepted[0].body));
    let dead_now = app
        .get("/v1/webhooks/deliveries?state=dead", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(dead_now.as_array().map(Vec::len), Some(0));
    app.post(
        &format!("/v1/webhooks/deliveries/{}/redeliver", Uuid::now_v7()),
        &admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn subscriptions_are_admin_only_and_validated(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "d@acme.test", "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&shop.tenant, "m@acme.test", "manager")
        .await;
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]});
    for token in [&dispatcher, &manager, &shop.tech().token] {
        app.post("/v1/webhooks", token, &body)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
        app.get("/v1/webhooks", token)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    let bad = app
        .post(
            "/v1/webhooks",
            &admin,
            &json!({"url": "ftp://example.com", "events": ["ticket.created", "ticket.exploded"]}),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["url", "events[1]"]);
    let created = app
        .post("/v1/webhooks", &admin, &body)
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created, "id");
    let listed = app.get("/v1/webhooks", &admin).await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown only at creation"
    );
    let patched = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &admin,
            &json!({"active": false, "events": ["sla.breached"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["active"], false);
    assert_eq!(patched["events"], json!(["sla.breached"]));
    app.patch(
        &format!("/v1/webhooks/{id}"),
        &admin,
        &json!({"events": []}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/webhooks/{id}"), &admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn sla_warning_and_breach_are_delivered(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (receiver, url) = receiver().await;
    let (_, secret) = subscribe(&app, &shop, &url, &["sla.warning", "sla.breached"]).await;
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "Response", "targets": {"response_minutes": 30}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Chiller", "category": "hvac", "priority": "P2", "site_id": shop.site}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created, "id");
    let t0: DateTime<Utc> = created["created_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("created_at");
    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("timers");
    timers
        .run_once(t0 + Duration::minutes(23))
        .await
        .expect("warning");
    timers
        .run_once(t0 + Duration::minutes(31))
        .await
        .expect("breach");
    drain(&worker(&app, 5), Utc::now()).await;
    let received = receiver.accepted();
    let kinds: Vec<(String, u64)> = received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).expect("json");
            assert_eq!(id_of(&body["data"], "ticket_id"), id);
            assert!(verify(&secret, &r.signature, &r.body));
            (
                r.event_type.clone(),
                body["data"]["notice"]["threshold"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sla.warning".to_owned(), 75),
            ("sla.warning".to_owned(), 90),
            ("sla.breached".to_owned(), 100)
        ]
    );
    app.stop().await;
}

/// A phone's one-shot sync (`POST /v1/sync`) until it has nothing to send:
/// the document set arrives, local events go up (see tests/tests/api/sync.rs
/// for the full phone).
async fn phone_sync(
    app: &TestApp,
    token: &str,
    device_id: Uuid,
    actor: &truckroll_sync::ActorId,
    docs: &mut HashMap<String, (truckroll_sync::TicketDoc, truckroll_sync::SyncState)>,
) {
    use truckroll_sync::protocol::{Exchange, Message};
    for _ in 0..8 {
        let mut frames = vec![Message::Hello {
            version: 1,
            device_id: device_id.to_string(),
        }];
        for (id, (doc, state)) in docs.iter_mut() {
            if let Some(data) = doc.generate_sync_message(state) {
                frames.push(Message::Sync {
                    doc_id: id.clone(),
                    data,
                });
            }
        }
        let body: Value = serde_json::from_str(&Exchange { frames }.encode()).expect("json");
        let reply = app
            .post("/v1/sync", token, &body)
            .await
            .expect(StatusCode::OK);
        for frame in Exchange::decode(&reply.to_string())
            .expect("exchange")
            .frames
        {
            match frame {
                Message::DocAdded { doc_id } => {
                    docs.entry(doc_id.clone()).or_insert_with(|| {
                        (
                            truckroll_sync::TicketDoc::new(&doc_id, actor.clone())
                                .expect("skeleton"),
                            truckroll_sync::SyncState::new(),
                        )
                    });
                }
                Message::Sync { doc_id, data } => {
                    if let Some((doc, state)) = docs.get_mut(&doc_id) {
                        doc.receive_sync_message(state, &data)
                            .expect("server message applies");
                    }
                }
                Message::Error { detail, .. } => panic!("sync refused: {detail}"),
                _ => {}
            }
        }
        let idle = docs
            .values()
            .all(|(doc, state)| doc.generate_sync_message(&mut state.clone()).is_none());
        if idle {
            return;
        }
    }
    panic!("sync did not converge in eight exchanges");
}

/// Status changes made on a phone and projected by `POST /v1/sync` queue
/// `ticket.status_changed` (and `ticket.completed` at work done) in the
/// projection's transaction, like the REST writes: each once, in order.
async fn status_changes_synced_from_a_phone_are_delivered(backend: TestBackend) {
    use truckroll_sync::{ActorId, StatusAction};
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let (receiver, url) = receiver().await;
    let (_, secret) = subscribe(&app, &shop, &url, &ALL).await;
    let id = ticket(&app, &shop, "Chiller").await;
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &shop.tenant.admin_token,
        &json!({"technician_id": shop.tech().id}),
    )
    .await
    .expect(StatusCode::OK);
    let actor = ActorId::random();
    let device = app
        .post(
            "/v1/devices",
            &shop.tech().token,
            &json!({"platform": "android", "actor_id": actor.to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let device_id = id_of(&device, "id");
    let mut docs = HashMap::new();
    phone_sync(&app, &shop.tech().token, device_id, &actor, &mut docs).await;
    // Offline on the phone: accept, travel, check in, then sync once; then
    // work done in a second sync.
    // Device times just after the assignment (its status history entry is
    // at the row's `updated_at`): distinct from any sync time, and after
    // every server step however long the assignment took.
    let created = app
        .get(&format!("/v1/tickets/{id}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)["updated_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .expect("created_at")
        .timestamp_millis();
    let now = created + 50;
    {
        let (doc, _) = docs
            .get_mut(&id.to_string())
            .expect("phone holds the ticket");
        for (action, at) in [
            (StatusAction::Accept, now - 40),
            (StatusAction::StartTravel, now - 30),
            (StatusAction::CheckIn, now - 20),
        ] {
            let event = doc.stamp_event(action, at);
            doc.append_event(&event).expect("event");
        }
    }
    phone_sync(&app, &shop.tech().token, device_id, &actor, &mut docs).await;
    {
        let (doc, _) = docs
            .get_mut(&id.to_string())
            .expect("phone holds the ticket");
        let event = doc.stamp_event(StatusAction::CompleteWork, now - 10);
        doc.append_event(&event).expect("event");
    }
    phone_sync(&app, &shop.tech().token, device_id, &actor, &mut docs).await;
    let seen = app
        .get(&format!("/v1/tickets/{id}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "work_done");
    assert!(
        receiver.requests().is_empty(),
        "nothing is sent by the sync itself"
    );
    // The SLA clock counts the field steps when they happened on the phone,
    // not when they synced.
    app.post(
        "/v1/sla/policies",
        &shop.tenant.admin_token,
        &json!({"name": "All", "targets": {"response_minutes": 60, "arrival_minutes": 120,
                "resolution_minutes": 240}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let seen = app
        .get(&format!("/v1/tickets/{id}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let met_at = |target: &str| {
        seen["sla"][target]["met_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let device = DateTime::from_timestamp_millis;
    assert_eq!(met_at("response"), device(now - 40), "{seen:#}");
    assert_eq!(met_at("arrival"), device(now - 20), "{seen:#}");
    assert_eq!(met_at("resolution"), device(now - 10), "{seen:#}");

    drain(&worker(&app, 5), Utc::now()).await;
    let received = receiver.accepted();
    let events = ticket_events(&received, id);
    let expected: Vec<(String, String)> = [
        ("ticket.created", "new"),
        ("ticket.assigned", "assigned"),
        ("ticket.status_changed", "assigned"),
        // The first sync folds three offline events into one projection.
        ("ticket.status_changed", "on_site"),
        ("ticket.status_changed", "work_done"),
        ("ticket.completed", "work_done"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(events, expected);
    for r in &received {
        assert!(
            verify(&secret, &r.signature, &r.body),
            "bad signature: {r:?}"
        );
    }
    let on_site: Value = received
        .iter()
        .filter(|r| r.event_type == "ticket.status_changed")
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .find(|b| b["data"]["ticket"]["status"] == "on_site")
        .expect("on_site change");
    assert_eq!(on_site["data"]["previous_status"], "assigned");
    app.stop().await;
}
