//! A real Truckroll server on a loopback port, over a fresh test database,
//! and a small JSON client for it.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use truckroll_server::{
    app::AppState,
    auth::password,
    config::Config,
    domain::people::{NewUser, Role},
};
use uuid::Uuid;

use crate::{TestBackend, TestDb};

/// Password given to every user the helpers create.
pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Debug)]
pub struct TestApp {
    pub db: TestDb,
    /// The running server's state, for driving background work (offer
    /// timers, workers) with a chosen `now` instead of waiting.
    pub state: AppState,
    pub base_url: String,
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// The configuration the server runs with; `restart` reuses it.
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// The answer of one request: status, headers and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body, after asserting the status.
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an RFC 9457 problem with this status and `type` suffix.
    pub fn expect_problem(&self, status: StatusCode, type_suffix: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        let problem_type = self.body["type"].as_str().unwrap_or_default();
        assert!(
            problem_type.ends_with(type_suffix),
            "type {problem_type} should end with {type_suffix}"
        );
        assert_eq!(self.body["status"], json!(status.as_u16()));
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem without detail"
        );
    }
}

/// A tenant with a signed-in admin.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: Uuid,
    pub name: String,
    pub admin_id: Uuid,
    pub admin_token: String,
}

impl TestApp {
    pub async fn start(backend: TestBackend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with the test defaults, changed by `configure`.
    pub async fn start_with(backend: TestBackend, configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new(backend).await;
        let mut config = test_config(db.database_url());
        configure(&mut config);
        let (state, address, shutdown, server) = serve(db.store.clone(), config.clone()).await;
        Self {
            db,
            state,
            base_url: format!("http://{address}"),
            address,
            client: reqwest::Client::new(),
            config,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.send_with(method, path, token, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// What `truckroll tenant create` does, then signs the admin in.
    pub async fn create_tenant(&self, name: &str) -> TestTenant {
        let email = format!("admin@{name}.test");
        let admin = NewUser {
            email: email.clone(),
            name: "Admin".into(),
            role: Role::Admin,
            password: PASSWORD.into(),
        };
        let hash = password::hash(PASSWORD.into()).await.expect("hash");
        let (tenant, user) = self
            .db
            .store
            .create_tenant(name, &admin, &hash)
            .await
            .expect("tenant created");
        let admin_token = self.login(name, &email).await;
        TestTenant {
            id: tenant.id,
            name: name.to_owned(),
            admin_id: user.id,
            admin_token,
        }
    }

    /// Signs in with [`PASSWORD`]; returns the access token.
    pub async fn login(&self, tenant: &str, email: &str) -> String {
        let body = json!({"tenant": tenant, "email": email, "password": PASSWORD});
        let reply = self
            .send(Method::POST, "/v1/auth/login", None, Some(&body))
            .await;
        let body = reply.expect(StatusCode::OK);
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Creates a user with `role` through the API and signs them in.
    pub async fn create_user(
        &self,
        tenant: &TestTenant,
        email: &str,
        role: &str,
    ) -> (Uuid, String) {
        let body = json!({"email": email, "name": email, "role": role, "password": PASSWORD});
        let created = self
            .post("/v1/users", &tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED);
        let id = created["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("user id");
        (id, self.login(&tenant.name, email).await)
    }
}

/// The test defaults: a loopback port, a fixed token secret (tokens survive
/// a restart) and login limits no test reaches by accident.
fn test_config(database_url: &str) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_owned(),
        ..Config::default()
    };
    config.auth.token_secret = "test-secret-test-secret-test-secret-0123".into();
    config.auth.login_per_account_per_minute = 1000;
    config.auth.login_per_address_per_minute = 10_000;
    // The `fs` blob backend outside the source tree; tenants never share keys.
    config.media.fs_dir = std::env::temp_dir().join("truckroll-test-blobs");
    config
}

/// Builds the state and serves it on a loopback port until the returned sender fires.
async fn serve(
    store: std::sync::Arc<dyn truckroll_server::store::Store>,
    config: Config,
) -> (AppState, SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let config = config.validated().expect("test configuration is valid");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let state = truckroll_server::build_state(config, store)
        .await
        .expect("state builds");
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = state.clone();
    let server = tokio::spawn(async move {
        truckroll_server::launch_with_state(served, listener, async {
            let _ = stop.await;
        })
        .await
        .expect("server runs");
    });
    (state, address, shutdown, server)
}

/// Shifts covering every hour of every day, so "on shift now" always holds.
pub fn all_week_shifts() -> Value {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "00:00", "end": "00:00"}))
        .collect()
}

impl TestApp {
    /// A customer of `tier` with one site, "Main" at Unter den Linden 77 in
    /// Berlin (52.5163, 13.3795); returns the site as the API answered it.
    pub async fn berlin_site(&self, tenant: &TestTenant, tier: &str) -> Value {
        let admin = &tenant.admin_token;
        let customer = self
            .post(
                "/v1/customers",
                admin,
                &json!({"name": "Hotel", "tier": tier}),
            )
            .await
            .expect(StatusCode::CREATED);
        let site = json!({"customer_id": customer["id"], "name": "Main", "address": "Unter den Linden 77",
                          "location": {"lat": 52.5163, "lon": 13.3795}});
        self.post("/v1/sites", admin, &site)
            .await
            .expect(StatusCode::CREATED)
    }
}

/// Reads a UUID field of a JSON object.
pub fn id_of(value: &Value, field: &str) -> Uuid {
    value[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no uuid `{field}` in {value}"))
}

impl TestApp {
    /// Stops the server and starts a new one on the same database, as a
    /// process restart would: in-memory state (the dispatch index, rate
    /// limits) is rebuilt from the database. Uses the same configuration
    /// (the test defaults' fixed token secret), so access tokens issued
    /// before the restart stay valid.
    pub async fn restart(mut self) -> Self {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
        // Same address, as a restarted service keeps it: URLs handed out
        // before the restart (the `fs` blob backend's) still reach it.
        let mut config = self.config.clone();
        config.listen = self.address;
        let (state, address, shutdown, server) = serve(self.db.store.clone(), config).await;
        self.state = state;
        self.base_url = format!("http://{address}");
        self.address = address;
        self.client = reqwest::Client::new();
        self.shutdown = Some(shutdown);
        self.server = Some(server);
        self
    }
}

/// Another server on a [`TestApp`]'s database, as a second replica behind a
/// load balancer: its own event bus subscription, dispatch index and live
/// hub, the same configuration (and token secret).
#[derive(Debug)]
pub struct Replica {
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Starts a [`Replica`] of this server.
    pub async fn replica(&self) -> Replica {
        let mut config = self.config.clone();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let (_, address, shutdown, server) = serve(self.db.store.clone(), config).await;
        Replica {
            base_url: format!("http://{address}"),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }
}

impl Replica {
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("replica task");
        }
    }
}

impl TestApp {
    /// The server's copy of a ticket's document (`None` before the first
    /// sync or assignment created it), as the sync service loads it.
    pub async fn ticket_doc(
        &self,
        tenant: Uuid,
        ticket: Uuid,
    ) -> Option<truckroll_server::device_sync::Loaded> {
        truckroll_server::device_sync::load(self.state.store.as_ref(), tenant, ticket)
            .await
            .expect("load")
    }
}
