//! The schedule board's read (lanes, jobs in driving order with the driving
//! before each, absences, working hours, the windows promised with no
//! technician yet), the refusals a window booked with a technician meets
//! (absent then, assigned to someone else), and the customer's own choice of
//! an offered slot on the progress page where the tenant allows it (issue 20).

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::notify::ProgressKey;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::{Shop, rfc3339, time_of, tomorrow},
};
use uuid::Uuid;

backend_tests!(
    the_board_shows_jobs_travel_and_absences_and_moves_meet_the_refusals,
    a_customer_picks_an_offered_slot_only_where_the_tenant_allows_it,
    promised_windows_without_a_technician_are_the_unassigned_lane
);

/// A shop whose technicians work 08:00–17:00 every day (UTC).
async fn office_hours_shop(app: &TestApp, name: &str, technicians: usize) -> Shop {
    let shop = Shop::builder(app, name)
        .skilled()
        .spaced(0.05)
        .capacity(10)
        .technicians(technicians)
        .dispatcher()
        .build()
        .await;
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    for tech in &shop.techs {
        app.patch(
            &format!("/v1/technicians/{}", tech.id),
            &shop.tenant.admin_token,
            &json!({"shifts": shifts}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // The customer can be reached by email, so bookings are told.
    shop.reach_customer_at(app, "desk@example.com").await;
    shop
}

async fn put_window(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    technician: Uuid,
) -> truckroll_tests::app::Reply {
    app.send(
        Method::PUT,
        &format!("/v1/tickets/{ticket}/window"),
        Some(token),
        Some(&json!({"starts_at": rfc3339(from), "ends_at": rfc3339(to), "technician_id": technician})),
    )
    .await
}

fn lane(board: &Value, technician: Uuid) -> &Value {
    board["technicians"]
        .as_array()
        .and_then(|lanes| {
            lanes
                .iter()
                .find(|l| l["technician_id"] == technician.to_string())
        })
        .unwrap_or_else(|| panic!("no lane for {technician} in {board}"))
}

async fn the_board_shows_jobs_travel_and_absences_and_moves_meet_the_refusals(
    backend: TestBackend,
) {
    let app = TestApp::start(backend).await;
    let shop = office_hours_shop(&app, "board", 2).await;
    let admin = &shop.tenant.admin_token;
    let (ada, bob) = (shop.techs[0].id, shop.techs[1].id);
    let day = tomorrow(0).date_naive().format("%Y-%m-%d").to_string();

    for query in ["days=0", "days=8", "day=2000-01-01"] {
        app.get(&format!("/v1/schedule/board?{query}"), admin)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    for query in ["day=tomorrow", "colour=red"] {
        let reply = app.get(&format!("/v1/schedule/board?{query}"), admin).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    app.get("/v1/schedule/board", &shop.tech().token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let first = id_of(&shop.ticket(&app, "P3").await, "id");
    let second = id_of(&shop.ticket(&app, "P3").await, "id");
    put_window(&app, admin, second, (tomorrow(13), tomorrow(15)), ada)
        .await
        .expect(StatusCode::OK);
    put_window(&app, admin, first, (tomorrow(9), tomorrow(11)), ada)
        .await
        .expect(StatusCode::OK);
    app.post(&format!("/v1/technicians/{bob}/absences"), admin,
             &json!({"kind": "training", "starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(12)), "note": "forklift"}))
        .await
        .expect(StatusCode::CREATED);

    let dispatcher = app
        .login(
            &shop.tenant.name,
            &format!("dispatch@{}.test", shop.tenant.name),
        )
        .await;
    let board = app
        .get(&format!("/v1/schedule/board?day={day}"), &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(board["days"], 1);
    assert_eq!(time_of(&board, "from"), tomorrow(0));
    assert_eq!(time_of(&board, "to"), tomorrow(24));
    // Ada: both jobs in driving order, from home, then from the first job
    // (same site: no driving).
    let ada_lane = lane(&board, ada);
    let jobs = ada_lane["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2, "{ada_lane}");
    assert_eq!(id_of(&jobs[0], "ticket_id"), first);
    assert_eq!(id_of(&jobs[1], "ticket_id"), second);
    assert_eq!(jobs[0]["travel_from"], "home");
    assert!(
        jobs[0]["travel_minutes"].as_u64().is_some_and(|m| m >= 1),
        "{}",
        jobs[0]
    );
    assert_eq!(jobs[1]["travel_from"], jobs[0]["number"]);
    assert_eq!(jobs[1]["travel_minutes"], 0);
    assert_eq!(jobs[0]["booked_with"], ada.to_string());
    assert_eq!(jobs[0]["title"], "Chiller");
    assert_eq!(jobs[0]["status"], "new");
    assert_eq!(
        ada_lane["working"],
        json!([{"starts_at": rfc3339(tomorrow(8)), "ends_at": rfc3339(tomorrow(17))}])
    );
    // Bob: absent 09–12, so he works 08–09 and 12–17.
    let bob_lane = lane(&board, bob);
    assert_eq!(bob_lane["absences"][0]["kind"], "training");
    assert_eq!(bob_lane["jobs"], json!([]));
    let working: Vec<(DateTime<Utc>, DateTime<Utc>)> = bob_lane["working"]
        .as_array()
        .expect("working")
        .iter()
        .map(|w| (time_of(w, "starts_at"), time_of(w, "ends_at")))
        .collect();
    assert_eq!(
        working,
        vec![(tomorrow(8), tomorrow(9)), (tomorrow(12), tomorrow(17))]
    );
    // A week: seven days, the jobs still there.
    let week = app
        .get(&format!("/v1/schedule/board?day={day}&days=7"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        time_of(&week, "to") - time_of(&week, "from"),
        Duration::days(7)
    );
    assert_eq!(lane(&week, ada)["jobs"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        lane(&week, ada)["working"].as_array().map(Vec::len),
        Some(7)
    );

    // Moving the first job onto Bob while he is absent: refused in words.
    let refused = put_window(&app, admin, first, (tomorrow(10), tomorrow(12)), bob).await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("absent (training)"), "{detail}");
    // Onto Ada's other job: the overlap guard.
    put_window(&app, admin, first, (tomorrow(14), tomorrow(16)), ada)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    // After his absence: moved; the board follows.
    put_window(&app, admin, first, (tomorrow(12), tomorrow(14)), bob)
        .await
        .expect(StatusCode::OK);
    let board = app
        .get(&format!("/v1/schedule/board?day={day}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(lane(&board, bob)["jobs"][0]["ticket_id"], first.to_string());
    assert_eq!(lane(&board, ada)["jobs"].as_array().map(Vec::len), Some(1));

    // A ticket assigned to Ada cannot be booked with Bob (reassign first).
    let assigned = shop.assigned_ticket(&app, ada).await;
    let refused = put_window(&app, admin, assigned, (tomorrow(15), tomorrow(17)), bob).await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("assigned to another technician")),
        "{}",
        refused.body
    );
    // A technician of another tenant is unknown here; its board is its own.
    let other = office_hours_shop(&app, "board-other", 1).await;
    put_window(
        &app,
        admin,
        assigned,
        (tomorrow(15), tomorrow(17)),
        other.tech().id,
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let theirs = app
        .get(
            &format!("/v1/schedule/board?day={day}"),
            &other.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs["technicians"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs["technicians"][0]["jobs"], json!([]));
    app.stop().await;
}

async fn progress_bearer(app: &TestApp, tenant: Uuid, ticket: Uuid) -> String {
    let link = ProgressKey::new(&app.config.notify.link_secret).link_token(tenant, ticket);
    let reply = app
        .send(
            Method::POST,
            "/v1/public/track/sessions",
            None,
            Some(&json!({"link": link})),
        )
        .await
        .expect(StatusCode::OK);
    reply["token"].as_str().expect("token").to_owned()
}

async fn customer_slots(app: &TestApp, bearer: &str) -> Value {
    app.send(Method::GET, "/v1/public/track/slots", Some(bearer), None)
        .await
        .expect(StatusCode::OK)
}

async fn book(app: &TestApp, bearer: &str, slot: &Value) -> truckroll_tests::app::Reply {
    app.send(
        Method::POST,
        "/v1/public/track/slots",
        Some(bearer),
        Some(&json!({"starts_at": slot["starts_at"], "ends_at": slot["ends_at"]})),
    )
    .await
}

async fn told(app: &TestApp, ticket: Uuid) -> i64 {
    let raw = app.db.raw().await;
    let n = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM notify_messages WHERE ticket_id = $1 AND event = 'appointment_booked'",
            &[ticket],
        )
        .await;
    raw.close().await;
    n
}

async fn a_customer_picks_an_offered_slot_only_where_the_tenant_allows_it(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
    })
    .await;
    let shop = office_hours_shop(&app, "pick", 1).await;
    let admin = &shop.tenant.admin_token;
    let tech = shop.tech().id;
    let mine = id_of(&shop.ticket(&app, "P3").await, "id");
    let neighbour_ticket = shop.ticket(&app, "P3").await;
    let neighbour = id_of(&neighbour_ticket, "id");
    let neighbour_number = neighbour_ticket["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let bearer = progress_bearer(&app, shop.tenant.id, mine).await;

    // Off by default: nothing offered, booking refused.
    let tenant = app.get("/v1/tenant", admin).await.expect(StatusCode::OK);
    assert_eq!(tenant["customer_slot_choice"], false);
    let view = customer_slots(&app, &bearer).await;
    assert_eq!(view["allowed"], false);
    assert_eq!(view["slots"], json!([]));
    let any = json!({"starts_at": rfc3339(tomorrow(8)), "ends_at": rfc3339(tomorrow(10))});
    book(&app, &bearer, &any)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send(Method::GET, "/v1/public/track/slots", None, None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Only an admin turns it on, through the tenant settings.
    let dispatcher = app
        .login(
            &shop.tenant.name,
            &format!("dispatch@{}.test", shop.tenant.name),
        )
        .await;
    app.patch(
        "/v1/tenant",
        &dispatcher,
        &json!({"customer_slot_choice": true}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.patch("/v1/tenant", admin, &json!({"customer_slot_choice": "yes"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let turned = app
        .patch("/v1/tenant", admin, &json!({"customer_slot_choice": true}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(turned["customer_slot_choice"], true);

    // Times only: no technician, no other customer's ticket.
    let view = customer_slots(&app, &bearer).await;
    assert_eq!(view["allowed"], true);
    assert_eq!(view["time_zone"], "UTC");
    let slots = view["slots"].as_array().cloned().expect("slots");
    assert!(slots.len() >= 2, "{view}");
    for slot in &slots {
        let mut keys: Vec<&String> = slot.as_object().expect("slot").keys().collect();
        keys.sort();
        assert_eq!(keys, ["ends_at", "starts_at"], "{slot}");
        assert_eq!(
            time_of(slot, "ends_at") - time_of(slot, "starts_at"),
            Duration::hours(2)
        );
    }
    let starts: Vec<DateTime<Utc>> = slots.iter().map(|s| time_of(s, "starts_at")).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "soonest first: {starts:?}"
    );

    // The neighbour's booking takes the first slot: the customer's pick of
    // it is refused readably, and nothing of the neighbour is changed.
    let taken = &slots[0];
    put_window(
        &app,
        admin,
        neighbour,
        (time_of(taken, "starts_at"), time_of(taken, "ends_at")),
        tech,
    )
    .await
    .expect(StatusCode::OK);
    let refused = book(&app, &bearer, taken).await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no longer free") && !d.contains(&neighbour_number)),
        "{}",
        refused.body
    );
    let neighbours = app
        .get(&format!("/v1/tickets/{neighbour}/window"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        time_of(&neighbours, "starts_at"),
        time_of(taken, "starts_at")
    );
    // A window never offered (not on the grid) is refused too; a bad one is 422.
    let off_grid = json!({"starts_at": rfc3339(tomorrow(8) + Duration::minutes(7)), "ends_at": rfc3339(tomorrow(10) + Duration::minutes(7))});
    book(&app, &bearer, &off_grid)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    let backwards = json!({"starts_at": rfc3339(tomorrow(10)), "ends_at": rfc3339(tomorrow(8))});
    book(&app, &bearer, &backwards)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // A free one: booked for this ticket with the technician, told like any booking.
    let view = customer_slots(&app, &bearer).await;
    let pick = view["slots"][0].clone();
    assert_ne!(pick, *taken);
    let booked = book(&app, &bearer, &pick).await.expect(StatusCode::OK);
    assert_eq!(booked, pick);
    let window = app
        .get(&format!("/v1/tickets/{mine}/window"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(window["technician_id"], tech.to_string());
    assert_eq!(window["source"], "slot");
    assert_eq!(time_of(&window, "starts_at"), time_of(&pick, "starts_at"));
    assert_eq!(told(&app, mine).await, 1);
    let view = customer_slots(&app, &bearer).await;
    assert_eq!(view["window"], pick);
    let progress = app
        .send(Method::GET, "/v1/public/track", Some(&bearer), None)
        .await
        .expect(StatusCode::OK);
    assert!(progress["appointment_window"].is_string(), "{progress}");

    // Another tenant that does not allow it: its customer is refused even
    // though this tenant allows it.
    let other = office_hours_shop(&app, "pick-other", 1).await;
    let theirs = id_of(&other.ticket(&app, "P3").await, "id");
    let their_bearer = progress_bearer(&app, other.tenant.id, theirs).await;
    assert_eq!(customer_slots(&app, &their_bearer).await["allowed"], false);
    book(&app, &their_bearer, &pick)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Once the technician is on the way, the time is no longer the customer's.
    shop.assign(&app, mine, tech).await;
    for status in ["accepted", "en_route"] {
        app.patch(
            &format!("/v1/tickets/{mine}"),
            &shop.tech().token,
            &json!({"status": status}),
        )
        .await
        .expect(StatusCode::OK);
    }
    assert_eq!(customer_slots(&app, &bearer).await["allowed"], false);
    book(&app, &bearer, &pick)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    app.stop().await;
}

/// `PUT /v1/tickets/{ticket}/window` promised to the customer, with nobody.
async fn promise(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) {
    app.send(
        Method::PUT,
        &format!("/v1/tickets/{ticket}/window"),
        Some(token),
        Some(&json!({"starts_at": rfc3339(from), "ends_at": rfc3339(to)})),
    )
    .await
    .expect(StatusCode::OK);
}

fn unassigned_ids(board: &Value) -> Vec<Uuid> {
    board["unassigned"]
        .as_array()
        .unwrap_or_else(|| panic!("no unassigned in {board}"))
        .iter()
        .map(|job| id_of(job, "ticket_id"))
        .collect()
}

async fn promised_windows_without_a_technician_are_the_unassigned_lane(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = office_hours_shop(&app, "waiting", 2).await;
    let admin = &shop.tenant.admin_token;
    let (ada, bob) = (shop.techs[0].id, shop.techs[1].id);
    let day = tomorrow(0).date_naive().format("%Y-%m-%d").to_string();
    let board_of = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/v1/schedule/board?{query}"), admin)
                .await
                .expect(StatusCode::OK)
        }
    };

    // Two promised 9–12 and 10–12 (they may overlap: nobody is booked), one
    // booked with Ada, one assigned to Ada with a plain promise (it occupies
    // her), one promised and then cancelled, one promised the day after.
    let early = shop.ticket(&app, "P2").await;
    let (early, early_number) = (id_of(&early, "id"), early["number"].clone());
    let late = id_of(&shop.ticket(&app, "P3").await, "id");
    let with_ada = id_of(&shop.ticket(&app, "P3").await, "id");
    let assigned = shop.assigned_ticket(&app, ada).await;
    let cancelled = id_of(&shop.ticket(&app, "P3").await, "id");
    let next_day = id_of(&shop.ticket(&app, "P3").await, "id");
    promise(&app, admin, late, (tomorrow(10), tomorrow(12))).await;
    promise(&app, admin, early, (tomorrow(9), tomorrow(12))).await;
    put_window(&app, admin, with_ada, (tomorrow(13), tomorrow(15)), ada)
        .await
        .expect(StatusCode::OK);
    promise(&app, admin, assigned, (tomorrow(8), tomorrow(9))).await;
    promise(&app, admin, cancelled, (tomorrow(9), tomorrow(10))).await;
    app.patch(
        &format!("/v1/tickets/{cancelled}"),
        admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    promise(&app, admin, next_day, (tomorrow(33), tomorrow(35))).await;
    app.post(&format!("/v1/technicians/{bob}/absences"), admin,
             &json!({"kind": "training", "starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(12))}))
        .await
        .expect(StatusCode::CREATED);
    // Another tenant's promise is not on this board.
    let other = office_hours_shop(&app, "waiting-other", 1).await;
    let theirs = id_of(&other.ticket(&app, "P3").await, "id");
    promise(
        &app,
        &other.tenant.admin_token,
        theirs,
        (tomorrow(9), tomorrow(11)),
    )
    .await;

    let board = board_of(format!("day={day}")).await;
    assert_eq!(unassigned_ids(&board), vec![early, late], "{board}");
    let job = &board["unassigned"][0];
    assert_eq!(job["number"], early_number);
    assert_eq!(job["title"], "Chiller");
    assert_eq!(job["status"], "new");
    assert_eq!(job["priority"], "P2");
    assert_eq!(job["assignee_id"], Value::Null);
    assert_eq!(job["booked_with"], Value::Null);
    assert_eq!(job["travel_minutes"], Value::Null);
    assert_eq!(time_of(job, "starts_at"), tomorrow(9));
    assert_eq!(time_of(job, "ends_at"), tomorrow(12));
    assert_eq!(job["duration_minutes"], 60);
    let ada_jobs: Vec<Uuid> = lane(&board, ada)["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| id_of(j, "ticket_id"))
        .collect();
    assert_eq!(ada_jobs, vec![assigned, with_ada]);
    // The week holds the next day's promise too.
    let week = board_of(format!("day={day}&days=7")).await;
    assert_eq!(unassigned_ids(&week), vec![early, late, next_day]);
    let theirs_board = app
        .get(
            &format!("/v1/schedule/board?day={day}"),
            &other.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(unassigned_ids(&theirs_board), vec![theirs]);

    // Dragged onto a technician = booked with them, with the API's refusals:
    // Bob is absent then; Ada's 13–15 job overlaps.
    let refused = put_window(&app, admin, early, (tomorrow(9), tomorrow(12)), bob).await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("absent (training)")),
        "{}",
        refused.body
    );
    put_window(&app, admin, early, (tomorrow(14), tomorrow(16)), ada)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    let board = board_of(format!("day={day}")).await;
    assert_eq!(unassigned_ids(&board), vec![early, late]);
    // After Bob's training: booked with him; it leaves the unassigned lane.
    put_window(&app, admin, early, (tomorrow(12), tomorrow(15)), bob)
        .await
        .expect(StatusCode::OK);
    let board = board_of(format!("day={day}")).await;
    assert_eq!(unassigned_ids(&board), vec![late]);
    assert_eq!(lane(&board, bob)["jobs"][0]["ticket_id"], early.to_string());
    assert_eq!(lane(&board, bob)["jobs"][0]["booked_with"], bob.to_string());
    app.stop().await;
}
