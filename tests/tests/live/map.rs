//! `GET /v1/live`: the live map stream over a real server, as a browser
//! would use it. Every scenario runs on SQLite and on PostgreSQL.

use std::{collections::HashSet, time::Duration};

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::{events::EventsBackend, sla::SlaTimers};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, TestTenant, all_week_shifts, id_of},
    live::{Bounds, LiveClient, PATIENCE, technician_in, ticket_in},
};
use uuid::Uuid;

backend_tests!(
    snapshot_then_deltas,
    bounds_filter_what_is_sent,
    tenants_never_see_each_other,
    a_client_that_stops_reading_is_dropped_alone,
    bad_bounds_and_roles_are_refused,
    a_reconnect_gets_only_what_it_missed,
    sla_notices_reach_the_map,
);

const BERLIN: (f64, f64) = (52.5200, 13.4050);
const MUNICH: (f64, f64) = (48.1374, 11.5755);
const BERLIN_BOX: Bounds = (52.3, 13.0, 52.7, 13.8);
const MUNICH_BOX: Bounds = (48.0, 11.3, 48.3, 11.8);

struct Office {
    tenant: TestTenant,
    dispatcher: String,
    site_id: Uuid,
}

async fn office(app: &TestApp, name: &str) -> Office {
    let tenant = app.create_tenant(name).await;
    let (_, dispatcher) = app
        .create_user(&tenant, &format!("dispatch@{name}.test"), "dispatcher")
        .await;
    let site = app.berlin_site(&tenant, "standard").await;
    app.post(
        "/v1/categories",
        &tenant.admin_token,
        &json!({"name": "hvac"}),
    )
    .await
    .expect(StatusCode::CREATED);
    Office {
        site_id: id_of(&site, "id"),
        tenant,
        dispatcher,
    }
}

struct Tech {
    id: String,
    token: String,
}

