//! SLA benchmarks on a throwaway PostgreSQL database (`TEST_DATABASE_URL`):
//! the timer engine's rebuild over N open tickets (time and memory), and the
//! SLA report (computed in the application) over the same tickets.
//!
//! `cargo run --release -p truckroll-tests --bin sla-bench -- [N]` (N = 100000).

use std::time::Instant;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::sla::SlaTimers;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
};

/// Resident set size of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let app = TestApp::start_with(TestBackend::Postgres, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
    })
    .await;
    let tenant = app.create_tenant("bench").await;
    let site = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    let reply = app
        .post(
            "/v1/sla/policies",
            &tenant.admin_token,
            &json!({"name": "Bench", "targets": {"response_minutes": 120, "arrival_minutes": 480,
                    "resolution_minutes": 2880}}),
        )
        .await;
    anyhow::ensure!(
        reply.status == StatusCode::CREATED,
        "policy: {}",
        reply.body
    );
    let db = app.db.raw().await;
    let started = Instant::now();
    // Open tickets created over the last 30 days, in five statuses (one in
    // five on hold waiting for the customer), with their history.
    db.execute(
        &format!(
            "INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id, \
             tags, custom_fields, status, hold_reason, created_by, created_at, updated_at, search_text) \
             SELECT gen_random_uuid(), $1, 'B-' || g, 'Bench', '', (ARRAY['hvac','plumbing','electrical','lifts'])[1 + g % 4], \
             'P' || (1 + g % 4), '[]', $2, '[]', '{{}}', \
             (ARRAY['new','assigned','accepted','en_route','on_hold'])[1 + g % 5], \
             CASE WHEN g % 5 = 4 THEN 'waiting_customer' END, $3, \
             now() - (g % 43200) * interval '1 minute', now() - (g % 43200) * interval '1 minute' + interval '10 minutes', 'bench' \
             FROM generate_series(1, {n}) g"
        ),
        &[tenant.id, site, tenant.admin_id],
    )
    .await;
    db.execute(
        "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
         SELECT tenant_id, id, 1, created_at, 'new', NULL FROM tickets WHERE tenant_id = $1",
        &[tenant.id],
    )
    .await;
    db.execute(
        "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
         SELECT tenant_id, id, 2, updated_at, status, hold_reason FROM tickets WHERE tenant_id = $1 AND status <> 'new'",
        &[tenant.id],
    )
    .await;
    db.execute("ANALYZE", &[]).await;
    println!(
        "seeded {n} open tickets in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut rebuilds = Vec::new();
    let mut memory = Vec::new();
    let mut scheduled = 0;
    let mut entries = 0;
    for _ in 0..3 {
        let before = rss_mib();
        let started = Instant::now();
        let timers = SlaTimers::load(app.state.clone(), Utc::now()).await?;
        rebuilds.push(started.elapsed().as_secs_f64());
        memory.push(rss_mib() - before);
        scheduled = timers.scheduled_tickets();
        entries = timers.queue_entries();
        drop(timers);
    }
    println!(
        "timer rebuild: median {:.2} s of {rebuilds:.2?}; {scheduled} tickets scheduled, {entries} queue entries; \
         RSS growth during a rebuild {:.1} MiB (first {:.1} MiB)",
        median(rebuilds.clone()),
        median(memory.clone()),
        memory[0]
    );

    let from = (Utc::now() - chrono::Duration::days(31))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!("/v1/reports/sla?from={from}&to={to}&group_by=category");
    let mut reports = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let reply = app.get(&path, &tenant.admin_token).await;
        reports.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(reply.status == StatusCode::OK, "report: {}", reply.body);
    }
    println!(
        "SLA report (in-app clocks), {n} tickets, a month by category: median {:.2} s of {reports:.2?}",
        median(reports.clone())
    );
    app.stop().await;
    Ok(())
}
