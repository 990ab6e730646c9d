//! The knowledge base (issue 22): articles with every version kept and
//! revert, Markdown rendered without script, articles in the search,
//! suggestions for a ticket being written (English and Chinese fixtures,
//! the right article first), related articles of a ticket, votes, and the
//! public form's suggestions with deflection counting.

use super::*;

backend_tests!(
    articles_keep_every_version_and_revert,
    article_markdown_renders_without_script,
    suggestions_rank_the_right_article_first,
    related_articles_and_votes,
    public_suggestions_count_deflections,
    duplicates_are_found_by_place_and_words,
    merge_moves_comments_and_counts_once,
    subtickets_show_progress_and_hold_the_parent_open,
    a_policy_lets_the_parent_close_first,
    merge_tells_the_customer_once,
    an_article_is_drafted_from_a_solved_ticket,
);

// Attachments through the blob store: the `fs` backend and a real S3 server.
backend_tests!(blobs: article_attachments_are_stored_served_and_removed);

/// Every audit entry of the tenant, oldest first.
async fn audit_log(app: &TestApp, token: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!("/v1/audit?limit=200&after_seq={after}"), token)
            .await
            .expect(StatusCode::OK);
        entries.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => return entries,
        }
    }
}

fn article(title: &str, body: &str) -> Value {
    json!({"title": title, "body": body, "visibility": "internal"})
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/v1/knowledge/articles", token, &body)
        .await
        .expect(StatusCode::CREATED)
}

