//! SLA end to end: policies (CRUD, validation, permissions), the SLA state
//! every ticket response carries (deadline, pause on hold, met by accept,
//! most specific policy, priority change keeping paused time), and the report
//! in JSON and CSV. No sleeps: relations between returned fields only.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::{
    app::{TestApp, id_of},
    fixtures::{Shop, error_fields},
};
use uuid::Uuid;

backend_tests!(
    policies_are_managed_by_admins_and_validated,
    tickets_carry_their_sla_state,
    accepting_an_offer_meets_response,
    assign_and_unassign_answer_with_the_sla,
    report_extras_match_hand_computed_fixtures,
    report_in_json_and_csv,
    queue_filters_and_sorts_by_sla_and_priority
);

async fn policy(app: &TestApp, shop: &Shop, body: Value) -> Uuid {
    id_of(
        &app.post("/v1/sla/policies", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

async fn policies_are_managed_by_admins_and_validated(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.as_str();

    // Defaults: 24×7, pauses on hold, warnings at 75 and 90.
    let created = app
        .post(
            "/v1/sla/policies",
            admin,
            &json!({"name": "Gold P1", "match": {"priority": "P1", "customer_tier": "gold"},
                    "targets": {"response_minutes": 30, "resolution_minutes": 480}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created, "id");
    assert_eq!(created["calendar"]["kind"], "24x7");
    assert_eq!(created["warning_thresholds"], json!([75, 90]));
    assert_eq!(created["pause_on"].as_array().map(Vec::len), Some(2));
    assert_eq!(created["match"]["category"], Value::Null);

    let weekly = app
        .post(
            "/v1/sla/policies",
            admin,
            &json!({"name": "Office hours", "targets": {"response_minutes": 60},
                    "calendar": {"kind": "weekly", "time_zone": "Europe/Berlin",
                                 "hours": [{"day": "mon", "start": "08:00", "end": "17:00"}],
                                 "holidays": ["2026-12-25"]}}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(weekly["calendar"]["time_zone"], "Europe/Berlin");

    let list = app
        .get("/v1/sla/policies", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["id"], created["id"]);

    let patched = app
        .patch(
            &format!("/v1/sla/policies/{id}"),
            admin,
            &json!({"name": "Gold P1 (tight)", "targets": {"response_minutes": 15}}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["name"], "Gold P1 (tight)");
    assert_eq!(patched["targets"]["response_minutes"], 15);
    assert_eq!(patched["targets"]["resolution_minutes"], Value::Null);
    assert_eq!(patched["match"], created["match"]);
    let read = app
        .get(&format!("/v1/sla/policies/{id}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read, patched);

    // Validation names the fields.
    let reply = app
        .post(
            "/v1/sla/policies",
            admin,
            &json!({"name": "Bad", "targets": {}, "warning_thresholds": [100],
                    "pause_on": [{"status": "closed"}],
                    "calendar": {"kind": "weekly", "time_zone": "Mars/Olympus", "hours": []}}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fields = error_fields(&reply);
    for field in ["targets", "warning_thresholds[0]", "pause_on[0].status"] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("calendar")),
        "{fields:?}"
    );
    let reply = app
        .patch(
            &format!("/v1/sla/policies/{id}"),
            admin,
            &json!({"targets": {"response_minutes": 0}}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error_fields(&reply), vec!["targets.response_minutes"]);
    let reply = app
        .post(
            "/v1/sla/policies",
            admin,
            &json!({"name": "Typo", "targets": {"response_minutes": 5}, "calender": {}}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );

    // Who may do what.
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "dispatch@acme.test", "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&shop.tenant, "boss@acme.test", "manager")
        .await;
    for token in [&dispatcher, &manager] {
        app.get("/v1/sla/policies", token)
            .await
            .expect(StatusCode::OK);
        app.get(&format!("/v1/sla/policies/{id}"), token)
            .await
            .expect(StatusCode::OK);
        app.post(
            "/v1/sla/policies",
            token,
            &json!({"name": "Mine", "targets": {"response_minutes": 5}}),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
        app.patch(
            &format!("/v1/sla/policies/{id}"),
            token,
            &json!({"name": "Mine"}),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.get("/v1/sla/policies", &shop.tech().token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Another tenant's policy is absent.
    let other = app.create_tenant("other").await;
    app.get(&format!("/v1/sla/policies/{id}"), &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.patch(
        &format!("/v1/sla/policies/{id}"),
        &other.admin_token,
        &json!({"name": "Stolen"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/sla/policies/{}", Uuid::now_v7()), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn tickets_carry_their_sla_state(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.as_str();
    let tech = shop.tech().token.as_str();

    // No policy: `sla` is present and null.
    let bare = shop.ticket(&app, "P2").await;
    assert!(bare.as_object().is_some_and(|o| o.contains_key("sla")));
    assert_eq!(bare["sla"], Value::Null);

    let general = policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30, "arrival_minutes": 120,
               "resolution_minutes": 480}}),
    )
    .await;
    let urgent = policy(
        &app,
        &shop,
        json!({"name": "Urgent HVAC", "match": {"priority": "P1", "category": "hvac"},
               "targets": {"response_minutes": 10, "arrival_minutes": 60}}),
    )
    .await;
    // Platinum only: never this gold customer's.
    policy(
        &app,
        &shop,
        json!({"name": "Platinum", "match": {"customer_tier": "platinum", "category": "hvac", "priority": "P2"},
               "targets": {"response_minutes": 1}}),
    )
    .await;

    // Right after creation: ok, deadline = creation + target (24×7, no pause).
    let created = shop.ticket(&app, "P2").await;
    let id = id_of(&created, "id");
    let path = format!("/v1/tickets/{id}");
    let sla = &created["sla"];
    assert_eq!(id_of(sla, "policy_id"), general);
    assert_eq!(sla["policy_name"], "Everything");
    let created_at = time(&created["created_at"]);
    for (target, minutes) in [("response", 30), ("arrival", 120), ("resolution", 480)] {
        let clock = &sla[target];
        assert_eq!(clock["target"], target);
        assert_eq!(clock["state"]["kind"], "ok", "{clock}");
        assert_eq!(clock["phase"], "running");
        assert_eq!(clock["target_seconds"], json!(minutes * 60));
        assert_eq!(clock["paused_seconds"], 0);
        assert_eq!(time(&clock["started_at"]), created_at);
        assert_eq!(
            time(&clock["deadline"]) - created_at,
            Duration::minutes(minutes)
        );
    }
    // The same on read and in lists; the bare ticket now has a policy too.
    let read = app.get(&path, admin).await.expect(StatusCode::OK);
    assert_eq!(
        read["sla"]["response"]["deadline"],
        sla["response"]["deadline"]
    );
    let list = app.get("/v1/tickets", admin).await.expect(StatusCode::OK);
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|t| t["sla"]["policy_id"] == json!(general))
    );

    // The most specific policy wins.
    let p1 = shop.ticket(&app, "P1").await;
    assert_eq!(id_of(&p1["sla"], "policy_id"), urgent);
    assert_eq!(p1["sla"]["resolution"], Value::Null);
    assert_eq!(p1["sla"]["response"]["target_seconds"], 600);

    // Assigned (dispatcher), then accepted by the technician: response met.
    app.patch(&path, admin, &json!({"assignee_id": shop.tech().id}))
        .await
        .expect(StatusCode::OK);
    let accepted = app
        .patch(&path, tech, &json!({"status": "accepted"}))
        .await
        .expect(StatusCode::OK);
    let response = &accepted["sla"]["response"];
    assert_eq!(response["state"]["kind"], "met", "{response}");
    assert_eq!(response["phase"], "met");
    assert_eq!(time(&response["met_at"]), time(&accepted["updated_at"]));
    assert_eq!(accepted["sla"]["arrival"]["phase"], "running");

    // On hold waiting for the customer: arrival and resolution pause, and
    // their elapsed time stays what it was between two reads.
    let held = app
        .patch(
            &path,
            tech,
            &json!({"status": "on_hold", "hold_reason": "waiting_customer"}),
        )
        .await
        .expect(StatusCode::OK);
    let held_at = time(&held["updated_at"]);
    for target in ["arrival", "resolution"] {
        assert_eq!(held["sla"][target]["phase"], "paused", "{}", held["sla"]);
    }
    assert_eq!(held["sla"]["response"]["state"]["kind"], "met");
    let first = app.get(&path, tech).await.expect(StatusCode::OK);
    let second = app.get(&path, tech).await.expect(StatusCode::OK);
    for target in ["arrival", "resolution"] {
        let (a, b) = (&first["sla"][target], &second["sla"][target]);
        assert_eq!(a["phase"], "paused");
        assert_eq!(a["elapsed_seconds"], b["elapsed_seconds"]);
        assert_eq!(a["remaining_seconds"], b["remaining_seconds"]);
        // Elapsed is exactly the running stretch before the hold.
        assert_eq!(
            a["elapsed_seconds"],
            json!((held_at - created_at).num_seconds())
        );
    }

    // Raising the priority picks the urgent policy, recomputed from the
    // same history: still paused, the same elapsed time, its own budget.
    let raised = app
        .patch(&path, admin, &json!({"priority": "P1"}))
        .await
        .expect(StatusCode::OK);
    let sla = &raised["sla"];
    assert_eq!(id_of(sla, "policy_id"), urgent);
    assert_eq!(sla["resolution"], Value::Null);
    assert_eq!(sla["response"]["state"]["kind"], "met");
    let arrival = &sla["arrival"];
    assert_eq!(arrival["phase"], "paused");
    assert_eq!(arrival["target_seconds"], 3600);
    assert_eq!(
        arrival["elapsed_seconds"],
        first["sla"]["arrival"]["elapsed_seconds"]
    );
    let elapsed = arrival["elapsed_seconds"].as_i64().unwrap_or_default();
    // Whole seconds, each rounded down: budget = elapsed + remaining within a second.
    let remaining = arrival["remaining_seconds"].as_i64().unwrap_or_default();
    assert!((3599..=3600).contains(&(elapsed + remaining)), "{arrival}");
    assert!(arrival["paused_seconds"].as_i64().is_some_and(|p| p >= 0));

    // Resumed: the clock runs again; the paused stretch pushes the deadline
    // out by exactly the paused time.
    let resumed = app
        .patch(&path, tech, &json!({"status": "accepted"}))
        .await
        .expect(StatusCode::OK);
    let arrival = &resumed["sla"]["arrival"];
    assert_eq!(arrival["phase"], "running", "{arrival}");
    let paused = time(&resumed["updated_at"]) - held_at;
    assert_eq!(
        time(&arrival["deadline"]) - created_at,
        Duration::minutes(60) + paused
    );
    app.stop().await;
}

async fn accepting_an_offer_meets_response(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.as_str();
    policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30, "arrival_minutes": 120}}),
    )
    .await;
    app.send(
        Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(admin),
        Some(&json!({"mode": "offer_best", "top_n": 1})),
    )
    .await
    .expect(StatusCode::OK);
    let created = shop.ticket(&app, "P2").await;
    assert_eq!(created["sla"]["response"]["phase"], "running");
    let offers = app
        .get("/v1/me/offers", &shop.tech().token)
        .await
        .expect(StatusCode::OK);
    let offer = id_of(&offers[0], "id");
    let accepted = app
        .post(
            &format!("/v1/offers/{offer}/accept"),
            &shop.tech().token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    // The acceptance answers with the ticket as every ticket response shows it.
    assert_eq!(
        accepted["ticket"]["sla"]["response"]["state"]["kind"], "met",
        "{accepted}"
    );
    let read = app
        .get(&format!("/v1/tickets/{}", id_of(&created, "id")), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["status"], "accepted");
    let response = &read["sla"]["response"];
    assert_eq!(response["state"]["kind"], "met", "{response}");
    assert_eq!(time(&response["met_at"]), time(&read["updated_at"]));
    assert_eq!(read["sla"]["arrival"]["phase"], "running");
    app.stop().await;
}

async fn report_in_json_and_csv(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.as_str();
    let tech = shop.tech().token.as_str();
    policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30}}),
    )
    .await;
    let first = shop.ticket(&app, "P2").await;
    shop.ticket(&app, "P3").await;
    let path = format!("/v1/tickets/{}", id_of(&first, "id"));
    app.patch(&path, admin, &json!({"assignee_id": shop.tech().id}))
        .await
        .expect(StatusCode::OK);
    app.patch(&path, tech, &json!({"status": "accepted"}))
        .await
        .expect(StatusCode::OK);

    let from = (time(&first["created_at"]) - Duration::hours(1))
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let url = format!("/v1/reports/sla?from={from}&to={to}&group_by=priority");
    let report = app.get(&url, admin).await.expect(StatusCode::OK);
    assert_eq!(report["group_by"], "priority");
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2, "{report}");
    let p2 = &groups[0];
    assert_eq!(p2["key"], "P2");
    assert_eq!(p2["tickets"], 1);
    assert_eq!(p2["covered"], 1);
    assert_eq!(p2["backlog"], 1);
    assert_eq!(p2["response"]["decided"], 1);
    assert_eq!(p2["response"]["met"], 1);
    assert_eq!(p2["response"]["attainment_pct"], 100.0);
    assert!(
        p2["response"]["median_seconds"]
            .as_i64()
            .is_some_and(|s| s >= 0)
    );
    assert_eq!(
        p2["response"]["median_seconds"],
        p2["response"]["p90_seconds"]
    );
    let p3 = &groups[1];
    assert_eq!(p3["key"], "P3");
    assert_eq!(p3["response"]["decided"], 0);
    assert_eq!(p3["response"]["attainment_pct"], Value::Null);

    // CSV: one header, one line per group, the same numbers.
    let csv = app
        .send_with(
            Method::GET,
            &url,
            Some(admin),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/csv"))
    );
    let text = csv.body.as_str().unwrap_or_default().to_owned();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header = &lines[0];
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    assert_eq!(lines[1][column("key")], "P2");
    assert_eq!(lines[1][column("tickets")], "1");
    assert_eq!(lines[1][column("response_met")], "1");
    assert_eq!(lines[1][column("response_attainment_pct")], "100");
    assert_eq!(
        lines[1][column("response_median_seconds")],
        p2["response"]["median_seconds"].to_string()
    );
    assert_eq!(lines[2][column("response_attainment_pct")], "");

    // Grouped by category; bad input and roles.
    let by_category = app
        .get(&format!("/v1/reports/sla?from={from}&to={to}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_category["groups"][0]["key"], "hvac");
    assert_eq!(by_category["groups"][0]["tickets"], 2);
    app.get(&format!("/v1/reports/sla?from={to}&to={from}"), admin)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let reply = app
        .get(
            &format!("/v1/reports/sla?from={from}&to={to}&group_by=planet"),
            admin,
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.body);
    let (_, manager) = app
        .create_user(&shop.tenant, "boss@acme.test", "manager")
        .await;
    app.get(&url, &manager).await.expect(StatusCode::OK);
    app.get(&url, tech)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}

async fn assign_and_unassign_answer_with_the_sla(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.as_str();
    let policy_id = policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30}}),
    )
    .await;
    let created = shop.ticket(&app, "P2").await;
    let id = id_of(&created, "id");
    let assigned = app
        .post(
            &format!("/v1/tickets/{id}/assign"),
            admin,
            &json!({"technician_id": shop.tech().id}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(id_of(&assigned["sla"], "policy_id"), policy_id);
    assert_eq!(
        assigned["sla"]["response"]["phase"], "running",
        "{assigned}"
    );
    let unassigned = app
        .post(&format!("/v1/tickets/{id}/unassign"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(unassigned["status"], "new");
    assert_eq!(id_of(&unassigned["sla"], "policy_id"), policy_id);
    let best = app
        .post(
            &format!("/v1/tickets/{id}/assign"),
            admin,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(best["sla"]["response"]["phase"], "running", "{best}");
    app.stop().await;
}

/// RFC 3339 with an explicit offset: what both backends store and compare.
fn literal(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Rewrites a ticket's status, assignee, creation and history to fixed
/// values (around the API: the report reads only these).
async fn backdate(
    db: &truckroll_tests::RawDb,
    tenant: Uuid,
    ticket: Uuid,
    assignee: Option<Uuid>,
    history: &[(DateTime<Utc>, &str)],
) {
    let (created, _) = history[0];
    let (last_at, status) = history[history.len() - 1];
    db.execute(
        &format!(
            "UPDATE tickets SET status = '{status}', created_at = '{}', updated_at = '{}' WHERE tenant_id = $1 AND id = $2",
            literal(created),
            literal(last_at)
        ),
        &[tenant, ticket],
    )
    .await;
    match assignee {
        Some(technician) => {
            db.execute(
                "UPDATE tickets SET assignee_id = $3 WHERE tenant_id = $1 AND id = $2",
                &[tenant, ticket, technician],
            )
            .await
        }
        None => 0,
    };
    db.execute(
        "DELETE FROM ticket_status_history WHERE tenant_id = $1 AND ticket_id = $2",
        &[tenant, ticket],
    )
    .await;
    for (seq, (at, status)) in history.iter().enumerate() {
        db.execute(
            &format!(
                "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
                 VALUES ($1, $2, {}, '{}', '{status}', NULL)",
                seq + 1,
                literal(*at)
            ),
            &[tenant, ticket],
        )
        .await;
    }
}

/// The value the JSON report gives for a CSV column of one group.
fn json_cell(report: &Value, group: &Value, column: &str) -> Value {
    let ftf = &group["first_time_fix"];
    let age = &group["backlog_age"];
    match column {
        "group_by" => report["group_by"].clone(),
        "closed" => ftf["closed"].clone(),
        "fixed_first_time" => ftf["fixed_first_time"].clone(),
        "first_time_fix_pct" => ftf["rate_pct"].clone(),
        "backlog_under_1d" => age["under_1d"].clone(),
        "backlog_1d_to_3d" => age["from_1d_to_3d"].clone(),
        "backlog_3d_to_7d" => age["from_3d_to_7d"].clone(),
        "backlog_over_7d" => age["over_7d"].clone(),
        other => match other.split_once('_') {
            Some((target @ ("response" | "arrival" | "resolution"), field)) => {
                group[target][field].clone()
            }
            _ => group[other].clone(),
        },
    }
}

/// Fetches the report as JSON and CSV and checks every CSV cell against JSON.
async fn report_both_ways(app: &TestApp, token: &str, query: &str) -> Value {
    let path = format!("/v1/reports/sla?{query}");
    let json = app.get(&path, token).await.expect(StatusCode::OK);
    let csv = app
        .send_with(
            Method::GET,
            &path,
            Some(token),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.body.as_str().unwrap_or_default().to_owned();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let header = &rows[0];
    let groups = json["groups"].as_array().expect("groups");
    assert_eq!(rows.len(), groups.len() + 1, "{text}");
    for (row, group) in rows[1..].iter().zip(groups) {
        assert_eq!(row.len(), header.len(), "{text}");
        for (column, cell) in header.iter().zip(row) {
            let expected = json_cell(&json, group, column);
            let same = match &expected {
                Value::Null => cell.is_empty(),
                Value::String(s) => s == cell,
                Value::Number(n) => cell.parse::<f64>().ok() == n.as_f64(),
                other => panic!("column {column}: unexpected JSON {other}"),
            };
            assert!(
                same,
                "column {column}: csv `{cell}` vs json {expected}\n{text}"
            );
        }
    }
    json
}

async fn report_extras_match_hand_computed_fixtures(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let tenant = shop.tenant.id;
    // A territory around central Berlin holds the shop's site; a Munich site is in none.
    let territory = app
        .post(
            "/v1/territories",
            &admin,
            &json!({"name": "Berlin", "boundary": {"type": "Polygon",
                "coordinates": [[[13.3, 52.4], [13.5, 52.4], [13.5, 52.6], [13.3, 52.6], [13.3, 52.4]]]}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let territory = id_of(&territory, "id");
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
    let new_ticket = |site: Uuid| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let body =
                json!({"title": "Fixture", "category": "hvac", "priority": "P3", "site_id": site});
            id_of(
                &app.post("/v1/tickets", &admin, &body)
                    .await
                    .expect(StatusCode::CREATED),
                "id",
            )
        }
    };
    let base = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    let h = Duration::hours;
    let d = Duration::days;
    let db = app.db.raw().await;
    let tech = shop.tech().id;
    // T1: closed after one visit of exactly an hour — a first-time fix.
    let t1 = new_ticket(shop.site).await;
    let day0 = base - d(9);
    backdate(
        &db,
        tenant,
        t1,
        Some(tech),
        &[
            (day0, "new"),
            (day0 + h(1), "assigned"),
            (day0 + h(2), "accepted"),
            (day0 + h(2), "en_route"),
            (day0 + h(3), "on_site"),
            (day0 + h(4), "work_done"),
            (day0 + h(5), "closed"),
        ],
    )
    .await;
    // T2: two half-hour visits (rework) — closed, but not a first-time fix.
    let t2 = new_ticket(shop.site).await;
    backdate(
        &db,
        tenant,
        t2,
        Some(tech),
        &[
            (day0, "new"),
            (day0 + h(1), "assigned"),
            (day0 + h(2), "accepted"),
            (day0 + h(2), "en_route"),
            (day0 + h(3), "on_site"),
            (day0 + h(3) + Duration::minutes(30), "work_done"),
            (day0 + h(5), "on_site"),
            (day0 + h(5) + Duration::minutes(30), "work_done"),
            (day0 + h(6), "closed"),
        ],
    )
    .await;
    // Open tickets of four ages: T5 in Berlin, the rest in Munich.
    let t5 = new_ticket(shop.site).await;
    backdate(&db, tenant, t5, None, &[(base - d(8), "new")]).await;
    for (age, site) in [(d(5), munich), (d(2), munich), (h(2), munich)] {
        let id = new_ticket(site).await;
        backdate(&db, tenant, id, None, &[(base - age, "new")]).await;
    }
    let from = base - d(10);
    let to = base - h(1);
    let range = format!(
        "from={}&to={}",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true)
    );

    let by_territory = report_both_ways(&app, &admin, &format!("{range}&group_by=territory")).await;
    let groups = by_territory["groups"].as_array().expect("groups");
    let keys: Vec<&str> = groups.iter().filter_map(|g| g["key"].as_str()).collect();
    let mut expected_keys = vec![territory.to_string(), "none".to_owned()];
    expected_keys.sort();
    assert_eq!(keys, expected_keys);
    let berlin = groups
        .iter()
        .find(|g| g["key"] == territory.to_string())
        .expect("berlin");
    let none = groups.iter().find(|g| g["key"] == "none").expect("none");
    assert_eq!(berlin["tickets"], 3);
    assert_eq!(berlin["backlog"], 1);
    assert_eq!(
        berlin["backlog_age"],
        json!({"under_1d": 0, "from_1d_to_3d": 0, "from_3d_to_7d": 0, "over_7d": 1})
    );
    assert_eq!(
        berlin["first_time_fix"],
        json!({"closed": 2, "fixed_first_time": 1, "rate_pct": 50.0})
    );
    assert_eq!(berlin["on_site_seconds"], 7200, "1 h + 2 × 30 min");
    assert_eq!(
        berlin["utilisation_pct"],
        Value::Null,
        "only per technician"
    );
    assert_eq!(none["tickets"], 3);
    assert_eq!(
        none["backlog_age"],
        json!({"under_1d": 1, "from_1d_to_3d": 1, "from_3d_to_7d": 1, "over_7d": 0})
    );
    assert_eq!(
        none["first_time_fix"],
        json!({"closed": 0, "fixed_first_time": 0, "rate_pct": null})
    );
    assert_eq!(none["on_site_seconds"], 0);

    let by_technician =
        report_both_ways(&app, &admin, &format!("{range}&group_by=technician")).await;
    let groups = by_technician["groups"].as_array().expect("groups");
    let ada = groups
        .iter()
        .find(|g| g["key"] == tech.to_string())
        .expect("technician group");
    assert_eq!(ada["tickets"], 2);
    // 7200 s on site ÷ 24 h shifts over [from, to) = 10 days − 1 hour = 860 400 s.
    assert_eq!(ada["on_site_seconds"], 7200);
    assert_eq!(ada["utilisation_pct"], json!(0.84));
    let unassigned = groups
        .iter()
        .find(|g| g["key"] == "unassigned")
        .expect("unassigned");
    assert_eq!(unassigned["tickets"], 4);
    assert_eq!(unassigned["utilisation_pct"], Value::Null);
    app.stop().await;
}

/// The ticket ids of a list answer, in order.
fn ids(list: &Value) -> Vec<Uuid> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| id_of(t, "id"))
        .collect()
}

/// Every page of `path` (which has a `limit`), following the cursor.
async fn all_pages(app: &TestApp, token: &str, path: &str) -> Vec<Uuid> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let page_path = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let page = app.get(&page_path, token).await.expect(StatusCode::OK);
        found.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
    panic!("more than 20 pages for {path}");
}

async fn queue_filters_and_sorts_by_sla_and_priority(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme").skilled().build().await;
    let admin = shop.tenant.admin_token.clone();
    let tenant = shop.tenant.id;
    // P3 tickets: response within an hour, warnings at 75 % and 90 %.
    policy(
        &app,
        &shop,
        json!({"name": "P3", "match": {"priority": "P3"}, "targets": {"response_minutes": 60}}),
    )
    .await;
    let base = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    let db = app.db.raw().await;
    let p3 = |age: Duration| {
        let app = &app;
        let shop = &shop;
        let db = &db;
        async move {
            let id = id_of(&shop.ticket(app, "P3").await, "id");
            backdate(db, tenant, id, None, &[(base - age, "new")]).await;
            id
        }
    };
    let breached = p3(Duration::hours(2)).await;
    let warning = p3(Duration::minutes(50)).await;
    let fresh = p3(Duration::minutes(1)).await;
    // Breached, but closed: no longer in any SLA view.
    let closed = id_of(&shop.ticket(&app, "P3").await, "id");
    backdate(
        &db,
        tenant,
        closed,
        None,
        &[
            (base - Duration::hours(3), "new"),
            (base - Duration::hours(2), "closed"),
        ],
    )
    .await;
    // No policy covers P1 or P4: no deadline.
    let urgent = id_of(&shop.ticket(&app, "P1").await, "id");
    let low = id_of(&shop.ticket(&app, "P4").await, "id");

    let list = app
        .get("/v1/tickets?sla=breached", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&list), vec![breached]);
    assert_eq!(
        list["items"][0]["sla"]["response"]["state"]["kind"],
        "breached"
    );
    let mut at_risk = ids(&app
        .get("/v1/tickets?sla=at_risk", &admin)
        .await
        .expect(StatusCode::OK));
    at_risk.sort();
    let mut expected = vec![breached, warning];
    expected.sort();
    assert_eq!(at_risk, expected);

    // Nearest running deadline first, tickets without one last (newest
    // first among them), one ticket per page.
    assert_eq!(
        all_pages(&app, &admin, "/v1/tickets?sort=urgency&limit=1").await,
        vec![breached, warning, fresh, low, urgent]
    );
    // P1 first, oldest first within a priority; pages follow the order.
    assert_eq!(
        all_pages(&app, &admin, "/v1/tickets?sort=priority&limit=2").await,
        vec![urgent, breached, warning, fresh, closed, low]
    );
    assert_eq!(
        ids(&app
            .get("/v1/tickets?sort=priority&priority=P3&sla=at_risk", &admin)
            .await
            .expect(StatusCode::OK)),
        vec![breached, warning]
    );

    // A technician's SLA view holds only their own tickets.
    shop.assign(&app, warning, shop.tech().id).await;
    assert_eq!(
        ids(&app
            .get("/v1/tickets?sla=at_risk", &shop.tech().token)
            .await
            .expect(StatusCode::OK)),
        vec![warning]
    );
    let bad = app
        .get("/v1/tickets?sla=late", &admin)
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(bad.to_string().contains("late"), "{bad}");
}
