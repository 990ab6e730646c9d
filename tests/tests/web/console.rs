//! The back-office console in real headless Chromium
//! (tests/browser/console.mjs and map_conflict.mjs): the queue, the create
//! form, the ticket page, bulk actions, stale edits, languages, the
//! technician's landing, and the map refusing a ticket taken meanwhile.
//! Screenshots at 1024 and 1440 px go to `<target>/artifacts/console-*.png`.

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, TestTenant, all_week_shifts, id_of},
    browser,
};
use uuid::Uuid;

/// The `hvac` category's schema: a choice and a required number, with titles.
fn hvac_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "refrigerant": {"title": "Refrigerant", "enum": ["R32", "R410A"]},
            "floor": {"title": "Floor", "type": "integer", "minimum": -5, "maximum": 200},
        },
        "required": ["floor"],
        "additionalProperties": false,
    })
}

/// A technician with a profile, all-week shifts and a position near the site.
async fn technician(
    app: &TestApp,
    tenant: &TestTenant,
    email: &str,
    name: &str,
    (lat, lon): (f64, f64),
) -> (Uuid, String) {
    let (user_id, token) = app.create_user(tenant, email, "technician").await;
    let created = app
        .post(
            "/v1/technicians",
            &tenant.admin_token,
            &json!({"user_id": user_id, "name": name, "time_zone": "UTC", "capacity": 10,
                    "shifts": all_week_shifts(), "skills": [{"skill": "hvac", "level": 3}]}),
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
    (id_of(&created, "id"), token)
}

async fn ticket(app: &TestApp, token: &str, site: Uuid, title: &str) -> Value {
    app.post(
        "/v1/tickets",
        token,
        &json!({"title": title, "category": "hvac", "priority": "P3", "site_id": site,
                "custom_fields": {"floor": 1}}),
    )
    .await
    .expect(StatusCode::CREATED)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_works_the_console() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("console").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "dispatch@console.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    app.post(
        "/v1/categories",
        &admin,
        &json!({"name": "hvac", "custom_fields_schema": hvac_schema()}),
    )
    .await
    .expect(StatusCode::CREATED);
    let customer_name = "Acme Cold Storage";
    let customer = app
        .post("/v1/customers", &admin, &json!({"name": customer_name}))
        .await
        .expect(StatusCode::CREATED);
    let site = app
        .post(
            "/v1/sites",
            &admin,
            &json!({"customer_id": customer["id"], "name": "Depot", "address": "Unter den Linden 77, Berlin",
                    "location": {"lat": 52.5163, "lon": 13.3795}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let site_id = id_of(&site, "id");
    let technician_email = "ada@console.test";
    let (ada, _) = technician(
        &app,
        &tenant,
        technician_email,
        "Ada Lovelace",
        (52.52, 13.39),
    )
    .await;
    for n in 1..=5 {
        ticket(&app, &admin, site_id, &format!("Bulk job {n}")).await;
    }
    let chinese_title = "冷库空调维修";
    let chinese = ticket(&app, &admin, site_id, chinese_title).await;

    browser::run_script(
        "console.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("TECHNICIAN_EMAIL", technician_email.to_owned()),
            ("TECHNICIAN_NAME", "Ada Lovelace".to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ADMIN_TOKEN", admin.clone()),
            ("CUSTOMER_ID", id_of(&customer, "id").to_string()),
            ("CUSTOMER_NAME", customer_name.to_owned()),
            ("CHINESE_TITLE", chinese_title.to_owned()),
            ("CHINESE_TICKET_ID", id_of(&chinese, "id").to_string()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // What the pages did, as the API sees it: five assigned to Ada.
    let assigned = app
        .get(&format!("/v1/tickets?assignee_id={ada}&limit=50"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["items"].as_array().map(Vec::len), Some(5));
    app.stop().await;
}

/// The map's panel follows a ticket accepted meanwhile, and an assignment
/// sent with the version it showed is refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_refuses_a_ticket_taken_meanwhile() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("mapconflict").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "dispatch@map.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    app.post("/v1/categories", &admin, &json!({"name": "hvac"}))
        .await
        .expect(StatusCode::CREATED);
    let site = app.berlin_site(&tenant, "standard").await;
    let site_id = id_of(&site, "id");
    let (near, _) = technician(&app, &tenant, "near@map.test", "Nora Near", (52.52, 13.39)).await;
    let (far, far_token) =
        technician(&app, &tenant, "far@map.test", "Felix Far", (52.49, 13.43)).await;
    let created = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Freezer alarm", "category": "hvac", "priority": "P2", "site_id": site_id}),
        )
        .await
        .expect(StatusCode::CREATED);
    // A second open ticket: the header counts both, whatever the zoom.
    let second = app
        .post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Door seal", "category": "hvac", "priority": "P4", "site_id": site_id}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket_id = id_of(&created, "id");

    browser::run_script(
        "map_conflict.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ADMIN_TOKEN", admin.clone()),
            ("TICKET_ID", ticket_id.to_string()),
            ("SECOND_TICKET_ID", id_of(&second, "id").to_string()),
            ("NEAR_TECHNICIAN_ID", near.to_string()),
            ("FAR_TECHNICIAN_ID", far.to_string()),
            ("FAR_TECHNICIAN_TOKEN", far_token),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;

    // The refused click changed nothing: the ticket stays with the technician who accepted it.
    let after = app
        .get(&format!("/v1/tickets/{ticket_id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["status"], "accepted");
    assert_eq!(after["assignee_id"], far.to_string());
    app.stop().await;
}

/// Archiving sites from the master-data page: refused while an open ticket
/// refers to the site (the API's reason shown), done and restorable
/// otherwise (`POST /v1/sites/{id}/archive|restore`, `?archived=`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_are_archived_only_when_nothing_open_refers_to_them() {
    browser::check_prerequisites();
    let app = TestApp::start(TestBackend::Sqlite).await;
    let tenant = app.create_tenant("archive").await;
    let admin = tenant.admin_token.clone();
    let dispatcher_email = "dispatch@archive.test";
    app.create_user(&tenant, dispatcher_email, "dispatcher")
        .await;
    app.post("/v1/categories", &admin, &json!({"name": "hvac"}))
        .await
        .expect(StatusCode::CREATED);
    let customer = app
        .post("/v1/customers", &admin, &json!({"name": "Archive Foods"}))
        .await
        .expect(StatusCode::CREATED);
    let mut sites = Vec::new();
    for (name, lat) in [("Busy depot", 52.51), ("Quiet depot", 52.53)] {
        let site = app
            .post(
                "/v1/sites",
                &admin,
                &json!({"customer_id": customer["id"], "name": name, "address": "Berlin",
                        "location": {"lat": lat, "lon": 13.40}}),
            )
            .await
            .expect(StatusCode::CREATED);
        sites.push(id_of(&site, "id"));
    }
    app.post(
        "/v1/tickets",
        &admin,
        &json!({"title": "Still open", "category": "hvac", "priority": "P3", "site_id": sites[0]}),
    )
    .await
    .expect(StatusCode::CREATED);

    browser::run_script(
        "admin_archive.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", tenant.name.clone()),
            ("DISPATCHER_EMAIL", dispatcher_email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("ARTIFACTS", browser::artifacts_dir().display().to_string()),
        ],
    )
    .await;
    let busy = app
        .get(&format!("/v1/sites/{}", sites[0]), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(busy["archived_at"], Value::Null);
    let quiet = app
        .get(&format!("/v1/sites/{}", sites[1]), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(quiet["archived_at"], Value::Null, "restored");
    app.stop().await;
}
