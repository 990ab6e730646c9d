//! The customer's progress page in real headless Chromium
//! (tests/browser/progress.mjs): opened by the direct link while the
//! technician is on the way (map and ETA), again after arrival (no map),
//! then the survey answered by keyboard after close. Screenshots at 1024
//! and 1440 px in `<target>/artifacts/progress-*.png`.

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::notify::ProgressKey;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, all_week_shifts, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_follows_the_technician_and_answers_the_survey() {
    browser::check_prerequisites();
    let app = TestApp::start_with(TestBackend::Sqlite, |config| {
        config.notify.worker_enabled = false;
    })
    .await;
    let tenant = app.create_tenant("progress").await;
    let admin = tenant.admin_token.clone();
    let site = app.berlin_site(&tenant, "standard").await;
    app.post("/v1/categories", &admin, &json!({"name": "hvac"}))
        .await
        .expect(StatusCode::CREATED);
    let (user_id, tech_token) = app
        .create_user(&tenant, "ada@progress.test", "technician")
        .await;
    let technician = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"user_id": user_id, "name": "Ada Lovelace", "time_zone": "UTC",
                    "shifts": all_week_shifts(), "skills": [{"skill": "hvac", "level": 2}]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Boiler leaks", "category": "hvac", "priority": "P3", "site_id": site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket_id = id_of(&ticket, "id");
    app.post(
        &format!("/v1/tickets/{ticket_id}/assign"),
        &admin,
        &json!({"technician_id": technician["id"]}),
    )
    .await
    .expect(StatusCode::OK);
    for status in ["accepted", "en_route"] {
        app.patch(
            &format!("/v1/tickets/{ticket_id}"),
            &tech_token,
            &json!({"status": status}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    app.post(
        "/v1/me/locations",
        &tech_token,
        &json!({"pings": [{"device_time": at, "lat": 52.5300, "lon": 13.4100, "accuracy_m": 5.0}]}),
    )
    .await
    .expect(StatusCode::OK);
    app.post(
        &format!("/v1/tickets/{ticket_id}/comments"),
        &admin,
        &json!({"body": "Ada is on her way.", "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);

    // The link the messages carry (same key as the server in this process).
    let link = ProgressKey::new(&app.config.notify.link_secret).link_token(tenant.id, ticket_id);
    let artifacts = browser::artifacts_dir();
    browser::run_script(
        "progress.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("LINK", link),
            ("TICKET_ID", ticket_id.to_string()),
            ("TECH_TOKEN", tech_token.clone()),
            ("ARTIFACTS", artifacts.display().to_string()),
            (
                "ARTIFACT",
                artifacts.join("progress.png").display().to_string(),
            ),
        ],
    )
    .await;

    let answer = app
        .get(&format!("/v1/tickets/{ticket_id}/timeline"), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        answer.to_string().contains("customer survey answered: 4/5"),
        "{answer}"
    );
    for name in [
        "progress-en-route-1024.png",
        "progress-en-route-1440.png",
        "progress-arrived-1024.png",
        "progress-survey-1440.png",
    ] {
        assert!(artifacts.join(name).exists(), "no screenshot {name}");
    }
    app.stop().await;
}
