//! One truth for a ticket: every request that changes a ticket's status
//! writes it as an event into the ticket's document, and the REST ticket is
//! the projection of the document's fold (status, hold reason, assignee,
//! field times) — after every call, and on the phone that syncs next.
//! Custom fields: a phone's values are checked against the category's JSON
//! Schema on merge and projected into `custom_fields`; the office's edits
//! reach the phone.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_sdk::truckroll_sync::protocol::ErrorCode;
use truckroll_sdk::truckroll_sync::{CustomValue, Position, Status, StatusAction, TicketDoc};
use truckroll_sdk::{Client, ClientConfig, Edit, SyncReport};
use truckroll_server::device_sync::{Draft, Step};
use truckroll_server::store::{Actor, StoreError, documents::DocumentChange};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

backend_tests!(
    every_status_changing_endpoint_keeps_rest_and_document_equal,
    office_progress_lets_the_phone_continue,
    reopened_and_reassigned_ticket_is_accepted_on_the_phone,
    phone_custom_fields_are_checked_and_projected,
    office_custom_fields_reach_the_document_and_the_phone,
    row_and_document_are_written_together_or_not_at_all,
);

const STATUS_CHANGING_ENDPOINTS: [&str; 6] = [
    "POST /v1/tickets/{id}/assign",
    "POST /v1/tickets/{id}/unassign",
    "PATCH /v1/tickets/{id}",
    "POST /v1/offers/{id}/accept",
    "POST /v1/dispatch/batch",
    "POST /v1/sync",
];

// ---------------------------------------------------------------------------
// Helpers

fn millis(value: &Value) -> Option<i64> {
    value.as_str().map(|s| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("RFC 3339 time")
            .timestamp_millis()
    })
}

async fn document(app: &TestApp, shop: &Shop, ticket: Uuid) -> TicketDoc {
    app.ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("the ticket has a document")
        .doc
}

/// The REST ticket equals the document's fold: status, hold reason,
/// assignee and the field times. Returns the REST ticket.
async fn agree(app: &TestApp, shop: &Shop, ticket: Uuid, after: &str) -> Value {
    let rest = app
        .get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let fold = document(app, shop, ticket).await.status();
    assert_eq!(rest["status"], fold.status.as_str(), "status after {after}");
    assert_eq!(
        rest["hold_reason"].as_str(),
        fold.hold_reason.map(|r| r.as_str()),
        "hold reason after {after}"
    );
    assert_eq!(
        rest["assignee_id"].as_str(),
        fold.assignee.as_deref(),
        "assignee after {after}"
    );
    assert_eq!(
        millis(&rest["field"]["accepted_at"]),
        fold.accepted_at,
        "accepted_at after {after}"
    );
    assert_eq!(
        millis(&rest["field"]["arrived_at"]),
        fold.arrived_at,
        "arrived_at after {after}"
    );
    assert_eq!(
        millis(&rest["field"]["completed_at"]),
        fold.completed_at,
        "completed_at after {after}"
    );
    rest
}

/// The SDK on its own database, signed in as technician `tech`.
struct Phone {
    client: Client,
    _dir: TempGuard,
}

impl Phone {
    async fn signed_in(app: &TestApp, shop: &Shop, tech: usize) -> Self {
        let dir = TempGuard::new("truckroll-truth-");
        let client = Client::open(
            &dir.path().join("phone.db"),
            ClientConfig::new(&app.base_url),
        )
        .await
        .expect("SDK opens");
        client
            .sign_in(&shop.tenant.name, &shop.techs[tech].email, PASSWORD)
            .await
            .expect("signs in");
        Self { client, _dir: dir }
    }

    async fn sync(&self) -> SyncReport {
        let report = self.client.sync_now().await.expect("sync runs");
        assert!(report.converged, "sync did not converge: {report:?}");
        report
    }

    async fn status(&self, ticket: Uuid) -> Status {
        self.client
            .ticket(&ticket.to_string())
            .await
            .expect("phone holds the ticket")
            .status
            .status
    }

    async fn step(&self, ticket: Uuid, action: StatusAction, position: Option<Position>) {
        self.client
            .edit(
                &ticket.to_string(),
                Edit::Status {
                    action,
                    position,
                    reason: None,
                },
            )
            .await
            .expect("edit stored");
    }
}

