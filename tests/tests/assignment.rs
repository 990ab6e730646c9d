//! Assignment: the database decides. Concurrent assigns of one ticket, or of
//! one technician's last free slot, never double-book — on both backends,
//! through the store and through HTTP.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::{
    domain::people::Role,
    store::{Store, StoreError},
};
use truckroll_tests::{
    TestBackend, TestDb,
    app::{TestApp, TestTenant, all_week_shifts, id_of},
    fixtures::{TenantFixture, new_technician, new_ticket, new_user},
    store_contract_tests,
};
use uuid::Uuid;

store_contract_tests!(
    one_ticket_many_assigners,
    last_slot_many_tickets,
    assignment_rules
);

async fn technician(store: &dyn Store, fixture: &TenantFixture, n: usize, capacity: u32) -> Uuid {
    let user = store
        .create_user(
            fixture.actor(),
            &new_user(&format!("tech{n}@example.com"), Role::Technician),
            "hash",
        )
        .await
        .expect("user");
    let mut new = new_technician(user.id);
    new.capacity = capacity;
    store
        .create_technician(fixture.actor(), &new)
        .await
        .expect("technician")
        .id
}

async fn one_ticket_many_assigners(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let fixture = TenantFixture::create(store.as_ref(), "race").await;
    let ticket = store
        .create_ticket(fixture.actor(), &new_ticket(fixture.site_id, "Contested"))
        .await
        .expect("ticket");
    let mut technicians = Vec::new();
    for n in 0..12 {
        technicians.push(technician(store.as_ref(), &fixture, n, 5).await);
    }
    let attempts = technicians.iter().map(|&technician| {
        let store = store.clone();
        let actor = fixture.actor();
        tokio::spawn(async move { store.assign_ticket(actor, ticket.id, technician).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    // Every attempt is either the first assign or a reassign after it; the
    // ticket ends with exactly one assignee, and every winner was serialised.
    let winners: Vec<Uuid> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|t| t.assignee_id)
        .collect();
    assert!(!winners.is_empty());
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, StoreError::Conflict(_)),
                "only conflicts may fail: {error:?}"
            );
        }
    }
    let stored = store
        .get_ticket(fixture.tenant_id, ticket.id)
        .await
        .expect("ticket");
    assert_eq!(stored.status.as_str(), "assigned");
    let assignee = stored.assignee_id.expect("assigned");
    let booked: u32 = {
        let mut total = 0;
        for technician in &technicians {
            total += store
                .technician_load(fixture.tenant_id, *technician)
                .await
                .expect("load");
        }
        total
    };
    assert_eq!(
        booked, 1,
        "the ticket counts against exactly one technician ({assignee})"
    );
    let report = store.verify_audit(fixture.tenant_id).await.expect("verify");
    assert!(report.valid, "{report:?}");
}

