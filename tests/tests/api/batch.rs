//! Batch assignment over the real HTTP API (`POST /v1/dispatch/batch`):
//! dry runs write nothing, real runs assign through the locking transaction
//! and respect skills and capacity, the optimal plan never travels more than
//! the greedy one, and conflicts at apply time are reported, never forced.
//! Every scenario runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, TestTenant, id_of},
};
use uuid::Uuid;

backend_tests!(
    dry_run_plans_better_than_greedy_and_writes_nothing,
    real_run_respects_skills_and_capacity,
    conflicts_at_apply_time_are_reported_not_forced,
    concurrent_batches_never_double_book,
    the_sites_territory_limits_the_technicians,
    batch_input_and_access,
);

// ---------------------------------------------------------------------------
// Helpers

const LAT: f64 = 52.52;

struct City {
    tenant: TestTenant,
    customer: Uuid,
    n: usize,
}

impl City {
    async fn new(app: &TestApp, name: &str) -> Self {
        let tenant = app.create_tenant(name).await;
        let customer = app
            .post(
                "/v1/customers",
                &tenant.admin_token,
                &json!({"name": "Hotel"}),
            )
            .await
            .expect(StatusCode::CREATED);
        Self {
            tenant,
            customer: id_of(&customer, "id"),
            n: 0,
        }
    }

    fn admin(&self) -> &str {
        &self.tenant.admin_token
    }

    /// A site on the 52.52° N parallel at longitude `lon`.
    async fn site(&mut self, app: &TestApp, lon: f64) -> Uuid {
        self.n += 1;
        let site = app
            .post(
                "/v1/sites",
                self.admin(),
                &json!({"customer_id": self.customer, "name": format!("Site {}", self.n),
                        "address": "Somewhere 1", "location": {"lat": LAT, "lon": lon}}),
            )
            .await
            .expect(StatusCode::CREATED);
        id_of(&site, "id")
    }

    /// A ticket at a new site at `lon`.
    async fn ticket(&mut self, app: &TestApp, lon: f64, skills: Value) -> Uuid {
        let site = self.site(app, lon).await;
        let body = json!({"title": "Job", "category": "hvac", "priority": "P2",
                          "site_id": site, "required_skills": skills});
        id_of(
            &app.post("/v1/tickets", self.admin(), &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        )
    }

    /// An all-week technician based at `lon` (no pings: the home base counts).
    async fn technician(&mut self, app: &TestApp, lon: f64, skills: Value, capacity: u32) -> Uuid {
        self.n += 1;
        let email = format!("tech{}@{}.test", self.n, self.tenant.name);
        let (user, _) = app.create_user(&self.tenant, &email, "technician").await;
        let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|day| json!({"day": day, "start": "00:00", "end": "00:00"}))
            .collect();
        let technician = app
            .post(
                "/v1/technicians",
                self.admin(),
                &json!({"user_id": user, "name": format!("Tech {}", self.n), "skills": skills,
                        "shifts": shifts, "time_zone": "UTC", "capacity": capacity,
                        "home_base": {"lat": LAT, "lon": lon}}),
            )
            .await
            .expect(StatusCode::CREATED);
        id_of(&technician, "id")
    }
}

async fn batch(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/v1/dispatch/batch", token, &body)
        .await
        .expect(StatusCode::OK)
}

