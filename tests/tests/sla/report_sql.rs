//! The SLA report aggregated in SQL (`engine=sql`, the default) against the
//! reference path that evaluates every clock in the application
//! (`engine=app`), on a randomized fixture (seed printed, set
//! `SLA_REPORT_SEED` to replay): business-hours and 24×7 policies, pauses on
//! hold, rework, reopen, cancellation, late and future-dated events,
//! unassigned tickets, two territories and customers. Every grouping must
//! give the same groups, in JSON and in CSV; after a ticket change and a new
//! policy the stored outcomes must be recomputed (the reports change, and
//! still agree). Runs in a few seconds per backend.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::app::{TestApp, all_week_shifts, id_of};
use uuid::Uuid;

backend_tests!(engines_agree_on_a_random_fixture);

const GROUPINGS: [&str; 8] = [
    "category",
    "priority",
    "technician",
    "customer",
    "territory",
    "day",
    "week",
    "month",
];

/// RFC 3339 with an explicit offset: what both backends store and compare.
fn literal(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A random status history starting at `created`, in whole minutes.
fn history(
    rng: &mut fastrand::Rng,
    created: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, &'static str, Option<&'static str>)> {
    let mut at = created;
    let mut events = vec![(at, "new", None)];
    let flow = [
        "assigned",
        "accepted",
        "en_route",
        "on_site",
        "work_done",
        "closed",
    ];
    let stop = rng.usize(0..=flow.len() + 1);
    let step = |rng: &mut fastrand::Rng, at: &mut DateTime<Utc>| {
        *at += Duration::minutes(rng.i64(0..=400));
        *at
    };
    for (i, status) in flow.iter().enumerate().take(stop.min(flow.len())) {
        // Sometimes on hold before going on (waiting for the customer pauses; parts too).
        if rng.u8(0..5) == 0 {
            let reason = if rng.bool() {
                "waiting_customer"
            } else {
                "waiting_parts"
            };
            events.push((step(rng, &mut at), "on_hold", Some(reason)));
        }
        events.push((step(rng, &mut at), status, None));
        // Rework: back on site after work done.
        if *status == "work_done" && rng.u8(0..4) == 0 {
            events.push((step(rng, &mut at), "on_site", None));
            events.push((step(rng, &mut at), "work_done", None));
        }
        if i == 1 && rng.u8(0..12) == 0 {
            events.push((step(rng, &mut at), "cancelled", None));
            return events;
        }
    }
    if stop > flow.len() {
        // Reopened after closing.
        events.push((step(rng, &mut at), "new", None));
        events.push((step(rng, &mut at), "assigned", None));
    }
    events
}

/// Rewrites a ticket's status, assignee, creation and history (around the
/// API: the report reads only these). `updated_at` moves on, as every write does.
async fn backdate(
    db: &truckroll_tests::RawDb,
    tenant: Uuid,
    ticket: Uuid,
    assignee: Option<Uuid>,
    events: &[(DateTime<Utc>, &str, Option<&str>)],
) {
    let (created, _, _) = events[0];
    let (_, status, reason) = events[events.len() - 1];
    let reason = reason.map_or_else(|| "NULL".to_owned(), |r| format!("'{r}'"));
    db.execute(
        &format!(
            "UPDATE tickets SET status = '{status}', hold_reason = {reason}, created_at = '{}', updated_at = '{}' \
             WHERE tenant_id = $1 AND id = $2",
            literal(created),
            literal(Utc::now() + Duration::seconds(1))
        ),
        &[tenant, ticket],
    )
    .await;
    if let Some(technician) = assignee {
        db.execute(
            "UPDATE tickets SET assignee_id = $3 WHERE tenant_id = $1 AND id = $2",
            &[tenant, ticket, technician],
        )
        .await;
    }
    db.execute(
        "DELETE FROM ticket_status_history WHERE tenant_id = $1 AND ticket_id = $2",
        &[tenant, ticket],
    )
    .await;
    for (seq, (at, status, reason)) in events.iter().enumerate() {
        let reason = reason.map_or_else(|| "NULL".to_owned(), |r| format!("'{r}'"));
        db.execute(
            &format!(
                "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
                 VALUES ($1, $2, {}, '{}', '{status}', {reason})",
                seq + 1,
                literal(*at)
            ),
            &[tenant, ticket],
        )
        .await;
    }
}

async fn csv(app: &TestApp, token: &str, path: &str) -> String {
    let reply = app
        .send_with(
            Method::GET,
            path,
            Some(token),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body.as_str().unwrap_or_default().to_owned()
}

/// A report's groups without the two figures that grow with `now` (time
/// on site of jobs still on site, and utilisation, whose shift time runs to now).
fn without_now(report: &Value) -> Value {
    let mut groups = report["groups"].clone();
    for group in groups.as_array_mut().into_iter().flatten() {
        if let Some(group) = group.as_object_mut() {
            group.remove("on_site_seconds");
            group.remove("utilisation_pct");
        }
    }
    groups
}

/// CSV without the columns that grow with `now`.
fn csv_without_now(text: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let skip: Vec<usize> = rows[0]
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "on_site_seconds" || *c == "utilisation_pct")
        .map(|(i, _)| i)
        .collect();
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|(i, _)| !skip.contains(i))
                .map(|(_, c)| c)
                .collect()
        })
        .collect()
}

