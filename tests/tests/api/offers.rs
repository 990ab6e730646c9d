//! Offers and auto-dispatch end to end: offer in turn, decline, expiry (with a
//! chosen `now`, no waiting), exhaustion, acceptance, a restart in the middle,
//! and a dispatcher stepping in.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    app::{TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    offers_go_round_until_taken_or_exhausted,
    offers_survive_a_restart_and_yield_to_dispatchers,
    offers_stay_inside_the_sites_territory
);

async fn ticket(app: &TestApp, city: &Shop, category: &str) -> Uuid {
    let body = json!({"title": "Chiller", "category": category, "priority": "P2", "site_id": city.site,
                      "required_skills": [{"skill": "hvac", "level": 2}]});
    id_of(
        &app.post("/v1/tickets", &city.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

async fn offers(app: &TestApp, city: &Shop, ticket: Uuid) -> Vec<Value> {
    let body = app
        .get(
            &format!("/v1/tickets/{ticket}/offers"),
            &city.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    body.as_array().cloned().unwrap_or_default()
}

fn pending(offers: &[Value]) -> Vec<&Value> {
    offers.iter().filter(|o| o["state"] == "pending").collect()
}

/// Past every open offer's window.
fn after_window() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(121)
}

async fn offers_go_round_until_taken_or_exhausted(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let city = Shop::builder(&app, "turns")
        .skilled()
        .spaced(0.02)
        .capacity(2)
        .technicians(3)
        .build()
        .await;
    let admin = &city.tenant.admin_token;
    let (tech0, token0) = (&city.techs[0].id, &city.techs[0].token);
    let (tech1, token1) = (&city.techs[1].id, &city.techs[1].token);

    // Policy: bad input first, then offer in turn to the top two.
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(admin),
        Some(&json!({"mode": "offer_in_turn", "top_n": 0})),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(token0),
        Some(&json!({"mode": "offer_best"})),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let policy = app
        .send(
            reqwest::Method::PUT,
            "/v1/dispatch/policies/hvac",
            Some(admin),
            Some(&json!({"mode": "offer_in_turn", "top_n": 2})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        policy,
        json!({"category": "hvac", "mode": "offer_in_turn", "top_n": 2})
    );

    // A ticket of another category is not auto-dispatched.
    let manual = ticket(&app, &city, "plumbing").await;
    assert!(offers(&app, &city, manual).await.is_empty());

    // Phones: Tech 0's, and a dispatcher's browser, both with push tokens.
    let device = json!({"platform": "android", "push_token": "fcm-token-tech0", "actor_id": "0a0a0a0a0a0a0a0a"});
    app.post("/v1/devices", token0, &device)
        .await
        .expect(StatusCode::CREATED);
    let (dispatcher, dispatcher_token) = app
        .create_user(&city.tenant, "desk@turns.test", "dispatcher")
        .await;
    let desk =
        json!({"platform": "web", "push_token": "fcm-token-desk", "actor_id": "0b0b0b0b0b0b0b0b"});
    app.post("/v1/devices", &dispatcher_token, &desk)
        .await
        .expect(StatusCode::CREATED);
    let tech0_user = id_of(
        &app.get(&format!("/v1/technicians/{tech0}"), admin)
            .await
            .expect(StatusCode::OK),
        "user_id",
    );
    let raw = app.db.raw().await;
    let queued = |user: Uuid, kind: &'static str| {
        let raw = raw.clone();
        async move {
            let sql =
                format!("SELECT COUNT(*) FROM push_outbox WHERE user_id = $1 AND title = '{kind}'");
            raw.scalar_i64(&sql, &[user]).await
        }
    };

    // Created → offered to the nearest technician, whose phone is told.
    let first = ticket(&app, &city, "hvac").await;
    assert_eq!(
        queued(tech0_user, "New job offer").await,
        1,
        "one offer push for Tech 0's phone"
    );
    let listed = offers(&app, &city, first).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (
            id_of(&listed[0], "technician_id"),
            listed[0]["round"].as_u64()
        ),
        (*tech0, Some(1))
    );
    let mine = app
        .get("/v1/me/offers", token0)
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.get("/v1/me/offers", token1)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    let offer0 = id_of(&listed[0], "id");

    // Nobody else may answer it.
    app.post(&format!("/v1/offers/{offer0}/accept"), token1, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(&format!("/v1/offers/{offer0}/accept"), admin, &json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        &format!("/v1/offers/{offer0}/decline"),
        token0,
        &json!({"reason": "  "}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Declined → the next technician.
    let declined = app
        .post(
            &format!("/v1/offers/{offer0}/decline"),
            token0,
            &json!({"reason": "van broke down"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (declined["state"].as_str(), declined["reason"].as_str()),
        (Some("declined"), Some("van broke down"))
    );
    let listed = offers(&app, &city, first).await;
    let open = pending(&listed);
    assert_eq!(open.len(), 1);
    assert_eq!(
        (id_of(open[0], "technician_id"), open[0]["round"].as_u64()),
        (*tech1, Some(2))
    );
    app.post(&format!("/v1/offers/{offer0}/accept"), token0, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");

    // Expired → top 2 used up → the ticket waits, unassigned, for a dispatcher.
    let expired = app
        .state
        .offer_flow()
        .expire_due(after_window())
        .await
        .expect("timers");
    assert_eq!(expired, 1);
    let listed = offers(&app, &city, first).await;
    assert!(pending(&listed).is_empty(), "{listed:?}");
    assert_eq!(listed[1]["state"], "expired");
    assert_eq!(
        queued(dispatcher, "Ticket needs a technician").await,
        1,
        "the dispatcher hears nobody took it"
    );
    let waiting = app
        .get(&format!("/v1/tickets/{first}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (waiting["status"].as_str(), &waiting["assignee_id"]),
        (Some("new"), &Value::Null)
    );
    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let exhausted = audit["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["action"] == "ticket.offers_exhausted")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(exhausted, 1);
    assert_eq!(
        app.state
            .offer_flow()
            .expire_due(after_window())
            .await
            .expect("timers"),
        0,
        "nothing left to expire"
    );

    // Accepted → assigned to and accepted by the technician in one step.
    let second = ticket(&app, &city, "hvac").await;
    let offer = id_of(
        &pending(&offers(&app, &city, second).await)[0].clone(),
        "id",
    );
    let accepted = app
        .post(&format!("/v1/offers/{offer}/accept"), token0, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(accepted["offer"]["state"], "accepted");
    assert_eq!(
        (
            accepted["ticket"]["status"].as_str(),
            id_of(&accepted["ticket"], "assignee_id")
        ),
        (Some("accepted"), *tech0)
    );
    app.post(&format!("/v1/offers/{offer}/accept"), token0, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    let seen = app
        .get(&format!("/v1/tickets/{second}"), token0)
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "accepted");

    // An offer taken after its window closed is refused.
    let third = ticket(&app, &city, "hvac").await;
    // (Tech 0 now has an open job, so the ranking prefers the free Tech 1.)
    let open = pending(&offers(&app, &city, third).await)[0].clone();
    let (late, owner) = (id_of(&open, "id"), id_of(&open, "technician_id"));
    assert_eq!(owner, *tech1, "an open job counts against the nearest");
    app.state
        .offer_flow()
        .expire_due(after_window())
        .await
        .expect("timers");
    app.post(&format!("/v1/offers/{late}/accept"), token1, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    app.stop().await;
}

async fn offers_survive_a_restart_and_yield_to_dispatchers(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let city = Shop::builder(&app, "restart")
        .skilled()
        .spaced(0.02)
        .capacity(2)
        .technicians(3)
        .build()
        .await;
    let admin = city.tenant.admin_token.clone();
    let (tech0, _) = (city.techs[0].id, city.techs[0].token.clone());
    let (tech1, token1) = (city.techs[1].id, city.techs[1].token.clone());
    let (tech2, _) = (city.techs[2].id, city.techs[2].token.clone());
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "offer_in_turn", "top_n": 3})),
    )
    .await
    .expect(StatusCode::OK);
    let waiting = ticket(&app, &city, "hvac").await;
    assert_eq!(
        id_of(
            pending(&offers(&app, &city, waiting).await)[0],
            "technician_id"
        ),
        tech0
    );

    // The process dies with the offer open; the new one expires it on time.
    let app = app.restart().await;
    assert_eq!(
        app.state
            .offer_flow()
            .expire_due(Utc::now())
            .await
            .expect("timers"),
        0,
        "not due yet"
    );
    assert_eq!(
        app.state
            .offer_flow()
            .expire_due(after_window())
            .await
            .expect("timers"),
        1
    );
    let listed = offers(&app, &city, waiting).await;
    assert_eq!(id_of(pending(&listed)[0], "technician_id"), tech1);

    // A dispatcher assigns directly: the open offer is withdrawn, and the
    // technician can no longer take it.
    let open = id_of(pending(&listed)[0], "id");
    app.post(
        &format!("/v1/tickets/{waiting}/assign"),
        &admin,
        &json!({"technician_id": tech2}),
    )
    .await
    .expect(StatusCode::OK);
    let listed = offers(&app, &city, waiting).await;
    assert!(pending(&listed).is_empty());
    assert_eq!(
        listed.last().map(|o| o["state"].clone()),
        Some(json!("withdrawn"))
    );
    app.post(&format!("/v1/offers/{open}/accept"), &token1, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        app.state
            .offer_flow()
            .expire_due(after_window())
            .await
            .expect("timers"),
        0
    );

    // Offer-best: one technician only; a decline exhausts it at once.
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "offer_best"})),
    )
    .await
    .expect(StatusCode::OK);
    let single = ticket(&app, &city, "hvac").await;
    let offered = offers(&app, &city, single).await;
    assert_eq!(offered.len(), 1);
    let offer = id_of(&offered[0], "id");
    let owner = id_of(&offered[0], "technician_id");
    let token = city
        .techs
        .iter()
        .find(|tech| tech.id == owner)
        .map(|tech| tech.token.clone())
        .expect("owner");
    app.post(
        &format!("/v1/offers/{offer}/decline"),
        &token,
        &json!({"reason": "off sick"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(pending(&offers(&app, &city, single).await).is_empty());
    app.stop().await;
}

async fn offers_stay_inside_the_sites_territory(backend: truckroll_tests::TestBackend) {
    let app = TestApp::start(backend).await;
    let city = Shop::builder(&app, "fenced")
        .skilled()
        .spaced(0.02)
        .capacity(2)
        .technicians(3)
        .build()
        .await;
    let admin = &city.tenant.admin_token;
    // A strip west of 13.39° E holding the site but none of the technicians (13.40° E).
    let strip = json!({"name": "West strip", "boundary": {"type": "Polygon", "coordinates": [[
        [13.35, 52.50], [13.39, 52.50], [13.39, 52.60], [13.35, 52.60], [13.35, 52.50]]]}});
    app.post("/v1/territories", admin, &strip)
        .await
        .expect(StatusCode::CREATED);
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(admin),
        Some(&json!({"mode": "offer_in_turn", "top_n": 3})),
    )
    .await
    .expect(StatusCode::OK);
    let fenced = ticket(&app, &city, "hvac").await;
    assert!(
        offers(&app, &city, fenced).await.is_empty(),
        "nobody inside the territory: no offer"
    );
    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let exhausted = audit["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["action"] == "ticket.offers_exhausted")
                .count()
        })
        .unwrap_or_default();
    assert_eq!(exhausted, 1);
    app.stop().await;
}
