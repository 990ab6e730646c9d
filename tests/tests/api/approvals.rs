//! Approvals (issue 21: `http/approvals.rs`, `automation/approvals.rs`):
//! policies over the rule conditions and the priced job, a request that
//! pauses the SLA clocks or not per policy, the approvers' inbox and
//! decision (others 403, other tenants 404), the record in the timeline,
//! a rule's `request_approval`, and the technician's phone learning the
//! outcome through sync.

use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_tests::{TempGuard, fixtures::Shop};

use super::*;

backend_tests!(
    a_costly_job_waits_for_a_manager_and_the_phone_learns_the_outcome,
    a_policy_without_pause_keeps_the_sla_running_and_a_rule_asks,
);

async fn timeline_texts(app: &TestApp, token: &str, ticket: Uuid) -> Vec<String> {
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

async fn sla_policy(app: &TestApp, admin: &str) {
    app.post(
        "/v1/sla/policies",
        admin,
        &json!({"name": "Everything", "targets": {"response_minutes": 240, "arrival_minutes": 480,
               "resolution_minutes": 960}}),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn a_costly_job_waits_for_a_manager_and_the_phone_learns_the_outcome(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "approvals").build().await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.techs[0].clone();
    let (_, manager) = app
        .create_user(&shop.tenant, "boss@approvals.test", "manager")
        .await;
    let (_, clerk) = app
        .create_user(&shop.tenant, "clerk@approvals.test", "dispatcher")
        .await;
    sla_policy(&app, &admin).await;
    app.post(
        "/v1/parts",
        &admin,
        &json!({"number": "CMP-9", "name": "compressor", "price_cents": 60000, "cost_cents": 30000}),
    )
    .await
    .expect(StatusCode::CREATED);

    // Only admins write policies; bad ones are refused whole.
    let costly = json!({"name": "Parts over 500", "parts_cents_over": 50000,
                        "approvers": {"roles": ["manager"]}, "pause_sla": true});
    app.post("/v1/approval-policies", &clerk, &costly)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let bad = app
        .post(
            "/v1/approval-policies",
            &admin,
            &json!({"name": "", "parts_cents_over": -5, "approvers": {"user_ids": [tech.user_id]},
                    "conditions": {"field": "colour", "op": "eq", "value": "red"}}),
        )
        .await;
    bad.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        error_fields(&bad),
        ["name", "conditions", "parts_cents_over"]
    );
    let not_staff = app
        .post(
            "/v1/approval-policies",
            &admin,
            &json!({"name": "Tech", "approvers": {"user_ids": [tech.user_id]}}),
        )
        .await;
    assert_eq!(error_fields(&not_staff), ["approvers.user_ids[0]"]);
    let policy = app
        .post("/v1/approval-policies", &admin, &costly)
        .await
        .expect(StatusCode::CREATED);
    let policy_id = id_of(&policy, "id");
    assert_eq!(policy["pause_sla"], true);
    assert_eq!(
        app.get("/v1/approval-policies", &clerk)
            .await
            .expect(StatusCode::OK)
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The technician's job, nothing used yet: the policy does not apply.
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    let check = app
        .get(&format!("/v1/tickets/{ticket}/approvals/check"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(check["parts_cents"], 0);
    assert_eq!(check["policies"][0]["applies"], false);
    let early = app
        .post(
            &format!("/v1/tickets/{ticket}/approvals"),
            &admin,
            &json!({"policy_id": policy_id}),
        )
        .await;
    assert_eq!(error_fields(&early), ["policy_id"]);

    // On site the technician records the compressor on the phone.
    let dir = TempGuard::new("truckroll-approvals-");
    let phone = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    phone
        .sign_in(&shop.tenant.name, &tech.email, PASSWORD)
        .await
        .expect("signs in");
    phone.sync_now().await.expect("first sync");
    let t = ticket.to_string();
    assert!(phone.job_approvals(&t).await.expect("read").is_empty());
    phone
        .edit(
            &t,
            Edit::AddPart {
                part_number: "CMP-9".into(),
                quantity: 1.0,
                serial: None,
            },
        )
        .await
        .expect("edit applies");
    phone.sync_now().await.expect("sync");
    let check = app
        .get(&format!("/v1/tickets/{ticket}/approvals/check"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(check["parts_cents"], 60000);
    assert_eq!(check["policies"][0]["applies"], true);

    // The office asks (the policy is found); the SLA clocks stop.
    let path = format!("/v1/tickets/{ticket}/approvals");
    app.post(&path, &tech.token, &json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let request = app
        .post(&path, &clerk, &json!({"reason": "new compressor"}))
        .await
        .expect(StatusCode::CREATED);
    let request_id = id_of(&request, "id");
    assert_eq!(request["state"], "pending");
    assert_eq!(request["policy_name"], "Parts over 500");
    assert_eq!(request["value_cents"], 60000);
    assert_eq!(
        request["ticket_number"]
            .as_str()
            .map(|n| n.starts_with("TR-")),
        Some(true)
    );
    app.post(&path, &clerk, &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    let held = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(held["status"], "assigned", "the status is untouched");
    for target in ["response", "arrival", "resolution"] {
        assert_eq!(held["sla"][target]["phase"], "paused", "{}", held["sla"]);
    }
    // The approvers hear of it.
    let notes = app
        .get("/v1/me/notifications", &manager)
        .await
        .expect(StatusCode::OK);
    let titles: Vec<String> = notes
        .as_array()
        .or_else(|| notes["items"].as_array())
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        titles.iter().any(|t| t.starts_with("Approval requested")),
        "{notes}"
    );

    // The inbox: the manager's, not the clerk's (who is no approver).
    let inbox = app
        .get("/v1/approvals", &manager)
        .await
        .expect(StatusCode::OK);
    assert_eq!(inbox.as_array().map(Vec::len), Some(1), "{inbox}");
    assert_eq!(id_of(&inbox[0], "id"), request_id);
    let theirs = app
        .get("/v1/approvals", &clerk)
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs, json!([]));
    let all = app
        .get("/v1/approvals?mine=false", &clerk)
        .await
        .expect(StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    app.get("/v1/approvals?limit=0", &manager)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Only an approver decides; another tenant does not see the request.
    let decision = format!("/v1/approvals/{request_id}/decision");
    app.post(&decision, &clerk, &json!({"decision": "approve"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(&decision, &tech.token, &json!({"decision": "approve"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other = app.create_tenant("approvals-other").await;
    let (_, other_manager) = app.create_user(&other, "boss@other.test", "manager").await;
    app.post(&decision, &other_manager, &json!({"decision": "approve"}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/v1/approvals/{request_id}"), &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    app.get(&path, &other.admin_token)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not-found");
    let unknown = app
        .post(&decision, &manager, &json!({"decision": "maybe"}))
        .await;
    assert!(unknown.status.is_client_error(), "{}", unknown.body);
    let bare_reject = app
        .post(&decision, &manager, &json!({"decision": "reject"}))
        .await;
    assert_eq!(error_fields(&bare_reject), ["comment"]);

    // Let the pause be measurable, then approve: the clocks run again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let approved = app
        .post(
            &decision,
            &manager,
            &json!({"decision": "approve", "comment": "go ahead"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["decision_comment"], "go ahead");
    app.post(
        &decision,
        &manager,
        &json!({"decision": "reject", "comment": "no"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "conflict");
    let resumed = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    for target in ["response", "arrival", "resolution"] {
        let clock = &resumed["sla"][target];
        assert_eq!(clock["phase"], "running", "{clock}");
        assert!(clock["paused_seconds"].as_i64() >= Some(1), "{clock}");
    }
    assert_eq!(
        app.get("/v1/approvals", &manager)
            .await
            .expect(StatusCode::OK),
        json!([])
    );

    // In the timeline (from the audit log), and on the phone after sync.
    let texts = timeline_texts(&app, &admin, ticket).await;
    assert!(
        texts
            .iter()
            .any(|t| t.contains("approval requested under \"Parts over 500\" (SLA paused)")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("approval approved under \"Parts over 500\": go ahead")),
        "{texts:?}"
    );
    let mine = app.get(&path, &tech.token).await.expect(StatusCode::OK);
    assert_eq!(mine[0]["state"], "approved");
    let report = phone.sync_now().await.expect("sync");
    assert_eq!(report.packets_received, vec![t.clone()]);
    phone.set_online(false);
    let seen = phone.job_approvals(&t).await.expect("read");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, "approved");
    assert_eq!(seen[0].comment, "go ahead");
    assert_eq!(seen[0].policy, "Parts over 500");
    assert!(seen[0].decided_ms.is_some());
    app.stop().await;
}

async fn a_policy_without_pause_keeps_the_sla_running_and_a_rule_asks(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "approvals-rule").build().await;
    let admin = shop.tenant.admin_token.clone();
    let (approver, approver_token) = app
        .create_user(&shop.tenant, "ops@rule.test", "dispatcher")
        .await;
    sla_policy(&app, &admin).await;
    let policy = app
        .post(
            "/v1/approval-policies",
            &admin,
            &json!({"name": "P1 work", "approvers": {"user_ids": [approver]},
                    "conditions": {"all": [{"field": "priority", "op": "eq", "value": "P1"},
                                           {"field": "category", "op": "in", "value": ["hvac"]}]}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let policy_id = id_of(&policy, "id");
    assert_eq!(policy["pause_sla"], false);

    // A ticket the policy's condition does not cover: nothing to ask.
    let p3 = id_of(&shop.ticket(&app, "P3").await, "id");
    let none = app
        .post(&format!("/v1/tickets/{p3}/approvals"), &admin, &json!({}))
        .await;
    assert_eq!(error_fields(&none), ["policy_id"]);

    // A rule asks on every new P1; a rule naming an unknown policy is refused.
    let missing = app
        .post(
            "/v1/rules",
            &admin,
            &json!({"name": "bad", "definition": {"events": ["ticket_created"],
                    "actions": [{"type": "request_approval", "policy_id": Uuid::now_v7()}]}}),
        )
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.body
    );
    app.post(
        "/v1/rules",
        &admin,
        &json!({"name": "P1 needs a yes", "definition": {"events": ["ticket_created"],
                "conditions": {"field": "priority", "op": "eq", "value": "P1"},
                "actions": [{"type": "request_approval", "policy_id": policy_id, "reason": "P1 spend"}]}}),
    )
    .await
    .expect(StatusCode::CREATED);
    let created = shop.ticket(&app, "P1").await;
    let ticket = id_of(&created, "id");
    let path = format!("/v1/tickets/{ticket}/approvals");
    let requests = app.get(&path, &admin).await.expect(StatusCode::OK);
    assert_eq!(requests.as_array().map(Vec::len), Some(1), "{requests}");
    assert_eq!(requests[0]["state"], "pending");
    assert_eq!(requests[0]["reason"], "P1 spend");
    assert_eq!(requests[0]["requested_by"], Value::Null);
    assert_eq!(requests[0]["pause_sla"], false);
    let read = app
        .get(&format!("/v1/tickets/{ticket}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        read["sla"]["response"]["phase"], "running",
        "{}",
        read["sla"]
    );

    // The named approver rejects with a reason; the admin is no approver here.
    let decision = format!("/v1/approvals/{}/decision", id_of(&requests[0], "id"));
    app.post(&decision, &admin, &json!({"decision": "approve"}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let rejected = app
        .post(
            &decision,
            &approver_token,
            &json!({"decision": "reject", "comment": "use the spare unit"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(rejected["state"], "rejected");
    let texts = timeline_texts(&app, &admin, ticket).await;
    assert!(
        texts
            .iter()
            .any(|t| t.contains("rule \"P1 needs a yes\" fired: request approval")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("approval rejected under \"P1 work\": use the spare unit")),
        "{texts:?}"
    );
    // A new request may follow a decided one.
    app.post(&path, &admin, &json!({"policy_id": policy_id}))
        .await
        .expect(StatusCode::CREATED);
    app.stop().await;
}
