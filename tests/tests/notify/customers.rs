//! Customer notifications end to end: ticket writes through the API queue
//! messages; the email worker sends them to a real SMTP server (aiosmtpd,
//! `truckroll_tests::smtp`) and the SMS worker to a real HTTP peer (an axum
//! app in the test). Workers are driven with an explicit `now`
//! (`run_once`), so retries need no sleeps.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::{
    notify::{self, HttpSmsSender, NotifyConfig, Sender, SmsConfig, SmtpSender},
    outbox::Worker,
    store::{Store, notify::NoticeChannel},
};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
    smtp::SmtpSink,
};
use uuid::Uuid;

backend_tests!(
    each_event_sends_one_email_in_the_customers_language,
    an_smtp_outage_is_retried_when_the_server_is_back,
    opted_out_channels_get_nothing_and_sms_goes_to_the_provider,
    tenant_templates_override_the_defaults,
    racing_workers_send_each_message_once,
    a_refused_sms_is_a_dead_letter_in_the_timeline
);

async fn start(backend: TestBackend) -> TestApp {
    TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
        config.notify.public_base_url = "https://service.acme.test".into();
    })
    .await
}

fn policy(app: &TestApp) -> NotifyConfig {
    NotifyConfig {
        backoff_base_ms: 60_000,
        backoff_cap_ms: 600_000,
        max_attempts: 5,
        ..app.config.notify.clone()
    }
}

fn email_worker(app: &TestApp, sink: &SmtpSink) -> Worker<notify::NoticeOutbox> {
    let store: Arc<dyn Store> = app.state.store.clone();
    let sender: Arc<dyn Sender> = Arc::new(SmtpSender::new(&sink.config()).expect("smtp sender"));
    notify::worker(store, NoticeChannel::Email, sender, &policy(app))
}

/// Runs rounds at `now` until nothing is due; returns how many messages were claimed.
async fn drain(worker: &Worker<notify::NoticeOutbox>, now: DateTime<Utc>) -> usize {
    let mut claimed = 0;
    for _ in 0..100 {
        match worker.run_once(now).await.expect("round") {
            0 => return claimed,
            n => claimed += n,
        }
    }
    panic!("the worker never ran out of due messages");
}

