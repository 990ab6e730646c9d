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

/// Rewrites a ticket's status, assignee, creation and history (around the
/// API: the report reads only these).
async fn backdate(
    db: &truckroll_tests::RawDb,
    tenant: uuid::Uuid,
    ticket: uuid::Uuid,
    history: &[(&str, &str)],
) {
    let (created, _) = history[0];
    let (last_at, status) = history[history.len() - 1];
    db.execute(
        &format!(
            "UPDATE tickets SET status = '{status}', created_at = '{created}', updated_at = '{last_at}' \
             WHERE tenant_id = $1 AND id = $2"
        ),
        &[tenant, ticket],
    )
    .await;
    db.execute(
        "DELETE FROM ticket_status_history WHERE tenant_id = $1 AND ticket_id = $2",
        &[tenant, ticket],
    )
    .await;
    for (seq, (at, status)) in history.iter().enumerate() {
        db.execute(
            &format!(
                "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
                 VALUES ($1, $2, {}, '{at}', '{status}', NULL)",
                seq + 1
            ),
            &[tenant, ticket],
        )
        .await;
    }
}

/// The manager's `/reports` page (tests/browser/reports.mjs): a known month
/// of three tickets by category, numbers in the table as computed by hand,
/// both charts drawn, the CSV downloaded and checked. Leaves
/// `<target>/artifacts/reports.png` and the downloaded `reports.csv`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_reads_the_sla_report() {
    browser::check_prerequisites();
    let app = TestApp::start_with(TestBackend::Sqlite, |config| {
        config.sla.timers_enabled = false;
        config.webhooks.worker_enabled = false;
    })
    .await;
    let tenant = app.create_tenant("reports").await;
    let admin = tenant.admin_token.clone();
    let manager_email = "manager@reports.test";
    app.create_user(&tenant, manager_email, "manager").await;
    let site = app.berlin_site(&tenant, "standard").await;
    app.post(
        "/v1/sla/policies",
        &admin,
        &json!({"name": "Standard", "targets": {"response_minutes": 60, "arrival_minutes": 240,
                "resolution_minutes": 480}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let db = app.db.raw().await;
    let fixture: [(&str, &[(&str, &str)]); 3] = [
        // All three targets met: 30 min, 1 h, 2 h.
        (
            "hvac",
            &[
                ("2026-10-05T08:00:00+00:00", "new"),
                ("2026-10-05T08:30:00+00:00", "accepted"),
                ("2026-10-05T09:00:00+00:00", "on_site"),
                ("2026-10-05T10:00:00+00:00", "work_done"),
                ("2026-10-05T10:30:00+00:00", "closed"),
            ],
        ),
        // Response (2 h) and arrival (6 h) late, resolution (7 h) met.
        (
            "hvac",
            &[
                ("2026-10-06T08:00:00+00:00", "new"),
                ("2026-10-06T10:00:00+00:00", "accepted"),
                ("2026-10-06T14:00:00+00:00", "on_site"),
                ("2026-10-06T15:00:00+00:00", "work_done"),
                ("2026-10-06T15:30:00+00:00", "closed"),
            ],
        ),
        // Never answered: every target breached, in the backlog for weeks.
        ("plumbing", &[("2026-10-07T08:00:00+00:00", "new")]),
    ];
    for (category, history) in fixture {
        let ticket = app
            .post(
                "/v1/tickets",
                &admin,
                &json!({"title": "Fixture", "category": category, "priority": "P3", "site_id": site["id"]}),
            )
            .await
            .expect(StatusCode::CREATED);
        backdate(&db, tenant.id, id_of(&ticket, "id"), history).await;
    }

    let artifact = browser::artifacts_dir().join("reports.png");
    browser::run_script(
        "reports.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("MANAGER_EMAIL", manager_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("FROM", "2026-10-01".into()),
            ("TO", "2026-10-31".into()),
            ("ARTIFACT", artifact.display().to_string()),
        ],
    )
    .await;
    assert!(artifact.exists(), "no screenshot at {}", artifact.display());
    println!("reports page screenshot: {}", artifact.display());
    app.stop().await;
}
