//! Automation (`http/automation.rs`, `automation/`, `domain/automation.rs`):
//! teams with queues and owner picks, trigger rules on ticket writes and
//! comments (conditions, actions, order, stop, the loop bound), their record
//! in the timeline and the audit log, the dry run, staff notifications and
//! who may receive them.

use super::*;

backend_tests!(
    teams_own_tickets_with_round_robin_and_least_loaded,
    a_p1_from_a_gold_customer_goes_to_senior_and_pages_the_supervisor,
    rules_are_validated_against_the_published_schema,
    rules_run_in_order_stop_and_end_a_flip_flop,
    a_dry_run_answers_and_writes_nothing,
    notifications_reach_only_users_who_may_see_the_ticket,
);

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> Reply {
    app.send(Method::PUT, path, Some(token), Some(body)).await
}

async fn ticket_at(app: &TestApp, token: &str, site: &Value, priority: &str) -> Value {
    let body = json!({"title": "Boiler leak", "category": "hvac", "priority": priority,
                      "site_id": site["id"]});
    app.post("/v1/tickets", token, &body)
        .await
        .expect(StatusCode::CREATED)
}

async fn timeline(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Value> {
    app.get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn actions(entries: &[Value], action: &str) -> Vec<Value> {
    entries
        .iter()
        // A webhook delivery of `rule.fired` is a `webhook` entry of that action too.
        .filter(|e| e["action"] == action && e["kind"] != "webhook")
        .cloned()
        .collect()
}

async fn rule(app: &TestApp, token: &str, name: &str, position: i64, definition: Value) -> Uuid {
    let body = json!({"name": name, "position": position, "definition": definition});
    let saved = app.post("/v1/rules", token, &body).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    id_of(&saved.body, "id")
}

async fn teams_own_tickets_with_round_robin_and_least_loaded(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("auto-teams").await;
    let admin = tenant.admin_token.clone();
    let (d1, d1_token) = app
        .create_user(&tenant, "d1@teams.test", "dispatcher")
        .await;
    let (d2, _) = app
        .create_user(&tenant, "d2@teams.test", "dispatcher")
        .await;
    let (tech_user, tech_token) = app.create_user(&tenant, "t@teams.test", "technician").await;
    let site = app.berlin_site(&tenant, "standard").await;

    // Technicians are not team members; only admins manage teams.
    let refused = app
        .post(
            "/v1/teams",
            &admin,
            &json!({"name": "Field", "members": [tech_user]}),
        )
        .await;
    refused.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    app.post("/v1/teams", &d1_token, &json!({"name": "X"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let team = app
        .post(
            "/v1/teams",
            &admin,
            &json!({"name": "Back office", "assignment": "round_robin", "members": [d2, d1]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let team_id = id_of(&team, "id");
    let mut members = vec![d1, d2];
    members.sort();
    assert_eq!(team["members"], json!(members), "members in id order");
    app.post("/v1/teams", &admin, &json!({"name": "Back office"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");

    // Round robin: first member, second member, first again.
    let mut tickets = Vec::new();
    let mut owners = Vec::new();
    for _ in 0..3 {
        let ticket = id_of(&ticket_at(&app, &admin, &site, "P3").await, "id");
        let owned = put(
            &app,
            &format!("/v1/tickets/{ticket}/team"),
            &d1_token,
            &json!({"team_id": team_id, "reason": "billing question"}),
        )
        .await
        .expect(StatusCode::OK);
        assert_eq!(owned["team_name"], "Back office");
        owners.push(id_of(&owned, "owner_id"));
        tickets.push(ticket);
    }
    assert_eq!(owners, vec![members[0], members[1], members[0]]);

    // Least loaded: the second member owns one open ticket, the first two.
    let fourth = id_of(&ticket_at(&app, &admin, &site, "P3").await, "id");
    let owned = put(
        &app,
        &format!("/v1/tickets/{fourth}/team"),
        &admin,
        &json!({"team_id": team_id, "pick": "least_loaded", "reason": "overflow"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(id_of(&owned, "owner_id"), members[1]);

    // A named owner must be a member.
    let stranger = put(
        &app,
        &format!("/v1/tickets/{fourth}/team"),
        &admin,
        &json!({"team_id": team_id, "owner_id": tech_user, "reason": "x"}),
    )
    .await;
    stranger.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(error_fields(&stranger), vec!["owner_id"]);
    put(
        &app,
        &format!("/v1/tickets/{fourth}/team"),
        &admin,
        &json!({"team_id": team_id, "reason": ""}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    put(
        &app,
        &format!("/v1/tickets/{fourth}/team"),
        &tech_token,
        &json!({"team_id": team_id, "reason": "mine"}),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // The queue lists the four with their owners.
    let queue = app
        .get(&format!("/v1/teams/{team_id}/queue"), &d1_token)
        .await
        .expect(StatusCode::OK);
    let queue = queue.as_array().cloned().unwrap_or_default();
    assert_eq!(queue.len(), 4);
    assert_eq!(id_of(&queue[0], "id"), tickets[0]);
    assert_eq!(id_of(&queue[0], "owner_id"), members[0]);
    assert_eq!(
        queue[3]["number"],
        app.get(&format!("/v1/tickets/{fourth}"), &admin)
            .await
            .expect(StatusCode::OK)["number"]
    );

    // The transfer and its reason are in the timeline.
    let entries = timeline(&app, &admin, tickets[0]).await;
    let moves = actions(&entries, "ticket.team");
    assert_eq!(moves.len(), 1, "{entries:?}");
    assert_eq!(moves[0]["kind"], "automation");
    assert!(
        moves[0]["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("billing question"),
        "{}",
        moves[0]
    );

    // A team that owns tickets is not deleted; a ticket leaves its team with `null`.
    app.send(
        Method::DELETE,
        &format!("/v1/teams/{team_id}"),
        Some(&admin),
        None,
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "in_use");
    let cleared = put(
        &app,
        &format!("/v1/tickets/{}/team", tickets[1]),
        &admin,
        &json!({"team_id": null, "reason": "solved by phone"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(cleared, Value::Null);
    assert_eq!(
        app.get(&format!("/v1/tickets/{}/team", tickets[1]), &admin)
            .await
            .expect(StatusCode::OK),
        Value::Null
    );
    let entries = timeline(&app, &admin, tickets[1]).await;
    assert_eq!(actions(&entries, "ticket.team").len(), 2);

    // Another tenant sees none of it.
    let other = app.create_tenant("auto-teams-other").await;
    app.get(&format!("/v1/teams/{team_id}"), &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(
        &format!("/v1/tickets/{}/team", tickets[0]),
        &other.admin_token,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let listed = app
        .get("/v1/teams", &other.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed, json!([]));
    app.stop().await;
}

async fn a_p1_from_a_gold_customer_goes_to_senior_and_pages_the_supervisor(backend: TestBackend) {
    // The rule's webhook goes to a loopback receiver: an on-premises
    // address the operator allows (`[egress] allow`).
    let app = TestApp::start_with(backend, |config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let tenant = app.create_tenant("auto-story").await;
    let admin = tenant.admin_token.clone();
    let (senior, senior_token) = app
        .create_user(&tenant, "senior@story.test", "dispatcher")
        .await;
    let (supervisor, supervisor_token) =
        app.create_user(&tenant, "boss@story.test", "manager").await;
    let team = app
        .post(
            "/v1/teams",
            &admin,
            &json!({"name": "Senior", "members": [senior]}),
        )
        .await
        .expect(StatusCode::CREATED);
    let webhook = app
        .post(
            "/v1/webhooks",
            &admin,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["rule.fired"]}),
        )
        .await
        .expect(StatusCode::CREATED);
    rule(
        &app,
        &admin,
        "P1 gold to Senior",
        10,
        json!({
            "events": ["ticket_created"],
            "conditions": {"all": [
                {"field": "priority", "op": "eq", "value": "P1"},
                {"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]}
            ]},
            "actions": [
                {"type": "set_team", "team_id": team["id"], "owner_id": senior},
                {"type": "notify", "user_ids": [supervisor], "title": "P1 {{ticket.number}} for a {{customer.tier}} customer"},
                {"type": "add_note", "body": "Routed to Senior by rule"},
                {"type": "webhook", "label": "vip"}
            ]
        }),
    )
    .await;

    let gold = app.berlin_site(&tenant, "gold").await;
    let standard = app.berlin_site(&tenant, "standard").await;
    let hit = ticket_at(&app, &admin, &gold, "P1").await;
    let hit_id = id_of(&hit, "id");
    let owned = app
        .get(&format!("/v1/tickets/{hit_id}/team"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(owned["team_name"], "Senior");
    assert_eq!(id_of(&owned, "owner_id"), senior);
    assert!(
        owned["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("P1 gold to Senior")
    );

    // The supervisor is told, once; nobody else is.
    let told = app
        .get("/v1/me/notifications", &supervisor_token)
        .await
        .expect(StatusCode::OK);
    let told = told.as_array().cloned().unwrap_or_default();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        told[0]["title"],
        format!(
            "P1 {} for a gold customer",
            hit["number"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(id_of(&told[0], "ticket_id"), hit_id);
    let senior_told = app
        .get("/v1/me/notifications", &senior_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(senior_told, json!([]));
    let read = app
        .post(
            &format!(
                "/v1/me/notifications/{}/read",
                told[0]["id"].as_str().unwrap_or_default()
            ),
            &supervisor_token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(read["read_at"].is_string());
    let unread = app
        .get("/v1/me/notifications?unread=true", &supervisor_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unread, json!([]));
    // Another user cannot mark it.
    app.post(
        &format!(
            "/v1/me/notifications/{}/read",
            told[0]["id"].as_str().unwrap_or_default()
        ),
        &senior_token,
        &json!({}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // The firing, the transfer and the note are in the timeline.
    let entries = timeline(&app, &admin, hit_id).await;
    let fired = actions(&entries, "rule.fired");
    assert_eq!(fired.len(), 1, "{entries:?}");
    assert_eq!(fired[0]["kind"], "automation");
    assert_eq!(fired[0]["detail"]["rule_name"], "P1 gold to Senior");
    let summary = fired[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("rule \"P1 gold to Senior\" fired: team → Senior; notify: P1 TR-"),
        "{summary}"
    );
    assert_eq!(
        actions(&entries, "rule.fired").len() + 1,
        entries
            .iter()
            .filter(|e| e["action"] == "rule.fired")
            .count(),
        "and the webhook delivery is on the timeline"
    );
    assert_eq!(actions(&entries, "ticket.team").len(), 1);
    let notes: Vec<_> = actions(&entries, "comment.internal");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["detail"]["body"], "Routed to Senior by rule");
    // … and in the audit log.
    let audit = app
        .get("/v1/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK);
    let audited = audit["items"]
        .as_array()
        .map(|items| items.iter().filter(|e| e["action"] == "rule.fired").count())
        .unwrap_or(0);
    assert_eq!(audited, 1, "{audit}");
    // … and the webhook is queued on the outbox.
    let deliveries = app
        .get(
            &format!(
                "/v1/webhooks/deliveries?subscription_id={}",
                webhook["id"].as_str().unwrap_or_default()
            ),
            &admin,
        )
        .await
        .expect(StatusCode::OK);
    let deliveries = deliveries.as_array().cloned().unwrap_or_default();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["event_type"], "rule.fired");

    // A P1 from a standard customer and a P3 from a gold one: nothing.
    for (site, priority) in [(&standard, "P1"), (&gold, "P3")] {
        let missed = id_of(&ticket_at(&app, &admin, site, priority).await, "id");
        assert_eq!(
            app.get(&format!("/v1/tickets/{missed}/team"), &admin)
                .await
                .expect(StatusCode::OK),
            Value::Null
        );
        assert!(actions(&timeline(&app, &admin, missed).await, "rule.fired").is_empty());
    }
    let told = app
        .get("/v1/me/notifications", &supervisor_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(told.as_array().map(Vec::len), Some(1));
    app.stop().await;
}

async fn rules_are_validated_against_the_published_schema(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("auto-schema").await;
    let admin = tenant.admin_token.clone();
    let (_, dispatcher) = app
        .create_user(&tenant, "d@schema.test", "dispatcher")
        .await;

    let schema = app
        .get("/v1/rules/schema", &admin)
        .await
        .expect(StatusCode::OK);
    assert!(schema["$defs"]["action"].is_object(), "{schema}");
    let openapi = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .expect(StatusCode::OK);
    assert!(openapi["paths"]["/v1/rules/dry-run"].is_object());

    let bad = app
        .post(
            "/v1/rules",
            &admin,
            &json!({"name": "bad", "definition": {"events": ["ticket_exploded"],
                    "actions": [{"type": "set_priority", "priority": "P9"}]}}),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fields = error_fields(&bad);
    assert!(
        fields.iter().any(|f| f.starts_with("definition/events")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("definition/actions")),
        "{fields:?}"
    );

    let unknown_team = app
        .post(
            "/v1/rules",
            &admin,
            &json!({"name": "no team", "definition": {"events": ["ticket_created"],
                    "actions": [{"type": "set_team", "team_id": Uuid::now_v7()}]}}),
        )
        .await;
    unknown_team.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        unknown_team.body.to_string().contains("no such team"),
        "{}",
        unknown_team.body
    );

    let unknown_field = app
        .post(
            "/v1/rules",
            &admin,
            &json!({"name": "colour", "definition": {"events": ["ticket_created"],
                    "conditions": {"field": "colour", "op": "eq", "value": "red"},
                    "actions": [{"type": "add_tags", "tags": ["red"]}]}}),
        )
        .await;
    unknown_field.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    let good = json!({"name": "tag it", "definition": {"events": ["ticket_created"],
                      "actions": [{"type": "add_tags", "tags": ["auto"]}]}});
    app.post("/v1/rules", &dispatcher, &good)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let saved = app
        .post("/v1/rules", &admin, &good)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(saved["position"], 10, "the first rule goes first");
    assert_eq!(saved["active"], true);
    app.post("/v1/rules", &admin, &good)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    let id = id_of(&saved, "id");
    let changed = put(
        &app,
        &format!("/v1/rules/{id}"),
        &admin,
        &json!({"name": "tag it", "active": false, "definition": saved["definition"]}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(changed["active"], false);
    let listed = app.get("/v1/rules", &admin).await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    app.send(
        Method::DELETE,
        &format!("/v1/rules/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/v1/rules/{id}"), &admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

async fn rules_run_in_order_stop_and_end_a_flip_flop(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("auto-order").await;
    let admin = tenant.admin_token.clone();
    let site = app.berlin_site(&tenant, "silver").await;

    // On creation: a custom field set, a tag added and one removed, in order.
    rule(
        &app,
        &admin,
        "source",
        10,
        json!({"events": ["ticket_created"],
        "conditions": {"field": "channel", "op": "eq", "value": "api"},
        "actions": [{"type": "set_field", "key": "source", "value": "api-rule"},
                    {"type": "add_tags", "tags": ["triaged", "temp"]}]}),
    )
    .await;
    rule(
        &app,
        &admin,
        "untemp",
        20,
        json!({"events": ["ticket_created"],
        "conditions": {"field": "tags", "op": "contains", "value": "temp"},
        "actions": [{"type": "remove_tags", "tags": ["temp"]}]}),
    )
    .await;
    // Two rules that would flip the priority back and forth forever.
    rule(
        &app,
        &admin,
        "flip",
        30,
        json!({"events": ["ticket_updated"],
        "conditions": {"all": [{"field": "tags", "op": "contains", "value": "flip"},
                               {"field": "priority", "op": "eq", "value": "P3"}]},
        "actions": [{"type": "set_priority", "priority": "P2"}]}),
    )
    .await;
    rule(
        &app,
        &admin,
        "flop",
        40,
        json!({"events": ["ticket_updated"],
        "conditions": {"field": "priority", "op": "eq", "value": "P2"},
        "actions": [{"type": "set_priority", "priority": "P3"}]}),
    )
    .await;
    // A comment mentioning "urgent" escalates and stops the rules after it.
    rule(&app, &admin, "urgent", 5, json!({"events": ["comment_added"],
        "conditions": {"any": [{"field": "comment.body", "op": "contains", "value": "urgent"},
                               {"field": "title", "op": "contains", "value": "urgent"}]},
        "actions": [{"type": "set_priority", "priority": "P1"}, {"type": "add_tags", "tags": ["escalated"]}],
        "stop": true})).await;
    rule(
        &app,
        &admin,
        "after stop",
        6,
        json!({"events": ["comment_added"],
        "actions": [{"type": "add_tags", "tags": ["never"]}]}),
    )
    .await;

    let created = ticket_at(&app, &admin, &site, "P3").await;
    let id = id_of(&created, "id");
    assert_eq!(
        created["custom_fields"]["source"], "api-rule",
        "the answer shows the rules' effect"
    );
    assert_eq!(created["tags"], json!(["triaged"]));

    let patched = app
        .patch(
            &format!("/v1/tickets/{id}"),
            &admin,
            &json!({"tags": ["triaged", "flip"]}),
        )
        .await
        .expect(StatusCode::OK);
    // flip (P3 → P2) then flop (P2 → P3) in one pass; neither fires again.
    assert_eq!(patched["priority"], "P3");
    let entries = timeline(&app, &admin, id).await;
    let fired: Vec<_> = actions(&entries, "rule.fired")
        .iter()
        .map(|e| {
            e["detail"]["rule_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(fired, vec!["source", "untemp", "flip", "flop"]);

    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &admin,
        &json!({"body": "This is URGENT", "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let after = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["priority"], "P1");
    assert_eq!(
        after["tags"],
        json!(["triaged", "flip", "escalated"]),
        "the stop kept `after stop` out"
    );
    // The rules' own update is a new pass: flip/flop did not fire again.
    let entries = timeline(&app, &admin, id).await;
    assert_eq!(actions(&entries, "rule.fired").len(), 5);

    // A plain comment: only `after stop` fires.
    app.post(
        &format!("/v1/tickets/{id}/comments"),
        &admin,
        &json!({"body": "calling back", "visibility": "public"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let after = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        after["tags"],
        json!(["triaged", "flip", "escalated", "never"])
    );
    app.stop().await;
}

async fn a_dry_run_answers_and_writes_nothing(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("auto-dry").await;
    let admin = tenant.admin_token.clone();
    let (_, dispatcher) = app.create_user(&tenant, "d@dry.test", "dispatcher").await;
    let site = app.berlin_site(&tenant, "platinum").await;
    let ticket = ticket_at(&app, &admin, &site, "P3").await;
    let id = id_of(&ticket, "id");
    rule(&app, &admin, "platinum first", 10, json!({"events": ["ticket_updated"],
        "conditions": {"field": "customer.tier", "op": "eq", "value": "platinum"},
        "actions": [{"type": "set_priority", "priority": "P1"}, {"type": "add_note", "body": "VIP"}]})).await;

    let team = app
        .post("/v1/teams", &admin, &json!({"name": "Senior"}))
        .await
        .expect(StatusCode::CREATED);
    let timeline_before = timeline(&app, &admin, id).await.len();
    let audit_before = app
        .get("/v1/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .map(Vec::len);

    let dry = app
        .post("/v1/rules/dry-run", &admin, &json!({"ticket_id": id}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(dry["firings"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(dry["firings"][0]["rule_name"], "platinum first");
    assert_eq!(dry["ticket"]["priority"], "P1");
    // An unsaved draft alone.
    let draft = app
        .post(
            "/v1/rules/dry-run",
            &admin,
            &json!({"ticket_id": id, "events": ["comment_added"], "comment": "gas smell",
                    "definition": {"events": ["comment_added"],
                                   "conditions": {"field": "text", "op": "contains", "value": "GAS"},
                                   "actions": [{"type": "add_tags", "tags": ["gas"]}]}}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(draft["firings"][0]["rule_name"], "draft");
    assert_eq!(draft["ticket"]["tags"], json!(["gas"]));
    // People read a team's name, as in the timeline; an action that would
    // change nothing (P3 on a P3 ticket) is no change.
    let to_team = app
        .post(
            "/v1/rules/dry-run",
            &admin,
            &json!({"ticket_id": id, "definition": {"events": ["ticket_updated"],
                    "actions": [{"type": "set_team", "team_id": team["id"]},
                                {"type": "set_priority", "priority": "P3"}]}}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        to_team["firings"][0]["changes"],
        json!(["team → Senior"]),
        "{to_team}"
    );
    assert_eq!(to_team["team_id"], team["id"]);
    app.post("/v1/rules/dry-run", &dispatcher, &json!({"ticket_id": id}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        "/v1/rules/dry-run",
        &admin,
        &json!({"ticket_id": Uuid::now_v7()}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // Nothing was written.
    let now = app
        .get(&format!("/v1/tickets/{id}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(now["priority"], "P3");
    assert_eq!(now["tags"], json!([]));
    assert_eq!(now["updated_at"], ticket["updated_at"]);
    assert_eq!(timeline(&app, &admin, id).await.len(), timeline_before);
    let audit_after = app
        .get("/v1/audit?limit=200", &admin)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(audit_after, audit_before);
    app.stop().await;
}

async fn notifications_reach_only_users_who_may_see_the_ticket(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = truckroll_tests::fixtures::Shop::builder(&app, "auto-seen")
        .dispatcher()
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let dispatcher = shop.dispatcher.expect("dispatcher");
    let dispatcher_token = app
        .login(&shop.tenant.name, "dispatch@auto-seen.test")
        .await;
    let tech = shop.tech().clone();
    rule(&app, &admin, "tell everyone", 10, json!({"events": ["ticket_created", "ticket_updated"],
        "actions": [{"type": "notify", "user_ids": [tech.user_id], "roles": ["dispatcher", "technician"],
                     "title": "{{ticket.number}} changed"}]})).await;

    app.post(
        "/v1/devices",
        &tech.token,
        &json!({"platform": "android", "push_token": "seen-phone", "actor_id": "0123456789abcdef"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let rule_pushes = || async {
        let raw = app.db.raw().await;
        let n = raw
            .scalar_i64(
                "SELECT COUNT(*) FROM push_outbox WHERE user_id = $1 AND title LIKE '% changed'",
                &[tech.user_id],
            )
            .await;
        raw.close().await;
        n
    };
    let ticket = shop.ticket(&app, "P2").await;
    let id = id_of(&ticket, "id");
    // The technician may not see an unassigned ticket: nothing for them.
    let theirs = app
        .get("/v1/me/notifications", &tech.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs, json!([]));
    let dispatchers = app
        .get("/v1/me/notifications", &dispatcher_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(dispatchers.as_array().map(Vec::len), Some(1));
    assert_eq!(
        rule_pushes().await,
        0,
        "no push leaks the ticket to the technician's phone"
    );

    // Assigned to them, the next change reaches them.
    shop.assign(&app, id, tech.id).await;
    app.patch(
        &format!("/v1/tickets/{id}"),
        &admin,
        &json!({"title": "Chiller, noisy"}),
    )
    .await
    .expect(StatusCode::OK);
    let theirs = app
        .get("/v1/me/notifications", &tech.token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs.as_array().map(Vec::len), Some(1), "{theirs}");
    assert_eq!(id_of(&theirs[0], "ticket_id"), id);
    assert_eq!(
        rule_pushes().await,
        1,
        "and their phone through the push outbox"
    );
    let _ = dispatcher;
    app.stop().await;
}