async fn last_slot_many_tickets(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let fixture = TenantFixture::create(store.as_ref(), "slot").await;
    let technician = technician(store.as_ref(), &fixture, 0, 3).await;
    // Two slots taken already: one left.
    for n in 0..2 {
        let ticket = store
            .create_ticket(
                fixture.actor(),
                &new_ticket(fixture.site_id, &format!("taken {n}")),
            )
            .await
            .expect("ticket");
        store
            .assign_ticket(fixture.actor(), ticket.id, technician)
            .await
            .expect("free slot");
    }
    let mut tickets = Vec::new();
    for n in 0..16 {
        tickets.push(
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("wanted {n}")),
                )
                .await
                .expect("ticket")
                .id,
        );
    }
    let attempts = tickets.iter().map(|&ticket| {
        let store = store.clone();
        let actor = fixture.actor();
        tokio::spawn(async move { store.assign_ticket(actor, ticket, technician).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one ticket gets the last slot: {results:?}");
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        match result {
            StoreError::Conflict(reason) => assert!(reason.contains("capacity"), "{reason}"),
            other => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(
        store
            .technician_load(fixture.tenant_id, technician)
            .await
            .expect("load"),
        3
    );
}

async fn assignment_rules(db: &TestDb) {
    let store = db.store.as_ref();
    let fixture = TenantFixture::create(store, "rules").await;
    let ada = technician(store, &fixture, 0, 2).await;
    let bob = technician(store, &fixture, 1, 2).await;
    let ticket = store
        .create_ticket(fixture.actor(), &new_ticket(fixture.site_id, "Boiler"))
        .await
        .expect("ticket");

    let assigned = store
        .assign_ticket(fixture.actor(), ticket.id, ada)
        .await
        .expect("assign");
    assert_eq!(
        (assigned.status.as_str(), assigned.assignee_id),
        ("assigned", Some(ada))
    );
    let again = store.assign_ticket(fixture.actor(), ticket.id, ada).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let moved = store
        .assign_ticket(fixture.actor(), ticket.id, bob)
        .await
        .expect("reassign");
    assert_eq!(moved.assignee_id, Some(bob));
    assert_eq!(
        store
            .technician_load(fixture.tenant_id, ada)
            .await
            .expect("load"),
        0
    );

    let unknown = store
        .assign_ticket(fixture.actor(), ticket.id, Uuid::now_v7())
        .await;
    assert!(
        matches!(
            unknown,
            Err(StoreError::Reference {
                field: "technician_id",
                ..
            })
        ),
        "{unknown:?}"
    );
    let other = TenantFixture::create(store, "other").await;
    let foreign = technician(store, &other, 9, 2).await;
    let crossed = store
        .assign_ticket(fixture.actor(), ticket.id, foreign)
        .await;
    assert!(
        matches!(crossed, Err(StoreError::Reference { .. })),
        "{crossed:?}"
    );
    let missing = store
        .assign_ticket(fixture.actor(), Uuid::now_v7(), ada)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("ticket"))),
        "{missing:?}"
    );

    // A closed ticket is no longer assignable.
    let mut closed = moved.clone();
    closed.status = truckroll_sync::Status::Cancelled;
    store
        .update_ticket(fixture.actor(), &moved, &closed)
        .await
        .expect("cancel");
    let late = store.assign_ticket(fixture.actor(), ticket.id, ada).await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    let entries = store
        .list_audit(fixture.tenant_id, 0, 200)
        .await
        .expect("audit");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "ticket.assign")
            .count(),
        2
    );
}

// ---------------------------------------------------------------------------
// Over HTTP

macro_rules! both {
    ($($name:ident),+ $(,)?) => {
        mod http_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(truckroll_tests::TestBackend::Sqlite).await;
                }
            )+
        }
        mod http_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(truckroll_tests::TestBackend::Postgres).await;
                }
            )+
        }
    };
}

both!(
    assign_endpoint_checks_skills_capacity_and_picks_the_best,
    concurrent_http_assigns_book_once
);

/// A tenant with a site in Berlin and `n` all-week technicians with hvac level 3.
async fn city(app: &TestApp, name: &str, n: usize, capacity: u32) -> (TestTenant, Uuid, Vec<Uuid>) {
    let tenant = app.create_tenant(name).await;
    let admin = &tenant.admin_token;
    let site = app.berlin_site(&tenant, "standard").await;
    let all_week = all_week_shifts();
    let mut technicians = Vec::new();
    for i in 0..n {
        let (user, _) = app
            .create_user(&tenant, &format!("tech{i}@{name}.test"), "technician")
            .await;
        let technician = app
            .post(
                "/v1/technicians",
                admin,
                &json!({"user_id": user, "name": format!("Tech {i}"), "skills": [{"skill": "hvac", "level": 3}],
                        "shifts": all_week, "time_zone": "UTC", "capacity": capacity,
                        // Further out with every index: technician 0 is nearest.
                        "home_base": {"lat": 52.52 + 0.01 * i as f64, "lon": 13.40}}),
            )
            .await
            .expect(StatusCode::CREATED);
        technicians.push(id_of(&technician, "id"));
    }
    (tenant, id_of(&site, "id"), technicians)
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