async fn technician(app: &TestApp, office: &Office, email: &str, home: (f64, f64)) -> Tech {
    let (user_id, token) = app.create_user(&office.tenant, email, "technician").await;
    let created = app
        .post(
            "/v1/technicians",
            &office.tenant.admin_token,
            &json!({
                "user_id": user_id, "name": email, "time_zone": "UTC",
                "shifts": all_week_shifts(), "home_base": {"lat": home.0, "lon": home.1},
                "skills": [{"skill": "hvac", "level": 3}],
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    Tech {
        id: id_of(&created, "id").to_string(),
        token,
    }
}

async fn ping(app: &TestApp, tech: &Tech, (lat, lon): (f64, f64)) {
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    app.post(
        "/v1/me/locations",
        &tech.token,
        &json!({"pings": [{"device_time": at, "lat": lat, "lon": lon, "accuracy_m": 5.0}]}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn open_ticket(app: &TestApp, office: &Office, title: &str, priority: &str) -> String {
    let created = app
        .post(
            "/v1/tickets",
            &office.dispatcher,
            &json!({"title": title, "category": "hvac", "priority": priority, "site_id": office.site_id}),
        )
        .await
        .expect(StatusCode::CREATED);
    id_of(&created, "id").to_string()
}

fn ids(message: &Value, field: &str) -> Vec<String> {
    message[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().or(i.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn snapshot_then_deltas(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "live").await;
    let tech = technician(&app, &office, "anna@live.test", BERLIN).await;
    let first = open_ticket(&app, &office, "Chiller down", "P1").await;

    let mut live = LiveClient::connect(&app.base_url, &office.dispatcher, Some(BERLIN_BOX)).await;
    let snapshot = live.snapshot().await;
    let shown = technician_in(&snapshot, &tech.id).expect("technician in the snapshot");
    assert_eq!(shown["status"], "available");
    assert_eq!(shown["name"], "anna@live.test");
    assert_eq!(shown["load"], 0);
    let ticket = ticket_in(&snapshot, &first).expect("ticket in the snapshot");
    assert_eq!(ticket["priority"], "P1");
    assert_eq!(ticket["status"], "new");
    assert!(ticket.get("sla").is_some(), "{ticket}");
    assert!((ticket["lat"].as_f64().expect("lat") - 52.5163).abs() < 1e-6);

    // A ping moves the technician.
    ping(&app, &tech, (52.5300, 13.4100)).await;
    let moved = live
        .until(
            |_| {},
            |m| technician_in(m, &tech.id).is_some_and(|t| t["lat"].as_f64() == Some(52.53)),
        )
        .await;
    assert_eq!(moved["type"], "delta");

    // A new ticket appears; an assignment changes the ticket and the load.
    let second = open_ticket(&app, &office, "Leak", "P3").await;
    live.until(|_| {}, |m| ticket_in(m, &second).is_some())
        .await;
    app.post(
        &format!("/v1/tickets/{first}/assign"),
        &office.dispatcher,
        &json!({"technician_id": tech.id}),
    )
    .await
    .expect(StatusCode::OK);
    let mut loaded = false;
    live.until(
        |m| loaded |= technician_in(m, &tech.id).is_some_and(|t| t["load"] == 1),
        |m| {
            ticket_in(m, &first)
                .is_some_and(|t| t["status"] == "assigned" && t["assignee_id"] == tech.id.as_str())
        },
    )
    .await;
    if !loaded {
        live.until(
            |_| {},
            |m| technician_in(m, &tech.id).is_some_and(|t| t["load"] == 1),
        )
        .await;
    }

    // Cancelled: it leaves the map.
    app.patch(
        &format!("/v1/tickets/{second}"),
        &office.dispatcher,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    live.until(|_| {}, |m| ids(m, "gone_tickets").contains(&second))
        .await;
    app.stop().await;
}

async fn bounds_filter_what_is_sent(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "bounds").await;
    let berlin = technician(&app, &office, "b@bounds.test", BERLIN).await;
    let munich = technician(&app, &office, "m@bounds.test", MUNICH).await;

    let mut live = LiveClient::connect(&app.base_url, &office.dispatcher, Some(BERLIN_BOX)).await;
    let snapshot = live.snapshot().await;
    assert!(technician_in(&snapshot, &berlin.id).is_some());
    assert!(technician_in(&snapshot, &munich.id).is_none(), "{snapshot}");

    // Munich moves first, then Berlin: only Berlin's move arrives.
    ping(&app, &munich, (48.14, 11.58)).await;
    ping(&app, &berlin, (52.51, 13.39)).await;
    let mut seen = HashSet::new();
    live.until(
        |m| seen.extend(ids(m, "technicians")),
        |m| technician_in(m, &berlin.id).is_some_and(|t| t["lat"].as_f64() == Some(52.51)),
    )
    .await;
    assert!(!seen.contains(&munich.id), "outside the bounds: {seen:?}");

    // New bounds at any time: a snapshot of Munich.
    live.set_bounds(MUNICH_BOX).await;
    let snapshot = live.snapshot().await;
    assert!(technician_in(&snapshot, &munich.id).is_some(), "{snapshot}");
    assert!(technician_in(&snapshot, &berlin.id).is_none(), "{snapshot}");
    assert!(snapshot["tickets"].as_array().is_some_and(Vec::is_empty));

    // Leaving the bounds is told.
    ping(&app, &munich, BERLIN).await;
    live.until(|_| {}, |m| ids(m, "gone_technicians").contains(&munich.id))
        .await;
    app.stop().await;
}

async fn tenants_never_see_each_other(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let ours = office(&app, "ours").await;
    let theirs = office(&app, "theirs").await;
    let our_tech = technician(&app, &ours, "o@ours.test", BERLIN).await;
    let their_tech = technician(&app, &theirs, "t@theirs.test", BERLIN).await;
    let their_old_ticket = open_ticket(&app, &theirs, "Theirs", "P1").await;

    // The whole world in view, same city.
    let mut live = LiveClient::connect(&app.base_url, &ours.dispatcher, None).await;
    let snapshot = live.snapshot().await;
    let mut seen: HashSet<String> = ids(&snapshot, "technicians").into_iter().collect();
    seen.extend(ids(&snapshot, "tickets"));
    assert!(seen.contains(&our_tech.id));

    ping(&app, &their_tech, (52.50, 13.40)).await;
    let their_new_ticket = open_ticket(&app, &theirs, "Theirs too", "P1").await;
    app.post(
        &format!("/v1/tickets/{their_new_ticket}/assign"),
        &theirs.dispatcher,
        &json!({"technician_id": their_tech.id}),
    )
    .await
    .expect(StatusCode::OK);
    // Ours last: once it arrives, theirs had every chance to leak.
    let our_ticket = open_ticket(&app, &ours, "Ours", "P2").await;
    ping(&app, &our_tech, (52.49, 13.41)).await;
    let mut wire = String::new();
    while !(seen.contains(&our_ticket) && wire.contains("52.49")) {
        let message = live.next().await.expect("the live stream ended");
        seen.extend(ids(&message, "technicians"));
        seen.extend(ids(&message, "tickets"));
        wire.push_str(&message.to_string());
    }
    for theirs in [&their_tech.id, &their_old_ticket, &their_new_ticket] {
        assert!(!seen.contains(theirs), "another tenant's {theirs} was sent");
        assert!(!wire.contains(theirs.as_str()));
    }
    app.stop().await;
}

async fn a_client_that_stops_reading_is_dropped_alone(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.live.heartbeat_ms = 50;
        config.live.idle_timeout_ms = 300;
        config.live.send_timeout_ms = 300;
    })
    .await;
    let office = office(&app, "stall").await;
    let tech = technician(&app, &office, "s@stall.test", BERLIN).await;

    // Connects, then never reads again (nor answers pings).
    let stalled = LiveClient::connect(&app.base_url, &office.dispatcher, None).await;
    let mut reader = LiveClient::connect(&app.base_url, &office.dispatcher, None).await;
    reader.snapshot().await;

    let gone = async {
        while app.state.live.viewer_count() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Meanwhile the reading client keeps receiving.
    let mut step = 0;
    let keep_reading = async {
        loop {
            step += 1;
            let lat = 52.40 + f64::from(step) * 0.001;
            ping(&app, &tech, (lat, 13.40)).await;
            reader
                .until(
                    |_| {},
                    |m| {
                        technician_in(m, &tech.id)
                            .and_then(|t| t["lat"].as_f64())
                            .is_some_and(|l| (l - lat).abs() < 1e-9)
                    },
                )
                .await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(PATIENCE, gone) => {}
        _ = keep_reading => unreachable!("reads forever"),
    }
    assert_eq!(
        app.state.live.viewer_count(),
        1,
        "the stalled client was not dropped"
    );
    assert!(step >= 1);

    // The reader is unaffected afterwards too.
    ping(&app, &tech, (52.45, 13.45)).await;
    reader
        .until(
            |_| {},
            |m| technician_in(m, &tech.id).is_some_and(|t| t["lat"].as_f64() == Some(52.45)),
        )
        .await;
    drop(stalled);
    app.stop().await;
}

async fn bad_bounds_and_roles_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "refuse").await;
    let tech = technician(&app, &office, "r@refuse.test", BERLIN).await;
    let (_, manager) = app
        .create_user(&office.tenant, "boss@refuse.test", "manager")
        .await;

    let url =
        |token: &str, extra: &str| format!("{}/v1/live?access_token={token}{extra}", app.base_url);
    // A plain GET (no upgrade) from a technician: forbidden before anything else.
    let reply = app
        .client
        .get(url(&tech.token, ""))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);
    let reply = app
        .client
        .get(url("nonsense", ""))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    let reply = app
        .client
        .get(url(&office.dispatcher, "&south=60&west=0&north=50&east=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reply = app
        .client
        .get(url(&office.dispatcher, "&south=50"))
        .send()
        .await
        .expect("send");
    assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Managers watch too; a bad bounds message is answered, not fatal.
    let mut live = LiveClient::connect(&app.base_url, &manager, None).await;
    live.snapshot().await;
    live.set_bounds((10.0, 0.0, -10.0, 1.0)).await;
    let error = live.next().await.expect("an answer");
    assert_eq!(error["type"], "error", "{error}");
    live.set_bounds(BERLIN_BOX).await;
    let snapshot = live.snapshot().await;
    assert!(technician_in(&snapshot, &tech.id).is_some());
    app.stop().await;
}

/// The position of `tech` in `message`, if it carries one.
fn lat_of(message: &Value, tech: &Tech) -> Option<f64> {
    technician_in(message, &tech.id).and_then(|t| t["lat"].as_f64())
}

async fn a_reconnect_gets_only_what_it_missed(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.live.resume_changes = 6).await;
    let office = office(&app, "resume").await;
    let tech = technician(&app, &office, "r@resume.test", BERLIN).await;
    // Stays connected throughout: once it has seen a change, the hub holds it.
    let mut observer = LiveClient::connect(&app.base_url, &office.dispatcher, None).await;
    observer.snapshot().await;

    let mut live = LiveClient::connect(&app.base_url, &office.dispatcher, Some(BERLIN_BOX)).await;
    let snapshot = live.snapshot().await;
    assert_eq!(snapshot["reason"], "initial");
    ping(&app, &tech, (52.51, 13.40)).await;
    let delta = live
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.51))
        .await;
    let cursor = delta["cursor"].as_str().expect("a cursor").to_owned();
    drop(live);

    // Missed while away: two moves and a new ticket.
    ping(&app, &tech, (52.52, 13.40)).await;
    ping(&app, &tech, (52.53, 13.40)).await;
    let ticket = open_ticket(&app, &office, "Boiler", "P2").await;
    let (mut moved, mut opened) = (false, false);
    while !(moved && opened) {
        let message = observer.next().await.expect("the live stream ended");
        moved |= lat_of(&message, &tech) == Some(52.53);
        opened |= ticket_in(&message, &ticket).is_some();
    }

    let mut live =
        LiveClient::resume(&app.base_url, &office.dispatcher, Some(BERLIN_BOX), &cursor).await;
    let replay = live.next().await.expect("a first message");
    assert_eq!(replay["type"], "delta", "no snapshot: {replay}");
    assert_eq!(replay["replayed"], true);
    assert_eq!(lat_of(&replay, &tech), Some(52.53), "newest only: {replay}");
    assert_eq!(replay["technicians"].as_array().map(Vec::len), Some(1));
    assert!(ticket_in(&replay, &ticket).is_some(), "{replay}");
    let cursor = replay["cursor"].as_str().expect("a cursor").to_owned();
    // And the stream goes on from there.
    ping(&app, &tech, (52.54, 13.40)).await;
    let delta = live
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.54))
        .await;
    assert_eq!(delta["type"], "delta");
    assert_ne!(delta["cursor"], cursor.as_str());
    let cursor = delta["cursor"].as_str().expect("a cursor").to_owned();
    drop(live);

    // Further behind than the buffer holds (6 changes): a snapshot, flagged.
    for step in 1..=7 {
        ping(&app, &tech, (52.60 + f64::from(step) * 0.001, 13.40)).await;
    }
    observer
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.607))
        .await;
    let mut live =
        LiveClient::resume(&app.base_url, &office.dispatcher, Some(BERLIN_BOX), &cursor).await;
    let fresh = live.next().await.expect("a first message");
    assert_eq!(fresh["type"], "snapshot", "{fresh}");
    assert_eq!(fresh["reason"], "resume_gap");
    assert_eq!(lat_of(&fresh, &tech), Some(52.607));
    assert!(ticket_in(&fresh, &ticket).is_some());

    // Another process's cursor (or nonsense) is no resume either.
    let foreign = format!("{}.1", Uuid::new_v4().simple());
    let mut live = LiveClient::resume(
        &app.base_url,
        &office.dispatcher,
        Some(BERLIN_BOX),
        &foreign,
    )
    .await;
    let fresh = live.next().await.expect("a first message");
    assert_eq!(fresh["reason"], "resume_gap", "{fresh}");
    app.stop().await;
}

