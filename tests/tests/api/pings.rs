//! Location pings by group commit (issue 18, item 1): concurrent one-ping
//! requests are written together, each answered only after its rows
//! committed; a request that cannot be written fails alone.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use truckroll_tests::fixtures::Shop;

use super::*;

backend_tests!(
    concurrent_pings_all_land,
    a_failing_request_fails_alone,
    a_vanished_technician_fails_only_its_request,
    pings_without_group_commit_still_land,
);

const TECHNICIANS: usize = 6;
const PINGS_EACH: usize = 20;

fn ping(at: DateTime<Utc>, lat: f64) -> Value {
    json!({"pings": [{"device_time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                      "lat": lat, "lon": 13.4, "accuracy_m": 5.0}]})
}

/// A start with a long linger, so concurrent requests share transactions.
async fn batching_app(backend: TestBackend) -> TestApp {
    TestApp::start_with(backend, |config| {
        config.pings.linger_us = 20_000;
        config.pings.max_batch = 64;
    })
    .await
}

async fn post_all(app: &TestApp, requests: Vec<(String, Value)>) -> Vec<Reply> {
    let mut sent = Vec::new();
    for (token, body) in requests {
        let client = app.client.clone();
        let url = format!("{}/v1/me/locations", app.base_url);
        sent.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request reaches the server");
            let status = response.status();
            let headers = response.headers().clone();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Reply {
                status,
                headers,
                body,
            }
        }));
    }
    let mut replies = Vec::new();
    for reply in sent {
        replies.push(reply.await.expect("request task"));
    }
    replies
}

/// Technician `t`'s `i`-th ping: later `i`, later time, further north.
fn nth(base: DateTime<Utc>, t: usize, i: usize) -> (DateTime<Utc>, f64) {
    (
        base + Duration::seconds(i as i64) + Duration::milliseconds(t as i64),
        52.50 + i as f64 / 1000.0,
    )
}

async fn concurrent_pings_all_land(backend: TestBackend) {
    let app = batching_app(backend).await;
    let shop = Shop::builder(&app, "herd")
        .technicians(TECHNICIANS)
        .skilled()
        .build()
        .await;
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");
    // Milliseconds, as the pings carry them.
    let base = (Utc::now() - Duration::minutes(20)).trunc_subsecs(3);
    // Every technician's pings, sent all at once in a shuffled order.
    let mut requests = Vec::new();
    for (t, tech) in shop.techs.iter().enumerate() {
        for i in 0..PINGS_EACH {
            let (at, lat) = nth(base, t, i);
            requests.push((tech.token.clone(), ping(at, lat)));
        }
    }
    fastrand::Rng::with_seed(18).shuffle(&mut requests);
    let replies = post_all(&app, requests.clone()).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["stored"], 1, "{}", reply.body);
        assert_eq!(reply.body["duplicates"], 0, "{}", reply.body);
    }
    let raw = app.db.raw().await;
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert_eq!(stored, (TECHNICIANS * PINGS_EACH) as i64);

    // Whatever order they arrived in, each technician ends at its newest
    // ping, in the database and in the dispatch index.
    for (t, tech) in shop.techs.iter().enumerate() {
        let (newest_at, newest_lat) = nth(base, t, PINGS_EACH - 1);
        let at_newest = raw
            .scalar_i64(
                &format!(
                    "SELECT COUNT(*) FROM technicians WHERE id = $1 AND ABS(last_lat - {newest_lat}) < 0.0000001"
                ),
                &[tech.id],
            )
            .await;
        assert_eq!(at_newest, 1, "technician {t} is not at its newest ping");
        let candidates = app
            .get(
                &format!("/v1/tickets/{ticket}/candidates?k={TECHNICIANS}"),
                &shop.tenant.admin_token,
            )
            .await
            .expect(StatusCode::OK);
        let candidate = candidates
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|c| id_of(c, "technician_id") == tech.id)
                    .cloned()
            })
            .expect("every technician is a candidate");
        let position_at: DateTime<Utc> = candidate["reasons"]["position_at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("position_at");
        assert_eq!(position_at, newest_at, "{candidate}");
    }

    // The same pings again, concurrently: all duplicates, nothing moves.
    let replies = post_all(&app, requests.into_iter().take(30).collect()).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["stored"], 0, "{}", reply.body);
        assert_eq!(reply.body["duplicates"], 1, "{}", reply.body);
        assert_eq!(reply.body["position"], Value::Null, "{}", reply.body);
    }
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert_eq!(stored, (TECHNICIANS * PINGS_EACH) as i64);
    raw.close().await;
    app.stop().await;
}

