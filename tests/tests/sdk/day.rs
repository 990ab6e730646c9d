//! A technician's day through the SDK, against a real server on SQLite and
//! PostgreSQL: location pings recorded offline arrive once, in order, in
//! batches, with their device times and accuracy (also when a batch's
//! answer was lost); a push-token rotation reaches the push worker (a
//! local peer plays FCM: the new token gets the next push, the old does
//! not; queued pushes move to the new token; signing out clears it); an
//! offer accepted offline is applied when the sync loop sees the network
//! again, one accepted after its window is refused as `Expired`; a comment
//! written offline arrives once even when the first answer is lost; the
//! availability set on the phone is what dispatch sees. The command-line
//! phone accepts an offer offline as the README's walk-through does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Json, Router, extract::State, routing::post};
use chrono::{SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use truckroll_sdk::{
    Availability, Backoff, Client, ClientConfig, CommentDelivery, CommentVisibility, LocationFix,
    OfferAnswer, OfferState, PingDecision,
};
use truckroll_server::{
    domain::people::{NewDevice, Platform, Role},
    push::{PushConfig, PushProvider, PushWorker, fcm::FcmNotifier},
    store::push::{PushContent, PushState},
};
use truckroll_tests::{
    TempGuard, TestBackend, TestDb,
    app::{PASSWORD, TestApp, TestTenant, id_of},
    fixtures::{CliPhone, PASSWORD_HASH, Shop, TenantFixture, new_user, phone_cli},
};
use uuid::Uuid;

use super::SDK_PHONE;

backend_tests!(
    pings_recorded_offline_arrive_once_in_order,
    push_token_rotation_reaches_the_push_worker,
    rotation_moves_queued_pushes_and_clearing_drops_them,
    offer_accepted_offline_is_applied_on_reconnect,
    offer_accepted_after_its_window_is_refused_as_expired,
    comment_written_offline_arrives_once,
    availability_from_the_phone_is_what_dispatch_sees,
    cli_phone_accepts_an_offer_offline,
);

// ---------------------------------------------------------------------------
// Fixture

async fn phone(app: &TestApp, dir: &TempGuard, tenant: &str, email: &str) -> Client {
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(tenant, email, PASSWORD)
        .await
        .expect("signs in");
    client
}

async fn phone_db(dir: &TempGuard) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.path().join("phone.db").display()
    ))
    .await
    .expect("phone database")
}

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 5,
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Auto-dispatch for hvac (offer to the best technician), and a new hvac
/// ticket at the shop's site; returns the ticket and its pending offer.
async fn offered_ticket(app: &TestApp, shop: &Shop) -> (Uuid, Uuid) {
    app.send(
        Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&shop.tenant.admin_token),
        Some(&json!({"mode": "offer_best"})),
    )
    .await
    .expect(StatusCode::OK);
    let body = json!({"title": "Chiller", "category": "hvac", "priority": "P2", "site_id": shop.site,
                      "required_skills": [{"skill": "hvac", "level": 2}]});
    let ticket = id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let offers = app
        .get(
            &format!("/v1/tickets/{ticket}/offers"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let offer = offers
        .as_array()
        .and_then(|o| o.iter().find(|o| o["state"] == "pending"))
        .unwrap_or_else(|| panic!("no pending offer: {offers}"));
    (ticket, id_of(offer, "id"))
}

async fn ticket_json(app: &TestApp, tenant: &TestTenant, ticket: Uuid) -> Value {
    app.get(&format!("/v1/tickets/{ticket}"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK)
}

// ---------------------------------------------------------------------------
// Location pings

async fn pings_recorded_offline_arrive_once_in_order(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "pings").build().await;
    let dir = TempGuard::new("truckroll-day-phone-");
    let client = phone(&app, &dir, &shop.tenant.name, &shop.tech().email).await;

    client
        .set_location_interval(Duration::from_secs(10))
        .await
        .expect("interval");
    client.set_online(false);
    // 1050 fixes 10 s apart over the last three hours, offered every 5 s:
    // every second one is not due yet and is not kept.
    let start = Utc::now().timestamp_millis() - 3 * 3600 * 1000;
    let mut kept = Vec::new();
    for i in 0..2100_i64 {
        let at = start + i * 5_000;
        let fix = LocationFix {
            lat: 52.5 + i as f64 * 1e-5,
            lon: 13.4,
            accuracy_m: 3.0 + (i % 7) as f64,
            speed_mps: Some(8.5),
            heading_deg: None,
            device_time_ms: Some(at),
        };
        match client.record_location(fix).await.expect("recorded") {
            PingDecision::Recorded { .. } => kept.push((at, fix.accuracy_m)),
            PingDecision::NotDue { next_due_ms } => {
                assert_eq!(i % 2, 1, "fix {i} should have been due");
                assert_eq!(next_due_ms, at + 5_000);
            }
        }
    }
    assert_eq!(kept.len(), 1050);
    let pending = client.pending_pings().await.expect("pending");
    assert_eq!(pending.len(), 1050);
    assert!(
        pending
            .windows(2)
            .all(|w| w[0].device_time_ms < w[1].device_time_ms)
    );
    // Offline, nothing leaves the phone.
    let report = client.flush_outboxes().await.expect("flush offline");
    assert_eq!((report.pings, report.waiting), (0, 1050), "{report:?}");

    // The first batch reaches the server but its answer is lost: the rows
    // keep their batch key and are sent again, as they were.
    type Row = (i64, f64, f64, f64, Option<f64>, Option<f64>);
    let first_batch: Vec<Row> = {
        let mut db = phone_db(&dir).await;
        sqlx::query(
            "UPDATE location_pings SET batch = 'lost-answer' WHERE seq IN (SELECT seq FROM location_pings ORDER BY seq LIMIT 500)",
        )
        .execute(&mut db)
        .await
        .expect("batch marked");
        sqlx::query_as(
            "SELECT device_time, lat, lon, accuracy_m, speed_mps, heading_deg FROM location_pings WHERE batch = 'lost-answer' ORDER BY seq",
        )
        .fetch_all(&mut db)
        .await
        .expect("rows")
    };
    client.set_online(true);
    let report = client.flush_outboxes().await.expect("flush");
    assert_eq!((report.pings, report.waiting), (1050, 0), "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    {
        let mut db = phone_db(&dir).await;
        for (at, lat, lon, accuracy, speed, heading) in &first_batch {
            sqlx::query(
                "INSERT INTO location_pings (device_time, lat, lon, accuracy_m, speed_mps, heading_deg, batch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'lost-answer')",
            )
            .bind(at)
            .bind(lat)
            .bind(lon)
            .bind(accuracy)
            .bind(speed)
            .bind(heading)
            .execute(&mut db)
            .await
            .expect("rows back");
        }
    }
    let report = client.flush_outboxes().await.expect("retry");
    assert_eq!((report.pings, report.waiting), (500, 0), "{report:?}");

    // Once each, in order, with the phone's times and accuracy.
    let trail = app
        .get(
            &format!(
                "/v1/technicians/{}/locations?from={}&to={}&limit=10000",
                shop.tech().id,
                rfc3339(start - 1000),
                rfc3339(Utc::now().timestamp_millis())
            ),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let trail = trail.as_array().expect("pings");
    assert_eq!(trail.len(), 1050, "each ping stored once");
    for (ping, (at, accuracy)) in trail.iter().zip(&kept) {
        let stored =
            chrono::DateTime::parse_from_rfc3339(ping["device_time"].as_str().expect("time"))
                .expect("rfc3339")
                .timestamp_millis();
        assert_eq!(stored, *at);
        assert_eq!(ping["accuracy_m"].as_f64(), Some(*accuracy));
    }
    // Sent oldest first: no older ping was received after a newer one, in
    // three batches (500, 500, 50).
    let raw = app.db.raw().await;
    let tech = [shop.tech().id];
    let out_of_order = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM technician_locations a JOIN technician_locations b \
             ON a.technician_id = b.technician_id AND a.device_time < b.device_time AND a.received_at > b.received_at \
             WHERE a.technician_id = $1",
            &tech,
        )
        .await;
    assert_eq!(out_of_order, 0);
    let batches = raw
        .scalar_i64(
            "SELECT COUNT(DISTINCT received_at) FROM technician_locations WHERE technician_id = $1",
            &tech,
        )
        .await;
    assert_eq!(batches, 3);
    raw.close().await;
    let technician = app
        .get(
            &format!("/v1/technicians/{}", shop.tech().id),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(technician["status"], "available");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Push tokens: a local peer plays Google's token endpoint and FCM

const PRIVATE_KEY: &str = include_str!("../../fixtures/push/test_only_service_account_key.pem");
const PROJECT: &str = "truckroll-test";

/// (token, data) of every message the fake received.
type Sent = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

#[derive(Debug, Clone, Default)]
struct FakeFcm {
    sent: Sent,
    base_url: String,
}

impl FakeFcm {
    async fn start() -> Self {
        let sent: Sent = Arc::default();
        let app = Router::new()
            .route(
                "/token",
                post(|| async {
                    Json(json!({"access_token": "access", "expires_in": 3599, "token_type": "Bearer"}))
                }),
            )
            .route(
                "/v1/projects/{project}/messages:send",
                post(
                    |State(sent): State<Sent>,
                     Json(body): Json<Value>| async move {
                        let message = &body["message"];
                        let data = serde_json::from_value(message["data"].clone()).unwrap_or_default();
                        let token = message["token"].as_str().unwrap_or_default().to_owned();
                        sent.lock().expect("fake").push((token, data));
                        Json(json!({"name": "projects/truckroll-test/messages/1"}))
                    },
                ),
            )
            .with_state(sent.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake FCM serves");
        });
        Self {
            sent,
            base_url: format!("http://{address}"),
        }
    }

    fn sent(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.sent.lock().expect("fake").clone()
    }

    /// The tokens that received a push about `ticket`, once the worker sent one.
    async fn tokens_for(&self, ticket: Uuid) -> Vec<String> {
        for _ in 0..600 {
            let tokens: Vec<String> = self
                .sent()
                .into_iter()
                .filter(|(_, data)| data.get("ticket_id") == Some(&ticket.to_string()))
                .map(|(token, _)| token)
                .collect();
            if !tokens.is_empty() {
                return tokens;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no push about ticket {ticket} reached FCM: {:?}",
            self.sent()
        );
    }

    fn key_json() -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "test-key-0001",
            "private_key": PRIVATE_KEY,
            "client_email": "truckroll-push@truckroll-test.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    fn config(&self, key_file: &std::path::Path) -> PushConfig {
        PushConfig {
            provider: PushProvider::Fcm,
            fcm_project_id: Some(PROJECT.into()),
            fcm_service_account_file: Some(key_file.to_owned()),
            fcm_base_url: self.base_url.clone(),
            token_url_override: Some(format!("{}/token", self.base_url)),
            max_attempts: 8,
            poll_interval_ms: 100,
        }
    }
}

async fn push_token_rotation_reaches_the_push_worker(backend: TestBackend) {
    let fcm = FakeFcm::start().await;
    let keys = TempGuard::new("truckroll-day-push-key-");
    let key_file = keys.path().join("service-account.json");
    std::fs::write(&key_file, FakeFcm::key_json()).expect("key file");
    let config = fcm.config(&key_file);
    let app = TestApp::start_with(backend, |c| c.push = config).await;
    let shop = Shop::builder(&app, "pushday").build().await;
    let dir = TempGuard::new("truckroll-day-phone-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    // The token the app has before signing in is registered with the device.
    client
        .set_push_token(Some("fcm-old"))
        .await
        .expect("token kept");
    let session = client
        .sign_in(&shop.tenant.name, &shop.tech().email, PASSWORD)
        .await
        .expect("signs in");
    assert_eq!(
        client.push_token().await.expect("state"),
        truckroll_sdk::PushTokenState {
            token: Some("fcm-old".into()),
            on_server: true
        }
    );
    let first = shop.assigned_ticket(&app, shop.tech().id).await;
    assert_eq!(fcm.tokens_for(first).await, vec!["fcm-old".to_owned()]);

    // Rotated offline: kept, sent when back online.
    client.set_online(false);
    let state = client
        .set_push_token(Some("fcm-new"))
        .await
        .expect("rotated");
    assert!(!state.on_server);
    client.set_online(true);
    let report = client.flush_outboxes().await.expect("flush");
    assert!(report.push_token, "{report:?}");
    assert!(client.push_token().await.expect("state").on_server);
    let second = shop.assigned_ticket(&app, shop.tech().id).await;
    assert_eq!(
        fcm.tokens_for(second).await,
        vec!["fcm-new".to_owned()],
        "the next push goes to the new token only"
    );

    // The API: someone else's device is not found; the token is required.
    let device_path = format!("/v1/devices/{}", session.device_id);
    app.patch(
        &device_path,
        &shop.tenant.admin_token,
        &json!({"push_token": "stolen"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.patch(&device_path, &shop.tech().token, &json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Signing out clears it on the server: no push for the next job.
    let signed_out = client.sign_out().await.expect("signs out");
    assert!(signed_out.push_token_cleared);
    let raw = app.db.raw().await;
    let device: Uuid = session.device_id.parse().expect("device id");
    assert_eq!(
        raw.scalar_text("SELECT push_token FROM devices WHERE id = $1", &[device])
            .await,
        None
    );
    let third = shop.assigned_ticket(&app, shop.tech().id).await;
    let queued = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM push_outbox WHERE device_id = $1 AND state <> 'failed'",
            &[device],
        )
        .await;
    assert_eq!(queued, 2, "only the two pushes before sign-out");
    raw.close().await;
    assert!(
        fcm.sent()
            .iter()
            .all(|(_, data)| data.get("ticket_id") != Some(&third.to_string()))
    );
    app.stop().await;
}

/// The store's side, driven one worker round at a time: pushes queued for
/// the old token go to the new one; clearing fails what is still queued.
async fn rotation_moves_queued_pushes_and_clearing_drops_them(db: &TestDb) {
    let fcm = FakeFcm::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "rotate").await;
    let user = db
        .store
        .create_user(
            tenant.actor(),
            &new_user("tech@rotate.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("user");
    let device = db
        .store
        .register_device(
            tenant.actor(),
            user.id,
            &NewDevice {
                platform: Platform::Android,
                push_token: Some("old".into()),
                actor_id: "0c0c0c0c0c0c0c0c".into(),
            },
        )
        .await
        .expect("device");
    let content = |n: &str| PushContent {
        title: n.to_owned(),
        body: n.to_owned(),
        data: BTreeMap::from([("ticket_id".to_owned(), n.to_owned())]),
    };
    let before = db
        .store
        .enqueue_push_for_user(tenant.tenant_id, user.id, &content("before"))
        .await
        .expect("queued");
    let rotated = db
        .store
        .set_device_push_token(tenant.actor(), user.id, device.id, Some("new"))
        .await
        .expect("rotated");
    assert_eq!(rotated.push_token.as_deref(), Some("new"));
    // Another user's device is not theirs to change.
    let other = db
        .store
        .set_device_push_token(tenant.actor(), Uuid::now_v7(), device.id, None)
        .await;
    assert!(matches!(
        other,
        Err(truckroll_server::store::StoreError::NotFound(_))
    ));

    let notifier = Arc::new(
        FcmNotifier::new(
            PROJECT,
            &fcm.base_url,
            Some(&format!("{}/token", fcm.base_url)),
            truckroll_server::push::fcm::ServiceAccount::from_json(&FakeFcm::key_json())
                .expect("key"),
        )
        .expect("notifier"),
    );
    let worker = PushWorker::new(db.store.clone(), notifier, 3);
    assert_eq!(
        worker
            .run_once(Utc::now() + chrono::Duration::seconds(1))
            .await
            .expect("round"),
        1
    );
    let sent = fcm.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "new", "the queued push went to the new token");
    assert_eq!(
        db.store
            .get_push(tenant.tenant_id, before[0])
            .await
            .expect("row")
            .state,
        PushState::Sent
    );

    let queued = db
        .store
        .enqueue_push_for_user(tenant.tenant_id, user.id, &content("cleared"))
        .await
        .expect("queued");
    db.store
        .set_device_push_token(tenant.actor(), user.id, device.id, None)
        .await
        .expect("cleared");
    assert_eq!(
        db.store
            .get_push(tenant.tenant_id, queued[0])
            .await
            .expect("row")
            .state,
        PushState::Failed
    );
    assert_eq!(
        worker
            .run_once(Utc::now() + chrono::Duration::seconds(1))
            .await
            .expect("round"),
        0
    );
    assert_eq!(fcm.sent().len(), 1);
}

// ---------------------------------------------------------------------------
// Offers

async fn offer_accepted_offline_is_applied_on_reconnect(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "offerday").skilled().build().await;
    let (ticket, offer) = offered_ticket(&app, &shop).await;
    let dir = TempGuard::new("truckroll-day-phone-");
    let client = Arc::new(phone(&app, &dir, &shop.tenant.name, &shop.tech().email).await);

    let listed = client.offers().await.expect("offers");
    assert!(listed.from_server);
    assert_eq!(listed.offers.len(), 1);
    assert_eq!(listed.offers[0].id, offer.to_string());
    assert_eq!(listed.offers[0].ticket_id, ticket.to_string());
    assert_eq!(listed.offers[0].state, OfferState::Pending);

    // Offline: the list is the phone's copy; the answer is queued.
    client.set_online(false);
    let looping = tokio::spawn(
        client
            .clone()
            .run_sync_loop(fast_backoff(), Duration::from_secs(3600)),
    );
    let cached = client.offers().await.expect("offline offers");
    assert!(!cached.from_server);
    assert_eq!(cached.offers.len(), 1);
    assert_eq!(
        client
            .accept_offer(&offer.to_string())
            .await
            .expect("answered"),
        OfferAnswer::Queued
    );
    assert_eq!(
        client.offers().await.expect("offers").offers[0].answer,
        Some(OfferAnswer::Queued)
    );
    assert_eq!(
        ticket_json(&app, &shop.tenant, ticket).await["status"],
        "new"
    );

    // Back online: the loop sends the answer, then syncs the ticket in.
    client.set_online(true);
    let mut arrived = false;
    for _ in 0..600 {
        if client
            .tickets()
            .await
            .expect("tickets")
            .iter()
            .any(|t| t.id == ticket.to_string())
        {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    looping.abort();
    assert!(arrived, "the accepted ticket did not arrive");
    let answers = client.offer_answers().await.expect("answers");
    assert_eq!(answers.len(), 1);
    assert_eq!(
        answers[0].outcome,
        OfferAnswer::Accepted {
            ticket_id: ticket.to_string()
        }
    );
    let server = ticket_json(&app, &shop.tenant, ticket).await;
    assert_eq!(server["status"], "accepted");
    assert_eq!(id_of(&server, "assignee_id"), shop.tech().id);

    // The answer to the first send was lost: the retry replays it.
    {
        let mut db = phone_db(&dir).await;
        sqlx::query("UPDATE offer_answers SET state = 'queued', outcome = NULL")
            .execute(&mut db)
            .await
            .expect("answer set back");
    }
    let report = client.flush_outboxes().await.expect("flush");
    assert_eq!(report.offer_answers, 1, "{report:?}");
    assert_eq!(
        client.offer_answers().await.expect("answers")[0].outcome,
        OfferAnswer::Accepted {
            ticket_id: ticket.to_string()
        }
    );
    let offers = app
        .get(
            &format!("/v1/tickets/{ticket}/offers"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(offers.as_array().map(Vec::len), Some(1));
    assert_eq!(offers[0]["state"], "accepted");
    app.stop().await;
}

async fn offer_accepted_after_its_window_is_refused_as_expired(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "lateoffer").skilled().build().await;
    let (ticket, offer) = offered_ticket(&app, &shop).await;
    let dir = TempGuard::new("truckroll-day-phone-");
    let client = phone(&app, &dir, &shop.tenant.name, &shop.tech().email).await;
    client.offers().await.expect("offers");

    client.set_online(false);
    assert_eq!(
        client
            .accept_offer(&offer.to_string())
            .await
            .expect("queued"),
        OfferAnswer::Queued
    );
    // The window closes while the phone is offline.
    let expired = app
        .state
        .offer_flow()
        .expire_due(Utc::now() + chrono::Duration::seconds(3600))
        .await
        .expect("timers");
    assert_eq!(expired, 1);

    client.set_online(true);
    let report = client.flush_outboxes().await.expect("flush");
    assert_eq!(report.offer_answers, 1, "{report:?}");
    let answers = client.offer_answers().await.expect("answers");
    assert_eq!(answers[0].outcome, OfferAnswer::Expired);
    // Answering again does not send again: the outcome stands.
    assert_eq!(
        client
            .accept_offer(&offer.to_string())
            .await
            .expect("answered"),
        OfferAnswer::Expired
    );
    let server = ticket_json(&app, &shop.tenant, ticket).await;
    assert_eq!(server["status"], "new");
    assert!(server["assignee_id"].is_null());

    // Over HTTP: a 409 that names the state.
    let reply = app
        .post(
            &format!("/v1/offers/{offer}/accept"),
            &shop.tech().token,
            &json!({}),
        )
        .await;
    reply.expect_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(reply.body["offer_state"], "expired");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Comments

async fn comment_written_offline_arrives_once(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let duty = Shop::on_duty(&app, "comments", 1, ("Pump", "P2")).await;
    let ticket = duty.tickets[0];
    let t = ticket.to_string();
    let dir = TempGuard::new("truckroll-day-phone-");
    let client = phone(&app, &dir, &duty.tenant().name, &duty.tech().email).await;
    client.sync_now().await.expect("sync");
    let path = format!("/v1/tickets/{ticket}/comments");
    app.post(
        &path,
        &duty.tenant().admin_token,
        &json!({"body": "Gate code 4711; ask for Mr. Weber.", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);

    let thread = client.comments(&t).await.expect("thread");
    assert!(thread.from_server);
    assert_eq!(thread.comments.len(), 1);
    assert_eq!(
        thread.comments[0].body,
        "Gate code 4711; ask for Mr. Weber."
    );

    // Offline: the thread is the phone's copy; a new comment is queued.
    client.set_online(false);
    let written = client
        .add_comment(
            &t,
            "Pump seized; replacement ordered.",
            CommentVisibility::Public,
        )
        .await
        .expect("written");
    assert_eq!(written.delivery, CommentDelivery::Queued);
    let thread = client.comments(&t).await.expect("offline thread");
    assert!(!thread.from_server);
    let deliveries: Vec<_> = thread.comments.iter().map(|c| c.delivery).collect();
    assert_eq!(deliveries, [CommentDelivery::Sent, CommentDelivery::Queued]);
    assert!(
        client
            .add_comment(&t, "   ", CommentVisibility::Internal)
            .await
            .is_err(),
        "an empty comment is refused on the phone"
    );

    client.set_online(true);
    let report = client.flush_outboxes().await.expect("flush");
    assert_eq!(report.comments, 1, "{report:?}");
    // The answer was lost: the retry replays the first comment.
    {
        let mut db = phone_db(&dir).await;
        sqlx::query("UPDATE comment_outbox SET state = 'queued', comment_id = NULL")
            .execute(&mut db)
            .await
            .expect("set back");
    }
    let report = client.flush_outboxes().await.expect("retry");
    assert_eq!(report.comments, 1, "{report:?}");

    let listed = app
        .get(&path, &duty.tenant().admin_token)
        .await
        .expect(StatusCode::OK);
    let bodies: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        [
            "Gate code 4711; ask for Mr. Weber.",
            "Pump seized; replacement ordered."
        ]
    );
    let mine = &listed["items"][1];
    assert_eq!(mine["visibility"], "public");
    assert_eq!(id_of(mine, "author_id"), duty.tech().user_id);
    let thread = client.comments(&t).await.expect("thread");
    assert_eq!(thread.comments.len(), 2);
    assert!(
        thread
            .comments
            .iter()
            .all(|c| c.delivery == CommentDelivery::Sent)
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Availability

async fn candidate_ids(app: &TestApp, shop: &Shop, ticket: Uuid) -> Vec<Uuid> {
    app.get(
        &format!("/v1/tickets/{ticket}/candidates?k=5"),
        &shop.tenant.admin_token,
    )
    .await
    .expect(StatusCode::OK)
    .as_array()
    .expect("candidates")
    .iter()
    .map(|c| id_of(c, "technician_id"))
    .collect()
}

async fn availability_from_the_phone_is_what_dispatch_sees(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "breaks")
        .skilled()
        .spaced(0.02)
        .technicians(2)
        .build()
        .await;
    let (near, far) = (shop.techs[0].id, shop.techs[1].id);
    let body = json!({"title": "Chiller", "category": "plumbing", "priority": "P2", "site_id": shop.site,
                      "required_skills": [{"skill": "hvac", "level": 2}]});
    let ticket = id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    assert_eq!(candidate_ids(&app, &shop, ticket).await, [near, far]);

    let dir = TempGuard::new("truckroll-day-phone-");
    let client = phone(&app, &dir, &shop.tenant.name, &shop.techs[0].email).await;
    client.set_online(false);
    let state = client
        .set_availability(Availability::OnBreak)
        .await
        .expect("set");
    assert_eq!(
        (state.status, state.on_server),
        (Availability::OnBreak, false)
    );
    assert_eq!(candidate_ids(&app, &shop, ticket).await, [near, far]);

    client.set_online(true);
    let report = client.flush_outboxes().await.expect("flush");
    assert!(report.availability, "{report:?}");
    assert!(
        client
            .availability()
            .await
            .expect("state")
            .expect("set")
            .on_server
    );
    let technician = app
        .get(&format!("/v1/technicians/{near}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(technician["status"], "on_break");
    assert_eq!(
        candidate_ids(&app, &shop, ticket).await,
        [far],
        "a technician on a break is not suggested"
    );
    // Auto-dispatch offers the next job to the one still available.
    let (_, offer) = offered_ticket(&app, &shop).await;
    let offers = app
        .get("/v1/me/offers", &shop.techs[1].token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(offers.as_array().map(Vec::len), Some(1));
    assert_eq!(id_of(&offers[0], "id"), offer);

    client
        .set_availability(Availability::Available)
        .await
        .expect("back");
    assert_eq!(candidate_ids(&app, &shop, ticket).await, [near, far]);
    let mine = app
        .get("/v1/me/availability", &shop.techs[0].token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["status"], "available");

    // Only the technician's own statuses, only by the technician.
    app.send(
        Method::PUT,
        "/v1/me/availability",
        Some(&shop.techs[0].token),
        Some(&json!({"status": "busy"})),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.send(
        Method::PUT,
        "/v1/me/availability",
        Some(&shop.tenant.admin_token),
        Some(&json!({"status": "on_break"})),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// The command-line phone, as in the README's walk-through

async fn cli_phone_accepts_an_offer_offline(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "clioffer").skilled().build().await;
    let phone = CliPhone::sign_in(
        SDK_PHONE,
        &app.base_url,
        &shop.tenant.name,
        &shop.tech().email,
    )
    .await;
    let (ticket, offer) = offered_ticket(&app, &shop).await;
    let (db, server) = (phone.db.clone(), app.base_url.clone());
    let offer_id = offer.to_string();
    let outputs = tokio::task::spawn_blocking(move || {
        let listed = phone_cli(SDK_PHONE, &db, &server, &["offers"]);
        // Offline: an address nobody answers at.
        let offline = "http://127.0.0.1:9";
        let cached = phone_cli(SDK_PHONE, &db, offline, &["offers"]);
        let accepted = phone_cli(SDK_PHONE, &db, offline, &["offer-accept", &offer_id]);
        let ping = phone_cli(
            SDK_PHONE,
            &db,
            offline,
            &[
                "ping",
                "--lat",
                "52.5163",
                "--lon",
                "13.3795",
                "--accuracy-m",
                "8",
            ],
        );
        let sent = phone_cli(SDK_PHONE, &db, &server, &["send"]);
        let synced = phone_cli(SDK_PHONE, &db, &server, &["sync"]);
        let answers = phone_cli(SDK_PHONE, &db, &server, &["offer-answers"]);
        [listed, cached, accepted, ping, sent, synced, answers]
    })
    .await
    .expect("cli");
    let json = |text: &str| serde_json::from_str::<Value>(text).expect("json output");
    let [listed, cached, accepted, ping, sent, synced, answers] = outputs.map(|o| json(&o));
    assert_eq!(listed["from_server"], true);
    assert_eq!(listed["offers"][0]["id"], offer.to_string());
    assert_eq!(cached["from_server"], false);
    assert_eq!(cached["offers"][0]["id"], offer.to_string());
    assert_eq!(accepted, json!({"outcome": "queued"}));
    assert_eq!(ping["decision"], "recorded");
    assert_eq!(sent["offer_answers"], 1, "{sent}");
    assert_eq!(sent["pings"], 1, "{sent}");
    assert_eq!(sent["waiting"], 0, "{sent}");
    assert!(
        synced["docs_added"]
            .as_array()
            .expect("docs_added")
            .contains(&json!(ticket.to_string())),
        "{synced}"
    );
    assert_eq!(
        answers[0]["outcome"],
        json!({"outcome": "accepted", "ticket_id": ticket.to_string()})
    );
    let server = ticket_json(&app, &shop.tenant, ticket).await;
    assert_eq!(server["status"], "accepted");
    app.stop().await;
}
