//! FCM push against a local HTTP peer playing both Google's OAuth2 token
//! endpoint and the FCM HTTP v1 API. The worker is driven one round at a
//! time (`PushWorker::run_once`) with an explicit clock, so retry schedules
//! are read from the outbox instead of waited for.
//!
//! The service-account key is a test-only RSA key committed under
//! `tests/fixtures/push/` (see its README); it belongs to no Google project.
//!
//! Store-driven tests run on SQLite and PostgreSQL (`name::sqlite`,
//! `name::postgres`).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    routing::post,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use truckroll_server::{
    config::{Config, ConfigError},
    domain::people::{NewDevice, Platform, Role},
    push::{
        BACKOFF_BASE, Notifier, PushConfig, PushProvider, PushWorker,
        fcm::{FCM_SCOPE, FcmNotifier, GrantClaims, JWT_BEARER_GRANT, ServiceAccount},
    },
    store::push::{NewPush, OutboxPush, PushContent, PushState},
};
use truckroll_tests::{
    TempGuard, TestBackend, TestDb,
    app::{TestApp, id_of},
    fixtures::{PASSWORD_HASH, TenantFixture, new_user},
};
use uuid::Uuid;

backend_tests!(
    grant_is_signed_and_the_token_is_cached,
    messages_follow_the_v1_schema,
    retry_after_is_honoured,
    unregistered_token_is_removed_from_the_device,
    server_errors_back_off_until_max_attempts_then_fail,
    client_errors_fail_at_once,
    refused_access_token_is_replaced,
    token_endpoint_failure_is_retried,
);

// ---------------------------------------------------------------------------
// The fake Google

const PRIVATE_KEY: &str = include_str!("../../fixtures/push/test_only_service_account_key.pem");
const PUBLIC_KEY: &str = include_str!("../../fixtures/push/test_only_service_account_key.pub.pem");
const CLIENT_EMAIL: &str = "truckroll-push@truckroll-test.iam.gserviceaccount.com";
/// The key file's `token_uri`: the JWT audience. Requests go to the fake
/// through `token_url_override`.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const KEY_ID: &str = "test-key-0001";
const PROJECT: &str = "truckroll-test";

/// One scripted answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    retry_after: Option<&'static str>,
    body: Value,
}

impl Answer {
    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            retry_after: None,
            body,
        }
    }

    fn fcm_error(status: u16, code: &str, error_code: Option<&str>) -> Self {
        let details = match error_code {
            Some(error_code) => json!([{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }]),
            None => json!([]),
        };
        Self::new(
            status,
            json!({"error": {"code": status, "message": format!("fake {code}"), "status": code, "details": details}}),
        )
    }
}

#[derive(Debug, Clone)]
struct Sent {
    project: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Debug, Default)]
struct Recorded {
    token_requests: Vec<HashMap<String, String>>,
    token_answers: VecDeque<Answer>,
    sends: Vec<Sent>,
    send_answers: VecDeque<Answer>,
}

type Shared = Arc<Mutex<Recorded>>;

#[derive(Debug, Clone)]
struct FakeGoogle {
    recorded: Shared,
    base_url: String,
}

impl FakeGoogle {
    async fn start() -> Self {
        let recorded = Shared::default();
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .route("/v1/projects/{project}/messages:send", post(send_endpoint))
            .with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Google serves");
        });
        Self {
            recorded,
            base_url: format!("http://{address}"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().expect("fake state")
    }

    /// FCM answers these, in order, before going back to 200.
    fn answer_sends(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().send_answers.extend(answers);
    }

    fn answer_tokens(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().token_answers.extend(answers);
    }

    fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.lock().token_requests.clone()
    }

    fn sends(&self) -> Vec<Sent> {
        self.lock().sends.clone()
    }

    fn config(&self, key_file: &std::path::Path) -> PushConfig {
        PushConfig {
            provider: PushProvider::Fcm,
            fcm_project_id: Some(PROJECT.into()),
            fcm_service_account_file: Some(key_file.to_owned()),
            fcm_base_url: self.base_url.clone(),
            token_url_override: Some(format!("{}/token", self.base_url)),
            max_attempts: 8,
            poll_interval_ms: 1000,
        }
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(
            FcmNotifier::new(
                PROJECT,
                &self.base_url,
                Some(&format!("{}/token", self.base_url)),
                ServiceAccount::from_json(&service_account_json()).expect("key file"),
            )
            .expect("notifier"),
        )
    }
}

