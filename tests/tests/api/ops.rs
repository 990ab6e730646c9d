//! Operations: health, readiness, metrics, request ids and graceful shutdown.

use super::*;

backend_tests!(
    ops_endpoints_and_request_ids,
    graceful_shutdown_after_requests,
);

// ---------------------------------------------------------------------------
// 8. Operations

async fn ops_endpoints_and_request_ids(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.governance.metrics_token = "metrics-token-0123456789".into();
    })
    .await;
    let tenant = app.create_tenant("ops").await;

    let mut replies = Vec::new();
    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    replies.push(health);
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        ready.clone().expect(StatusCode::OK),
        json!({"status": "ready"})
    );
    replies.push(ready);

    let tickets = app.get("/v1/tickets", &tenant.admin_token).await;
    assert_eq!(tickets.status, StatusCode::OK);
    replies.push(tickets);
    let metrics = app
        .send(
            Method::GET,
            "/metrics",
            Some("metrics-token-0123456789"),
            None,
        )
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().expect("metrics are text").to_owned();
    assert!(
        text.lines()
            .any(|line| line.starts_with("http_requests_total{")
                && line.contains(r#"route="/v1/tickets""#)
                && line.contains(r#"method="GET""#)
                && line.contains(r#"status="200""#)),
        "no http_requests_total for GET /v1/tickets in:\n{text}"
    );
    assert!(text.contains("http_request_duration_seconds"), "{text}");
    replies.push(metrics);

    let openapi = app.send(Method::GET, "/openapi.json", None, None).await;
    let document = openapi.clone().expect(StatusCode::OK);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi version: {}",
        document["openapi"]
    );
    for path in [
        "/v1/tickets/{id}",
        "/v1/auth/login",
        "/v1/tickets",
        "/v1/auth/refresh",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI paths"
        );
    }
    // Routes routed by hand are documented too: the sync exchange with its
    // envelope (Automerge messages as base64), the WebSockets, the blob URLs.
    for (path, method) in [
        ("/v1/sync", "post"),
        ("/v1/sync", "get"),
        ("/v1/live", "get"),
        ("/v1/blobs/{key}", "get"),
        ("/v1/blobs/{key}", "put"),
    ] {
        assert!(
            document["paths"][path].get(method).is_some(),
            "{method} {path} missing from the OpenAPI paths"
        );
    }
    let frame = &document["components"]["schemas"]["SyncFrame"]["properties"];
    assert_eq!(frame["data"]["format"], "byte", "{frame:#}");
    assert!(
        document["paths"]["/v1/sync"]["post"]["requestBody"].is_object(),
        "POST /v1/sync has no request body"
    );
    assert!(
        document["paths"]["/v1/blobs/{key}"]["put"]["requestBody"]["content"]
            .get("application/octet-stream")
            .is_some(),
        "PUT /v1/blobs/{{key}} body is not described as bytes"
    );
    replies.push(openapi);

    // Errors carry a request id too.
    replies.push(app.send(Method::GET, "/v1/nope", None, None).await);
    replies.push(app.send(Method::GET, "/v1/tickets", None, None).await);
    replies.push(
        app.post("/v1/customers", &tenant.admin_token, &json!({"bogus": 1}))
            .await,
    );
    let mut seen = HashSet::new();
    for reply in &replies {
        let id = header(&reply.headers, "x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on a {} reply", reply.status));
        assert!(!id.is_empty());
        assert!(seen.insert(id.to_owned()), "request id {id} repeated");
    }

    // A client's own request id is echoed back.
    for path in ["/healthz", "/v1/nope"] {
        let echoed = app
            .send_with(
                Method::GET,
                path,
                None,
                None,
                &[("x-request-id", "trace-4711-abc")],
            )
            .await;
        assert_eq!(
            header(&echoed.headers, "x-request-id"),
            Some("trace-4711-abc"),
            "{path}"
        );
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------
// 9. Graceful shutdown

async fn graceful_shutdown_after_requests(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("bye").await;
    for i in 0..3 {
        app.post(
            "/v1/customers",
            &tenant.admin_token,
            &json!({"name": format!("Customer {i}")}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    app.get("/v1/customers", &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let base_url = app.base_url.clone();
    // Panics if the server task failed or does not finish.
    app.stop().await;
    let after = reqwest::Client::new()
        .get(format!("{base_url}/healthz"))
        .send()
        .await;
    assert!(
        after.is_err(),
        "the server still answers after stop: {after:?}"
    );
}
