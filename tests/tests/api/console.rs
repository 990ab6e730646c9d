//! What the console keeps besides tickets (`http/console.rs`): the user's
//! language and the tenant's settings on `/v1/me` and `/v1/tenant`, saved
//! queue views per user, ticket templates; and the `version` a client sends
//! with a ticket change or an assignment, refused with 409 when stale.

use super::*;
use truckroll_tests::fixtures::Shop;

backend_tests!(
    language_and_tenant_settings,
    saved_views_belong_to_their_user,
    ticket_templates_are_admin_managed,
    stale_versions_are_refused,
    office_sees_a_technicians_devices,
);

async fn language_and_tenant_settings(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("console-lang").await;
    let admin = tenant.admin_token.clone();
    let (_, dispatcher) = app
        .create_user(&tenant, "d@console.test", "dispatcher")
        .await;

    let me = app.get("/v1/me", &dispatcher).await.expect(StatusCode::OK);
    assert_eq!(me["role"], "dispatcher");
    assert_eq!(
        me["locale"],
        Value::Null,
        "no choice yet: follow the browser"
    );
    assert_eq!(me["tenant"]["time_zone"], "UTC");
    assert_eq!(me["tenant"]["default_locale"], "en");

    let me = app
        .patch("/v1/me", &dispatcher, &json!({"locale": "zh-CN"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["locale"], "zh-CN");
    let me = app.get("/v1/me", &dispatcher).await.expect(StatusCode::OK);
    assert_eq!(me["locale"], "zh-CN", "the choice is kept on the server");
    app.patch("/v1/me", &dispatcher, &json!({"locale": "fr"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let me = app
        .patch("/v1/me", &dispatcher, &json!({"locale": null}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["locale"], Value::Null);

    // The tenant: every user reads it, only admins change it; zones are IANA names.
    let settings = app
        .get("/v1/tenant", &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(settings["name"], tenant.name.as_str());
    app.patch(
        "/v1/tenant",
        &dispatcher,
        &json!({"time_zone": "Asia/Shanghai"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let refused = app
        .patch("/v1/tenant", &admin, &json!({"time_zone": "Mars/Olympus"}))
        .await;
    refused.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        refused.body.to_string().contains("time_zone"),
        "{}",
        refused.body
    );
    let settings = app
        .patch(
            "/v1/tenant",
            &admin,
            &json!({"time_zone": "Asia/Shanghai", "default_locale": "zh-CN"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(settings["time_zone"], "Asia/Shanghai");
    let me = app.get("/v1/me", &dispatcher).await.expect(StatusCode::OK);
    assert_eq!(me["tenant"]["time_zone"], "Asia/Shanghai");
    assert_eq!(me["tenant"]["default_locale"], "zh-CN");

    // Another tenant is untouched.
    let other = app.create_tenant("console-other").await;
    let theirs = app
        .get("/v1/tenant", &other.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs["time_zone"], "UTC");
    app.stop().await;
}

async fn saved_views_belong_to_their_user(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("console-views").await;
    let (_, ann) = app
        .create_user(&tenant, "ann@console.test", "dispatcher")
        .await;
    let (_, bob) = app
        .create_user(&tenant, "bob@console.test", "dispatcher")
        .await;

    let view = app
        .post(
            "/v1/me/views",
            &ann,
            &json!({"name": "Urgent HVAC", "query": {"priority": "P1", "category": "hvac", "sla": "at_risk"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let view_id = id_of(&view, "id");
    app.post(
        "/v1/me/views",
        &ann,
        &json!({"name": "Urgent HVAC", "query": {}}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    app.post(
        "/v1/me/views",
        &ann,
        &json!({"name": "Bad", "query": {"password": "x"}}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let mine = app.get("/v1/me/views", &ann).await.expect(StatusCode::OK);
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["query"]["priority"], "P1");
    let theirs = app.get("/v1/me/views", &bob).await.expect(StatusCode::OK);
    assert_eq!(theirs, json!([]), "views are per user");
    app.send(
        Method::DELETE,
        &format!("/v1/me/views/{view_id}"),
        Some(&bob),
        None,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.send(
        Method::DELETE,
        &format!("/v1/me/views/{view_id}"),
        Some(&ann),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let mine = app.get("/v1/me/views", &ann).await.expect(StatusCode::OK);
    assert_eq!(mine, json!([]));
    app.stop().await;
}

async fn ticket_templates_are_admin_managed(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("console-templates").await;
    let admin = tenant.admin_token.clone();
    let (_, dispatcher) = app
        .create_user(&tenant, "d@templates.test", "dispatcher")
        .await;
    let (_, technician) = app
        .create_user(&tenant, "t@templates.test", "technician")
        .await;
    let fields = json!({"title": "Boiler service", "category": "hvac", "priority": "P3",
                        "tags": ["service"], "custom_fields": {"refrigerant": "R32"}});

    app.post(
        "/v1/ticket-templates",
        &dispatcher,
        &json!({"name": "Boiler", "fields": fields}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        "/v1/ticket-templates",
        &admin,
        &json!({"name": "Broken", "fields": {"priority": "P9", "colour": "red"}}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let created = app
        .post(
            "/v1/ticket-templates",
            &admin,
            &json!({"name": "Boiler", "fields": fields}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&created, "id");

    // Dispatchers use them; technicians do not create tickets.
    let listed = app
        .get("/v1/ticket-templates", &dispatcher)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed[0]["fields"]["custom_fields"]["refrigerant"], "R32");
    app.get("/v1/ticket-templates", &technician)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let renamed = app
        .patch(
            &format!("/v1/ticket-templates/{id}"),
            &admin,
            &json!({"name": "Boiler yearly"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Boiler yearly");
    assert_eq!(renamed["fields"]["title"], "Boiler service");
    app.send(
        Method::DELETE,
        &format!("/v1/ticket-templates/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/v1/ticket-templates/{id}"), &admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn stale_versions_are_refused(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let world = World::create(&app, "console-stale").await;
    let admin = world.tenant.admin_token.clone();
    let ticket = app
        .post(
            "/v1/tickets",
            &admin,
            &ticket_body(world.site_id, "Leaking valve"),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&ticket, "id");
    let read = ticket["updated_at"].clone();

    // One page saves with the version it read…
    let saved = app
        .patch(
            &format!("/v1/tickets/{id}"),
            &admin,
            &json!({"title": "Leaking valve, basement", "version": read}),
        )
        .await
        .expect(StatusCode::OK);
    assert_ne!(saved["updated_at"], read);
    // …the other, still holding the old version, is refused and told why.
    let stale = app
        .patch(
            &format!("/v1/tickets/{id}"),
            &admin,
            &json!({"priority": "P1", "version": read}),
        )
        .await;
    stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    assert!(
        detail(&stale).contains("changed since you read it"),
        "{}",
        stale.body
    );
    let now = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(now["priority"], "P3", "the stale change was not applied");

    // Assignment with a stale version is refused too; with the current one it works.
    let stale = app
        .post(
            &format!("/v1/tickets/{id}/assign"),
            &admin,
            &json!({"technician_id": world.technician_id, "version": read}),
        )
        .await;
    stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    let assigned = app
        .post(
            &format!("/v1/tickets/{id}/assign"),
            &admin,
            &json!({"technician_id": world.technician_id, "version": now["updated_at"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(assigned["status"], "assigned");
    app.stop().await;
}

async fn office_sees_a_technicians_devices(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "devices").build().await;
    let tech = shop.tech();
    let path = format!("/v1/technicians/{}/devices", tech.id);
    let none = app
        .get(&path, &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(none, json!([]));

    let phone = app
        .post(
            "/v1/devices",
            &tech.token,
            &json!({"platform": "android", "actor_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                    "push_token": "fcm-secret-token"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let tablet = app
        .post(
            "/v1/devices",
            &tech.token,
            &json!({"platform": "ios", "actor_id": "1a1b2c3d4e5f60718293a4b5c6d7e8f9"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let list = app
        .get(&path, &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], phone["id"]);
    assert_eq!(list[0]["platform"], "android");
    assert_eq!(list[0]["push_enabled"], true);
    assert_eq!(list[0]["documents"], 0);
    assert_eq!(list[1]["id"], tablet["id"]);
    assert_eq!(list[1]["push_enabled"], false);
    assert!(
        !Value::Array(list.clone())
            .to_string()
            .contains("fcm-secret-token"),
        "the push token stays private"
    );

    // Technicians do not read devices, their own included; other tenants see nothing.
    app.get(&path, &tech.token)
        .await
        .expect(StatusCode::FORBIDDEN);
    let other = app.create_tenant("devices-other").await;
    app.get(&path, &other.admin_token)
        .await
        .expect(StatusCode::NOT_FOUND);
}
