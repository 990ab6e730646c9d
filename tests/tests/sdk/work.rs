//! The office's work record (`GET /v1/tickets/{id}/work`) of a job a
//! technician did offline through the SDK: notes, checklist, parts, time
//! with totals, two photos and a signature (stored, with URLs and a
//! verification), every status event with its device time. Who may read it.
//! The parts-and-time export of a period (`/v1/work/export`). The ticket's
//! timeline (`/v1/tickets/{id}/timeline`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use truckroll_sdk::truckroll_sync::signature::{Point, Strokes};
use truckroll_sdk::truckroll_sync::{Position, StatusAction, TimeEntryKind};
use truckroll_sdk::{Backoff, Client, ClientConfig, Edit, SignatureCapture};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp},
    fixtures::Shop,
    media::{Blobs, jpeg, use_blobs},
};
use uuid::Uuid;

backend_tests!(blobs: a_job_done_offline_is_in_the_office_work_record);
backend_tests!(
    the_work_record_is_for_the_office_and_the_assigned_technician,
    a_ticket_nobody_worked_on_has_an_empty_record,
    a_photo_uploaded_over_rest_is_in_the_record,
    parts_and_time_of_a_period_export_as_json_and_csv,
    the_timeline_lists_every_step_in_order_with_names,
);

fn strokes() -> Strokes {
    let p = |x, y| Point { x, y };
    Strokes {
        width: 200,
        height: 80,
        strokes: vec![vec![p(10.0, 60.0), p(90.0, 10.0), p(190.0, 70.0)]],
    }
}

async fn phone(app: &TestApp, dir: &TempGuard, tenant: &str, email: &str) -> Client {
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(tenant, email, PASSWORD)
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    client
}

async fn edit(client: &Client, ticket: &str, edit: Edit) -> Option<String> {
    client.edit(ticket, edit).await.expect("edit applies")
}

async fn status(client: &Client, ticket: &str, action: StatusAction, position: Option<Position>) {
    edit(
        client,
        ticket,
        Edit::Status {
            action,
            position,
            reason: None,
        },
    )
    .await;
}

