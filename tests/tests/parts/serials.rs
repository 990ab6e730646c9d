//! Serials on the asset: a serial-tracked part used on a ticket records its
//! serial on the ticket's asset, once per part entry however often the same
//! changes are synced, follows the entry's corrections, and is listed at
//! `GET /v1/assets/{id}/parts`; parts that are not serial-tracked, and
//! tickets without an asset, record nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

use super::{balance, receive, van};

backend_tests!(a_serial_tracked_part_records_its_serial_on_the_asset);

async fn correct(app: &TestApp, token: &str, ticket: Uuid, operations: Value) {
    let version = app
        .get(&format!("/v1/tickets/{ticket}/work"), token)
        .await
        .expect(StatusCode::OK)["version"]
        .clone();
    app.post(
        &format!("/v1/tickets/{ticket}/work/corrections"),
        token,
        &json!({"version": version, "operations": operations}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn serials(app: &TestApp, token: &str, asset: Uuid) -> Vec<(String, String, String)> {
    app.get(&format!("/v1/assets/{asset}/parts"), token)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["part_number"].as_str().unwrap_or_default().to_owned(),
                s["serial"].as_str().unwrap_or_default().to_owned(),
                s["entry_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn a_serial_tracked_part_records_its_serial_on_the_asset(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "serials").build().await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.tech();
    let compressor = id_of(
        &app.post(
            "/v1/parts",
            &admin,
            &json!({"number": "CMP-9", "name": "compressor", "price_cents": 42000,
                    "cost_cents": 30000, "serial_tracked": true}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let filter = super::part(&app, &admin, "FLT-1", "filter", 900).await;
    let van_id = van(&app, &admin, tech.id).await;
    receive(&app, &admin, compressor, van_id, 3.0).await;
    receive(&app, &admin, filter, van_id, 3.0).await;
    let asset = id_of(
        &app.post(
            "/v1/assets",
            &admin,
            &json!({"site_id": shop.site, "serial": "CHILLER-1", "model": "Chiller 40"}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let body = json!({"title": "Chiller", "category": "hvac", "priority": "P2",
                      "site_id": shop.site, "asset_id": asset});
    let ticket = id_of(
        &app.post("/v1/tickets", &admin, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    shop.assign(&app, ticket, tech.id).await;
    // A second ticket at the site without an asset: its serials go nowhere.
    let loose = shop.assigned_ticket(&app, tech.id).await;

    let dir = TempGuard::new("truckroll-parts-serials-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(&shop.tenant.name, &tech.email, PASSWORD)
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    client.set_online(false);
    for (t, number, serial) in [
        (ticket, "CMP-9", Some("SN-100")),
        (ticket, "FLT-1", Some("not tracked")),
        (ticket, "CMP-9", Some("  ")),
        (loose, "CMP-9", Some("SN-LOOSE")),
    ] {
        client
            .edit(
                &t.to_string(),
                Edit::AddPart {
                    part_number: number.into(),
                    quantity: 1.0,
                    serial: serial.map(str::to_owned),
                },
            )
            .await
            .expect("edit applies");
    }
    client.set_online(true);
    client.sync_now().await.expect("sync");
    client.sync_now().await.expect("sync again");
    assert_eq!(balance(&app, &admin, van_id, compressor).await, 0.0);

    let recorded = serials(&app, &admin, asset).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        (recorded[0].0.as_str(), recorded[0].1.as_str()),
        ("CMP-9", "SN-100")
    );
    let entry = recorded[0].2.clone();
    let listed = app
        .get(&format!("/v1/assets/{asset}/parts"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed[0]["ticket_id"], json!(ticket));
    assert_eq!(listed[0]["part_id"], json!(compressor));
    assert_eq!(listed[0]["part_name"], "compressor");

    // A corrected quantity keeps the one serial; a replaced entry carries
    // the new serial instead of the old; a removed entry takes it away.
    correct(
        &app,
        &admin,
        ticket,
        json!([{"op": "set_part_quantity", "part_id": entry, "quantity": 2}]),
    )
    .await;
    assert_eq!(serials(&app, &admin, asset).await, recorded);
    correct(
        &app,
        &admin,
        ticket,
        json!([{"op": "replace_part", "part_id": entry, "part_number": "CMP-9",
                "quantity": 1, "serial": "SN-200"}]),
    )
    .await;
    let replaced = serials(&app, &admin, asset).await;
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(replaced[0].1, "SN-200");
    assert_ne!(replaced[0].2, entry);
    client
        .sync_now()
        .await
        .expect("the phone learns the corrections");
    client.sync_now().await.expect("and again");
    assert_eq!(serials(&app, &admin, asset).await, replaced);
    correct(
        &app,
        &admin,
        ticket,
        json!([{"op": "remove_part", "part_id": replaced[0].2}]),
    )
    .await;
    assert!(serials(&app, &admin, asset).await.is_empty());

    // Office roles only; another tenant's asset is not found.
    app.get(&format!("/v1/assets/{asset}/parts"), &tech.token)
        .await
        .expect(StatusCode::FORBIDDEN);
    let other = Shop::builder(&app, "serials-other").build().await;
    app.get(
        &format!("/v1/assets/{asset}/parts"),
        &other.tenant.admin_token,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.stop().await;
}
