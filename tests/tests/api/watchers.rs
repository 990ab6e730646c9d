//! Mentions and watchers (issue 21, item 5; `http/watchers.rs`,
//! `automation/watch.rs`, `store/sql/watch.rs`) and the per-replica cache
//! of parsed rules (`automation/cache.rs`).

use super::*;
use truckroll_tests::fixtures::Shop;

backend_tests!(
    mentions_reach_only_users_who_may_see_the_ticket,
    watchers_hear_of_assignment_status_and_comments,
    cached_rules_follow_writes_made_on_another_replica,
);

async fn notifications(app: &TestApp, token: &str, source: &str) -> Vec<Value> {
    app.get("/v1/me/notifications?limit=200", token)
        .await
        .expect(StatusCode::OK)
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["source"] == source)
        .collect()
}

async fn comment(app: &TestApp, token: &str, ticket: Uuid, body: &str, visibility: &str) {
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        token,
        &json!({"body": body, "visibility": visibility}),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn pushes(app: &TestApp, user: Uuid, kind: &str) -> i64 {
    let raw = app.db.raw().await;
    let like = format!("%{kind}%");
    let n = raw
        .scalar_i64(
            &format!("SELECT COUNT(*) FROM push_outbox WHERE user_id = $1 AND CAST(data AS TEXT) LIKE '{like}'"),
            &[user],
        )
        .await;
    raw.close().await;
    n
}

async fn mentions_reach_only_users_who_may_see_the_ticket(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "mention")
        .technicians(2)
        .dispatcher()
        .build()
        .await;
    let other = Shop::builder(&app, "mention-other")
        .dispatcher()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let dispatcher_token = app.login(&shop.tenant.name, "dispatch@mention.test").await;
    let other_dispatcher = app
        .login(&other.tenant.name, "dispatch@mention-other.test")
        .await;
    let (mine, theirs) = (shop.techs[0].clone(), shop.techs[1].clone());
    app.post(
        "/v1/devices",
        &mine.token,
        &json!({"platform": "android", "push_token": "mention-phone", "actor_id": "0123456789abcdef"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let ticket = shop.assigned_ticket(&app, mine.id).await;

    comment(
        &app,
        &admin,
        ticket,
        "@dispatch please call the customer; @tech0, bring the relay. @tech1 and \
         @dispatch@mention-other.test should hear nothing, nor @admin (me) or @nobody.",
        "internal",
    )
    .await;
    let to_dispatcher = notifications(&app, &dispatcher_token, "mention").await;
    assert_eq!(to_dispatcher.len(), 1, "{to_dispatcher:?}");
    assert_eq!(id_of(&to_dispatcher[0], "ticket_id"), ticket);
    assert!(
        to_dispatcher[0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Admin mentioned you on")),
        "{}",
        to_dispatcher[0]
    );
    assert!(
        to_dispatcher[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("please call the customer"))
    );
    // The assigned technician: in the console list and on the phone.
    assert_eq!(notifications(&app, &mine.token, "mention").await.len(), 1);
    assert_eq!(pushes(&app, mine.user_id, "mention").await, 1);
    // The technician the ticket is not assigned to, another tenant's user
    // and the author: nothing, not even a push.
    assert_eq!(
        notifications(&app, &theirs.token, "mention").await,
        Vec::<Value>::new()
    );
    assert_eq!(pushes(&app, theirs.user_id, "mention").await, 0);
    assert_eq!(
        notifications(&app, &other_dispatcher, "mention").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        notifications(&app, &admin, "mention").await,
        Vec::<Value>::new()
    );

    // A public comment mentions nobody (the customer may read it).
    comment(&app, &admin, ticket, "@dispatch public note", "public").await;
    assert_eq!(
        notifications(&app, &dispatcher_token, "mention")
            .await
            .len(),
        1
    );

    // Reassigned away, the first technician is no longer reachable by mention.
    shop.assign(&app, ticket, theirs.id).await;
    comment(
        &app,
        &dispatcher_token,
        ticket,
        "@tech0 @tech1 over to you",
        "internal",
    )
    .await;
    assert_eq!(notifications(&app, &mine.token, "mention").await.len(), 1);
    assert_eq!(notifications(&app, &theirs.token, "mention").await.len(), 1);
    app.stop().await;
}

async fn watchers_hear_of_assignment_status_and_comments(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "watch")
        .technicians(2)
        .dispatcher()
        .build()
        .await;
    let other = app.create_tenant("watch-other").await;
    let admin = shop.tenant.admin_token.clone();
    let dispatcher = shop.dispatcher.expect("dispatcher");
    let dispatcher_token = app.login(&shop.tenant.name, "dispatch@watch.test").await;
    let (mine, theirs) = (shop.techs[0].clone(), shop.techs[1].clone());
    let ticket = id_of(&shop.ticket(&app, "P2").await, "id");
    let watch = format!("/v1/tickets/{ticket}/watch");

    // Who may not see the ticket may not watch it.
    app.send(Method::PUT, &watch, Some(&mine.token), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.send(Method::PUT, &watch, Some(&other.admin_token), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let watching = app
        .send(Method::PUT, &watch, Some(&dispatcher_token), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(watching["watching"], true);
    assert_eq!(watching["watchers"], json!([dispatcher]));
    // Twice is once.
    app.send(Method::PUT, &watch, Some(&dispatcher_token), None)
        .await
        .expect(StatusCode::OK);

    // Assignment.
    shop.assign(&app, ticket, mine.id).await;
    let seen = notifications(&app, &dispatcher_token, "watch").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("assigned to Tech 0")),
        "{}",
        seen[0]
    );
    // The assigned technician may watch now.
    app.send(Method::PUT, &watch, Some(&mine.token), None)
        .await
        .expect(StatusCode::OK);
    let listed = app
        .get(&format!("/v1/tickets/{ticket}/watchers"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["watching"], false);
    assert_eq!(listed["watchers"].as_array().map(Vec::len), Some(2));

    // A status step, by the technician: the dispatcher hears, and so does
    // the technician (changes carry no author).
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &mine.token,
        &json!({"status": "accepted"}),
    )
    .await
    .expect(StatusCode::OK);
    let seen = notifications(&app, &dispatcher_token, "watch").await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("status assigned → accepted")),
        "{}",
        seen[0]
    );

    // A comment: every watcher but its author.
    comment(&app, &admin, ticket, "Customer called back", "public").await;
    let seen = notifications(&app, &dispatcher_token, "watch").await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Admin commented on"))
    );
    let before = notifications(&app, &mine.token, "watch").await.len();
    comment(&app, &mine.token, ticket, "On my way", "public").await;
    assert_eq!(
        notifications(&app, &mine.token, "watch").await.len(),
        before
    );
    assert_eq!(
        notifications(&app, &dispatcher_token, "watch").await.len(),
        4
    );

    // Reassigned away: the first technician still watches but may no longer
    // see the ticket, so hears nothing of it.
    let before = notifications(&app, &mine.token, "watch").await.len();
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"assignee_id": theirs.id}),
    )
    .await
    .expect(StatusCode::OK);
    comment(&app, &admin, ticket, "Tech 1 takes over", "public").await;
    assert_eq!(
        notifications(&app, &mine.token, "watch").await.len(),
        before
    );
    assert_eq!(
        notifications(&app, &dispatcher_token, "watch").await.len(),
        6
    );

    // Unwatched: nothing more.
    let unwatched = app
        .send(Method::DELETE, &watch, Some(&dispatcher_token), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unwatched["watching"], false);
    comment(&app, &admin, ticket, "Parts ordered", "public").await;
    assert_eq!(
        notifications(&app, &dispatcher_token, "watch").await.len(),
        6
    );
    app.stop().await;
}

