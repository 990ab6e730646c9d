//! The dispatcher page in real headless Chromium (tests/browser/dispatch.mjs):
//! sign in, see technicians, open an unassigned ticket, assign it from the
//! candidates, see the marker change; a ping moves a marker. Leaves a
//! screenshot in `<target>/artifacts/dispatch.png`.

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, all_week_shifts, id_of},
    browser,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_assigns_from_the_live_map() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("browser").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "dispatch@browser.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    let site = app.berlin_site(&tenant, "standard").await;
    app.post("/v1/categories", &admin, &json!({"name": "hvac"}))
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "P1", "match": {"priority": "P1"},
                "targets": {"response_minutes": 30, "arrival_minutes": 120, "resolution_minutes": 480}}),
    )
    .await
    .expect(StatusCode::CREATED);

    // Two technicians around the site (52.5163, 13.3795): near and far.
    let mut technicians = Vec::new();
    for (email, name, (lat, lon)) in [
        ("ada@browser.test", "Ada", (52.5200, 13.3900)),
        ("ben@browser.test", "Ben", (52.4900, 13.4300)),
    ] {
        let (user_id, token) = app.create_user(&tenant, email, "technician").await;
        let created = app
            .post(
                "/v1/technicians",
                &admin,
                &json!({"user_id": user_id, "name": name, "time_zone": "UTC",
                        "shifts": all_week_shifts(), "skills": [{"skill": "hvac", "level": 2}]}),
            )
            .await
            .expect(StatusCode::CREATED);
        let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        app.post(
            "/v1/me/locations",
            &token,
            &json!({"pings": [{"device_time": at, "lat": lat, "lon": lon, "accuracy_m": 5.0}]}),
        )
        .await
        .expect(StatusCode::OK);
        technicians.push((id_of(&created, "id"), token));
    }
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Cold room warm", "category": "hvac", "priority": "P1",
                    "site_id": site["id"], "required_skills": [{"skill": "hvac", "level": 1}]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket_id = id_of(&ticket, "id");

    let artifact = browser::artifacts_dir().join("dispatch.png");
    browser::run_script(
        "dispatch.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("NEAR_TECHNICIAN_ID", technicians[0].0.to_string()),
            ("FAR_TECHNICIAN_ID", technicians[1].0.to_string()),
            ("FAR_TECHNICIAN_TOKEN", technicians[1].1.clone()),
            ("TICKET_ID", ticket_id.to_string()),
            ("FAR_LAT", "52.49".into()),
            ("PING_LAT", "52.5050".into()),
            ("PING_LON", "13.4000".into()),
            ("ARTIFACT", artifact.display().to_string()),
        ],
    )
    .await;

    // What the page did, as the API sees it.
    let after = app
        .get(&format!("/v1/tickets/{ticket_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["status"], "assigned");
    assert_eq!(after["assignee_id"], technicians[0].0.to_string());
    assert!(artifact.exists(), "no screenshot at {}", artifact.display());
    println!("dispatch page screenshot: {}", artifact.display());
    app.stop().await;
}