/// Two servers on one PostgreSQL database and bus: a viewer served by one
/// reconnects (as a load balancer may send it) to the other with its cursor
/// and gets only what it missed, not a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_resumes_on_another_replica() {
    let app = TestApp::start_with(TestBackend::Postgres, |config| {
        config.events.backend = EventsBackend::Postgres;
        config.events.position_flush_ms = 20;
    })
    .await;
    let other = app.replica().await;
    let office = office(&app, "elsewhere").await;
    let tech = technician(&app, &office, "e@elsewhere.test", BERLIN).await;
    // The second replica follows the tenant: one of its viewers watches.
    let mut watching_there = LiveClient::connect(&other.base_url, &office.dispatcher, None).await;
    watching_there.snapshot().await;

    let mut live = LiveClient::connect(&app.base_url, &office.dispatcher, Some(BERLIN_BOX)).await;
    live.snapshot().await;
    ping(&app, &tech, (52.51, 13.40)).await;
    let delta = live
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.51))
        .await;
    let cursor = delta["cursor"].as_str().expect("a cursor").to_owned();
    drop(live);
    // Both replicas have heard of that move before the ones missed.
    watching_there
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.51))
        .await;

    // Missed while away: two moves and a new ticket, written through the first replica.
    ping(&app, &tech, (52.52, 13.40)).await;
    ping(&app, &tech, (52.53, 13.40)).await;
    let ticket = open_ticket(&app, &office, "Boiler", "P2").await;
    let (mut moved, mut opened) = (false, false);
    while !(moved && opened) {
        let message = watching_there.next().await.expect("the live stream ended");
        moved |= lat_of(&message, &tech) == Some(52.53);
        opened |= ticket_in(&message, &ticket).is_some();
    }

    let mut live = LiveClient::resume(
        &other.base_url,
        &office.dispatcher,
        Some(BERLIN_BOX),
        &cursor,
    )
    .await;
    let replay = live.next().await.expect("a first message");
    assert_eq!(replay["type"], "delta", "no snapshot: {replay}");
    assert_eq!(replay["replayed"], true);
    assert_eq!(lat_of(&replay, &tech), Some(52.53), "newest only: {replay}");
    assert!(ticket_in(&replay, &ticket).is_some(), "{replay}");
    // The stream goes on there, and its cursor resumes back on the first replica.
    ping(&app, &tech, (52.54, 13.40)).await;
    let delta = live
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.54))
        .await;
    let cursor = delta["cursor"].as_str().expect("a cursor").to_owned();
    drop(live);
    let mut observer = LiveClient::connect(&app.base_url, &office.dispatcher, None).await;
    observer.snapshot().await;
    ping(&app, &tech, (52.55, 13.40)).await;
    observer
        .until(|_| {}, |m| lat_of(m, &tech) == Some(52.55))
        .await;
    let mut live =
        LiveClient::resume(&app.base_url, &office.dispatcher, Some(BERLIN_BOX), &cursor).await;
    let replay = live.next().await.expect("a first message");
    assert_eq!(replay["type"], "delta", "no snapshot: {replay}");
    assert_eq!(lat_of(&replay, &tech), Some(52.55), "{replay}");

    // A replica that was not following the tenant cannot tell what was
    // missed: a snapshot, flagged.
    let third = app.replica().await;
    let mut live = LiveClient::resume(
        &third.base_url,
        &office.dispatcher,
        Some(BERLIN_BOX),
        &cursor,
    )
    .await;
    let fresh = live.next().await.expect("a first message");
    assert_eq!(fresh["type"], "snapshot", "{fresh}");
    assert_eq!(fresh["reason"], "resume_gap");
    assert_eq!(lat_of(&fresh, &tech), Some(52.55));
    drop((live, watching_there, observer));
    third.stop().await;
    other.stop().await;
    app.stop().await;
}

