//! Required parts in batch assignment and day plans: under `prefer` a batch
//! gives a ticket to a farther technician whose van holds its parts rather
//! than to a nearer one without; under `require` only holders are planned,
//! in batches and in day plans, and a ticket nobody's van can serve is left
//! out with that reason. Steps say what the van holds.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

use super::{part, put, receive, van};

backend_tests!(
    batch_assignment_follows_the_parts_policy,
    day_plans_send_required_parts_jobs_to_vans_holding_them
);

async fn require(app: &TestApp, admin: &str, ticket: Uuid, part: Uuid, quantity: f64) {
    put(
        app,
        &format!("/v1/tickets/{ticket}/required-parts"),
        admin,
        &json!({"parts": [{"part_id": part, "quantity": quantity}]}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn batch(app: &TestApp, admin: &str, tickets: &[Uuid], dry_run: bool) -> Value {
    app.post(
        "/v1/dispatch/batch",
        admin,
        &json!({"ticket_ids": tickets, "dry_run": dry_run}),
    )
    .await
    .expect(StatusCode::OK)
}

fn step(plan: &Value, ticket: Uuid) -> Value {
    plan["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .find(|s| id_of(s, "ticket_id") == ticket)
        .cloned()
        .unwrap_or_else(|| panic!("{ticket} not planned: {plan}"))
}

async fn batch_assignment_follows_the_parts_policy(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    // Technician 0 is nearest the site, then 1, then 2 (about 1.1 km apart).
    let shop = Shop::builder(&app, "parts-batch")
        .skilled()
        .spaced(0.01)
        .capacity(10)
        .technicians(3)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let [near, middle, far] = [shop.techs[0].id, shop.techs[1].id, shop.techs[2].id];
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let middle_van = van(&app, &admin, middle).await;
    receive(&app, &admin, relay, middle_van, 1.0).await;
    let far_van = van(&app, &admin, far).await;
    receive(&app, &admin, relay, far_van, 2.0).await;
    let needs = id_of(&shop.ticket(&app, "P2").await, "id");
    let plain = id_of(&shop.ticket(&app, "P2").await, "id");

    // Nothing required: both go to the technician at the site.
    let planned = batch(&app, &admin, &[needs, plain], true).await;
    assert_eq!(id_of(&step(&planned, needs), "technician_id"), near);
    assert!(
        step(&planned, needs).get("van_parts").is_none(),
        "{planned}"
    );

    // `prefer`: the ticket needing a relay goes to the nearest van holding
    // one; the other stays with the nearest technician. Distances are real.
    require(&app, &admin, needs, relay, 1.0).await;
    let planned = batch(&app, &admin, &[needs, plain], true).await;
    let needs_step = step(&planned, needs);
    assert_eq!(id_of(&needs_step, "technician_id"), middle, "{planned}");
    assert_eq!(
        needs_step["van_parts"],
        json!(["has 1 × compressor relay in van"])
    );
    // Real metres (a few km here), not the solver's 20 km preference cost.
    let travelled = needs_step["distance_m"].as_f64().expect("distance");
    assert!((0.0..10_000.0).contains(&travelled), "{planned}");
    assert_eq!(id_of(&step(&planned, plain), "technician_id"), near);
    assert!(
        step(&planned, plain).get("van_parts").is_none(),
        "{planned}"
    );
    let total = planned["total_distance_m"].as_f64().expect("total");
    let plain_travelled = step(&planned, plain)["distance_m"]
        .as_f64()
        .expect("distance");
    assert!(
        (travelled + plain_travelled - total).abs() < 1.0,
        "{planned}"
    );

    // `require`: only a van holding both relays; a ticket needing five is
    // left out with the reason.
    put(
        &app,
        "/v1/parts/policies/hvac",
        &admin,
        &json!({"policy": "require"}),
    )
    .await
    .expect(StatusCode::OK);
    require(&app, &admin, needs, relay, 2.0).await;
    let hopeless = id_of(&shop.ticket(&app, "P2").await, "id");
    require(&app, &admin, hopeless, relay, 5.0).await;
    let planned = batch(&app, &admin, &[needs, hopeless], true).await;
    assert_eq!(id_of(&step(&planned, needs), "technician_id"), far);
    assert_eq!(
        step(&planned, needs)["van_parts"],
        json!(["has 2 × compressor relay in van"])
    );
    assert_eq!(
        planned["unassigned"],
        json!([{"ticket_id": hopeless,
                "reason": "no qualified technician available now has the required parts in their van"}])
    );

    // Applied: the ticket is assigned to the van holding the relays.
    let applied = batch(&app, &admin, &[needs], false).await;
    assert_eq!(id_of(&step(&applied, needs), "technician_id"), far);
    let row = app
        .get(&format!("/v1/tickets/{needs}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["assignee_id"], json!(far));
    app.stop().await;
}

async fn day_plans_send_required_parts_jobs_to_vans_holding_them(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    // Two technicians working 08:00–17:00 every day; technician 0 lives
    // nearer the site.
    let shop = Shop::builder(&app, "parts-plan")
        .skilled()
        .spaced(0.05)
        .capacity(10)
        .technicians(2)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    for tech in &shop.techs {
        app.patch(
            &format!("/v1/technicians/{}", tech.id),
            &admin,
            &json!({"shifts": shifts}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let holder = shop.techs[1].id;
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let holder_van = van(&app, &admin, holder).await;
    receive(&app, &admin, relay, holder_van, 2.0).await;
    put(
        &app,
        "/v1/parts/policies/hvac",
        &admin,
        &json!({"policy": "require"}),
    )
    .await
    .expect(StatusCode::OK);
    let needs = id_of(&shop.ticket(&app, "P3").await, "id");
    require(&app, &admin, needs, relay, 2.0).await;
    let hopeless = id_of(&shop.ticket(&app, "P3").await, "id");
    require(&app, &admin, hopeless, relay, 3.0).await;

    let day = (Utc::now().date_naive() + Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let plan = app
        .post(
            "/v1/schedule/plans",
            &admin,
            &json!({"day": day, "max_seconds": 1}),
        )
        .await
        .expect(StatusCode::CREATED);
    let routes = plan["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 1, "{plan}");
    assert_eq!(id_of(&routes[0], "technician_id"), holder, "{plan}");
    assert_eq!(id_of(&routes[0]["visits"][0], "ticket_id"), needs, "{plan}");
    assert_eq!(
        plan["unassigned"],
        json!([{"ticket_id": hopeless,
                "reason": "no technician working that day has the required parts in their van"}])
    );
    // Applied, the job is the holder's.
    let id = id_of(&plan, "id");
    app.post(
        &format!("/v1/schedule/plans/{id}/apply"),
        &admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let row = app
        .get(&format!("/v1/tickets/{needs}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["assignee_id"], json!(holder));
    app.stop().await;
}
