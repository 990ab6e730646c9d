//! SLA end to end: policies (CRUD, validation, permissions), the SLA state
//! every ticket response carries (deadline, pause on hold, met by accept,
//! most specific policy, priority change keeping paused time), and the report
//! in JSON and CSV. No sleeps: relations between returned fields only.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::app::{Reply, TestApp, TestTenant, all_week_shifts, id_of};
use uuid::Uuid;

use truckroll_tests::both_backends as both;

both!(
    policies_are_managed_by_admins_and_validated,
    tickets_carry_their_sla_state,
    accepting_an_offer_meets_response,
    assign_and_unassign_answer_with_the_sla,
    report_in_json_and_csv
);

struct Shop {
    tenant: TestTenant,
    site: Uuid,
    technician: Uuid,
    tech_token: String,
}

async fn shop(app: &TestApp, name: &str) -> Shop {
    let tenant = app.create_tenant(name).await;
    let admin = &tenant.admin_token;
    let site = app.berlin_site(&tenant, "gold").await;
    let all_week = all_week_shifts();
    let (user, tech_token) = app
        .create_user(&tenant, &format!("tech@{name}.test"), "technician")
        .await;
    let technician = app
        .post(
            "/v1/technicians",
            admin,
            &json!({"user_id": user, "name": "Tech", "skills": [{"skill": "hvac", "level": 3}],
                    "shifts": all_week, "time_zone": "UTC", "capacity": 5,
                    "home_base": {"lat": 52.52, "lon": 13.40}}),
        )
        .await
        .expect(StatusCode::CREATED);
    Shop {
        tenant,
        site: id_of(&site, "id"),
        technician: id_of(&technician, "id"),
        tech_token,
    }
}

async fn ticket(app: &TestApp, shop: &Shop, priority: &str) -> Value {
    let body =
        json!({"title": "Chiller", "category": "hvac", "priority": priority, "site_id": shop.site});
    app.post("/v1/tickets", &shop.tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED)
}

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

fn error_fields(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn policies_are_managed_by_admins_and_validated(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = shop(&app, "acme").await;
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
    app.get("/v1/sla/policies", &shop.tech_token)
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
    let shop = shop(&app, "acme").await;
    let admin = shop.tenant.admin_token.as_str();
    let tech = shop.tech_token.as_str();

    // No policy: `sla` is present and null.
    let bare = ticket(&app, &shop, "P2").await;
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
    let created = ticket(&app, &shop, "P2").await;
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
    let p1 = ticket(&app, &shop, "P1").await;
    assert_eq!(id_of(&p1["sla"], "policy_id"), urgent);
    assert_eq!(p1["sla"]["resolution"], Value::Null);
    assert_eq!(p1["sla"]["response"]["target_seconds"], 600);

    // Assigned (dispatcher), then accepted by the technician: response met.
    app.patch(&path, admin, &json!({"assignee_id": shop.technician}))
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
    let shop = shop(&app, "acme").await;
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
    let created = ticket(&app, &shop, "P2").await;
    assert_eq!(created["sla"]["response"]["phase"], "running");
    let offers = app
        .get("/v1/me/offers", &shop.tech_token)
        .await
        .expect(StatusCode::OK);
    let offer = id_of(&offers[0], "id");
    let accepted = app
        .post(
            &format!("/v1/offers/{offer}/accept"),
            &shop.tech_token,
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
    let shop = shop(&app, "acme").await;
    let admin = shop.tenant.admin_token.as_str();
    let tech = shop.tech_token.as_str();
    policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30}}),
    )
    .await;
    let first = ticket(&app, &shop, "P2").await;
    ticket(&app, &shop, "P3").await;
    let path = format!("/v1/tickets/{}", id_of(&first, "id"));
    app.patch(&path, admin, &json!({"assignee_id": shop.technician}))
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
    let shop = shop(&app, "acme").await;
    let admin = shop.tenant.admin_token.as_str();
    let policy_id = policy(
        &app,
        &shop,
        json!({"name": "Everything", "targets": {"response_minutes": 30}}),
    )
    .await;
    let created = ticket(&app, &shop, "P2").await;
    let id = id_of(&created, "id");
    let assigned = app
        .post(
            &format!("/v1/tickets/{id}/assign"),
            admin,
            &json!({"technician_id": shop.technician}),
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