async fn sla_notices_reach_the_map(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "slalive").await;
    app.post(
        "/v1/sla/policies",
        &office.tenant.admin_token,
        &json!({"name": "Response", "targets": {"response_minutes": 30}, "escalation": {
            "on_warning": {"notify": ["dispatchers"]},
            "on_breach": {"notify": ["dispatchers"], "raise_priority": true}}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = app
        .post(
            "/v1/tickets",
            &office.dispatcher,
            &json!({"title": "Freezer", "category": "hvac", "priority": "P3", "site_id": office.site_id}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = id_of(&created, "id").to_string();
    let t0 = created["created_at"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .expect("created_at")
        .with_timezone(&Utc);

    let mut live = LiveClient::connect(&app.base_url, &office.dispatcher, Some(BERLIN_BOX)).await;
    let snapshot = live.snapshot().await;
    assert_eq!(
        ticket_in(&snapshot, &ticket).expect("in the snapshot")["priority"],
        "P3"
    );

    // The timers on a fake clock: 75 % of the 30-minute response target.
    let mut timers = SlaTimers::load(app.state.dispatch_handles(), t0)
        .await
        .expect("timers");
    let fired = timers
        .run_once(t0 + chrono::Duration::minutes(23))
        .await
        .expect("run");
    assert_eq!(fired.len(), 1, "{fired:?}");
    let notices = |m: &Value| -> Vec<(String, String, u64)> {
        m["sla_notices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["ticket_id"] == ticket.as_str())
            .map(|n| {
                (
                    n["target"].as_str().unwrap_or_default().to_owned(),
                    n["kind"].as_str().unwrap_or_default().to_owned(),
                    n["threshold"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    };
    let warned = live.until(|_| {}, |m| !notices(m).is_empty()).await;
    assert_eq!(
        notices(&warned),
        vec![("response".to_owned(), "warning".to_owned(), 75)]
    );

    // The breach raises the priority: the notice and the ticket as it is now.
    timers
        .run_once(t0 + chrono::Duration::minutes(31))
        .await
        .expect("run");
    let mut raised = false;
    let breached = live
        .until(
            |m| raised |= ticket_in(m, &ticket).is_some_and(|t| t["priority"] == "P2"),
            |m| notices(m).iter().any(|(_, kind, _)| kind == "breach"),
        )
        .await;
    assert!(
        notices(&breached).contains(&("response".to_owned(), "breach".to_owned(), 100)),
        "{breached}"
    );
    if !raised {
        live.until(
            |_| {},
            |m| ticket_in(m, &ticket).is_some_and(|t| t["priority"] == "P2"),
        )
        .await;
    }
    app.stop().await;
}
