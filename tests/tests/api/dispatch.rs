//! Dispatch over the real HTTP API: position pings, ping trails and ranked
//! candidates. Every scenario runs once on SQLite and once on PostgreSQL
//! (`name::sqlite`, `name::postgres`), each with a server of its own.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{Reply, TestApp, TestTenant, id_of},
    fixtures::error_fields,
};
use uuid::Uuid;

backend_tests!(
    pings_are_stored_and_resent_pings_are_duplicates,
    bad_pings_are_refused_and_write_nothing,
    only_technicians_with_a_profile_report_pings,
    trail_is_windowed_ordered_and_guarded,
    candidates_are_qualified_and_ranked_with_reasons,
    candidates_follow_pings_status_shifts_and_load,
    candidates_input_and_access,
    index_is_rebuilt_at_start,
);

// ---------------------------------------------------------------------------
// Helpers

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Alexanderplatz, Berlin: where the city's tickets are.
const SITE: (f64, f64) = (52.5200, 13.4050);
/// Home base of technicians that do not say otherwise: Hamburg, far away.
const HAMBURG: (f64, f64) = (53.5511, 9.9937);

/// Default dispatch configuration (see `DispatchConfig::default`).
const SPEED_KMH: f64 = 40.0;
const WEIGHT_MINUTE: f64 = 1.0;
const WEIGHT_JOB: f64 = 15.0;
const WEIGHT_LEVEL: f64 = 5.0;

fn point((lat, lon): (f64, f64)) -> Value {
    json!({"lat": lat, "lon": lon})
}

/// 24 hours every day, in the technician's zone.
fn all_week() -> Value {
    json!(DAYS.map(|day| json!({"day": day, "start": "00:00", "end": "00:00"})))
}

/// One 24-hour shift three days from today (UTC): never on shift now, also
/// not through a shift that runs past midnight.
fn off_day_shift() -> Value {
    let today = Utc::now().weekday().num_days_from_monday() as usize;
    json!([{"day": DAYS[(today + 3) % 7], "start": "00:00", "end": "00:00"}])
}

fn skills(hvac: u8, electrical: u8) -> Value {
    json!([
        {"skill": "hvac", "level": hvac},
        {"skill": "electrical", "level": electrical},
    ])
}

fn required() -> Value {
    skills(2, 1)
}

/// Now, to the second (so device times round-trip without truncation).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn time_of(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

fn ping(at: DateTime<Utc>, (lat, lon): (f64, f64)) -> Value {
    json!({"device_time": rfc3339(at), "lat": lat, "lon": lon, "accuracy_m": 6.0})
}

async fn post_pings(app: &TestApp, token: &str, pings: &[Value]) -> Reply {
    app.post("/v1/me/locations", token, &json!({ "pings": pings }))
        .await
}

