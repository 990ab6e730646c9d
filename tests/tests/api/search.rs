//! Search: tickets by number, title, description, comments, customer, site
//! and asset serial; customers, sites and assets; ranked, prefix-matched,
//! case- and accent-folded, Chinese included; kept current by every write;
//! tenant-isolated and scoped to a technician's own tickets.

use super::*;

backend_tests!(
    search_finds_tickets_by_every_field,
    search_folds_case_accents_and_chinese,
    search_ranks_title_matches_first,
    search_index_follows_every_write,
    search_stays_in_tenant_and_technician_scope,
);

async fn search(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    app.get(&format!("/v1/search?{}", qs(query)), token)
        .await
        .expect(StatusCode::OK)["results"]
        .as_array()
        .cloned()
        .expect("results")
}

/// The ids of the hits of a search for `q` (any kind).
async fn found(app: &TestApp, token: &str, q: &str) -> Vec<Uuid> {
    search(app, token, &[("q", q)])
        .await
        .iter()
        .map(|hit| id_of(hit, "id"))
        .collect()
}

async fn ticket(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/v1/tickets", token, &body)
        .await
        .expect(StatusCode::CREATED)
}

async fn search_finds_tickets_by_every_field(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "finder").await;
    let admin = w.tenant.admin_token.as_str();
    let asset = app
        .post(
            "/v1/assets",
            admin,
            &json!({"site_id": w.site_id, "serial": "DL-4471X", "model": "La Marzocco"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let mut body = ticket_body(w.site_id, "Espresso machine leaking");
    body["description"] = json!("Water under the counter");
    body["asset_id"] = asset["id"].clone();
    let created = ticket(&app, admin, body).await;
    let id = id_of(&created, "id");
    let number = str_of(&created, "number");
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        admin,
        &json!({"body": "Replaced the gasket on Tuesday", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    ticket(&app, admin, ticket_body(w.site_id, "Unrelated oven")).await;

    // By number (as written, lower case, or its digits), title, description,
    // comment, customer, site name and address, asset serial.
    let digits = number
        .trim_start_matches("TR-")
        .trim_start_matches('0')
        .to_owned();
    for q in [
        number.as_str(),
        &number.to_lowercase(),
        &digits,
        "espresso",
        "counter",
        "gasket",
        "dl-4471x",
        "leaking espresso gasket",
    ] {
        let hits = search(&app, admin, &[("q", q), ("kind", "ticket")]).await;
        assert_eq!(
            hits.first().map(|h| id_of(h, "id")),
            Some(id),
            "q={q}: {hits:?}"
        );
    }
    // Customer and site words find both tickets there.
    for q in ["acme bakery", "torstraße 1"] {
        let hits = search(&app, admin, &[("q", q), ("kind", "ticket")]).await;
        assert!(hits.iter().any(|h| id_of(h, "id") == id), "q={q}: {hits:?}");
    }
    let hit = &search(&app, admin, &[("q", "gasket")]).await[0];
    assert_eq!(hit["kind"], "ticket");
    assert_eq!(hit["title"], "Espresso machine leaking");
    assert_eq!(hit["ticket_number"], json!(number));
    assert!(
        hit["subtitle"]
            .as_str()
            .is_some_and(|s| s.contains("Acme Bakery")),
        "{hit}"
    );
    assert!(hit["score"].as_f64().is_some_and(|s| s > 0.0), "{hit}");

    // The last word matches as a prefix, the others as whole words; every
    // word must match.
    assert_eq!(found(&app, admin, "espr").await, vec![id]);
    assert_eq!(found(&app, admin, "gasket tues").await, vec![id]);
    assert!(found(&app, admin, "gask tues").await.is_empty());
    assert!(found(&app, admin, "espresso fridge").await.is_empty());
    assert!(
        found(&app, admin, "spresso").await.is_empty(),
        "infixes do not match"
    );

    // Customers, sites and assets are found themselves.
    let customers = search(&app, admin, &[("q", "acme"), ("kind", "customer")]).await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(id_of(&customers[0], "id"), w.customer_id);
    assert_eq!(customers[0]["title"], "Acme Bakery");
    assert!(customers[0].get("ticket_number").is_none());
    let sites = search(&app, admin, &[("q", "torstr"), ("kind", "site")]).await;
    assert_eq!(
        sites.iter().map(|h| id_of(h, "id")).collect::<Vec<_>>(),
        vec![w.site_id]
    );
    let assets = search(&app, admin, &[("q", "DL-4471"), ("kind", "asset")]).await;
    assert_eq!(
        assets.iter().map(|h| id_of(h, "id")).collect::<Vec<_>>(),
        vec![id_of(&asset, "id")]
    );

    // The queue's `q` uses the same index.
    let queue = app
        .get(&format!("/v1/tickets?{}", qs(&[("q", "gasket")])), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&queue), vec![id]);
    assert_eq!(queue["items"][0]["number"], json!(number));

    // Bad parameters are refused.
    app.get("/v1/search?q=x&limit=0", admin)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.get("/v1/search?q=x&kind=invoice", admin)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");
    // No words, no hits; SQL and query syntax are just text.
    for q in ["", "  -- ", "\"", "' OR 1=1 --", "a* OR NEAR(x)", "):*&!|"] {
        let hits = search(&app, admin, &[("q", q)]).await;
        assert!(hits.iter().all(|h| h["kind"].is_string()), "q={q}");
    }
}

async fn search_folds_case_accents_and_chinese(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "folding").await;
    let admin = w.tenant.admin_token.as_str();
    let cafe = id_of(
        &ticket(
            &app,
            admin,
            ticket_body(w.site_id, "Café Crème: Kühlung defekt"),
        )
        .await,
        "id",
    );
    let chinese = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "空调不制冷")).await,
        "id",
    );
    let mixed = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "三楼A3空调漏水")).await,
        "id",
    );

    for q in ["cafe", "CAFÉ", "Cafe creme", "kuhlung", "KÜHLUNG", "defe"] {
        assert_eq!(found(&app, admin, q).await, vec![cafe], "q={q}");
    }
    // A word of a Chinese title, which has no spaces, finds it.
    assert_eq!(found(&app, admin, "制冷").await, vec![chinese]);
    assert_eq!(found(&app, admin, "不制冷").await, vec![chinese]);
    let mut both = found(&app, admin, "空调").await;
    both.sort();
    let mut expected = vec![chinese, mixed];
    expected.sort();
    assert_eq!(both, expected);
    assert_eq!(found(&app, admin, "漏水").await, vec![mixed]);
    assert_eq!(found(&app, admin, "a3").await, vec![mixed]);
    assert!(found(&app, admin, "冰箱").await.is_empty());
    let queue = app
        .get(&format!("/v1/tickets?{}", qs(&[("q", "制冷")])), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&queue), vec![chinese]);
}

