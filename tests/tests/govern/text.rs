//! Text the databases cannot store (NUL characters) is refused with the
//! same 422 on both backends, centrally for every JSON body, query string
//! and path — even on sign-in without a token — and blob keys with `.` or
//! `..` segments are a 4xx, not a fault.

use reqwest::{Method, StatusCode};
use serde_json::json;
use truckroll_server::blob::signing::Grant;
use truckroll_tests::{
    TestBackend,
    app::TestApp,
    fixtures::{Shop, error_fields},
};

backend_tests!(
    nul_characters_are_refused_everywhere_alike,
    blob_keys_with_dot_segments_are_refused,
);

async fn nul_characters_are_refused_everywhere_alike(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "nul").build().await;
    let admin = &shop.tenant.admin_token;

    let reply = super::login_with(
        &app,
        &json!({"tenant": "a\u{0}b", "email": "x@y.test", "password": "whatever-whatever"}),
    )
    .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), ["tenant"]);

    let bodies = [
        (
            "/v1/tickets",
            json!({"title": "Leak\u{0}", "category": "hvac", "priority": "P3", "site_id": shop.site}),
            "title",
        ),
        (
            "/v1/tickets",
            json!({"title": "Leak", "category": "hvac", "priority": "P3", "site_id": shop.site,
                   "custom_fields": {"refrigerant": "R\u{0}32"}}),
            "custom_fields.refrigerant",
        ),
        (
            "/v1/tickets",
            json!({"title": "Leak", "category": "hvac", "priority": "P3", "site_id": shop.site,
                   "tags": ["ok", "b\u{0}d"]}),
            "tags[1]",
        ),
        (
            "/v1/webhooks",
            json!({"url": "https://example.com/\u{0}", "events": ["ticket.created"]}),
            "url",
        ),
        ("/v1/customers", json!({"name": "\u{0}"}), "name"),
        (
            "/v1/categories",
            json!({"name": "boiler", "custom_fields_schema": {"type": "object", "properties": {"a\u{0}": {"type": "string"}}}}),
            "custom_fields_schema.properties.a",
        ),
    ];
    for (path, body, field) in bodies {
        let reply = app.post(path, admin, &body).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        let fields = error_fields(&reply);
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{path}: {fields:?} should name {field}"
        );
    }
    for query in ["q=a%00b", "tag=a%00", "category=%00"] {
        let reply = app.get(&format!("/v1/tickets?{query}"), admin).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    }
    let reply = app
        .send(Method::GET, "/v1/search?q=%00", Some(admin), None)
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.stop().await;
}

async fn blob_keys_with_dot_segments_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let fs = app.state.blobs.as_fs().expect("the fs blob store");
    let expires = chrono::Utc::now().timestamp() + 600;
    for key in ["t/../x", "t/./x", "./x", "t//x"] {
        // A correctly signed URL: only the key itself is wrong.
        let sig = Grant {
            method: "GET",
            key,
            expires,
            content: None,
        }
        .sign(fs.secret());
        // Raw HTTP: a client library would normalise the dots away.
        let status = raw_get(
            app.address,
            &format!("/v1/blobs/{key}?expires={expires}&sig={sig}"),
        )
        .await;
        assert!((400..500).contains(&status), "{key}: {status}");
    }
    app.stop().await;
}

/// The status code of `GET target` sent byte for byte.
async fn raw_get(address: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text}"))
}