async fn a_job_done_offline_is_in_the_office_work_record(backend: TestBackend, blobs: Blobs) {
    let app = TestApp::start_with(backend, |c| use_blobs(c, blobs)).await;
    let duty = Shop::on_duty(&app, "workrec", 1, ("Chiller", "P2")).await;
    let tenant = duty.tenant().clone();
    let ticket = duty.tickets[0];
    let t = ticket.to_string();
    let dir = TempGuard::new("truckroll-work-phone-");
    let client = phone(&app, &dir, &tenant.name, &duty.tech().email).await;

    client.set_online(false);
    let site = Position {
        lat: 52.52,
        lon: 13.40,
        accuracy_m: Some(8.0),
    };
    status(&client, &t, StatusAction::Accept, None).await;
    status(&client, &t, StatusAction::StartTravel, None).await;
    status(&client, &t, StatusAction::CheckIn, Some(site)).await;
    edit(
        &client,
        &t,
        Edit::NotesAppend {
            text: "Replaced the condenser fan motor; 漏水已修复.".into(),
        },
    )
    .await;
    let item = edit(
        &client,
        &t,
        Edit::AddChecklistItem {
            label: "Isolate power".into(),
        },
    )
    .await
    .expect("item id");
    edit(
        &client,
        &t,
        Edit::SetChecklistDone {
            item_id: item,
            done: true,
        },
    )
    .await;
    edit(
        &client,
        &t,
        Edit::AddChecklistItem {
            label: "Leak test".into(),
        },
    )
    .await;
    edit(
        &client,
        &t,
        Edit::AddPart {
            part_number: "FAN-220".into(),
            quantity: 1.0,
            serial: Some("SN-77".into()),
        },
    )
    .await;
    edit(
        &client,
        &t,
        Edit::AddPart {
            part_number: "CABLE-M".into(),
            quantity: 2.5,
            serial: None,
        },
    )
    .await;
    let start = 1_700_000_000_000_i64;
    for (kind, from, to) in [
        (TimeEntryKind::Travel, 0, 20 * 60),
        (TimeEntryKind::Work, 20 * 60, 95 * 60),
        (TimeEntryKind::Waiting, 95 * 60, 100 * 60),
        (TimeEntryKind::Break, 100 * 60, 110 * 60),
    ] {
        edit(
            &client,
            &t,
            Edit::AddTimeEntry {
                kind,
                started_at: start + from * 1000,
                ended_at: Some(start + to * 1000),
            },
        )
        .await;
    }
    client
        .attach_photo(&t, jpeg(1), "image/jpeg")
        .await
        .expect("photo 1 queued");
    client
        .attach_photo(&t, jpeg(2), "image/jpeg")
        .await
        .expect("photo 2 queued");
    client
        .capture_signature(
            &t,
            SignatureCapture {
                signer_name: "Grace Hopper".into(),
                strokes: strokes(),
                position: Some((52.52, 13.40)),
            },
        )
        .await
        .expect("signature queued");
    status(&client, &t, StatusAction::CompleteWork, None).await;

    client.set_online(true);
    client.sync_now().await.expect("sync after the job");
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 5,
    };
    let uploaded = client.upload_media(&backoff).await.expect("uploads");
    assert_eq!(uploaded.failed, 0, "{uploaded:?}");
    client.sync_now().await.expect("sync after uploads");

    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(work["ticket_id"], t);
    assert_eq!(work["status"], "work_done");
    assert_eq!(
        work["notes"],
        "Replaced the condenser fan motor; 漏水已修复."
    );
    let checklist = work["checklist"].as_array().expect("checklist");
    assert_eq!(checklist.len(), 2);
    assert_eq!(checklist[0]["label"], "Isolate power");
    assert_eq!(checklist[0]["done"], true);
    assert!(checklist[0]["done_at"].is_string());
    assert_eq!(checklist[1]["done"], false);
    let parts: Vec<(String, f64)> = work["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["part_number"].as_str().expect("number").to_owned(),
                p["quantity"].as_f64().expect("quantity"),
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![("FAN-220".to_owned(), 1.0), ("CABLE-M".to_owned(), 2.5)]
    );
    assert_eq!(work["parts"][0]["serial"], "SN-77");
    assert_eq!(work["time_entries"].as_array().expect("time").len(), 4);
    let totals = &work["time_totals"];
    assert_eq!(totals["travel_seconds"], 20 * 60);
    assert_eq!(totals["work_seconds"], 75 * 60);
    assert_eq!(totals["waiting_seconds"], 5 * 60);
    assert_eq!(totals["break_seconds"], 10 * 60);
    assert_eq!(totals["total_seconds"], 100 * 60);
    assert_eq!(totals["running"], false);

    let photos = work["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 2);
    for photo in photos {
        assert_eq!(photo["state"], "stored", "{photo}");
        assert!(photo["media_id"].is_string());
        assert_eq!(photo["has_thumbnail"], true);
        let url = photo["download"]["url"].as_str().expect("download url");
        assert!(photo["thumbnail"]["url"].is_string());
        let mut request = reqwest::Client::new().get(url);
        if let Some(headers) = photo["download"]["headers"].as_object() {
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        let bytes = request
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body");
        assert!(bytes.starts_with(&[0xff, 0xd8]), "a JPEG comes back");
    }
    assert_eq!(
        work["signatures"].as_array().expect("signature refs").len(),
        1
    );
    assert_eq!(work["signatures"][0]["state"], "stored");
    assert_eq!(
        work["signature"]["signature"]["signer_name"],
        "Grace Hopper"
    );
    assert_eq!(work["signature"]["verification"]["intact"], true);

    let events: Vec<(String, bool)> = work["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().expect("kind").to_owned(),
                e["applied"] == true,
            )
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "assign",
            "accept",
            "start_travel",
            "check_in",
            "complete_work"
        ]
    );
    assert!(events.iter().all(|(_, applied)| *applied), "{events:?}");
    let check_in = &work["events"][3];
    assert_eq!(check_in["position"]["lat"], 52.52);
    assert!(check_in["device_time"].is_string());

    // The technician who did it reads the same record.
    let own = app
        .get(&format!("/v1/tickets/{ticket}/work"), &duty.tech().token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(own["notes"], work["notes"]);
    app.stop().await;
}