/// ticket id → technician id, from a response's plan.
fn plan_of(reply: &Value) -> Vec<(Uuid, Uuid)> {
    reply["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|step| (id_of(step, "ticket_id"), id_of(step, "technician_id")))
        .collect()
}

fn unassigned_of(reply: &Value) -> Vec<(Uuid, String)> {
    reply["unassigned"]
        .as_array()
        .expect("unassigned")
        .iter()
        .map(|u| {
            (
                id_of(u, "ticket_id"),
                u["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

fn number(reply: &Value, field: &str) -> f64 {
    reply[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{field}` in {reply}"))
}

async fn ticket_state(app: &TestApp, token: &str, id: Uuid) -> (String, Option<Uuid>) {
    let ticket = app
        .get(&format!("/v1/tickets/{id}"), token)
        .await
        .expect(StatusCode::OK);
    (
        ticket["status"].as_str().expect("status").to_owned(),
        ticket["assignee_id"].as_str().and_then(|s| s.parse().ok()),
    )
}

async fn open_jobs(app: &TestApp, technician: Uuid) -> i64 {
    let raw = app.db.raw().await;
    let n = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM tickets WHERE assignee_id = $1 AND status = 'assigned'",
            &[technician],
        )
        .await;
    raw.close().await;
    n
}

// ---------------------------------------------------------------------------
// Scenarios

/// Two tickets, two technicians, both tickets nearest to X. Greedy (A first)
/// gives X to A and sends Y far out to B; the optimum sends Y to A.
async fn dry_run_plans_better_than_greedy_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "contrived").await;
    // 0.01° of longitude at 52.52° N is about 677 m.
    let x = city.technician(&app, 13.40, json!([]), 1).await;
    let y = city.technician(&app, 13.43, json!([]), 1).await;
    let a = city.ticket(&app, 13.41, json!([])).await; // X 0.68 km, Y 1.35 km
    let b = city.ticket(&app, 13.38, json!([])).await; // X 1.35 km, Y 3.4 km
    let admin = city.admin().to_owned();

    let dry = batch(&app, &admin, json!({"ticket_ids": [a, b], "dry_run": true})).await;
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["method"], json!("exact"));
    let mut plan = plan_of(&dry);
    plan.sort();
    let mut expected = vec![(a, y), (b, x)];
    expected.sort();
    assert_eq!(plan, expected, "{dry}");
    assert!(unassigned_of(&dry).is_empty(), "{dry}");
    let total = number(&dry, "total_distance_m");
    let greedy = number(&dry, "greedy_total_distance_m");
    assert!(total <= greedy, "{dry}");
    assert!((total - 2_708.0).abs() < 20.0, "{dry}");
    assert!((greedy - 4_062.0).abs() < 20.0, "{dry}");
    assert!(number(&dry, "saved_m") > 1_000.0, "{dry}");
    assert!(number(&dry, "saved_percent") > 25.0, "{dry}");
    let steps: f64 = dry["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|s| s["distance_m"].as_f64().expect("distance"))
        .sum();
    assert!((steps - total).abs() < 1e-6);

    // Nothing was written.
    for ticket in [a, b] {
        assert_eq!(
            ticket_state(&app, &admin, ticket).await,
            ("new".to_owned(), None)
        );
    }
    let raw = app.db.raw().await;
    let assigns = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND action = 'ticket.assign'",
            &[city.tenant.id],
        )
        .await;
    raw.close().await;
    assert_eq!(assigns, 0);

    // Without ticket_ids: every new ticket, oldest first (the same order).
    let all = batch(&app, &admin, json!({"dry_run": true})).await;
    assert_eq!(all["total_distance_m"], dry["total_distance_m"]);
    assert_eq!(
        all["greedy_total_distance_m"],
        dry["greedy_total_distance_m"]
    );

    // The real run makes the plan.
    let real = batch(&app, &admin, json!({"dry_run": false})).await;
    assert_eq!(real["dry_run"], json!(false));
    let mut made = plan_of(&real);
    made.sort();
    assert_eq!(made, expected, "{real}");
    assert_eq!(
        ticket_state(&app, &admin, a).await,
        ("assigned".to_owned(), Some(y))
    );
    assert_eq!(
        ticket_state(&app, &admin, b).await,
        ("assigned".to_owned(), Some(x))
    );
    // Nothing new is left.
    let again = batch(&app, &admin, json!({"dry_run": false})).await;
    assert!(
        plan_of(&again).is_empty() && unassigned_of(&again).is_empty(),
        "{again}"
    );
    assert_eq!(number(&again, "total_distance_m"), 0.0);
    app.stop().await;
}

async fn real_run_respects_skills_and_capacity(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "skills").await;
    let admin = city.admin().to_owned();
    let expert = city
        .technician(&app, 13.40, json!([{"skill": "hvac", "level": 3}]), 2)
        .await;
    let electrician = city
        .technician(&app, 13.45, json!([{"skill": "electrical", "level": 2}]), 1)
        .await;
    // Nearest to everything, but hvac level 1 only.
    let novice = city
        .technician(&app, 13.41, json!([{"skill": "hvac", "level": 1}]), 3)
        .await;
    let hvac = json!([{"skill": "hvac", "level": 2}]);
    let mut hvac_tickets = Vec::new();
    for i in 0..4 {
        hvac_tickets.push(
            city.ticket(&app, 13.41 + 0.001 * f64::from(i), hvac.clone())
                .await,
        );
    }
    let wiring = city
        .ticket(&app, 13.41, json!([{"skill": "electrical", "level": 1}]))
        .await;
    let gas = city
        .ticket(&app, 13.41, json!([{"skill": "gas", "level": 1}]))
        .await;
    let taken = city.ticket(&app, 13.41, json!([])).await;
    app.post(
        &format!("/v1/tickets/{taken}/assign"),
        &admin,
        &json!({"technician_id": novice}),
    )
    .await
    .expect(StatusCode::OK);
    let nowhere = Uuid::now_v7();

    let mut ids = hvac_tickets.clone();
    ids.extend([wiring, gas, taken, nowhere]);
    let reply = batch(&app, &admin, json!({"ticket_ids": ids, "dry_run": false})).await;
    let plan = plan_of(&reply);
    let unassigned = unassigned_of(&reply);
    assert_eq!(plan.len(), 3, "{reply}");
    assert_eq!(unassigned.len(), 5, "{reply}");
    assert_eq!(number(&reply, "assigned"), 3.0);
    assert!(
        number(&reply, "total_distance_m") <= number(&reply, "greedy_total_distance_m"),
        "{reply}"
    );
    // Two hvac tickets to the expert (capacity 2), the wiring to the electrician.
    assert_eq!(
        plan.iter().filter(|(_, t)| *t == expert).count(),
        2,
        "{reply}"
    );
    assert!(plan.contains(&(wiring, electrician)), "{reply}");
    assert!(plan.iter().all(|(_, t)| *t != novice), "{reply}");
    let reason = |id: Uuid| {
        unassigned
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{id} not unassigned: {reply}"))
    };
    assert!(reason(gas).contains("no qualified technician"), "{reply}");
    assert!(reason(taken).contains("assigned, not new"), "{reply}");
    assert_eq!(reason(nowhere), "no such ticket");
    let left: Vec<Uuid> = hvac_tickets
        .iter()
        .copied()
        .filter(|t| !plan.iter().any(|(p, _)| p == t))
        .collect();
    assert_eq!(left.len(), 2);
    for ticket in &left {
        assert!(
            reason(*ticket).contains("free slots went to other tickets"),
            "{reply}"
        );
    }

    // The database agrees, within capacity.
    assert_eq!(open_jobs(&app, expert).await, 2);
    assert_eq!(open_jobs(&app, electrician).await, 1);
    assert_eq!(open_jobs(&app, novice).await, 1);
    for (ticket, technician) in &plan {
        assert_eq!(
            ticket_state(&app, &admin, *ticket).await,
            ("assigned".to_owned(), Some(*technician))
        );
    }

    // Run again: the expert is full now; the rest stays unassigned.
    let again = batch(&app, &admin, json!({"dry_run": false})).await;
    assert!(plan_of(&again).is_empty(), "{again}");
    let mut still: Vec<Uuid> = unassigned_of(&again).into_iter().map(|(t, _)| t).collect();
    still.sort();
    let mut expected = left.clone();
    expected.push(gas);
    expected.sort();
    assert_eq!(still, expected, "{again}");
    assert_eq!(open_jobs(&app, expert).await, 2);
    app.stop().await;
}

/// The index says a technician has room; the database (another replica
/// booked them) says no. The step is reported, nothing is forced.
async fn conflicts_at_apply_time_are_reported_not_forced(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "stale").await;
    let admin = city.admin().to_owned();
    let lone = city.technician(&app, 13.40, json!([]), 1).await;
    let elsewhere = city.ticket(&app, 13.40, json!([])).await;
    let wanted = city.ticket(&app, 13.41, json!([])).await;
    // Booked behind the index's back, as another server would.
    let actor = truckroll_server::store::Actor {
        tenant_id: city.tenant.id,
        user_id: Some(city.tenant.admin_id),
    };
    app.state
        .store
        .assign_ticket(actor, elsewhere, lone, None)
        .await
        .expect("direct assign");

    let reply = batch(
        &app,
        &admin,
        json!({"ticket_ids": [wanted], "dry_run": false}),
    )
    .await;
    assert!(plan_of(&reply).is_empty(), "{reply}");
    let unassigned = unassigned_of(&reply);
    assert_eq!(unassigned.len(), 1, "{reply}");
    assert_eq!(unassigned[0].0, wanted);
    assert!(unassigned[0].1.contains("capacity"), "{reply}");
    assert_eq!(open_jobs(&app, lone).await, 1);
    assert_eq!(
        ticket_state(&app, &admin, wanted).await,
        ("new".to_owned(), None)
    );
    // The conflict corrected the index's count: the technician is full, so
    // the next plan has nobody.
    let next = batch(
        &app,
        &admin,
        json!({"ticket_ids": [wanted], "dry_run": true}),
    )
    .await;
    assert!(plan_of(&next).is_empty(), "{next}");
    app.stop().await;
}

async fn concurrent_batches_never_double_book(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "rush").await;
    let admin = city.admin().to_owned();
    let mut technicians = Vec::new();
    for i in 0..4 {
        technicians.push(
            city.technician(&app, 13.40 + 0.01 * f64::from(i), json!([]), 2)
                .await,
        );
    }
    let mut tickets = Vec::new();
    for i in 0..10 {
        tickets.push(
            city.ticket(&app, 13.40 + 0.004 * f64::from(i), json!([]))
                .await,
        );
    }
    let app = Arc::new(app);
    let runs = (0..4).map(|_| {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move { batch(&app, &admin, json!({"dry_run": false})).await })
    });
    let replies: Vec<Value> = join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    // Every ticket appears in at most one reply's plan; 8 slots for 10 tickets.
    let mut made: Vec<Uuid> = replies.iter().flat_map(plan_of).map(|(t, _)| t).collect();
    made.sort();
    let before = made.len();
    made.dedup();
    assert_eq!(made.len(), before, "a ticket was booked twice: {replies:?}");
    assert_eq!(made.len(), 8, "{replies:?}");
    for technician in &technicians {
        assert_eq!(open_jobs(&app, *technician).await, 2);
    }
    let raw = app.db.raw().await;
    let assigned = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND status = 'assigned'",
            &[city.tenant.id],
        )
        .await;
    raw.close().await;
    assert_eq!(assigned, 8);
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("app still shared"),
    }
}

/// As for candidates: a ticket whose site lies in a territory only gets
/// technicians inside it, however near the others are.
async fn the_sites_territory_limits_the_technicians(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "territory").await;
    let admin = city.admin().to_owned();
    app.post(
        "/v1/territories",
        &admin,
        &json!({"name": "Mitte", "boundary": {"type": "Polygon", "coordinates": [[
            [13.40, 52.50], [13.415, 52.50], [13.415, 52.54], [13.40, 52.54], [13.40, 52.50]
        ]]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let inside = city.technician(&app, 13.402, json!([]), 1).await;
    let outside = city.technician(&app, 13.417, json!([]), 1).await;
    let in_mitte = city.ticket(&app, 13.41, json!([])).await;
    let reply = batch(
        &app,
        &admin,
        json!({"ticket_ids": [in_mitte], "dry_run": true}),
    )
    .await;
    assert_eq!(plan_of(&reply), vec![(in_mitte, inside)], "{reply}");
    // Outside every territory, the nearest one is fine.
    let out_east = city.ticket(&app, 13.45, json!([])).await;
    let reply = batch(
        &app,
        &admin,
        json!({"ticket_ids": [out_east], "dry_run": true}),
    )
    .await;
    assert_eq!(plan_of(&reply), vec![(out_east, outside)], "{reply}");
    app.stop().await;
}

async fn batch_input_and_access(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mut city = City::new(&app, "input").await;
    let admin = city.admin().to_owned();
    let ticket = city.ticket(&app, 13.40, json!([])).await;
    for body in [
        json!({"ticket_ids": [], "dry_run": true}),
        json!({"ticket_ids": [ticket, ticket], "dry_run": true}),
        json!({"ticket_ids": [ticket]}),
        json!({"dry_run": true, "extra": 1}),
    ] {
        let reply = app.post("/v1/dispatch/batch", &admin, &body).await;
        assert!(
            reply.status == StatusCode::UNPROCESSABLE_ENTITY
                || reply.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            reply.status,
            reply.body
        );
    }
    let too_many: Vec<Uuid> = (0..2001).map(|_| Uuid::now_v7()).collect();
    app.post(
        "/v1/dispatch/batch",
        &admin,
        &json!({"ticket_ids": too_many, "dry_run": true}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Technicians may not; another tenant's tickets do not exist here.
    let (_, technician) = app
        .create_user(&city.tenant, "nosy@input.test", "technician")
        .await;
    app.post("/v1/dispatch/batch", &technician, &json!({"dry_run": true}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other = app.create_tenant("elsewhere").await;
    let reply = batch(
        &app,
        &other.admin_token,
        json!({"ticket_ids": [ticket], "dry_run": false}),
    )
    .await;
    assert_eq!(
        unassigned_of(&reply),
        vec![(ticket, "no such ticket".to_owned())]
    );
    assert_eq!(
        ticket_state(&app, &admin, ticket).await,
        ("new".to_owned(), None)
    );
    // The endpoint is documented.
    let spec = app
        .get("/openapi.json", &admin)
        .await
        .expect(StatusCode::OK);
    assert!(spec["paths"]["/v1/dispatch/batch"]["post"].is_object());
    app.stop().await;
}