async fn articles_keep_every_version_and_revert(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbversions").await;
    let admin = w.tenant.admin_token.as_str();
    let (dispatcher_id, dispatcher) = app
        .create_user(&w.tenant, "disp@kbversions.test", "dispatcher")
        .await;

    let mut body = article(" Reset the boiler ", "1. Hold **reset** for 5 s");
    body["category"] = json!("Heating");
    body["tags"] = json!(["boiler", "boiler", "reset"]);
    body["asset_models"] = json!(["Vaillant ecoTEC"]);
    body["ticket_categories"] = json!(["hvac"]);
    let created = create(&app, admin, body).await;
    let id = id_of(&created, "id");
    assert_eq!(created["version"], 1);
    assert_eq!(created["title"], "Reset the boiler", "trimmed");
    assert_eq!(
        created["tags"],
        json!(["boiler", "reset"]),
        "duplicates dropped"
    );
    assert!(
        str_of(&created, "body_html").contains("<strong>reset</strong>"),
        "{created}"
    );

    // An edit names the version it was made from.
    let edit = |version: i64, text: &str| {
        json!({"version": version, "title": "Reset the boiler", "body": text,
               "category": "Heating", "tags": ["boiler"], "visibility": "internal"})
    };
    let second = app
        .send(
            Method::PUT,
            &format!("/v1/knowledge/articles/{id}"),
            Some(&dispatcher),
            Some(&edit(1, "Hold reset for 10 s")),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(second["version"], 2);
    assert_eq!(second["updated_by"], json!(dispatcher_id));
    // A stale edit is refused and changes nothing.
    app.send(
        Method::PUT,
        &format!("/v1/knowledge/articles/{id}"),
        Some(admin),
        Some(&edit(1, "lost update")),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    // Bad content is refused field by field.
    let bad = app
        .send(
            Method::PUT,
            &format!("/v1/knowledge/articles/{id}"),
            Some(admin),
            Some(&json!({"version": 2, "title": " ", "tags": [""], "visibility": "internal"})),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert_eq!(error_fields(&bad), ["title", "tags[0]"]);
    app.post(
        "/v1/knowledge/articles",
        admin,
        &json!({"title": "x", "visibility": "secret"}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    // A misspelt field is refused, on create and on edit, and writes nothing.
    let before = app
        .get("/v1/knowledge/articles", admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .map(Vec::len);
    let misspelt = app
        .post(
            "/v1/knowledge/articles",
            admin,
            &json!({"title": "Typo", "visibility": "internal", "tittle": "x"}),
        )
        .await;
    misspelt.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    assert!(
        misspelt.body.to_string().contains("tittle"),
        "{}",
        misspelt.body
    );
    app.send(
        Method::PUT,
        &format!("/v1/knowledge/articles/{id}"),
        Some(admin),
        Some(&json!({"version": 2, "title": "Typo", "visibility": "internal", "boddy": "x"})),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let after = app
        .get("/v1/knowledge/articles", admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after);

    // Every version is kept with who and when.
    let versions = app
        .get(&format!("/v1/knowledge/articles/{id}/versions"), admin)
        .await
        .expect(StatusCode::OK)["versions"]
        .as_array()
        .cloned()
        .expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["body"], "1. Hold **reset** for 5 s");
    assert_eq!(versions[0]["edited_by"], json!(w.tenant.admin_id));
    assert_eq!(versions[0]["asset_models"], json!(["Vaillant ecoTEC"]));
    assert_eq!(versions[1]["body"], "Hold reset for 10 s");
    assert_eq!(versions[1]["edited_by"], json!(dispatcher_id));

    // Revert: version 1's content becomes version 3.
    let reverted = app
        .post(
            &format!("/v1/knowledge/articles/{id}/revert"),
            admin,
            &json!({"to_version": 1, "version": 2}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reverted["version"], 3);
    assert_eq!(reverted["body"], "1. Hold **reset** for 5 s");
    assert_eq!(reverted["asset_models"], json!(["Vaillant ecoTEC"]));
    let versions = app
        .get(&format!("/v1/knowledge/articles/{id}/versions"), admin)
        .await
        .expect(StatusCode::OK)["versions"]
        .clone();
    assert_eq!(versions[2]["reverted_from"], 1);
    app.post(
        &format!("/v1/knowledge/articles/{id}/revert"),
        admin,
        &json!({"to_version": 9, "version": 3}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        &format!("/v1/knowledge/articles/{id}/revert"),
        admin,
        &json!({"to_version": 2, "version": 2}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");

    // Audited: create, update, revert.
    let audit = audit_log(&app, admin).await;
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e["entity_id"] == json!(id))
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["article.create", "article.update", "article.revert"]
    );

    // Technicians read, never write; other tenants see nothing.
    let tech = w.technician_token.as_str();
    app.get(&format!("/v1/knowledge/articles/{id}"), tech)
        .await
        .expect(StatusCode::OK);
    app.post("/v1/knowledge/articles", tech, &article("t", "b"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    let other = World::create(&app, "kbother").await;
    app.get(
        &format!("/v1/knowledge/articles/{id}"),
        &other.tenant.admin_token,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let listed = app
        .get("/v1/knowledge/articles", &other.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));

    // Lists filter by asset model and ticket category.
    create(&app, admin, article("Unrelated", "nothing")).await;
    let by_model = app
        .get(
            &format!(
                "/v1/knowledge/articles?{}",
                qs(&[("asset_model", "Vaillant ecoTEC")])
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    let ids: Vec<Uuid> = by_model["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| id_of(a, "id"))
        .collect();
    assert_eq!(ids, vec![id]);
    app.stop().await;
}

async fn article_markdown_renders_without_script(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbsafe").await;
    let admin = w.tenant.admin_token.as_str();
    let created = create(
        &app,
        admin,
        article(
            "Hostile",
            "Hi <script>window.pwned = 1</script>\n\n<img src=x onerror=\"window.pwned = 2\">\n\n\
             [click](javascript:window.pwned=3) [data](data:text/html,<script>x</script>) \
             [ok](https://example.com/manual.pdf)\n",
        ),
    )
    .await;
    let html = str_of(&created, "body_html");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("href=\"javascript"), "{html}");
    assert!(!html.contains("href=\"data"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
    assert!(
        html.contains("href=\"https://example.com/manual.pdf\""),
        "{html}"
    );
    // The Markdown itself is kept as written.
    assert!(str_of(&created, "body").contains("<script>"));
    app.stop().await;
}

/// The fixture articles of the suggestion tests: (key, body).
fn fixture_articles(carrier_model: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "boiler",
            json!({"title": "Boiler loses pressure", "visibility": "internal",
            "body": "If the boiler pressure gauge drops below 1 bar, check the expansion vessel, then refill the system.",
            "tags": ["boiler", "pressure"], "ticket_categories": ["heating"]}),
        ),
        (
            "chiller",
            json!({"title": "Chiller trips on high pressure", "visibility": "internal",
            "body": "Clean the condenser coils and check the condenser fan motor.",
            "tags": ["chiller"], "asset_models": [carrier_model]}),
        ),
        (
            "espresso",
            json!({"title": "Espresso machine leaking water", "visibility": "internal",
            "body": "Replace the group head gasket; check the drip tray drain.",
            "tags": ["espresso", "gasket", "coffee"]}),
        ),
        (
            "aircon",
            json!({"title": "空调不制冷的处理步骤", "visibility": "internal",
            "body": "检查制冷剂压力，清洗冷凝器和过滤网。", "tags": ["空调"]}),
        ),
        (
            "elevator",
            json!({"title": "电梯门无法关闭", "visibility": "public",
            "body": "检查门机皮带和光幕传感器，清理地坎。"}),
        ),
        (
            "breaker",
            json!({"title": "Reset a tripped circuit breaker", "visibility": "public",
            "body": "Find the breaker panel, switch the breaker off and on again. Call us if it trips again.",
            "tags": ["power", "electrical"]}),
        ),
        (
            "freezer",
            json!({"title": "Freezer not cooling", "visibility": "internal",
            "body": "Check the door seal and defrost the evaporator.", "tags": ["freezer"]}),
        ),
    ]
}

async fn suggestions_rank_the_right_article_first(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbsuggest").await;
    let admin = w.tenant.admin_token.as_str();
    let asset = app
        .post(
            "/v1/assets",
            admin,
            &json!({"site_id": w.site_id, "serial": "CH-1", "model": "Carrier 30XA"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let mut ids = std::collections::HashMap::new();
    for (key, body) in fixture_articles("Carrier 30XA") {
        ids.insert(key, id_of(&create(&app, admin, body).await, "id"));
    }
    let drafts: Vec<(&str, Value)> = vec![
        (
            "boiler",
            json!({"title": "Boiler pressure keeps dropping", "description": "The gauge shows 0.5 bar every morning"}),
        ),
        (
            "espresso",
            json!({"title": "Coffee machine leaking", "description": "The espresso machine drips water under the counter"}),
        ),
        (
            "aircon",
            json!({"title": "空调不制冷", "description": "办公室的空调开着但是不冷"}),
        ),
        (
            "elevator",
            json!({"title": "电梯门关不上", "description": "三楼电梯门一直打开"}),
        ),
        (
            "breaker",
            json!({"title": "Power out in the kitchen", "description": "the breaker tripped twice"}),
        ),
        (
            "freezer",
            json!({"title": "FREEZER warm", "description": "Frozen food thawing, the freezer is not cooling"}),
        ),
        // No word of the chiller article but "trips": its asset model wins.
        (
            "chiller",
            json!({"title": "Unit trips at noon", "category": "hvac", "asset_id": asset["id"]}),
        ),
    ];
    for (expected, draft) in &drafts {
        let answer = app
            .post("/v1/knowledge/suggest", admin, draft)
            .await
            .expect(StatusCode::OK);
        let first = answer["suggestions"]
            .get(0)
            .unwrap_or_else(|| panic!("no suggestion for {draft}"));
        assert_eq!(
            id_of(first, "article_id"),
            ids[expected],
            "{expected}: {answer}"
        );
    }
    let chiller = app
        .post("/v1/knowledge/suggest", admin, &drafts[6].1)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        chiller["suggestions"][0]["reasons"],
        json!(["text", "asset_model"])
    );
    // Only an asset chosen: its articles, no text needed.
    let by_asset = app
        .post(
            "/v1/knowledge/suggest",
            admin,
            &json!({"asset_id": asset["id"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        id_of(&by_asset["suggestions"][0], "article_id"),
        ids["chiller"]
    );
    assert_eq!(
        by_asset["suggestions"][0]["reasons"],
        json!(["asset_model"])
    );
    // Nothing to go on: nothing suggested; bad input refused.
    let empty = app
        .post(
            "/v1/knowledge/suggest",
            admin,
            &json!({"title": "the and of"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["suggestions"], json!([]));
    app.post(
        "/v1/knowledge/suggest",
        admin,
        &json!({"title": "x", "limit": 0}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        "/v1/knowledge/suggest",
        admin,
        &json!({"title": "x", "asset_id": Uuid::now_v7()}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");

    // Articles are in the one search, Chinese included, for technicians too.
    for token in [admin, w.technician_token.as_str()] {
        let hits = app
            .get(
                &format!("/v1/search?{}", qs(&[("q", "空调"), ("kind", "article")])),
                token,
            )
            .await
            .expect(StatusCode::OK)["results"]
            .clone();
        assert_eq!(id_of(&hits[0], "id"), ids["aircon"], "{hits}");
        assert_eq!(hits[0]["kind"], "article");
    }
    // An edit re-indexes the article in the same write.
    let current = app
        .get(&format!("/v1/knowledge/articles/{}", ids["freezer"]), admin)
        .await
        .expect(StatusCode::OK);
    app.send(Method::PUT, &format!("/v1/knowledge/articles/{}", ids["freezer"]), Some(admin),
        Some(&json!({"version": current["version"], "title": "Cold room alarm", "body": "Check the door seal.", "visibility": "internal"})))
        .await
        .expect(StatusCode::OK);
    let hits = app
        .get(
            &format!(
                "/v1/search?{}",
                qs(&[("q", "freezer"), ("kind", "article")])
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(hits["results"], json!([]));
    let hits = app
        .get(
            &format!(
                "/v1/search?{}",
                qs(&[("q", "cold room"), ("kind", "article")])
            ),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&hits["results"][0], "id"), ids["freezer"]);
    // Another tenant's suggestions never include these articles.
    let other = World::create(&app, "kbsuggest2").await;
    let answer = app
        .post(
            "/v1/knowledge/suggest",
            &other.tenant.admin_token,
            &drafts[0].1,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["suggestions"], json!([]));
    app.stop().await;
}

async fn related_articles_and_votes(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbrelated").await;
    let admin = w.tenant.admin_token.as_str();
    let mut ids = std::collections::HashMap::new();
    for (key, body) in fixture_articles("Carrier 30XA") {
        ids.insert(key, id_of(&create(&app, admin, body).await, "id"));
    }
    let mut body = ticket_body(w.site_id, "Espresso machine leaks");
    body["description"] = json!("Water under the group head");
    let ticket = id_of(
        &app.post("/v1/tickets", admin, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let related = app
        .get(&format!("/v1/tickets/{ticket}/articles"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        id_of(&related["suggestions"][0], "article_id"),
        ids["espresso"],
        "{related}"
    );
    // A technician sees related articles of their own tickets only.
    app.get(
        &format!("/v1/tickets/{ticket}/articles"),
        &w.technician_token,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");

    // "This helped": one vote per person, changeable.
    let espresso = ids["espresso"];
    let vote = |token: String, helpful: bool| {
        let app = &app;
        async move {
            app.post(
                &format!("/v1/knowledge/articles/{espresso}/feedback"),
                &token,
                &json!({"helpful": helpful}),
            )
            .await
            .expect(StatusCode::OK)
        }
    };
    vote(admin.to_owned(), false).await;
    vote(admin.to_owned(), true).await;
    let counts = vote(w.technician_token.clone(), true).await;
    assert_eq!(counts, json!({"helpful": 2, "not_helpful": 0}));
    let shown = app
        .get(&format!("/v1/knowledge/articles/{espresso}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["feedback"], json!({"helpful": 2, "not_helpful": 0}));
    app.post(
        &format!("/v1/knowledge/articles/{}/feedback", Uuid::now_v7()),
        admin,
        &json!({"helpful": true}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.stop().await;
}

async fn public_suggestions_count_deflections(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbpublic").await;
    let admin = w.tenant.admin_token.as_str();
    app.post("/v1/categories", admin, &json!({"name": "repair"}))
        .await
        .expect(StatusCode::CREATED);
    truckroll_tests::intake::set_up(&app, &w.tenant, w.site_id, json!({})).await;
    let slug = "kbpublic-desk";
    let mut ids = std::collections::HashMap::new();
    for (key, body) in fixture_articles("Carrier 30XA") {
        ids.insert(key, id_of(&create(&app, admin, body).await, "id"));
    }
    let public = |path: String, body: Value| {
        let app = &app;
        async move { app.send(Method::POST, &path, None, Some(&body)).await }
    };
    let answer = public(
        format!("/v1/public/{slug}/knowledge/suggest"),
        json!({"title": "电梯门关不上", "description": "三楼"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        id_of(&answer["suggestions"][0], "article_id"),
        ids["elevator"]
    );
    // Internal articles are never suggested or shown to the public.
    let answer = public(
        format!("/v1/public/{slug}/knowledge/suggest"),
        json!({"title": "Freezer not cooling", "description": "espresso machine leaking"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(answer["suggestions"], json!([]), "{answer}");
    let visitor_a = "visitor-aaaaaaaaaaaaaaaa";
    let visitor_b = "visitor-bbbbbbbbbbbbbbbb";
    let open = |id: Uuid, visitor: &str| {
        let app = &app;
        let path = format!("/v1/public/{slug}/knowledge/articles/{id}?visitor={visitor}");
        async move { app.send(Method::GET, &path, None, None).await }
    };
    open(ids["freezer"], visitor_a)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    open(ids["breaker"], "short")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let shown = open(ids["breaker"], visitor_a).await.expect(StatusCode::OK);
    assert!(str_of(&shown, "body_html").contains("breaker panel"));
    assert!(
        shown.get("public_views").is_none(),
        "no counts for the public"
    );
    open(ids["breaker"], visitor_b).await.expect(StatusCode::OK);
    // Visitor B submitted a request after all; A left.
    let done = app
        .send(
            Method::POST,
            &format!("/v1/public/{slug}/knowledge/submitted"),
            None,
            Some(&json!({"visitor": visitor_b})),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    // Just opened: not a deflection yet.
    let counted = app
        .get(&format!("/v1/knowledge/articles/{}", ids["breaker"]), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        counted["public_views"],
        json!({"views": 2, "deflections": 0})
    );
    // Half an hour later A has not submitted: one deflection.
    let raw = app.db.raw().await;
    let past = match app.db.backend() {
        TestBackend::Postgres => {
            "UPDATE article_views SET opened_at = opened_at - INTERVAL '31 minutes' WHERE article_id = $1"
        }
        TestBackend::Sqlite => {
            "UPDATE article_views SET opened_at = strftime('%Y-%m-%dT%H:%M:%S', 'now', '-31 minutes') || '+00:00' WHERE article_id = $1"
        }
    };
    assert_eq!(raw.execute(past, &[ids["breaker"]]).await, 2);
    let counted = app
        .get(&format!("/v1/knowledge/articles/{}", ids["breaker"]), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        counted["public_views"],
        json!({"views": 2, "deflections": 1})
    );
    // Unknown forms answer 404.
    public(
        "/v1/public/nope/knowledge/suggest".into(),
        json!({"title": "x"}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.stop().await;
}

async fn new_ticket(
    app: &TestApp,
    token: &str,
    site: Uuid,
    title: &str,
    description: &str,
) -> Value {
    let mut body = ticket_body(site, title);
    body["description"] = json!(description);
    app.post("/v1/tickets", token, &body)
        .await
        .expect(StatusCode::CREATED)
}

async fn candidates(app: &TestApp, token: &str, body: Value) -> Vec<Value> {
    app.post("/v1/tickets/duplicates", token, &body)
        .await
        .expect(StatusCode::OK)["candidates"]
        .as_array()
        .cloned()
        .expect("candidates")
}

async fn duplicates_are_found_by_place_and_words(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbdup").await;
    let admin = w.tenant.admin_token.as_str();
    let other_customer = app
        .post("/v1/customers", admin, &json!({"name": "Other Co"}))
        .await
        .expect(StatusCode::CREATED);
    let other_site = id_of(
        &app.post(
            "/v1/sites",
            admin,
            &json!({"customer_id": other_customer["id"], "name": "Elsewhere",
            "address": "Karl-Marx-Allee 1, Berlin", "location": {"lat": 52.52, "lon": 13.43}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let outage = new_ticket(
        &app,
        admin,
        w.site_id,
        "Power outage in the whole building",
        "No electricity since 8am",
    )
    .await;
    let elsewhere = new_ticket(
        &app,
        admin,
        other_site,
        "Power outage in the whole building",
        "No electricity since 8am",
    )
    .await;
    new_ticket(&app, admin, w.site_id, "Leaking tap in the kitchen", "").await;
    let aircon = new_ticket(&app, admin, w.site_id, "三楼空调不制冷", "会议室很热").await;

    // Same site, similar words: found with score and reasons; the other
    // customer's identical ticket is not.
    let found = candidates(
        &app,
        admin,
        json!({"site_id": w.site_id,
        "title": "Whole building has no power", "description": "power outage since this morning"}),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(id_of(&found[0], "ticket_id"), id_of(&outage, "id"));
    assert_eq!(found[0]["number"], outage["number"]);
    assert_eq!(found[0]["reasons"], json!(["same_site", "similar_text"]));
    assert!(
        found[0]["score"]
            .as_f64()
            .is_some_and(|s| s > 0.4 && s <= 1.0),
        "{found:?}"
    );
    let at_other = candidates(
        &app,
        admin,
        json!({"site_id": other_site,
        "title": "Whole building has no power", "description": "power outage since this morning"}),
    )
    .await;
    let ids: Vec<Uuid> = at_other.iter().map(|c| id_of(c, "ticket_id")).collect();
    assert_eq!(ids, vec![id_of(&elsewhere, "id")]);
    // Chinese by bigrams.
    let found = candidates(
        &app,
        admin,
        json!({"site_id": w.site_id, "title": "空调不制冷"}),
    )
    .await;
    assert_eq!(id_of(&found[0], "ticket_id"), id_of(&aircon, "id"));
    // An existing ticket: itself left out.
    let again = new_ticket(&app, admin, w.site_id, "Whole building: power outage", "").await;
    let of_ticket = app
        .get(
            &format!("/v1/tickets/{}/duplicates", id_of(&again, "id")),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    let ids: Vec<Uuid> = of_ticket["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| id_of(c, "ticket_id"))
        .collect();
    assert_eq!(ids, vec![id_of(&outage, "id")]);
    // Bad input; technicians may not look.
    app.post(
        "/v1/tickets/duplicates",
        admin,
        &json!({"site_id": Uuid::now_v7(), "title": "x"}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        "/v1/tickets/duplicates",
        admin,
        &json!({"site_id": w.site_id, "title": "x", "window_days": 0}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        "/v1/tickets/duplicates",
        &w.technician_token,
        &json!({"site_id": w.site_id, "title": "x"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.stop().await;
}

/// Tickets created in the last day, summed over the report's groups.
async fn reported(app: &TestApp, token: &str, engine: &str) -> u64 {
    let from = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = app
        .get(
            &format!("/v1/reports/sla?from={from}&to={to}&group_by=category&engine={engine}"),
            token,
        )
        .await
        .expect(StatusCode::OK);
    report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["tickets"].as_u64().unwrap_or(0))
        .sum()
}

async fn merge_moves_comments_and_counts_once(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbmerge").await;
    let admin = w.tenant.admin_token.as_str();
    let original = new_ticket(
        &app,
        admin,
        w.site_id,
        "Power outage in the whole building",
        "",
    )
    .await;
    let duplicate = new_ticket(&app, admin, w.site_id, "Whole building without power", "").await;
    let other = new_ticket(&app, admin, w.site_id, "Leaking tap", "").await;
    let (original_id, duplicate_id) = (id_of(&original, "id"), id_of(&duplicate, "id"));
    app.post(
        &format!("/v1/tickets/{duplicate_id}/comments"),
        admin,
        &json!({"body": "Customer called again at 9", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    for engine in ["sql", "app"] {
        assert_eq!(reported(&app, admin, engine).await, 3, "{engine}");
    }

    // Refused: into itself, into nothing, by a technician.
    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        admin,
        &json!({"into": duplicate_id}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        admin,
        &json!({"into": Uuid::now_v7()}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        &w.technician_token,
        &json!({"into": original_id}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");

    let record = app
        .post(
            &format!("/v1/tickets/{duplicate_id}/merge"),
            admin,
            &json!({"into": original_id}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(record["source_number"], duplicate["number"]);
    assert_eq!(record["target_number"], original["number"]);
    assert_eq!(record["comments_moved"], 1);

    // The duplicate is cancelled with a note; its comment moved.
    let closed = app
        .get(&format!("/v1/tickets/{duplicate_id}"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(closed["status"], "cancelled");
    let comments = |id: Uuid| {
        let app = &app;
        async move {
            app.get(&format!("/v1/tickets/{id}/comments"), admin)
                .await
                .expect(StatusCode::OK)["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let target_number = str_of(&original, "number");
    let source_number = str_of(&duplicate, "number");
    assert_eq!(
        comments(duplicate_id).await,
        vec![format!("Duplicate of {target_number}: merged into it.")]
    );
    assert_eq!(
        comments(original_id).await,
        vec![
            "Customer called again at 9".to_owned(),
            format!("{source_number} merged into this ticket (comments moved: 1).")
        ]
    );
    // On both timelines, in the audit log, in the merges of both.
    let timeline = app
        .get(&format!("/v1/tickets/{original_id}/timeline"), admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        timeline
            .to_string()
            .contains(&format!("{source_number} merged into this ticket")),
        "{timeline}"
    );
    let merges = audit_log(&app, admin)
        .await
        .iter()
        .filter(|e| e["action"] == "ticket.merge")
        .count();
    assert_eq!(merges, 2);
    for id in [original_id, duplicate_id] {
        let listed = app
            .get(&format!("/v1/tickets/{id}/merges"), admin)
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            listed["merges"].as_array().map(Vec::len),
            Some(1),
            "{listed}"
        );
    }
    // The reports count the pair once, on both engines.
    for engine in ["sql", "app"] {
        assert_eq!(reported(&app, admin, engine).await, 2, "{engine}");
    }
    // Once only; never into a merged ticket; only open tickets merge.
    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        admin,
        &json!({"into": original_id}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    app.post(
        &format!("/v1/tickets/{}/merge", id_of(&other, "id")),
        admin,
        &json!({"into": duplicate_id}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    // The merged duplicate is no longer a candidate.
    let found = candidates(
        &app,
        admin,
        json!({"site_id": w.site_id, "title": "Whole building without power"}),
    )
    .await;
    let ids: Vec<Uuid> = found.iter().map(|c| id_of(c, "ticket_id")).collect();
    assert_eq!(ids, vec![original_id]);
    app.stop().await;
}

/// Takes `ticket` to work done: assigned to the world's technician, who
/// accepts, travels, arrives and finishes.
async fn finish_work(app: &TestApp, w: &World, ticket: Uuid) {
    let path = format!("/v1/tickets/{ticket}");
    app.patch(
        &path,
        &w.tenant.admin_token,
        &json!({"assignee_id": w.technician_id}),
    )
    .await
    .expect(StatusCode::OK);
    for status in ["accepted", "en_route", "on_site", "work_done"] {
        app.patch(&path, &w.technician_token, &json!({"status": status}))
            .await
            .expect(StatusCode::OK);
    }
}

async fn subtickets_show_progress_and_hold_the_parent_open(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbsub").await;
    let admin = w.tenant.admin_token.as_str();
    let parent = id_of(
        &new_ticket(&app, admin, w.site_id, "Refit the kitchen", "").await,
        "id",
    );
    let electrics = new_ticket(&app, admin, w.site_id, "Kitchen: electrics", "").await;
    let plumbing = new_ticket(&app, admin, w.site_id, "Kitchen: plumbing", "").await;
    let (electrics_id, plumbing_id) = (id_of(&electrics, "id"), id_of(&plumbing, "id"));
    let children = format!("/v1/tickets/{parent}/children");
    app.post(&children, admin, &json!({"ticket_id": electrics_id}))
        .await
        .expect(StatusCode::CREATED);
    let family = app
        .post(&children, admin, &json!({"ticket_id": plumbing_id}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        family["progress"],
        json!({"total": 2, "open": 2, "done": 0, "cancelled": 0})
    );
    let numbers: Vec<&str> = family["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["number"].as_str())
        .collect();
    assert_eq!(
        numbers,
        [str_of(&electrics, "number"), str_of(&plumbing, "number")]
    );
    // The child knows its parent.
    let of_child = app
        .get(&format!("/v1/tickets/{electrics_id}/children"), admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(id_of(&of_child["parent"], "id"), parent);

    // One parent, one level, one customer, not itself; office only.
    app.post(&children, admin, &json!({"ticket_id": electrics_id}))
        .await
        .expect_problem(StatusCode::CONFLICT, "/conflict");
    app.post(
        &format!("/v1/tickets/{electrics_id}/children"),
        admin,
        &json!({"ticket_id": parent}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    app.post(&children, admin, &json!({"ticket_id": parent}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    let stranger = app
        .post("/v1/customers", admin, &json!({"name": "Stranger"}))
        .await
        .expect(StatusCode::CREATED);
    let far_site = id_of(
        &app.post(
            "/v1/sites",
            admin,
            &json!({"customer_id": stranger["id"], "name": "Far", "address": "Far away 1",
            "location": {"lat": 52.4, "lon": 13.3}}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let foreign = id_of(
        &new_ticket(&app, admin, far_site, "Elsewhere", "").await,
        "id",
    );
    app.post(&children, admin, &json!({"ticket_id": foreign}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
    app.post(
        &children,
        &w.technician_token,
        &json!({"ticket_id": foreign}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");

    // The parent's work is done, but it does not close while a child is open.
    finish_work(&app, &w, parent).await;
    let refused = app
        .patch(
            &format!("/v1/tickets/{parent}"),
            admin,
            &json!({"status": "closed"}),
        )
        .await;
    refused.expect_problem(StatusCode::CONFLICT, "/conflict");
    let detail = refused.body["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains(&str_of(&electrics, "number"))
            && detail.contains(&str_of(&plumbing, "number")),
        "{detail}"
    );
    // One child done, one cancelled: progress shows it, and the parent closes.
    finish_work(&app, &w, electrics_id).await;
    app.patch(
        &format!("/v1/tickets/{plumbing_id}"),
        admin,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    let family = app.get(&children, admin).await.expect(StatusCode::OK);
    assert_eq!(
        family["progress"],
        json!({"total": 2, "open": 0, "done": 1, "cancelled": 1})
    );
    let closed = app
        .patch(
            &format!("/v1/tickets/{parent}"),
            admin,
            &json!({"status": "closed"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(closed["status"], "closed");
    // Detaching a child; audited.
    app.send(
        Method::DELETE,
        &format!("/v1/tickets/{parent}/children/{plumbing_id}"),
        Some(admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.send(
        Method::DELETE,
        &format!("/v1/tickets/{parent}/children/{plumbing_id}"),
        Some(admin),
        None,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let audit = audit_log(&app, admin).await;
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e["entity_id"] == json!(parent))
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("ticket.child"))
        .collect();
    assert_eq!(
        actions,
        [
            "ticket.child_link",
            "ticket.child_link",
            "ticket.child_unlink"
        ]
    );
    app.stop().await;
}

async fn a_policy_lets_the_parent_close_first(backend: TestBackend) {
    let app = TestApp::start_with(backend, |c| {
        c.knowledge.close_parent_with_open_children = true
    })
    .await;
    let w = World::create(&app, "kbpolicy").await;
    let admin = w.tenant.admin_token.as_str();
    let parent = id_of(&new_ticket(&app, admin, w.site_id, "Refit", "").await, "id");
    let child = id_of(
        &new_ticket(&app, admin, w.site_id, "Refit: paint", "").await,
        "id",
    );
    app.post(
        &format!("/v1/tickets/{parent}/children"),
        admin,
        &json!({"ticket_id": child}),
    )
    .await
    .expect(StatusCode::CREATED);
    finish_work(&app, &w, parent).await;
    app.patch(
        &format!("/v1/tickets/{parent}"),
        admin,
        &json!({"status": "closed"}),
    )
    .await
    .expect(StatusCode::OK);
    app.stop().await;
}

/// A merge queues one message per channel for the duplicate's customer in
/// the merge's transaction: sent once by the email worker to a real SMTP
/// server (aiosmtpd), in the customer's language, with the link to the
/// ticket that goes on; a refused second merge sends nothing.
async fn merge_tells_the_customer_once(backend: TestBackend) {
    use std::sync::Arc;
    use truckroll_server::{
        notify::{self, Sender, SmtpSender},
        store::{Store, notify::NoticeChannel},
    };
    use truckroll_tests::smtp::SmtpSink;

    let app = TestApp::start_with(backend, |config| {
        config.notify.worker_enabled = false;
        config.webhooks.worker_enabled = false;
        config.sla.timers_enabled = false;
        config.notify.public_base_url = "https://service.kbnotify.test".into();
    })
    .await;
    let w = World::create(&app, "kbnotify").await;
    let admin = w.tenant.admin_token.as_str();
    app.patch(
        &format!("/v1/customers/{}", w.customer_id),
        admin,
        &json!({"email": "facilities@bakery.test"}),
    )
    .await
    .expect(StatusCode::OK);
    let sink = SmtpSink::start().await;
    let store: Arc<dyn Store> = app.state.store.clone();
    let sender: Arc<dyn Sender> = Arc::new(SmtpSender::new(&sink.config()).expect("smtp sender"));
    let worker = notify::worker(store, NoticeChannel::Email, sender, &app.config.notify);
    let drain = |at: chrono::DateTime<chrono::Utc>| {
        let worker = &worker;
        async move {
            let mut claimed = 0;
            for _ in 0..100 {
                match worker.run_once(at).await.expect("round") {
                    0 => return claimed,
                    n => claimed += n,
                }
            }
            panic!("the worker never ran out of due messages");
        }
    };

    let original = new_ticket(
        &app,
        admin,
        w.site_id,
        "Power outage in the whole building",
        "",
    )
    .await;
    let duplicate = new_ticket(&app, admin, w.site_id, "Whole building without power", "").await;
    let (original_id, duplicate_id) = (id_of(&original, "id"), id_of(&duplicate, "id"));
    assert_eq!(drain(chrono::Utc::now()).await, 2, "two tickets received");
    sink.wait_for(2).await;

    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        admin,
        &json!({"into": original_id}),
    )
    .await
    .expect(StatusCode::OK);
    // Merged once: a second merge is refused and queues nothing.
    app.post(
        &format!("/v1/tickets/{duplicate_id}/merge"),
        admin,
        &json!({"into": original_id}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "/conflict");
    assert_eq!(drain(chrono::Utc::now()).await, 1, "one merge notice");
    let all = sink.wait_for(3).await;
    let (source, target) = (str_of(&duplicate, "number"), str_of(&original, "number"));
    let merged: Vec<_> = all
        .iter()
        .filter(|m| m.subject == format!("{source} continues as {target}"))
        .collect();
    assert_eq!(
        merged.len(),
        1,
        "{:?}",
        all.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert_eq!(merged[0].rcpt_tos, ["facilities@bakery.test"]);
    assert!(
        merged[0]
            .body
            .contains(&format!("we continue the work under {target}")),
        "{}",
        merged[0].body
    );
    assert!(
        merged[0]
            .body
            .contains("https://service.kbnotify.test/track/"),
        "{}",
        merged[0].body
    );
    // Nothing more, even much later; the notice is on the duplicate's timeline.
    assert_eq!(
        drain(chrono::Utc::now() + chrono::Duration::days(1)).await,
        0
    );
    assert_eq!(sink.received().len(), 3);
    let timeline = app
        .get(
            &format!("/v1/tickets/{duplicate_id}/timeline?kind=notification"),
            admin,
        )
        .await
        .expect(StatusCode::OK);
    let told = timeline["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e.to_string().contains("ticket_merged"))
        .count();
    assert_eq!(told, 1, "{timeline}");

    // In Simplified Chinese for a customer who reads it.
    app.send(
        Method::PUT,
        &format!("/v1/customers/{}/notify-preferences", w.customer_id),
        Some(admin),
        Some(&json!({"locale": "zh-CN", "email_opt_out": false, "sms_opt_out": false})),
    )
    .await
    .expect(StatusCode::OK);
    let again = new_ticket(&app, admin, w.site_id, "No power in the building again", "").await;
    app.post(
        &format!("/v1/tickets/{}/merge", id_of(&again, "id")),
        admin,
        &json!({"into": original_id}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(drain(chrono::Utc::now()).await, 2, "received and merged");
    let all = sink.wait_for(5).await;
    let chinese = format!("工单 {} 已并入 {target}", str_of(&again, "number"));
    assert_eq!(
        all.iter().filter(|m| m.subject == chinese).count(),
        1,
        "{chinese}"
    );
    app.stop().await;
}

/// "Create article from this ticket": the problem (title, description) and
/// the work record's resolution (notes, parts, checklist) prefill a new
/// internal article, which saves as version 1; office only, tenant-bound.
async fn an_article_is_drafted_from_a_solved_ticket(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "kbdraft").await;
    let admin = w.tenant.admin_token.as_str();
    let ticket = new_ticket(
        &app,
        admin,
        w.site_id,
        "Boiler shows F28",
        "No ignition since this morning; <script>alert(1)</script> in the log",
    )
    .await;
    let id = id_of(&ticket, "id");
    // Before any work: the problem, and a resolution still to write.
    let empty = app
        .post(
            &format!("/v1/tickets/{id}/article-draft"),
            admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        str_of(&empty, "body").contains("(No work recorded yet.)"),
        "{empty}"
    );

    app.post(
        &format!("/v1/tickets/{id}/work/corrections"),
        admin,
        &json!({"version": 0, "operations": [
            {"op": "append_note", "text": "Gas valve was closed after the meter swap; opened it and purged the line."},
            {"op": "add_part", "part_number": "IGN-ELECTRODE-7", "quantity": 1},
            {"op": "add_part", "part_number": "SEAL-KIT", "quantity": 0.5},
            {"op": "add_checklist_item", "label": "Flue gas measured"}
        ]}),
    )
    .await
    .expect(StatusCode::OK);
    let draft = app
        .post(
            &format!("/v1/tickets/{id}/article-draft"),
            admin,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(draft["title"], "Boiler shows F28");
    assert_eq!(draft["visibility"], "internal");
    assert_eq!(draft["ticket_categories"], json!(["hvac"]));
    assert_eq!(draft["source_ticket_id"], json!(id));
    assert_eq!(draft["source_ticket_number"], ticket["number"]);
    let body = str_of(&draft, "body");
    for expected in [
        "## Problem\n\nNo ignition since this morning",
        "## Resolution\n\nGas valve was closed after the meter swap",
        "- IGN-ELECTRODE-7 × 1\n",
        "- SEAL-KIT × 0.5\n",
        "- [ ] Flue gas measured\n",
        &format!("_From ticket {}._", str_of(&ticket, "number")),
    ] {
        assert!(body.contains(expected), "`{expected}` in {body}");
    }
    // Saved as it is (the editor may change it first): the draft's fields
    // are what an article takes; the ticket's script stays text.
    let mut new = draft.clone();
    let object = new.as_object_mut().expect("object");
    object.remove("source_ticket_id");
    object.remove("source_ticket_number");
    let saved = create(&app, admin, new).await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["body"], draft["body"]);
    assert!(!str_of(&saved, "body_html").contains("<script>"), "{saved}");
    assert!(
        str_of(&saved, "body_html").contains("<h2>Resolution</h2>"),
        "{saved}"
    );

    // A technician does not write articles; another tenant sees no ticket.
    app.post(
        &format!("/v1/tickets/{id}/article-draft"),
        &w.technician_token,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    let other = World::create(&app, "kbdraftother").await;
    app.post(
        &format!("/v1/tickets/{id}/article-draft"),
        &other.tenant.admin_token,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.post(
        &format!("/v1/tickets/{}/article-draft", Uuid::now_v7()),
        admin,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    app.stop().await;
}

/// A small but well-formed PDF (what the type check reads is its header).
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {text}\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

async fn upload(
    app: &TestApp,
    token: &str,
    article: Uuid,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!(
            "{}/v1/knowledge/articles/{article}/attachments",
            app.base_url
        ))
        .query(&[("name", name)])
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// The bytes behind a download URL, fetched as a browser would (no token).
async fn fetch(url: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(url).await.expect("download");
    let status = response.status();
    (
        status,
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default(),
    )
}

/// An article's files go through the blob store: checked like media
/// uploads (size, type by the first bytes), stored once per content,
/// served through a signed URL, removed with the last attachment that names
/// them; office writes, technicians read, other tenants see nothing.
async fn article_attachments_are_stored_served_and_removed(
    backend: TestBackend,
    blobs: truckroll_tests::media::Blobs,
) {
    let app = TestApp::start_with(backend, |c| {
        truckroll_tests::media::use_blobs(c, blobs);
        c.media.max_bytes = 4096;
    })
    .await;
    let w = World::create(&app, "kbfiles").await;
    let admin = w.tenant.admin_token.as_str();
    let article = id_of(
        &create(
            &app,
            admin,
            article("Wiring of the F28 board", "See the diagram."),
        )
        .await,
        "id",
    );
    let path = format!("/v1/knowledge/articles/{article}/attachments");

    let diagram = pdf("wiring diagram");
    let (status, first) = upload(
        &app,
        admin,
        article,
        "wiring diagram.pdf",
        "application/pdf",
        diagram.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["name"], "wiring diagram.pdf");
    assert_eq!(first["content_type"], "application/pdf");
    assert_eq!(first["size"], json!(diagram.len()));
    let url = first["download"]["url"]
        .as_str()
        .expect("download url")
        .to_owned();
    assert_eq!(fetch(&url).await, (StatusCode::OK, diagram.clone()));
    // The same file again: a second attachment, one stored object.
    let (status, second) = upload(
        &app,
        admin,
        article,
        "copy.pdf",
        "application/pdf",
        diagram.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["sha256"], first["sha256"]);

    // Refused, as problems, with nothing recorded.
    for (name, content_type, bytes, status) in [
        (
            "notes.txt",
            "text/plain",
            b"plain text".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "fake.pdf",
            "application/pdf",
            b"not a pdf at all".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "empty.pdf",
            "application/pdf",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "../etc/passwd.pdf",
            "application/pdf",
            pdf("path"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "big.pdf",
            "application/pdf",
            pdf(&"x".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let (got, body) = upload(&app, admin, article, name, content_type, bytes).await;
        assert_eq!(got, status, "{name}: {body}");
        assert!(body["type"].is_string(), "a problem for {name}: {body}");
    }
    let (got, _) = upload(
        &app,
        &w.technician_token,
        article,
        "tech.pdf",
        "application/pdf",
        pdf("t"),
    )
    .await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    let (got, _) = upload(
        &app,
        admin,
        Uuid::now_v7(),
        "none.pdf",
        "application/pdf",
        pdf("n"),
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);

    // Technicians read them; another tenant sees no article.
    let listed = app
        .get(&path, &w.technician_token)
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = listed["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["wiring diagram.pdf", "copy.pdf"]);
    let other = World::create(&app, "kbfilesother").await;
    app.get(&path, &other.tenant.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let second_id = id_of(&second, "id");
    app.get(&format!("{path}/{second_id}"), &other.tenant.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");

    // Deleting one keeps the content the other still names; the last goes with it.
    app.send(
        Method::DELETE,
        &format!("{path}/{}", id_of(&first, "id")),
        Some(&w.technician_token),
        None,
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "/forbidden");
    app.send(
        Method::DELETE,
        &format!("{path}/{}", id_of(&first, "id")),
        Some(admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let fresh = app
        .get(&format!("{path}/{second_id}"), admin)
        .await
        .expect(StatusCode::OK);
    let fresh_url = fresh["download"]["url"].as_str().expect("url").to_owned();
    assert_eq!(fetch(&fresh_url).await, (StatusCode::OK, diagram));
    app.send(
        Method::DELETE,
        &format!("{path}/{second_id}"),
        Some(admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_ne!(
        fetch(&fresh_url).await.0,
        StatusCode::OK,
        "the object is gone"
    );
    app.get(&format!("{path}/{second_id}"), admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "/not-found");
    let listed = app.get(&path, admin).await.expect(StatusCode::OK);
    assert_eq!(listed["attachments"], json!([]));
    let audited = audit_log(&app, admin).await;
    for (action, count) in [
        ("article.attachment_add", 2),
        ("article.attachment_delete", 2),
    ] {
        assert_eq!(
            audited.iter().filter(|e| e["action"] == action).count(),
            count,
            "{action}"
        );
    }
    app.stop().await;
}
