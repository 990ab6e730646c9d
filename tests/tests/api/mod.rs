//! The real HTTP API, one file per resource or concern: a server on a
//! loopback port over a fresh database. Every scenario runs once on SQLite
//! and once on PostgreSQL (`name::sqlite`, `name::postgres`).
//!
//! The helpers below serve the resource files that `use super::*`.

use std::collections::HashSet;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use truckroll_tests::{
    RawDb, TestBackend,
    app::{PASSWORD, Reply, TestApp, id_of},
    fixtures::{World, error_fields},
};
use uuid::Uuid;

mod access;
mod approvals;
mod assign;
mod auth;
mod automation;
mod batch;
mod console;
mod customers;
mod dispatch;
mod hangup;
mod idempotency;
mod js_client;
mod knowledge;
mod lifecycle;
mod macros;
mod media;
mod offers;
mod ops;
mod osrm_peer;
mod pings;
mod rule_actions;
mod rule_events;
mod schedule;
mod schedule_board;
mod schedule_roads;
mod search;
mod sla;
mod status_truth;
mod sync;
mod territories;
mod tickets;
mod timed_rules;
mod validation;
mod walkthrough;
mod watchers;

// ---------------------------------------------------------------------------
// Helpers

/// Sends raw bytes with an optional Content-Type, for bodies `send` cannot express.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base_url))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
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

/// Query parameters as name/value pairs.
type QueryPairs<'a> = Vec<(&'a str, &'a str)>;

/// `a=1&b=2`, form-encoded (`+` → `%2B`, `%` → `%25`, space → `+`).
fn qs(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("base url");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn detail(reply: &Reply) -> String {
    reply.body["detail"].as_str().unwrap_or_default().to_owned()
}

fn ids(page: &Value) -> Vec<Uuid> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|item| id_of(item, "id"))
        .collect()
}

async fn login(app: &TestApp, tenant: &str, email: &str, password: &str) -> Reply {
    let body = json!({"tenant": tenant, "email": email, "password": password});
    app.send(Method::POST, "/v1/auth/login", None, Some(&body))
        .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    let body = json!({"refresh_token": refresh_token});
    app.send(Method::POST, "/v1/auth/refresh", None, Some(&body))
        .await
}

fn str_of(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {value}"))
        .to_owned()
}

fn ticket_body(site_id: Uuid, title: &str) -> Value {
    json!({
        "title": title,
        "category": "hvac",
        "priority": "P3",
        "site_id": site_id,
        "custom_fields": {"refrigerant": "R32"},
    })
}

/// Tables whose row counts must not move when a request is refused.
const COUNTED_TABLES: &[&str] = &[
    "tenants",
    "users",
    "refresh_tokens",
    "technicians",
    "customers",
    "sites",
    "assets",
    "categories",
    "tickets",
    "ticket_tags",
    "comments",
    "audit_log",
    "idempotency_keys",
];

async fn row_counts(raw: &RawDb) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::with_capacity(COUNTED_TABLES.len());
    for table in COUNTED_TABLES {
        let count = raw
            .scalar_i64(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await;
        counts.push((*table, count));
    }
    counts
}

/// Row counts taken once, to prove that refused requests write nothing.
struct Unchanged {
    raw: RawDb,
    before: Vec<(&'static str, i64)>,
}

impl Unchanged {
    async fn snapshot(app: &TestApp) -> Self {
        let raw = app.db.raw().await;
        let before = row_counts(&raw).await;
        Self { raw, before }
    }

    /// Asserts a problem with this status and `type` slug, and that no table changed.
    async fn refused(&self, what: &str, reply: &Reply, status: u16, slug: &str) {
        let status = StatusCode::from_u16(status).expect("status code");
        assert_eq!(reply.status, status, "{what}: body {}", reply.body);
        reply.expect_problem(status, &format!("/{slug}"));
        assert_eq!(
            row_counts(&self.raw).await,
            self.before,
            "{what}: the database changed although the request was refused"
        );
    }

    async fn close(self) {
        self.raw.close().await;
    }
}
