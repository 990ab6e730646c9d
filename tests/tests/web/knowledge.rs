//! The knowledge base in real headless Chromium (tests/browser/knowledge.mjs):
//! Markdown with `<script>`, an `onerror` image and a `javascript:` link
//! renders harmless; suggestions and a likely duplicate on the create form,
//! the new ticket merged into it from its page; related articles and
//! "insert link" on the ticket page; an article found from the reply and
//! its text inserted; a PDF attached and downloaded; "create article from this ticket" saved; edit and
//! revert; Simplified Chinese.
//! Screenshots in `<target>/artifacts/knowledge-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_in_the_browser() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("kbweb").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "disp@kbweb.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    app.post("/v1/categories", &admin, &json!({"name": "hvac"}))
        .await
        .expect(StatusCode::CREATED);
    let site = id_of(&app.berlin_site(&tenant, "standard").await, "id");
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Chiller trips at noon", "category": "hvac", "priority": "P3", "site_id": site}),
        )
        .await
        .expect(StatusCode::CREATED);
    let hostile = app
        .post(
            "/v1/knowledge/articles",
            &admin,
            &json!({"title": "Hostile markdown", "visibility": "internal",
                    "body": "Before <script>window.pwned = 1</script> after\n\n\
                             <img src=x onerror=\"window.pwned = 2\">\n\n\
                             <iframe src=\"javascript:window.pwned=4\"></iframe>\n\n\
                             [click me](javascript:window.pwned=3) and the [manual](https://example.com/m.pdf)\n"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let procedure = app
        .post(
            "/v1/knowledge/articles",
            &admin,
            &json!({"title": "Chiller high-pressure trip", "visibility": "internal",
                    "body": "# Procedure\n\n1. Clean the condenser", "ticket_categories": ["hvac"],
                    "tags": ["chiller", "trips"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    browser::run_script(
        "knowledge.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("HOSTILE_ID", id_of(&hostile, "id").to_string()),
            ("PROCEDURE_ID", id_of(&procedure, "id").to_string()),
            ("TICKET_ID", id_of(&ticket, "id").to_string()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;
    // What the page did, as the API sees it: edited, reverted, voted.
    let article = app
        .get(
            &format!("/v1/knowledge/articles/{}", id_of(&procedure, "id")),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(article["version"], 3);
    assert_eq!(article["body"], "# Procedure\n\n1. Clean the condenser");
    assert_eq!(article["feedback"]["helpful"], 1);
    let attachments = app
        .get(
            &format!(
                "/v1/knowledge/articles/{}/attachments",
                id_of(&procedure, "id")
            ),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(attachments["attachments"][0]["name"], "wiring diagram.pdf");
    // The ticket typed in the browser was merged into the one it duplicated.
    let merges = app
        .get(
            &format!("/v1/tickets/{}/merges", id_of(&ticket, "id")),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    let duplicate = merges["merges"][0]["source_id"]
        .as_str()
        .expect("one merge")
        .to_owned();
    let duplicate = app
        .get(&format!("/v1/tickets/{duplicate}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(duplicate["title"], "Chiller trips every noon");
    assert_eq!(duplicate["status"], "cancelled");
    // The article drafted from the ticket on its page was saved as new.
    let listed = app
        .get("/v1/knowledge/articles", &admin)
        .await
        .expect(StatusCode::OK);
    let drafted: Vec<_> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|a| a["title"] == "Chiller trips at noon")
        .collect();
    assert_eq!(drafted.len(), 1, "{listed}");
    assert_eq!(drafted[0]["ticket_categories"], json!(["hvac"]));
    assert!(
        drafted[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("## Problem")
                && b.contains(&format!(
                    "_From ticket {}._",
                    ticket["number"].as_str().unwrap_or_default()
                ))),
        "{}",
        drafted[0]
    );
    app.stop().await;
}