async fn customer_of(app: &TestApp, shop: &Shop) -> Uuid {
    let site = app
        .get(
            &format!("/v1/sites/{}", shop.site),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    id_of(&site, "customer_id")
}

async fn set_contact(
    app: &TestApp,
    shop: &Shop,
    customer: Uuid,
    email: Option<&str>,
    phone: Option<&str>,
) {
    app.patch(
        &format!("/v1/customers/{customer}"),
        &shop.tenant.admin_token,
        &json!({"email": email, "phone": phone}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn set_preferences(app: &TestApp, shop: &Shop, customer: Uuid, preferences: Value) -> Value {
    app.send(
        Method::PUT,
        &format!("/v1/customers/{customer}/notify-preferences"),
        Some(&shop.tenant.admin_token),
        Some(&preferences),
    )
    .await
    .expect(StatusCode::OK)
}

async fn ticket(app: &TestApp, shop: &Shop, title: &str) -> (Uuid, String) {
    let body = json!({"title": title, "category": "hvac", "priority": "P3", "site_id": shop.site});
    let created = app
        .post("/v1/tickets", &shop.tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED);
    (
        id_of(&created, "id"),
        created["number"].as_str().expect("number").to_owned(),
    )
}

async fn step(app: &TestApp, shop: &Shop, id: Uuid, status: &str) {
    app.patch(
        &format!("/v1/tickets/{id}"),
        &shop.tech().token,
        &json!({"status": status}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn assign(app: &TestApp, shop: &Shop, id: Uuid) {
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &shop.tenant.admin_token,
        &json!({"technician_id": shop.tech().id}),
    )
    .await
    .expect(StatusCode::OK);
}

/// The ticket's notification entries in its timeline.
async fn notifications(app: &TestApp, shop: &Shop, id: Uuid) -> Vec<Value> {
    let timeline = app
        .get(
            &format!("/v1/tickets/{id}/timeline?kind=notification"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let entries = timeline["items"].as_array().cloned().unwrap_or_default();
    entries
        .into_iter()
        .filter(|e| e["kind"] == "notification")
        .collect()
}

async fn each_event_sends_one_email_in_the_customers_language(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    let customer = customer_of(&app, &shop).await;
    set_contact(&app, &shop, customer, Some("li.wei@hotel.test"), None).await;

    // Received while the customer reads English.
    let (id, number) = ticket(&app, &shop, "Boiler leaks").await;
    assert_eq!(drain(&worker, Utc::now()).await, 1);
    let first = sink.wait_for(1).await;
    assert_eq!(first[0].rcpt_tos, ["li.wei@hotel.test"]);
    assert_eq!(
        first[0].subject,
        format!("We received your request {number}")
    );
    assert!(
        first[0].body.contains("https://service.acme.test/track/"),
        "{}",
        first[0].body
    );
    assert!(
        first[0].from.contains("service@acme.test"),
        "{}",
        first[0].from
    );

    // The rest in Simplified Chinese.
    let preferences = set_preferences(
        &app,
        &shop,
        customer,
        json!({"locale": "zh-CN", "email_opt_out": false, "sms_opt_out": false}),
    )
    .await;
    assert_eq!(preferences["locale"], "zh-CN");
    assign(&app, &shop, id).await;
    step(&app, &shop, id, "accepted").await;
    step(&app, &shop, id, "en_route").await;
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &shop.tenant.admin_token,
        &json!({"body": "技术员十分钟后到达", "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);
    // Internal comments stay internal.
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &shop.tenant.admin_token,
        &json!({"body": "customer was rude", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    step(&app, &shop, id, "on_site").await;
    step(&app, &shop, id, "work_done").await;
    step(&app, &shop, id, "closed").await;

    assert_eq!(drain(&worker, Utc::now()).await, 5);
    let all = sink.wait_for(6).await;
    let subjects: Vec<&str> = all[1..].iter().map(|m| m.subject.as_str()).collect();
    for expected in [
        format!("工单 {number} 已指派技术员"),
        format!("技术员正在赶来（{number}）"),
        format!("工单 {number} 有新回复"),
        format!("工单 {number} 已完工"),
        format!("请评价本次服务（{number}）"),
    ] {
        assert_eq!(
            subjects.iter().filter(|s| **s == expected).count(),
            1,
            "one `{expected}` in {subjects:?}"
        );
    }
    let reply = all
        .iter()
        .find(|m| m.subject.contains("新回复"))
        .expect("reply mail");
    assert!(reply.body.contains("技术员十分钟后到达"), "{}", reply.body);
    assert!(!all.iter().any(|m| m.body.contains("rude")));
    let en_route = all
        .iter()
        .find(|m| m.subject.contains("赶来"))
        .expect("en route mail");
    assert!(
        en_route.body.contains("技术员Tech正在前往"),
        "{}",
        en_route.body
    );

    // Nothing is sent twice: later rounds find nothing, even much later.
    assert_eq!(drain(&worker, Utc::now() + Duration::days(1)).await, 0);
    assert_eq!(sink.received().len(), 6);

    // Every message is in the ticket's timeline, as sent.
    let entries = notifications(&app, &shop, id).await;
    assert_eq!(entries.len(), 6, "{entries:#?}");
    for entry in &entries {
        assert_eq!(entry["detail"]["state"], "sent", "{entry}");
        assert_eq!(entry["detail"]["channel"], "email");
        assert_eq!(entry["detail"]["last_status"], 250, "{entry}");
    }
    assert!(
        entries
            .iter()
            .any(|e| e["detail"]["subject"] == format!("工单 {number} 已完工"))
    );
    app.stop().await;
}

async fn an_smtp_outage_is_retried_when_the_server_is_back(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let mut sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    let customer = customer_of(&app, &shop).await;
    set_contact(&app, &shop, customer, Some("guest@hotel.test"), None).await;

    sink.stop().await;
    let (id, number) = ticket(&app, &shop, "No hot water").await;
    let now = Utc::now();
    assert_eq!(drain(&worker, now).await, 1);
    let entries = notifications(&app, &shop, id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["state"], "pending", "{entries:#?}");
    assert_eq!(entries[0]["detail"]["attempts"], 1);
    assert!(
        entries[0]["detail"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("smtp")),
        "{entries:#?}"
    );

    sink.resume().await;
    // Not before its backoff (at most the base, 60 s)…
    assert_eq!(drain(&worker, now).await, 0);
    // …then once.
    assert_eq!(drain(&worker, now + Duration::seconds(61)).await, 1);
    let received = sink.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].subject,
        format!("We received your request {number}")
    );
    assert_eq!(drain(&worker, now + Duration::days(1)).await, 0);
    let entries = notifications(&app, &shop, id).await;
    assert_eq!(entries[0]["detail"]["state"], "sent");
    assert_eq!(entries[0]["detail"]["attempts"], 2);
    app.stop().await;
}

/// A request the SMS provider got.
#[derive(Debug, Clone)]
struct Sms {
    authorization: String,
    body: Value,
}

#[derive(Debug, Default)]
struct Provider {
    failing: AtomicBool,
    received: Mutex<Vec<Sms>>,
}

async fn sms_endpoint(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    if body["to"] == "+0 invalid" {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid number"})),
        );
    }
    if provider.failing.load(Ordering::SeqCst) {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "busy"})),
        );
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    provider.received.lock().expect("lock").push(Sms {
        authorization,
        body,
    });
    (
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"id": "sms-1"})),
    )
}

async fn sms_provider() -> (Arc<Provider>, String) {
    let provider = Arc::new(Provider::default());
    let app = Router::new()
        .route("/messages", post(sms_endpoint))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("provider runs");
    });
    (provider, format!("http://{address}/messages"))
}

async fn opted_out_channels_get_nothing_and_sms_goes_to_the_provider(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let sink = SmtpSink::start().await;
    let email = email_worker(&app, &sink);
    let (provider, url) = sms_provider().await;
    let store: Arc<dyn Store> = app.state.store.clone();
    let sms_sender: Arc<dyn Sender> = Arc::new(
        HttpSmsSender::new(
            &SmsConfig {
                url,
                token: "sms-token".into(),
                from: "ACME".into(),
                ..SmsConfig::default()
            },
            &loopback_provider(),
        )
        .expect("sms sender"),
    );
    let sms = notify::worker(store, NoticeChannel::Sms, sms_sender, &policy(&app));
    let customer = customer_of(&app, &shop).await;
    set_contact(
        &app,
        &shop,
        customer,
        Some("guest@hotel.test"),
        Some("+49 30 1234567"),
    )
    .await;
    set_preferences(
        &app,
        &shop,
        customer,
        json!({"locale": "en", "email_opt_out": true, "sms_opt_out": false}),
    )
    .await;

    let (id, number) = ticket(&app, &shop, "Door jammed").await;
    // The provider is down once: retried after the backoff.
    provider.failing.store(true, Ordering::SeqCst);
    let now = Utc::now();
    assert_eq!(drain(&sms, now).await, 1);
    provider.failing.store(false, Ordering::SeqCst);
    assert_eq!(drain(&sms, now + Duration::seconds(61)).await, 1);
    assert_eq!(
        drain(&email, now + Duration::seconds(61)).await,
        0,
        "email is opted out"
    );
    let texts = provider.received.lock().expect("lock").clone();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].authorization, "Bearer sms-token");
    assert_eq!(texts[0].body["to"], "+49 30 1234567");
    assert_eq!(texts[0].body["from"], "ACME");
    assert!(
        texts[0].body["body"]
            .as_str()
            .is_some_and(|b| b.contains(&number)),
        "{:?}",
        texts[0]
    );

    // Opting out of SMS too: the next event reaches no one.
    set_preferences(
        &app,
        &shop,
        customer,
        json!({"locale": "en", "email_opt_out": true, "sms_opt_out": true}),
    )
    .await;
    assign(&app, &shop, id).await;
    assert_eq!(drain(&sms, now + Duration::days(1)).await, 0);
    assert_eq!(drain(&email, now + Duration::days(1)).await, 0);
    assert!(sink.received().is_empty());
    assert_eq!(notifications(&app, &shop, id).await.len(), 1);
    app.stop().await;
}

