//! The service report PDF: made by the report job after a job done offline
//! through the SDK, its text and images, the public check, a new version
//! after an office correction, a CJK font, who may read it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::truckroll_sync::TicketDoc;
use truckroll_tests::{
    TempGuard, TestBackend,
    app::TestApp,
    fixtures::Shop,
    media::{Blobs, jpeg, use_blobs},
};

use super::{do_the_job, download, pdf_images, pdf_text, phone, wait_for_report};

backend_tests!(blobs: a_job_done_offline_gets_a_report_that_verifies_and_a_correction_supersedes_it);
backend_tests!(
    a_job_done_while_no_report_job_ran_is_reported_after_a_restart,
    a_cjk_customer_name_is_real_text_in_the_tenants_font,
    who_may_read_make_and_configure_reports,
);

/// `POST` of raw bytes, without a token unless given.
async fn post_bytes(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    bytes: Vec<u8>,
    content_type: &str,
) -> (StatusCode, Value) {
    send_bytes(app, reqwest::Method::POST, path, token, bytes, content_type).await
}

async fn send_bytes(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    bytes: Vec<u8>,
    content_type: &str,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base_url))
        .header("content-type", content_type)
        .body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Keeps a report beside the browser tests' screenshots, for people to look at.
fn save_artifact(name: &str, pdf: &[u8]) {
    let dir = truckroll_tests::browser::artifacts_dir();
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join(name), pdf).expect("write the report artifact");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn a_job_done_offline_gets_a_report_that_verifies_and_a_correction_supersedes_it(
    backend: TestBackend,
    blobs: Blobs,
) {
    let app = TestApp::start_with(backend, |c| {
        use_blobs(c, blobs);
        c.report.poll_ms = 100;
    })
    .await;
    let duty = Shop::on_duty(&app, "reportjob", 1, ("Chiller", "P2")).await;
    let tenant = duty.tenant().clone();
    let ticket = duty.tickets[0];
    let t = ticket.to_string();
    let dir = TempGuard::new("truckroll-report-phone-");
    let client = phone(&app, &dir, &tenant.name, &duty.tech().email).await;
    let admin = &tenant.admin_token;

    // Nothing is issued before the work is done.
    assert_eq!(
        download(&app, ticket, admin).await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    do_the_job(&client, &t).await;

    // The report job issues version 1 once the photos are in.
    let first = wait_for_report(&app, ticket, admin, 1).await;
    assert_eq!(first.version, 1);
    assert!(first.bytes.starts_with(b"%PDF-"));
    let number = app
        .get(&format!("/v1/tickets/{ticket}"), admin)
        .await
        .expect(StatusCode::OK)["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let text = pdf_text(&first.bytes);
    for wanted in [
        number.as_str(),
        "Hotel",
        "Unter den Linden 77",
        "Replaced the condenser fan motor.",
        "Isolate power",
        "FAN-220",
        "SN-77",
        "CABLE-M",
        "2.5",
        "billable total 1:40 h",
        "travel 0:20 h",
        "work 1:15 h",
        "Signed by Grace Hopper",
        "52.51630, 13.37950",
        first.code.as_str(),
        &format!("/v1/reports/verify/{}", first.code),
    ] {
        assert!(
            text.contains(wanted),
            "{wanted:?} is not in the report's text:\n{text}"
        );
    }
    assert!(text.contains("Photos (2)"), "{text}");
    let images = pdf_images(&first.bytes);
    // The photos (4:3) as the server's thumbnails, the signature as drawn.
    let photos = images
        .iter()
        .filter(|i| i.0 == "image" && i.1 * 3 == i.2 * 4)
        .count();
    assert_eq!(photos, 2, "two photo thumbnails: {images:?}");
    assert!(
        images
            .iter()
            .any(|i| i.0 == "image" && (i.1, i.2) == (200, 80)),
        "the signature image: {images:?}"
    );
    save_artifact(
        &format!("service-report-{backend:?}-{blobs:?}-v1.pdf"),
        &first.bytes,
    );

    // The public check: no sign-in, by hash or with the PDF itself.
    let code = first.code.clone();
    let by_hash = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/reports/verify/{code}?sha256={}", sha256(&first.bytes)),
            None,
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_hash["matches"], true);
    assert_eq!(by_hash["verdict"], "matches");
    assert_eq!(by_hash["version"], 1);
    assert_eq!(by_hash["superseded"], false);
    assert!(by_hash["issued_at"].is_string());
    let (status, sent) = post_bytes(
        &app,
        &format!("/v1/reports/verify/{}", code.to_lowercase()),
        None,
        first.bytes.clone(),
        "application/pdf",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sent["matches"], true);
    let mut flipped = first.bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let (status, changed) = post_bytes(
        &app,
        &format!("/v1/reports/verify/{code}"),
        None,
        flipped,
        "application/pdf",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["matches"], false);
    assert_eq!(changed["verdict"], "does not match");
    app.send(
        reqwest::Method::GET,
        "/v1/reports/verify/ZZZZZ-ZZZZZ",
        None,
        None,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.send(
        reqwest::Method::GET,
        &format!("/v1/reports/verify/{code}?sha256=xyz"),
        None,
        None,
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // The technician who did it reads it; asking again changes nothing.
    let own = download(&app, ticket, &duty.tech().token)
        .await
        .expect("the technician's report");
    assert_eq!(own.bytes, first.bytes);
    let again = app
        .post(&format!("/v1/tickets/{ticket}/report"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["version"], 1);

    // An office correction: the phone sees it, the audit log and the
    // timeline name the admin, and the report job issues version 2.
    let work = app
        .get(&format!("/v1/tickets/{ticket}/work"), admin)
        .await
        .expect(StatusCode::OK);
    let fan = work["parts"][0]["id"].as_str().expect("part id").to_owned();
    let corrected = app
        .post(
            &format!("/v1/tickets/{ticket}/work/corrections"),
            admin,
            &json!({"version": work["version"], "reason": "two fans were fitted",
                    "operations": [{"op": "set_part_quantity", "part_id": fan, "quantity": 2.0},
                                   {"op": "append_note", "text": "Office: second fan fitted on the roof unit."}]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(corrected["parts"][0]["quantity"], 2.0);
    assert!(corrected["version"].as_i64() > work["version"].as_i64());
    client.sync_now().await.expect("sync after the correction");
    let doc = TicketDoc::load(&client.document_bytes(&t).await.expect("document")).expect("loads");
    assert_eq!(
        doc.parts()[0].quantity,
        2.0,
        "the phone has the office's quantity"
    );
    assert!(
        doc.notes()
            .ends_with("\nOffice: second fan fitted on the roof unit."),
        "{}",
        doc.notes()
    );

    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let entry = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "ticket.work_correct")
        .expect("the correction is audited");
    assert_eq!(entry["actor_id"], tenant.admin_id.to_string());
    assert_eq!(entry["entity_id"], t);

    let second = wait_for_report(&app, ticket, admin, 2).await;
    save_artifact(
        &format!("service-report-{backend:?}-{blobs:?}-v2.pdf"),
        &second.bytes,
    );
    let text = pdf_text(&second.bytes);
    assert!(text.contains("supersedes version 1"), "{text}");
    assert!(text.contains(&code), "names the superseded code: {text}");
    assert!(
        text.contains("corrected the work record 1 time(s) after the customer signed"),
        "{text}"
    );
    let old = app
        .send(
            reqwest::Method::GET,
            &format!("/v1/reports/verify/{code}?sha256={}", sha256(&first.bytes)),
            None,
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        old["matches"], true,
        "the first version still is what it was"
    );
    assert_eq!(old["superseded"], true);
    assert_eq!(old["latest_version"], 2);

    let timeline = app
        .get(
            &format!("/v1/tickets/{ticket}/timeline?kind=correction,report&limit=200"),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    let entries: Vec<(String, String, String)> = timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["actor"]["kind"].as_str().unwrap_or_default().to_owned(),
                e["summary"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(entries[0].0, "report");
    assert_eq!(entries[0].1, "system");
    assert!(entries[0].2.contains("version 1"), "{entries:?}");
    assert_eq!(entries[1].0, "correction");
    assert_eq!(entries[1].1, "user");
    assert!(entries[1].2.contains("set part quantity"), "{entries:?}");
    assert_eq!(entries[2].0, "report");
    assert!(entries[2].2.contains("version 2"), "{entries:?}");
    let versions = app
        .get(&format!("/v1/tickets/{ticket}/reports"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    app.stop().await;
}

async fn a_cjk_customer_name_is_real_text_in_the_tenants_font(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "reportcjk").build().await;
    let admin = &shop.tenant.admin_token;
    let site = app
        .get(&format!("/v1/sites/{}", shop.site), admin)
        .await
        .expect(StatusCode::OK);
    app.patch(
        &format!(
            "/v1/customers/{}",
            site["customer_id"].as_str().expect("customer")
        ),
        admin,
        &json!({"name": "张伟"}),
    )
    .await
    .expect(StatusCode::OK);
    let ticket = shop.assigned_ticket(&app, shop.tech().id).await;

    // Noto Sans CJK is a collection; face 2 is Simplified Chinese.
    let font = std::fs::read("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
        .expect("Debian's fonts-noto-cjk is installed (scripts/test.sh installs it)");
    let (status, settings) = send_bytes(
        &app,
        reqwest::Method::PUT,
        "/v1/service-reports/settings/font?index=2",
        Some(admin),
        font,
        "font/collection",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert!(settings["font_sha256"].is_string());
    let (status, _) = send_bytes(
        &app,
        reqwest::Method::PUT,
        "/v1/service-reports/settings/logo",
        Some(admin),
        jpeg(9),
        "image/jpeg",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = send_bytes(
        &app,
        reqwest::Method::PUT,
        "/v1/service-reports/settings/font",
        Some(admin),
        b"not a font".to_vec(),
        "font/otf",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    app.post(&format!("/v1/tickets/{ticket}/report"), admin, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let pdf = download(&app, ticket, admin).await.expect("the report");
    save_artifact(&format!("service-report-cjk-{backend:?}.pdf"), &pdf.bytes);
    let text = pdf_text(&pdf.bytes);
    assert!(text.contains("张伟"), "the CJK name is text:\n{text}");
    assert!(text.contains("Service report"), "{text}");
    let dir = TempGuard::new("truckroll-report-fonts-");
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, &pdf.bytes).expect("write");
    let fonts = std::process::Command::new("pdffonts")
        .arg(&file)
        .output()
        .expect("pdffonts runs");
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    assert!(
        fonts.contains("NotoSansCJK"),
        "the tenant's font is embedded: {fonts}"
    );
    assert!(
        fonts.lines().skip(2).all(|l| l.contains(" yes ")),
        "every font embedded (subset): {fonts}"
    );
    let images = pdf_images(&pdf.bytes);
    assert!(
        images.iter().any(|i| i.1 * 3 == i.2 * 4),
        "the logo: {images:?}"
    );

    // Back to the built-in font: the name can no longer be set in it, the
    // Latin text still is.
    let (status, _) = send_bytes(
        &app,
        reqwest::Method::DELETE,
        "/v1/service-reports/settings/font",
        Some(admin),
        Vec::new(),
        "font/otf",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let regenerated = app
        .post(&format!("/v1/tickets/{ticket}/report"), admin, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(regenerated["version"], 2);
    app.stop().await;
}

async fn who_may_read_make_and_configure_reports(backend: TestBackend) {
    let app = TestApp::start_with(backend, |c| c.report.verify_per_address_per_minute = 5).await;
    let shop = Shop::builder(&app, "reportacl")
        .technicians(2)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let (_, manager) = app
        .create_user(&shop.tenant, "manager@reportacl.test", "manager")
        .await;
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "dispatch@reportacl.test", "dispatcher")
        .await;
    let path = format!("/v1/tickets/{ticket}/report");

    app.post(&path, &shop.techs[0].token, &json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let made = app
        .post(&path, &manager, &json!({}))
        .await
        .expect(StatusCode::CREATED);
    app.post(&path, &dispatcher, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(made["version"], 1);
    assert!(
        download(&app, ticket, &shop.techs[0].token).await.is_ok(),
        "the assigned technician"
    );
    assert!(download(&app, ticket, &manager).await.is_ok());
    assert_eq!(
        download(&app, ticket, &shop.techs[1].token).await.err(),
        Some(StatusCode::NOT_FOUND),
        "another technician"
    );
    let other = Shop::builder(&app, "reportacl2").build().await;
    assert_eq!(
        download(&app, ticket, &other.tenant.admin_token)
            .await
            .err(),
        Some(StatusCode::NOT_FOUND),
        "another tenant"
    );
    app.post(&path, &other.tenant.admin_token, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/tickets/{ticket}/report.pdf?version=7"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Settings are the admin's.
    app.get("/v1/service-reports/settings", admin)
        .await
        .expect(StatusCode::OK);
    for token in [&manager, &dispatcher, &shop.techs[0].token] {
        app.get("/v1/service-reports/settings", token)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
        let (status, _) = send_bytes(
            &app,
            reqwest::Method::PUT,
            "/v1/service-reports/settings/logo",
            Some(token),
            jpeg(1),
            "image/jpeg",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // The public check is rate limited per address.
    let code = made["code"].as_str().expect("code");
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            app.send(
                reqwest::Method::GET,
                &format!("/v1/reports/verify/{code}"),
                None,
                None,
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses[0], StatusCode::OK);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}

async fn a_job_done_while_no_report_job_ran_is_reported_after_a_restart(backend: TestBackend) {
    // The job's only pass in this run is at start, before the work is done.
    let mut app = TestApp::start_with(backend, |c| c.report.poll_ms = 3_600_000).await;
    let shop = Shop::builder(&app, "reportrestart").build().await;
    let admin = shop.tenant.admin_token.clone();
    let ticket = shop.assigned_ticket(&app, shop.tech().id).await;
    for status in ["accepted", "en_route", "on_site", "work_done"] {
        app.patch(
            &format!("/v1/tickets/{ticket}"),
            &shop.tech().token,
            &json!({"status": status}),
        )
        .await
        .expect(StatusCode::OK);
    }
    assert_eq!(
        download(&app, ticket, &admin).await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    // Nothing marks the ticket as waiting for a report but its status and
    // the job's checkpoint: after a restart the job finds it.
    app.config.report.poll_ms = 100;
    let app = app.restart().await;
    let pdf = wait_for_report(&app, ticket, &admin, 1).await;
    assert!(pdf_text(&pdf.bytes).contains("work done"));
    let versions = app
        .get(&format!("/v1/tickets/{ticket}/reports"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(versions[0]["trigger"], "work_done");
    assert!(
        versions[0]["generated_by"].is_null(),
        "made by the report job"
    );
    app.stop().await;
}
