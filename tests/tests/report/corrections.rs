//! Office corrections of the work record (`POST /v1/tickets/{id}/work/corrections`):
//! every kind of operation reaches the phone; bad input is a problem and
//! changes nothing; a stale version is a 409; who may correct.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::Edit;
use truckroll_sdk::truckroll_sync::{TicketDoc, TimeEntryKind};
use truckroll_tests::{
    TempGuard, TestBackend, app::TestApp, fixtures::Shop, fixtures::error_fields,
};

use super::{edit, phone};

backend_tests!(
    every_operation_reaches_the_phone_and_the_original_stays_in_history,
    bad_corrections_are_problems_and_change_nothing,
);

async fn work(app: &TestApp, ticket: &str, token: &str) -> Value {
    app.get(&format!("/v1/tickets/{ticket}/work"), token)
        .await
        .expect(StatusCode::OK)
}

async fn every_operation_reaches_the_phone_and_the_original_stays_in_history(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let duty = Shop::on_duty(&app, "correct", 1, ("Chiller", "P2")).await;
    let tenant = duty.tenant().clone();
    let t = duty.tickets[0].to_string();
    let dir = TempGuard::new("truckroll-correct-phone-");
    let client = phone(&app, &dir, &tenant.name, &duty.tech().email).await;
    let item = edit(
        &client,
        &t,
        Edit::AddChecklistItem {
            label: "Leak test".into(),
        },
    )
    .await
    .expect("item");
    for number in ["FAN-220", "WRONG-1"] {
        edit(
            &client,
            &t,
            Edit::AddPart {
                part_number: number.into(),
                quantity: 1.0,
                serial: None,
            },
        )
        .await;
    }
    edit(
        &client,
        &t,
        Edit::AddTimeEntry {
            kind: TimeEntryKind::Work,
            started_at: 1_700_000_000_000,
            ended_at: Some(1_700_007_200_000),
        },
    )
    .await;
    edit(
        &client,
        &t,
        Edit::NotesAppend {
            text: "Fan replaced.".into(),
        },
    )
    .await;
    client.sync_now().await.expect("sync");
    let before_heads = client.heads(&t).await.expect("heads");

    let (_, dispatcher) = app
        .create_user(&tenant, "dispatch@correct.test", "dispatcher")
        .await;
    let record = work(&app, &t, &dispatcher).await;
    let fan = record["parts"][0]["id"].as_str().expect("fan").to_owned();
    let wrong = record["parts"][1]["id"].as_str().expect("wrong").to_owned();
    let entry = record["time_entries"][0]["id"]
        .as_str()
        .expect("entry")
        .to_owned();
    let corrected = app
        .post(
            &format!("/v1/tickets/{t}/work/corrections"),
            &dispatcher,
            &json!({"version": record["version"], "operations": [
                {"op": "set_part_quantity", "part_id": fan, "quantity": 3},
                {"op": "replace_part", "part_id": wrong, "part_number": "RIGHT-2", "quantity": 1, "serial": "SN-9"},
                {"op": "add_part", "part_number": "GASKET", "quantity": 0.5},
                {"op": "append_note", "text": "Office: gasket billed separately."},
                {"op": "set_time_entry", "entry_id": entry, "started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T23:13:20Z"},
                {"op": "add_time_entry", "kind": "travel", "started_at": "2023-11-14T21:43:20Z", "ended_at": "2023-11-14T22:13:20Z"},
                {"op": "set_checklist_done", "item_id": item, "done": true},
                {"op": "add_checklist_item", "label": "Customer briefed"}
            ]}),
        )
        .await
        .expect(StatusCode::OK);
    let parts: Vec<(String, f64)> = corrected["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["part_number"].as_str().unwrap_or_default().to_owned(),
                p["quantity"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("FAN-220".to_owned(), 3.0),
            ("RIGHT-2".to_owned(), 1.0),
            ("GASKET".to_owned(), 0.5)
        ]
    );
    assert_eq!(
        corrected["notes"],
        "Fan replaced.\nOffice: gasket billed separately."
    );
    assert_eq!(corrected["time_totals"]["work_seconds"], 3600);
    assert_eq!(corrected["time_totals"]["travel_seconds"], 1800);
    assert_eq!(corrected["checklist"][0]["done"], true);
    assert_eq!(corrected["checklist"][1]["label"], "Customer briefed");

    // The phone merges the office's change on its next sync; the
    // technician's own document state is still in the history.
    client.sync_now().await.expect("sync after the correction");
    let doc = TicketDoc::load(&client.document_bytes(&t).await.expect("bytes")).expect("loads");
    assert_eq!(doc.parts().len(), 3);
    assert_eq!(doc.parts()[0].quantity, 3.0);
    assert!(doc.checklist()[0].done);
    assert!(
        doc.contains_heads(&before_heads),
        "the technician's version stays in history"
    );

    // The technician may read the record but not correct it.
    let now = work(&app, &t, &duty.tech().token).await;
    app.post(
        &format!("/v1/tickets/{t}/work/corrections"),
        &duty.tech().token,
        &json!({"version": now["version"], "operations": [{"op": "append_note", "text": "mine"}]}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // A manager may.
    let (_, manager) = app
        .create_user(&tenant, "manager@correct.test", "manager")
        .await;
    app.post(
        &format!("/v1/tickets/{t}/work/corrections"),
        &manager,
        &json!({"version": now["version"], "operations": [{"op": "set_notes", "text": "Fan replaced; gasket billed."}]}),
    )
    .await
    .expect(StatusCode::OK);

    let timeline = app
        .get(
            &format!("/v1/tickets/{t}/timeline?kind=correction"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["actor"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["dispatch@correct.test", "manager@correct.test"]);
    assert!(
        timeline["items"][0]["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("replace part")
    );
    assert_eq!(
        timeline["items"][0]["detail"]["operations"][0]["was"]["quantity"],
        1.0
    );
    app.stop().await;
}

async fn bad_corrections_are_problems_and_change_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "correctbad").build().await;
    let admin = &shop.tenant.admin_token;
    let created = shop.ticket(&app, "P3").await;
    let ticket = created["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/tickets/{ticket}/work/corrections");

    // A ticket nobody worked on: version 0, the office may add to it.
    let empty = work(&app, &ticket, admin).await;
    assert_eq!(empty["version"], 0);
    let added = app
        .post(&path, admin, &json!({"version": 0, "operations": [{"op": "add_part", "part_number": "FAN-220", "quantity": 1}]}))
        .await
        .expect(StatusCode::OK);
    let version = added["version"].clone();
    assert!(version.as_i64() > Some(0));

    for (body, field) in [
        (json!({"version": version, "operations": []}), "operations"),
        (
            json!({"version": version, "operations": [{"op": "set_part_quantity", "part_id": "nope", "quantity": 2}]}),
            "operations[0].part_id",
        ),
        (
            json!({"version": version, "operations": [{"op": "add_part", "part_number": "X", "quantity": -1}]}),
            "operations[0].quantity",
        ),
        (
            json!({"version": version, "operations": [{"op": "add_part", "part_number": " ", "quantity": 1}]}),
            "operations[0].part_number",
        ),
        (
            json!({"version": version, "operations": [{"op": "set_checklist_done", "item_id": "nope", "done": true}]}),
            "operations[0].item_id",
        ),
        (
            json!({"version": version, "operations": [{"op": "set_time_entry", "entry_id": "nope", "started_at": "2026-01-01T10:00:00Z"}]}),
            "operations[0].entry_id",
        ),
        (
            json!({"version": version, "operations": [{"op": "add_time_entry", "kind": "work", "started_at": "2026-01-01T10:00:00Z", "ended_at": "2026-01-01T09:00:00Z"}]}),
            "operations[0].ended_at",
        ),
        // One bad operation refuses the whole batch.
        (
            json!({"version": version, "operations": [{"op": "append_note", "text": "ok"}, {"op": "remove_part", "part_id": "nope"}]}),
            "operations[1].part_id",
        ),
    ] {
        let reply = app.post(&path, admin, &body).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(error_fields(&reply), [field], "{body}");
    }
    app.post(
        &path,
        admin,
        &json!({"version": version, "operations": [{"op": "explode"}]}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let unchanged = work(&app, &ticket, admin).await;
    assert_eq!(unchanged["version"], version);
    assert_eq!(unchanged["notes"], "");
    assert_eq!(unchanged["parts"].as_array().map(Vec::len), Some(1));

    // A stale version is a conflict.
    app.post(
        &path,
        admin,
        &json!({"version": 0, "operations": [{"op": "append_note", "text": "late"}]}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    // Tenants and unknown tickets.
    let other = Shop::builder(&app, "correctbad2").build().await;
    app.post(
        &path,
        &other.tenant.admin_token,
        &json!({"version": version, "operations": [{"op": "append_note", "text": "x"}]}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}