async fn search_ranks_title_matches_first(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "ranking").await;
    let admin = w.tenant.admin_token.as_str();
    let mut body = ticket_body(w.site_id, "Pump noise");
    body["description"] = json!("The pump sits next to the boiler room");
    let mention = id_of(&ticket(&app, admin, body).await, "id");
    let titled = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "Boiler pressure low")).await,
        "id",
    );
    ticket(&app, admin, ticket_body(w.site_id, "Window stuck")).await;

    let hits = search(&app, admin, &[("q", "boiler"), ("kind", "ticket")]).await;
    assert_eq!(
        hits.iter().map(|h| id_of(h, "id")).collect::<Vec<_>>(),
        vec![titled, mention]
    );
    let scores: Vec<f64> = hits
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(scores[0] > scores[1], "{scores:?}");

    // The queue ranks when asked, else keeps its order.
    let ranked = app
        .get("/v1/tickets?q=boiler&sort=relevance", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&ranked), vec![titled, mention]);
    assert!(ranked["next_cursor"].is_null());
    let created = app
        .get("/v1/tickets?q=boiler", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&created), vec![mention, titled]);
    let newest = app
        .get("/v1/tickets?q=boiler&sort=-created", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&newest), vec![titled, mention]);
    let one = app
        .get("/v1/tickets?q=boiler&limit=1", admin)
        .await
        .expect(StatusCode::OK);
    let cursor = str_of(&one, "next_cursor");
    app.get(
        &format!(
            "/v1/tickets?{}",
            qs(&[("q", "boiler"), ("sort", "relevance"), ("cursor", &cursor)])
        ),
        admin,
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    // The limit caps the hits.
    assert_eq!(
        search(&app, admin, &[("q", "boiler"), ("limit", "1")])
            .await
            .len(),
        1
    );
}

