//! SLA outcomes on write (issue 18, item 5): every change that can move a
//! ticket's SLA verdict marks the ticket in the change's own transaction
//! (a status change, a priority or category change, a rewritten history,
//! an approval that pauses the clock, a merge, a customer's tier, a policy),
//! and the outcomes the maintainer stores from the marks equal the ones
//! computed from scratch afterwards — the lazy computation the first report
//! used to do. Both engines of the report still agree.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::sla::outcomes;
use truckroll_tests::{
    RawDb,
    app::{TestApp, id_of},
};
use uuid::Uuid;

backend_tests!(
    stored_outcomes_equal_the_lazy_computation_after_mixed_changes,
    the_maintainer_runs_only_where_enabled,
);

/// One ticket's stored outcome and on-site stretches, as text (`-` = NULL).
async fn stored(db: &RawDb, tenant: Uuid, ticket: Uuid) -> String {
    let columns = [
        "covered",
        "fixed_first_time",
        "response_state",
        "response_deadline_us",
        "response_seconds",
        "arrival_state",
        "arrival_deadline_us",
        "arrival_seconds",
        "resolution_state",
        "resolution_deadline_us",
        "resolution_seconds",
        "valid_until_us",
        "created_us",
    ]
    .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
    .join(" || ',' || ");
    let outcome = db
        .scalar_text(
            &format!("SELECT {columns} FROM sla_outcomes WHERE tenant_id = $1 AND ticket_id = $2"),
            &[tenant, ticket],
        )
        .await
        .unwrap_or_else(|| "missing".to_owned());
    let on_site = db
        .scalar_text(
            "SELECT CAST(COUNT(*) AS TEXT) || '/' || CAST(COALESCE(SUM(started_us), 0) AS TEXT) || '/' || \
             CAST(COALESCE(SUM(COALESCE(ended_us, 0)), 0) AS TEXT) FROM sla_on_site \
             WHERE tenant_id = $1 AND ticket_id = $2",
            &[tenant, ticket],
        )
        .await
        .unwrap_or_default();
    format!("{outcome} | {on_site}")
}

async fn marked(db: &RawDb, tenant: Uuid, ticket: Uuid) -> bool {
    db.scalar_i64(
        "SELECT COUNT(*) FROM sla_outcome_dirty WHERE tenant_id = $1 AND ticket_id = $2",
        &[tenant, ticket],
    )
    .await
        == 1
}

async fn drain(app: &TestApp) {
    outcomes::drain(app.state.store.as_ref())
        .await
        .expect("outcomes drained");
}

/// The report's groups without what grows with `now` (on-site time of a job
/// still on site, the evaluation time).
fn figures(report: &Value) -> Value {
    let mut groups = report["groups"].clone();
    for group in groups.as_array_mut().into_iter().flatten() {
        if let Some(group) = group.as_object_mut() {
            group.remove("on_site_seconds");
            group.remove("utilisation_pct");
        }
    }
    groups
}

