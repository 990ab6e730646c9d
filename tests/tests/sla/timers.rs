//! SLA timers end to end, driven by a fake clock (`SlaTimers::run_once(now)`):
//! warnings and breaches fire once per (ticket, target, threshold) across a
//! restart and across two replicas on one PostgreSQL database; escalation
//! notifies, raises priority and re-dispatches as the policy says.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::{
    config::Config,
    sla::SlaTimers,
    store::{Store, postgres::PgStore, sla_timers::NoticeKind},
};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    notices_fire_once_across_a_restart,
    paused_targets_do_not_warn,
    warning_redispatches_an_unaccepted_ticket,
    escalation_settings_are_validated
);

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// (target, kind, threshold) of each notice of the ticket, as the API lists them.
async fn notices(app: &TestApp, shop: &Shop, ticket: Uuid) -> Vec<(String, String, u64)> {
    let listed = app
        .get(
            &format!("/v1/sla/notices?ticket_id={ticket}"),
            &shop.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let mut out: Vec<_> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|n| {
            (
                n["target"].as_str().unwrap_or_default().to_owned(),
                n["kind"].as_str().unwrap_or_default().to_owned(),
                n["threshold"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

fn response_policy(escalation: Value) -> Value {
    json!({"name": "Response", "targets": {"response_minutes": 30}, "escalation": escalation})
}

async fn notices_fire_once_across_a_restart(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .spaced(0.01)
        .dispatcher()
        .technicians(0)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    app.post(
        "/v1/sla/policies",
        &admin,
        &response_policy(json!({
            "on_warning": {"notify": ["dispatchers"]},
            "on_breach": {"notify": ["dispatchers", "managers"], "raise_priority": true}
        })),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = shop.ticket(&app, "P3").await;
    let id = id_of(&created, "id");
    let t0 = time(&created["created_at"]);

    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("load");
    assert_eq!(timers.scheduled_tickets(), 1);
    assert_eq!(
        timers.next_due(),
        Some(t0 + Duration::seconds(30 * 60 * 75 / 100)),
        "first instant: the 75 % warning"
    );
    assert!(
        timers
            .run_once(t0 + Duration::minutes(22))
            .await
            .expect("run")
            .is_empty()
    );
    let fired = timers
        .run_once(t0 + Duration::minutes(23))
        .await
        .expect("run");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].kind, NoticeKind::Warning);
    assert_eq!(fired[0].threshold, 75);
    assert_eq!(fired[0].due_at, t0 + Duration::seconds(1350));
    assert_eq!(
        fired[0].actions["notified_users"],
        json!([shop.dispatcher]),
        "warning tells the dispatchers"
    );
    assert!(
        timers
            .run_once(t0 + Duration::minutes(23))
            .await
            .expect("run")
            .is_empty()
    );

    // A restart rebuilds from the database: the 75 % warning is not repeated.
    let app = app.restart().await;
    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0 + Duration::minutes(23))
        .await
        .expect("load");
    assert!(
        timers
            .run_once(t0 + Duration::minutes(23))
            .await
            .expect("run")
            .is_empty()
    );
    let fired = timers
        .run_once(t0 + Duration::minutes(31))
        .await
        .expect("run");
    let kinds: HashSet<_> = fired.iter().map(|n| (n.kind, n.threshold)).collect();
    assert_eq!(
        kinds,
        HashSet::from([(NoticeKind::Warning, 90), (NoticeKind::Breach, 100)]),
        "{fired:?}"
    );
    assert!(
        timers
            .run_once(t0 + Duration::minutes(40))
            .await
            .expect("run")
            .is_empty()
    );
    // The breach raised the priority one step, in the notice's transaction.
    let read = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["priority"], "P2");
    assert_eq!(
        notices(&app, &shop, id).await,
        vec![
            ("response".into(), "breach".into(), 100),
            ("response".into(), "warning".into(), 75),
            ("response".into(), "warning".into(), 90),
        ]
    );
    // The audit log records each notice.
    let audit = app
        .get("/v1/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .or(audit.as_array())
        .expect("audit entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "sla.warning").count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == "sla.breach").count(), 1);
    assert!(actions.contains(&"ticket.priority_raise"));
    app.stop().await;
}

async fn paused_targets_do_not_warn(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .spaced(0.01)
        .dispatcher()
        .technicians(1)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "Resolve", "targets": {"resolution_minutes": 60}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = shop.ticket(&app, "P3").await;
    let id = id_of(&created, "id");
    let t0 = time(&created["created_at"]);
    let (technician, token) = (&shop.techs[0].id, &shop.techs[0].token);
    let path = format!("/v1/tickets/{id}");
    app.patch(&path, &admin, &json!({"assignee_id": technician}))
        .await
        .expect(StatusCode::OK);
    app.patch(&path, token, &json!({"status": "accepted"}))
        .await
        .expect(StatusCode::OK);
    let held = app
        .patch(
            &path,
            token,
            &json!({"status": "on_hold", "hold_reason": "waiting_customer"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(held["sla"]["resolution"]["phase"], "paused");
    let on_hold_at = time(&held["updated_at"]);
    let mut timers = SlaTimers::load(app.state.dispatch_handles(), on_hold_at)
        .await
        .expect("load");
    assert_eq!(
        timers.scheduled_tickets(),
        0,
        "a paused clock has no next instant"
    );
    // Hours later, still waiting on the customer: nothing fires.
    assert!(
        timers
            .run_once(t0 + Duration::hours(5))
            .await
            .expect("run")
            .is_empty()
    );
    // The customer answers: the clock resumes with the little time it had
    // used, so the 75 % warning (45 min) is 45 min of running after t0,
    // not counting the pause.
    let resumed = app
        .patch(&path, token, &json!({"status": "accepted"}))
        .await
        .expect(StatusCode::OK);
    let resumed_at = time(&resumed["updated_at"]);
    let used_before_hold = on_hold_at - t0;
    let warning_at = resumed_at + Duration::minutes(45) - used_before_hold;
    assert!(
        timers
            .run_once(resumed_at + Duration::minutes(44))
            .await
            .expect("run")
            .is_empty()
    );
    assert_eq!(timers.scheduled_tickets(), 1, "resumed: scheduled again");
    let fired = timers
        .run_once(resumed_at + Duration::minutes(46))
        .await
        .expect("run");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].threshold, 75);
    let drift = (fired[0].due_at - warning_at).num_milliseconds().abs();
    assert!(
        drift <= 1,
        "warning due {} expected {warning_at}",
        fired[0].due_at
    );
    app.stop().await;
}

async fn warning_redispatches_an_unaccepted_ticket(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .spaced(0.01)
        .dispatcher()
        .technicians(2)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    app.send(
        Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "off", "top_n": 3})),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        "/v1/sla/policies",
        &admin,
        &response_policy(json!({"on_warning": {"notify": [], "redispatch": true}})),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = shop.ticket(&app, "P3").await;
    let id = id_of(&created, "id");
    let t0 = time(&created["created_at"]);
    // Assigned by hand to the second technician, who does not react.
    let slow = shop.techs[1].id;
    app.post(
        &format!("/v1/tickets/{id}/assign"),
        &admin,
        &json!({"technician_id": slow}),
    )
    .await
    .expect(StatusCode::OK);
    // Now the category offers in turn, so re-dispatch has a flow to use.
    app.send(
        Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "offer_in_turn", "top_n": 3})),
    )
    .await
    .expect(StatusCode::OK);
    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("load");
    let fired = timers
        .run_once(t0 + Duration::minutes(23))
        .await
        .expect("run");
    assert_eq!(fired.len(), 1, "{fired:?}");
    let read = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        read["status"], "new",
        "taken back from the silent technician"
    );
    assert_eq!(read["assignee_id"], Value::Null);
    // The escalation's unassign is an event in the ticket's document too.
    let fold = app
        .ticket_doc(shop.tenant.id, id)
        .await
        .expect("document")
        .doc
        .status();
    assert_eq!((fold.status.as_str(), fold.assignee), ("new", None));
    let offers = app
        .get(&format!("/v1/tickets/{id}/offers"), &admin)
        .await
        .expect(StatusCode::OK);
    let pending: Vec<&Value> = offers
        .as_array()
        .expect("offers")
        .iter()
        .filter(|o| o["state"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1, "offered onward: {offers}");
    app.stop().await;
}

