//! Scheduling in real headless Chromium (issue 20): booking, moving and
//! cancelling a window from the ticket page's offered slots; on the
//! schedule board a job dragged onto an absent technician (refused, the
//! reason shown), dragged to another technician and time, moved by keyboard,
//! and a day plan's changes shown, then applied (tests/browser/board.mjs);
//! the customer picking a time on the progress page after the first pick
//! was taken, its confirmation rewritten in Chinese on switching
//! (tests/browser/progress_slots.mjs); the board's unassigned lane
//! (tests/browser/board_unassigned.mjs). Screenshots in
//! `<target>/artifacts/board-*.png`, `ticket-slots-*.png`, `progress-slots-*.png`.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::notify::ProgressKey;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, TestApp, id_of},
    browser,
    fixtures::{Shop, rfc3339, time_of, tomorrow},
};
use uuid::Uuid;

/// Technicians named `names`, working 08:00–17:00 UTC every day.
async fn shop(app: &TestApp, tenant: &str, names: &[&str]) -> Shop {
    let shop = Shop::builder(app, tenant)
        .skilled()
        .spaced(0.05)
        .capacity(10)
        .technicians(names.len())
        .dispatcher()
        .build()
        .await;
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    for (tech, name) in shop.techs.iter().zip(names) {
        app.patch(
            &format!("/v1/technicians/{}", tech.id),
            &shop.tenant.admin_token,
            &json!({"shifts": shifts, "name": name}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // The customer can be reached by email, so bookings are told.
    shop.reach_customer_at(app, "desk@example.com").await;
    shop
}

async fn ticket(app: &TestApp, shop: &Shop, title: &str) -> (Uuid, String) {
    let body = json!({"title": title, "category": "hvac", "priority": "P3", "site_id": shop.site});
    let created = app
        .post("/v1/tickets", &shop.tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED);
    (
        id_of(&created, "id"),
        created["number"].as_str().expect("number").to_owned(),
    )
}

async fn book(app: &TestApp, token: &str, ticket: Uuid, from: DateTime<Utc>, technician: Uuid) {
    app.send(
        Method::PUT,
        &format!("/v1/tickets/{ticket}/window"),
        Some(token),
        Some(&json!({"starts_at": rfc3339(from), "ends_at": rfc3339(from + Duration::hours(2)), "technician_id": technician})),
    )
    .await
    .expect(StatusCode::OK);
}

async fn told(app: &TestApp, ticket: Uuid, event: &str) -> i64 {
    let raw = app.db.raw().await;
    let n = raw
        .scalar_i64(
            &format!(
                "SELECT COUNT(*) FROM notify_messages WHERE ticket_id = $1 AND event = '{event}'"
            ),
            &[ticket],
        )
        .await;
    raw.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_books_drags_moves_and_plans_and_the_customer_picks_a_time() {
    browser::check_prerequisites();
    let app = TestApp::start_with(TestBackend::Sqlite, |config| {
        config.notify.worker_enabled = false;
    })
    .await;
    let office = shop(&app, "board-page", &["Ada Lovelace", "Bob Hopper"]).await;
    let admin = office.tenant.admin_token.clone();
    let (ada, bob) = (office.techs[0].id, office.techs[1].id);
    let (first, first_number) = ticket(&app, &office, "Chiller noise").await;
    let (second, second_number) = ticket(&app, &office, "Boiler service").await;
    let (fresh, fresh_number) = ticket(&app, &office, "Thermostat swap").await;
    let (booked, _) = ticket(&app, &office, "Leaking valve").await;
    book(&app, &admin, first, tomorrow(9), ada).await;
    book(&app, &admin, second, tomorrow(13), bob).await;
    app.post(&format!("/v1/technicians/{bob}/absences"), &admin,
             &json!({"kind": "training", "starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(12)), "note": "forklift"}))
        .await
        .expect(StatusCode::CREATED);

    // The customer's side: a tenant that lets customers pick, one
    // technician, the customer's ticket and a neighbour's.
    let picking = shop(&app, "board-customer", &["Cleo Field"]).await;
    app.patch(
        "/v1/tenant",
        &picking.tenant.admin_token,
        &json!({"customer_slot_choice": true}),
    )
    .await
    .expect(StatusCode::OK);
    let (mine, _) = ticket(&app, &picking, "Heat pump check").await;
    let (neighbour, _) = ticket(&app, &picking, "Heat pump check").await;
    let link = ProgressKey::new(&app.config.notify.link_secret).link_token(picking.tenant.id, mine);

    let artifacts = browser::artifacts_dir();
    let day = tomorrow(0).date_naive().format("%Y-%m-%d").to_string();
    browser::run_script(
        "board.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", office.tenant.name.clone()),
            (
                "DISPATCHER_EMAIL",
                format!("dispatch@{}.test", office.tenant.name),
            ),
            ("PASSWORD", PASSWORD.to_owned()),
            ("DAY", day),
            ("FIRST", first.to_string()),
            ("FIRST_NUMBER", first_number),
            ("SECOND", second.to_string()),
            ("SECOND_NUMBER", second_number),
            ("FRESH_NUMBER", fresh_number),
            ("BOOKED", booked.to_string()),
            ("ADA", ada.to_string()),
            ("BOB", bob.to_string()),
            ("ARTIFACTS", artifacts.display().to_string()),
        ],
    )
    .await;
    browser::run_script(
        "progress_slots.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("LINK", link),
            ("ADMIN_TOKEN", picking.tenant.admin_token.clone()),
            ("NEIGHBOUR", neighbour.to_string()),
            ("TECHNICIAN", picking.tech().id.to_string()),
            ("ARTIFACTS", artifacts.display().to_string()),
        ],
    )
    .await;

    // What the pages did, as the API sees it.
    // Ticket page: booked, moved, cancelled — each told to the customer;
    // the plan applied later gave it the planned visit as its window.
    let planned = app
        .get(&format!("/v1/tickets/{booked}/window"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(planned["source"], "plan", "{planned}");
    assert!(told(&app, booked, "appointment_booked").await >= 2);
    assert_eq!(told(&app, booked, "appointment_cancelled").await, 1);
    // Dragged onto Bob after his other job, at 15:30 (dropping snaps to 15 minutes).
    let dragged = app
        .get(&format!("/v1/tickets/{first}/window"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(dragged["technician_id"], bob.to_string());
    let start = time_of(&dragged, "starts_at");
    assert!(
        (start - (tomorrow(15) + Duration::minutes(30)))
            .num_minutes()
            .abs()
            <= 15,
        "{dragged}"
    );
    // Moved by keyboard to Ada at 09:00.
    let moved = app
        .get(&format!("/v1/tickets/{second}/window"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["technician_id"], ada.to_string());
    assert_eq!(time_of(&moved, "starts_at"), tomorrow(9));
    // The plan was applied: every ticket is assigned, the new one too.
    for id in [first, second, fresh, booked] {
        let ticket = app
            .get(&format!("/v1/tickets/{id}"), &admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(ticket["status"], "assigned", "{ticket}");
    }
    // The customer's pick: booked with the technician and told.
    let picked = app
        .get(
            &format!("/v1/tickets/{mine}/window"),
            &picking.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(picked["technician_id"], picking.tech().id.to_string());
    assert_eq!(told(&app, mine, "appointment_booked").await, 1);
    for name in [
        "ticket-slots-en-1024.png",
        "board-en-1024.png",
        "board-refused-en-1024.png",
        "board-plan-en-1024.png",
        "board-week-zh-1024.png",
        "progress-slots-en-1024.png",
        "progress-slots-zh-1024.png",
    ] {
        assert!(artifacts.join(name).exists(), "no screenshot {name}");
    }
    app.stop().await;
}

async fn promise(app: &TestApp, token: &str, ticket: Uuid, from: DateTime<Utc>, hours: i64) {
    app.send(
        Method::PUT,
        &format!("/v1/tickets/{ticket}/window"),
        Some(token),
        Some(
            &json!({"starts_at": rfc3339(from), "ends_at": rfc3339(from + Duration::hours(hours))}),
        ),
    )
    .await
    .expect(StatusCode::OK);
}

/// The board's unassigned lane (tests/browser/board_unassigned.mjs): windows
/// promised with no technician are dragged (and moved by keyboard) onto
/// technicians, with the API's refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_drags_a_promised_job_from_the_unassigned_lane() {
    browser::check_prerequisites();
    let app = TestApp::start_with(TestBackend::Sqlite, |config| {
        config.notify.worker_enabled = false;
    })
    .await;
    let office = shop(&app, "board-waiting", &["Ada Lovelace", "Bob Hopper"]).await;
    let admin = office.tenant.admin_token.clone();
    let (ada, bob) = (office.techs[0].id, office.techs[1].id);
    let (early, early_number) = ticket(&app, &office, "Chiller noise").await;
    let (late, late_number) = ticket(&app, &office, "Boiler service").await;
    promise(&app, &admin, early, tomorrow(9), 3).await;
    promise(&app, &admin, late, tomorrow(10), 2).await;
    app.post(&format!("/v1/technicians/{bob}/absences"), &admin,
             &json!({"kind": "training", "starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(12)), "note": "forklift"}))
        .await
        .expect(StatusCode::CREATED);

    let artifacts = browser::artifacts_dir();
    let day = tomorrow(0).date_naive().format("%Y-%m-%d").to_string();
    browser::run_script(
        "board_unassigned.mjs",
        &[
            ("TRUCKROLL_URL", app.base_url.clone()),
            ("TENANT", office.tenant.name.clone()),
            (
                "DISPATCHER_EMAIL",
                format!("dispatch@{}.test", office.tenant.name),
            ),
            ("PASSWORD", PASSWORD.to_owned()),
            ("DAY", day),
            ("EARLY", early.to_string()),
            ("EARLY_NUMBER", early_number),
            ("LATE", late.to_string()),
            ("LATE_NUMBER", late_number),
            ("ADA", ada.to_string()),
            ("BOB", bob.to_string()),
            ("ARTIFACTS", artifacts.display().to_string()),
        ],
    )
    .await;

    // Dragged onto Bob at 13:00 (its three hours kept); moved by keyboard
    // onto Ada at 14:00; both told to the customer.
    let dragged = app
        .get(&format!("/v1/tickets/{early}/window"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(dragged["technician_id"], bob.to_string());
    let start = time_of(&dragged, "starts_at");
    assert!(
        (start - tomorrow(13)).num_minutes().abs() <= 15,
        "{dragged}"
    );
    assert_eq!(time_of(&dragged, "ends_at") - start, Duration::hours(3));
    let moved = app
        .get(&format!("/v1/tickets/{late}/window"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["technician_id"], ada.to_string());
    assert_eq!(time_of(&moved, "starts_at"), tomorrow(14));
    assert!(told(&app, early, "appointment_booked").await >= 2);
    for name in [
        "board-unassigned-en-1024.png",
        "board-unassigned-moved-en-1024.png",
        "board-unassigned-zh-1024.png",
    ] {
        assert!(artifacts.join(name).exists(), "no screenshot {name}");
    }
    app.stop().await;
}
