//! SLA benchmarks on a throwaway PostgreSQL database (`TEST_DATABASE_URL`;
//! each run creates and drops its own database).
//!
//! - `sla-bench report [N]` (N = 1 000 000): N tickets of one tenant over the
//!   364 days before yesterday with their status history, seeded in SQL. Times the SLA
//!   report for the last 31 days grouped by category through the HTTP API:
//!   the SQL path (`engine=sql`: per-ticket outcomes aggregated by
//!   PostgreSQL; outcomes kept on write, the seeding's marks drained first,
//!   timed) cold (a freshly started server's first report) and warm, against the naive
//!   path (`engine=app`: every clock evaluated in the application) in the
//!   same run; then the SQL path over all N tickets.
//! - `sla-bench timers [N]` (N = 100 000): the timer engine's rebuild over N
//!   open tickets (time and memory).
//!
//! `cargo run --release -p truckroll-tests --bin sla-bench -- report 1000000`
//!
//! `SLA_BENCH_KEEP_DB=1` keeps the bench's database at the end (its name is
//! printed; drop it with `dropdb`), for EXPLAIN of the report's SQL.

use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::sla::{SlaTimers, outcomes};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, TestTenant, id_of},
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
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "report".to_owned());
    let n: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let app = TestApp::start_with(TestBackend::Postgres, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
        // The bench drains the outcome marks itself, timed, alone: a
        // maintainer with a long poll still ticks once the poll has passed
        // (600 s, mid-backfill at 1 M tickets) and then walked the same marks
        // beside the bench's drain. It runs again after the restart.
        config.sla.outcomes_enabled = false;
        config.sla.poll_ms = 600_000;
    })
    .await;
    let (app, result) = match mode.as_str() {
        "report" => report(app, n.unwrap_or(1_000_000)).await,
        "timers" => {
            let result = timers(&app, n.unwrap_or(100_000)).await;
            (app, result)
        }
        other => (
            app,
            Err(anyhow::anyhow!("unknown mode `{other}` (report or timers)")),
        ),
    };
    if std::env::var("SLA_BENCH_KEEP_DB").is_ok() {
        let db = app.stop_keeping_db().await;
        println!("kept database: {}", db.database_url());
        // Its guard would drop the database.
        std::mem::forget(db);
    } else {
        app.stop().await;
    }
    result
}

async fn policy(app: &TestApp, tenant: &TestTenant, body: Value) -> anyhow::Result<()> {
    let reply = app
        .post("/v1/sla/policies", &tenant.admin_token, &body)
        .await;
    anyhow::ensure!(
        reply.status == StatusCode::CREATED,
        "policy: {}",
        reply.body
    );
    Ok(())
}

async fn timed_report(app: &TestApp, token: &str, path: &str) -> anyhow::Result<(f64, Value)> {
    let started = Instant::now();
    let reply = app.get(path, token).await;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(reply.status == StatusCode::OK, "report: {}", reply.body);
    Ok((seconds, reply.body))
}

fn tickets_in(report: &Value) -> u64 {
    report["groups"]
        .as_array()
        .map(|groups| groups.iter().filter_map(|g| g["tickets"].as_u64()).sum())
        .unwrap_or(0)
}