async fn token_endpoint(
    State(recorded): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let mut recorded = recorded.lock().expect("fake state");
    recorded.token_requests.push(form);
    let n = recorded.token_requests.len();
    match recorded.token_answers.pop_front() {
        Some(answer) => (status(answer.status), Json(answer.body)),
        None => (
            StatusCode::OK,
            Json(
                json!({"access_token": format!("access-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
            ),
        ),
    }
}

async fn send_endpoint(
    State(recorded): State<Shared>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, HeaderMap, Json<Value>) {
    let mut recorded = recorded.lock().expect("fake state");
    recorded.sends.push(Sent {
        project: project.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    });
    let n = recorded.sends.len();
    let mut reply_headers = HeaderMap::new();
    match recorded.send_answers.pop_front() {
        Some(answer) => {
            if let Some(retry_after) = answer.retry_after {
                reply_headers.insert("retry-after", HeaderValue::from_static(retry_after));
            }
            (status(answer.status), reply_headers, Json(answer.body))
        }
        None => (
            StatusCode::OK,
            reply_headers,
            Json(json!({"name": format!("projects/{project}/messages/{n}")})),
        ),
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("valid status")
}

fn service_account_json() -> String {
    json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": PRIVATE_KEY,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": TOKEN_URI,
    })
    .to_string()
}

/// The key file in a temp dir (removed with the guard).
fn key_file() -> (TempGuard, std::path::PathBuf) {
    let dir = TempGuard::new("truckroll-push-key-");
    let path = dir.path().join("service-account.json");
    std::fs::write(&path, service_account_json()).expect("write key file");
    (dir, path)
}

// ---------------------------------------------------------------------------
// Outbox helpers

/// Now, at the microsecond precision the databases keep.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6) + Duration::seconds(1)
}

fn content(title: &str) -> PushContent {
    PushContent {
        title: title.to_owned(),
        body: format!("{title}, body"),
        data: BTreeMap::from([
            ("type".to_owned(), "ticket.assigned".to_owned()),
            (
                "ticket_id".to_owned(),
                "0190aaaa-0000-7000-8000-000000000001".to_owned(),
            ),
        ]),
    }
}

async fn enqueue(db: &TestDb, tenant: &TenantFixture, token: &str, title: &str) -> Uuid {
    db.store
        .enqueue_push(
            tenant.tenant_id,
            &NewPush {
                user_id: None,
                device_id: None,
                token: token.to_owned(),
                content: content(title),
            },
        )
        .await
        .expect("enqueue")
}

async fn row(db: &TestDb, tenant: &TenantFixture, id: Uuid) -> OutboxPush {
    db.store
        .get_push(tenant.tenant_id, id)
        .await
        .expect("outbox row")
}

/// A technician user with one phone registered under `token`; returns
/// (user id, device id).
async fn technician_with_phone(db: &TestDb, tenant: &TenantFixture, token: &str) -> (Uuid, Uuid) {
    let user = db
        .store
        .create_user(
            tenant.actor(),
            &new_user(&format!("{token}@acme.example"), Role::Technician),
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
                push_token: Some(token.to_owned()),
                actor_id: Uuid::new_v4().simple().to_string(),
            },
        )
        .await
        .expect("device");
    (user.id, device.id)
}

async fn device_token(db: &TestDb, device: Uuid) -> Option<String> {
    let raw = db.raw().await;
    let token = raw
        .scalar_text("SELECT push_token FROM devices WHERE id = $1", &[device])
        .await;
    raw.close().await;
    token
}

fn worker(db: &TestDb, fake: &FakeGoogle, max_attempts: u32) -> PushWorker {
    PushWorker::new(db.store.clone(), fake.notifier(), max_attempts)
}

// ---------------------------------------------------------------------------
// Tests

