//! The "done when" story end to end, and the priced job: a
//! technician uses a part offline, the van's balance drops once after
//! sync, the next job needing that part goes to a technician who still has
//! it, and the work record, the service report and the invoicing export
//! show the priced parts and labour.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;
use truckroll_sdk::truckroll_sync::{Position, StatusAction, TimeEntryKind};
use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::{Shop, error_fields},
};
use uuid::Uuid;

use super::{balance, part, put, receive, van};

backend_tests!(a_part_used_offline_leads_dispatch_and_prices_the_report);

fn pdf_text(pdf: &[u8]) -> String {
    let dir = TempGuard::new("truckroll-parts-report-");
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).expect("write the PDF");
    let output = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs (Debian's poppler-utils; scripts/test.sh installs it)");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn report_pdf(app: &TestApp, ticket: Uuid, token: &str) -> Vec<u8> {
    let issued = app
        .post(&format!("/v1/tickets/{ticket}/report"), token, &json!({}))
        .await;
    assert!(issued.status.is_success(), "{}", issued.body);
    let response = app
        .client
        .get(format!("{}/v1/tickets/{ticket}/report.pdf", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request reaches the server");
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("body").to_vec()
}

async fn a_part_used_offline_leads_dispatch_and_prices_the_report(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "parts-story")
        .skilled()
        .spaced(0.01)
        .technicians(2)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (near, far) = (&shop.techs[0], &shop.techs[1]);
    let relay = part(&app, &admin, "CR-24", "compressor relay", 1890).await;
    let near_van = van(&app, &admin, near.id).await;
    let far_van = van(&app, &admin, far.id).await;
    receive(&app, &admin, relay, near_van, 1.0).await;
    receive(&app, &admin, relay, far_van, 1.0).await;
    put(
        &app,
        "/v1/parts/policies/hvac",
        &admin,
        &json!({"policy": "require"}),
    )
    .await
    .expect(StatusCode::OK);
    for rate in [
        json!({"scope": "default", "cents_per_hour": 6000}),
        json!({"scope": "category", "key": "hvac", "cents_per_hour": 8000}),
    ] {
        put(&app, "/v1/parts/labour-rates", &admin, &rate)
            .await
            .expect(StatusCode::OK);
    }
    let bad = put(
        &app,
        "/v1/parts/labour-rates",
        &admin,
        &json!({"scope": "technician", "key": "nobody", "cents_per_hour": -1}),
    )
    .await;
    assert_eq!(error_fields(&bad), ["key", "cents_per_hour"]);

    // The near technician's job: a relay used offline, 90 minutes of work,
    // a free-text part the catalogue does not know.
    let first = shop.assigned_ticket(&app, near.id).await;
    let t = first.to_string();
    let dir = TempGuard::new("truckroll-parts-story-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(&shop.tenant.name, &near.email, PASSWORD)
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    client.set_online(false);
    for edit in [
        Edit::AddPart {
            part_number: "CR-24".into(),
            quantity: 1.0,
            serial: None,
        },
        Edit::AddPart {
            part_number: "TAPE".into(),
            quantity: 2.0,
            serial: None,
        },
        Edit::AddTimeEntry {
            kind: TimeEntryKind::Work,
            started_at: 1_700_000_000_000,
            ended_at: Some(1_700_005_400_000),
        },
    ] {
        client.edit(&t, edit).await.expect("edit applies");
    }
    let site = Position {
        lat: 52.5163,
        lon: 13.3795,
        accuracy_m: Some(8.0),
    };
    for (action, position) in [
        (StatusAction::Accept, None),
        (StatusAction::StartTravel, None),
        (StatusAction::CheckIn, Some(site)),
        (StatusAction::CompleteWork, None),
    ] {
        client
            .edit(
                &t,
                Edit::Status {
                    action,
                    position,
                    reason: None,
                },
            )
            .await
            .expect("status step applies");
    }
    client.set_online(true);
    client.sync_now().await.expect("sync");
    client.sync_now().await.expect("sync again");
    assert_eq!(balance(&app, &admin, near_van, relay).await, 0.0);
    assert_eq!(balance(&app, &admin, far_van, relay).await, 1.0);

    // The next job needing a relay goes to the technician who still has one,
    // though the other is nearer.
    let second = id_of(&shop.ticket(&app, "P2").await, "id");
    put(
        &app,
        &format!("/v1/tickets/{second}/required-parts"),
        &admin,
        &json!({"parts": [{"part_id": relay, "quantity": 1}]}),
    )
    .await
    .expect(StatusCode::OK);
    let assigned = app
        .post(
            &format!("/v1/tickets/{second}/assign"),
            &admin,
            &json!({"best": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["assignee_id"], json!(far.id));

    // The work record prices the job: 18.90 for the relay, 1.5 h × 80.00.
    let work = app
        .get(&format!("/v1/tickets/{first}/work"), &admin)
        .await
        .expect(StatusCode::OK);
    let value = &work["value"];
    assert_eq!(value["parts_cents"], 1890);
    assert_eq!(value["unpriced_parts"], 1);
    assert_eq!(value["labour_seconds"], 5400);
    assert_eq!(value["labour_rate_cents_per_hour"], 8000);
    assert_eq!(value["labour_cents"], 12000);
    assert_eq!(value["total_cents"], 13890);
    assert_eq!(value["parts"][0]["name"], "compressor relay");
    assert_eq!(value["parts"][1]["cents"], json!(null));
    // The technician sees the same value of their own job.
    assert_eq!(
        app.get(&format!("/v1/tickets/{first}/value"), &near.token)
            .await
            .expect(StatusCode::OK)["total_cents"],
        13890
    );
    // A technician's own rate wins over the category's.
    put(
        &app,
        "/v1/parts/labour-rates",
        &admin,
        &json!({"scope": "technician", "key": near.id.to_string(), "cents_per_hour": 10000}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v1/tickets/{first}/value"), &admin)
            .await
            .expect(StatusCode::OK)["total_cents"],
        1890 + 15000
    );

    // The signed service report lists the charges.
    let text = pdf_text(&report_pdf(&app, first, &admin).await);
    assert!(text.contains("Charges"), "{text}");
    assert!(text.contains("CR-24 compressor relay"), "{text}");
    assert!(text.contains("TAPE (not in catalogue)"), "{text}");
    assert!(text.contains("18.90"), "{text}");
    assert!(text.contains("total 168.90"), "{text}");

    // The invoicing export: JSON and CSV, jobs completed in the period.
    let now = chrono::Utc::now();
    let period = format!(
        "from={}&to={}",
        (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let lines = app
        .get(&format!("/v1/jobs/value?{period}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(lines.as_array().map(Vec::len), Some(1), "{lines}");
    assert_eq!(lines[0]["ticket_id"], json!(first));
    assert_eq!(lines[0]["total_cents"], 16890);
    let csv = app
        .client
        .get(format!("{}/v1/jobs/value.csv?{period}", app.base_url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request reaches the server")
        .text()
        .await
        .expect("text");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[0].starts_with("ticket_number,ticket_id,category"),
        "{csv}"
    );
    assert!(
        rows[1].ends_with(",18.90,1,1.50,100.00,150.00,168.90"),
        "{csv}"
    );
    assert_eq!(
        app.get(
            "/v1/jobs/value?from=2000-01-01T00:00:00Z&to=2000-12-31T00:00:00Z",
            &admin
        )
        .await
        .expect(StatusCode::OK),
        json!([])
    );
    app.get(
        "/v1/jobs/value?from=2001-01-01T00:00:00Z&to=2000-01-01T00:00:00Z",
        &admin,
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.get(&format!("/v1/jobs/value?{period}"), &near.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.stop().await;
}
