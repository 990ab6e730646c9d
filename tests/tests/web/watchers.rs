//! The ticket page's watch card and the navigation's notifications link in
//! real headless Chromium (tests/browser/watchers.mjs): a dispatcher who was
//! @mentioned sees the mention on the ticket and the unread count in the
//! navigation, watches the ticket with the keyboard, then stops; English and
//! Chinese. Screenshots at 1024 px go to `<target>/artifacts/watch-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mentioned_dispatcher_watches_a_ticket() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("watchweb").await;
    let admin = tenant.admin_token.clone();
    let (dispatcher, _) = app
        .create_user(&tenant, "lena@watchweb.test", "dispatcher")
        .await;
    let site = app.berlin_site(&tenant, "standard").await;
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Boiler leak", "category": "hvac", "priority": "P2", "site_id": site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&ticket, "id");
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &admin,
        &json!({"body": "@lena can you call the customer?", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);

    browser::run_script(
        "watchers.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("EMAIL", "lena@watchweb.test".to_owned()),
            ("TICKET_ID", id.to_string()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // The page left the ticket unwatched, as the API sees it.
    let watchers = app
        .get(&format!("/v1/tickets/{id}/watchers"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(watchers["watchers"], json!([]));
    let _ = dispatcher;
    app.stop().await;
}
