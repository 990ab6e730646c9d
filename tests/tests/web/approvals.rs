//! The approvals inbox in real headless Chromium (tests/browser/approvals.mjs):
//! the "done when" — a manager approves a costly job from the inbox.
//! A technician records a 600.00 compressor on the phone, the office asks
//! for approval under "Parts over 500" (SLA paused), the manager signs in,
//! finds it in the inbox and approves it with a comment from the keyboard;
//! the page in Chinese. Then the admin applies a macro ("Approved: tell
//! the customer") from the ticket page's macro picker, after its preview.
//! Screenshots at 1024 and 1440 px go to
//! `<target>/artifacts/approvals-*.png`.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
    fixtures::Shop,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_approves_a_costly_job_from_the_inbox() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let shop = Shop::builder(&app, "apprweb").build().await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.techs[0].clone();
    let manager_email = "boss@apprweb.test";
    let (manager, _) = app
        .create_user(&shop.tenant, manager_email, "manager")
        .await;
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "Everything", "targets": {"response_minutes": 240, "resolution_minutes": 960}}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        "/v1/parts",
        &admin,
        &json!({"number": "CMP-9", "name": "compressor", "price_cents": 60000, "cost_cents": 30000}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        "/v1/approval-policies",
        &admin,
        &json!({"name": "Parts over 500", "parts_cents_over": 50000,
                "approvers": {"roles": ["manager"]}, "pause_sla": true}),
    )
    .await
    .expect(StatusCode::CREATED);

    // The technician records the compressor; the office asks.
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let dir = TempGuard::new("truckroll-approvals-web-");
    let phone = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    phone
        .sign_in(&shop.tenant.name, &tech.email, PASSWORD)
        .await
        .expect("signs in");
    phone.sync_now().await.expect("first sync");
    phone
        .edit(
            &ticket.to_string(),
            Edit::AddPart {
                part_number: "CMP-9".into(),
                quantity: 1.0,
                serial: None,
            },
        )
        .await
        .expect("edit applies");
    phone.sync_now().await.expect("sync");
    let request = app
        .post(
            &format!("/v1/tickets/{ticket}/approvals"),
            &admin,
            &json!({"reason": "new compressor"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let number = request["ticket_number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let macro_name = "Approved: tell the customer";
    app.post(
        "/v1/macros",
        &admin,
        &json!({"name": macro_name,
                "actions": [{"type": "add_tags", "tags": ["approved"]}],
                "reply": {"body": "Hello {{ customer.name }}, the repair of {{ ticket.number }} is approved.",
                          "visibility": "public"}}),
    )
    .await
    .expect(StatusCode::CREATED);

    browser::run_script(
        "approvals.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", shop.tenant.name.clone()),
            ("MANAGER_EMAIL", manager_email.to_owned()),
            ("NUMBER", number.clone()),
            ("TICKET_ID", ticket.to_string()),
            ("ADMIN_EMAIL", format!("admin@{}.test", shop.tenant.name)),
            ("MACRO_NAME", macro_name.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // As the API sees it: approved by the manager, with the comment; the
    // phone learns it.
    let decided = app
        .get(&format!("/v1/approvals/{}", id_of(&request, "id")), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(decided["state"], "approved");
    assert_eq!(decided["decision_comment"], "Go ahead, customer agreed");
    assert_eq!(id_of(&decided, "decided_by"), manager);
    phone.sync_now().await.expect("sync");
    let seen = phone
        .job_approvals(&ticket.to_string())
        .await
        .expect("read");
    assert_eq!(seen[0].state, "approved");
    // The macro, applied once from the page.
    let after = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["tags"], json!(["approved"]));
    let comments = app
        .get(&format!("/v1/tickets/{ticket}/comments"), &admin)
        .await
        .expect(StatusCode::OK);
    let replies = comments["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["body"] == format!("Hello Hotel, the repair of {number} is approved."))
        .count();
    assert_eq!(replies, 1);
    app.stop().await;
}