/// A ping the database refuses (a trigger stands in for any failure of one
/// request's rows) fails its own request; the others sent with it land.
async fn a_failing_request_fails_alone(backend: TestBackend) {
    let app = batching_app(backend).await;
    let shop = Shop::builder(&app, "poison")
        .technicians(TECHNICIANS)
        .build()
        .await;
    let raw = app.db.raw().await;
    match backend {
        TestBackend::Postgres => {
            raw.execute(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.lat = 12.5 THEN RAISE EXCEPTION 'poisoned ping'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                &[],
            )
            .await;
            raw.execute(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON technician_locations \
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
                &[],
            )
            .await;
        }
        TestBackend::Sqlite => {
            raw.execute(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON technician_locations \
                 WHEN NEW.lat = 12.5 BEGIN SELECT RAISE(ABORT, 'poisoned ping'); END",
                &[],
            )
            .await;
        }
    }
    let base = Utc::now() - Duration::minutes(10);
    let mut requests = Vec::new();
    for (t, tech) in shop.techs.iter().enumerate() {
        for i in 0..5 {
            let (at, lat) = nth(base, t, i);
            let lat = if t == 0 && i == 2 { 12.5 } else { lat };
            requests.push((tech.token.clone(), ping(at, lat)));
        }
    }
    let replies = post_all(&app, requests).await;
    let mut failed = 0;
    for (n, reply) in replies.iter().enumerate() {
        if n == 2 {
            reply.expect_problem(StatusCode::INTERNAL_SERVER_ERROR, "/internal");
            failed += 1;
        } else {
            assert_eq!(reply.status, StatusCode::OK, "request {n}: {}", reply.body);
            assert_eq!(reply.body["stored"], 1, "request {n}: {}", reply.body);
        }
    }
    assert_eq!(failed, 1);
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert_eq!(stored, (TECHNICIANS * 5 - 1) as i64);
    raw.close().await;
    app.stop().await;
}

/// The user → technician lookup is cached; a technician row that is gone
/// (erased around the API) fails the requests that name it, not the batch,
/// and its user is then told it has no technician profile.
async fn a_vanished_technician_fails_only_its_request(backend: TestBackend) {
    let app = batching_app(backend).await;
    let shop = Shop::builder(&app, "vanish").technicians(3).build().await;
    let base = Utc::now() - Duration::minutes(10);
    // Warm the cache for every technician.
    for (t, tech) in shop.techs.iter().enumerate() {
        let (at, lat) = nth(base, t, 0);
        app.post("/v1/me/locations", &tech.token, &ping(at, lat))
            .await
            .expect(StatusCode::OK);
    }
    let gone = &shop.techs[0];
    let raw = app.db.raw().await;
    raw.execute(
        "DELETE FROM technician_locations WHERE technician_id = $1",
        &[gone.id],
    )
    .await;
    raw.execute("DELETE FROM technicians WHERE id = $1", &[gone.id])
        .await;
    let mut requests = Vec::new();
    for i in 1..6 {
        for (t, tech) in shop.techs.iter().enumerate() {
            let (at, lat) = nth(base, t, i);
            requests.push((tech.token.clone(), ping(at, lat)));
        }
    }
    let replies = post_all(&app, requests.clone()).await;
    for ((token, _), reply) in requests.iter().zip(&replies) {
        if token == &gone.token {
            reply.expect_problem(StatusCode::CONFLICT, "/conflict");
        } else {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(reply.body["stored"], 1, "{}", reply.body);
        }
    }
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert_eq!(stored, 2 + 2 * 5);
    raw.close().await;
    app.stop().await;
}

/// `pings.group_commit = false`: one transaction per request, same answers.
async fn pings_without_group_commit_still_land(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.pings.group_commit = false).await;
    let shop = Shop::builder(&app, "single").technicians(2).build().await;
    let base = Utc::now() - Duration::minutes(10);
    let mut requests = Vec::new();
    for (t, tech) in shop.techs.iter().enumerate() {
        for i in 0..10 {
            let (at, lat) = nth(base, t, i);
            requests.push((tech.token.clone(), ping(at, lat)));
        }
    }
    let replies = post_all(&app, requests).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["stored"], 1, "{}", reply.body);
    }
    let raw = app.db.raw().await;
    let stored = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    assert_eq!(stored, 20);
    raw.close().await;
    app.stop().await;
}
