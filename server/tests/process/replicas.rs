//! Two `truckroll serve` processes on one PostgreSQL database with the
//! PostgreSQL event bus: a ping received by one shows on the other's live
//! stream and in its dispatch index; an assignment made through one is seen
//! by both; offer timers run on exactly one (advisory lock) and move to the
//! other when that process is killed.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const SECRET: &str = "replica-test-secret-replica-test-secret-0123";
const PASSWORD: &str = "correct-horse-battery";
/// A generous cap on anything the test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database, dropped (forcibly) at the end.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Self {
        let admin = admin_url();
        let name = format!("truckroll_test_{}", Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL not reachable at {admin} (scripts/test.sh starts it): {e}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut connection)
            .await
            .expect("create database");
        let _ = connection.close().await;
        let (base, _) = admin.rsplit_once('/').expect("database url has a path");
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut connection)
                .await;
        }
    }
}

fn truckroll(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_truckroll"));
    command
        .env_remove("TRUCKROLL_CONFIG")
        .env("TRUCKROLL_DATABASE_URL", database_url)
        .env("TRUCKROLL_AUTH__TOKEN_SECRET", SECRET)
        .env("TRUCKROLL_EVENTS__BACKEND", "postgres")
        .env("TRUCKROLL_LEADER__RETRY_MS", "200")
        .env("TRUCKROLL_DISPATCH__OFFER_WINDOW_SECS", "10")
        .env("TRUCKROLL_DISPATCH__OFFER_POLL_MS", "100")
        .env("TRUCKROLL_LIVE__FLUSH_MS", "50")
        .env("TRUCKROLL_GOVERNANCE__METRICS_TOKEN", METRICS_TOKEN)
        .env("RUST_LOG", "warn");
    command
}

/// One running `truckroll serve`; killed (SIGKILL) when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(database_url: &str) -> Self {
        let mut child = truckroll(database_url)
            .arg("serve")
            .env("TRUCKROLL_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start truckroll serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("serve prints its address")
            .expect("utf-8");
        let address = first
            .rsplit("http://")
            .next()
            .expect("address")
            .trim()
            .to_owned();
        // Keep the pipe drained.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://{address}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Api {
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, base: &str, path: &str, token: &str, body: Value) -> Value {
        let (status, reply) = self
            .call(
                reqwest::Method::POST,
                format!("{base}{path}"),
                Some(token),
                Some(body),
            )
            .await;
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {reply}"
        );
        reply
    }

    async fn get(&self, base: &str, path: &str, token: &str) -> Value {
        let (status, reply) = self
            .call(
                reqwest::Method::GET,
                format!("{base}{path}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 200, "GET {path}: {reply}");
        reply
    }

    async fn login(&self, base: &str, email: &str) -> String {
        let reply = self
            .post_open(
                base,
                "/v1/auth/login",
                json!({"tenant": "metro", "email": email, "password": PASSWORD}),
            )
            .await;
        reply["access_token"].as_str().expect("token").to_owned()
    }

    async fn post_open(&self, base: &str, path: &str, body: Value) -> Value {
        let (status, reply) = self
            .call(
                reqwest::Method::POST,
                format!("{base}{path}"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "POST {path}: {reply}");
        reply
    }

    /// `truckroll_leader{job="offer_timers"}` from the replica's /metrics.
    async fn leads(&self, base: &str) -> Option<bool> {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with("truckroll_leader{") && l.contains("offer_timers"))
            .map(|l| l.trim_end().ends_with(" 1"))
    }
}

/// `/metrics` answers only with this token (`governance.metrics_token`).
const METRICS_TOKEN: &str = "replicas-test-metrics-token";

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within {PATIENCE:?}: {what}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn live(base: &str, token: &str) -> Socket {
    let url = format!(
        "{}/v1/live?access_token={token}",
        base.replacen("http://", "ws://", 1)
    );
    tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("live socket")
        .0
}

/// Reads the stream until `wanted` holds for a message.
async fn until(socket: &mut Socket, what: &str, wanted: impl Fn(&Value) -> bool) {
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str()).expect("json");
                if wanted(&value) {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "live stream: {what}");
}

