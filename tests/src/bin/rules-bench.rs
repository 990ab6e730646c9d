//! Trigger rules: evaluation cost per event with 200 active rules (in
//! process, `domain::automation::run_chain`, against the same facts with no
//! rules), and ticket creation throughput over HTTP with 0 and with 200
//! rules, both tenants in the same server in the same run.
//!
//! The 200 rules: 198 that do not hold for the tickets (nested all/any over
//! priority, tier, text, tags, custom fields), and 2 that do and add a tag
//! each — so every creation also takes the rules' ticket write and records
//! two firings.
//!
//! `cargo run -p truckroll-tests --bin rules-bench -- [N tickets] [sqlite|postgres]`

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::domain::{
    automation::{Facts, Rule, TriggerEvent, run_chain},
    customers::CustomerTier,
    ticket::Ticket,
};
use truckroll_tests::{TestBackend, app::TestApp};
use uuid::Uuid;

fn definition(i: usize) -> Value {
    if i % 100 == 7 {
        // Holds for every bench ticket.
        return json!({"events": ["ticket_created"],
            "conditions": {"all": [{"field": "priority", "op": "eq", "value": "P3"},
                                   {"field": "channel", "op": "eq", "value": "api"}]},
            "actions": [{"type": "add_tags", "tags": [format!("bench-{i}")]}]});
    }
    json!({"events": ["ticket_created", "ticket_updated"],
        "conditions": {"all": [
            {"any": [{"field": "priority", "op": "eq", "value": "P1"},
                     {"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]}]},
            {"field": "text", "op": "contains", "value": format!("keyword-{i}")},
            {"not": {"field": "tags", "op": "contains", "value": "ignore"}},
            {"field": "custom.amount", "op": "gt", "value": i}
        ]},
        "actions": [{"type": "set_priority", "priority": "P1"},
                    {"type": "add_tags", "tags": [format!("rule-{i}")]}]})
}

async fn create(app: &TestApp, token: &str, site: &Value, n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let body = json!({"title": format!("Bench {i}"), "description": "compressor noise",
                          "category": "hvac", "priority": "P3", "site_id": site["id"],
                          "custom_fields": {"amount": 3}});
        app.post("/v1/tickets", token, &body)
            .await
            .expect(StatusCode::CREATED);
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(300);
    let backend = match args.next().as_deref() {
        None | Some("sqlite") => TestBackend::Sqlite,
        Some("postgres") => TestBackend::Postgres,
        Some(other) => anyhow::bail!("unknown backend `{other}` (sqlite or postgres)"),
    };

    // ---- in process: µs per event ------------------------------------------------
    let rules: Vec<Rule> = (0..200)
        .map(|i| Rule {
            id: Uuid::now_v7(),
            name: format!("rule {i}"),
            position: i as i64,
            active: true,
            definition: serde_json::from_value(definition(i)).expect("definition"),
            updated_by: Uuid::nil(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
        .collect();
    let ticket: Ticket = serde_json::from_value(json!({
        "id": Uuid::now_v7(), "tenant_id": Uuid::nil(), "number": "TR-000001", "title": "Bench",
        "description": "compressor noise", "category": "hvac", "priority": "P3", "required_skills": [],
        "site_id": Uuid::nil(), "asset_id": null, "tags": [], "custom_fields": {"amount": 3},
        "status": "new", "hold_reason": null, "assignee_id": null, "created_by": Uuid::nil(),
        "created_at": "2026-12-05T00:00:00Z", "updated_at": "2026-12-05T00:00:00Z"}))?;
    let facts = Facts {
        ticket,
        customer_id: None,
        customer_tier: Some(CustomerTier::Standard),
        channel: "api".into(),
        team_id: None,
        owner_id: None,
        comment: None,
    };
    let events = [TriggerEvent::TicketCreated];
    let rounds = 20_000;
    for (label, set) in [("200 rules", &rules[..]), ("0 rules (peer)", &[][..])] {
        let started = Instant::now();
        let mut fired = 0;
        for _ in 0..rounds {
            fired += run_chain(set, &events, facts.clone()).firings.len();
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!(
            "evaluate, {label}: {us:.1} µs/event ({} firings/event)",
            fired / rounds
        );
    }

    // ---- over HTTP: tickets per second with 0 and 200 rules ------------------------
    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
    })
    .await;
    let plain = app.create_tenant("bench-plain").await;
    let ruled = app.create_tenant("bench-rules").await;
    let plain_site = app.berlin_site(&plain, "standard").await;
    let ruled_site = app.berlin_site(&ruled, "standard").await;
    for i in 0..200 {
        app.post(
            "/v1/rules",
            &ruled.admin_token,
            &json!({"name": format!("rule {i}"), "definition": definition(i)}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    // Warm both paths, then alternate halves so drift hits both alike.
    create(&app, &plain.admin_token, &plain_site, 10).await;
    create(&app, &ruled.admin_token, &ruled_site, 10).await;
    let half = n / 2;
    let p1 = create(&app, &plain.admin_token, &plain_site, half).await;
    let r1 = create(&app, &ruled.admin_token, &ruled_site, half).await;
    let p2 = create(&app, &plain.admin_token, &plain_site, half).await;
    let r2 = create(&app, &ruled.admin_token, &ruled_site, half).await;
    let (plain_rate, ruled_rate) = ((p1 + p2) / 2.0, (r1 + r2) / 2.0);
    println!(
        "create over HTTP ({backend:?}, {} tickets each, sequential): 0 rules {plain_rate:.1}/s, 200 rules {ruled_rate:.1}/s, ratio {:.2}",
        2 * half,
        ruled_rate / plain_rate
    );
    app.stop().await;
    Ok(())
}
