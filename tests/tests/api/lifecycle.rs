//! Master data after creation: update, archive (refused with a reason while
//! open tickets refer to a record), restore, delete, the ticket filters and
//! histories of a customer, site and asset, and user deactivation and
//! password resets.

use super::*;

backend_tests!(
    master_data_updates_cover_the_create_fields,
    archive_is_refused_while_open_tickets_refer,
    archived_records_leave_lists_and_new_tickets,
    delete_only_what_nothing_refers_to,
    ticket_filters_and_histories,
    categories_and_sla_policies_have_a_lifecycle,
    deactivated_users_cannot_sign_in,
    admins_reset_passwords,
    lifecycle_stays_in_its_tenant,
);

async fn delete(app: &TestApp, path: &str, token: &str) -> Reply {
    app.send(Method::DELETE, path, Some(token), None).await
}

async fn new_ticket(app: &TestApp, token: &str, body: &Value) -> Uuid {
    id_of(
        &app.post("/v1/tickets", token, body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    )
}

async fn cancel(app: &TestApp, token: &str, ticket: Uuid) {
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        token,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn asset(app: &TestApp, token: &str, site: Uuid, serial: &str) -> Uuid {
    id_of(
        &app.post(
            "/v1/assets",
            token,
            &json!({"site_id": site, "serial": serial, "model": "Daikin FTXM"}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    )
}

async fn site(app: &TestApp, token: &str, customer: Uuid, name: &str) -> Uuid {
    id_of(
        &app.post(
            "/v1/sites",
            token,
            &json!({"customer_id": customer, "name": name, "address": "Invalidenstraße 1",
                    "location": {"lat": 52.53, "lon": 13.38}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    )
}

/// The ids of a list, read as one page of up to 200.
async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<Uuid> {
    let separator = if path.contains('?') { '&' } else { '?' };
    ids(&app
        .get(&format!("{path}{separator}limit=200"), token)
        .await
        .expect(StatusCode::OK))
}

async fn candidate_ids(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Uuid> {
    app.get(&format!("/v1/tickets/{ticket}/candidates?k=5"), token)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .map(|c| c.iter().map(|c| id_of(c, "technician_id")).collect())
        .unwrap_or_default()
}

async fn master_data_updates_cover_the_create_fields(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "update").await;
    let admin = w.tenant.admin_token.as_str();

    let customer = app
        .patch(
            &format!("/v1/customers/{}", w.customer_id),
            admin,
            &json!({"name": "Acme Bakery & Café", "tier": "gold", "email": "Office@Acme.test"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(customer["name"], "Acme Bakery & Café");
    assert_eq!(customer["tier"], "gold");
    assert_eq!(customer["email"], "office@acme.test");
    assert!(customer["archived_at"].is_null(), "{customer}");

    // A site may move to another customer and another place.
    let other = id_of(
        &app.post("/v1/customers", admin, &json!({"name": "Other"}))
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let moved = app
        .patch(
            &format!("/v1/sites/{}", w.site_id),
            admin,
            &json!({"customer_id": other, "location": {"lat": 48.137, "lon": 11.575}, "name": "München"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&moved, "customer_id"), other);
    assert_eq!(moved["location"], json!({"lat": 48.137, "lon": 11.575}));
    assert_eq!(moved["name"], "München");
    assert!(moved["archived_at"].is_null());

    let asset_id = asset(&app, admin, w.site_id, "SN-1").await;
    let second_site = site(&app, admin, w.customer_id, "Second").await;
    let edited = app
        .patch(
            &format!("/v1/assets/{asset_id}"),
            admin,
            &json!({"serial": "SN-2", "site_id": second_site, "model": "Vaillant"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["serial"], "SN-2");
    assert_eq!(id_of(&edited, "site_id"), second_site);
    // A serial another asset has is refused; bad references are named.
    asset(&app, admin, w.site_id, "SN-3").await;
    app.patch(
        &format!("/v1/assets/{asset_id}"),
        admin,
        &json!({"serial": "SN-3"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    let reply = app
        .patch(
            &format!("/v1/sites/{}", w.site_id),
            admin,
            &json!({"customer_id": Uuid::now_v7()}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), vec!["customer_id"]);
    let reply = app
        .patch(
            &format!("/v1/sites/{}", w.site_id),
            admin,
            &json!({"location": {"lat": 123.0, "lon": 0.0}}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");

    // Every edit is audited.
    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["customer.update", "site.update", "asset.update"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn archive_is_refused_while_open_tickets_refer(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "refuse").await;
    let admin = w.tenant.admin_token.as_str();
    let asset_id = asset(&app, admin, w.site_id, "SN-9").await;
    let mut body = ticket_body(w.site_id, "Cold room warm");
    body["asset_id"] = json!(asset_id);
    let first = new_ticket(&app, admin, &body).await;
    let second = new_ticket(&app, admin, &ticket_body(w.site_id, "Second")).await;
    let category = app
        .get("/v1/categories", admin)
        .await
        .expect(StatusCode::OK)["items"][0]["id"]
        .as_str()
        .expect("hvac category")
        .to_owned();
    app.post(
        &format!("/v1/tickets/{first}/assign"),
        admin,
        &json!({"technician_id": w.technician_id}),
    )
    .await
    .expect(StatusCode::OK);

    let refused = |path: String, detail_text: &'static str| {
        let app = &app;
        async move {
            let reply = app.post(&path, admin, &json!({})).await;
            reply.expect_problem(StatusCode::CONFLICT, "/in_use");
            assert_eq!(detail(&reply), detail_text, "{path}");
        }
    };
    refused(
        format!("/v1/sites/{}/archive", w.site_id),
        "site has 2 open tickets",
    )
    .await;
    refused(
        format!("/v1/customers/{}/archive", w.customer_id),
        "customer has 2 open tickets",
    )
    .await;
    refused(
        format!("/v1/assets/{asset_id}/archive"),
        "asset has 1 open ticket",
    )
    .await;
    refused(
        format!("/v1/categories/{category}/archive"),
        "category has 2 open tickets",
    )
    .await;
    refused(
        format!("/v1/technicians/{}/archive", w.technician_id),
        "technician has 1 open assigned ticket",
    )
    .await;
    // Nothing was archived.
    let site = app
        .get(&format!("/v1/sites/{}", w.site_id), admin)
        .await
        .expect(StatusCode::OK);
    assert!(site["archived_at"].is_null());

    // Once the tickets are cancelled, everything may be archived.
    cancel(&app, admin, first).await;
    cancel(&app, admin, second).await;
    for path in [
        format!("/v1/sites/{}/archive", w.site_id),
        format!("/v1/customers/{}/archive", w.customer_id),
        format!("/v1/assets/{asset_id}/archive"),
        format!("/v1/categories/{category}/archive"),
        format!("/v1/technicians/{}/archive", w.technician_id),
    ] {
        let archived = app
            .post(&path, admin, &json!({}))
            .await
            .expect(StatusCode::OK);
        assert!(archived["archived_at"].is_string(), "{path}: {archived}");
    }
}

async fn archived_records_leave_lists_and_new_tickets(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "hidden").await;
    let admin = w.tenant.admin_token.as_str();
    let kept = site(&app, admin, w.customer_id, "Kept").await;
    let asset_id = asset(&app, admin, kept, "SN-5").await;

    let archived = app
        .post(
            &format!("/v1/sites/{}/archive", w.site_id),
            admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(archived["archived_at"].is_string());
    assert_eq!(listed(&app, "/v1/sites", admin).await, vec![kept]);
    assert_eq!(
        listed(&app, "/v1/sites?archived=false", admin).await,
        vec![kept]
    );
    assert_eq!(
        listed(&app, "/v1/sites?archived=true", admin).await,
        vec![w.site_id]
    );
    assert_eq!(
        listed(&app, "/v1/sites?archived=all", admin).await,
        vec![w.site_id, kept]
    );
    app.get("/v1/sites?archived=maybe", admin)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");

    // An archived site cannot be chosen for a new ticket; the reason is named.
    let reply = app
        .post("/v1/tickets", admin, &ticket_body(w.site_id, "Nope"))
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), vec!["site_id"]);
    assert!(detail(&reply).contains("archived"), "{}", detail(&reply));

    // Nor an archived asset, nor a site of an archived customer.
    app.post(&format!("/v1/assets/{asset_id}/archive"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    let mut body = ticket_body(kept, "With asset");
    body["asset_id"] = json!(asset_id);
    let reply = app.post("/v1/tickets", admin, &body).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), vec!["asset_id"]);
    app.post(
        &format!("/v1/customers/{}/archive", w.customer_id),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let reply = app
        .post(
            "/v1/tickets",
            admin,
            &ticket_body(kept, "Customer archived"),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert!(
        detail(&reply).contains("customer is archived"),
        "{}",
        detail(&reply)
    );
    assert!(listed(&app, "/v1/customers", admin).await.is_empty());

    // Restored, all is usable again.
    for path in [
        format!("/v1/customers/{}/restore", w.customer_id),
        format!("/v1/sites/{}/restore", w.site_id),
        format!("/v1/assets/{asset_id}/restore"),
    ] {
        let restored = app
            .post(&path, admin, &json!({}))
            .await
            .expect(StatusCode::OK);
        assert!(restored["archived_at"].is_null(), "{path}: {restored}");
    }
    new_ticket(&app, admin, &body).await;
    assert_eq!(
        listed(&app, "/v1/sites", admin).await,
        vec![w.site_id, kept]
    );

    // An archived technician is no dispatch candidate; restored, they are again.
    app.patch(
        &format!("/v1/technicians/{}", w.technician_id),
        admin,
        &json!({"shifts": truckroll_tests::app::all_week_shifts()}),
    )
    .await
    .expect(StatusCode::OK);
    let ticket = new_ticket(&app, admin, &ticket_body(w.site_id, "Needs someone")).await;
    assert_eq!(
        candidate_ids(&app, admin, ticket).await,
        vec![w.technician_id]
    );
    app.post(
        &format!("/v1/technicians/{}/archive", w.technician_id),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(candidate_ids(&app, admin, ticket).await.is_empty());
    assert!(listed(&app, "/v1/technicians", admin).await.is_empty());
    // Also after a restart, which rebuilds the dispatch index from the database.
    let app = app.restart().await;
    assert!(candidate_ids(&app, admin, ticket).await.is_empty());
    app.post(
        &format!("/v1/technicians/{}/restore", w.technician_id),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        candidate_ids(&app, admin, ticket).await,
        vec![w.technician_id]
    );
}

async fn delete_only_what_nothing_refers_to(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "delete").await;
    let admin = w.tenant.admin_token.as_str();
    let asset_id = asset(&app, admin, w.site_id, "SN-7").await;
    let ticket = new_ticket(&app, admin, &ticket_body(w.site_id, "Done soon")).await;
    cancel(&app, admin, ticket).await;

    let reply = delete(&app, &format!("/v1/sites/{}", w.site_id), admin).await;
    reply.expect_problem(StatusCode::CONFLICT, "/in_use");
    assert_eq!(detail(&reply), "site has 1 asset and 1 ticket");
    let reply = delete(&app, &format!("/v1/customers/{}", w.customer_id), admin).await;
    reply.expect_problem(StatusCode::CONFLICT, "/in_use");
    assert_eq!(detail(&reply), "customer has 1 site and 1 ticket");
    let reply = delete(&app, &format!("/v1/technicians/{}", w.technician_id), admin).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    // Unused records go for good.
    let lone = site(&app, admin, w.customer_id, "Lone").await;
    let lone_asset = asset(&app, admin, lone, "SN-8").await;
    assert_eq!(
        delete(&app, &format!("/v1/assets/{lone_asset}"), admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &format!("/v1/sites/{lone}"), admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/v1/sites/{lone}"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    delete(&app, &format!("/v1/sites/{lone}"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    // A deleted site is no longer found by search.
    let found = app
        .get("/v1/search?q=lone&kind=site", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(found["results"], json!([]), "{found}");
    // The asset with history stays.
    app.get(&format!("/v1/assets/{asset_id}"), admin)
        .await
        .expect(StatusCode::OK);

    // Dispatchers may not delete technicians; managers nothing at all.
    let (_, dispatcher) = app
        .create_user(&w.tenant, "disp@delete.test", "dispatcher")
        .await;
    let (_, manager) = app
        .create_user(&w.tenant, "mgr@delete.test", "manager")
        .await;
    delete(&app, &format!("/v1/assets/{asset_id}"), &manager)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.post(
        &format!("/v1/sites/{}/archive", w.site_id),
        &manager,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.post(
        &format!("/v1/sites/{}/archive", w.site_id),
        &dispatcher,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn ticket_filters_and_histories(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "history").await;
    let admin = w.tenant.admin_token.as_str();
    let other_customer = id_of(
        &app.post("/v1/customers", admin, &json!({"name": "Other"}))
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let other_site = site(&app, admin, other_customer, "Elsewhere").await;
    let asset_id = asset(&app, admin, w.site_id, "SN-H").await;
    let mut with_asset = ticket_body(w.site_id, "With asset");
    with_asset["asset_id"] = json!(asset_id);
    let a = new_ticket(&app, admin, &with_asset).await;
    let b = new_ticket(&app, admin, &ticket_body(other_site, "Other customer")).await;
    let c = new_ticket(&app, admin, &ticket_body(w.site_id, "Plain")).await;
    let d = new_ticket(&app, admin, &with_asset).await;
    cancel(&app, admin, d).await;

    let customer = w.customer_id;
    assert_eq!(
        listed(&app, &format!("/v1/tickets?customer_id={customer}"), admin).await,
        vec![a, c, d]
    );
    assert_eq!(
        listed(
            &app,
            &format!("/v1/tickets?customer_id={other_customer}"),
            admin
        )
        .await,
        vec![b]
    );
    assert_eq!(
        listed(&app, &format!("/v1/tickets?asset_id={asset_id}"), admin).await,
        vec![a, d]
    );
    assert_eq!(
        listed(
            &app,
            &format!("/v1/tickets?asset_id={asset_id}&status=cancelled"),
            admin
        )
        .await,
        vec![d]
    );
    assert_eq!(
        listed(&app, "/v1/tickets?sort=-created", admin).await,
        vec![d, c, b, a]
    );

    // Histories: every status, newest first, paged like the queue.
    assert_eq!(
        listed(&app, &format!("/v1/customers/{customer}/tickets"), admin).await,
        vec![d, c, a]
    );
    assert_eq!(
        listed(&app, &format!("/v1/sites/{other_site}/tickets"), admin).await,
        vec![b]
    );
    let first = app
        .get(&format!("/v1/assets/{asset_id}/tickets?limit=1"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&first), vec![d]);
    assert_eq!(first["items"][0]["status"], "cancelled");
    assert!(
        first["items"][0]["number"].is_string(),
        "ticket JSON: {first}"
    );
    let cursor = str_of(&first, "next_cursor");
    let second = app
        .get(
            &format!(
                "/v1/assets/{asset_id}/tickets?{}",
                qs(&[("limit", "1"), ("cursor", &cursor)])
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&second), vec![a]);
    assert!(second["next_cursor"].is_null());

    // Histories are for the office: a technician is refused.
    app.get(
        &format!("/v1/customers/{customer}/tickets"),
        &w.technician_token,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
}

async fn categories_and_sla_policies_have_a_lifecycle(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "catalog").await;
    let admin = w.tenant.admin_token.as_str();
    let hvac = app
        .get("/v1/categories", admin)
        .await
        .expect(StatusCode::OK)["items"][0]
        .clone();
    let hvac_id = id_of(&hvac, "id");

    // The schema and description change; the new schema applies to new tickets.
    let schema = json!({"type": "object", "properties": {"refrigerant": {"enum": ["R290"]}}});
    let edited = app
        .patch(
            &format!("/v1/categories/{hvac_id}"),
            admin,
            &json!({"description": "Heating and cooling", "custom_fields_schema": schema}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(edited["description"], "Heating and cooling");
    assert_eq!(edited["custom_fields_schema"], schema);
    let reply = app
        .post(
            "/v1/tickets",
            admin,
            &ticket_body(w.site_id, "R32 now refused"),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let mut body = ticket_body(w.site_id, "R290");
    body["custom_fields"] = json!({"refrigerant": "R290"});
    let ticket = new_ticket(&app, admin, &body).await;
    // A name tickets use stays.
    let reply = app
        .patch(
            &format!("/v1/categories/{hvac_id}"),
            admin,
            &json!({"name": "cooling"}),
        )
        .await;
    reply.expect_problem(StatusCode::CONFLICT, "/in_use");
    app.patch(
        &format!("/v1/categories/{hvac_id}"),
        admin,
        &json!({"custom_fields_schema": 5}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    // Dispatchers may not edit categories.
    let (_, dispatcher) = app
        .create_user(&w.tenant, "disp@catalog.test", "dispatcher")
        .await;
    app.patch(
        &format!("/v1/categories/{hvac_id}"),
        &dispatcher,
        &json!({"description": "x"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");

    // An unused category is renamed, archived (no new tickets), restored, deleted.
    let spare = id_of(
        &app.post("/v1/categories", admin, &json!({"name": "spare"}))
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let renamed = app
        .patch(
            &format!("/v1/categories/{spare}"),
            admin,
            &json!({"name": "plumbing"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "plumbing");
    app.post(
        &format!("/v1/categories/{spare}/archive"),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let mut plumbing = ticket_body(w.site_id, "Pipe");
    plumbing["category"] = json!("plumbing");
    plumbing["custom_fields"] = json!({});
    let reply = app.post("/v1/tickets", admin, &plumbing).await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), vec!["category"]);
    assert_eq!(listed(&app, "/v1/categories", admin).await, vec![hvac_id]);
    assert_eq!(
        listed(&app, "/v1/categories?archived=true", admin).await,
        vec![spare]
    );
    app.post(
        &format!("/v1/categories/{spare}/restore"),
        admin,
        &json!({}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        delete(&app, &format!("/v1/categories/{spare}"), admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let reply = delete(&app, &format!("/v1/categories/{hvac_id}"), admin).await;
    reply.expect_problem(StatusCode::CONFLICT, "/in_use");
    assert_eq!(detail(&reply), "category has 1 ticket");

    // An archived SLA policy leaves the list and stops covering tickets.
    let policy = id_of(
        &app.post(
            "/v1/sla/policies",
            admin,
            &json!({"name": "All", "targets": {"response_minutes": 60}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let covered = app
        .get(&format!("/v1/tickets/{ticket}"), admin)
        .await
        .expect(StatusCode::OK);
    assert!(covered["sla"].is_object(), "{covered}");
    let archived = app
        .post(
            &format!("/v1/sla/policies/{policy}/archive"),
            admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(archived["archived_at"].is_string(), "{archived}");
    let listed_policies = app
        .get("/v1/sla/policies", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed_policies, json!([]));
    let all = app
        .get("/v1/sla/policies?archived=all", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let uncovered = app
        .get(&format!("/v1/tickets/{ticket}"), admin)
        .await
        .expect(StatusCode::OK);
    assert!(uncovered["sla"].is_null(), "{uncovered}");
    let restored = app
        .post(
            &format!("/v1/sla/policies/{policy}/restore"),
            admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(restored["archived_at"].is_null());
    assert_eq!(
        delete(&app, &format!("/v1/sla/policies/{policy}"), admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("/v1/sla/policies/{policy}"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
}

async fn deactivated_users_cannot_sign_in(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("leavers").await;
    let admin = tenant.admin_token.as_str();
    let (user, _) = app
        .create_user(&tenant, "leaver@leavers.test", "dispatcher")
        .await;
    let session = login(&app, "leavers", "leaver@leavers.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let refresh_token = str_of(&session, "refresh_token");

    let deactivated = app
        .post(&format!("/v1/users/{user}/deactivate"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(deactivated["active"], false);
    login(&app, "leavers", "leaver@leavers.test", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    refresh(&app, &refresh_token)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    // An admin cannot lock themselves out; only admins deactivate.
    app.post(
        &format!("/v1/users/{}/deactivate", tenant.admin_id),
        admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    let (_, dispatcher) = app
        .create_user(&tenant, "disp@leavers.test", "dispatcher")
        .await;
    app.post(
        &format!("/v1/users/{user}/activate"),
        &dispatcher,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");

    let activated = app
        .post(&format!("/v1/users/{user}/activate"), admin, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(activated["active"], true);
    login(&app, "leavers", "leaver@leavers.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    // PATCH covers name, role and active too.
    let patched = app
        .patch(
            &format!("/v1/users/{user}"),
            admin,
            &json!({"name": "Renamed", "role": "manager", "active": false}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["role"], "manager");
    assert_eq!(patched["active"], false);
}

async fn admins_reset_passwords(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("resets").await;
    let admin = tenant.admin_token.as_str();
    let (user, _) = app
        .create_user(&tenant, "forgot@resets.test", "technician")
        .await;
    let session = login(&app, "resets", "forgot@resets.test", PASSWORD)
        .await
        .expect(StatusCode::OK);

    let reply = app
        .post(
            &format!("/v1/users/{user}/password"),
            admin,
            &json!({"new_password": "short"}),
        )
        .await;
    reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&reply), vec!["new_password"]);
    let reply = app
        .post(
            &format!("/v1/users/{user}/password"),
            admin,
            &json!({"new_password": "a-brand-new-password"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    login(&app, "resets", "forgot@resets.test", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    login(&app, "resets", "forgot@resets.test", "a-brand-new-password")
        .await
        .expect(StatusCode::OK);
    // The old session ends.
    refresh(&app, &str_of(&session, "refresh_token"))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "/unauthorized");
    // Audited without the password.
    let audit = app
        .get("/v1/audit?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    let entry = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "user.password_reset")
        .cloned()
        .unwrap_or_else(|| panic!("no password reset in {audit}"));
    assert_eq!(id_of(&entry, "entity_id"), user);
    assert!(!entry.to_string().contains("a-brand-new-password"));
    assert!(!entry.to_string().contains("argon2"));
    // Only admins reset passwords.
    let (_, manager) = app.create_user(&tenant, "mgr@resets.test", "manager").await;
    app.post(
        &format!("/v1/users/{user}/password"),
        &manager,
        &json!({"new_password": "another-long-password"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
}

async fn lifecycle_stays_in_its_tenant(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let mine = World::create(&app, "mine").await;
    let theirs = World::create(&app, "theirs").await;
    let intruder = theirs.tenant.admin_token.as_str();
    for path in [
        format!("/v1/sites/{}/archive", mine.site_id),
        format!("/v1/customers/{}/restore", mine.customer_id),
        format!("/v1/technicians/{}/archive", mine.technician_id),
    ] {
        app.post(&path, intruder, &json!({}))
            .await
            .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    }
    delete(&app, &format!("/v1/sites/{}", mine.site_id), intruder)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.patch(
        &format!("/v1/customers/{}", mine.customer_id),
        intruder,
        &json!({"name": "x"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let history = app
        .get(
            &format!("/v1/customers/{}/tickets", mine.customer_id),
            intruder,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(history["items"], json!([]));
    app.post(
        &format!("/v1/users/{}/deactivate", mine.tenant.admin_id),
        intruder,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
}
