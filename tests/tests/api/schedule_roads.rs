//! Bookable slots, the customer's pick, booking's re-check and the board's
//! driving follow the configured road network (issue 20, item 5), as day
//! plans do: a local OSRM-format peer answers a much longer road time for
//! the technician who is nearer as the crow flies, and every slot goes to
//! the other one; when the peer is down, slots are still offered, by the
//! great-circle estimate, and the answer says so.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_server::notify::ProgressKey;
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    fixtures::{Shop, rfc3339, time_of, tomorrow},
};
use uuid::Uuid;

use super::osrm_peer::OsrmPeer;

backend_tests!(slots_follow_the_road_network_and_are_estimated_when_it_is_down);

/// The nearer technician's home (the shop's technician 0).
const NEAR_HOME: (f64, f64) = (52.52, 13.40);
/// Road seconds from or to the nearer technician's home: a river between.
const NEAR_ROAD_S: f64 = 5400.0;
/// Road seconds of every other leg.
const OTHER_ROAD_S: f64 = 1500.0;

fn at_near_home((lat, lon): (f64, f64)) -> bool {
    (lat - NEAR_HOME.0).abs() < 1e-6 && (lon - NEAR_HOME.1).abs() < 1e-6
}

async fn slot_list(app: &TestApp, path: &str, token: &str) -> Value {
    app.get(path, token).await.expect(StatusCode::OK)
}

fn slots_of(list: &Value) -> Vec<Value> {
    list["slots"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("slots in {list}"))
}

