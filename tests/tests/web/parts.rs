//! The parts and stock page (issue 23) in real headless Chromium
//! (tests/browser/parts.mjs). Screenshots go to
//! `<target>/artifacts/parts-{en,zh}-1024.png`.

use reqwest::{Method, StatusCode};
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_keeps_the_stock_on_the_parts_page() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("parts-page").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "dispatch@parts-page.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    let (ada_user, _) = app
        .create_user(&tenant, "ada@parts-page.test", "technician")
        .await;
    let ada = id_of(
        &app.post(
            "/v1/technicians",
            &admin,
            &json!({"user_id": ada_user, "name": "Ada", "time_zone": "UTC", "capacity": 3}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let mut parts = Vec::new();
    for (number, name, price) in [
        ("CR-24", "compressor relay", 1890),
        ("FAN-220", "condenser fan motor", 12900),
    ] {
        parts.push(id_of(
            &app.post(
                "/v1/parts",
                &admin,
                &json!({"number": number, "name": name, "price_cents": price}),
            )
            .await
            .expect(StatusCode::CREATED),
            "id",
        ));
    }
    let depot = id_of(
        &app.post("/v1/stock/locations", &admin, &json!({"name": "Depot"}))
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let van = app
        .send(
            Method::PUT,
            &format!("/v1/technicians/{ada}/van"),
            Some(&admin),
            Some(&json!({})),
        )
        .await
        .expect(StatusCode::OK);
    let van_id = id_of(&van, "id");
    for body in [
        json!({"kind": "receipt", "part_id": parts[0], "to_location_id": depot, "quantity": 10}),
        json!({"kind": "adjustment", "part_id": parts[0], "location_id": van_id, "delta": -1, "reason": "used before counting"}),
    ] {
        app.post("/v1/stock/movements", &admin, &body)
            .await
            .expect(StatusCode::CREATED);
    }
    app.send(
        Method::PUT,
        "/v1/stock/reorder-points",
        Some(&admin),
        Some(&json!({"location_id": depot, "part_id": parts[0], "min": 12, "target": 20})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);

    browser::run_script(
        "parts.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            (
                "VAN_NAME",
                van["name"].as_str().unwrap_or_default().to_owned(),
            ),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // What the page did, as the API sees it: the transfer, and no import.
    let balances = app
        .get(&format!("/v1/stock/balances?location_id={van_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(balances[0]["quantity"], 1.0);
    let catalogue = app.get("/v1/parts", &admin).await.expect(StatusCode::OK);
    assert_eq!(catalogue["items"].as_array().map(Vec::len), Some(2));
    app.stop().await;
}
