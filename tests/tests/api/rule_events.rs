//! Trigger rules on more events (issue 21, item 4): `ticket_assigned` (the
//! assign endpoint and an assigning PATCH) and the SLA notices
//! `sla_warning` / `sla_breached`, each once per notice; the `escalate`
//! action (one step more urgent, managers told).

use chrono::{DateTime, Duration, Utc};
use truckroll_server::sla::SlaTimers;
use truckroll_tests::fixtures::Shop;

use super::*;

backend_tests!(rules_run_on_assignment_and_on_sla_notices);

async fn tags(app: &TestApp, token: &str, ticket: Uuid) -> Vec<String> {
    let got = app
        .get(&format!("/v1/tickets/{ticket}"), token)
        .await
        .expect(StatusCode::OK);
    serde_json::from_value(got["tags"].clone()).unwrap_or_default()
}

async fn fired_events(app: &TestApp, token: &str, ticket: Uuid) -> Vec<String> {
    app.get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == "rule.fired" && e["kind"] != "webhook")
        .filter_map(|e| e["detail"]["event"].as_str().map(str::to_owned))
        .collect()
}

async fn rules_run_on_assignment_and_on_sla_notices(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.sla.timers_enabled = false).await;
    let shop = Shop::builder(&app, "rule-events")
        .dispatcher()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (_, boss) = app
        .create_user(&shop.tenant, "boss@rule-events.test", "manager")
        .await;
    for (name, event, actions) in [
        (
            "on assignment",
            "ticket_assigned",
            json!([{"type": "add_tags", "tags": ["assigned-by-rule"]}]),
        ),
        (
            "on warning",
            "sla_warning",
            json!([{"type": "add_tags", "tags": ["sla-warned"]}]),
        ),
        (
            "on breach",
            "sla_breached",
            json!([{"type": "escalate"},
                                             {"type": "notify", "roles": ["dispatcher"], "title": "{{ticket.number}} breached"}]),
        ),
    ] {
        app.post(
            "/v1/rules",
            &admin,
            &json!({"name": name, "definition": {"events": [event], "actions": actions}}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "Response", "targets": {"response_minutes": 30}}),
    )
    .await
    .expect(StatusCode::CREATED);

    let created = shop.ticket(&app, "P3").await;
    let id = id_of(&created, "id");
    let t0: DateTime<Utc> =
        serde_json::from_value(created["created_at"].clone()).expect("created_at");
    assert!(
        tags(&app, &admin, id).await.is_empty(),
        "creation is no assignment"
    );
    shop.assign(&app, id, shop.tech().id).await;
    assert_eq!(tags(&app, &admin, id).await, ["assigned-by-rule"]);

    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("load");
    let warned = timers
        .run_once(t0 + Duration::minutes(23))
        .await
        .expect("run");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(
        tags(&app, &admin, id).await,
        ["assigned-by-rule", "sla-warned"]
    );
    // The same notice again: nothing (the rules ran once per notice).
    assert!(
        timers
            .run_once(t0 + Duration::minutes(23))
            .await
            .expect("run")
            .is_empty()
    );
    let breached = timers
        .run_once(t0 + Duration::minutes(31))
        .await
        .expect("run");
    assert!(!breached.is_empty(), "{breached:?}");
    let ticket = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ticket["priority"], "P2", "escalated one step");
    let escalated = app
        .get("/v1/me/notifications", &boss)
        .await
        .expect(StatusCode::OK);
    assert_eq!(escalated.as_array().map(Vec::len), Some(1), "{escalated}");
    assert!(
        escalated[0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Escalated:") && t.ends_with("is now P2"))
    );
    let dispatcher = app
        .login(&shop.tenant.name, "dispatch@rule-events.test")
        .await;
    let told = app
        .get("/v1/me/notifications", &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert!(
        told.as_array().is_some_and(|n| n
            .iter()
            .any(|n| n["title"].as_str().is_some_and(|t| t.ends_with("breached")))),
        "{told}"
    );
    let mut events = fired_events(&app, &admin, id).await;
    events.sort();
    // 75 % and 90 % warnings (the default thresholds), the breach, the assignment.
    assert_eq!(
        events,
        [
            "sla_breached",
            "sla_warning",
            "sla_warning",
            "ticket_assigned"
        ]
    );
    app.stop().await;
}