async fn escalation_settings_are_validated(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .spaced(0.01)
        .dispatcher()
        .technicians(0)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let twice = app
        .post(
            "/v1/sla/policies",
            &admin,
            &response_policy(json!({"on_breach": {"notify": ["managers", "managers"]}})),
        )
        .await;
    twice.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        twice
            .body
            .to_string()
            .contains("escalation.on_breach.notify[1]"),
        "{}",
        twice.body
    );
    let unknown = app
        .post(
            "/v1/sla/policies",
            &admin,
            &response_policy(json!({"on_breach": {"notify": ["everyone"]}})),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    // Defaults: dispatchers at a warning; dispatchers and managers at a breach.
    let created = app
        .post(
            "/v1/sla/policies",
            &admin,
            &json!({"name": "Plain", "targets": {"response_minutes": 30}}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        created["escalation"],
        json!({"on_warning": {"notify": ["dispatchers"], "raise_priority": false, "redispatch": false},
               "on_breach": {"notify": ["dispatchers", "managers"], "raise_priority": false, "redispatch": false}})
    );
    app.stop().await;
}

/// The test configuration for a second replica on the same database.
fn replica_config(database_url: &str) -> Config {
    let mut config = Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_owned(),
        ..Config::default()
    };
    config.auth.token_secret = "test-secret-test-secret-test-secret-0123".into();
    config.sla.timers_enabled = false;
    config.validated().expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_fire_each_notice_once() {
    let app = TestApp::start(TestBackend::Postgres).await;
    let shop = Shop::builder(&app, "acme")
        .tier("gold")
        .skilled()
        .spaced(0.01)
        .dispatcher()
        .technicians(0)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "All", "targets": {"response_minutes": 30, "resolution_minutes": 60}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = shop.ticket(&app, "P3").await;
    let id = id_of(&created, "id");
    let t0 = time(&created["created_at"]);

    let url = app.db.database_url().to_owned();
    let other: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 3).await.expect("second pool"));
    let replica = truckroll_server::build_state(replica_config(&url), other)
        .await
        .expect("second replica state");
    let mut a = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("load a");
    let mut b = SlaTimers::load(replica.dispatch_handles(), t0)
        .await
        .expect("load b");
    assert_eq!(
        (a.scheduled_tickets(), b.scheduled_tickets()),
        (1, 1),
        "both see the ticket"
    );

    // Both run at the same fake instant, concurrently, twice.
    let late = t0 + Duration::minutes(61);
    for _ in 0..2 {
        let (fa, fb) = tokio::join!(a.run_once(late), b.run_once(late));
        let (fa, fb) = (fa.expect("a"), fb.expect("b"));
        let mut keys: Vec<_> = fa
            .iter()
            .chain(&fb)
            .map(|n| (n.target, n.kind, n.threshold))
            .collect();
        let total = keys.len();
        keys.sort_by_key(|k| format!("{k:?}"));
        keys.dedup();
        assert_eq!(keys.len(), total, "a notice fired on both replicas");
    }
    // 75 %, 90 % and the breach of each of the two targets: six, once each.
    let listed = notices(&app, &shop, id).await;
    assert_eq!(listed.len(), 6, "{listed:?}");
    let distinct: HashSet<_> = listed.iter().collect();
    assert_eq!(distinct.len(), 6);
    app.stop().await;
}
