//! Role and active flag come from the store on every request (briefly
//! cached, cleared on change): a demotion or a deactivation takes effect on
//! the next request, not when the access token expires — and on
//! WebSockets opened before the change.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::{domain::people::UserPatch, store::Actor};
use truckroll_tests::{TestBackend, app::TestApp, fixtures::Shop};

backend_tests!(
    demotion_and_deactivation_take_effect_at_once,
    a_change_made_elsewhere_is_seen_within_the_cache_time,
    an_open_live_map_ends_on_demotion_and_on_deactivation,
    an_open_sync_socket_ends_when_the_technician_is_deactivated,
);

async fn demotion_and_deactivation_take_effect_at_once(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "demote").build().await;
    let admin = &shop.tenant.admin_token;
    let (desk, desk_token) = app
        .create_user(&shop.tenant, "desk@demote.test", "dispatcher")
        .await;
    let ticket =
        json!({"title": "Leak", "category": "hvac", "priority": "P3", "site_id": shop.site});
    app.post("/v1/tickets", &desk_token, &ticket)
        .await
        .expect(StatusCode::CREATED);
    app.patch(
        &format!("/v1/users/{desk}"),
        admin,
        &json!({"role": "manager"}),
    )
    .await
    .expect(StatusCode::OK);
    app.post("/v1/tickets", &desk_token, &ticket)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    // Reading still works: a manager reads tickets.
    app.get("/v1/tickets", &desk_token)
        .await
        .expect(StatusCode::OK);

    app.get("/v1/me", &desk_token).await.expect(StatusCode::OK);
    app.post(&format!("/v1/users/{desk}/deactivate"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    for path in ["/v1/me", "/v1/tickets"] {
        app.get(path, &desk_token)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    }
    app.stop().await;
}

/// Another replica (here: the store directly) changes the user; with the
/// cache off, the very next request sees it.
async fn a_change_made_elsewhere_is_seen_within_the_cache_time(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| config.auth.principal_cache_ms = 0).await;
    let shop = Shop::builder(&app, "elsewhere").build().await;
    let (desk, desk_token) = app
        .create_user(&shop.tenant, "desk@elsewhere.test", "dispatcher")
        .await;
    app.get("/v1/users", &desk_token)
        .await
        .expect(StatusCode::OK);
    let actor = Actor {
        tenant_id: shop.tenant.id,
        user_id: Some(shop.tenant.admin_id),
    };
    app.state
        .store
        .update_user(
            actor,
            desk,
            &UserPatch {
                role: Some(truckroll_server::domain::people::Role::Technician),
                ..UserPatch::default()
            },
            None,
        )
        .await
        .expect("demoted elsewhere");
    app.get("/v1/users", &desk_token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.stop().await;
}

/// The close frame that ends `socket`, reading past other messages; every
/// text message on the way is handed to `seen`. Waits up to the patience
/// cap per message (a condition, not a timing assertion).
async fn close_frame(
    socket: &mut truckroll_tests::live::Socket,
    mut seen: impl FnMut(&str),
) -> (u16, String) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(truckroll_tests::live::PATIENCE, socket.next())
            .await
            .expect("the socket was not closed within the patience cap")
            .expect("the socket ended without a close frame")
            .expect("socket error before the close frame");
        match message {
            Message::Close(Some(frame)) => {
                return (u16::from(frame.code), frame.reason.as_str().to_owned());
            }
            Message::Close(None) => panic!("closed without a code"),
            Message::Text(text) => seen(text.as_str()),
            _ => {}
        }
    }
}

/// A live map opened by a dispatcher stops when they are demoted (4403,
/// through the API: at once) and when they are deactivated on another
/// replica (here: the store directly, seen when the cache entry expires).
async fn an_open_live_map_ends_on_demotion_and_on_deactivation(backend: TestBackend) {
    use truckroll_tests::live::LiveClient;
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "live-demote").build().await;
    let admin = &shop.tenant.admin_token;
    let (desk, desk_token) = app
        .create_user(&shop.tenant, "desk@live-demote.test", "dispatcher")
        .await;
    let (other, other_token) = app
        .create_user(&shop.tenant, "night@live-demote.test", "dispatcher")
        .await;
    let mut demoted = LiveClient::connect(&app.base_url, &desk_token, None).await;
    demoted.snapshot().await;
    let mut deactivated = LiveClient::connect(&app.base_url, &other_token, None).await;
    deactivated.snapshot().await;

    app.patch(
        &format!("/v1/users/{desk}"),
        admin,
        &json!({"role": "technician"}),
    )
    .await
    .expect(StatusCode::OK);
    let mut errors = Vec::new();
    let (code, reason) = close_frame(&mut demoted.socket, |text| {
        let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
        if value["type"] == "error" {
            errors.push(value);
        }
    })
    .await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("live map"), "{reason}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Reconnecting is refused too.
    let refused = tokio_tungstenite::connect_async(truckroll_tests::live::live_url(
        &app.base_url,
        &desk_token,
        None,
    ))
    .await;
    assert!(refused.is_err(), "a technician opened the live map");

    // The other viewer keeps its stream until its own account changes.
    let actor = Actor {
        tenant_id: shop.tenant.id,
        user_id: Some(shop.tenant.admin_id),
    };
    app.state
        .store
        .update_user(
            actor,
            other,
            &UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            None,
        )
        .await
        .expect("deactivated elsewhere");
    let (code, reason) = close_frame(&mut deactivated.socket, |_| {}).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("deactivated"), "{reason}");
    app.stop().await;
}

/// A technician's sync WebSocket ends with `unauthorized` (4401) when the
/// account is deactivated, without the phone reconnecting.
async fn an_open_sync_socket_ends_when_the_technician_is_deactivated(backend: TestBackend) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    use truckroll_sdk::truckroll_sync::{ActorId, protocol::Message};

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sync-deactivate").build().await;
    let tech = shop.tech().clone();
    let device = app
        .post(
            "/v1/devices",
            &tech.token,
            &json!({"platform": "android", "actor_id": ActorId::random().to_hex_string()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let mut request = format!("ws://{}/v1/sync", app.address)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", tech.token).parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    let hello = Message::Hello {
        version: 1,
        device_id: truckroll_tests::app::id_of(&device, "id").to_string(),
    };
    socket
        .send(tungstenite::Message::Text(hello.encode().into()))
        .await
        .expect("hello");
    // The session is up once the server answered hello.
    let mut frames = Vec::new();
    while !frames.iter().any(|f| matches!(f, Message::Hello { .. })) {
        use futures_util::StreamExt;
        let next = tokio::time::timeout(truckroll_tests::live::PATIENCE, socket.next())
            .await
            .expect("hello answered")
            .expect("open")
            .expect("frame");
        if let tungstenite::Message::Text(text) = next {
            frames.push(Message::decode(text.as_str()).expect("frame"));
        }
    }

    app.post(
        &format!("/v1/users/{}/deactivate", tech.user_id),
        &shop.tenant.admin_token,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let mut errors = Vec::new();
    let (code, reason) = close_frame(&mut socket, |text| {
        if let Ok(frame @ Message::Error { .. }) = Message::decode(text) {
            errors.push(frame);
        }
    })
    .await;
    assert_eq!(code, 4401, "{reason}");
    assert_eq!(reason, "unauthorized");
    assert!(
        errors.iter().any(|f| matches!(
            f,
            Message::Error {
                code: truckroll_sdk::truckroll_sync::protocol::ErrorCode::Unauthorized,
                ..
            }
        )),
        "{errors:?}"
    );
    app.stop().await;
}