async fn grant_is_signed_and_the_token_is_cached(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    // Through the configuration, as the server builds it.
    let (_dir, key_path) = key_file();
    let config = fake.config(&key_path);
    config.validate().expect("valid push configuration");
    let notifier: Arc<dyn Notifier> =
        Arc::new(FcmNotifier::from_config(&config).expect("notifier from config"));
    let worker = PushWorker::new(db.store.clone(), notifier, config.max_attempts);

    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(enqueue(db, &tenant, &format!("token-{n}"), "Hi").await);
    }
    let issued_around = jsonwebtoken::get_current_timestamp();
    assert_eq!(worker.run_once(now()).await.expect("round"), 4);

    let grants = fake.token_requests();
    assert_eq!(
        grants.len(),
        1,
        "one token for concurrent sends: {grants:?}"
    );
    let grant = &grants[0];
    assert_eq!(
        grant.get("grant_type").map(String::as_str),
        Some(JWT_BEARER_GRANT)
    );
    assert_eq!(grant.len(), 2, "only grant_type and assertion: {grant:?}");
    let assertion = grant.get("assertion").expect("assertion");

    let header = jsonwebtoken::decode_header(assertion).expect("JWT header");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(KEY_ID));
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[TOKEN_URI]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("public key");
    let claims = jsonwebtoken::decode::<GrantClaims>(assertion, &key, &validation)
        .expect("signature verifies with the service account's public key")
        .claims;
    assert_eq!(claims.iss, CLIENT_EMAIL);
    assert_eq!(claims.scope, FCM_SCOPE);
    assert_eq!(claims.aud, TOKEN_URI);
    assert!(claims.iat.abs_diff(issued_around) <= 60, "iat {claims:?}");
    assert!(
        claims.exp > claims.iat && claims.exp - claims.iat <= 3600,
        "{claims:?}"
    );

    // A grant signed with another key is refused by the same check.
    let mut tampered = assertion.clone();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    assert!(jsonwebtoken::decode::<GrantClaims>(&tampered, &key, &validation).is_err());

    let sends = fake.sends();
    assert_eq!(sends.len(), 4);
    for sent in &sends {
        assert_eq!(sent.project, PROJECT);
        assert_eq!(sent.authorization.as_deref(), Some("Bearer access-1"));
    }
    for id in &ids {
        assert_eq!(row(db, &tenant, *id).await.state, PushState::Sent);
    }

    // Later rounds keep using the cached token.
    enqueue(db, &tenant, "token-late", "Again").await;
    assert_eq!(worker.run_once(now()).await.expect("round"), 1);
    assert_eq!(fake.token_requests().len(), 1, "token reused");
    assert_eq!(
        fake.sends()[4].authorization.as_deref(),
        Some("Bearer access-1")
    );
}

async fn messages_follow_the_v1_schema(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    enqueue(db, &tenant, "device-token-xyz", "New assignment").await;
    assert_eq!(
        worker(db, &fake, 8).run_once(now()).await.expect("round"),
        1
    );
    let sends = fake.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].body,
        json!({
            "message": {
                "token": "device-token-xyz",
                "notification": {"title": "New assignment", "body": "New assignment, body"},
                "data": {
                    "type": "ticket.assigned",
                    "ticket_id": "0190aaaa-0000-7000-8000-000000000001",
                },
                "android": {"priority": "high"},
            }
        })
    );
    // Every data value is a string, as FCM requires.
    let data = sends[0].body["message"]["data"]
        .as_object()
        .expect("data map");
    assert!(data.values().all(Value::is_string));
}

async fn retry_after_is_honoured(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let id = enqueue(db, &tenant, "busy-token", "Hi").await;
    fake.answer_sends([Answer {
        retry_after: Some("2"),
        ..Answer::fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"))
    }]);
    let worker = worker(db, &fake, 8);
    let t0 = now();
    assert_eq!(worker.run_once(t0).await.expect("round"), 1);

    let push = row(db, &tenant, id).await;
    assert_eq!(push.state, PushState::Pending);
    assert_eq!(push.attempts, 1);
    assert_eq!(
        push.next_attempt_at,
        t0 + Duration::seconds(2),
        "Retry-After: 2"
    );
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("429")),
        "{push:?}"
    );

    // Not due before the provider allowed; due (and delivered) after.
    assert_eq!(
        worker
            .run_once(t0 + Duration::milliseconds(1999))
            .await
            .expect("round"),
        0
    );
    assert_eq!(
        worker
            .run_once(t0 + Duration::seconds(2))
            .await
            .expect("round"),
        1
    );
    let push = row(db, &tenant, id).await;
    assert_eq!(push.state, PushState::Sent);
    assert_eq!(push.attempts, 2);
    assert_eq!(fake.sends().len(), 2);
}

