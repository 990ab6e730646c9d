//! Trigger rules, the remaining events and actions (issue 21): rules run on
//! a technician's phone sync (`field_work_synced`, run by the sync edge
//! after the document write); `notify` with `email` reaches a staff
//! member's mailbox through the one notification outbox (a real SMTP
//! server, `truckroll_tests::smtp`); `auto_dispatch` assigns the nearest
//! qualified technician through the assignment flow, the reasons in the
//! timeline, and says so when nobody qualifies.

use std::sync::Arc;

use chrono::Utc;
use truckroll_sdk::{Client, ClientConfig, Edit, truckroll_sync::StatusAction};
use truckroll_server::{
    notify::{self, Sender, SmtpSender},
    store::{Store, notify::NoticeChannel},
};
use truckroll_tests::{TempGuard, fixtures::Shop, smtp::SmtpSink};

use super::*;

backend_tests!(
    rules_run_on_a_phone_sync_and_email_the_staff,
    auto_dispatch_assigns_the_nearest_qualified_technician,
    every_condition_operator_holds_and_fails_over_the_api,
);

async fn timeline_of(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Value> {
    app.get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn tags_of(app: &TestApp, token: &str, ticket: Uuid) -> Value {
    app.get(&format!("/v1/tickets/{ticket}"), token)
        .await
        .expect(StatusCode::OK)["tags"]
        .clone()
}

async fn rules_run_on_a_phone_sync_and_email_the_staff(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.notify.public_base_url = "https://service.acme.test".into();
    })
    .await;
    let shop = Shop::builder(&app, "synced").build().await;
    let admin = shop.tenant.admin_token.clone();
    let (_, boss) = app
        .create_user(&shop.tenant, "boss@synced.test", "manager")
        .await;
    app.post("/v1/rules", &admin, &json!({"name": "accepted on the phone", "definition": {
        "events": ["field_work_synced"],
        "conditions": {"all": [{"field": "status", "op": "eq", "value": "accepted"},
                               {"field": "tags", "op": "not_contains", "value": "accepted-on-phone"}]},
        "actions": [{"type": "add_tags", "tags": ["accepted-on-phone"]},
                    {"type": "notify", "roles": ["manager"], "email": true,
                     "title": "{{ticket.number}} accepted on the phone", "body": "The job has started."}]}}))
        .await
        .expect(StatusCode::CREATED);
    let tech = shop.tech().clone();
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let t = ticket.to_string();
    // Office writes are not phone syncs.
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"title": "Chiller, loud"}),
    )
    .await
    .expect(StatusCode::OK);

    let dir = TempGuard::new("truckroll-rule-sync-");
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
    assert_eq!(
        tags_of(&app, &admin, ticket).await,
        json!([]),
        "no rule ran before the phone's change"
    );
    phone
        .edit(
            &t,
            Edit::Status {
                action: StatusAction::Accept,
                position: None,
                reason: None,
            },
        )
        .await
        .expect("accept applies");
    phone.sync_now().await.expect("sync");
    assert_eq!(
        tags_of(&app, &admin, ticket).await,
        json!(["accepted-on-phone"])
    );
    // Another change of the work record: the rule's own tag keeps it quiet.
    phone
        .edit(
            &t,
            Edit::NotesAppend {
                text: "Compressor noisy.".into(),
            },
        )
        .await
        .expect("note applies");
    phone.sync_now().await.expect("sync");
    let fired: Vec<Value> = timeline_of(&app, &admin, ticket)
        .await
        .into_iter()
        .filter(|e| e["action"] == "rule.fired" && e["kind"] != "webhook")
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["detail"]["event"], "field_work_synced");

    // In the console, and by email through the outbox to a real SMTP server.
    let told = app
        .get("/v1/me/notifications", &boss)
        .await
        .expect(StatusCode::OK);
    assert_eq!(told.as_array().map(Vec::len), Some(1), "{told}");
    let sink = SmtpSink::start().await;
    let store: Arc<dyn Store> = app.state.store.clone();
    let sender: Arc<dyn Sender> = Arc::new(SmtpSender::new(&sink.config()).expect("smtp sender"));
    let worker = notify::worker(store, NoticeChannel::Email, sender, &app.config.notify);
    assert_eq!(worker.run_once(Utc::now()).await.expect("round"), 1);
    let mail = sink.wait_for(1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].rcpt_tos, ["boss@synced.test"]);
    assert!(
        mail[0].subject.ends_with("accepted on the phone") && mail[0].subject.contains("TR-"),
        "{}",
        mail[0].subject
    );
    assert!(
        mail[0].body.contains("The job has started."),
        "{}",
        mail[0].body
    );
    assert!(
        mail[0]
            .body
            .contains(&format!("https://service.acme.test/ticket?id={ticket}")),
        "{}",
        mail[0].body
    );
    // The message is in the ticket's timeline with its delivery state.
    let sent: Vec<Value> = timeline_of(&app, &admin, ticket)
        .await
        .into_iter()
        .filter(|e| e["action"] == "notify.staff_alert")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["detail"]["state"], "sent");
    assert_eq!(worker.run_once(Utc::now()).await.expect("round"), 0);
    app.stop().await;
}

