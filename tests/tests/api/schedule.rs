//! Scheduling (issue 20): appointment windows on tickets (booked, moved,
//! cancelled: audited and told to the customer), durations per category,
//! absences and holidays taking technicians out of candidates and batch
//! assignment, bookable slots that never overlap bookings, and booking one.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::{Shop, error_fields, rfc3339, time_of, tomorrow},
};
use uuid::Uuid;

backend_tests!(
    window_is_booked_moved_cancelled_audited_and_told,
    absences_and_holidays_take_technicians_out_of_dispatch,
    slots_never_overlap_bookings_and_booking_sets_the_window,
    day_plan_is_applied_once_and_the_phone_gets_its_ordered_day,
    applying_a_plan_under_a_manual_assignment_is_all_or_nothing,
    maintenance_plan_makes_each_visit_once_across_restarts_and_replicas,
    day_plan_drives_by_the_road_network_and_estimates_when_it_is_down,
    a_p1_or_sla_bound_job_is_planned_when_capacity_is_short,
    an_urgent_job_is_inserted_into_the_applied_plan_and_the_answer_says_what_moved,
    a_lunch_break_is_kept_by_slots_and_day_plans,
    a_break_in_the_middle_of_a_full_day_is_planned_by_the_solver
);

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> truckroll_tests::app::Reply {
    app.send(Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> truckroll_tests::app::Reply {
    app.send(Method::DELETE, path, Some(token), None).await
}

async fn count(app: &TestApp, sql: &str, ids: &[Uuid]) -> i64 {
    let raw = app.db.raw().await;
    let n = raw.scalar_i64(sql, ids).await;
    raw.close().await;
    n
}

async fn window_is_booked_moved_cancelled_audited_and_told(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "windows").skilled().build().await;
    let admin = &shop.tenant.admin_token;
    // The customer can be reached by email.
    let site = app
        .get(&format!("/v1/sites/{}", shop.site), admin)
        .await
        .expect(StatusCode::OK);
    let customer = id_of(&site, "customer_id");
    app.patch(
        &format!("/v1/customers/{customer}"),
        admin,
        &json!({"email": "hotel@example.com"}),
    )
    .await
    .expect(StatusCode::OK);
    put(
        &app,
        "/v1/schedule/durations/hvac",
        admin,
        &json!({"minutes": 90}),
    )
    .await
    .expect(StatusCode::OK);
    let durations = app
        .get("/v1/schedule/durations", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(durations, json!([{"category": "hvac", "minutes": 90}]));

    let ticket = id_of(&shop.ticket(&app, "P3").await, "id");
    let path = format!("/v1/tickets/{ticket}/window");
    delete(&app, &path, admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&path, admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Refused: backwards, shorter than the category's 90 minutes, in the past.
    let refused = [
        (
            json!({"starts_at": rfc3339(tomorrow(11)), "ends_at": rfc3339(tomorrow(9))}),
            "ends_at",
        ),
        (
            json!({"starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(10))}),
            "ends_at",
        ),
        (
            json!({"starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(10)), "duration_minutes": 90}),
            "duration_minutes",
        ),
        (
            json!({"starts_at": rfc3339(tomorrow(-48)), "ends_at": rfc3339(tomorrow(-47))}),
            "ends_at",
        ),
        (
            json!({"starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(11)), "duration_minutes": 2}),
            "duration_minutes",
        ),
    ];
    for (body, field) in refused {
        let reply = put(&app, &path, admin, &body).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(
            error_fields(&reply).contains(&field.to_owned()),
            "{body}: {}",
            reply.body
        );
    }
    // A technician may not book.
    let body = json!({"starts_at": rfc3339(tomorrow(9)), "ends_at": rfc3339(tomorrow(11))});
    put(&app, &path, &shop.tech().token, &body)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let booked = put(&app, &path, admin, &body).await.expect(StatusCode::OK);
    assert_eq!(booked["duration_minutes"], 90, "{booked}");
    assert_eq!(booked["source"], "manual");
    assert_eq!(time_of(&booked, "starts_at"), tomorrow(9));
    assert_eq!(app.get(&path, admin).await.expect(StatusCode::OK), booked);
    // Booking the same window again tells the customer nothing new.
    put(&app, &path, admin, &body).await.expect(StatusCode::OK);
    let moved_body = json!({"starts_at": rfc3339(tomorrow(13)), "ends_at": rfc3339(tomorrow(16)), "duration_minutes": 120});
    let moved = put(&app, &path, admin, &moved_body)
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["duration_minutes"], 120);
    assert_eq!(time_of(&moved, "ends_at"), tomorrow(16));

    // Another tenant sees nothing.
    let other = app.create_tenant("windows-other").await;
    app.get(&path, &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    put(&app, &path, &other.admin_token, &body)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    delete(&app, &path, admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get(&path, admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    let audit = |action: &'static str| {
        let app = &app;
        async move {
            count(
                app,
                &format!(
                    "SELECT COUNT(*) FROM audit_log WHERE entity_id = $1 AND action = '{action}'"
                ),
                &[ticket],
            )
            .await
        }
    };
    assert_eq!(audit("ticket.window_booked").await, 1);
    assert_eq!(audit("ticket.window_moved").await, 2);
    assert_eq!(audit("ticket.window_cancelled").await, 1);
    let told = |event: &'static str| {
        let app = &app;
        async move {
            count(app, &format!("SELECT COUNT(*) FROM notify_messages WHERE ticket_id = $1 AND event = '{event}'"), &[ticket]).await
        }
    };
    assert_eq!(told("appointment_booked").await, 2, "booked, then moved");
    assert_eq!(told("appointment_cancelled").await, 1);

    // A cancelled ticket's window cannot change.
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    put(&app, &path, admin, &body)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    app.stop().await;
}

async fn candidate_ids(app: &TestApp, ticket: Uuid, token: &str) -> Vec<Uuid> {
    app.get(&format!("/v1/tickets/{ticket}/candidates?k=5"), token)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| id_of(c, "technician_id"))
        .collect()
}

async fn absences_and_holidays_take_technicians_out_of_dispatch(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "absent")
        .skilled()
        .spaced(0.01)
        .technicians(2)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let (near, far) = (shop.techs[0].id, shop.techs[1].id);
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");
    assert_eq!(candidate_ids(&app, ticket, admin).await, [near, far]);

    // Refused absences.
    let path = format!("/v1/technicians/{near}/absences");
    let now = Utc::now();
    for (body, field) in [
        (
            json!({"kind": "sickness", "starts_at": rfc3339(now), "ends_at": rfc3339(now - Duration::hours(1))}),
            "ends_at",
        ),
        (
            json!({"kind": "sickness", "starts_at": rfc3339(now), "ends_at": rfc3339(now + Duration::hours(1)), "from_day": "2026-12-24"}),
            "starts_at",
        ),
        (
            json!({"kind": "training", "from_day": "2026-12-24", "to_day": "2026-12-20"}),
            "to_day",
        ),
    ] {
        let reply = app.post(&path, admin, &body).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(error_fields(&reply), [field], "{body}: {}", reply.body);
    }
    let reply = app
        .post(
            &path,
            admin,
            &json!({"kind": "nap", "from_day": "2026-12-24"}),
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.body);
    app.post(
        &format!("/v1/technicians/{}/absences", Uuid::now_v7()),
        admin,
        &json!({"kind": "holiday", "from_day": "2026-12-24"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.post(
        &path,
        &shop.tech().token,
        &json!({"kind": "holiday", "from_day": "2026-12-24"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Sick for the next hours (part of a day): out of candidates and batch.
    let sick = app
        .post(
            &path,
            admin,
            &json!({"kind": "sickness", "starts_at": rfc3339(now - Duration::hours(1)),
                                     "ends_at": rfc3339(now + Duration::hours(4)), "note": "flu"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let listed = app.get(&path, admin).await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(candidate_ids(&app, ticket, admin).await, [far]);
    let batch = app
        .post(
            "/v1/dispatch/batch",
            admin,
            &json!({"ticket_ids": [ticket], "dry_run": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&batch["plan"][0], "technician_id"), far, "{batch}");

    // Today a holiday of the tenant (UTC): nobody.
    let today = now.date_naive().format("%Y-%m-%d").to_string();
    put(
        &app,
        &format!("/v1/holidays/{today}"),
        admin,
        &json!({"name": "Founders' day"}),
    )
    .await
    .expect(StatusCode::OK);
    let holidays = app.get("/v1/holidays", admin).await.expect(StatusCode::OK);
    assert_eq!(holidays, json!([{"day": today, "name": "Founders' day"}]));
    put(
        &app,
        &format!("/v1/holidays/{today}"),
        &shop.tech().token,
        &json!({"name": "x"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(candidate_ids(&app, ticket, admin).await.is_empty());
    let batch = app
        .post(
            "/v1/dispatch/batch",
            admin,
            &json!({"ticket_ids": [ticket], "dry_run": true}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(batch["plan"], json!([]), "{batch}");
    delete(&app, &format!("/v1/holidays/{today}"), admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    delete(&app, &format!("/v1/holidays/{today}"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Well again.
    let absence = id_of(&sick, "id");
    delete(&app, &format!("{path}/{absence}"), admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(candidate_ids(&app, ticket, admin).await, [near, far]);
    let audited = count(
        &app,
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('technician.absence_added', 'technician.absence_removed', 'tenant.holiday_set', 'tenant.holiday_removed') AND tenant_id = $1",
        &[shop.tenant.id],
    )
    .await;
    assert_eq!(audited, 4);
    app.stop().await;
}

async fn slots(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let reply = app.get(path, token).await.expect(StatusCode::OK);
    reply["slots"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("slots in {reply}"))
}

async fn slots_never_overlap_bookings_and_booking_sets_the_window(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "slots")
        .skilled()
        .spaced(0.05)
        .technicians(2)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let (near, far) = (shop.techs[0].id, shop.techs[1].id);
    let first = id_of(&shop.ticket(&app, "P3").await, "id");
    let second = id_of(&shop.ticket(&app, "P3").await, "id");

    for query in ["days=0", "days=15", "window_minutes=20", "limit=0"] {
        let reply = app
            .get(&format!("/v1/tickets/{first}/slots?{query}"), admin)
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    app.get(&format!("/v1/tickets/{first}/slots"), &shop.tech().token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let now = Utc::now();
    let offered = slots(
        &app,
        &format!("/v1/tickets/{first}/slots?days=2&limit=100"),
        admin,
    )
    .await;
    assert!(!offered.is_empty());
    let mut last_added = f64::MIN;
    for slot in &offered {
        let (start, end) = (time_of(slot, "starts_at"), time_of(slot, "ends_at"));
        assert!(
            start >= now - Duration::seconds(5) && end - start == Duration::hours(2),
            "{slot}"
        );
        let added = slot["added_travel_minutes"].as_f64().expect("added travel");
        assert!(added >= last_added, "ranked by added travel: {offered:?}");
        last_added = added;
        assert!(
            slot["reason"]
                .as_str()
                .is_some_and(|r| r.contains("min of driving")),
            "{slot}"
        );
    }
    // The nearer technician adds less driving.
    assert_eq!(id_of(&offered[0], "technician_id"), near, "{}", offered[0]);

    let pick = &offered[0];
    let booked = app
        .post(&format!("/v1/tickets/{first}/slots/book"), admin,
              &json!({"starts_at": pick["starts_at"], "ends_at": pick["ends_at"], "technician_id": near}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(booked["source"], "slot");
    assert_eq!(id_of(&booked, "technician_id"), near);
    let (taken_start, taken_end) = (time_of(&booked, "starts_at"), time_of(&booked, "ends_at"));

    // The second ticket's slots never overlap the first's window for that technician.
    let again = slots(
        &app,
        &format!("/v1/tickets/{second}/slots?days=2&limit=100"),
        admin,
    )
    .await;
    assert!(!again.is_empty());
    for slot in &again {
        if id_of(slot, "technician_id") == near {
            let (start, end) = (time_of(slot, "starts_at"), time_of(slot, "ends_at"));
            assert!(
                end <= taken_start || start >= taken_end,
                "{slot} overlaps {booked}"
            );
        }
    }
    // Booking the taken window with the same technician is refused, by the
    // slot check and by the store's overlap guard.
    let same =
        json!({"starts_at": pick["starts_at"], "ends_at": pick["ends_at"], "technician_id": near});
    app.post(&format!("/v1/tickets/{second}/slots/book"), admin, &same)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    put(&app, &format!("/v1/tickets/{second}/window"), admin, &same)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");

    // Absent for the next three days: no slots with them at all.
    app.post(&format!("/v1/technicians/{near}/absences"), admin,
             &json!({"kind": "training", "starts_at": rfc3339(now - Duration::hours(1)), "ends_at": rfc3339(now + Duration::days(3))}))
        .await
        .expect(StatusCode::CREATED);
    let without = slots(
        &app,
        &format!("/v1/tickets/{second}/slots?days=2&limit=100"),
        admin,
    )
    .await;
    assert!(!without.is_empty());
    assert!(
        without
            .iter()
            .all(|slot| id_of(slot, "technician_id") == far),
        "{without:?}"
    );

    // Slots for a site and a duration, no ticket yet.
    let reply = app
        .get(
            &format!(
                "/v1/schedule/slots?site_id={}&duration_minutes=30&days=2&window_minutes=60",
                shop.site
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["window_minutes"], 60);
    assert!(
        reply["slots"].as_array().is_some_and(|s| !s.is_empty()),
        "{reply}"
    );
    app.stop().await;
}

/// A shop whose two technicians work 08:00–17:00 every day (UTC), capacity 10.
async fn day_shop(app: &TestApp, name: &str) -> Shop {
    let shop = Shop::builder(app, name)
        .skilled()
        .spaced(0.05)
        .capacity(10)
        .technicians(2)
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
    shop
}

fn day_after(days: i64) -> String {
    (Utc::now().date_naive() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn midnight_after(days: i64) -> DateTime<Utc> {
    tomorrow(0) + Duration::days(days - 1)
}

/// (technician, ticket, start, end) of every visit, in route order.
fn visits(plan: &Value) -> Vec<(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)> {
    plan["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .flat_map(|route| {
            let technician = id_of(route, "technician_id");
            route["visits"]
                .as_array()
                .expect("visits")
                .iter()
                .map(move |v| {
                    (
                        technician,
                        id_of(v, "ticket_id"),
                        time_of(v, "start_at"),
                        time_of(v, "end_at"),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn day_plan_is_applied_once_and_the_phone_gets_its_ordered_day(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = day_shop(&app, "dayplan").await;
    let admin = &shop.tenant.admin_token;
    let day = midnight_after(1);
    let mut tickets = Vec::new();
    for _ in 0..4 {
        tickets.push(id_of(&shop.ticket(&app, "P3").await, "id"));
    }
    // Two with promised windows tomorrow.
    let promised = [
        (
            tickets[0],
            day + Duration::hours(9),
            day + Duration::hours(11),
        ),
        (
            tickets[1],
            day + Duration::hours(13),
            day + Duration::hours(15),
        ),
    ];
    for (ticket, from, to) in promised {
        put(
            &app,
            &format!("/v1/tickets/{ticket}/window"),
            admin,
            &json!({"starts_at": rfc3339(from), "ends_at": rfc3339(to), "duration_minutes": 60}),
        )
        .await
        .expect(StatusCode::OK);
    }
    app.post(
        "/v1/schedule/plans",
        admin,
        &json!({"day": day_after(1), "max_seconds": 0}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.post(
        "/v1/schedule/plans",
        &shop.tech().token,
        &json!({"day": day_after(1)}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let plan = app
        .post(
            "/v1/schedule/plans",
            admin,
            &json!({"day": day_after(1), "max_seconds": 1}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(plan["state"], "proposed");
    assert_eq!(plan["solver"], "vrp-core 1.25");
    assert_eq!(plan["unassigned"], json!([]), "{plan}");
    let planned = visits(&plan);
    assert_eq!(planned.len(), 4, "{plan}");
    for (_, ticket, start, end) in &planned {
        assert!(
            *start >= day + Duration::hours(8) && *end <= day + Duration::hours(17),
            "{plan}"
        );
        if let Some((_, from, to)) = promised.iter().find(|(t, _, _)| t == ticket) {
            assert!(
                start >= from && end <= to,
                "{ticket} outside its window: {plan}"
            );
        }
    }
    assert!(plan["greedy_total_distance_m"].as_f64().is_some(), "{plan}");
    let id = id_of(&plan, "id");
    assert_eq!(
        app.get(&format!("/v1/schedule/plans/{id}"), admin)
            .await
            .expect(StatusCode::OK),
        plan
    );
    // Proposed only: nobody assigned yet.
    for ticket in &tickets {
        let row = app
            .get(&format!("/v1/tickets/{ticket}"), admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(row["status"], "new");
    }

    let applied = app
        .post(&format!("/v1/schedule/plans/{id}/apply"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(applied["state"], "applied");
    app.post(&format!("/v1/schedule/plans/{id}/apply"), admin, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    for (technician, ticket, start, end) in &planned {
        let row = app
            .get(&format!("/v1/tickets/{ticket}"), admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(row["status"], "assigned");
        assert_eq!(id_of(&row, "assignee_id"), *technician);
        let window = app
            .get(&format!("/v1/tickets/{ticket}/window"), admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(time_of(&window, "planned_start"), *start);
        match promised.iter().find(|(t, _, _)| t == ticket) {
            Some((_, from, _)) => {
                assert_eq!(time_of(&window, "starts_at"), *from, "the promise is kept")
            }
            None => {
                assert_eq!(window["source"], "plan");
                assert_eq!(
                    (time_of(&window, "starts_at"), time_of(&window, "ends_at")),
                    (*start, *end)
                );
            }
        }
    }

    // Each technician's phone shows the day in the plan's order.
    for (index, tech) in shop.techs.iter().enumerate() {
        let dir = truckroll_tests::TempGuard::new("truckroll-day-");
        let client = truckroll_sdk::Client::open(
            &dir.path().join("phone.db"),
            truckroll_sdk::ClientConfig::new(&app.base_url),
        )
        .await
        .expect("SDK opens");
        client
            .sign_in(
                &shop.tenant.name,
                &tech.email,
                truckroll_tests::app::PASSWORD,
            )
            .await
            .expect("signs in");
        client.sync_now().await.expect("sync");
        let day_on_phone: Vec<String> = client
            .day()
            .await
            .expect("day")
            .into_iter()
            .map(|v| v.ticket_id)
            .collect();
        let expected: Vec<String> = planned
            .iter()
            .filter(|(t, _, _, _)| *t == tech.id)
            .map(|(_, ticket, _, _)| ticket.to_string())
            .collect();
        assert_eq!(day_on_phone, expected, "technician {index}");
    }
    app.stop().await;
}

async fn propose(app: &TestApp, admin: &str, days: i64) -> Value {
    app.post(
        "/v1/schedule/plans",
        admin,
        &json!({"day": day_after(days), "max_seconds": 1}),
    )
    .await
    .expect(StatusCode::CREATED)
}

async fn applying_a_plan_under_a_manual_assignment_is_all_or_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = day_shop(&app, "planrace").await;
    let admin = shop.tenant.admin_token.clone();
    let tickets: Vec<Uuid> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(id_of(&shop.ticket(&app, "P3").await, "id"));
        }
        v
    };
    // A dispatcher assigns one of the planned tickets after planning: the
    // plan is refused whole, nothing of it is applied.
    let first = propose(&app, &admin, 2).await;
    assert_eq!(visits(&first).len(), 3, "{first}");
    let manual = shop.techs[1].id;
    shop.assign(&app, tickets[0], manual).await;
    let refused = app
        .post(
            &format!("/v1/schedule/plans/{}/apply", id_of(&first, "id")),
            &admin,
            &json!({}),
        )
        .await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    for ticket in &tickets[1..] {
        let row = app
            .get(&format!("/v1/tickets/{ticket}"), &admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(row["status"], "new", "half applied: {row}");
        app.get(&format!("/v1/tickets/{ticket}/window"), &admin)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let row = app
        .get(&format!("/v1/tickets/{}", tickets[0]), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&row, "assignee_id"), manual);

    // Racing: a fresh plan applied while a dispatcher assigns one of its
    // tickets. Either the plan lands whole (and the dispatcher's assignment
    // comes after it) or it is refused whole.
    let second = propose(&app, &admin, 2).await;
    let planned = visits(&second);
    let raced = planned
        .first()
        .map(|(_, ticket, _, _)| *ticket)
        .expect("a planned ticket");
    let apply_path = format!("/v1/schedule/plans/{}/apply", id_of(&second, "id"));
    let (empty, pick) = (json!({}), json!({"technician_id": manual}));
    let assign_path = format!("/v1/tickets/{raced}/assign");
    let (applied, assigned) = tokio::join!(
        app.post(&apply_path, &admin, &empty),
        app.post(&assign_path, &admin, &pick),
    );
    assert!(
        assigned.status == StatusCode::OK || assigned.status == StatusCode::CONFLICT,
        "{}",
        assigned.body
    );
    let others: Vec<Uuid> = planned
        .iter()
        .map(|(_, t, _, _)| *t)
        .filter(|t| *t != raced)
        .collect();
    if applied.status == StatusCode::OK {
        for (technician, ticket, _, _) in planned.iter().filter(|(_, t, _, _)| *t != raced) {
            let row = app
                .get(&format!("/v1/tickets/{ticket}"), &admin)
                .await
                .expect(StatusCode::OK);
            assert_eq!(id_of(&row, "assignee_id"), *technician);
        }
    } else {
        applied.expect_problem(StatusCode::CONFLICT, "conflict");
        for ticket in &others {
            let row = app
                .get(&format!("/v1/tickets/{ticket}"), &admin)
                .await
                .expect(StatusCode::OK);
            assert_eq!(row["status"], "new", "half applied: {row}");
        }
    }
    // Whatever won, the raced ticket has exactly one technician, counted once.
    let row = app
        .get(&format!("/v1/tickets/{raced}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert!(row["assignee_id"].is_string(), "{row}");
    let history = count(
        &app,
        "SELECT COUNT(*) FROM tickets WHERE id = $1 AND assignee_id IS NOT NULL",
        &[raced],
    )
    .await;
    assert_eq!(history, 1);
    app.stop().await;
}

async fn occurrences(app: &TestApp, plan: Uuid, token: &str) -> Value {
    app.get(&format!("/v1/maintenance/plans/{plan}"), token)
        .await
        .expect(StatusCode::OK)
}

async fn maintenance_plan_makes_each_visit_once_across_restarts_and_replicas(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.schedule.maintenance_poll_ms = 50).await;
    let shop = Shop::builder(&app, "upkeep").build().await;
    let admin = shop.tenant.admin_token.clone();
    let today = Utc::now().date_naive();
    let body = |recurrence: Value| {
        json!({
            "site_id": shop.site, "title": "Lift inspection", "category": "lifts", "priority": "P3",
            "recurrence": recurrence, "start_on": today.format("%Y-%m-%d").to_string(),
            "lead_days": 14, "window_start": "09:00", "window_minutes": 180, "duration_minutes": 45,
        })
    };
    let reply = app
        .post(
            "/v1/maintenance/plans",
            &admin,
            &body(json!({"every": "weeks", "count": 0})),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error_fields(&reply), ["recurrence.count"]);
    let other = app.create_tenant("upkeep-other").await;
    app.post(
        "/v1/maintenance/plans",
        &other.admin_token,
        &body(json!({"every": "weeks", "count": 1})),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.post(
        "/v1/maintenance/plans",
        &shop.tech().token,
        &body(json!({"every": "weeks", "count": 1})),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let plan = app
        .post(
            "/v1/maintenance/plans",
            &admin,
            &body(json!({"every": "weeks", "count": 1})),
        )
        .await
        .expect(StatusCode::CREATED);
    let plan_id = id_of(&plan, "id");
    // Today, in 7 and in 14 days: three visits made ahead, each once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let made = loop {
        let view = occurrences(&app, plan_id, &admin).await;
        if view["occurrences"].as_array().is_some_and(|o| o.len() == 3) {
            break view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "three visits expected: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for (k, occurrence) in made["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .enumerate()
    {
        let day = today + Duration::days(7 * k as i64);
        assert_eq!(occurrence["due_on"], day.format("%Y-%m-%d").to_string());
        let ticket = id_of(occurrence, "ticket_id");
        let row = app
            .get(&format!("/v1/tickets/{ticket}"), &admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(row["title"], "Lift inspection");
        let window = app
            .get(&format!("/v1/tickets/{ticket}/window"), &admin)
            .await
            .expect(StatusCode::OK);
        let nine = day.and_hms_opt(9, 0, 0).expect("09:00").and_utc();
        assert_eq!(
            (time_of(&window, "starts_at"), time_of(&window, "ends_at")),
            (nine, nine + Duration::hours(3))
        );
        assert_eq!(window["duration_minutes"], 45);
    }

    // A restart: the generator runs again and makes nothing new.
    let restarted_at = Utc::now();
    let app = app.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let view = occurrences(&app, plan_id, &admin).await;
        let checked = view["checked_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        if checked.is_some_and(|c| c.with_timezone(&Utc) > restarted_at) {
            assert_eq!(
                view["occurrences"].as_array().map(Vec::len),
                Some(3),
                "{view}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the generator did not run after the restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Two more replicas on the same database race for the same visits (the
    // clock a week ahead, so one more is due): it is made once.
    let later = Utc::now() + Duration::days(7);
    let url = app.db.database_url().to_owned();
    let (one, two) = (
        truckroll_server::store::connect(&url, 2)
            .await
            .expect("replica one"),
        truckroll_server::store::connect(&url, 2)
            .await
            .expect("replica two"),
    );
    let (bus_one, bus_two) = (
        truckroll_server::events::memory::MemoryBus::new(),
        truckroll_server::events::memory::MemoryBus::new(),
    );
    let (a, b) = tokio::join!(
        truckroll_server::schedule::maintenance::generate(one.as_ref(), &bus_one, later),
        truckroll_server::schedule::maintenance::generate(two.as_ref(), &bus_two, later),
    );
    let total = a.expect("replica one runs") + b.expect("replica two runs");
    let view = occurrences(&app, plan_id, &admin).await;
    let days = view["occurrences"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    assert_eq!(days, 4, "{view}");
    assert_eq!(total, 1, "one new visit, made once");
    let tickets = count(
        &app,
        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND title = 'Lift inspection'",
        &[shop.tenant.id],
    )
    .await;
    assert_eq!(tickets, 4);

    // Pause, resume, end; an ended plan stays ended.
    for state in ["paused", "active", "ended"] {
        let changed = app
            .patch(
                &format!("/v1/maintenance/plans/{plan_id}"),
                &admin,
                &json!({"state": state}),
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(changed["state"], state);
    }
    app.patch(
        &format!("/v1/maintenance/plans/{plan_id}"),
        &admin,
        &json!({"state": "active"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    app.stop().await;
}

/// A local peer answering OSRM's `table` service: 600 s and 7 km between
/// any two different coordinates; it counts the requests it answers.
async fn osrm_peer() -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::sync::oneshot::Sender<()>,
) {
    super::osrm_peer::OsrmPeer::uniform(600.0, 7000.0)
        .await
        .into_parts()
}

async fn plan_of(app: &TestApp, admin: &str, days: i64) -> Value {
    app.post(
        "/v1/schedule/plans",
        admin,
        &json!({"day": day_after(days), "max_seconds": 1}),
    )
    .await
    .expect(StatusCode::CREATED)
}

/// A second site of the shop's customer, `north` degrees north of the first.
async fn site_north(app: &TestApp, shop: &Shop, north: f64, tier: Option<&str>) -> Uuid {
    let admin = &shop.tenant.admin_token;
    let customer = match tier {
        Some(tier) => app
            .post(
                "/v1/customers",
                admin,
                &json!({"name": "Clinic", "tier": tier}),
            )
            .await
            .expect(StatusCode::CREATED),
        None => app
            .get(&format!("/v1/sites/{}", shop.site), admin)
            .await
            .expect(StatusCode::OK),
    };
    let customer_id = match tier {
        Some(_) => id_of(&customer, "id"),
        None => id_of(&customer, "customer_id"),
    };
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({"customer_id": customer_id, "name": format!("North {north}"), "address": "Somewhere 1",
                    "location": {"lat": 52.5163 + north, "lon": 13.3795}}),
        )
        .await
        .expect(StatusCode::CREATED);
    id_of(&site, "id")
}

async fn ticket_at(app: &TestApp, shop: &Shop, site: Uuid, priority: &str) -> Uuid {
    let body =
        json!({"title": "Chiller", "category": "hvac", "priority": priority, "site_id": site});
    id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

async fn day_plan_drives_by_the_road_network_and_estimates_when_it_is_down(backend: TestBackend) {
    let (url, hits, stop) = osrm_peer().await;
    let osrm_url = url.clone();
    let app = TestApp::start_with(backend, move |config| {
        config.schedule.osrm_url = Some(osrm_url);
        config.egress.allow = vec!["127.0.0.1".into()];
    })
    .await;
    let shop = day_shop(&app, "roads").await;
    let admin = &shop.tenant.admin_token;
    let ticket = id_of(&shop.ticket(&app, "P3").await, "id");

    let plan = plan_of(&app, admin, 1).await;
    assert_eq!(plan["travel"]["source"], "osrm", "{plan}");
    assert_eq!(plan["unassigned"], json!([]), "{plan}");
    // Two homes and one site: six legs, every one from the network.
    assert_eq!(plan["travel"]["legs_from_network"], 6, "{plan}");
    let route = &plan["routes"][0];
    assert_eq!(id_of(&route["visits"][0], "ticket_id"), ticket);
    assert_eq!(route["visits"][0]["travel_seconds"], 600, "{plan}");
    assert_eq!(route["travel_seconds"], 1200, "{plan}");
    assert_eq!(route["distance_m"].as_f64(), Some(14_000.0), "{plan}");
    assert_eq!(
        time_of(&route["visits"][0], "arrive_at"),
        midnight_after(1) + Duration::hours(8) + Duration::seconds(600)
    );
    let asked = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1);

    // The same points again: answered from the cache, no request.
    let again = plan_of(&app, admin, 1).await;
    assert_eq!(again["travel"]["source"], "osrm", "{again}");
    assert_eq!(again["travel"]["legs_cached"], 6, "{again}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), asked);

    // The network goes down; a ticket at a new site needs new legs: the
    // plan is still made, by great circle, and says why.
    stop.send(()).expect("peer stops");
    let address = url.trim_start_matches("http://").to_owned();
    while tokio::net::TcpStream::connect(&address).await.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let north = site_north(&app, &shop, 0.02, None).await;
    ticket_at(&app, &shop, north, "P3").await;
    let down = plan_of(&app, admin, 1).await;
    assert_eq!(down["travel"]["source"], "great_circle", "{down}");
    let detail = down["travel"]["detail"].as_str().expect("detail");
    assert!(detail.contains("was not used"), "{detail}");
    assert_eq!(visits(&down).len(), 2, "{down}");
    assert!(
        down["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .flat_map(|r| r["visits"].as_array().expect("visits"))
            .all(|v| v["travel_seconds"] != 600),
        "great-circle times, not the network's: {down}"
    );
    app.stop().await;

    // Loopback not allowed by `[egress]`: the network is never asked.
    let (url, hits, _stop) = osrm_peer().await;
    let app = TestApp::start_with(backend, move |config| {
        config.schedule.osrm_url = Some(url);
    })
    .await;
    let shop = day_shop(&app, "roads2").await;
    shop.ticket(&app, "P3").await;
    let refused = plan_of(&app, &shop.tenant.admin_token, 1).await;
    assert_eq!(refused["travel"]["source"], "great_circle", "{refused}");
    let detail = refused["travel"]["detail"].as_str().expect("detail");
    assert!(detail.contains("internal address"), "{detail}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(visits(&refused).len(), 1, "{refused}");
    app.stop().await;
}

/// One technician with a two-hour shift; two 90-minute jobs a day in that
/// shift, so one of them cannot be planned. The near one would be the
/// shorter drive: the far P1 one (day 1) and the far one whose SLA arrival
/// deadline falls before the day ends (day 2) are planned instead.
async fn a_p1_or_sla_bound_job_is_planned_when_capacity_is_short(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "urgent")
        .skilled()
        .capacity(10)
        .technicians(1)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "10:00"}))
        .collect();
    app.patch(
        &format!("/v1/technicians/{}", shop.techs[0].id),
        admin,
        &json!({"shifts": shifts}),
    )
    .await
    .expect(StatusCode::OK);
    // Gold customers' tickets must see a technician within an hour.
    app.post(
        "/v1/sla/policies",
        admin,
        &json!({"name": "Gold", "match": {"customer_tier": "gold"},
                "targets": {"response_minutes": 30, "arrival_minutes": 60, "resolution_minutes": 240}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let far = site_north(&app, &shop, 0.03, None).await;
    let far_gold = site_north(&app, &shop, 0.03, Some("gold")).await;
    let in_window = |ticket: Uuid, days: i64| {
        let day = midnight_after(days);
        let app = &app;
        async move {
            put(
                app,
                &format!("/v1/tickets/{ticket}/window"),
                admin,
                &json!({"starts_at": rfc3339(day + Duration::hours(8)),
                        "ends_at": rfc3339(day + Duration::hours(10)), "duration_minutes": 90}),
            )
            .await
            .expect(StatusCode::OK);
        }
    };
    let near_p4 = id_of(&shop.ticket(&app, "P4").await, "id");
    let far_p1 = ticket_at(&app, &shop, far, "P1").await;
    in_window(near_p4, 1).await;
    in_window(far_p1, 1).await;
    let near_p4_again = id_of(&shop.ticket(&app, "P4").await, "id");
    let far_p4_sla = ticket_at(&app, &shop, far_gold, "P4").await;
    in_window(near_p4_again, 2).await;
    in_window(far_p4_sla, 2).await;

    for (days, planned, left) in [(1, far_p1, near_p4), (2, far_p4_sla, near_p4_again)] {
        let plan = plan_of(&app, admin, days).await;
        let got: Vec<Uuid> = visits(&plan).iter().map(|(_, t, _, _)| *t).collect();
        assert_eq!(got, vec![planned], "day {days}: {plan}");
        assert_eq!(id_of(&plan["unassigned"][0], "ticket_id"), left, "{plan}");
        // The baseline weighs them the same way: nothing it left is heavier.
        assert_eq!(plan["greedy_unassigned"], 1, "{plan}");
    }
    app.stop().await;
}

async fn an_urgent_job_is_inserted_into_the_applied_plan_and_the_answer_says_what_moved(
    backend: TestBackend,
) {
    let app = TestApp::start(backend).await;
    let shop = day_shop(&app, "urgent-insert").await;
    let admin = &shop.tenant.admin_token;
    let day = midnight_after(1);
    // Three jobs promised "any time tomorrow", all at the shop's site.
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let ticket = id_of(&shop.ticket(&app, "P3").await, "id");
        put(
            &app,
            &format!("/v1/tickets/{ticket}/window"),
            admin,
            &json!({"starts_at": rfc3339(day + Duration::hours(8)),
                    "ends_at": rfc3339(day + Duration::hours(17)), "duration_minutes": 60}),
        )
        .await
        .expect(StatusCode::OK);
        tickets.push(ticket);
    }
    let plan = plan_of(&app, admin, 1).await;
    let plan_id = id_of(&plan, "id");
    app.post(
        &format!("/v1/schedule/plans/{plan_id}/apply"),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let before = visits(&plan);
    assert_eq!(before.len(), 3, "{plan}");

    let urgent = id_of(&shop.ticket(&app, "P1").await, "id");
    app.post(
        &format!("/v1/schedule/plans/{plan_id}/insert"),
        &shop.tech().token,
        &json!({"ticket_id": urgent}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        &format!("/v1/schedule/plans/{plan_id}/insert"),
        admin,
        &json!({"ticket_id": Uuid::now_v7()}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let answer = app
        .post(
            &format!("/v1/schedule/plans/{plan_id}/insert"),
            admin,
            &json!({"ticket_id": urgent}),
        )
        .await
        .expect(StatusCode::CREATED);
    let replanned = &answer["plan"];
    assert_eq!(replanned["state"], "proposed", "{answer}");
    assert_eq!(id_of(replanned, "replaces"), plan_id);
    let inserted = &answer["inserted"];
    assert_eq!(id_of(inserted, "ticket_id"), urgent);
    let technician = id_of(inserted, "technician_id");
    let after = visits(replanned);
    assert_eq!(after.len(), 4, "{answer}");
    // Nobody else changed technician, and the jobs kept their order.
    for (tech, ticket, _, _) in &before {
        assert!(
            after.iter().any(|(t, k, _, _)| t == tech && k == ticket),
            "{ticket} left {tech}: {answer}"
        );
    }
    let order = |visits: &[(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)]| -> Vec<Uuid> {
        visits
            .iter()
            .filter(|(t, k, _, _)| *t == technician && *k != urgent)
            .map(|(_, k, _, _)| *k)
            .collect()
    };
    assert_eq!(order(&before), order(&after), "{answer}");
    // What moved is exactly the visits whose start changed.
    let mut expected_moves: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = before
        .iter()
        .filter_map(|(_, ticket, start, _)| {
            let (_, _, new_start, _) = after.iter().find(|(_, k, _, _)| k == ticket)?;
            (new_start != start).then_some((*ticket, *start, *new_start))
        })
        .collect();
    let mut moved: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = answer["moved"]
        .as_array()
        .expect("moved")
        .iter()
        .map(|m| {
            assert_eq!(id_of(m, "technician_id"), technician);
            (
                id_of(m, "ticket_id"),
                time_of(m, "from_start"),
                time_of(m, "to_start"),
            )
        })
        .collect();
    expected_moves.sort();
    moved.sort();
    assert_eq!(moved, expected_moves, "{answer}");
    assert!(
        !moved.is_empty(),
        "the urgent job went first at the same site: {answer}"
    );

    // Applied: the urgent job assigned, the moved visits' planned starts kept.
    let new_id = id_of(replanned, "id");
    app.post(
        &format!("/v1/schedule/plans/{new_id}/apply"),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let row = app
        .get(&format!("/v1/tickets/{urgent}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&row, "assignee_id"), technician);
    for (ticket, _, to_start) in &moved {
        let window = app
            .get(&format!("/v1/tickets/{ticket}/window"), admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(time_of(&window, "planned_start"), *to_start);
    }
    app.post(
        &format!("/v1/schedule/plans/{new_id}/insert"),
        admin,
        &json!({"ticket_id": urgent}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    app.stop().await;
}

/// A technician's shift 08:00–17:00 with an hour's lunch between 12:00 and
/// 13:00: a 90-minute job cannot be promised 12:00–14:00 (slots leave it
/// out, the plan leaves it unplanned), and the planned day shows the lunch
/// between the visits.
async fn a_lunch_break_is_kept_by_slots_and_day_plans(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "lunch")
        .skilled()
        .capacity(10)
        .technicians(1)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let technician = shop.techs[0].id;
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let too_long: Vec<Value> = days
        .iter()
        .map(|day| {
            json!({"day": day, "start": "08:00", "end": "17:00",
                          "breaks": [{"after": "12:00", "before": "13:00", "minutes": 90}]})
        })
        .collect();
    let reply = app
        .send(
            Method::PATCH,
            &format!("/v1/technicians/{technician}"),
            Some(admin),
            Some(&json!({"shifts": too_long})),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        error_fields(&reply).contains(&"shifts[0].breaks[0].minutes".to_owned()),
        "{}",
        reply.body
    );
    let shifts: Vec<Value> = days
        .iter()
        .map(|day| {
            json!({"day": day, "start": "08:00", "end": "17:00",
                          "breaks": [{"after": "12:00", "before": "13:00", "minutes": 60}]})
        })
        .collect();
    let stored = app
        .patch(
            &format!("/v1/technicians/{technician}"),
            admin,
            &json!({"shifts": shifts}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(stored["shifts"][0]["breaks"][0]["minutes"], 60, "{stored}");
    put(
        &app,
        "/v1/schedule/durations/hvac",
        admin,
        &json!({"minutes": 90}),
    )
    .await
    .expect(StatusCode::OK);

    let long = id_of(&shop.ticket(&app, "P3").await, "id");
    let day = midnight_after(1);
    let offered: Vec<DateTime<Utc>> = slots(
        &app,
        &format!("/v1/tickets/{long}/slots?days=3&window_minutes=120&limit=100"),
        admin,
    )
    .await
    .iter()
    .map(|slot| time_of(slot, "starts_at"))
    .filter(|start| *start >= day && *start < day + Duration::days(1))
    .collect();
    for hour in [8, 10, 14] {
        assert!(
            offered.contains(&(day + Duration::hours(hour))),
            "{hour}:00 offered: {offered:?}"
        );
    }
    assert!(
        !offered.contains(&(day + Duration::hours(12))),
        "no 90 minutes between 12 and 14 around the lunch: {offered:?}"
    );

    put(
        &app,
        &format!("/v1/tickets/{long}/window"),
        admin,
        &json!({"starts_at": rfc3339(day + Duration::hours(12)),
                "ends_at": rfc3339(day + Duration::hours(14)), "duration_minutes": 90}),
    )
    .await
    .expect(StatusCode::OK);
    let short = id_of(&shop.ticket(&app, "P3").await, "id");
    put(
        &app,
        &format!("/v1/tickets/{short}/window"),
        admin,
        &json!({"starts_at": rfc3339(day + Duration::hours(11)),
                "ends_at": rfc3339(day + Duration::hours(15)), "duration_minutes": 60}),
    )
    .await
    .expect(StatusCode::OK);
    let plan = plan_of(&app, admin, 1).await;
    assert_eq!(id_of(&plan["unassigned"][0], "ticket_id"), long, "{plan}");
    let planned = visits(&plan);
    assert_eq!(planned.len(), 1, "{plan}");
    let (_, ticket, start, end) = planned[0];
    assert_eq!(ticket, short);
    let lunch = &plan["routes"][0]["breaks"];
    assert_eq!(lunch.as_array().map(Vec::len), Some(1), "{plan}");
    let (lunch_start, lunch_end) = (time_of(&lunch[0], "start_at"), time_of(&lunch[0], "end_at"));
    assert_eq!(lunch_end - lunch_start, Duration::minutes(60));
    assert!(lunch_start >= day + Duration::hours(12) && lunch_end <= day + Duration::hours(13));
    assert!(end <= lunch_start || start >= lunch_end, "{plan}");
    app.stop().await;
}

/// One technician 08:00–17:00 with an hour's break begun between 11:30 and
/// 12:00, and a day that only fits with the break right after the morning's
/// work: two morning jobs (08–12, 2 h and 1 h 30), then two of 2 h (from
/// 12:00 and from 13:00, until 17:00). The plan serves all four, takes the
/// break inside its times, and no visit overlaps it or leaves its window.
async fn a_break_in_the_middle_of_a_full_day_is_planned_by_the_solver(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "midbreak")
        .skilled()
        .capacity(10)
        .technicians(1)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| {
            json!({"day": day, "start": "08:00", "end": "17:00",
                   "breaks": [{"after": "11:30", "before": "13:00", "minutes": 60}]})
        })
        .collect();
    app.patch(
        &format!("/v1/technicians/{}", shop.techs[0].id),
        admin,
        &json!({"shifts": shifts}),
    )
    .await
    .expect(StatusCode::OK);
    let day = midnight_after(1);
    let mut windows = Vec::new();
    for (from, to, minutes) in [(8, 12, 120), (8, 12, 90), (12, 17, 120), (13, 17, 120)] {
        let ticket = id_of(&shop.ticket(&app, "P3").await, "id");
        let window = (day + Duration::hours(from), day + Duration::hours(to));
        put(
            &app,
            &format!("/v1/tickets/{ticket}/window"),
            admin,
            &json!({"starts_at": rfc3339(window.0), "ends_at": rfc3339(window.1),
                    "duration_minutes": minutes}),
        )
        .await
        .expect(StatusCode::OK);
        windows.push((ticket, window, Duration::minutes(minutes)));
    }
    let plan = app
        .post(
            "/v1/schedule/plans",
            admin,
            &json!({"day": day_after(1), "max_seconds": 2}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        plan["unassigned"].as_array().map(Vec::len),
        Some(0),
        "{plan}"
    );
    let planned = visits(&plan);
    assert_eq!(planned.len(), 4, "{plan}");
    let lunch = &plan["routes"][0]["breaks"];
    assert_eq!(lunch.as_array().map(Vec::len), Some(1), "{plan}");
    let (lunch_start, lunch_end) = (time_of(&lunch[0], "start_at"), time_of(&lunch[0], "end_at"));
    assert_eq!(lunch_end - lunch_start, Duration::minutes(60), "{plan}");
    assert!(
        lunch_start >= day + Duration::minutes(11 * 60 + 30)
            && lunch_end <= day + Duration::hours(13),
        "{plan}"
    );
    let mut previous_end = day + Duration::hours(8);
    for (technician, ticket, start, end) in planned {
        assert_eq!(technician, shop.techs[0].id);
        let (_, (from, to), length) = windows
            .iter()
            .find(|(t, _, _)| *t == ticket)
            .expect("a planned ticket is one of the day's");
        assert!(
            start >= *from && end <= *to,
            "{ticket} inside its window: {plan}"
        );
        assert_eq!(end - start, *length, "{plan}");
        assert!(
            start >= previous_end,
            "visits in order, not overlapping: {plan}"
        );
        assert!(
            end <= lunch_start || start >= lunch_end,
            "no visit over the break: {plan}"
        );
        previous_end = end;
    }
    assert!(
        time_of(&plan["routes"][0], "back_at") <= day + Duration::hours(17),
        "{plan}"
    );
    app.stop().await;
}
