//! Customers: cursor pagination.

use super::*;

backend_tests!(customers_paginate_by_cursor,);

// ---------------------------------------------------------------------------
// 2. Cursor pagination

async fn customers_paginate_by_cursor(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("pages").await;
    let admin = tenant.admin_token.as_str();
    let mut created = Vec::new();
    for i in 0..7 {
        let customer = app
            .post(
                "/v1/customers",
                admin,
                &json!({"name": format!("Customer {i}")}),
            )
            .await
            .expect(StatusCode::CREATED);
        created.push(id_of(&customer, "id"));
    }

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!(
                "/v1/customers?{}",
                qs(&[("limit", "3"), ("cursor", cursor)])
            ),
            None => "/v1/customers?limit=3".to_owned(),
        };
        let page = app.get(&path, admin).await.expect(StatusCode::OK);
        let page_ids = ids(&page);
        sizes.push(page_ids.len());
        seen.extend(page_ids);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                break;
            }
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a customer appeared twice: {seen:?}"
    );
    assert_eq!(seen, created, "every customer, in creation order");

    // A page that ends exactly at the last item has no cursor.
    let exact = app
        .get("/v1/customers?limit=7", admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&exact).len(), 7);
    assert!(exact["next_cursor"].is_null(), "{exact}");
    let default = app.get("/v1/customers", admin).await.expect(StatusCode::OK);
    assert_eq!(ids(&default), created);

    for bad in ["bogus", "AAAA", "!!!", "not a cursor"] {
        let reply = app
            .get(&format!("/v1/customers?{}", qs(&[("cursor", bad)])), admin)
            .await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), vec!["cursor"], "cursor {bad}");
    }
    for bad in ["0", "500", "201"] {
        let reply = app.get(&format!("/v1/customers?limit={bad}"), admin).await;
        reply.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "/validation");
        assert_eq!(error_fields(&reply), vec!["limit"], "limit {bad}");
    }
    app.get("/v1/customers?limit=200", admin)
        .await
        .expect(StatusCode::OK);
    app.get("/v1/customers?limit=-1", admin)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");
    app.get("/v1/customers?limit=three", admin)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "/malformed-request");
    app.stop().await;
}
