//! The admin page's retention section: an admin sets the policy with the
//! keyboard at 1024 px, an out-of-range value is refused beside its field,
//! the page reads in Chinese (tests/browser/retention.mjs), and the API
//! then answers the policy the page saved. Screenshots go to
//! `<target>/artifacts/retention-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_the_retention_policy_on_the_admin_page() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("retentionweb").await;
    let admin = tenant.admin_token.clone();
    let before = app
        .get("/v1/retention", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(before["media_days"], json!(null), "{before}");

    browser::run_script(
        "retention.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("EMAIL", "admin@retentionweb.test".to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    let stored = app
        .get("/v1/retention", &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        stored,
        json!({"closed_ticket_anonymise_months": 24, "media_days": 90,
               "location_days": 30, "comment_days": null}),
    );
    app.stop().await;
}
