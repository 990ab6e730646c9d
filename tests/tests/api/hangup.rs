//! Clients that hang up mid-request (issue 18, item 6): the server drops the
//! handler's future wherever it is — waiting for a pool connection, between
//! `BEGIN` and `COMMIT`, inside either — and no connection may go back to
//! the pool with a transaction open.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use truckroll_tests::fixtures::Shop;
use truckroll_tests::pg_notices;

use super::*;

backend_tests!(hung_up_requests_leave_no_transaction_open);

/// Concurrent clients, each sending this many requests.
const CLIENTS: usize = 12;
const REQUESTS_PER_CLIENT: usize = 60;
/// Every this-many-th request is waited for (and must succeed); the others
/// are hung up on.
const COMPLETED_EVERY: usize = 4;

/// One request as bytes on the wire.
fn http_request(address: SocketAddr, path: &str, token: &str, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` and closes the connection after a random moment: before
/// the handler starts, inside its database work, or after it answered.
async fn hang_up_during(address: SocketAddr, request: &[u8], rng: &mut fastrand::Rng) {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return;
    };
    if stream.write_all(request).await.is_err() {
        return;
    }
    let millis = rng.u64(0..4);
    if millis > 0 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    for _ in 0..rng.usize(0..200) {
        tokio::task::yield_now().await;
    }
    drop(stream);
}

fn ping_at(at: DateTime<Utc>, k: usize) -> Value {
    json!({"pings": [{"device_time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                      "lat": 52.5 + k as f64 / 10_000.0, "lon": 13.4, "accuracy_m": 5.0}]})
}

/// What the clients were told succeeded.
#[derive(Debug, Default)]
struct Acknowledged {
    tickets: Vec<Uuid>,
    pings: i64,
}

async fn hung_up_requests_leave_no_transaction_open(backend: TestBackend) {
    assert!(
        pg_notices::collect(),
        "another global tracing subscriber was installed first"
    );
    let warnings_before = pg_notices::transaction_state_warnings().len();
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "hangup").technicians(4).build().await;
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");
    let started = Utc::now() - chrono::Duration::minutes(30);

    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let shop = shop.clone();
        let base_url = app.base_url.clone();
        let address = app.address;
        let http = app.client.clone();
        clients.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(client as u64);
            let mut acknowledged = Acknowledged::default();
            for i in 0..REQUESTS_PER_CLIENT {
                let n = client * REQUESTS_PER_CLIENT + i;
                // Writes that each run a transaction: a new ticket, a comment
                // on one ticket (all clients contend for its row), a ping.
                let (path, token, body) = match n % 3 {
                    0 => (
                        "/v1/tickets".to_owned(),
                        shop.tenant.admin_token.clone(),
                        json!({"title": format!("Leak check {n}"), "category": "hvac",
                               "priority": "P3", "site_id": shop.site}),
                    ),
                    1 => (
                        format!("/v1/tickets/{ticket}/comments"),
                        shop.tenant.admin_token.clone(),
                        json!({"body": format!("comment {n}"), "visibility": "internal"}),
                    ),
                    _ => {
                        let tech = &shop.techs[n % shop.techs.len()];
                        let at = started + chrono::Duration::milliseconds(n as i64 * 100);
                        (
                            "/v1/me/locations".to_owned(),
                            tech.token.clone(),
                            ping_at(at, n),
                        )
                    }
                };
                if i % COMPLETED_EVERY == 0 {
                    let reply = http
                        .post(format!("{base_url}{path}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .expect("request reaches the server");
                    let status = reply.status();
                    let answer: Value = reply.json().await.expect("JSON answer");
                    assert!(status.is_success(), "{path}: {status} {answer}");
                    if path == "/v1/tickets" {
                        acknowledged.tickets.push(id_of(&answer, "id"));
                    } else if path == "/v1/me/locations" {
                        acknowledged.pings += answer["stored"].as_i64().unwrap_or(0);
                    }
                } else {
                    let request = http_request(address, &path, &token, &body);
                    hang_up_during(address, &request, &mut rng).await;
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = Acknowledged::default();
    for client in clients {
        let done = client.await.expect("client task");
        acknowledged.tickets.extend(done.tickets);
        acknowledged.pings += done.pings;
    }

    // No connection of the test database is left inside a transaction. A
    // dropped request's rollback runs when its connection goes back to the
    // pool, in the background: poll until then, within a deadline (a leaked
    // transaction stays open forever).
    let raw = app.db.raw().await;
    match backend {
        TestBackend::Postgres => {
            let open = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                        AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'";
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let count = raw.scalar_i64(open, &[]).await;
                if count == 0 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{count} connection(s) still idle in a transaction"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        TestBackend::Sqlite => {
            // A pooled connection holding a write transaction would make this
            // wait for its busy timeout and fail.
            raw.execute("BEGIN IMMEDIATE", &[]).await;
            raw.execute("ROLLBACK", &[]).await;
        }
    }

    // Every pooled connection serves again, and what was acknowledged is there.
    for n in 0..12 {
        let body = json!({"title": format!("After {n}"), "category": "hvac", "priority": "P3",
                          "site_id": shop.site});
        let created = app
            .post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED);
        acknowledged.tickets.push(id_of(&created, "id"));
    }
    for id in &acknowledged.tickets {
        app.get(&format!("/v1/tickets/{id}"), &shop.tenant.admin_token)
            .await
            .expect(StatusCode::OK);
    }
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert!(
        stored >= acknowledged.pings,
        "{stored} pings stored, {} acknowledged",
        acknowledged.pings
    );
    raw.close().await;

    let warnings = pg_notices::transaction_state_warnings();
    assert!(
        warnings.len() == warnings_before,
        "the database warned about transaction state: {:?}",
        &warnings[warnings_before..]
    );
    app.stop().await;
}