async fn unregistered_token_is_removed_from_the_device(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let (stale_user, stale_device) = technician_with_phone(db, &tenant, "stale-token").await;
    let (_, fresh_device) = technician_with_phone(db, &tenant, "fresh-token").await;
    // Two messages for the stale phone; the first answer is enough.
    let first = db
        .store
        .enqueue_push_for_user(tenant.tenant_id, stale_user, &content("One"))
        .await
        .expect("enqueue")[0];
    let second = db
        .store
        .enqueue_push_for_user(tenant.tenant_id, stale_user, &content("Two"))
        .await
        .expect("enqueue")[0];
    fake.answer_sends([Answer::fcm_error(404, "NOT_FOUND", Some("UNREGISTERED"))]);
    let worker = worker(db, &fake, 8).with_batch(1);
    let t0 = now();
    assert_eq!(worker.run_once(t0).await.expect("round"), 1);

    assert_eq!(device_token(db, stale_device).await, None, "token removed");
    assert_eq!(
        device_token(db, fresh_device).await.as_deref(),
        Some("fresh-token")
    );
    let push = row(db, &tenant, first).await;
    assert_eq!(push.state, PushState::Failed);
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("UNREGISTERED")),
        "{push:?}"
    );
    // The other message for the dead token is not sent at all.
    assert_eq!(row(db, &tenant, second).await.state, PushState::Failed);
    assert_eq!(
        worker
            .run_once(t0 + Duration::hours(1))
            .await
            .expect("round"),
        0
    );
    assert_eq!(fake.sends().len(), 1);
    // And the user gets nothing queued any more.
    assert!(
        db.store
            .enqueue_push_for_user(tenant.tenant_id, stale_user, &content("Three"))
            .await
            .expect("enqueue")
            .is_empty()
    );

    // A bare 404 (no error body) means the same.
    let (_, other_device) = technician_with_phone(db, &tenant, "gone-token").await;
    enqueue(db, &tenant, "gone-token", "x").await;
    fake.answer_sends([Answer::new(404, json!({}))]);
    assert_eq!(worker.run_once(now()).await.expect("round"), 1);
    assert_eq!(device_token(db, other_device).await, None);
}

async fn server_errors_back_off_until_max_attempts_then_fail(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let (_, device) = technician_with_phone(db, &tenant, "flaky-token").await;
    let id = enqueue(db, &tenant, "flaky-token", "Hi").await;
    fake.answer_sends([
        Answer::fcm_error(503, "UNAVAILABLE", None),
        Answer::fcm_error(500, "INTERNAL", Some("INTERNAL")),
        Answer::fcm_error(502, "UNAVAILABLE", None),
    ]);
    let worker = worker(db, &fake, 3);

    // Attempt 1: backoff of BASE (with jitter in its upper half).
    let t1 = now();
    assert_eq!(worker.run_once(t1).await.expect("round"), 1);
    let push = row(db, &tenant, id).await;
    assert_eq!((push.state, push.attempts), (PushState::Pending, 1));
    let delay = push.next_attempt_at - t1;
    let base = Duration::from_std(BACKOFF_BASE).expect("duration");
    assert!(delay >= base / 2 && delay <= base, "first backoff {delay}");
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );

    // Attempt 2: twice that.
    let t2 = push.next_attempt_at;
    assert_eq!(worker.run_once(t2).await.expect("round"), 1);
    let push = row(db, &tenant, id).await;
    assert_eq!((push.state, push.attempts), (PushState::Pending, 2));
    let delay = push.next_attempt_at - t2;
    assert!(delay >= base && delay <= base * 2, "second backoff {delay}");

    // Attempt 3 is the last one allowed.
    assert_eq!(
        worker.run_once(push.next_attempt_at).await.expect("round"),
        1
    );
    let push = row(db, &tenant, id).await;
    assert_eq!((push.state, push.attempts), (PushState::Failed, 3));
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("gave up after 3 attempts") && e.contains("502")),
        "{push:?}"
    );
    assert_eq!(
        worker
            .run_once(now() + Duration::days(1))
            .await
            .expect("round"),
        0
    );
    assert_eq!(fake.sends().len(), 3);
    assert_eq!(
        device_token(db, device).await.as_deref(),
        Some("flaky-token"),
        "a failing provider does not cost the device its token"
    );
}

async fn client_errors_fail_at_once(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let (_, device) = technician_with_phone(db, &tenant, "odd-token").await;
    let id = enqueue(db, &tenant, "odd-token", "Hi").await;
    fake.answer_sends([Answer::fcm_error(
        400,
        "INVALID_ARGUMENT",
        Some("INVALID_ARGUMENT"),
    )]);
    assert_eq!(
        worker(db, &fake, 8).run_once(now()).await.expect("round"),
        1
    );
    let push = row(db, &tenant, id).await;
    assert_eq!((push.state, push.attempts), (PushState::Failed, 1));
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("INVALID_ARGUMENT"))
    );
    assert_eq!(device_token(db, device).await.as_deref(), Some("odd-token"));
}

