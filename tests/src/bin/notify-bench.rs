//! Notification send throughput against a real local SMTP server (aiosmtpd,
//! `scripts/smtp_sink.py`, started by this program).
//!
//! Creates N tickets through the HTTP API for a customer with an email
//! address (each queues one "ticket received" message in its transaction),
//! then times the email outbox worker draining them (claim, render, send
//! over pooled SMTP, record) — against the peer measured in the same run:
//! the same SMTP sender sending N pre-rendered messages directly, 32 at a
//! time, with no database.
//!
//! `cargo run --release -p truckroll-tests --bin notify-bench -- [N] [sqlite|postgres]`

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::{
    notify::{self, Sender, SmtpSender},
    outbox::Attempt,
    store::{Store, notify::NoticeChannel},
};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    smtp::SmtpSink,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let backend = match args.next().as_deref() {
        None | Some("sqlite") => TestBackend::Sqlite,
        Some("postgres") => TestBackend::Postgres,
        Some(other) => anyhow::bail!("unknown backend `{other}` (sqlite or postgres)"),
    };
    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
    })
    .await;
    let sink = SmtpSink::start().await;
    let tenant = app.create_tenant("bench").await;
    let site = app.berlin_site(&tenant, "standard").await;
    let customer = id_of(&site, "customer_id");
    app.patch(
        &format!("/v1/customers/{customer}"),
        &tenant.admin_token,
        &json!({"email": "guest@hotel.test"}),
    )
    .await
    .expect(StatusCode::OK);
    let started = Instant::now();
    for i in 0..n {
        let body = json!({"title": format!("Bench {i}"), "category": "hvac", "priority": "P3", "site_id": site["id"]});
        app.post("/v1/tickets", &tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED);
    }
    println!(
        "queued {n} messages with their tickets in {:.2} s ({backend:?})",
        started.elapsed().as_secs_f64()
    );

    let sender = Arc::new(SmtpSender::new(&sink.config())?);
    // Peer: the same sender, no outbox.
    let started = Instant::now();
    let delivered = stream::iter(0..n)
        .map(|i| {
            let sender = sender.clone();
            async move {
                sender
                    .send(
                        "guest@hotel.test",
                        &format!("Direct {i}"),
                        "We received your request.\n",
                    )
                    .await
            }
        })
        .buffer_unordered(32)
        .filter(|a| std::future::ready(matches!(a, Attempt::Delivered { .. })))
        .count()
        .await;
    let direct = started.elapsed().as_secs_f64();
    anyhow::ensure!(delivered == n, "direct sends: {delivered} of {n} delivered");
    sink.wait_for(n).await;

    let store: Arc<dyn Store> = app.state.store.clone();
    let worker = notify::worker(store, NoticeChannel::Email, sender, &app.config.notify);
    let started = Instant::now();
    let mut claimed = 0;
    while claimed < n {
        let round = worker.run_once(Utc::now()).await?;
        anyhow::ensure!(round > 0, "the outbox ran dry after {claimed} of {n}");
        claimed += round;
    }
    let outbox = started.elapsed().as_secs_f64();
    sink.wait_for(2 * n).await;

    println!(
        "direct SMTP (peer): {n} messages in {direct:.2} s = {:.0} messages/s",
        n as f64 / direct
    );
    println!(
        "outbox worker:      {n} messages in {outbox:.2} s = {:.0} messages/s ({:.2}× the peer)",
        n as f64 / outbox,
        direct / outbox
    );
    app.stop().await;
    Ok(())
}
