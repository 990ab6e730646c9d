//! Server merge speed against the raw Automerge library, in one run
//! (issue 18, item 2).
//!
//! A server on loopback (SQLite, or PostgreSQL with `--postgres` and
//! `TEST_DATABASE_URL`), one technician with `--tickets` assigned tickets and
//! a phone (the SDK). Each round the phone appends a note to every ticket
//! and syncs: the server validates, merges, projects and stores each
//! document and answers. Timed: the phone's requests only (what the server
//! and loopback HTTP take; the phone's own SQLite work is not counted).
//!
//! The peer, in the same run: the raw library doing the server's part of
//! the same round on the same bytes — for each document the server held
//! before the round, `Automerge::load`, `receive_sync_message` with the
//! device's recorded message, `generate_sync_message`, `save_after`.
//!
//! ```text
//! merge-bench [--postgres] [--tickets 20] [--rounds 30] [--cache-bytes N] [--statements]
//! ```
//! `--cache-bytes 0` turns the server's document cache off (the "before").
//!
//! Also counted: the SQL statements the server ran during the timed
//! requests (the driver's `sqlx::query` events), per document — the round
//! trips to the database, a measure the machine's load does not move.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::truckroll_sync::automerge::{Automerge, sync, sync::SyncDoc};
use truckroll_sdk::truckroll_sync::protocol::{Exchange, Message};
use truckroll_sdk::{BaseUrl, Client, ClientConfig, Edit, HttpTransport, SdkResult, Transport};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
};
use uuid::Uuid;

/// SQL statements the database driver ran (one event each).
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

/// With `--statements`: each statement's summary (its first words) and how
/// often it ran in the timed requests, printed after the result line.
static SUMMARIES: Mutex<Option<std::collections::BTreeMap<String, usize>>> = Mutex::new(None);

struct Summary(Option<String>);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.0.is_none() {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

struct CountStatements;

/// Counts the driver's statement events inside the server's request spans
/// (the phone's own SQLite statements run outside them).
impl<S> tracing_subscriber::Layer<S> for CountStatements
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let in_request = ctx
            .event_scope(event)
            .is_some_and(|mut scope| scope.any(|span| span.name() == "request"));
        if event.metadata().target() == "sqlx::query" && in_request {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut summaries) = SUMMARIES.lock()
                && let Some(summaries) = summaries.as_mut()
            {
                let mut summary = Summary(None);
                event.record(&mut summary);
                *summaries.entry(summary.0.unwrap_or_default()).or_default() += 1;
            }
        }
    }
}

fn count_statements() -> anyhow::Result<()> {
    use tracing_subscriber::{Layer, filter::Targets, prelude::*};
    tracing_subscriber::registry()
        .with(
            CountStatements.with_filter(
                Targets::new()
                    .with_target("sqlx::query", tracing::Level::TRACE)
                    .with_target("truckroll_server::http", tracing::Level::INFO),
            ),
        )
        .try_init()?;
    Ok(())
}

/// Times and records the phone's requests.
#[derive(Debug)]
struct Timed {
    inner: HttpTransport,
    spent: Mutex<Duration>,
    requests: Mutex<Vec<Exchange>>,
}

#[async_trait]
impl Transport for Timed {
    async fn exchange(&self, token: &str, request: &Exchange) -> SdkResult<Exchange> {
        let started = Instant::now();
        let answer = self.inner.exchange(token, request).await;
        let took = started.elapsed();
        if let Ok(mut spent) = self.spent.lock() {
            *spent += took;
        }
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.clone());
        }
        answer
    }
}

struct Options {
    backend: TestBackend,
    tickets: usize,
    rounds: usize,
    cache_bytes: Option<usize>,
    statements: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        backend: TestBackend::Sqlite,
        tickets: 20,
        rounds: 30,
        cache_bytes: None,
        statements: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--postgres" => options.backend = TestBackend::Postgres,
            "--tickets" => options.tickets = args.next().context("--tickets N")?.parse()?,
            "--rounds" => options.rounds = args.next().context("--rounds N")?.parse()?,
            "--statements" => options.statements = true,
            "--cache-bytes" => {
                options.cache_bytes = Some(args.next().context("--cache-bytes N")?.parse()?)
            }
            other => bail!("unknown option {other}"),
        }
    }
    Ok(options)
}