/// Every grouping through both engines: the same groups, the same CSV.
/// Time on site of jobs still on site grows with `now`, so the SQL report,
/// asked between two in-app ones, must lie between them. Returns the SQL
/// engine's reports.
async fn compare(app: &TestApp, token: &str, range: &str, seed: u64) -> Vec<Value> {
    let mut reports = Vec::new();
    for grouping in GROUPINGS {
        let path = format!("/v1/reports/sla?{range}&group_by={grouping}");
        let before = app
            .get(&format!("{path}&engine=app"), token)
            .await
            .expect(StatusCode::OK);
        let sql = app
            .get(&format!("{path}&engine=sql"), token)
            .await
            .expect(StatusCode::OK);
        let after = app
            .get(&format!("{path}&engine=app"), token)
            .await
            .expect(StatusCode::OK);
        let groups = sql["groups"].as_array().expect("groups");
        assert!(!groups.is_empty(), "{grouping}: no groups");
        assert_eq!(
            without_now(&sql),
            without_now(&before),
            "group_by={grouping}, seed {seed}:\nsql {sql:#}\napp {before:#}"
        );
        for (i, group) in groups.iter().enumerate() {
            let on_site = |r: &Value| r["groups"][i]["on_site_seconds"].as_i64().expect("on site");
            assert!(
                on_site(&before) <= on_site(&sql) && on_site(&sql) <= on_site(&after),
                "on-site seconds, group_by={grouping}, seed {seed}: {} <= {} <= {}",
                on_site(&before),
                on_site(&sql),
                on_site(&after)
            );
            let utilisation = group["utilisation_pct"].as_f64();
            let reference = before["groups"][i]["utilisation_pct"].as_f64();
            assert_eq!(utilisation.is_some(), reference.is_some(), "{group:#}");
            if let (Some(u), Some(r)) = (utilisation, reference) {
                assert!((u - r).abs() < 0.05, "utilisation {u} vs {r}, seed {seed}");
            }
        }
        let sql_csv = csv(app, token, &format!("{path}&engine=sql")).await;
        let app_csv = csv(app, token, &format!("{path}&engine=app")).await;
        assert_eq!(
            csv_without_now(&sql_csv),
            csv_without_now(&app_csv),
            "CSV, group_by={grouping}, seed {seed}"
        );
        reports.push(sql);
    }
    reports
}

