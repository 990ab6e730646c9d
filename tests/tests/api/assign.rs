//! `POST /v1/tickets/{id}/assign`: skills, capacity and the best candidate;
//! concurrent assigns through HTTP book once (through the store:
//! `store::assignments`).

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, TestTenant, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    assign_endpoint_checks_skills_capacity_and_picks_the_best,
    concurrent_http_assigns_book_once
);

/// A tenant with a site in Berlin and `n` all-week technicians with hvac level 3.
async fn city(app: &TestApp, name: &str, n: usize, capacity: u32) -> (TestTenant, Uuid, Vec<Uuid>) {
    // Further out with every index: technician 0 is nearest.
    let shop = Shop::builder(app, name)
        .skilled()
        .spaced(0.01)
        .capacity(capacity)
        .technicians(n)
        .build()
        .await;
    let technicians = shop.techs.iter().map(|tech| tech.id).collect();
    (shop.tenant, shop.site, technicians)
}

async fn ticket(app: &TestApp, tenant: &TestTenant, site: Uuid, skills: Value) -> Uuid {
    let body = json!({"title": "Chiller", "category": "hvac", "priority": "P2", "site_id": site, "required_skills": skills});
    id_of(
        &app.post("/v1/tickets", &tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

async fn assign_endpoint_checks_skills_capacity_and_picks_the_best(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let (tenant, site, technicians) = city(&app, "assign", 3, 1).await;
    let admin = &tenant.admin_token;

    // Skills: level 4 needed, everyone has 3.
    let expert = ticket(
        &app,
        &tenant,
        site,
        json!([{"skill": "hvac", "level": 4}, {"skill": "gas", "level": 1}]),
    )
    .await;
    let reply = app
        .post(
            &format!("/v1/tickets/{expert}/assign"),
            admin,
            &json!({"technician_id": technicians[0]}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("hvac: level 4 required, has 3") && detail.contains("gas"),
        "{detail}"
    );
    let reply = app
        .post(
            &format!("/v1/tickets/{expert}/assign"),
            admin,
            &json!({"best": true}),
        )
        .await;
    reply.expect_problem(StatusCode::CONFLICT, "conflict");

    // Best: the nearest free technician; capacity 1 each, so the next goes to the next nearest.
    let first = ticket(&app, &tenant, site, json!([{"skill": "hvac", "level": 2}])).await;
    let assigned = app
        .post(
            &format!("/v1/tickets/{first}/assign"),
            admin,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&assigned, "assignee_id"), technicians[0]);
    let second = ticket(&app, &tenant, site, json!([])).await;
    let assigned = app
        .post(
            &format!("/v1/tickets/{second}/assign"),
            admin,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&assigned, "assignee_id"), technicians[1]);

    // Naming a full technician is a 409 with the reason.
    let third = ticket(&app, &tenant, site, json!([])).await;
    let reply = app
        .post(
            &format!("/v1/tickets/{third}/assign"),
            admin,
            &json!({"technician_id": technicians[0]}),
        )
        .await;
    reply.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("capacity"),
        "{}",
        reply.body
    );

    // Unassign frees the slot; the same technician can then take the third ticket.
    let freed = app
        .post(&format!("/v1/tickets/{first}/unassign"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (freed["status"].as_str(), &freed["assignee_id"]),
        (Some("new"), &Value::Null)
    );
    let taken = app
        .post(
            &format!("/v1/tickets/{third}/assign"),
            admin,
            &json!({"technician_id": technicians[0]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&taken, "assignee_id"), technicians[0]);

    // Bad requests.
    for body in [
        json!({}),
        json!({"technician_id": technicians[2], "best": true}),
    ] {
        app.post(&format!("/v1/tickets/{first}/assign"), admin, &body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let (_, technician_token) = app
        .create_user(&tenant, "nosy@assign.test", "technician")
        .await;
    app.post(
        &format!("/v1/tickets/{first}/assign"),
        &technician_token,
        &json!({"best": true}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other = app.create_tenant("elsewhere").await;
    app.post(
        &format!("/v1/tickets/{first}/assign"),
        &other.admin_token,
        &json!({"technician_id": technicians[2]}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn concurrent_http_assigns_book_once(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let (tenant, site, technicians) = city(&app, "rush", 8, 1).await;
    let contested = ticket(&app, &tenant, site, json!([])).await;
    let app = Arc::new(app);
    let token = tenant.admin_token.clone();
    let attempts = technicians.iter().map(|&technician| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            app.post(
                &format!("/v1/tickets/{contested}/assign"),
                &token,
                &json!({"technician_id": technician}),
            )
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
    let raw = app.db.raw().await;
    let assigned = raw
        .scalar_i64("SELECT COUNT(*) FROM tickets WHERE id = $1 AND assignee_id IS NOT NULL AND status = 'assigned'", &[contested])
        .await;
    assert_eq!(assigned, 1);

    // One technician, capacity 1, many tickets at once: one wins.
    let lone = technicians[0];
    let load = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM tickets WHERE assignee_id = $1",
            &[lone],
        )
        .await;
    let wanted: Vec<Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..8 {
            ids.push(ticket(&app, &tenant, site, json!([])).await);
        }
        ids
    };
    let attempts = wanted.iter().map(|&id| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            app.post(
                &format!("/v1/tickets/{id}/assign"),
                &token,
                &json!({"technician_id": lone}),
            )
            .await
            .status
        })
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        won as i64 + load,
        1,
        "capacity 1 is never exceeded: {statuses:?}"
    );
    let booked = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM tickets WHERE assignee_id = $1 AND status = 'assigned'",
            &[lone],
        )
        .await;
    assert_eq!(booked, 1);
    raw.close().await;
}
