//! Tickets: filters in the query string.

use super::*;

backend_tests!(tickets_filter_by_query_string,);

// ---------------------------------------------------------------------------
// 3. Ticket filters

async fn tickets_filter_by_query_string(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let w = World::create(&app, "filters").await;
    let admin = w.tenant.admin_token.as_str();
    let second_site = app
        .post(
            "/v1/sites",
            admin,
            &json!({
                "customer_id": w.customer_id,
                "name": "Kreuzberg",
                "address": "Oranienstraße 2, Berlin",
                "location": {"lat": 52.5, "lon": 13.42},
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    let site2 = id_of(&second_site, "id");
    app.post("/v1/categories", admin, &json!({"name": "plumbing"}))
        .await
        .expect(StatusCode::CREATED);

    let specs = [
        json!({"title": "Boiler 100% broken", "category": "hvac", "priority": "P1",
               "site_id": w.site_id, "tags": ["urgent", "boiler"]}),
        json!({"title": "Leaky_pipe", "description": "Water under the sink", "category": "plumbing",
               "priority": "P2", "site_id": site2, "tags": ["pipe"]}),
        json!({"title": "Boiler service", "category": "hvac", "priority": "P3",
               "site_id": site2, "tags": ["boiler"]}),
        json!({"title": "Annual check", "description": "Check the BOILER pressure", "category": "hvac",
               "priority": "P4", "site_id": w.site_id}),
    ];
    let mut tickets = Vec::new();
    for spec in &specs {
        tickets.push(
            app.post("/v1/tickets", admin, spec)
                .await
                .expect(StatusCode::CREATED),
        );
    }
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| id_of(&tickets[i], "id"));
    app.patch(
        &format!("/v1/tickets/{a}"),
        admin,
        &json!({"assignee_id": w.technician_id}),
    )
    .await
    .expect(StatusCode::OK);

    let list = |query: String| {
        let app = &app;
        async move {
            let page = app
                .get(&format!("/v1/tickets?{query}"), admin)
                .await
                .expect(StatusCode::OK);
            ids(&page)
        }
    };
    let technician = w.technician_id.to_string();
    let technician = technician.as_str();
    let site1 = w.site_id.to_string();
    let site1 = site1.as_str();
    let site2 = site2.to_string();
    let site2 = site2.as_str();
    let cases: Vec<(QueryPairs<'_>, Vec<Uuid>)> = vec![
        (vec![], vec![a, b, c, d]),
        (vec![("status", "assigned")], vec![a]),
        (vec![("status", "new")], vec![b, c, d]),
        (vec![("status", "closed")], vec![]),
        (vec![("assignee_id", technician)], vec![a]),
        (vec![("priority", "P2")], vec![b]),
        (vec![("category", "plumbing")], vec![b]),
        (vec![("category", "hvac")], vec![a, c, d]),
        (vec![("site_id", site1)], vec![a, d]),
        (vec![("site_id", site2)], vec![b, c]),
        (vec![("tag", "boiler")], vec![a, c]),
        (vec![("tag", "urgent")], vec![a]),
        (vec![("q", "boiler")], vec![a, c, d]),
        (vec![("q", "BOILER")], vec![a, c, d]),
        (vec![("q", "under THE")], vec![b]),
        // `q` searches the index (issue 16): words, each a prefix;
        // punctuation separates words and is never a wildcard.
        (vec![("q", "%")], vec![]),
        (vec![("q", "100%")], vec![a]),
        (vec![("q", "_")], vec![]),
        (vec![("q", "pipe")], vec![b]),
        (vec![("q", "y_p")], vec![]),
        (vec![("q", "Boiler_")], vec![a, c, d]),
        (vec![("q", "   ")], vec![a, b, c, d]),
        (vec![("category", "hvac"), ("site_id", site1)], vec![a, d]),
        (vec![("tag", "boiler"), ("priority", "P3")], vec![c]),
        (vec![("status", "new"), ("q", "boiler")], vec![c, d]),
    ];
    for (pairs, expected) in cases {
        assert_eq!(list(qs(&pairs)).await, expected, "filter {pairs:?}");
    }

    // Time windows: `created_from` is inclusive, `created_to` exclusive.
    let created: Vec<String> = tickets.iter().map(|t| str_of(t, "created_at")).collect();
    assert!(created[1].ends_with('Z'), "{}", created[1]);
    assert_eq!(
        list(qs(&[("created_from", &created[1])])).await,
        vec![b, c, d]
    );
    assert_eq!(list(qs(&[("created_to", &created[2])])).await, vec![a, b]);
    assert_eq!(
        list(qs(&[
            ("created_from", &created[1]),
            ("created_to", &created[3])
        ]))
        .await,
        vec![b, c]
    );
    assert_eq!(
        list(qs(&[
            ("created_from", "2000-01-01T00:00:00Z"),
            ("created_to", "2100-01-01T00:00:00Z")
        ]))
        .await,
        vec![a, b, c, d]
    );
    assert_eq!(
        list(qs(&[("created_from", "2100-01-01T00:00:00Z")])).await,
        Vec::<Uuid>::new()
    );
    // An explicit offset works once its `+` is URL-encoded (qs does that).
    let offset = chrono::DateTime::parse_from_rfc3339(&created[1])
        .expect("created_at is RFC 3339")
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("offset"))
        .to_rfc3339();
    assert!(offset.contains("+02:00"), "{offset}");
    assert_eq!(list(qs(&[("created_from", &offset)])).await, vec![b, c, d]);

    // Filters still paginate.
    let first = app
        .get("/v1/tickets?q=boiler&limit=2", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&first), vec![a, c]);
    let cursor = str_of(&first, "next_cursor");
    assert_eq!(
        list(qs(&[("q", "boiler"), ("limit", "2"), ("cursor", &cursor)])).await,
        vec![d]
    );

    // A technician's filter is narrowed to their own tickets.
    let mine = app
        .get("/v1/tickets?tag=boiler", &w.technician_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&mine), vec![a]);

    // Wrong parameters are refused, never ignored.
    for (query, mentions) in [
        ("colour=red", "colour"),
        ("status=bogus", "bogus"),
        ("priority=P9", "P9"),
        ("assignee_id=not-a-uuid", "assignee_id"),
        ("site_id=42", "site_id"),
        ("created_from=yesterday", "created_from"),
    ] {
        let reply = app.get(&format!("/v1/tickets?{query}"), admin).await;
        reply.expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");
        assert!(
            detail(&reply).contains(mentions),
            "{query}: detail should mention {mentions}: {}",
            reply.body
        );
    }
    app.stop().await;
}