async fn tenant_templates_override_the_defaults(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let sink = SmtpSink::start().await;
    let worker = email_worker(&app, &sink);
    let customer = customer_of(&app, &shop).await;
    set_contact(&app, &shop, customer, Some("guest@hotel.test"), None).await;
    let admin = &shop.tenant.admin_token;
    let path = "/v1/notify/templates/ticket_received/en/email";

    let listed = app
        .get("/v1/notify/templates", admin)
        .await
        .expect(StatusCode::OK);
    // Every event (NoticeEvent::ALL) × email and SMS × English and Chinese.
    assert_eq!(listed.as_array().map(Vec::len), Some(11 * 2 * 2));
    app.get("/v1/notify/templates", &shop.tech().token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let broken = app
        .send(
            Method::PUT,
            path,
            Some(admin),
            Some(&json!({"subject": "{{ oops", "body": "x"})),
        )
        .await;
    broken.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.send(
        Method::PUT,
        path,
        Some(admin),
        Some(&json!({"subject": "Ticket {{ ticket_number }} is ours now", "body": "Dear {{ customer_name }}: {{ progress_url }}"})),
    )
    .await
    .expect(StatusCode::OK);

    let (_, number) = ticket(&app, &shop, "Window").await;
    drain(&worker, Utc::now()).await;
    let received = sink.wait_for(1).await;
    assert_eq!(received[0].subject, format!("Ticket {number} is ours now"));
    assert!(
        received[0]
            .body
            .starts_with("Dear Hotel: https://service.acme.test/track/"),
        "{}",
        received[0].body
    );

    app.send(Method::DELETE, path, Some(admin), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Method::DELETE, path, Some(admin), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let (_, second) = ticket(&app, &shop, "Door").await;
    drain(&worker, Utc::now()).await;
    let received = sink.wait_for(2).await;
    assert_eq!(
        received[1].subject,
        format!("We received your request {second}")
    );
    app.stop().await;
}

async fn racing_workers_send_each_message_once(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let sink = SmtpSink::start().await;
    let customer = customer_of(&app, &shop).await;
    set_contact(&app, &shop, customer, Some("guest@hotel.test"), None).await;
    let mut numbers = Vec::new();
    for i in 0..12 {
        numbers.push(ticket(&app, &shop, &format!("Job {i}")).await.1);
    }
    // Two replicas' workers, small batches, at the same time.
    let first = email_worker(&app, &sink).with_batch(3);
    let second = email_worker(&app, &sink).with_batch(3);
    let now = Utc::now();
    let (a, b) = tokio::join!(drain(&first, now), drain(&second, now));
    assert_eq!(a + b, 12, "claims: {a} + {b}");
    let received = sink.wait_for(12).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 12);
    for number in &numbers {
        let subject = format!("We received your request {number}");
        assert_eq!(
            received.iter().filter(|m| m.subject == subject).count(),
            1,
            "{subject}"
        );
    }
    app.stop().await;
}

async fn a_refused_sms_is_a_dead_letter_in_the_timeline(backend: TestBackend) {
    let app = start(backend).await;
    let shop = Shop::builder(&app, "acme").build().await;
    let (provider, url) = sms_provider().await;
    let store: Arc<dyn Store> = app.state.store.clone();
    let sender: Arc<dyn Sender> = Arc::new(
        HttpSmsSender::new(
            &SmsConfig {
                url,
                token: "t".into(),
                ..SmsConfig::default()
            },
            &loopback_provider(),
        )
        .expect("sender"),
    );
    let sms = notify::worker(store, NoticeChannel::Sms, sender, &policy(&app));
    let customer = customer_of(&app, &shop).await;
    set_contact(&app, &shop, customer, None, Some("+0 invalid")).await;
    let (id, _) = ticket(&app, &shop, "Leak").await;
    assert_eq!(drain(&sms, Utc::now()).await, 1);
    // Final at once: not retried, even much later.
    assert_eq!(drain(&sms, Utc::now() + Duration::days(1)).await, 0);
    assert!(provider.received.lock().expect("lock").is_empty());
    let entries = notifications(&app, &shop, id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["state"], "failed", "{entries:#?}");
    assert_eq!(entries[0]["detail"]["last_status"], 400);
    assert_eq!(entries[0]["detail"]["channel"], "sms");
    app.stop().await;
}

/// The fake SMS provider listens on loopback: allowed like an on-premises gateway.
fn loopback_provider() -> truckroll_server::egress::EgressPolicy {
    truckroll_server::egress::EgressPolicy::allowing(vec!["127.0.0.1/32".parse().expect("network")])
}