async fn auto_dispatch_assigns_the_nearest_qualified_technician(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "autod")
        .technicians(2)
        .skilled()
        .spaced(0.05)
        .capacity(1)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    app.post(
        "/v1/rules",
        &admin,
        &json!({"name": "P1 goes out now", "definition": {
        "events": ["ticket_created"],
        "conditions": {"field": "priority", "op": "eq", "value": "P1"},
        "actions": [{"type": "auto_dispatch"}]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let summary = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["action"] == "rule.auto_dispatch")
            .filter_map(|e| e["summary"].as_str().map(str::to_owned))
            .collect()
    };

    // A P3 stays with the dispatchers.
    let p3 = shop.ticket(&app, "P3").await;
    assert!(p3["assignee_id"].is_null());
    // The first P1 goes to the nearest (technician 0), the answer says so.
    let first = shop.ticket(&app, "P1").await;
    let first_id = id_of(&first, "id");
    assert_eq!(first["assignee_id"], json!(shop.techs[0].id), "{first}");
    let entries = timeline_of(&app, &admin, first_id).await;
    let said = summary(&entries);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("rule \"P1 goes out now\" auto-dispatch: assigned to Tech 0 (rank 1:"),
        "{said:?}"
    );
    let record = entries
        .iter()
        .find(|e| e["action"] == "rule.auto_dispatch")
        .cloned()
        .unwrap_or_default();
    assert_eq!(record["detail"]["technician_id"], json!(shop.techs[0].id));
    assert!(
        record["detail"]["reasons"]["distance_m"].is_number(),
        "{record}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "rule.fired"
                && e["detail"]["changes"] == json!(["auto-dispatch"])),
        "{entries:?}"
    );
    // Technician 0 is full (capacity 1): the next P1 goes to technician 1.
    let second = shop.ticket(&app, "P1").await;
    assert_eq!(second["assignee_id"], json!(shop.techs[1].id), "{second}");
    // Both full: nobody qualifies; the ticket waits, and the timeline says why.
    let third = shop.ticket(&app, "P1").await;
    assert!(third["assignee_id"].is_null(), "{third}");
    let said = summary(&timeline_of(&app, &admin, id_of(&third, "id")).await);
    assert_eq!(
        said,
        [
            "rule \"P1 goes out now\" auto-dispatch: no qualified technician is available now; the ticket waits for a dispatcher"
        ],
    );
    app.stop().await;
}

/// Each of the twelve operators in a saved rule, once where it holds and
/// once where it does not, on a real creation (a P2 "Chiller" from a
/// standard customer, through the API, unassigned).
async fn every_condition_operator_holds_and_fails_over_the_api(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "ops").build().await;
    let admin = shop.tenant.admin_token.clone();
    let cases = [
        (
            "eq",
            json!({"field": "priority", "op": "eq", "value": "P2"}),
            json!({"field": "priority", "op": "eq", "value": "P1"}),
        ),
        (
            "ne",
            json!({"field": "priority", "op": "ne", "value": "P1"}),
            json!({"field": "priority", "op": "ne", "value": "P2"}),
        ),
        (
            "in",
            json!({"field": "customer.tier", "op": "in", "value": ["standard", "gold"]}),
            json!({"field": "customer.tier", "op": "in", "value": ["gold"]}),
        ),
        (
            "not-in",
            json!({"field": "channel", "op": "not_in", "value": ["email", "form"]}),
            json!({"field": "channel", "op": "not_in", "value": ["api"]}),
        ),
        (
            "contains",
            json!({"field": "title", "op": "contains", "value": "CHILL"}),
            json!({"field": "title", "op": "contains", "value": "boiler"}),
        ),
        (
            "not-contains",
            json!({"field": "text", "op": "not_contains", "value": "gas"}),
            json!({"field": "title", "op": "not_contains", "value": "chill"}),
        ),
        (
            "gt",
            json!({"field": "priority", "op": "gt", "value": "P1"}),
            json!({"field": "priority", "op": "gt", "value": "P2"}),
        ),
        (
            "gte",
            json!({"field": "priority", "op": "gte", "value": "P2"}),
            json!({"field": "priority", "op": "gte", "value": "P3"}),
        ),
        (
            "lt",
            json!({"field": "priority", "op": "lt", "value": "P3"}),
            json!({"field": "priority", "op": "lt", "value": "P2"}),
        ),
        (
            "lte",
            json!({"field": "priority", "op": "lte", "value": "P2"}),
            json!({"field": "priority", "op": "lte", "value": "P1"}),
        ),
        (
            "present",
            json!({"field": "title", "op": "present"}),
            json!({"field": "assignee_id", "op": "present"}),
        ),
        (
            "absent",
            json!({"field": "assignee_id", "op": "absent"}),
            json!({"field": "title", "op": "absent"}),
        ),
    ];
    for (name, holds, fails) in &cases {
        for (tag, condition) in [
            (format!("yes-{name}"), holds),
            (format!("no-{name}"), fails),
        ] {
            app.post(
                "/v1/rules",
                &admin,
                &json!({"name": tag, "definition": {
                "events": ["ticket_created"], "conditions": condition,
                "actions": [{"type": "add_tags", "tags": [tag]}]}}),
            )
            .await
            .expect(StatusCode::CREATED);
        }
    }
    let created = shop.ticket(&app, "P2").await;
    let mut tags: Vec<String> = serde_json::from_value(created["tags"].clone()).unwrap_or_default();
    tags.sort();
    let mut expected: Vec<String> = cases
        .iter()
        .map(|(name, _, _)| format!("yes-{name}"))
        .collect();
    expected.sort();
    assert_eq!(tags, expected);
    app.stop().await;
}