async fn refused_access_token_is_replaced(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let id = enqueue(db, &tenant, "token", "Hi").await;
    fake.answer_sends([Answer::fcm_error(401, "UNAUTHENTICATED", None)]);
    let worker = worker(db, &fake, 8);
    let t0 = now();
    assert_eq!(worker.run_once(t0).await.expect("round"), 1);
    let push = row(db, &tenant, id).await;
    assert_eq!(push.state, PushState::Pending, "retried, not dropped");
    assert_eq!(
        worker.run_once(push.next_attempt_at).await.expect("round"),
        1
    );
    assert_eq!(row(db, &tenant, id).await.state, PushState::Sent);
    assert_eq!(
        fake.token_requests().len(),
        2,
        "a fresh token after the 401"
    );
    assert_eq!(
        fake.sends()[1].authorization.as_deref(),
        Some("Bearer access-2")
    );
}

async fn token_endpoint_failure_is_retried(db: &TestDb) {
    let fake = FakeGoogle::start().await;
    let tenant = TenantFixture::create(db.store.as_ref(), "acme").await;
    let id = enqueue(db, &tenant, "token", "Hi").await;
    fake.answer_tokens([Answer::new(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    )]);
    let worker = worker(db, &fake, 8);
    let t0 = now();
    assert_eq!(worker.run_once(t0).await.expect("round"), 1);
    let push = row(db, &tenant, id).await;
    assert_eq!(push.state, PushState::Pending);
    assert!(push.next_attempt_at > t0);
    assert!(
        push.last_error
            .as_deref()
            .is_some_and(|e| e.contains("invalid_grant")),
        "{push:?}"
    );
    assert!(fake.sends().is_empty(), "nothing sent without a token");
    assert_eq!(
        worker.run_once(push.next_attempt_at).await.expect("round"),
        1
    );
    assert_eq!(row(db, &tenant, id).await.state, PushState::Sent);
}

