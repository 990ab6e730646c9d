//! Role and active flag come from the store on every request (briefly
//! cached, cleared on change): a demotion or a deactivation takes effect on
//! the next request, not when the access token expires.

use reqwest::StatusCode;
use serde_json::json;
use truckroll_server::{domain::people::UserPatch, store::Actor};
use truckroll_tests::{TestBackend, app::TestApp, fixtures::Shop};

backend_tests!(
    demotion_and_deactivation_take_effect_at_once,
    a_change_made_elsewhere_is_seen_within_the_cache_time,
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