fn has(message: &Value, list: &str, id: &str, check: impl Fn(&Value) -> bool) -> bool {
    message[list]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["id"] == id && check(i)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_events_and_singleton_work() {
    let database = Database::create().await;
    let migrated = truckroll(&database.url)
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let created = truckroll(&database.url)
        .args([
            "tenant",
            "create",
            "--name",
            "metro",
            "--admin-email",
            "admin@metro.test",
            "--admin-password",
            PASSWORD,
        ])
        .output()
        .expect("tenant create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let mut replicas = [Replica::start(&database.url), Replica::start(&database.url)];
    let (a, b) = (replicas[0].base.clone(), replicas[1].base.clone());
    let api = Api {
        client: reqwest::Client::new(),
    };
    let admin = api.login(&a, "admin@metro.test").await;

    // Through A: people, a site, a category offered in turn to two technicians.
    let user = |email: &str, role: &str| json!({"email": email, "name": email, "role": role, "password": PASSWORD});
    api.post(
        &a,
        "/v1/users",
        &admin,
        user("dispatch@metro.test", "dispatcher"),
    )
    .await;
    let dispatcher = api.login(&b, "dispatch@metro.test").await;
    let all_week: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"day": d, "start": "00:00", "end": "00:00"}))
        .collect();
    let mut technicians = Vec::new();
    for (email, home) in [
        ("near@metro.test", (52.50, 13.40)),
        ("far@metro.test", (52.60, 13.60)),
    ] {
        let created = api
            .post(&a, "/v1/users", &admin, user(email, "technician"))
            .await;
        let tech = api
            .post(&a, "/v1/technicians", &admin, json!({"user_id": id(&created), "name": email, "time_zone": "UTC",
                "shifts": all_week, "home_base": {"lat": home.0, "lon": home.1}, "skills": [{"skill": "hvac", "level": 2}]}))
            .await;
        technicians.push((id(&tech), api.login(&a, email).await));
    }
    let (near, near_token) = technicians[0].clone();
    let far = technicians[1].0.clone();
    let customer = api
        .post(&a, "/v1/customers", &admin, json!({"name": "Mall"}))
        .await;
    let site = api
        .post(
            &a,
            "/v1/sites",
            &admin,
            json!({"customer_id": id(&customer), "name": "Mall", "address": "Alexanderplatz",
            "location": {"lat": 52.5200, "lon": 13.4050}}),
        )
        .await;
    api.post(&a, "/v1/categories", &admin, json!({"name": "hvac"}))
        .await;

    // A ping through A: on B's live stream and in B's index.
    let mut on_b = live(&b, &dispatcher).await;
    let mut on_a = live(&a, &dispatcher).await;
    let at = chrono::Utc::now().to_rfc3339();
    api.post(
        &a,
        "/v1/me/locations",
        &near_token,
        json!({"pings": [{"device_time": at, "lat": 52.5210, "lon": 13.4060, "accuracy_m": 5.0}]}),
    )
    .await;
    until(&mut on_b, "A's ping on B", |m| {
        has(m, "technicians", &near, |t| t["lat"] == 52.521)
    })
    .await;
    let ticket = api
        .post(
            &b,
            "/v1/tickets",
            &dispatcher,
            json!({"title": "Escalator", "category": "hvac", "priority": "P2",
            "site_id": id(&site), "required_skills": [{"skill": "hvac", "level": 1}]}),
        )
        .await;
    let ticket_id = id(&ticket);
    let candidates = api
        .get(
            &b,
            &format!("/v1/tickets/{ticket_id}/candidates?k=2"),
            &dispatcher,
        )
        .await;
    assert_eq!(
        candidates[0]["technician_id"],
        near.as_str(),
        "{candidates}"
    );
    assert_eq!(
        candidates[0]["reasons"]["position_source"], "ping",
        "B's index has A's ping: {candidates}"
    );
    assert!(
        candidates[0]["reasons"]["distance_m"]
            .as_f64()
            .expect("distance")
            < 200.0,
        "{candidates}"
    );

    // An assignment through B: both streams, and A's index counts the job.
    until(&mut on_a, "B's new ticket on A", |m| {
        has(m, "tickets", &ticket_id, |_| true)
    })
    .await;
    api.post(
        &b,
        &format!("/v1/tickets/{ticket_id}/assign"),
        &dispatcher,
        json!({"technician_id": near}),
    )
    .await;
    for (socket, name) in [(&mut on_a, "A"), (&mut on_b, "B")] {
        until(socket, &format!("the assignment on {name}"), |m| {
            has(m, "tickets", &ticket_id, |t| {
                t["assignee_id"] == near.as_str()
            })
        })
        .await;
    }
    let probe = api
        .post(
            &a,
            "/v1/tickets",
            &dispatcher,
            json!({"title": "Probe", "category": "hvac", "priority": "P4",
            "site_id": id(&site), "required_skills": []}),
        )
        .await;
    let probe_candidates = format!("/v1/tickets/{}/candidates?k=2", id(&probe));
    eventually("A's index counts the job assigned through B", || {
        let (api, a, dispatcher, path, near) = (&api, &a, &dispatcher, &probe_candidates, &near);
        async move {
            let ranked = api.get(a, path, dispatcher).await;
            ranked.as_array().is_some_and(|list| {
                list.iter()
                    .any(|c| c["technician_id"] == near.as_str() && c["reasons"]["open_jobs"] == 1)
            })
        }
    })
    .await;

    // Offer timers: exactly one replica leads.
    let mut leader = None;
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            match (api.leads(&a).await, api.leads(&b).await) {
                (Some(true), Some(false)) => break Some(0),
                (Some(false), Some(true)) => break Some(1),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    if let Ok(found) = waited {
        leader = found;
    }
    let leader = leader.expect("exactly one replica leads the offer timers");
    let survivor = replicas[1 - leader].base.clone();

    // A ticket offered in turn: the first offer is due in 10 s.
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            format!("{survivor}/v1/dispatch/policies/hvac"),
            Some(&admin),
            Some(json!({"mode": "offer_in_turn", "top_n": 2})),
        )
        .await;
    assert_eq!(status, 200);
    let offered = api
        .post(
            &survivor,
            "/v1/tickets",
            &dispatcher,
            json!({"title": "Cold room", "category": "hvac", "priority": "P1",
            "site_id": id(&site), "required_skills": [{"skill": "hvac", "level": 1}]}),
        )
        .await;
    let offers_path = format!("/v1/tickets/{}/offers", id(&offered));
    let offers = api.get(&survivor, &offers_path, &dispatcher).await;
    assert_eq!(offers.as_array().map(Vec::len), Some(1), "{offers}");
    let first_asked = offers[0]["technician_id"]
        .as_str()
        .expect("technician")
        .to_owned();

    // The leader dies; the other replica takes the lead and runs the timer.
    replicas[leader].kill();
    eventually("the survivor leads", || {
        let (api, survivor) = (&api, &survivor);
        async move { api.leads(survivor).await == Some(true) }
    })
    .await;
    eventually(
        "the survivor expires the offer and asks the next technician",
        || {
            let (api, survivor, dispatcher, path) = (&api, &survivor, &dispatcher, &offers_path);
            async move {
                let offers = api.get(survivor, path, dispatcher).await;
                offers.as_array().is_some_and(|list| {
                    list.len() == 2
                        && list.iter().any(|o| o["state"] == "expired")
                        && list.iter().any(|o| o["state"] == "pending")
                })
            }
        },
    )
    .await;
    let offers = api.get(&survivor, &offers_path, &dispatcher).await;
    let second = offers
        .as_array()
        .and_then(|list| list.iter().find(|o| o["state"] == "pending"))
        .expect("a pending offer");
    assert_ne!(second["technician_id"], first_asked.as_str(), "{offers}");
    assert!(
        [near.as_str(), far.as_str()]
            .contains(&second["technician_id"].as_str().unwrap_or_default())
    );
    drop(replicas);
    database.drop_now().await;
}