/// `a=1&b=2`, form-encoded.
fn qs(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("base url");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// Great-circle distance on a sphere of the mean Earth radius, by hand.
fn haversine_m((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let half_dphi = (phi2 - phi1) / 2.0;
    let half_dlambda = (lon2 - lon1).to_radians() / 2.0;
    let h = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

async fn location_rows(app: &TestApp) -> i64 {
    let raw = app.db.raw().await;
    let count = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    raw.close().await;
    count
}

/// A tenant with a dispatcher, a manager, a customer, a site at [`SITE`] and
/// the `hvac` category.
struct Office {
    tenant: TestTenant,
    dispatcher: String,
    manager: String,
    site_id: Uuid,
}

async fn office(app: &TestApp, name: &str) -> Office {
    let tenant = app.create_tenant(name).await;
    let admin = tenant.admin_token.as_str();
    let (_, dispatcher) = app
        .create_user(&tenant, &format!("dispatch@{name}.test"), "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&tenant, &format!("boss@{name}.test"), "manager")
        .await;
    let customer = app
        .post("/v1/customers", admin, &json!({"name": "Alexa Mall"}))
        .await
        .expect(StatusCode::CREATED);
    let site = app
        .post(
            "/v1/sites",
            admin,
            &json!({
                "customer_id": id_of(&customer, "id"),
                "name": "Alexanderplatz",
                "address": "Alexanderplatz 1, Berlin",
                "location": point(SITE),
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/v1/categories",
        admin,
        &json!({"name": "hvac", "custom_fields_schema": {"type": "object"}}),
    )
    .await
    .expect(StatusCode::CREATED);
    Office {
        site_id: id_of(&site, "id"),
        tenant,
        dispatcher,
        manager,
    }
}

/// A ticket at the office's site, created by its dispatcher.
async fn ticket(app: &TestApp, office: &Office, title: &str, required_skills: Value) -> Uuid {
    let created = app
        .post(
            "/v1/tickets",
            &office.dispatcher,
            &json!({
                "title": title,
                "category": "hvac",
                "priority": "P2",
                "site_id": office.site_id,
                "required_skills": required_skills,
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    id_of(&created, "id")
}

#[derive(Debug, Clone)]
struct Tech {
    id: Uuid,
    token: String,
}

/// A technician user, signed in, and their profile: UTC, on shift all week,
/// home base in Hamburg, unless `profile` says otherwise.
async fn add_technician(app: &TestApp, tenant: &TestTenant, email: &str, profile: Value) -> Tech {
    let (user_id, token) = app.create_user(tenant, email, "technician").await;
    let mut body = json!({
        "user_id": user_id,
        "name": email,
        "time_zone": "UTC",
        "shifts": all_week(),
        "home_base": point(HAMBURG),
    });
    for (field, value) in profile.as_object().expect("profile is an object") {
        body[field] = value.clone();
    }
    let created = app
        .post("/v1/technicians", &tenant.admin_token, &body)
        .await
        .expect(StatusCode::CREATED);
    Tech {
        id: id_of(&created, "id"),
        token,
    }
}

async fn patch_technician(app: &TestApp, tenant: &TestTenant, tech: &Tech, patch: Value) {
    app.patch(
        &format!("/v1/technicians/{}", tech.id),
        &tenant.admin_token,
        &patch,
    )
    .await
    .expect(StatusCode::OK);
}

async fn assign(app: &TestApp, office: &Office, ticket: Uuid, technician: Option<Uuid>) {
    let after = app
        .patch(
            &format!("/v1/tickets/{ticket}"),
            &office.dispatcher,
            &json!({ "assignee_id": technician }),
        )
        .await
        .expect(StatusCode::OK);
    let expected = if technician.is_some() {
        "assigned"
    } else {
        "new"
    };
    assert_eq!(after["status"], expected, "{after}");
}

async fn candidates(app: &TestApp, token: &str, ticket: Uuid, k: usize) -> Vec<Value> {
    app.get(&format!("/v1/tickets/{ticket}/candidates?k={k}"), token)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .cloned()
        .expect("candidates are an array")
}

// The city: technicians around Alexanderplatz. Required: hvac 2, electrical 1.
/// Latitude and longitude in degrees.
type Point = (f64, f64);

const NEAR: (f64, f64) = (52.5280, 13.4110); // ~1.0 km
const EXPERT: (f64, f64) = (52.4900, 13.3500); // ~5.0 km, 3 levels above
const LOADED: (f64, f64) = (52.5350, 13.4300); // ~2.4 km, one open job
const HOME: (f64, f64) = (52.6000, 13.5000); // ~11 km home base, no pings
const BESIDE: (f64, f64) = (52.5201, 13.4051); // next to the site
const FAR: (f64, f64) = (52.7000, 13.4050); // ~20 km north

/// What a candidate should say about itself.
struct Expect {
    label: &'static str,
    at: (f64, f64),
    open_jobs: u32,
    capacity: u32,
    /// `Some(device time)` for a ping, `None` for the home base.
    ping_at: Option<DateTime<Utc>>,
    levels: [u8; 2],
}

struct City {
    office: Office,
    /// Needs hvac 2 and electrical 1, at [`SITE`].
    ticket_id: Uuid,
    /// A job without skills assigned to `loaded`.
    loaded_job: Uuid,
    techs: Vec<(&'static str, Tech)>,
    /// Device time of everyone's first ping.
    pinged_at: DateTime<Utc>,
    /// Another tenant with a fully qualified technician right at the site.
    rival: Office,
    rival_ticket: Uuid,
    rival_tech: Tech,
}

impl City {
    fn tech(&self, label: &str) -> &Tech {
        self.techs
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("no technician {label}"))
    }

    fn label(&self, id: Uuid) -> &'static str {
        self.techs
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(l, _)| *l)
            .unwrap_or_else(|| panic!("candidate {id} is not a technician of the city"))
    }

    fn ranked(&self, list: &[Value]) -> Vec<&'static str> {
        list.iter()
            .map(|c| self.label(id_of(c, "technician_id")))
            .collect()
    }

    async fn candidates(&self, app: &TestApp) -> Vec<Value> {
        let list = candidates(app, &self.office.dispatcher, self.ticket_id, 10).await;
        assert_consistent(&list);
        list
    }

    fn expect_near(&self) -> Expect {
        Expect {
            label: "near",
            at: NEAR,
            open_jobs: 0,
            capacity: 2,
            ping_at: Some(self.pinged_at),
            levels: [2, 1],
        }
    }

    fn expect_expert(&self) -> Expect {
        Expect {
            label: "expert",
            at: EXPERT,
            open_jobs: 0,
            capacity: 5,
            ping_at: Some(self.pinged_at),
            levels: [4, 2],
        }
    }

    fn expect_loaded(&self) -> Expect {
        Expect {
            label: "loaded",
            at: LOADED,
            open_jobs: 1,
            capacity: 3,
            ping_at: Some(self.pinged_at),
            levels: [2, 1],
        }
    }

    fn expect_home(&self) -> Expect {
        Expect {
            label: "home",
            at: HOME,
            open_jobs: 0,
            capacity: 5,
            ping_at: None,
            levels: [3, 1],
        }
    }

    /// Checks `candidate` against the hand-computed facts of `expect`.
    fn check(&self, candidate: &Value, expect: &Expect) {
        let what = format!("{}: {candidate}", expect.label);
        assert_eq!(
            self.label(id_of(candidate, "technician_id")),
            expect.label,
            "{what}"
        );
        let reasons = &candidate["reasons"];
        let distance = reasons["distance_m"].as_f64().expect("distance_m");
        let by_hand = haversine_m(expect.at, SITE);
        assert!(
            (distance - by_hand).abs() <= by_hand * 0.01,
            "{what}: distance {distance} m, by hand {by_hand} m"
        );
        let travel = reasons["travel_minutes"].as_f64().expect("travel_minutes");
        let by_hand_minutes = by_hand / 1000.0 / SPEED_KMH * 60.0;
        assert!(
            (travel - by_hand_minutes).abs() <= by_hand_minutes * 0.01,
            "{what}: travel {travel} min, by hand {by_hand_minutes} min"
        );
        assert_eq!(reasons["open_jobs"], json!(expect.open_jobs), "{what}");
        assert_eq!(reasons["capacity"], json!(expect.capacity), "{what}");
        match expect.ping_at {
            Some(at) => {
                assert_eq!(reasons["position_source"], "ping", "{what}");
                assert_eq!(time_of(&reasons["position_at"]), at, "{what}");
            }
            None => {
                assert_eq!(reasons["position_source"], "home_base", "{what}");
                assert_eq!(reasons["position_at"], Value::Null, "{what}");
            }
        }
        assert_eq!(
            reasons["skills"],
            json!([
                {"skill": "hvac", "required_level": 2, "level": expect.levels[0]},
                {"skill": "electrical", "required_level": 1, "level": expect.levels[1]},
            ]),
            "{what}"
        );
        let extra = f64::from(expect.levels[0] - 2) + f64::from(expect.levels[1] - 1);
        let score = by_hand_minutes * WEIGHT_MINUTE + f64::from(expect.open_jobs) * WEIGHT_JOB
            - extra * WEIGHT_LEVEL;
        let got = candidate["score"].as_f64().expect("score");
        assert!(
            (got - score).abs() <= 0.01 * by_hand_minutes.max(1.0),
            "{what}: score {got}, by hand {score}"
        );
    }
}

/// Ranks count from 1, scores never decrease, and every score is the
/// configured formula over the reasons given with it.
fn assert_consistent(list: &[Value]) {
    let mut previous = f64::NEG_INFINITY;
    for (i, candidate) in list.iter().enumerate() {
        assert_eq!(candidate["rank"], json!(i + 1), "{candidate}");
        let reasons = &candidate["reasons"];
        let distance = reasons["distance_m"].as_f64().expect("distance_m");
        let travel = reasons["travel_minutes"].as_f64().expect("travel_minutes");
        assert!(
            (travel - distance / 1000.0 / SPEED_KMH * 60.0).abs() < 1e-9,
            "{candidate}"
        );
        let open = reasons["open_jobs"].as_f64().expect("open_jobs");
        let capacity = reasons["capacity"].as_f64().expect("capacity");
        assert!(open < capacity, "a full technician proposed: {candidate}");
        let extra: f64 = reasons["skills"]
            .as_array()
            .expect("skills")
            .iter()
            .map(|s| {
                let level = s["level"].as_f64().expect("level");
                let required = s["required_level"].as_f64().expect("required level");
                assert!(level >= required, "under-qualified: {candidate}");
                level - required
            })
            .sum();
        let score = candidate["score"].as_f64().expect("score");
        let formula = travel * WEIGHT_MINUTE + open * WEIGHT_JOB - extra * WEIGHT_LEVEL;
        assert!((score - formula).abs() < 1e-9, "{candidate}");
        assert!(score >= previous, "not ranked by score: {list:?}");
        previous = score;
    }
}

async fn city(app: &TestApp) -> City {
    let office = office(app, "berlin").await;
    let tenant = &office.tenant;
    let specs: [(&'static str, Value, Option<Point>); 8] = [
        (
            "near",
            json!({"skills": skills(2, 1), "capacity": 2}),
            Some(NEAR),
        ),
        ("expert", json!({"skills": skills(4, 2)}), Some(EXPERT)),
        (
            "loaded",
            json!({"skills": skills(2, 1), "capacity": 3}),
            Some(LOADED),
        ),
        (
            "home",
            json!({"skills": skills(3, 1), "home_base": point(HOME)}),
            None,
        ),
        (
            "unskilled",
            json!({"skills": [{"skill": "electrical", "level": 5}]}),
            Some(BESIDE),
        ),
        ("weak", json!({"skills": skills(1, 5)}), Some(BESIDE)),
        (
            "off_shift",
            json!({"skills": skills(5, 5), "shifts": off_day_shift()}),
            Some(BESIDE),
        ),
        (
            "busy",
            json!({"skills": skills(5, 5), "status": "busy"}),
            Some(BESIDE),
        ),
    ];
    let pinged_at = now() - Duration::minutes(10);
    let mut techs = Vec::new();
    for (label, profile, position) in specs {
        let tech = add_technician(app, tenant, &format!("{label}@berlin.test"), profile).await;
        if let Some(position) = position {
            let receipt = post_pings(app, &tech.token, &[ping(pinged_at, position)])
                .await
                .expect(StatusCode::OK);
            assert_eq!(receipt["stored"], 1, "{label}: {receipt}");
        }
        techs.push((label, tech));
    }
    let ticket_id = ticket(app, &office, "Chiller and its panel", required()).await;
    let loaded_job = ticket(app, &office, "Earlier job", json!([])).await;
    let loaded = techs
        .iter()
        .find(|(l, _)| *l == "loaded")
        .map(|(_, t)| t.id)
        .expect("loaded");
    assign(app, &office, loaded_job, Some(loaded)).await;

    let rival = self::office(app, "potsdam").await;
    let rival_tech = add_technician(
        app,
        &rival.tenant,
        "ace@potsdam.test",
        json!({"skills": skills(5, 5)}),
    )
    .await;
    post_pings(app, &rival_tech.token, &[ping(pinged_at, BESIDE)])
        .await
        .expect(StatusCode::OK);
    let rival_ticket = ticket(app, &rival, "Rival chiller", required()).await;
    City {
        office,
        ticket_id,
        loaded_job,
        techs,
        pinged_at,
        rival,
        rival_ticket,
        rival_tech,
    }
}

// ---------------------------------------------------------------------------
// Pings

async fn pings_are_stored_and_resent_pings_are_duplicates(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "acme").await;
    let tech = add_technician(&app, &office.tenant, "ada@acme.test", json!({})).await;
    let now = now();

    // A phone back online: three hours of buffered pings, out of order, and
    // a fresh one; speed and heading where the phone knew them.
    let mut moving = ping(now - Duration::hours(2), (52.51, 13.39));
    moving["speed_mps"] = json!(12.5);
    moving["heading_deg"] = json!(359.5);
    let batch = vec![
        ping(now - Duration::hours(1), (52.52, 13.40)),
        ping(now - Duration::minutes(1), (52.53, 13.41)),
        ping(now - Duration::hours(3), (52.50, 13.38)),
        moving.clone(),
    ];
    let receipt = post_pings(&app, &tech.token, &batch)
        .await
        .expect(StatusCode::OK);
    assert_eq!(receipt["stored"], 4, "{receipt}");
    assert_eq!(receipt["duplicates"], 0, "{receipt}");
    let position = &receipt["position"];
    assert_eq!(
        time_of(&position["device_time"]),
        now - Duration::minutes(1),
        "the newest ping is the live position: {receipt}"
    );
    assert_eq!(
        (&position["lat"], &position["lon"]),
        (&json!(52.53), &json!(13.41))
    );
    assert_eq!(location_rows(&app).await, 4);

    // The same batch again (the phone did not see the answer).
    let again = post_pings(&app, &tech.token, &batch)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        again,
        json!({"stored": 0, "duplicates": 4, "position": null})
    );
    // Partly new, partly old; an older ping never moves the live position.
    let older = ping(now - Duration::hours(4), (52.49, 13.37));
    let mixed = post_pings(&app, &tech.token, &[batch[2].clone(), older])
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        mixed,
        json!({"stored": 1, "duplicates": 1, "position": null})
    );
    assert_eq!(location_rows(&app).await, 5);

    // The dispatcher sees the whole trail, oldest first, as sent.
    let query = qs(&[
        ("from", &rfc3339(now - Duration::days(1))),
        ("to", &rfc3339(now + Duration::minutes(1))),
    ]);
    let trail = app
        .get(
            &format!("/v1/technicians/{}/locations?{query}", tech.id),
            &office.dispatcher,
        )
        .await
        .expect(StatusCode::OK);
    let times: Vec<DateTime<Utc>> = trail
        .as_array()
        .expect("trail array")
        .iter()
        .map(|p| time_of(&p["device_time"]))
        .collect();
    let hours = |h: i64| now - Duration::hours(h);
    assert_eq!(
        times,
        [
            hours(4),
            hours(3),
            hours(2),
            hours(1),
            now - Duration::minutes(1)
        ]
    );
    let stored_moving = &trail[2];
    assert_eq!(stored_moving["speed_mps"], json!(12.5));
    assert_eq!(stored_moving["heading_deg"], json!(359.5));
    assert_eq!(stored_moving["accuracy_m"], json!(6.0));
    assert_eq!(trail[0]["speed_mps"], Value::Null);
    app.stop().await;
}

async fn bad_pings_are_refused_and_write_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "acme").await;
    let tech = add_technician(&app, &office.tenant, "ada@acme.test", json!({})).await;
    let now = now();
    let good = ping(now - Duration::minutes(5), (52.52, 13.40));
    let with = |field: &str, value: Value| {
        let mut bad = ping(now - Duration::minutes(4), (52.52, 13.40));
        bad[field] = value;
        bad
    };

    // Each bad ping follows a good one: the whole batch is refused.
    let cases = [
        (with("lat", json!(91.0)), "pings[1].lat"),
        (with("lat", json!(-90.5)), "pings[1].lat"),
        (with("lon", json!(-181.0)), "pings[1].lon"),
        (with("lon", json!(180.25)), "pings[1].lon"),
        (with("accuracy_m", json!(-1.0)), "pings[1].accuracy_m"),
        (with("heading_deg", json!(400.0)), "pings[1].heading_deg"),
        (with("heading_deg", json!(-0.5)), "pings[1].heading_deg"),
        (with("speed_mps", json!(-3.0)), "pings[1].speed_mps"),
        (
            with("device_time", json!(rfc3339(now + Duration::hours(2)))),
            "pings[1].device_time",
        ),
        (
            with("device_time", json!(rfc3339(now + Duration::minutes(30)))),
            "pings[1].device_time",
        ),
        // NaN cannot be written in JSON; a string where a number belongs is
        // the closest a client can get.
        (with("lat", json!("NaN")), "pings[1].lat"),
    ];
    for (bad, field) in cases {
        let reply = post_pings(&app, &tech.token, &[good.clone(), bad.clone()]).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), [field], "{bad}: {}", reply.body);
        assert_eq!(location_rows(&app).await, 0, "{bad}: something was written");
    }

    // Every bad ping of a batch is named.
    let reply = post_pings(
        &app,
        &tech.token,
        &[with("lat", json!(91.0)), good.clone(), {
            let mut both = with("lon", json!(-181.0));
            both["accuracy_m"] = json!(-1.0);
            both
        }],
    )
    .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(
        error_fields(&reply),
        ["pings[0].lat", "pings[2].lon", "pings[2].accuracy_m"]
    );

    // An empty batch.
    let reply = post_pings(&app, &tech.token, &[]).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), ["pings"]);
    assert_eq!(location_rows(&app).await, 0);

    // A phone clock a little ahead is tolerated; the extremes are in range.
    let mut edge = ping(now + Duration::minutes(2), (90.0, -180.0));
    edge["heading_deg"] = json!(360.0);
    edge["accuracy_m"] = json!(0.0);
    let receipt = post_pings(&app, &tech.token, &[good, edge])
        .await
        .expect(StatusCode::OK);
    assert_eq!(receipt["stored"], 2, "{receipt}");
    assert_eq!(location_rows(&app).await, 2);
    app.stop().await;
}

