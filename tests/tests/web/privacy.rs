//! The ticket page shows a manager the customer's phone, email and address
//! masked, with a keyboard-usable Reveal button per field, in English and
//! Chinese (tests/browser/privacy.mjs); the reveal is in the audit log.
//! Screenshots at 1024 px go to `<target>/artifacts/privacy-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_reveals_a_masked_phone_on_the_ticket_page() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("privacyweb").await;
    let admin = tenant.admin_token.clone();
    let (manager, _) = app
        .create_user(&tenant, "mia@privacyweb.test", "manager")
        .await;
    let phone = "+49 170 5550199";
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            &json!({"name": "Ada Lovelace", "email": "ada@example.com", "phone": phone}),
        )
        .await
        .expect(StatusCode::CREATED);
    let site = app
        .post(
            "/v1/sites",
            &admin,
            &json!({"customer_id": customer["id"], "name": "Home", "address": "Kastanienallee 12",
                    "location": {"lat": 52.54, "lon": 13.41}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Boiler leak", "category": "hvac", "priority": "P2", "site_id": site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&ticket, "id");

    browser::run_script(
        "privacy.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("EMAIL", "mia@privacyweb.test".to_owned()),
            ("TICKET_ID", id.to_string()),
            ("PHONE", phone.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    let audit = app
        .get("/v1/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK);
    let reveals: Vec<_> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == json!("customer.reveal"))
        .collect();
    assert_eq!(reveals.len(), 1, "{audit}");
    assert_eq!(reveals[0]["actor_id"], json!(manager));
    app.stop().await;
}
