//! Macros (issue 21: `http/macros.rs`, `automation/macros.rs`): rule
//! actions and a reply template with ticket and customer placeholders,
//! checked on save, shared with a team or personal (others do not see
//! them), previewed without writing and applied in one step in the agent's
//! name, with its record in the timeline.

use super::*;

backend_tests!(a_team_macro_previews_then_applies_in_one_step);

async fn comments(app: &TestApp, token: &str, ticket: Uuid) -> Vec<Value> {
    let page = app
        .get(&format!("/v1/tickets/{ticket}/comments"), token)
        .await
        .expect(StatusCode::OK);
    page["items"]
        .as_array()
        .or_else(|| page.as_array())
        .cloned()
        .unwrap_or_default()
}

async fn automation_summaries(app: &TestApp, token: &str, ticket: Uuid) -> Vec<String> {
    app.get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), token)
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["kind"] == "automation")
        .map(|e| e["summary"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_team_macro_previews_then_applies_in_one_step(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("macros").await;
    let admin = tenant.admin_token.clone();
    let (ada, ada_token) = app
        .create_user(&tenant, "ada@macros.test", "dispatcher")
        .await;
    let (_, bob_token) = app
        .create_user(&tenant, "bob@macros.test", "dispatcher")
        .await;
    let (_, manager) = app.create_user(&tenant, "mia@macros.test", "manager").await;
    let team = id_of(
        &app.post(
            "/v1/teams",
            &admin,
            &json!({"name": "Support", "members": [ada]}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let site = app.berlin_site(&tenant, "gold").await;
    let ticket = id_of(
        &app.post(
            "/v1/tickets",
            &admin,
            &json!({"title": "Boiler leak", "category": "hvac", "priority": "P3", "site_id": site["id"]}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );

    // Checked on save: the rule schema, the placeholders, something to do.
    let bad_action = app
        .post(
            "/v1/macros",
            &ada_token,
            &json!({"name": "x", "actions": [{"type": "set_priority", "priority": "P9"}]}),
        )
        .await;
    bad_action.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        error_fields(&bad_action)
            .iter()
            .all(|f| f.starts_with("actions")),
        "{}",
        bad_action.body
    );
    let bad_template = app
        .post(
            "/v1/macros",
            &ada_token,
            &json!({"name": "x", "reply": {"body": "Hi {{ nobody.name }}", "visibility": "public"}}),
        )
        .await;
    assert_eq!(error_fields(&bad_template), ["reply.body"]);
    let nothing = app
        .post("/v1/macros", &ada_token, &json!({"name": "x"}))
        .await;
    assert_eq!(error_fields(&nothing), ["actions"]);
    let unknown_team = app
        .post(
            "/v1/macros",
            &ada_token,
            &json!({"name": "x", "actions": [{"type": "set_team", "team_id": Uuid::now_v7()}]}),
        )
        .await;
    assert_eq!(error_fields(&unknown_team), ["actions"]);
    app.get("/v1/macros", &manager)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // Ada's team macro; Bob (not in the team) may not write one for it.
    let escalate = json!({"name": "Escalate", "team_id": team,
        "actions": [{"type": "set_priority", "priority": "P1"},
                    {"type": "add_tags", "tags": ["escalated"]},
                    {"type": "add_note", "body": "Escalated by macro"}],
        "reply": {"body": "Hello {{ customer.name }}, {{ ticket.number }} is now urgent. {{ agent.name }}",
                  "visibility": "public"}});
    app.post("/v1/macros", &bob_token, &escalate)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let shared = app
        .post("/v1/macros", &ada_token, &escalate)
        .await
        .expect(StatusCode::CREATED);
    let shared_id = id_of(&shared, "id");
    assert_eq!(shared["owner_id"], Value::Null);
    let mine = app
        .post(
            "/v1/macros",
            &bob_token,
            &json!({"name": "Thanks", "reply": {"body": "Thanks, {{ customer.contact_person }}!", "visibility": "internal"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let mine_id = id_of(&mine, "id");

    // Who sees what: the team's members and admins the team's; one's own.
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let listed = app
        .get("/v1/macros", &ada_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&listed), ["Escalate"]);
    let listed = app
        .get("/v1/macros", &bob_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&listed), ["Thanks"]);
    let listed = app.get("/v1/macros", &admin).await.expect(StatusCode::OK);
    assert_eq!(names(&listed), ["Escalate"]);
    let apply = format!("/v1/tickets/{ticket}/macros/{shared_id}/apply");
    app.post(&apply, &bob_token, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/macros/{mine_id}"), &ada_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let other = app.create_tenant("macros-other").await;
    app.post(&apply, &other.admin_token, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");

    // The preview says what would change and renders the reply; nothing is written.
    let preview = app
        .post(
            &format!("/v1/tickets/{ticket}/macros/{shared_id}/preview"),
            &ada_token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(preview["applied"], false);
    assert_eq!(preview["ticket"]["priority"], "P1");
    assert_eq!(
        preview["changes"],
        json!(["priority → P1", "tags + escalated", "internal note"])
    );
    let number = preview["ticket"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = format!("Hello Hotel, {number} is now urgent. ada@macros.test");
    assert_eq!(preview["reply"]["body"], reply);
    let unchanged = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unchanged["priority"], "P3");
    assert!(comments(&app, &admin, ticket).await.is_empty());
    assert!(automation_summaries(&app, &admin, ticket).await.is_empty());

    // Applied in one step, in Ada's name.
    let applied = app
        .post(&apply, &ada_token, &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(applied["applied"], true);
    let after = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(after["priority"], "P1");
    assert_eq!(after["tags"], json!(["escalated"]));
    let said = comments(&app, &admin, ticket).await;
    let bodies: Vec<(String, String)> = said
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap_or_default().to_owned(),
                c["visibility"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        bodies.contains(&(reply.clone(), "public".to_owned())),
        "{bodies:?}"
    );
    assert!(
        bodies.contains(&("Escalated by macro".to_owned(), "internal".to_owned())),
        "{bodies:?}"
    );
    let timeline = app
        .get(&format!("/v1/tickets/{ticket}/timeline?limit=200"), &admin)
        .await
        .expect(StatusCode::OK);
    let record = timeline["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|e| e["action"] == "macro.applied")
                .cloned()
        })
        .unwrap_or_default();
    assert_eq!(record["actor"]["id"], json!(ada), "{record}");
    let summaries = automation_summaries(&app, &admin, ticket).await;
    assert_eq!(
        summaries,
        ["macro \"Escalate\" applied: priority → P1; tags + escalated; internal note"],
        "{summaries:?}"
    );
    // Now P1 and tagged: a preview lists only what would still change.
    let again = app
        .post(
            &format!("/v1/tickets/{ticket}/macros/{shared_id}/preview"),
            &ada_token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["changes"], json!(["internal note"]), "{again}");
    // Bob's personal macro: only the reply (an internal note here).
    let thanks = app
        .post(
            &format!("/v1/tickets/{ticket}/macros/{mine_id}/apply"),
            &bob_token,
            &json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(thanks["reply"]["body"], "Thanks, !");
    assert_eq!(thanks["changes"], json!([]));
    // Deleting: only who may use it.
    app.send(
        Method::DELETE,
        &format!("/v1/macros/{mine_id}"),
        Some(&ada_token),
        None,
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/v1/macros/{mine_id}"),
            Some(&bob_token),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}