async fn engines_agree_on_a_random_fixture(backend: truckroll_tests::TestBackend) {
    let seed = std::env::var("SLA_REPORT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("SLA_REPORT_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let app = TestApp::start_with(backend, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
    })
    .await;
    let tenant = app.create_tenant("oracle").await;
    let admin = tenant.admin_token.clone();
    let berlin = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    app.post(
        "/v1/territories",
        &admin,
        &json!({"name": "Berlin", "boundary": {"type": "Polygon",
            "coordinates": [[[13.3, 52.4], [13.5, 52.4], [13.5, 52.6], [13.3, 52.6], [13.3, 52.4]]]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            &json!({"name": "Brewery", "tier": "silver"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let munich = app
        .post(
            "/v1/sites",
            &admin,
            &json!({"customer_id": customer["id"], "name": "Munich", "address": "Marienplatz 1",
                    "location": {"lat": 48.137, "lon": 11.575}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let munich = id_of(&munich, "id");
    let mut technicians = Vec::new();
    for name in ["ada", "bob"] {
        let (user, _) = app
            .create_user(&tenant, &format!("{name}@oracle.test"), "technician")
            .await;
        let technician = app
            .post(
                "/v1/technicians",
                &admin,
                &json!({"user_id": user, "name": name, "skills": [{"skill": "hvac", "level": 3}],
                        "shifts": all_week_shifts(), "time_zone": "UTC", "capacity": 50,
                        "home_base": {"lat": 52.52, "lon": 13.40}}),
            )
            .await
            .expect(StatusCode::CREATED);
        technicians.push(id_of(&technician, "id"));
    }
    let mut policies = Vec::new();
    for policy in [
        json!({"name": "Default", "targets": {"response_minutes": 60, "arrival_minutes": 240,
               "resolution_minutes": 1440}}),
        json!({"name": "Lifts, office hours", "match": {"category": "lifts"},
               "targets": {"response_minutes": 120, "arrival_minutes": 480, "resolution_minutes": 960},
               "calendar": {"kind": "weekly", "time_zone": "Europe/Berlin",
                            "hours": [{"day": "mon", "start": "08:00", "end": "17:00"},
                                      {"day": "tue", "start": "08:00", "end": "17:00"},
                                      {"day": "wed", "start": "08:00", "end": "12:00"},
                                      {"day": "wed", "start": "13:00", "end": "17:00"},
                                      {"day": "thu", "start": "08:00", "end": "17:00"},
                                      {"day": "fri", "start": "08:00", "end": "15:00"}],
                            "holidays": ["2026-12-25", "2026-10-03"]}}),
        json!({"name": "P1 gold", "match": {"priority": "P1", "customer_tier": "gold"},
               "targets": {"response_minutes": 15, "arrival_minutes": 90},
               "pause_on": [{"status": "on_hold", "hold_reason": "waiting_customer"}]}),
    ] {
        let created = app
            .post("/v1/sla/policies", &admin, &policy)
            .await
            .expect(StatusCode::CREATED);
        policies.push(id_of(&created, "id"));
    }

    // Whole seconds, so every fixture instant is whole minutes from `base` and
    // nothing falls between two requests.
    let base = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    let db = app.db.raw().await;
    let categories = ["hvac", "plumbing", "lifts"];
    for _ in 0..40 {
        let site = if rng.bool() { berlin } else { munich };
        let body = json!({"title": "Oracle", "category": categories[rng.usize(..categories.len())],
                          "priority": format!("P{}", rng.u8(1..=4)), "site_id": site});
        let id = id_of(
            &app.post("/v1/tickets", &admin, &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        );
        let created = base - Duration::minutes(rng.i64(0..=40 * 24 * 60));
        let events = history(&mut rng, created);
        let assignee = (events.len() > 1 && rng.u8(0..6) != 0)
            .then(|| technicians[rng.usize(..technicians.len())]);
        backdate(&db, tenant.id, id, assignee, &events).await;
    }
    // One ticket known by hand: default policy, on site an hour after creation.
    let audit = id_of(
        &app.post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Audit", "category": "audit", "priority": "P3", "site_id": munich}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    backdate(
        &db,
        tenant.id,
        audit,
        Some(technicians[0]),
        &[
            (base - Duration::hours(2), "new", None),
            (base - Duration::minutes(90), "accepted", None),
            (base - Duration::hours(1), "on_site", None),
        ],
    )
    .await;
    // One ticket on site across the end of a past range (below): an hour
    // before it, an hour after it.
    let past_to = base - Duration::days(2);
    let crossing = id_of(
        &app.post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Crossing", "category": "crossing", "priority": "P3", "site_id": munich}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    backdate(
        &db,
        tenant.id,
        crossing,
        Some(technicians[1]),
        &[
            (past_to - Duration::hours(3), "new", None),
            (past_to - Duration::hours(2), "accepted", None),
            (past_to - Duration::hours(1), "on_site", None),
            (past_to + Duration::hours(1), "work_done", None),
        ],
    )
    .await;
    let from = base - Duration::days(35);
    let to = base + Duration::hours(1);
    let range = format!(
        "from={}&to={}",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let before = compare(&app, &admin, &range, seed).await;
    // Again: now from the stored outcomes alone (nothing is stale).
    let again = compare(&app, &admin, &range, seed).await;
    assert_eq!(
        before.iter().map(without_now).collect::<Vec<_>>(),
        again.iter().map(without_now).collect::<Vec<_>>()
    );

    let group = |report: &Value, key: &str| -> Value {
        report["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["key"] == key)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(group(&before[0], "crossing")["on_site_seconds"], 7200);
    // A range ending in the past clips the stretches that outlast it (the
    // SQL path reads those tickets' stretches instead of their summary).
    let past = format!(
        "from={}&to={}",
        (past_to - Duration::days(20)).to_rfc3339_opts(SecondsFormat::Secs, true),
        past_to.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let past_reports = compare(&app, &admin, &past, seed).await;
    assert_eq!(group(&past_reports[0], "crossing")["on_site_seconds"], 3600);

    let audit_group = group(&before[0], "audit");
    assert_eq!(audit_group["tickets"], 1);
    assert_eq!(audit_group["arrival"]["met"], 1, "{audit_group:#}");
    assert_eq!(audit_group["response"]["median_seconds"], 1800);
    assert_eq!(audit_group["arrival"]["median_seconds"], 3600);

    // A changed ticket and a changed policy: the stored outcomes are stale
    // and must be recomputed, or the SQL report would disagree.
    // The audit ticket (in range, P3) becomes P4.
    let moved = audit;
    let new_priority = "P4";
    let reply = app
        .patch(
            &format!("/v1/tickets/{moved}"),
            &admin,
            &json!({"priority": new_priority}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["priority"], new_priority);
    app.patch(
        &format!("/v1/sla/policies/{}", policies[0]),
        &admin,
        &json!({"targets": {"response_minutes": 20, "arrival_minutes": 30, "resolution_minutes": 1440}}),
    )
    .await
    .expect(StatusCode::OK);
    let after = compare(&app, &admin, &range, seed).await;
    let count = |report: &Value| group(report, new_priority)["tickets"].as_u64().unwrap_or(0);
    assert_eq!(
        count(&after[1]),
        count(&before[1]) + 1,
        "the changed ticket moved: {:#}",
        after[1]
    );
    let audit_group = group(&after[0], "audit");
    assert_eq!(audit_group["arrival"]["met"], 0, "{audit_group:#}");
    assert_eq!(audit_group["arrival"]["met_late"], 1, "{audit_group:#}");
    assert_eq!(audit_group["response"]["met_late"], 1, "{audit_group:#}");
    app.stop().await;
}