async fn only_technicians_with_a_profile_report_pings(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "acme").await;
    let batch = [ping(now() - Duration::minutes(1), (52.52, 13.40))];
    for (who, token) in [
        ("dispatcher", office.dispatcher.as_str()),
        ("manager", office.manager.as_str()),
        ("admin", office.tenant.admin_token.as_str()),
    ] {
        let reply = post_pings(&app, token, &batch).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who}: {}", reply.body);
        reply.expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    }
    // A technician-role user whose profile was never created.
    let (_, no_profile) = app
        .create_user(&office.tenant, "new@acme.test", "technician")
        .await;
    let reply = post_pings(&app, &no_profile, &batch).await;
    reply.expect_problem(StatusCode::CONFLICT, "/conflict");
    assert_eq!(location_rows(&app).await, 0);
    // Without a token at all.
    let reply = app
        .send(
            reqwest::Method::POST,
            "/v1/me/locations",
            None,
            Some(&json!({"pings": batch})),
        )
        .await;
    reply.expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    assert_eq!(location_rows(&app).await, 0);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Trails

async fn trail_is_windowed_ordered_and_guarded(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let office = office(&app, "acme").await;
    let tech = add_technician(&app, &office.tenant, "ada@acme.test", json!({})).await;
    let other = add_technician(&app, &office.tenant, "bob@acme.test", json!({})).await;
    let rival = self::office(&app, "rival").await;
    let now = now();
    let minutes_ago = |m: i64| now - Duration::minutes(m);
    // One ping every ten minutes for an hour, sent shuffled.
    let batch: Vec<Value> = [30, 0, 50, 10, 60, 20, 40]
        .into_iter()
        .map(|m| ping(minutes_ago(m), (52.5 + m as f64 / 1000.0, 13.4)))
        .collect();
    post_pings(&app, &tech.token, &batch)
        .await
        .expect(StatusCode::OK);
    post_pings(&app, &other.token, &[ping(minutes_ago(25), (48.0, 11.0))])
        .await
        .expect(StatusCode::OK);

    let path = |id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, limit: Option<&str>| {
        let from = rfc3339(from);
        let to = rfc3339(to);
        let mut pairs = vec![("from", from.as_str()), ("to", to.as_str())];
        if let Some(limit) = limit {
            pairs.push(("limit", limit));
        }
        format!("/v1/technicians/{id}/locations?{}", qs(&pairs))
    };
    let ago = |trail: &Value| -> Vec<i64> {
        trail
            .as_array()
            .expect("trail array")
            .iter()
            .map(|p| (now - time_of(&p["device_time"])).num_minutes())
            .collect()
    };

    // [40 min ago, 10 min ago): from is inclusive, to exclusive; oldest first.
    let window = path(tech.id, minutes_ago(40), minutes_ago(10), None);
    let trail = app
        .get(&window, &office.dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ago(&trail), [40, 30, 20]);
    assert_eq!(trail[0]["lat"], json!(52.5 + 40.0 / 1000.0));
    // Managers and admins read trails too.
    for token in [&office.manager, &office.tenant.admin_token] {
        assert_eq!(app.get(&window, token).await.expect(StatusCode::OK), trail);
    }
    // The limit keeps the oldest.
    let limited = app
        .get(
            &path(tech.id, minutes_ago(120), now, Some("2")),
            &office.dispatcher,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ago(&limited), [60, 50]);
    let everything = app
        .get(
            &path(tech.id, minutes_ago(120), now + Duration::seconds(1), None),
            &office.dispatcher,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ago(&everything), [60, 50, 40, 30, 20, 10, 0]);

    // An empty or backwards window, a bad limit.
    for (from, to) in [
        (minutes_ago(10), minutes_ago(10)),
        (minutes_ago(10), minutes_ago(40)),
    ] {
        let reply = app
            .get(&path(tech.id, from, to, None), &office.dispatcher)
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), ["to"], "{}", reply.body);
    }
    for limit in ["0", "10001"] {
        let reply = app
            .get(
                &path(tech.id, minutes_ago(60), now, Some(limit)),
                &office.dispatcher,
            )
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), ["limit"], "{}", reply.body);
    }

    // Technicians do not read trails, not even their own.
    app.get(&window, &tech.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    // Another tenant's technician and an unknown one do not exist.
    app.get(&window, &rival.dispatcher)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.get(
        &path(Uuid::now_v7(), minutes_ago(40), now, None),
        &office.dispatcher,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Candidates

async fn candidates_are_qualified_and_ranked_with_reasons(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let city = city(&app).await;

    // Only the qualified, available, on-shift, under-capacity technicians of
    // the tenant, best score first: the expert's levels outweigh 4 km, the
    // near one's open job count nothing, the loaded one's job costs 15.
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "near", "home", "loaded"]);
    city.check(&list[0], &city.expect_expert());
    city.check(&list[1], &city.expect_near());
    city.check(&list[2], &city.expect_home());
    city.check(&list[3], &city.expect_loaded());
    assert_eq!(list[3]["reasons"]["open_jobs"], 1);
    assert_eq!(list[0]["reasons"]["sla_slack_minutes"], Value::Null);

    // k cuts the ranked list; admins see the same.
    let top = candidates(&app, &city.office.dispatcher, city.ticket_id, 2).await;
    assert_eq!(top, list[..2]);
    let by_admin = candidates(&app, &city.office.tenant.admin_token, city.ticket_id, 10).await;
    assert_eq!(by_admin, list);
    let default_k = app
        .get(
            &format!("/v1/tickets/{}/candidates", city.ticket_id),
            &city.office.dispatcher,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(default_k, json!(list), "default k is 5, four qualify");

    // Another tenant sees only its own technician for its own ticket.
    let rival = candidates(&app, &city.rival.dispatcher, city.rival_ticket, 10).await;
    assert_eq!(rival.len(), 1, "{rival:?}");
    assert_eq!(id_of(&rival[0], "technician_id"), city.rival_tech.id);

    // A ticket without required skills: everyone available and on shift.
    let any = ticket(&app, &city.office, "Anything", json!([])).await;
    let all = candidates(&app, &city.office.dispatcher, any, 10).await;
    assert_consistent(&all);
    let mut labels = city.ranked(&all);
    labels.sort_unstable();
    assert_eq!(
        labels,
        ["expert", "home", "loaded", "near", "unskilled", "weak"]
    );
    app.stop().await;
}

async fn candidates_follow_pings_status_shifts_and_load(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let city = city(&app).await;
    let tenant = &city.office.tenant;
    let near = city.tech("near").clone();
    let now = now();
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "near", "home", "loaded"]
    );

    // `near` drives 20 km north: last now.
    let moved_at = now - Duration::minutes(5);
    post_pings(&app, &near.token, &[ping(moved_at, FAR)])
        .await
        .expect(StatusCode::OK);
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "home", "loaded", "near"]);
    city.check(
        &list[3],
        &Expect {
            at: FAR,
            ping_at: Some(moved_at),
            ..city.expect_near()
        },
    );
    // A late, older ping from beside the site changes nothing.
    post_pings(
        &app,
        &near.token,
        &[ping(now - Duration::minutes(7), BESIDE)],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(city.candidates(&app).await, list);
    // Back near the site.
    let back_at = now - Duration::minutes(2);
    post_pings(&app, &near.token, &[ping(back_at, NEAR)])
        .await
        .expect(StatusCode::OK);
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "near", "home", "loaded"]);
    let near_now = Expect {
        ping_at: Some(back_at),
        ..city.expect_near()
    };
    city.check(&list[1], &near_now);

    // Off duty: gone; available again: back.
    let expert = city.tech("expert");
    patch_technician(&app, tenant, expert, json!({"status": "off_duty"})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["near", "home", "loaded"]
    );
    patch_technician(&app, tenant, expert, json!({"status": "busy"})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["near", "home", "loaded"]
    );
    patch_technician(&app, tenant, expert, json!({"status": "available"})).await;
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "near", "home", "loaded"]);
    city.check(&list[0], &city.expect_expert());

    // Shifts: the off-shift technician put on shift comes first (beside the
    // site, 7 levels to spare); off shift again, gone.
    let off_shift = city.tech("off_shift");
    patch_technician(&app, tenant, off_shift, json!({"shifts": all_week()})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["off_shift", "expert", "near", "home", "loaded"]
    );
    patch_technician(&app, tenant, off_shift, json!({"shifts": off_day_shift()})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "near", "home", "loaded"]
    );
    // Skills: learning the missing level qualifies; the order follows.
    let weak = city.tech("weak");
    patch_technician(&app, tenant, weak, json!({"skills": skills(2, 5)})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["weak", "expert", "near", "home", "loaded"]
    );
    patch_technician(&app, tenant, weak, json!({"skills": skills(1, 5)})).await;

    // Load: `near` (capacity 2) gets two jobs and is full; one unassigned
    // brings them back with an open job; cancelling the other frees them.
    let first = ticket(&app, &city.office, "Job one", json!([])).await;
    let second = ticket(&app, &city.office, "Job two", json!([])).await;
    assign(&app, &city.office, first, Some(near.id)).await;
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "home", "near", "loaded"]);
    city.check(
        &list[2],
        &Expect {
            open_jobs: 1,
            ..near_now
        },
    );
    assign(&app, &city.office, second, Some(near.id)).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "home", "loaded"]
    );
    assign(&app, &city.office, first, None).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "home", "near", "loaded"]
    );
    app.patch(
        &format!("/v1/tickets/{second}"),
        &city.office.dispatcher,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "near", "home", "loaded"]
    );
    // Moving the loaded job to `near` swaps their loads.
    assign(&app, &city.office, city.loaded_job, Some(near.id)).await;
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "loaded", "home", "near"]);
    city.check(
        &list[1],
        &Expect {
            open_jobs: 0,
            ..city.expect_loaded()
        },
    );
    assign(
        &app,
        &city.office,
        city.loaded_job,
        Some(city.tech("loaded").id),
    )
    .await;
    // Lowering capacity to the current load makes a technician full.
    let loaded = city.tech("loaded");
    patch_technician(&app, tenant, loaded, json!({"capacity": 1})).await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["expert", "near", "home"]
    );
    patch_technician(&app, tenant, loaded, json!({"capacity": 3})).await;

    // A new home base moves a technician without pings; their first ping
    // takes over from the home base.
    let home = city.tech("home").clone();
    let closer = (52.5300, 13.4050);
    patch_technician(&app, tenant, &home, json!({"home_base": point(closer)})).await;
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "home", "near", "loaded"]);
    city.check(
        &list[1],
        &Expect {
            at: closer,
            ..city.expect_home()
        },
    );
    let first_ping = now - Duration::minutes(1);
    post_pings(&app, &home.token, &[ping(first_ping, HOME)])
        .await
        .expect(StatusCode::OK);
    let list = city.candidates(&app).await;
    assert_eq!(city.ranked(&list), ["expert", "near", "home", "loaded"]);
    city.check(
        &list[2],
        &Expect {
            ping_at: Some(first_ping),
            ..city.expect_home()
        },
    );
    // Once pinged, a home-base change does not move them.
    patch_technician(
        &app,
        tenant,
        &home,
        json!({"home_base": point((52.5350, 13.4000))}),
    )
    .await;
    assert_eq!(city.candidates(&app).await, list);
    app.stop().await;
}