async fn search_index_follows_every_write(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "fresh").await;
    let admin = w.tenant.admin_token.as_str();
    let id = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "Gate motor")).await,
        "id",
    );

    app.patch(
        &format!("/v1/tickets/{id}"),
        admin,
        &json!({"title": "Barrier arm"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(found(&app, admin, "gate").await.is_empty());
    assert_eq!(found(&app, admin, "barrier").await, vec![id]);

    app.patch(
        &format!("/v1/customers/{}", w.customer_id),
        admin,
        &json!({"name": "Zeppelin Logistics"}),
    )
    .await
    .expect(StatusCode::OK);
    let hits = search(&app, admin, &[("q", "zeppelin")]).await;
    let kinds: Vec<(&str, Uuid)> = hits
        .iter()
        .map(|h| (h["kind"].as_str().unwrap_or_default(), id_of(h, "id")))
        .collect();
    assert!(kinds.contains(&("ticket", id)), "{kinds:?}");
    assert!(kinds.contains(&("customer", w.customer_id)), "{kinds:?}");
    assert!(kinds.contains(&("site", w.site_id)), "{kinds:?}");
    assert!(found(&app, admin, "acme").await.is_empty());

    app.patch(
        &format!("/v1/sites/{}", w.site_id),
        admin,
        &json!({"name": "Westhafen", "address": "Westhafenstraße 1"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(found(&app, admin, "westhafen").await.contains(&id));
    assert!(found(&app, admin, "mitte").await.is_empty());

    let asset = app
        .post(
            "/v1/assets",
            admin,
            &json!({"site_id": w.site_id, "serial": "OLD-1", "model": "Came"}),
        )
        .await
        .expect(StatusCode::CREATED);
    app.patch(
        &format!("/v1/tickets/{id}"),
        admin,
        &json!({"asset_id": asset["id"]}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(found(&app, admin, "old-1").await.contains(&id));
    app.patch(
        &format!("/v1/assets/{}", asset["id"].as_str().unwrap_or_default()),
        admin,
        &json!({"serial": "NEW-2"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(found(&app, admin, "old-1").await.is_empty());
    assert!(found(&app, admin, "new-2").await.contains(&id));
}

async fn search_stays_in_tenant_and_technician_scope(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "scoped").await;
    let other = World::create(&app, "elsewhere").await;
    let admin = w.tenant.admin_token.as_str();
    let mine = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "Freezer alarm")).await,
        "id",
    );
    let unassigned = id_of(
        &ticket(&app, admin, ticket_body(w.site_id, "Freezer door")).await,
        "id",
    );
    let foreign = id_of(
        &ticket(
            &app,
            &other.tenant.admin_token,
            ticket_body(other.site_id, "Freezer alarm"),
        )
        .await,
        "id",
    );
    app.post(
        &format!("/v1/tickets/{mine}/assign"),
        admin,
        &json!({"technician_id": w.technician_id}),
    )
    .await
    .expect(StatusCode::OK);

    let mut office = found(&app, admin, "freezer").await;
    office.sort();
    let mut expected = vec![mine, unassigned];
    expected.sort();
    assert_eq!(office, expected, "the other tenant's ticket stays out");
    assert_eq!(
        found(&app, &other.tenant.admin_token, "freezer").await,
        vec![foreign]
    );
    assert!(
        found(&app, &other.tenant.admin_token, "acme")
            .await
            .iter()
            .all(|id| *id != w.customer_id)
    );

    // A technician finds only their own tickets, and no customers.
    let tech = w.technician_token.as_str();
    assert_eq!(found(&app, tech, "freezer").await, vec![mine]);
    assert!(
        search(&app, tech, &[("q", "acme"), ("kind", "customer")])
            .await
            .is_empty()
    );
    assert!(found(&app, tech, "acme").await.iter().all(|id| *id == mine));
    let queue = app
        .get("/v1/tickets?q=freezer", tech)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&queue), vec![mine]);
}