async fn report(app: TestApp, n: u64) -> (TestApp, anyhow::Result<()>) {
    let (tenant, base) = match seed_report(&app, n).await {
        Ok(seeded) => seeded,
        Err(error) => return (app, Err(error)),
    };
    // The seeding's inserts marked every ticket (migration 0033's triggers),
    // as a bulk load or the migration's backfill does: the maintainer's work.
    let started = Instant::now();
    let backfilled = outcomes::drain(app.state.store.as_ref()).await;
    match backfilled {
        Ok(count) => println!(
            "backfill: {count} outcomes computed and stored by the maintainer in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(error) => return (app, Err(error.into())),
    }
    // Cold: a freshly started server, its first report; the maintainer runs
    // again from here, as in a live system.
    let mut app = app;
    app.config.sla.outcomes_enabled = true;
    let app = app.restart().await;
    let result = timed_reports(&app, &tenant, base, n).await;
    (app, result)
}

async fn seed_report(app: &TestApp, n: u64) -> anyhow::Result<(TestTenant, DateTime<Utc>)> {
    let tenant = app.create_tenant("bench").await;
    let site = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    policy(
        app,
        &tenant,
        json!({"name": "Standard", "targets": {"response_minutes": 120, "arrival_minutes": 480,
                "resolution_minutes": 1440}}),
    )
    .await?;
    policy(
        app,
        &tenant,
        json!({"name": "Lifts, office hours", "match": {"category": "lifts"},
               "targets": {"response_minutes": 60, "arrival_minutes": 240, "resolution_minutes": 960},
               "calendar": {"kind": "weekly", "time_zone": "Europe/Berlin",
                            "hours": [{"day": "mon", "start": "08:00", "end": "18:00"},
                                      {"day": "tue", "start": "08:00", "end": "18:00"},
                                      {"day": "wed", "start": "08:00", "end": "18:00"},
                                      {"day": "thu", "start": "08:00", "end": "18:00"},
                                      {"day": "fri", "start": "08:00", "end": "18:00"}],
                            "holidays": ["2026-10-03", "2026-12-25"]}}),
    )
    .await?;
    let db = app.db.raw().await;
    let base = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now);
    let base_sql = format!("'{}'::timestamptz", base.to_rfc3339());
    let started = Instant::now();
    // Ticket g: created somewhere in the 364 days before yesterday (so its
    // whole history is in the past); 60 % closed, 10 % work done, 10 % on
    // site, 10 % on hold waiting for the customer, 10 % new.
    let created = format!(
        "({base_sql} - interval '1 day' - ((g::bigint * 7919) % 524160) * interval '1 minute')"
    );
    let status = "(ARRAY['closed','closed','closed','closed','closed','closed','work_done','on_site','on_hold','new'])[1 + g % 10]";
    db.execute(
        &format!(
            "INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id, \
             tags, custom_fields, status, hold_reason, created_by, created_at, updated_at, search_text) \
             SELECT md5('t' || g)::uuid, $1, 'B-' || g, 'Bench', '', (ARRAY['hvac','plumbing','electrical','lifts'])[1 + g % 4], \
             'P' || (1 + (g / 4) % 4), '[]', $2, '[]', '{{}}', {status}, \
             CASE WHEN g % 10 = 8 THEN 'waiting_customer' END, $3, {created}, {created} + interval '1 day', 'bench' \
             FROM generate_series(1, {n}) g"
        ),
        &[tenant.id, site, tenant.admin_id],
    )
    .await;
    // The history: new; accepted after 0–149 min; on site 20–299 min later;
    // on hold, or work done 30–529 min later; closed an hour after that.
    let minutes = |expr: &str| format!("({created} + ({expr}) * interval '1 minute')");
    let accepted = "g % 150";
    let on_site = "g % 150 + 20 + g % 280";
    let done = "g % 150 + 20 + g % 280 + 30 + g % 500";
    let closed = "g % 150 + 20 + g % 280 + 30 + g % 500 + 60";
    for (seq, at, row_status, reason, filter) in [
        (1, created.clone(), "'new'", "NULL", "TRUE".to_owned()),
        (
            2,
            minutes(accepted),
            "'accepted'",
            "NULL",
            "g % 10 <> 9".to_owned(),
        ),
        (
            3,
            minutes(on_site),
            "'on_site'",
            "NULL",
            "g % 10 <> 9".to_owned(),
        ),
        (
            4,
            minutes(done),
            "'on_hold'",
            "'waiting_customer'",
            "g % 10 = 8".to_owned(),
        ),
        (
            4,
            minutes(done),
            "'work_done'",
            "NULL",
            "g % 10 <= 6".to_owned(),
        ),
        (
            5,
            minutes(closed),
            "'closed'",
            "NULL",
            "g % 10 <= 5".to_owned(),
        ),
    ] {
        db.execute(
            &format!(
                "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
                 SELECT $1, md5('t' || g)::uuid, {seq}, {at}, {row_status}, {reason} \
                 FROM generate_series(1, {n}) g WHERE {filter}"
            ),
            &[tenant.id],
        )
        .await;
    }
    db.execute("ANALYZE", &[]).await;
    println!(
        "seeded {n} tickets with their history in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((tenant, base))
}

async fn timed_reports(
    app: &TestApp,
    tenant: &TestTenant,
    base: DateTime<Utc>,
    n: u64,
) -> anyhow::Result<()> {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let month = format!(
        "/v1/reports/sla?from={}&to={}&group_by=category",
        at(base - Duration::days(31)),
        at(base)
    );
    // Seeding and the backfill at 1 M tickets outlast an access token's
    // 15 minutes: sign in again.
    let token = &app
        .login(&tenant.name, &format!("admin@{}.test", tenant.name))
        .await;
    let (cold, report) = timed_report(app, token, &format!("{month}&engine=sql")).await?;
    let month_tickets = tickets_in(&report);
    println!(
        "month by category, SQL path, cold (fresh server, first report; outcomes kept on write): {cold:.3} s"
    );
    let mut sql = Vec::new();
    for _ in 0..5 {
        let (seconds, again) = timed_report(app, token, &format!("{month}&engine=sql")).await?;
        anyhow::ensure!(
            again["groups"] == report["groups"],
            "SQL path changed its answer"
        );
        sql.push(seconds);
    }
    let mut naive = Vec::new();
    for _ in 0..3 {
        let (seconds, naive_report) =
            timed_report(app, token, &format!("{month}&engine=app")).await?;
        anyhow::ensure!(
            naive_report["groups"] == report["groups"],
            "the paths disagree:\nsql {report:#}\napp {naive_report:#}"
        );
        naive.push(seconds);
    }
    let (sql_median, naive_median) = (median(sql.clone()), median(naive.clone()));
    println!(
        "month by category ({month_tickets} of {n} tickets): SQL path warm median {sql_median:.3} s of {sql:.3?}; \
         naive in-app path median {naive_median:.2} s of {naive:.2?}; same groups; naive / SQL = {:.1}×",
        naive_median / sql_median
    );

    if std::env::var("SLA_BENCH_ALL").is_err() {
        println!("(set SLA_BENCH_ALL=1 to also time the report over all {n} tickets)");
        return Ok(());
    }
    let all = format!(
        "/v1/reports/sla?from={}&to={}&group_by=category",
        at(base - Duration::days(366)),
        at(base + Duration::hours(1))
    );
    let (first, report) = timed_report(app, token, &all).await?;
    let all_tickets = tickets_in(&report);
    println!(
        "all {all_tickets} tickets by category, SQL path, first time (outcomes kept on write): {first:.3} s"
    );
    let mut warm = Vec::new();
    for _ in 0..3 {
        warm.push(timed_report(app, token, &all).await?.0);
    }
    println!(
        "all {all_tickets} tickets by category, SQL path warm: median {:.3} s of {warm:.3?}",
        median(warm.clone())
    );
    let by_month = all.replace("group_by=category", "group_by=month");
    let mut warm = Vec::new();
    for _ in 0..3 {
        warm.push(timed_report(app, token, &by_month).await?.0);
    }
    println!(
        "all {all_tickets} tickets by month, SQL path warm: median {:.3} s of {warm:.3?}",
        median(warm.clone())
    );
    Ok(())
}

async fn timers(app: &TestApp, n: u64) -> anyhow::Result<()> {
    let tenant = app.create_tenant("bench").await;
    let site = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    policy(
        app,
        &tenant,
        json!({"name": "Bench", "targets": {"response_minutes": 120, "arrival_minutes": 480,
                "resolution_minutes": 2880}}),
    )
    .await?;
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
        let timers = SlaTimers::load(app.state.dispatch_handles(), Utc::now()).await?;
        rebuilds.push(started.elapsed().as_secs_f64());
        memory.push(rss_mib() - before);
        scheduled = timers.scheduled_tickets();
        entries = timers.queue_entries();
        drop(timers);
    }
    println!(
        "timer rebuild: median {:.2} s of {rebuilds:.2?}; {scheduled} tickets scheduled, {entries} queue entries; \
         RSS growth during a rebuild {:.1} MiB (first {:.1} MiB); RSS now {:.0} MiB",
        median(rebuilds.clone()),
        median(memory.clone()),
        memory[0],
        rss_mib()
    );
    Ok(())
}