async fn candidates_input_and_access(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let city = city(&app).await;
    let office = &city.office;
    let path = |k: &str| format!("/v1/tickets/{}/candidates?k={k}", city.ticket_id);

    // k between 1 and 50.
    for k in ["0", "51"] {
        let reply = app.get(&path(k), &office.dispatcher).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), ["k"], "k={k}: {}", reply.body);
    }
    for (k, expected) in [("1", 1), ("50", 4)] {
        let list = app
            .get(&path(k), &office.dispatcher)
            .await
            .expect(StatusCode::OK);
        assert_eq!(list.as_array().map(Vec::len), Some(expected), "k={k}");
    }

    // Roles: technicians and managers do not dispatch.
    for token in [&office.manager, &city.tech("near").token] {
        app.get(&path("5"), token)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    }
    // Another tenant's ticket and an unknown one do not exist.
    app.get(
        &format!("/v1/tickets/{}/candidates", city.rival_ticket),
        &office.dispatcher,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.get(&path("5"), &city.rival.dispatcher)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.get(
        &format!("/v1/tickets/{}/candidates", Uuid::now_v7()),
        &office.dispatcher,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");

    // A cancelled ticket has no candidates until it is reopened.
    let cancelled = ticket(&app, office, "Called off", required()).await;
    let ticket_path = format!("/v1/tickets/{cancelled}");
    app.patch(
        &ticket_path,
        &office.dispatcher,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    let candidates_path = format!("{ticket_path}/candidates");
    app.get(&candidates_path, &office.dispatcher)
        .await
        .expect_problem(StatusCode::CONFLICT, "/conflict");
    app.patch(&ticket_path, &office.dispatcher, &json!({"status": "new"}))
        .await
        .expect(StatusCode::OK);
    app.get(&candidates_path, &office.dispatcher)
        .await
        .expect(StatusCode::OK);

    // A closed one neither: worked through the field steps, then closed.
    let done = ticket(&app, office, "Done deal", json!([])).await;
    let done_path = format!("/v1/tickets/{done}");
    let worker = city.tech("unskilled");
    assign(&app, office, done, Some(worker.id)).await;
    for status in ["accepted", "en_route", "on_site", "work_done"] {
        app.patch(&done_path, &worker.token, &json!({ "status": status }))
            .await
            .expect(StatusCode::OK);
    }
    app.patch(&done_path, &office.dispatcher, &json!({"status": "closed"}))
        .await
        .expect(StatusCode::OK);
    app.get(&format!("{done_path}/candidates"), &office.dispatcher)
        .await
        .expect_problem(StatusCode::CONFLICT, "/conflict");
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Restart

async fn index_is_rebuilt_at_start(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let city = city(&app).await;
    let tenant = &city.office.tenant;
    let now = now();
    // State the index only knows from events: a newer ping, a status change,
    // a capacity change, a changed home base, loads.
    let near = city.tech("near").clone();
    let moved_at = now - Duration::minutes(3);
    post_pings(
        &app,
        &near.token,
        &[
            ping(moved_at, (52.5250, 13.4150)),
            ping(now - Duration::minutes(8), FAR),
        ],
    )
    .await
    .expect(StatusCode::OK);
    patch_technician(
        &app,
        tenant,
        city.tech("busy"),
        json!({"status": "available"}),
    )
    .await;
    patch_technician(
        &app,
        tenant,
        city.tech("expert"),
        json!({"status": "off_duty"}),
    )
    .await;
    patch_technician(
        &app,
        tenant,
        city.tech("home"),
        json!({"home_base": point((52.5400, 13.3900))}),
    )
    .await;
    let job = ticket(&app, &city.office, "Another job", json!([])).await;
    assign(&app, &city.office, job, Some(near.id)).await;
    patch_technician(&app, tenant, city.tech("loaded"), json!({"capacity": 1})).await;

    let before = city.candidates(&app).await;
    assert_eq!(city.ranked(&before), ["busy", "home", "near"]);
    let near_before = &before[2];
    assert_eq!(near_before["reasons"]["open_jobs"], 1);
    assert_eq!(time_of(&near_before["reasons"]["position_at"]), moved_at);
    let rival_before = candidates(&app, &city.rival.dispatcher, city.rival_ticket, 10).await;
    let trail_path = format!(
        "/v1/technicians/{}/locations?{}",
        near.id,
        qs(&[
            ("from", &rfc3339(now - Duration::days(1))),
            ("to", &rfc3339(now + Duration::minutes(1))),
        ])
    );
    let trail_before = app
        .get(&trail_path, &city.office.dispatcher)
        .await
        .expect(StatusCode::OK);

    // A new process on the same database.
    let app = app.restart().await;
    let after = city.candidates(&app).await;
    assert_eq!(after, before, "the rebuilt index answers the same");
    assert_eq!(
        candidates(&app, &city.rival.dispatcher, city.rival_ticket, 10).await,
        rival_before
    );
    assert_eq!(
        app.get(&trail_path, &city.office.dispatcher)
            .await
            .expect(StatusCode::OK),
        trail_before
    );

    // The rebuilt index knows the device time of the live position: an older
    // ping still does not move it, a newer one does.
    post_pings(
        &app,
        &near.token,
        &[ping(now - Duration::minutes(4), BESIDE)],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(city.candidates(&app).await, before);
    let newest = now - Duration::minutes(1);
    post_pings(&app, &near.token, &[ping(newest, BESIDE)])
        .await
        .expect(StatusCode::OK);
    let list = city.candidates(&app).await;
    let near_after = list
        .iter()
        .find(|c| id_of(c, "technician_id") == near.id)
        .expect("near still proposed");
    assert_eq!(time_of(&near_after["reasons"]["position_at"]), newest);
    assert!(
        near_after["reasons"]["distance_m"]
            .as_f64()
            .expect("distance")
            < 50.0
    );
    // And keeps following events after the restart.
    patch_technician(
        &app,
        tenant,
        city.tech("expert"),
        json!({"status": "available"}),
    )
    .await;
    assert_eq!(
        city.ranked(&city.candidates(&app).await),
        ["busy", "expert", "home", "near"]
    );
    app.stop().await;
}