async fn cached_rules_follow_writes_made_on_another_replica(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("rules-cache").await;
    let admin = tenant.admin_token.clone();
    // Another replica: its own connection and its own cache.
    let replica = truckroll_server::store::connect(app.db.database_url(), 2)
        .await
        .expect("replica");
    let cache = truckroll_server::automation::cache::RulesCache::new();
    let rules = || async {
        cache
            .rules(replica.as_ref(), tenant.id)
            .await
            .expect("rules")
    };
    assert!(rules().await.is_empty());
    let definition =
        json!({"events": ["ticket_created"], "actions": [{"type": "add_tags", "tags": ["a"]}]});
    let saved = app
        .post(
            "/v1/rules",
            &admin,
            &json!({"name": "one", "definition": definition}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = id_of(&saved, "id");
    let seen = rules().await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].active);
    // Unchanged: the same parsed rules, not a reload.
    assert!(std::sync::Arc::ptr_eq(&seen, &rules().await));
    app.send(
        Method::PUT,
        &format!("/v1/rules/{id}"),
        Some(&admin),
        Some(&json!({"name": "one", "active": false, "definition": definition})),
    )
    .await
    .expect(StatusCode::OK);
    let seen = rules().await;
    assert!(!seen[0].active, "an update on the other replica is seen");
    app.send(
        Method::DELETE,
        &format!("/v1/rules/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert!(rules().await.is_empty(), "so is a delete");
    app.stop().await;
}