/// The document as the server stores it (snapshot and chunks, concatenated).
async fn stored_bytes(app: &TestApp, tenant: Uuid, ticket: Uuid) -> anyhow::Result<Vec<u8>> {
    let stored = app
        .db
        .store
        .load_document(tenant, ticket)
        .await?
        .context("document stored")?;
    let mut bytes = stored.snapshot;
    for chunk in stored.chunks {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    count_statements()?;
    let cache_bytes = options.cache_bytes;
    let app = TestApp::start_with(options.backend, |config| {
        if let Some(bytes) = cache_bytes {
            config.documents.cache_bytes = bytes;
        }
    })
    .await;
    let tenant = app.create_tenant("mergebench").await;
    let site = id_of(&app.berlin_site(&tenant, "standard").await, "id");
    let email = "tech@mergebench.test";
    let (user, _) = app.create_user(&tenant, email, "technician").await;
    let technician = app
        .post(
            "/v1/technicians",
            &tenant.admin_token,
            &json!({"user_id": user, "name": "Tech", "skills": [], "time_zone": "UTC",
                    "capacity": 100, "home_base": {"lat": 52.5, "lon": 13.4}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let technician = id_of(&technician, "id");
    let mut tickets = Vec::new();
    for i in 0..options.tickets {
        let body = json!({"title": format!("Job {i}"), "category": "hvac", "priority": "P3", "site_id": site});
        let ticket = id_of(
            &app.post("/v1/tickets", &tenant.admin_token, &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        );
        app.post(
            &format!("/v1/tickets/{ticket}/assign"),
            &tenant.admin_token,
            &json!({"technician_id": technician}),
        )
        .await
        .expect(StatusCode::OK);
        tickets.push(ticket);
    }
    let dir = TempGuard::new("truckroll-merge-bench-");
    let transport = Arc::new(Timed {
        inner: HttpTransport::new(BaseUrl::new(&app.base_url))?,
        spent: Mutex::new(Duration::ZERO),
        requests: Mutex::new(Vec::new()),
    });
    let mut config = ClientConfig::new(&app.base_url);
    config.transport = Some(transport.clone());
    let phone = Client::open(&dir.path().join("phone.db"), config).await?;
    phone.sign_in("mergebench", email, PASSWORD).await?;
    phone.sync_now().await?;

    let mut server = Duration::ZERO;
    let mut raw = Duration::ZERO;
    let mut merged = 0usize;
    let mut statements = 0usize;
    let mut requests = 0usize;
    for round in 0..options.rounds {
        // The server's documents before the round, for the raw peer.
        let mut before = Vec::with_capacity(tickets.len());
        for ticket in &tickets {
            before.push((*ticket, stored_bytes(&app, tenant.id, *ticket).await?));
        }
        for ticket in &tickets {
            phone
                .edit(
                    &ticket.to_string(),
                    Edit::NotesAppend {
                        text: format!("round {round} "),
                    },
                )
                .await?;
        }
        *transport.spent.lock().expect("lock") = Duration::ZERO;
        transport.requests.lock().expect("lock").clear();
        let counted = STATEMENTS.load(Ordering::Relaxed);
        if options.statements
            && let Ok(mut summaries) = SUMMARIES.lock()
            && summaries.is_none()
        {
            *summaries = Some(Default::default());
        }
        let report = phone.sync_now().await?;
        statements += STATEMENTS.load(Ordering::Relaxed) - counted;
        requests += report.requests;
        if report.pending_edits != 0 {
            bail!("round {round}: {} edits not synced", report.pending_edits);
        }
        server += *transport.spent.lock().expect("lock");
        merged += tickets.len();

        // The raw library on the same bytes: the device's first request of
        // the round carries its changes.
        let requests = transport.requests.lock().expect("lock").clone();
        let first = requests.first().context("the sync sent a request")?;
        let started = Instant::now();
        for (ticket, bytes) in &before {
            let id = ticket.to_string();
            let Some(data) = first.frames.iter().find_map(|f| match f {
                Message::Sync { doc_id, data } if *doc_id == id => Some(data.clone()),
                _ => None,
            }) else {
                bail!("round {round}: no sync frame for {id}");
            };
            let mut doc = Automerge::load(bytes)?;
            let heads = doc.get_heads();
            let mut state = sync::State::new();
            doc.receive_sync_message(&mut state, sync::Message::decode(&data)?)?;
            let reply = doc.generate_sync_message(&mut state);
            std::hint::black_box((reply, doc.save_after(&heads)));
        }
        raw += started.elapsed();
    }
    let per_doc = |d: Duration| d.as_secs_f64() * 1000.0 / merged as f64;
    let server_rate = merged as f64 / server.as_secs_f64();
    let raw_rate = merged as f64 / raw.as_secs_f64();
    println!(
        "merge {} tickets x {} rounds on {}{}: server {:.0} docs/s ({:.3} ms/doc, HTTP included) | raw automerge {:.0} docs/s ({:.3} ms/doc) | server/raw {:.3} | {:.1} server SQL statements/doc, {:.1} requests/sync",
        tickets.len(),
        options.rounds,
        match options.backend {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        },
        match cache_bytes {
            Some(0) => ", document cache off",
            _ => "",
        },
        server_rate,
        per_doc(server),
        raw_rate,
        per_doc(raw),
        server_rate / raw_rate,
        statements as f64 / merged as f64,
        requests as f64 / options.rounds as f64,
    );
    if let Ok(summaries) = SUMMARIES.lock()
        && let Some(summaries) = summaries.as_ref()
    {
        let mut by_count: Vec<_> = summaries.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        for (summary, count) in by_count {
            println!("  {:8.2}/doc  {summary}", *count as f64 / merged as f64);
        }
    }
    app.stop().await;
    Ok(())
}
