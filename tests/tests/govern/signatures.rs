//! A customer's signature comes from the technician the ticket is assigned
//! to (or a role the operator allowed), and `signed_at` is not in the future.

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::domain::people::Role;
use truckroll_tests::{TestBackend, app::TestApp, fixtures::Shop};

backend_tests!(
    only_the_assigned_technician_captures_a_signature,
    an_allowed_office_role_may_capture,
);

fn signature(signed_at: Option<&str>) -> Value {
    json!({
        "signer_name": "Erika Mustermann",
        "signed_at": signed_at,
        "width": 200, "height": 80,
        "strokes": [[{"x": 10, "y": 60}, {"x": 40, "y": 20}, {"x": 70, "y": 60}]],
    })
}

async fn only_the_assigned_technician_captures_a_signature(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "sign").technicians(2).build().await;
    let ticket = shop.assigned_ticket(&app, shop.techs[0].id).await;
    let path = format!("/v1/tickets/{ticket}/signature");
    let (_, desk) = app
        .create_user(&shop.tenant, "desk@sign.test", "dispatcher")
        .await;
    for (who, token) in [("dispatcher", &desk), ("admin", &shop.tenant.admin_token)] {
        let reply = app.post(&path, token, &signature(None)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who}: {}", reply.body);
    }
    // The other technician does not see the ticket at all.
    let reply = app
        .post(&path, &shop.techs[1].token, &signature(None))
        .await;
    reply.expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let reply = app
        .post(
            &path,
            &shop.techs[0].token,
            &signature(Some("2099-01-01T00:00:00Z")),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(reply.body["errors"][0]["field"], "signed_at");
    let earlier = (chrono::Utc::now() - chrono::Duration::minutes(3)).to_rfc3339();
    app.post(&path, &shop.techs[0].token, &signature(Some(&earlier)))
        .await
        .expect(StatusCode::CREATED);
    app.stop().await;
}

async fn an_allowed_office_role_may_capture(backend: TestBackend) {
    let app = TestApp::start_with(backend, |config| {
        config.governance.signature_roles = vec![Role::Dispatcher];
    })
    .await;
    let shop = Shop::builder(&app, "sign-desk").build().await;
    let ticket = shop.assigned_ticket(&app, shop.tech().id).await;
    let (_, desk) = app
        .create_user(&shop.tenant, "desk@sign-desk.test", "dispatcher")
        .await;
    app.post(
        &format!("/v1/tickets/{ticket}/signature"),
        &desk,
        &signature(None),
    )
    .await
    .expect(StatusCode::CREATED);
    app.stop().await;
}