async fn the_work_record_is_for_the_office_and_the_assigned_technician(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "workacl").technicians(2).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let path = format!("/v1/tickets/{ticket}/work");
    app.get(&path, &shop.techs[0].token)
        .await
        .expect(StatusCode::OK);
    app.get(&path, &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    // Another technician, another tenant, an unknown id: 404 alike.
    app.get(&path, &shop.techs[1].token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let other = Shop::builder(&app, "workacl2").build().await;
    app.get(&path, &other.tenant.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(
        &format!("/v1/tickets/{}/work", Uuid::new_v4()),
        &shop.tenant.admin_token,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get("/v1/tickets/not-a-uuid/work", &shop.tenant.admin_token)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.stop().await;
}

async fn a_ticket_nobody_worked_on_has_an_empty_record(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "workempty").build().await;
    let created: Value = shop.ticket(&app, "P3").await;
    let id = created["id"].as_str().expect("id");
    let work = app
        .get(&format!("/v1/tickets/{id}/work"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(work["status"], "new");
    assert_eq!(work["notes"], "");
    assert_eq!(work["parts"].as_array().map(Vec::len), Some(0));
    assert_eq!(work["time_totals"]["total_seconds"], 0);
    assert!(work["signature"].is_null());
    app.stop().await;
}

/// Accept, travel, check in, one part and a finished and a running time
/// entry, complete (unless `complete` is false).
async fn do_job(client: &Client, ticket: &str, part_number: &str, complete: bool) {
    let now = chrono::Utc::now().timestamp_millis();
    status(client, ticket, StatusAction::Accept, None).await;
    status(client, ticket, StatusAction::StartTravel, None).await;
    status(client, ticket, StatusAction::CheckIn, None).await;
    edit(
        client,
        ticket,
        Edit::AddPart {
            part_number: part_number.into(),
            quantity: 3.0,
            serial: None,
        },
    )
    .await;
    edit(
        client,
        ticket,
        Edit::AddTimeEntry {
            kind: TimeEntryKind::Work,
            started_at: now - 3_600_000,
            ended_at: Some(now - 600_000),
        },
    )
    .await;
    edit(
        client,
        ticket,
        Edit::AddTimeEntry {
            kind: TimeEntryKind::Waiting,
            started_at: now - 60_000,
            ended_at: None,
        },
    )
    .await;
    if complete {
        status(client, ticket, StatusAction::CompleteWork, None).await;
    }
}

async fn parts_and_time_of_a_period_export_as_json_and_csv(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let duty = Shop::on_duty(&app, "workexport", 3, ("Chiller", "P2")).await;
    let tenant = duty.tenant().clone();
    let dir = TempGuard::new("truckroll-export-phone-");
    let client = phone(&app, &dir, &tenant.name, &duty.tech().email).await;
    let ids: Vec<String> = duty.tickets.iter().map(Uuid::to_string).collect();
    do_job(&client, &ids[0], "FAN-220", true).await;
    do_job(&client, &ids[1], "=SUM(A1)", true).await;
    do_job(&client, &ids[2], "NOT-DONE", false).await;
    client.sync_now().await.expect("sync");

    let now = chrono::Utc::now();
    let window = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        format!(
            "from={}&to={}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let today = window(
        now - chrono::Duration::hours(2),
        now + chrono::Duration::hours(1),
    );
    let export = app
        .get(&format!("/v1/work/export?{today}"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(export["tickets"], 2, "{export}");
    let parts: Vec<&str> = export["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["part_number"].as_str().expect("number"))
        .collect();
    let mut sorted = parts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["=SUM(A1)", "FAN-220"]);
    let time = export["time"].as_array().expect("time");
    assert_eq!(time.len(), 2, "running entries are left out: {time:?}");
    assert!(
        time.iter()
            .all(|t| t["kind"] == "work" && t["seconds"] == 3000)
    );

    let csv_text = |reply: Value| reply.as_str().expect("CSV text").to_owned();
    let text = csv_text(
        app.get(
            &format!("/v1/work/export/parts.csv?{today}"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK),
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ticket_id,ticket_number,site_id,completed_at,part_number,quantity,serial"
    );
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        text.contains(",'=SUM(A1),3,"),
        "a formula is exported as text: {text}"
    );
    assert!(text.contains(",FAN-220,3,"), "{text}");
    let time_csv = csv_text(
        app.get(
            &format!("/v1/work/export/time.csv?{today}"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK),
    );
    assert_eq!(time_csv.lines().count(), 3, "{time_csv}");
    assert!(
        time_csv
            .lines()
            .skip(1)
            .all(|l| l.contains(",work,") && l.ends_with(",3000"))
    );

    // Another period: nothing. A reversed one: 422. A technician: 403.
    let last_week = window(
        now - chrono::Duration::days(8),
        now - chrono::Duration::days(7),
    );
    let empty = app
        .get(&format!("/v1/work/export?{last_week}"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["tickets"], 0);
    let reversed = window(now, now - chrono::Duration::days(1));
    app.get(&format!("/v1/work/export?{reversed}"), &tenant.admin_token)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.get(&format!("/v1/work/export?{today}"), &duty.tech().token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // The ticket list filters by completion time too.
    let listed = app
        .get(
            &format!(
                "/v1/tickets?completed_from={}",
                (now - chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    app.stop().await;
}

async fn the_timeline_lists_every_step_in_order_with_names(backend: TestBackend) {
    // The webhook points at loopback: allowed as an on-premises receiver.
    let app = TestApp::start_with(backend, |config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let shop = Shop::builder(&app, "timeline").technicians(2).build().await;
    let tenant = shop.tenant.clone();
    let tech = &shop.techs[0];
    app.post(
        "/v1/webhooks",
        &tenant.admin_token,
        &serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["ticket.created", "ticket.assigned"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let t = ticket.to_string();
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &tenant.admin_token,
        &serde_json::json!({"priority": "P1"}),
    )
    .await
    .expect(StatusCode::OK);
    for (body, visibility) in [
        ("Customer called again", "public"),
        ("Bring the long ladder", "internal"),
    ] {
        app.post(
            &format!("/v1/tickets/{ticket}/comments"),
            &tenant.admin_token,
            &serde_json::json!({"body": body, "visibility": visibility}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let dir = TempGuard::new("truckroll-timeline-phone-");
    let client = phone(&app, &dir, &tenant.name, &tech.email).await;
    client.set_online(false);
    for action in [
        StatusAction::Accept,
        StatusAction::StartTravel,
        StatusAction::CheckIn,
        StatusAction::CompleteWork,
    ] {
        status(&client, &t, action, None).await;
    }
    client
        .attach_photo(&t, jpeg(9), "image/jpeg")
        .await
        .expect("photo queued");
    client.set_online(true);
    client.sync_now().await.expect("sync");
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 5,
    };
    assert_eq!(
        client.upload_media(&backoff).await.expect("upload").failed,
        0
    );

    let path = format!("/v1/tickets/{ticket}/timeline?limit=200");
    let page = app
        .get(&path, &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let items = page["items"].as_array().expect("items").clone();
    assert!(page["next_cursor"].is_null());
    let kinds: Vec<&str> = items
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    // A webhook is queued in the same transaction as the change it reports,
    // a moment before the audit entry: it may come first.
    let first = items
        .iter()
        .find(|e| e["kind"] != "webhook")
        .expect("entries");
    assert_eq!(first["kind"], "created", "{kinds:?}");
    assert_eq!(first["actor"]["name"], "Admin");
    assert_eq!(first["actor"]["kind"], "user");
    for kind in [
        "assignment",
        "changed",
        "comment",
        "field",
        "sync",
        "media",
        "webhook",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let ats: Vec<&str> = items
        .iter()
        .map(|e| e["at"].as_str().expect("at"))
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        ats.iter().map(|a| a.parse().expect("RFC 3339")).collect();
    assert!(
        parsed.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {ats:?}"
    );
    let changed = items
        .iter()
        .find(|e| e["kind"] == "changed")
        .expect("changed");
    assert_eq!(changed["detail"]["after"]["priority"], "P1");
    let comments: Vec<&str> = items
        .iter()
        .filter(|e| e["kind"] == "comment")
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(comments, ["comment.public", "comment.internal"]);

    // The phone's steps, in order, with device times and the technician's name.
    let field = app
        .get(
            &format!("/v1/tickets/{ticket}/timeline?kind=field"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let steps: Vec<&str> = field["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        steps,
        ["accept", "start_travel", "check_in", "complete_work"]
    );
    for e in field["items"].as_array().expect("items") {
        assert!(e["device_time"].is_string());
        assert_eq!(e["actor"]["kind"], "device");
        assert_eq!(e["actor"]["name"], "Tech 0");
        assert_eq!(e["detail"]["applied"], true);
    }

    // The office closes the job: a status entry with the office's name, not
    // a field event (the server wrote that step into the document itself).
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &tenant.admin_token,
        &serde_json::json!({"status": "closed"}),
    )
    .await
    .expect(StatusCode::OK);
    let after = app
        .get(
            &format!("/v1/tickets/{ticket}/timeline?kind=field,status"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let entries = after["items"].as_array().expect("items");
    let fields = entries.iter().filter(|e| e["kind"] == "field").count();
    assert_eq!(fields, 4, "{after}");
    let closed = entries.last().expect("an entry");
    assert_eq!(closed["kind"], "status");
    assert_eq!(closed["detail"]["to"], "closed");
    assert_eq!(closed["actor"]["name"], "Admin");
    let items = app
        .get(&path, &tenant.admin_token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .expect("items")
        .clone();

    // Pages of two walk the same list.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/tickets/{ticket}/timeline?limit=2&cursor={c}"),
            None => format!("/v1/tickets/{ticket}/timeline?limit=2"),
        };
        let page = app
            .get(&url, &tenant.admin_token)
            .await
            .expect(StatusCode::OK);
        walked.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // (Webhook deliveries keep being attempted meanwhile: compare what
    // happened, not the delivery's attempt count.)
    let key = |e: &Value| (e["at"].clone(), e["kind"].clone(), e["action"].clone());
    assert_eq!(
        walked.iter().map(key).collect::<Vec<_>>(),
        items.iter().map(key).collect::<Vec<_>>()
    );

    // The technician reads their ticket's timeline; a colleague may not.
    app.get(&path, &tech.token).await.expect(StatusCode::OK);
    app.get(&path, &shop.techs[1].token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(
        &format!("/v1/tickets/{ticket}/timeline?kind=everything"),
        &tenant.admin_token,
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.stop().await;
}

async fn a_photo_uploaded_over_rest_is_in_the_record(backend: TestBackend) {
    use sha2::Digest;
    let app = TestApp::start(backend).await;
    let duty = Shop::on_duty(&app, "workrest", 1, ("Chiller", "P2")).await;
    let ticket = duty.tickets[0];
    let token = duty.tech().token.clone();
    let bytes = jpeg(5);
    let begun = app
        .post(
            &format!("/v1/tickets/{ticket}/media"),
            &token,
            &serde_json::json!({"kind": "photo", "content_type": "image/jpeg", "size": bytes.len(),
                                "sha256": hex::encode(sha2::Sha256::digest(&bytes))}),
        )
        .await
        .expect(StatusCode::CREATED);
    let upload = &begun["upload"];
    let mut put = reqwest::Client::new().put(upload["url"].as_str().expect("url"));
    for (name, value) in upload["headers"].as_object().expect("headers") {
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name.as_str(), value.as_str().expect("value"));
        }
    }
    let answer = put.body(bytes).send().await.expect("PUT");
    assert!(answer.status().is_success(), "{}", answer.status());
    let media = begun["media"]["id"].as_str().expect("media id");
    app.send(
        reqwest::Method::POST,
        &format!("/v1/media/{media}/complete"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::OK);

    let work = app
        .get(
            &format!("/v1/tickets/{ticket}/work"),
            &duty.tenant().admin_token,
        )
        .await
        .expect(StatusCode::OK);
    let photos = work["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 1, "{work}");
    assert!(photos[0]["ref_id"].is_null(), "no phone recorded it");
    assert_eq!(photos[0]["state"], "stored");
    assert_eq!(photos[0]["media_id"], media);
    assert!(photos[0]["download"]["url"].is_string());
    app.stop().await;
}
