//! Time-based rules (issue 21, item 2; `automation/timed.rs`): validated on
//! save, firing once per ticket and clock start across a restart and two
//! replicas sweeping at once, on "no update for N minutes" and on "in this
//! status for N minutes", in business hours when asked.

use chrono::{Duration, Utc};
use truckroll_tests::fixtures::Shop;

use super::*;

backend_tests!(
    a_time_based_rule_fires_once_across_restarts_and_replicas,
    waiting_on_the_customer_counts_from_the_status_in_business_hours,
    a_crash_between_claim_and_effect_loses_no_firing,
);

async fn fired(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Value> {
    app.get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == "rule.fired" && e["kind"] != "webhook")
        .filter(|e| e["detail"]["event"] == "time_elapsed")
        .collect()
}

async fn replica(app: &TestApp) -> truckroll_server::app::AppState {
    let store = truckroll_server::store::connect(app.db.database_url(), 2)
        .await
        .expect("replica store");
    truckroll_server::app::build_state(app.config.clone(), store)
        .await
        .expect("replica state")
}

async fn a_time_based_rule_fires_once_across_restarts_and_replicas(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "timed").dispatcher().build().await;
    let admin = shop.tenant.admin_token.clone();
    let dispatcher_token = app.login(&shop.tenant.name, "dispatch@timed.test").await;

    // Validated on save.
    for (definition, field) in [
        (
            json!({"events": ["time_elapsed"], "actions": [{"type": "webhook"}]}),
            "definition.timer",
        ),
        (
            json!({"events": ["ticket_created"], "timer": {"since": "updated", "minutes": 5},
                "actions": [{"type": "webhook"}]}),
            "definition.timer",
        ),
        (
            json!({"events": ["time_elapsed", "ticket_created"], "timer": {"since": "updated", "minutes": 5},
                "actions": [{"type": "webhook"}]}),
            "definition.events",
        ),
    ] {
        let reply = app
            .post(
                "/v1/rules",
                &admin,
                &json!({"name": "bad", "definition": definition}),
            )
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(
            error_fields(&reply).iter().any(|f| f.starts_with(field)),
            "{field}: {:?}",
            error_fields(&reply)
        );
    }
    let zero = app
        .post("/v1/rules", &admin, &json!({"name": "bad", "definition":
            {"events": ["time_elapsed"], "timer": {"since": "updated", "minutes": 0}, "actions": [{"type": "webhook"}]}}))
        .await;
    zero.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // No update for two hours on an open P2: the dispatchers hear of it.
    app.post("/v1/rules", &admin, &json!({"name": "stale P2", "definition": {
        "events": ["time_elapsed"], "timer": {"since": "updated", "minutes": 120},
        "conditions": {"field": "priority", "op": "eq", "value": "P2"},
        "actions": [{"type": "notify", "roles": ["dispatcher"], "title": "{{ticket.number}} has had no update for 2 hours"}]}}))
        .await
        .expect(StatusCode::CREATED);
    // An event rule that follows what the timed one does (nothing to the
    // ticket here) must not fire on the time event.
    app.post(
        "/v1/rules",
        &admin,
        &json!({"name": "on update", "definition": {
        "events": ["ticket_updated"], "actions": [{"type": "add_tags", "tags": ["touched"]}]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let p2 = id_of(&shop.ticket(&app, "P2").await, "id");
    let p3 = id_of(&shop.ticket(&app, "P3").await, "id");

    let sweep = |state: truckroll_server::app::AppState, at| async move {
        truckroll_server::automation::timed::sweep(&state.dispatch_handles(), &state.rules, at)
            .await
            .expect("sweep")
    };
    // Not yet due.
    assert_eq!(
        sweep(app.state.clone(), Utc::now() + Duration::minutes(60)).await,
        0
    );
    let later = Utc::now() + Duration::minutes(150);
    assert_eq!(sweep(app.state.clone(), later).await, 1, "the P2 only");
    assert_eq!(sweep(app.state.clone(), later).await, 0, "once");
    let firings = fired(&app, &admin, p2).await;
    assert_eq!(firings.len(), 1, "{firings:?}");
    assert_eq!(fired(&app, &admin, p3).await.len(), 0);
    let told = app
        .get("/v1/me/notifications", &dispatcher_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(told.as_array().map(Vec::len), Some(1), "{told}");
    assert!(
        told[0]["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("no update for 2 hours"))
    );

    // A restart: a new process with empty caches finds the firing made.
    let app = app.restart().await;
    assert_eq!(
        sweep(app.state.clone(), later).await,
        0,
        "not again after a restart"
    );

    // Two replicas sweeping at the same moment, a new ticket due: one firing.
    let p2b = id_of(&shop.ticket(&app, "P2").await, "id");
    let (one, two) = (replica(&app).await, replica(&app).await);
    let at = Utc::now() + Duration::minutes(150);
    let (a, b) = tokio::join!(sweep(one, at), sweep(two, at));
    assert_eq!(a + b, 1, "one firing between two replicas");
    assert_eq!(fired(&app, &admin, p2b).await.len(), 1);
    assert_eq!(fired(&app, &admin, p2).await.len(), 1);
    let told = app
        .get("/v1/me/notifications", &dispatcher_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(told.as_array().map(Vec::len), Some(2));

    // An update starts the clock again: due again two hours after it.
    app.patch(
        &format!("/v1/tickets/{p2}"),
        &admin,
        &json!({"title": "Still leaking"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        sweep(app.state.clone(), Utc::now() + Duration::minutes(60)).await,
        0
    );
    assert_eq!(
        sweep(app.state.clone(), Utc::now() + Duration::minutes(150)).await,
        1,
        "the updated P2 on its new clock; the other already fired on its own"
    );
    assert_eq!(fired(&app, &admin, p2).await.len(), 2);
    // The update set off the event rule, never the time-based one.
    let events: Vec<Value> = app
        .get(&format!("/v1/tickets/{p2}/timeline?limit=200"), &admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == "rule.fired" && e["kind"] != "webhook")
        .map(|e| e["detail"]["rule_name"].clone())
        .collect();
    assert_eq!(
        events.iter().filter(|n| **n == "on update").count(),
        1,
        "{events:?}"
    );
    app.stop().await;
}

async fn waiting_on_the_customer_counts_from_the_status_in_business_hours(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "waiting").build().await;
    let admin = shop.tenant.admin_token.clone();
    // An SLA policy with weekday office hours covers P3 tickets.
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| json!({"day": d, "start": "09:00", "end": "17:00"}))
        .collect();
    let policy = app
        .post(
            "/v1/sla/policies",
            &admin,
            &json!({
            "name": "Office", "match": {"priority": "P3"},
            "targets": {"response_minutes": 600},
            "calendar": {"kind": "weekly", "time_zone": "UTC", "hours": hours}}),
        )
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.body);
    app.post("/v1/rules", &admin, &json!({"name": "close the loop", "definition": {
        "events": ["time_elapsed"], "timer": {"since": "status", "minutes": 960, "business_hours": true},
        "conditions": {"all": [{"field": "status", "op": "eq", "value": "on_hold"},
                               {"field": "hold_reason", "op": "eq", "value": "waiting_customer"}]},
        "actions": [{"type": "add_tags", "tags": ["chase-customer"]}]}}))
        .await
        .expect(StatusCode::CREATED);
    let tech = shop.tech().clone();
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let waiting = id_of(&shop.ticket(&app, "P3").await, "id");
    shop.assign(&app, waiting, tech.id).await;
    for step in [
        json!({"status": "accepted"}),
        json!({"status": "on_hold", "hold_reason": "waiting_customer"}),
    ] {
        app.patch(&format!("/v1/tickets/{waiting}"), &tech.token, &step)
            .await
            .expect(StatusCode::OK);
    }
    let sweep = |at| {
        let state = app.state.clone();
        async move {
            truckroll_server::automation::timed::sweep(&state.dispatch_handles(), &state.rules, at)
                .await
                .expect("sweep")
        }
    };
    // 16 business hours are two working days: three calendar days on the
    // clock are not enough when a weekend falls in them, a week always is.
    let start = Utc::now();
    let calendar_only = start + Duration::minutes(961);
    assert_eq!(
        sweep(calendar_only).await,
        0,
        "16 hours on the clock are not 16 office hours"
    );
    let week = start + Duration::days(7);
    assert_eq!(sweep(week).await, 1);
    assert_eq!(sweep(week).await, 0);
    let tagged = app
        .get(&format!("/v1/tickets/{waiting}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        tagged["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("chase-customer"))),
        "{tagged}"
    );
    // The other ticket is not on hold: untouched.
    let other = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(other["tags"], json!([]));
    app.stop().await;
}

/// The crash point between a timed firing's claim and its effect: a
/// database trigger makes the firing's notification insert fail (as if the
/// process died there, after the claim was written in the transaction).
/// Claim and effect are one transaction, so nothing of the firing stays;
/// after a restart the next sweep makes it — exactly once.
async fn a_crash_between_claim_and_effect_loses_no_firing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "crash").dispatcher().build().await;
    let admin = shop.tenant.admin_token.clone();
    let dispatcher_token = app.login(&shop.tenant.name, "dispatch@crash.test").await;
    // The rule's own tag ends it: its write starts the clock again.
    app.post("/v1/rules", &admin, &json!({"name": "stale P2", "definition": {
        "events": ["time_elapsed"], "timer": {"since": "updated", "minutes": 120},
        "conditions": {"all": [{"field": "priority", "op": "eq", "value": "P2"},
                               {"field": "tags", "op": "not_contains", "value": "stale"}]},
        "actions": [{"type": "add_tags", "tags": ["stale"]},
                    {"type": "notify", "roles": ["dispatcher"], "title": "{{ticket.number}} is stale"}]}}))
        .await
        .expect(StatusCode::CREATED);
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");

    let raw = app.db.raw().await;
    let (arm, disarm): (&[&str], &[&str]) = match backend {
        TestBackend::Sqlite => (
            &[
                "CREATE TRIGGER crash_point BEFORE INSERT ON staff_notifications \
               BEGIN SELECT RAISE(ABORT, 'simulated crash'); END",
            ],
            &["DROP TRIGGER crash_point"],
        ),
        TestBackend::Postgres => (
            &[
                "CREATE FUNCTION crash_point() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$",
                "CREATE TRIGGER crash_point BEFORE INSERT ON staff_notifications \
                 FOR EACH ROW EXECUTE FUNCTION crash_point()",
            ],
            &[
                "DROP TRIGGER crash_point ON staff_notifications",
                "DROP FUNCTION crash_point()",
            ],
        ),
    };
    for statement in arm {
        raw.execute(statement, &[]).await;
    }
    let later = Utc::now() + Duration::minutes(150);
    let crashed = truckroll_server::automation::timed::sweep(
        &app.state.dispatch_handles(),
        &app.state.rules,
        later,
    )
    .await;
    assert!(crashed.is_err(), "the sweep died at the crash point");
    // Nothing of the firing stayed: no claim, no tag, no record.
    let claims = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM timed_rule_firings WHERE ticket_id = $1",
            &[ticket],
        )
        .await;
    assert_eq!(claims, 0, "the claim went with the failed effect");
    let after_crash = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after_crash["tags"], json!([]));
    assert!(fired(&app, &admin, ticket).await.is_empty());
    for statement in disarm {
        raw.execute(statement, &[]).await;
    }

    // The process comes back: the next sweep makes the firing, once.
    let app = app.restart().await;
    let sweep = |at| {
        let state = app.state.clone();
        async move {
            truckroll_server::automation::timed::sweep(&state.dispatch_handles(), &state.rules, at)
                .await
                .expect("sweep")
        }
    };
    assert_eq!(
        sweep(later).await,
        1,
        "the lost firing is made after the restart"
    );
    assert_eq!(sweep(later).await, 0, "and only once");
    assert_eq!(fired(&app, &admin, ticket).await.len(), 1);
    let tagged = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(tagged["tags"], json!(["stale"]));
    let told = app
        .get("/v1/me/notifications", &dispatcher_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(told.as_array().map(Vec::len), Some(1), "{told}");
    app.stop().await;
}
