//! `/metrics` only with the configured token (or on its own address), and
//! labels a client cannot multiply.

use reqwest::{Method, StatusCode};
use truckroll_tests::{TestBackend, app::TestApp};

backend_tests!(
    metrics_need_the_token_and_methods_do_not_mint_labels,
    metrics_can_have_their_own_address,
);

const TOKEN: &str = "scrape-token-0123456789";

async fn metrics_need_the_token_and_methods_do_not_mint_labels(backend: TestBackend) {
    let closed = TestApp::start(backend).await;
    let reply = closed.send(Method::GET, "/metrics", None, None).await;
    super::assert_problem(&reply, StatusCode::NOT_FOUND, "no token configured");
    closed.stop().await;

    let app = TestApp::start_with(backend, |config| {
        config.governance.metrics_token = TOKEN.into();
    })
    .await;
    let reply = app.send(Method::GET, "/metrics", None, None).await;
    super::assert_problem(&reply, StatusCode::UNAUTHORIZED, "no token sent");
    let reply = app
        .send(
            Method::GET,
            "/metrics",
            Some("scrape-token-wrong-guess"),
            None,
        )
        .await;
    super::assert_problem(&reply, StatusCode::UNAUTHORIZED, "wrong token");
    for i in 0..25 {
        let method = Method::from_bytes(format!("PROBE{i}").as_bytes()).expect("method");
        let reply = app.send(method, "/v1/tickets", None, None).await;
        assert!(reply.status.is_client_error(), "{}", reply.status);
    }
    let reply = app.send(Method::GET, "/metrics", Some(TOKEN), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.body.as_str().expect("text").to_owned();
    assert!(!text.contains("PROBE"), "a method became a label:\n{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
    app.stop().await;
}

async fn metrics_can_have_their_own_address(backend: TestBackend) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let address = probe.local_addr().expect("address");
    drop(probe);
    let app = TestApp::start_with(backend, |config| {
        config.governance.metrics_listen = Some(address);
    })
    .await;
    let reply = app.send(Method::GET, "/metrics", None, None).await;
    super::assert_problem(&reply, StatusCode::NOT_FOUND, "not on the API's address");
    let scraped = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("metrics listener answers");
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.expect("text");
    assert!(text.contains("http_requests_total"), "{text}");
    let other = reqwest::get(format!("http://{address}/v1/tickets"))
        .await
        .expect("answers");
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
    app.stop().await;
}