async fn stored_outcomes_equal_the_lazy_computation_after_mixed_changes(
    backend: truckroll_tests::TestBackend,
) {
    let app = TestApp::start_with(backend, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
        // The test drains the marks itself, at the points it checks.
        config.sla.outcomes_enabled = false;
    })
    .await;
    let tenant = app.create_tenant("onwrite").await;
    let admin = tenant.admin_token.clone();
    let db = app.db.raw().await;
    let berlin = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            &json!({"name": "Brewery", "tier": "silver"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let customer_id = id_of(&customer, "id");
    let munich = id_of(
        &app.post(
            "/v1/sites",
            &admin,
            &json!({"customer_id": customer_id, "name": "Munich", "address": "Marienplatz 1",
                    "location": {"lat": 48.137, "lon": 11.575}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let mut policies = Vec::new();
    for policy in [
        json!({"name": "Default", "targets": {"response_minutes": 60, "arrival_minutes": 240,
               "resolution_minutes": 1440}}),
        json!({"name": "Lifts, office hours", "match": {"category": "lifts"},
               "targets": {"response_minutes": 120, "arrival_minutes": 480, "resolution_minutes": 960},
               "calendar": {"kind": "weekly", "time_zone": "Europe/Berlin",
                            "hours": [{"day": "mon", "start": "08:00", "end": "17:00"},
                                      {"day": "tue", "start": "08:00", "end": "17:00"},
                                      {"day": "wed", "start": "08:00", "end": "17:00"},
                                      {"day": "thu", "start": "08:00", "end": "17:00"},
                                      {"day": "fri", "start": "08:00", "end": "15:00"}],
                            "holidays": ["2026-12-25"]}}),
        json!({"name": "Gold P1", "match": {"priority": "P1", "customer_tier": "gold"},
               "targets": {"response_minutes": 15, "arrival_minutes": 90},
               "pause_on": [{"status": "on_hold", "hold_reason": "waiting_customer"}]}),
    ] {
        let created = app
            .post("/v1/sla/policies", &admin, &policy)
            .await
            .expect(StatusCode::CREATED);
        policies.push(id_of(&created, "id"));
    }
    let mut tickets = Vec::new();
    for (category, priority, site) in [
        ("hvac", "P1", berlin),
        ("lifts", "P2", munich),
        ("plumbing", "P3", berlin),
        ("hvac", "P1", munich),
        ("electrical", "P2", berlin),
        ("hvac", "P4", berlin),
    ] {
        let ticket = app
            .post(
                "/v1/tickets",
                &admin,
                &json!({"title": "On write", "category": category, "priority": priority,
                        "site_id": site}),
            )
            .await
            .expect(StatusCode::CREATED);
        let id = id_of(&ticket, "id");
        assert!(marked(&db, tenant.id, id).await, "a new ticket is marked");
        tickets.push(id);
    }
    drain(&app).await;
    for ticket in &tickets {
        assert!(!marked(&db, tenant.id, *ticket).await);
        assert_ne!(stored(&db, tenant.id, *ticket).await, "missing | 0/0/0");
    }
    let before: Vec<String> = {
        let mut all = Vec::new();
        for ticket in &tickets {
            all.push(stored(&db, tenant.id, *ticket).await);
        }
        all
    };

    // A status change: cancelled, then reopened.
    for status in ["cancelled", "new"] {
        app.patch(
            &format!("/v1/tickets/{}", tickets[0]),
            &admin,
            &json!({"status": status}),
        )
        .await
        .expect(StatusCode::OK);
    }
    assert!(marked(&db, tenant.id, tickets[0]).await, "status change");
    // A priority change and a category change.
    app.patch(
        &format!("/v1/tickets/{}", tickets[2]),
        &admin,
        &json!({"priority": "P1"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(marked(&db, tenant.id, tickets[2]).await, "priority change");
    // The category (not changed through the API; an import or a fix by hand).
    db.execute(
        "UPDATE tickets SET category = 'lifts' WHERE tenant_id = $1 AND id = $2",
        &[tenant.id, tickets[4]],
    )
    .await;
    assert!(marked(&db, tenant.id, tickets[4]).await, "category change");
    drain(&app).await;
    assert_ne!(
        stored(&db, tenant.id, tickets[0]).await,
        before[0],
        "the cancellation and reopening are in the stored outcome"
    );
    assert_ne!(stored(&db, tenant.id, tickets[2]).await, before[2]);
    assert_ne!(stored(&db, tenant.id, tickets[4]).await, before[4]);

    // A history written beside the API (a projection, a backfill): accepted
    // and on site an hour after creation, created three hours ago.
    let created = Utc::now() - Duration::hours(3);
    let at = |minutes: i64| {
        (created + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    db.execute(
        &format!(
            "UPDATE tickets SET status = 'on_site', created_at = '{}' WHERE tenant_id = $1 AND id = $2",
            at(0)
        ),
        &[tenant.id, tickets[1]],
    )
    .await;
    db.execute(
        "DELETE FROM ticket_status_history WHERE tenant_id = $1 AND ticket_id = $2",
        &[tenant.id, tickets[1]],
    )
    .await;
    for (seq, (minutes, status)) in [(0, "new"), (20, "accepted"), (60, "on_site")]
        .into_iter()
        .enumerate()
    {
        db.execute(
            &format!(
                "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status) \
                 VALUES ($1, $2, {}, '{}', '{status}')",
                seq + 1,
                at(minutes)
            ),
            &[tenant.id, tickets[1]],
        )
        .await;
    }
    assert!(marked(&db, tenant.id, tickets[1]).await, "history rewrite");

    // An approval that pauses the SLA, asked and decided.
    let (_, manager) = app
        .create_user(&tenant, "boss@onwrite.test", "manager")
        .await;
    app.post(
        "/v1/approval-policies",
        &admin,
        &json!({"name": "Every job", "approvers": {"roles": ["manager"]}, "pause_sla": true}),
    )
    .await
    .expect(StatusCode::CREATED);
    drain(&app).await;
    let request = app
        .post(
            &format!("/v1/tickets/{}/approvals", tickets[3]),
            &admin,
            &json!({"reason": "pause"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(marked(&db, tenant.id, tickets[3]).await, "approval asked");
    drain(&app).await;
    app.post(
        &format!("/v1/approvals/{}/decision", id_of(&request, "id")),
        &manager,
        &json!({"decision": "approve"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(marked(&db, tenant.id, tickets[3]).await, "approval decided");

    // A merge, a customer's tier, a policy.
    app.post(
        &format!("/v1/tickets/{}/merge", tickets[5]),
        &admin,
        &json!({"into": tickets[0]}),
    )
    .await
    .expect(StatusCode::OK);
    drain(&app).await;
    app.patch(
        &format!("/v1/customers/{customer_id}"),
        &admin,
        &json!({"tier": "gold"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        marked(&db, tenant.id, tickets[3]).await,
        "the Munich P1 ticket's customer became gold: another policy"
    );
    assert!(
        !marked(&db, tenant.id, tickets[0]).await,
        "a Berlin ticket is not"
    );
    drain(&app).await;
    app.patch(
        &format!("/v1/sla/policies/{}", policies[0]),
        &admin,
        &json!({"targets": {"response_minutes": 20, "arrival_minutes": 30, "resolution_minutes": 600}}),
    )
    .await
    .expect(StatusCode::OK);
    for ticket in &tickets {
        assert!(marked(&db, tenant.id, *ticket).await, "policy change");
    }
    drain(&app).await;

    // What was kept on write…
    let mut on_write = Vec::new();
    for ticket in &tickets {
        on_write.push(stored(&db, tenant.id, *ticket).await);
    }
    let range = format!(
        "from={}&to={}&group_by=category",
        (Utc::now() - Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true),
        (Utc::now() + Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let sql = app
        .get(&format!("/v1/reports/sla?{range}&engine=sql"), &admin)
        .await
        .expect(StatusCode::OK);
    let naive = app
        .get(&format!("/v1/reports/sla?{range}&engine=app"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(figures(&sql), figures(&naive), "the engines agree");

    // …equals the outcomes computed from scratch.
    db.execute("DELETE FROM sla_on_site WHERE tenant_id = $1", &[tenant.id])
        .await;
    db.execute(
        "DELETE FROM sla_outcomes WHERE tenant_id = $1",
        &[tenant.id],
    )
    .await;
    db.execute(
        "UPDATE sla_policies SET name = name WHERE tenant_id = $1",
        &[tenant.id],
    )
    .await;
    let again = app
        .get(&format!("/v1/reports/sla?{range}&engine=sql"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(figures(&again), figures(&sql));
    for (i, ticket) in tickets.iter().enumerate() {
        assert_eq!(
            stored(&db, tenant.id, *ticket).await,
            on_write[i],
            "ticket {i}: kept on write vs computed from scratch"
        );
    }
    app.stop().await;
}

/// `sla.outcomes_enabled = false` keeps the maintainer out of a process (a
/// bench or a test that drains the marks itself, timed or at chosen points,
/// and must not have a second drain walk the same marks); enabled, it clears
/// a new ticket's mark within a few polls.
async fn the_maintainer_runs_only_where_enabled(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.outcomes_enabled = false;
        config.sla.poll_ms = 20;
    })
    .await;
    let tenant = app.create_tenant("maintainer").await;
    let site = id_of(&app.berlin_site(&tenant, "gold").await, "id");
    let ticket = id_of(
        &app.post(
            "/v1/tickets",
            &tenant.admin_token,
            &json!({"title": "Marked", "category": "hvac", "priority": "P2", "site_id": site}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let db = app.db.raw().await;
    // A negative check has no event to wait for: 25 polls of an enabled
    // maintainer (it clears a mark on its first) are the window.
    tokio::time::sleep(std::time::Duration::from_millis(
        25 * app.config.sla.poll_ms,
    ))
    .await;
    assert!(
        marked(&db, tenant.id, ticket).await,
        "no maintainer: the mark stays"
    );

    let mut app = app;
    app.config.sla.outcomes_enabled = true;
    let app = app.restart().await;
    let mut cleared = false;
    for _ in 0..200 {
        if !marked(&db, tenant.id, ticket).await {
            cleared = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(cleared, "the maintainer cleared the mark");
    assert_ne!(stored(&db, tenant.id, ticket).await, "missing | 0/0/0");
    drop(db);
    app.stop().await;
}