// ---------------------------------------------------------------------------
// Assignment queues a push (through the HTTP API)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_pushes_to_the_technician_postgres() {
    assignment_pushes_to_the_technician(TestBackend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_pushes_to_the_technician_sqlite() {
    assignment_pushes_to_the_technician(TestBackend::Sqlite).await;
}

async fn assignment_pushes_to_the_technician(backend: TestBackend) {
    let fake = FakeGoogle::start().await;
    // The server's own worker (log provider) sleeps through the test; the
    // test drives a worker against the fake instead.
    let app = TestApp::start_with(backend, |config| config.push.poll_interval_ms = 3_600_000).await;
    let tenant = app.create_tenant("acme").await;
    let admin = tenant.admin_token.as_str();
    let (_, dispatcher) = app
        .create_user(&tenant, "dispatch@acme.test", "dispatcher")
        .await;
    let (tech_user, tech_token) = app
        .create_user(&tenant, "tech@acme.test", "technician")
        .await;
    let tech = app
        .post(
            "/v1/technicians",
            admin,
            &json!({"user_id": tech_user, "name": "Ada", "time_zone": "UTC",
                    "home_base": {"lat": 52.5, "lon": 13.4}}),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/v1/devices",
        &tech_token,
        &json!({"platform": "android", "push_token": "ada-phone", "actor_id": "0123456789abcdef"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let customer = app
        .post("/v1/customers", admin, &json!({"name": "Alexa Mall"}))
        .await
        .expect(StatusCode::CREATED);
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({"customer_id": id_of(&customer, "id"), "name": "Alexanderplatz",
                    "address": "Alexanderplatz 1, Berlin", "location": {"lat": 52.52, "lon": 13.41}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = app
        .post(
            "/v1/tickets",
            &dispatcher,
            &json!({"title": "Boiler leaks", "category": "hvac", "priority": "P2",
                    "site_id": id_of(&site, "id")}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket_id = id_of(&ticket, "id");
    let number = ticket["number"].as_str().expect("ticket number").to_owned();

    // Nothing is queued before the assignment.
    let worker = PushWorker::new(app.db.store.clone(), fake.notifier(), 8);
    assert_eq!(worker.run_once(now()).await.expect("round"), 0);

    app.post(
        &format!("/v1/tickets/{ticket_id}/assign"),
        &dispatcher,
        &json!({"technician_id": id_of(&tech, "id")}),
    )
    .await
    .expect(StatusCode::OK);

    assert_eq!(worker.run_once(now()).await.expect("round"), 1);
    let sends = fake.sends();
    assert_eq!(sends.len(), 1);
    let message = &sends[0].body["message"];
    assert_eq!(message["token"], "ada-phone");
    assert_eq!(message["notification"]["title"], "New assignment");
    assert_eq!(
        message["notification"]["body"],
        format!("{number}: Boiler leaks")
    );
    assert_eq!(message["data"]["type"], "ticket.assigned");
    assert_eq!(message["data"]["ticket_id"], ticket_id.to_string());
    assert_eq!(message["data"]["ticket_number"], number);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn push_configuration_names_the_bad_key() {
    let key = |config: PushConfig| -> String {
        match config.validate() {
            Err(ConfigError::Invalid { key, .. }) => key.to_owned(),
            other => panic!("expected an invalid key, got {other:?}"),
        }
    };
    let (dir, key_path) = key_file();
    let fcm = PushConfig {
        provider: PushProvider::Fcm,
        fcm_project_id: Some(PROJECT.into()),
        fcm_service_account_file: Some(key_path.clone()),
        ..PushConfig::default()
    };
    fcm.validate().expect("complete FCM configuration");
    PushConfig::default()
        .validate()
        .expect("log provider needs nothing");

    assert_eq!(
        key(PushConfig {
            fcm_project_id: None,
            ..fcm.clone()
        }),
        "push.fcm_project_id"
    );
    assert_eq!(
        key(PushConfig {
            fcm_project_id: Some("  ".into()),
            ..fcm.clone()
        }),
        "push.fcm_project_id"
    );
    assert_eq!(
        key(PushConfig {
            fcm_service_account_file: None,
            ..fcm.clone()
        }),
        "push.fcm_service_account_file"
    );
    assert_eq!(
        key(PushConfig {
            fcm_service_account_file: Some(dir.path().join("missing.json")),
            ..fcm.clone()
        }),
        "push.fcm_service_account_file"
    );
    let not_a_key = dir.path().join("not-a-key.json");
    std::fs::write(
        &not_a_key,
        json!({"client_email": CLIENT_EMAIL, "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"})
            .to_string(),
    )
    .expect("write");
    assert_eq!(
        key(PushConfig {
            fcm_service_account_file: Some(not_a_key),
            ..fcm.clone()
        }),
        "push.fcm_service_account_file"
    );
    assert_eq!(
        key(PushConfig {
            fcm_base_url: "fcm.googleapis.com".into(),
            ..fcm.clone()
        }),
        "push.fcm_base_url"
    );
    assert_eq!(
        key(PushConfig {
            token_url_override: Some("ftp://x".into()),
            ..fcm.clone()
        }),
        "push.token_url_override"
    );
    assert_eq!(
        key(PushConfig {
            max_attempts: 0,
            ..fcm.clone()
        }),
        "push.max_attempts"
    );
    assert_eq!(
        key(PushConfig {
            poll_interval_ms: 0,
            ..fcm.clone()
        }),
        "push.poll_interval_ms"
    );

    // The same errors surface from the whole configuration, e.g. from a file.
    let file = dir.path().join("truckroll.toml");
    std::fs::write(&file, "[push]\nprovider = \"fcm\"\n").expect("write");
    let error = Config::load(Some(&file)).expect_err("fcm without a project");
    assert!(error.to_string().contains("push.fcm_project_id"), "{error}");
    std::fs::write(
        &file,
        format!(
            "[push]\nprovider = \"fcm\"\nfcm_project_id = \"{PROJECT}\"\nfcm_service_account_file = \"{}\"\nmax_attempts = 3\n",
            key_path.display()
        ),
    )
    .expect("write");
    let config = Config::load(Some(&file)).expect("valid file");
    assert_eq!(config.push.provider, PushProvider::Fcm);
    assert_eq!(config.push.max_attempts, 3);
    assert_eq!(config.push.fcm_base_url, "https://fcm.googleapis.com");
    std::fs::write(&file, "[push]\nprovider = \"apns\"\n").expect("write");
    let error = Config::load(Some(&file)).expect_err("unknown provider");
    assert!(error.to_string().contains("provider"), "{error}");
}