/// Sends one status-changing request and records which endpoint it used.
struct Walk<'a> {
    app: &'a TestApp,
    shop: &'a Shop,
    used: BTreeSet<&'static str>,
}

impl Walk<'_> {
    async fn call(
        &mut self,
        endpoint: &'static str,
        path: &str,
        token: &str,
        body: Value,
        expected: StatusCode,
    ) -> Value {
        assert!(
            STATUS_CHANGING_ENDPOINTS.contains(&endpoint),
            "{endpoint} is not in the table"
        );
        self.used.insert(endpoint);
        let method = match endpoint.split_once(' ').map(|(m, _)| m) {
            Some("PATCH") => Method::PATCH,
            _ => Method::POST,
        };
        let reply = self.app.send(method, path, Some(token), Some(&body)).await;
        assert_eq!(
            reply.status, expected,
            "{endpoint} {path} {body}: {}",
            reply.body
        );
        reply.body
    }

    /// A PATCH of `ticket` by `token`; the answer is the fold's status.
    async fn patch(&mut self, ticket: Uuid, token: &str, body: Value, status: &str) {
        let what = body.to_string();
        let answer = self
            .call(
                "PATCH /v1/tickets/{id}",
                &format!("/v1/tickets/{ticket}"),
                token,
                body,
                StatusCode::OK,
            )
            .await;
        assert_eq!(answer["status"], status, "PATCH {what}");
        agree(self.app, self.shop, ticket, &what).await;
    }

    async fn assign(&mut self, ticket: Uuid, technician: Uuid) {
        let shop = self.shop;
        let answer = self
            .call(
                "POST /v1/tickets/{id}/assign",
                &format!("/v1/tickets/{ticket}/assign"),
                &shop.tenant.admin_token,
                json!({"technician_id": technician}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(answer["status"], "assigned");
        agree(self.app, self.shop, ticket, "assign").await;
    }
}

async fn new_ticket(app: &TestApp, shop: &Shop) -> Uuid {
    id_of(&shop.ticket(app, "P2").await, "id")
}

// ---------------------------------------------------------------------------
// Scenarios

async fn every_status_changing_endpoint_keeps_rest_and_document_equal(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth")
        .skilled()
        .spaced(0.02)
        .capacity(5)
        .technicians(2)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let (tech0, tech1) = (shop.techs[0].id, shop.techs[1].id);
    let token0 = shop.techs[0].token.clone();
    let mut walk = Walk {
        app: &app,
        shop: &shop,
        used: BTreeSet::new(),
    };

    // The office takes a ticket through its whole life.
    let ticket = new_ticket(&app, &shop).await;
    walk.assign(ticket, tech0).await;
    walk.patch(ticket, &admin, json!({"status": "accepted"}), "accepted")
        .await;
    walk.patch(ticket, &admin, json!({"status": "en_route"}), "en_route")
        .await;
    walk.patch(
        ticket,
        &admin,
        json!({"status": "on_hold", "hold_reason": "waiting_parts"}),
        "on_hold",
    )
    .await;
    walk.patch(ticket, &admin, json!({"status": "accepted"}), "accepted")
        .await;
    walk.patch(ticket, &admin, json!({"assignee_id": tech1}), "assigned")
        .await;
    let answer = walk
        .call(
            "POST /v1/tickets/{id}/unassign",
            &format!("/v1/tickets/{ticket}/unassign"),
            &admin,
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(answer["status"], "new");
    agree(&app, &shop, ticket, "unassign").await;
    walk.patch(ticket, &admin, json!({"assignee_id": tech0}), "assigned")
        .await;
    walk.patch(ticket, &token0, json!({"status": "accepted"}), "accepted")
        .await;
    walk.patch(ticket, &token0, json!({"status": "en_route"}), "en_route")
        .await;
    walk.patch(
        ticket,
        &token0,
        json!({"status": "on_site", "position": {"lat": 52.52, "lon": 13.40, "accuracy_m": 8.0}}),
        "on_site",
    )
    .await;
    let check_in = document(&app, &shop, ticket)
        .await
        .events()
        .into_iter()
        .rfind(|e| e.kind == StatusAction::CheckIn)
        .expect("check-in event");
    assert_eq!(check_in.position.map(|p| p.lat), Some(52.52));
    walk.patch(ticket, &admin, json!({"status": "work_done"}), "work_done")
        .await;
    walk.patch(ticket, &admin, json!({"status": "on_site"}), "on_site")
        .await;
    walk.patch(ticket, &admin, json!({"status": "work_done"}), "work_done")
        .await;
    walk.patch(ticket, &admin, json!({"status": "closed"}), "closed")
        .await;
    walk.patch(ticket, &admin, json!({"status": "new"}), "new")
        .await;
    walk.assign(ticket, tech1).await;
    walk.patch(ticket, &admin, json!({"status": "cancelled"}), "cancelled")
        .await;
    walk.patch(ticket, &admin, json!({"status": "new"}), "new")
        .await;
    walk.patch(ticket, &admin, json!({"status": "cancelled"}), "cancelled")
        .await;

    // A technician declines through REST: the ticket is new and unassigned.
    let declined = new_ticket(&app, &shop).await;
    walk.assign(declined, tech0).await;
    walk.patch(declined, &token0, json!({"status": "new"}), "new")
        .await;
    let fold = document(&app, &shop, declined).await.status();
    assert_eq!(fold.assignee, None);

    // A refused step changes nothing on either side.
    let refused = walk
        .call(
            "PATCH /v1/tickets/{id}",
            &format!("/v1/tickets/{declined}"),
            &admin,
            json!({"status": "on_site"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(refused["detail"].is_string() || refused["errors"].is_array());
    agree(&app, &shop, declined, "a refused step").await;

    // Batch assignment.
    let batched = new_ticket(&app, &shop).await;
    let plan = walk
        .call(
            "POST /v1/dispatch/batch",
            "/v1/dispatch/batch",
            &admin,
            json!({"ticket_ids": [batched], "dry_run": false}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(plan["assigned"], 1, "{plan}");
    let rest = agree(&app, &shop, batched, "batch").await;
    assert_eq!(rest["status"], "assigned");

    // An offer taken on the phone: assigned and accepted in one step.
    app.send(
        Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "offer_in_turn", "top_n": 2})),
    )
    .await
    .expect(StatusCode::OK);
    let offered = new_ticket(&app, &shop).await;
    let offers = app
        .get(&format!("/v1/tickets/{offered}/offers"), &admin)
        .await
        .expect(StatusCode::OK);
    let offer = offers
        .as_array()
        .and_then(|o| o.iter().find(|o| o["state"] == "pending"))
        .expect("a pending offer")
        .clone();
    let taker = shop
        .techs
        .iter()
        .find(|t| t.id == id_of(&offer, "technician_id"))
        .expect("offered to one of ours");
    let offer_id = id_of(&offer, "id");
    let taken = walk
        .call(
            "POST /v1/offers/{id}/accept",
            &format!("/v1/offers/{offer_id}/accept"),
            &taker.token.clone(),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(taken["ticket"]["status"], "accepted");
    let rest = agree(&app, &shop, offered, "offer accept").await;
    assert!(rest["field"]["accepted_at"].is_string(), "{rest}");

    // The phone: its check-in is merged, and REST follows the fold.
    let phone = Phone::signed_in(&app, &shop, 0).await;
    let synced = new_ticket(&app, &shop).await;
    walk.assign(synced, tech0).await;
    walk.patch(synced, &admin, json!({"status": "accepted"}), "accepted")
        .await;
    phone.sync().await;
    walk.used.insert("POST /v1/sync");
    phone.step(synced, StatusAction::StartTravel, None).await;
    phone.sync().await;
    let rest = agree(&app, &shop, synced, "sync").await;
    assert_eq!(rest["status"], "en_route");

    let used: Vec<&str> = walk.used.iter().copied().collect();
    let mut all = STATUS_CHANGING_ENDPOINTS.to_vec();
    all.sort_unstable();
    assert_eq!(used, all, "every status-changing endpoint was exercised");
    app.stop().await;
}

async fn office_progress_lets_the_phone_continue(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth-go").technicians(1).build().await;
    let admin = shop.tenant.admin_token.clone();
    let ticket = new_ticket(&app, &shop).await;
    shop.assign(&app, ticket, shop.techs[0].id).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;
    assert_eq!(phone.status(ticket).await, Status::Assigned);

    // The office answers for the technician, who is driving.
    for step in ["accepted", "en_route"] {
        let answer = app
            .patch(
                &format!("/v1/tickets/{ticket}"),
                &admin,
                &json!({"status": step}),
            )
            .await
            .expect(StatusCode::OK);
        assert_eq!(answer["status"], step);
    }
    let rest = agree(&app, &shop, ticket, "office en_route").await;
    assert!(
        rest["field"]["accepted_at"].is_string(),
        "the office's accept sets accepted_at: {rest}"
    );
    phone.sync().await;
    assert_eq!(phone.status(ticket).await, Status::EnRoute);

    // The phone checks in on site and completes: both apply.
    let at = Position {
        lat: 52.52,
        lon: 13.40,
        accuracy_m: Some(5.0),
    };
    phone.step(ticket, StatusAction::CheckIn, Some(at)).await;
    phone.sync().await;
    let rest = agree(&app, &shop, ticket, "phone check_in").await;
    assert_eq!(rest["status"], "on_site");
    assert!(rest["field"]["arrived_at"].is_string(), "{rest}");
    let view = phone
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("held");
    assert!(
        view.status.ignored.is_empty(),
        "nothing ignored: {:?}",
        view.status.ignored
    );
    phone.step(ticket, StatusAction::CompleteWork, None).await;
    phone.sync().await;
    let rest = agree(&app, &shop, ticket, "phone complete_work").await;
    assert_eq!(rest["status"], "work_done");

    // The office closes; the phone learns the ticket left its set.
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &admin,
        &json!({"status": "closed"}),
    )
    .await
    .expect(StatusCode::OK);
    agree(&app, &shop, ticket, "office close").await;
    let report = phone.sync().await;
    assert_eq!(
        report
            .docs_removed
            .iter()
            .map(|(d, _)| d.clone())
            .collect::<Vec<_>>(),
        vec![ticket.to_string()]
    );
    app.stop().await;
}

async fn reopened_and_reassigned_ticket_is_accepted_on_the_phone(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth-reopen")
        .technicians(1)
        .build()
        .await;
    let admin = shop.tenant.admin_token.clone();
    let tech = shop.techs[0].id;
    let ticket = new_ticket(&app, &shop).await;
    shop.assign(&app, ticket, tech).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;
    for (body, status) in [
        (json!({"status": "cancelled"}), "cancelled"),
        (json!({"status": "new"}), "new"),
    ] {
        let answer = app
            .patch(&format!("/v1/tickets/{ticket}"), &admin, &body)
            .await
            .expect(StatusCode::OK);
        assert_eq!(answer["status"], status);
        agree(&app, &shop, ticket, status).await;
    }
    shop.assign(&app, ticket, tech).await;
    agree(&app, &shop, ticket, "assign after reopen").await;
    assert_eq!(
        document(&app, &shop, ticket).await.status().status,
        Status::Assigned
    );

    phone.sync().await;
    assert_eq!(phone.status(ticket).await, Status::Assigned);
    phone.step(ticket, StatusAction::Accept, None).await;
    phone.sync().await;
    let rest = agree(&app, &shop, ticket, "phone accept after reopen").await;
    assert_eq!(rest["status"], "accepted");
    assert!(rest["field"]["accepted_at"].is_string(), "{rest}");
    app.stop().await;
}

async fn custom_category(app: &TestApp, shop: &Shop) -> Uuid {
    app.post(
        "/v1/categories",
        &shop.tenant.admin_token,
        &json!({"name": "chillers", "custom_fields_schema": {
            "type": "object",
            "properties": {
                "refrigerant": {"enum": ["R32", "R410A"]},
                "kw": {"type": "number", "maximum": 50},
                "serviced_at": {"type": "string"},
                "contract": {"type": "string", "readOnly": true},
                "history": {"type": "array"}
            },
            "required": ["refrigerant"],
            "additionalProperties": false
        }}),
    )
    .await
    .expect(StatusCode::CREATED);
    let ticket = app
        .post(
            "/v1/tickets",
            &shop.tenant.admin_token,
            &json!({"title": "Chiller", "category": "chillers", "priority": "P2", "site_id": shop.site,
                    "custom_fields": {"refrigerant": "R32", "contract": "gold", "history": ["2025 refill"]}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let ticket = id_of(&ticket, "id");
    shop.assign(app, ticket, shop.techs[0].id).await;
    ticket
}

async fn custom_fields(app: &TestApp, shop: &Shop, ticket: Uuid) -> Value {
    app.get(&format!("/v1/tickets/{ticket}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK)["custom_fields"]
        .clone()
}

async fn phone_custom_fields_are_checked_and_projected(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth-custom")
        .technicians(1)
        .build()
        .await;
    let ticket = custom_category(&app, &shop).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;
    let held = phone
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("held");
    assert_eq!(
        held.custom.get("refrigerant"),
        Some(&CustomValue::Str("R32".into())),
        "the row's fields are in the document: {:?}",
        held.custom
    );
    assert!(
        !held.custom.contains_key("history"),
        "an array stays office-only"
    );

    for (key, value, path) in [
        (
            "refrigerant",
            CustomValue::Str("R22".into()),
            "/custom/refrigerant",
        ),
        ("colour", CustomValue::Str("red".into()), "/custom"),
        ("kw", CustomValue::Int(99), "/custom/kw"),
        (
            "contract",
            CustomValue::Str("platinum".into()),
            "/custom/contract",
        ),
    ] {
        phone
            .client
            .edit(
                &ticket.to_string(),
                Edit::SetCustom {
                    key: key.into(),
                    value,
                },
            )
            .await
            .expect("edit stored");
        let report = phone.client.sync_now().await.expect("sync runs");
        let rejection = report
            .rejections
            .iter()
            .find(|r| r.doc_id == ticket.to_string())
            .unwrap_or_else(|| panic!("{key}: refused: {report:?}"));
        let code = if key == "contract" {
            ErrorCode::NotFieldEditable
        } else {
            ErrorCode::SchemaViolation
        };
        assert_eq!(rejection.code, code, "{key}");
        assert!(
            rejection.detail.contains(path),
            "{key}: {}",
            rejection.detail
        );
        assert_eq!(
            custom_fields(&app, &shop, ticket).await,
            json!({"refrigerant": "R32", "contract": "gold", "history": ["2025 refill"]}),
            "{key}: nothing projected"
        );
        assert!(
            !document(&app, &shop, ticket)
                .await
                .custom()
                .contains_key("colour")
        );
        phone.sync().await;
    }
    assert_eq!(
        phone.client.quarantine().await.expect("quarantine").len(),
        4
    );

    // Valid values merge and are projected; removing a required field is not.
    for (key, value) in [
        ("refrigerant", CustomValue::Str("R410A".into())),
        ("kw", CustomValue::F64(7.5)),
        ("serviced_at", CustomValue::Timestamp(1_767_225_600_000)),
    ] {
        phone
            .client
            .edit(
                &ticket.to_string(),
                Edit::SetCustom {
                    key: key.into(),
                    value,
                },
            )
            .await
            .expect("edit stored");
    }
    let report = phone.sync().await;
    assert!(report.rejections.is_empty(), "{report:?}");
    assert_eq!(
        custom_fields(&app, &shop, ticket).await,
        json!({"refrigerant": "R410A", "kw": 7.5, "serviced_at": "2026-01-01T00:00:00.000Z",
               "contract": "gold", "history": ["2025 refill"]})
    );
    phone
        .client
        .edit(
            &ticket.to_string(),
            Edit::RemoveCustom {
                key: "refrigerant".into(),
            },
        )
        .await
        .expect("edit stored");
    let report = phone.client.sync_now().await.expect("sync runs");
    assert_eq!(
        report.rejections.first().map(|r| r.code),
        Some(ErrorCode::SchemaViolation),
        "{report:?}"
    );
    assert_eq!(
        custom_fields(&app, &shop, ticket).await["refrigerant"],
        "R410A"
    );
    app.stop().await;
}

async fn office_custom_fields_reach_the_document_and_the_phone(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth-office")
        .technicians(1)
        .build()
        .await;
    let ticket = custom_category(&app, &shop).await;
    let phone = Phone::signed_in(&app, &shop, 0).await;
    phone.sync().await;

    let fields = json!({"refrigerant": "R410A", "kw": 12, "contract": "silver",
                        "history": ["2025 refill", "2026 check"]});
    let answer = app
        .patch(
            &format!("/v1/tickets/{ticket}"),
            &shop.tenant.admin_token,
            &json!({"custom_fields": fields}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer["custom_fields"], fields);
    let custom = document(&app, &shop, ticket).await.custom();
    assert_eq!(
        custom.get("refrigerant"),
        Some(&CustomValue::Str("R410A".into()))
    );
    assert_eq!(custom.get("kw"), Some(&CustomValue::Int(12)));
    assert_eq!(
        custom.get("contract"),
        Some(&CustomValue::Str("silver".into())),
        "read-only for phones, still in their document"
    );
    assert!(!custom.contains_key("history"));

    phone.sync().await;
    let held = phone
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("held");
    assert_eq!(held.custom, custom);

    // The office drops a field: gone from the document and the phone too.
    app.patch(
        &format!("/v1/tickets/{ticket}"),
        &shop.tenant.admin_token,
        &json!({"custom_fields": {"refrigerant": "R410A"}}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        !document(&app, &shop, ticket)
            .await
            .custom()
            .contains_key("kw")
    );
    phone.sync().await;
    let held = phone
        .client
        .ticket(&ticket.to_string())
        .await
        .expect("held");
    assert!(!held.custom.contains_key("kw"), "{:?}", held.custom);

    // A phone edit after the office's arrives in the row, office fields kept.
    phone
        .client
        .edit(
            &ticket.to_string(),
            Edit::SetCustom {
                key: "kw".into(),
                value: CustomValue::Int(3),
            },
        )
        .await
        .expect("edit stored");
    phone.sync().await;
    assert_eq!(
        custom_fields(&app, &shop, ticket).await,
        json!({"refrigerant": "R410A", "kw": 3})
    );
    app.stop().await;
}

async fn row_and_document_are_written_together_or_not_at_all(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "truth-atomic")
        .technicians(1)
        .build()
        .await;
    let ticket = new_ticket(&app, &shop).await;
    shop.assign(&app, ticket, shop.techs[0].id).await;
    let store = app.state.store.clone();
    let actor = Actor {
        tenant_id: shop.tenant.id,
        user_id: None,
    };
    let before = store
        .get_ticket(shop.tenant.id, ticket)
        .await
        .expect("ticket");
    let version = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document")
        .version;
    let mut draft = Draft::load(store.as_ref(), &before).await.expect("draft");
    draft
        .step(Step::new(StatusAction::Accept))
        .expect("accept is allowed");
    let mut after = before.clone();
    draft.project(&mut after);
    assert_eq!(after.status, Status::Accepted);
    let change = draft.change().expect("a document change");

    // The document moved on since it was read: the row stays as it was.
    let stale = DocumentChange {
        expected_version: Some(version - 1),
        ..change.clone()
    };
    let refused = store
        .update_ticket(actor, &before, &after, Some(&stale))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let row = store
        .get_ticket(shop.tenant.id, ticket)
        .await
        .expect("ticket");
    assert_eq!(
        (row.status, row.updated_at),
        (Status::Assigned, before.updated_at)
    );
    let stored = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document");
    assert_eq!(stored.version, version);
    assert_eq!(stored.doc.status().status, Status::Assigned);

    // Both written together.
    let written = store
        .update_ticket(actor, &before, &after, Some(&change))
        .await
        .expect("written");
    assert_eq!(written.status, Status::Accepted);
    let stored = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document");
    assert_eq!(stored.version, version + 1);
    assert_eq!(stored.doc.status().status, Status::Accepted);
    agree(&app, &shop, ticket, "the store write").await;

    // A stale row refuses the document change as well.
    let mut draft = Draft::load(store.as_ref(), &written).await.expect("draft");
    draft
        .step(Step::new(StatusAction::StartTravel))
        .expect("start_travel is allowed");
    let mut moved = written.clone();
    draft.project(&mut moved);
    let refused = store
        .update_ticket(actor, &before, &moved, draft.change().as_ref())
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let stored = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document");
    assert_eq!(stored.version, version + 1);
    app.stop().await;
}