async fn slots_follow_the_road_network_and_are_estimated_when_it_is_down(backend: TestBackend) {
    let mut peer = OsrmPeer::start(|from, to| {
        let seconds = if at_near_home(from) || at_near_home(to) {
            NEAR_ROAD_S
        } else {
            OTHER_ROAD_S
        };
        Some((seconds, seconds * 10.0))
    })
    .await;
    let osrm_url = peer.url.clone();
    let app = TestApp::start_with(backend, move |config| {
        config.schedule.osrm_url = Some(osrm_url);
        config.egress.allow = vec!["127.0.0.1".into()];
        config.notify.worker_enabled = false;
    })
    .await;
    // Technician 0 at (52.52, 13.40), 1.5 km from the site as the crow
    // flies; technician 1 six kilometres north. Both work 08–17 UTC.
    let shop = Shop::builder(&app, "roads-slots")
        .skilled()
        .spaced(0.05)
        .capacity(10)
        .technicians(2)
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let shifts: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "08:00", "end": "17:00"}))
        .collect();
    for tech in &shop.techs {
        app.patch(
            &format!("/v1/technicians/{}", tech.id),
            admin,
            &json!({"shifts": shifts}),
        )
        .await
        .expect(StatusCode::OK);
    }
    let (near, far) = (shop.techs[0].id, shop.techs[1].id);
    let first = id_of(&shop.ticket(&app, "P3").await, "id");

    // By road the far technician adds 2 × 25 min, the near one 2 × 90 min:
    // every window goes to the far one (by great circle, the near one wins
    // them all: api::schedule::slots_never_overlap_bookings…).
    let list = slot_list(
        &app,
        &format!("/v1/tickets/{first}/slots?days=3&limit=100"),
        admin,
    )
    .await;
    assert_eq!(list["travel"]["source"], "osrm", "{}", list["travel"]);
    assert!(
        list["travel"]["legs_from_network"]
            .as_u64()
            .is_some_and(|n| n >= 4),
        "{}",
        list["travel"]
    );
    let offered = slots_of(&list);
    assert!(offered.len() >= 6, "{list}");
    for slot in &offered {
        assert_eq!(id_of(slot, "technician_id"), far, "{slot}");
        assert_eq!(slot["added_travel_minutes"].as_f64(), Some(50.0), "{slot}");
    }
    let asked = peer.hits();
    assert!(asked >= 1);
    // The same question again: from the replica's cache, nothing asked.
    let again = slot_list(
        &app,
        &format!("/v1/tickets/{first}/slots?days=3&limit=100"),
        admin,
    )
    .await;
    assert_eq!(slots_of(&again), offered);
    assert_eq!(peer.hits(), asked);

    // Booking re-checks by road: 08–10 with the near technician would fit
    // by great circle (3 min away) but not by road (arrives 09:30 for an
    // hour's work), so it is refused; with the far one it is booked.
    let (eight, ten) = (rfc3339(tomorrow(8)), rfc3339(tomorrow(10)));
    let refused = app
        .post(
            &format!("/v1/tickets/{first}/slots/book"),
            admin,
            &json!({"starts_at": eight, "ends_at": ten, "technician_id": near}),
        )
        .await;
    refused.expect_problem(StatusCode::CONFLICT, "conflict");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not offered")),
        "{}",
        refused.body
    );
    let booked = app
        .post(
            &format!("/v1/tickets/{first}/slots/book"),
            admin,
            &json!({"starts_at": eight, "ends_at": ten, "technician_id": far}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&booked, "technician_id"), far);

    // Slots for a site and a duration, no ticket yet: by road too.
    let site_list = slot_list(
        &app,
        &format!(
            "/v1/schedule/slots?site_id={}&duration_minutes=60&days=3",
            shop.site
        ),
        admin,
    )
    .await;
    assert_eq!(site_list["travel"]["source"], "osrm", "{site_list}");
    assert!(
        slots_of(&site_list)
            .iter()
            .all(|slot| id_of(slot, "technician_id") == far),
        "{site_list}"
    );

    // The board's driving before the booked job: the road's 25 minutes.
    let day = tomorrow(0).date_naive().format("%Y-%m-%d").to_string();
    let board = app
        .get(&format!("/v1/schedule/board?day={day}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(board["travel"]["source"], "osrm", "{}", board["travel"]);
    let far_lane = board["technicians"]
        .as_array()
        .and_then(|lanes| lanes.iter().find(|l| l["technician_id"] == far.to_string()))
        .unwrap_or_else(|| panic!("far lane in {board}"));
    assert_eq!(far_lane["jobs"][0]["ticket_id"], first.to_string());
    assert_eq!(far_lane["jobs"][0]["travel_from"], "home");
    assert_eq!(far_lane["jobs"][0]["travel_minutes"], 25, "{far_lane}");

    // The customer's pick on the progress page: the window is booked with
    // the technician the road favours.
    app.patch("/v1/tenant", admin, &json!({"customer_slot_choice": true}))
        .await
        .expect(StatusCode::OK);
    let second = id_of(&shop.ticket(&app, "P3").await, "id");
    let bearer = progress_bearer(&app, shop.tenant.id, second).await;
    let view = app
        .send(Method::GET, "/v1/public/track/slots", Some(&bearer), None)
        .await
        .expect(StatusCode::OK);
    let pick = view["slots"][0].clone();
    assert!(pick.is_object(), "{view}");
    app.send(
        Method::POST,
        "/v1/public/track/slots",
        Some(&bearer),
        Some(&json!({"starts_at": pick["starts_at"], "ends_at": pick["ends_at"]})),
    )
    .await
    .expect(StatusCode::OK);
    let window = app
        .get(&format!("/v1/tickets/{second}/window"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&window, "technician_id"), far, "{window}");
    assert_eq!(time_of(&window, "starts_at"), time_of(&pick, "starts_at"));

    // The network goes down; a ticket at a new site needs new legs: slots
    // are still offered, by great circle (so the near technician is back),
    // and the answer says why; the customer is offered times too.
    peer.stop().await;
    let north = site_north(&app, &shop, 0.01).await;
    let third = ticket_at(&app, &shop, north).await;
    let down = slot_list(
        &app,
        &format!("/v1/tickets/{third}/slots?days=3&limit=100"),
        admin,
    )
    .await;
    assert_eq!(
        down["travel"]["source"], "great_circle",
        "{}",
        down["travel"]
    );
    let detail = down["travel"]["detail"].as_str().expect("detail");
    assert!(detail.contains("was not used"), "{detail}");
    let offered = slots_of(&down);
    assert!(!offered.is_empty(), "{down}");
    assert!(
        offered
            .iter()
            .any(|slot| id_of(slot, "technician_id") == near),
        "by great circle the near technician is offered again: {down}"
    );
    let bearer = progress_bearer(&app, shop.tenant.id, third).await;
    let view = app
        .send(Method::GET, "/v1/public/track/slots", Some(&bearer), None)
        .await
        .expect(StatusCode::OK);
    assert!(
        view["slots"].as_array().is_some_and(|s| !s.is_empty()),
        "{view}"
    );
    // Booking re-checks with the same estimate: a great-circle slot books.
    let slot = &offered[0];
    app.post(
        &format!("/v1/tickets/{third}/slots/book"),
        admin,
        &json!({"starts_at": slot["starts_at"], "ends_at": slot["ends_at"], "technician_id": slot["technician_id"]}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        time_of(slot, "ends_at") - time_of(slot, "starts_at") == Duration::hours(2),
        "{slot}"
    );
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

/// A second site of the shop's customer, `north` degrees north of the first.
async fn site_north(app: &TestApp, shop: &Shop, north: f64) -> Uuid {
    let admin = &shop.tenant.admin_token;
    let first = app
        .get(&format!("/v1/sites/{}", shop.site), admin)
        .await
        .expect(StatusCode::OK);
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({"customer_id": first["customer_id"], "name": format!("North {north}"), "address": "Somewhere 1",
                    "location": {"lat": 52.5163 + north, "lon": 13.3795}}),
        )
        .await
        .expect(StatusCode::CREATED);
    id_of(&site, "id")
}

async fn ticket_at(app: &TestApp, shop: &Shop, site: Uuid) -> Uuid {
    let body = json!({"title": "Chiller", "category": "hvac", "priority": "P3", "site_id": site});
    id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}
