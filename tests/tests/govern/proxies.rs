//! Rate limits that work behind a proxy and across replicas: forwarding
//! headers count only from `[proxy] trusted` peers, token refresh is
//! limited per client address, and failed sign-ins make a (account,
//! address) pair wait on every replica sharing the database.

use reqwest::{Method, StatusCode};
use serde_json::json;
use truckroll_tests::{
    TestBackend,
    app::{PASSWORD, Reply, TestApp},
};

use super::assert_problem;

backend_tests!(
    forwarding_headers_from_an_untrusted_peer_are_ignored,
    a_trusted_proxy_names_the_client,
    failed_sign_ins_wait_on_every_replica,
    public_reads_are_limited_per_client,
);

async fn refresh(app: &TestApp, headers: &[(&str, &str)]) -> Reply {
    app.send_with(
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(&json!({"refresh_token": "not-a-refresh-token"})),
        headers,
    )
    .await
}

async fn forwarding_headers_from_an_untrusted_peer_are_ignored(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.refresh_per_address_per_minute = 2;
        // A proxy network the test's loopback peer is not in.
        config.proxy.trusted = vec!["10.0.0.0/8".into()];
    })
    .await;
    for spoofed in ["203.0.113.1", "203.0.113.2"] {
        let reply = refresh(&app, &[("x-forwarded-for", spoofed)]).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "a bad refresh token");
    }
    // A third "client" is the same peer: its quota is spent.
    let reply = refresh(&app, &[("x-forwarded-for", "203.0.113.3")]).await;
    assert_problem(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "spoofed X-Forwarded-For",
    );
    let reply = refresh(&app, &[("forwarded", "for=198.51.100.4")]).await;
    assert_problem(&reply, StatusCode::TOO_MANY_REQUESTS, "spoofed Forwarded");
    app.stop().await;
}

async fn a_trusted_proxy_names_the_client(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.refresh_per_address_per_minute = 2;
        config.proxy.trusted = vec!["127.0.0.1/32".into()];
    })
    .await;
    let first = [("x-forwarded-for", "203.0.113.1")];
    for _ in 0..2 {
        let reply = refresh(&app, &first).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "a bad refresh token");
    }
    let reply = refresh(&app, &first).await;
    assert_problem(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "203.0.113.1 used its quota",
    );
    // What the client put in front of the address the proxy appended does not count.
    let reply = refresh(&app, &[("x-forwarded-for", "203.0.113.9, 203.0.113.1")]).await;
    assert_problem(&reply, StatusCode::TOO_MANY_REQUESTS, "a prepended address");
    // Other clients behind the same proxy have their own quota, by either header.
    let reply = refresh(&app, &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "another client");
    let reply = refresh(
        &app,
        &[("forwarded", "for=\"[2001:db8::5]:4711\";proto=https")],
    )
    .await;
    assert_problem(
        &reply,
        StatusCode::UNAUTHORIZED,
        "a client named by Forwarded",
    );
    // Without a header the proxy itself is the client.
    let reply = refresh(&app, &[]).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "the proxy's own address");
    app.stop().await;
}

async fn failed_sign_ins_wait_on_every_replica(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.login_failures_before_delay = 2;
        config.auth.login_delay_base_ms = 600_000;
        config.proxy.trusted = vec!["127.0.0.1/32".into()];
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let other = app.replica().await;
    let email = "admin@acme.test";
    let stranger = [("x-forwarded-for", "198.51.100.7")];
    let owner = [("x-forwarded-for", "192.0.2.10")];
    let wrong = json!({"tenant": tenant.name, "email": email, "password": "not-the-password"});
    let right = json!({"tenant": tenant.name, "email": email, "password": PASSWORD});
    for _ in 0..2 {
        let reply = app
            .send_with(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(&wrong),
                &stranger,
            )
            .await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "a wrong password");
    }
    // The other replica makes the stranger's pair wait too, even with the right password.
    let reply = other
        .send_with(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&right),
            &stranger,
        )
        .await;
    assert_problem(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger's pair on the other replica",
    );
    assert!(
        reply.headers.contains_key("retry-after"),
        "{:?}",
        reply.headers
    );
    // The owner, from their own address, signs in on either replica.
    let reply = other
        .send_with(Method::POST, "/v1/auth/login", None, Some(&right), &owner)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app
        .send_with(Method::POST, "/v1/auth/login", None, Some(&right), &owner)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The failures are kept as a hash of the pair: no email, no address.
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM login_failures WHERE pair_hash LIKE '%acme%' OR pair_hash LIKE '%198.51%'",
            &[],
        )
        .await,
        0
    );
    assert_eq!(
        raw.scalar_i64("SELECT COUNT(*) FROM login_failures", &[])
            .await,
        1
    );
    raw.close().await;
    other.stop().await;
    app.stop().await;
}

async fn public_reads_are_limited_per_client(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.public_reads_per_address_per_minute = 2;
        config.proxy.trusted = vec!["127.0.0.1/32".into()];
    })
    .await;
    let read = |client: &'static str| {
        let app = &app;
        async move {
            app.send_with(
                Method::GET,
                "/v1/public/no-such-form/form",
                None,
                None,
                &[("x-forwarded-for", client)],
            )
            .await
        }
    };
    for _ in 0..2 {
        assert_problem(
            &read("203.0.113.1").await,
            StatusCode::NOT_FOUND,
            "an unknown form",
        );
    }
    assert_problem(
        &read("203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the third read",
    );
    assert_problem(
        &read("203.0.113.2").await,
        StatusCode::NOT_FOUND,
        "another client",
    );
    app.stop().await;
}
