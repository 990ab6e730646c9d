//! `truckroll demo`: the seeded city and its simulation, driven step by step
//! with an explicit clock (no waiting): tickets arrive, offers are taken,
//! technicians drive, check in and close jobs, and the map sees them move.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::demo::{
    DEMO_PASSWORD, DemoOptions, seed,
    sim::{SimOptions, Simulation},
};
use truckroll_tests::{TestBackend, app::TestApp, live::LiveClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_a_city_that_comes_alive() {
    let app = TestApp::start(TestBackend::Sqlite).await;
    let options = DemoOptions {
        tenant: "demo".into(),
        technicians: 12,
        sites: 6,
        seed: 7,
    };
    let (world, client) = seed(
        app.state.store.as_ref(),
        app.state.tokens.clone(),
        &app.base_url,
        &options,
    )
    .await
    .expect("seeds");
    assert_eq!(world.technicians.len(), 12);
    assert_eq!(world.sites.len(), 6);

    // The printed credentials work.
    let login = |email: &str| json!({"tenant": "demo", "email": email, "password": DEMO_PASSWORD});
    let mut tokens = Vec::new();
    for email in [&world.dispatcher_email, &world.manager_email] {
        let reply = app
            .post("/v1/auth/login", "", &login(email))
            .await
            .expect(StatusCode::OK);
        tokens.push(reply["access_token"].as_str().expect("token").to_owned());
    }
    let dispatcher = tokens[0].clone();
    let technicians = app
        .get("/v1/technicians?limit=200", &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(technicians["items"].as_array().map(Vec::len), Some(12));

    // Seeding again finds the same city.
    let (again, _) = seed(
        app.state.store.as_ref(),
        app.state.tokens.clone(),
        &app.base_url,
        &options,
    )
    .await
    .expect("reseeds");
    assert_eq!(again.technicians.len(), 12);
    assert_eq!(again.dispatcher_email, world.dispatcher_email);

    let mut live = LiveClient::connect(&app.base_url, &dispatcher, None).await;
    let snapshot = live.snapshot().await;
    assert_eq!(
        snapshot["technicians"].as_array().map(Vec::len),
        Some(12),
        "home bases on the map"
    );

    // One simulated minute per step until jobs have been finished.
    let options = SimOptions {
        ticket_every: Duration::minutes(3),
        answer_after: Duration::seconds(30),
        ..SimOptions::default()
    };
    let mut now = Utc::now();
    let mut simulation = Simulation::new(client, world, options, 7, now);
    let mut steps = 0;
    while simulation.totals().completed < 3 {
        assert!(
            steps < 2000,
            "no progress after {steps} steps: {:?}",
            simulation.totals()
        );
        now += Duration::minutes(1);
        simulation
            .step(now, Duration::minutes(1))
            .await
            .expect("step");
        steps += 1;
    }
    let totals = simulation.totals();
    assert!(totals.tickets_created >= 3, "{totals:?}");
    assert!(
        totals.offers_accepted + totals.assigned_by_dispatcher >= 3,
        "{totals:?}"
    );
    assert!(totals.check_ins >= 3, "{totals:?}");
    assert!(totals.pings > 12, "{totals:?}");
    assert_eq!(totals.failed_requests, 0, "{totals:?}");

    // As the API sees it: closed tickets with verified check-ins.
    let closed = app
        .get("/v1/tickets?status=closed&limit=200", &dispatcher)
        .await
        .expect(StatusCode::OK);
    let closed = closed["items"].as_array().cloned().unwrap_or_default();
    assert!(closed.len() >= 3, "{closed:?}");
    assert!(
        closed.iter().all(|t| t["check_in"]["verified"] == true),
        "{closed:?}"
    );

    // And the map saw technicians move.
    let moved = live
        .until(
            |_| {},
            |m| m["type"] == "delta" && m["technicians"].as_array().is_some_and(|t| !t.is_empty()),
        )
        .await;
    assert!(moved["technicians"][0]["at"].is_string(), "{moved}");
    app.stop().await;
}
