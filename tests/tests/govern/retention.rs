//! Retention (issue 19): the tenant's policy over the API, and the
//! housekeeping sweeper driven with a moved clock (`Housekeeping::run_once(now)`,
//! as the SLA timers are): each kind is swept once it is old enough, and
//! nothing else — pending, failed or unread rows, open tickets — is touched.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_sdk::{Client, ClientConfig, Edit};
use truckroll_tests::{
    RawDb, TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};
use uuid::Uuid;

use super::assert_problem;

backend_tests!(
    the_policy_is_an_admins_and_is_checked,
    housekeeping_sweeps_each_kind_once_old_and_nothing_else,
    a_closed_tickets_document_loses_its_history_and_the_phone_syncs_on,
);

async fn the_policy_is_an_admins_and_is_checked(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme")
        .technicians(1)
        .dispatcher()
        .build()
        .await;
    let admin = &shop.tenant.admin_token;
    let unset = app.get("/v1/retention", admin).await.expect(StatusCode::OK);
    assert_eq!(
        unset,
        json!({"closed_ticket_anonymise_months": null, "media_days": null,
               "location_days": null, "comment_days": null})
    );
    let policy = json!({"closed_ticket_anonymise_months": 24, "media_days": 365,
                        "location_days": 30, "comment_days": 730});
    let (_, dispatcher) = app
        .create_user(&shop.tenant, "second-dispatcher@acme.test", "dispatcher")
        .await;
    let reply = app
        .send(
            Method::PUT,
            "/v1/retention",
            Some(&dispatcher),
            Some(&policy),
        )
        .await;
    assert_problem(&reply, StatusCode::FORBIDDEN, "a dispatcher");
    let reply = app
        .send(Method::GET, "/v1/retention", Some(&shop.tech().token), None)
        .await;
    assert_problem(&reply, StatusCode::FORBIDDEN, "a technician");
    for bad in [
        json!({"location_days": 0}),
        json!({"comment_days": 100_000}),
        json!({"closed_ticket_anonymise_months": 121}),
        json!({"media_days": -1}),
        json!({"keep_forever": true}),
    ] {
        let reply = app
            .send(Method::PUT, "/v1/retention", Some(admin), Some(&bad))
            .await;
        assert!(
            reply.status == StatusCode::UNPROCESSABLE_ENTITY
                || reply.status == StatusCode::BAD_REQUEST,
            "{bad}: {} {}",
            reply.status,
            reply.body
        );
        assert_eq!(
            app.get("/v1/retention", admin).await.expect(StatusCode::OK),
            unset,
            "{bad} left nothing behind"
        );
    }
    let stored = app
        .send(Method::PUT, "/v1/retention", Some(admin), Some(&policy))
        .await
        .expect(StatusCode::OK);
    assert_eq!(stored, policy);
    assert_eq!(
        app.get("/v1/retention", admin).await.expect(StatusCode::OK),
        policy
    );
    // Another tenant's policy is its own.
    let other = app.create_tenant("globex").await;
    assert_eq!(
        app.get("/v1/retention", &other.admin_token)
            .await
            .expect(StatusCode::OK),
        unset
    );
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'retention.update' AND tenant_id = $1",
            &[shop.tenant.id],
        )
        .await,
        1,
        "the change is audited once"
    );
    raw.close().await;
    app.stop().await;
}

async fn count(raw: &RawDb, sql: &str, ids: &[Uuid]) -> i64 {
    raw.scalar_i64(sql, ids).await
}

/// Creates a ticket with a description and a comment; returns its id.
async fn ticket_with_comment(app: &TestApp, shop: &Shop, description: &str, comment: &str) -> Uuid {
    let body = json!({"title": "Chiller", "category": "hvac", "priority": "P2",
                      "site_id": shop.site, "description": description});
    let ticket = id_of(
        &app.post("/v1/tickets", &shop.tenant.admin_token, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    app.post(
        &format!("/v1/tickets/{ticket}/comments"),
        &shop.tenant.admin_token,
        &json!({"body": comment, "visibility": "internal"}),
    )
    .await
    .expect(StatusCode::CREATED);
    ticket
}

/// Outbox, notification and media rows as the workers leave them, dated
/// like the ticket (now): one to sweep and one to keep of each kind.
async fn seed_rows(raw: &RawDb, shop: &Shop, closed: Uuid, open: Uuid) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    let tenant = shop.tenant.id;
    let admin = shop.tenant.admin_id;
    let at = "(SELECT created_at FROM tickets WHERE id = $1)";
    raw.execute(
        &format!(
            "INSERT INTO webhook_subscriptions (id, tenant_id, url, secret, events, active, created_at, updated_at) \
             VALUES ($3, $2, 'https://hooks.example.com/x', 'secret', '[]', TRUE, {at}, {at})"
        ),
        &[closed, tenant, ids[0]],
    )
    .await;
    for (id, state, delivered) in [(ids[1], "delivered", at), (ids[2], "dead", "NULL")] {
        raw.execute(
            &format!(
                "INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_id, event_type, ticket_id, body, \
                 state, attempts, next_attempt_at, created_at, delivered_at) \
                 VALUES ($3, $2, $4, $3, 'ticket.updated', $1, '{{}}', '{state}', 1, {at}, {at}, {delivered})"
            ),
            &[closed, tenant, id, ids[0]],
        )
        .await;
    }
    // The pending push is due long after the test: the push worker running
    // beside it must not send it (a push it sent between two sweeps would be
    // swept by the second).
    for (id, state, due) in [
        (ids[3], "sent", at),
        (ids[4], "pending", "'2126-01-01T00:00:00Z'"),
    ] {
        raw.execute(
            &format!(
                "INSERT INTO push_outbox (id, tenant_id, token, title, body, data, attempts, next_attempt_at, state, created_at) \
                 VALUES ($3, $2, 'fcm-token', 'New job', 'Chiller', '{{}}', 1, {due}, '{state}', {at})"
            ),
            &[closed, tenant, id],
        )
        .await;
    }
    for (id, state, sent) in [(ids[5], "sent", at), (ids[6], "failed", "NULL")] {
        raw.execute(
            &format!(
                "INSERT INTO notify_messages (id, tenant_id, ticket_id, customer_id, event, event_key, channel, recipient, \
                 locale, context, next_attempt_at, state, created_at, sent_at) \
                 VALUES ($3, $2, $1, (SELECT s.customer_id FROM sites s JOIN tickets t ON t.site_id = s.id WHERE t.id = $1), \
                 'ticket_created', '{state}', 'email', 'customer@example.com', 'en', '{{}}', {at}, '{state}', {at}, {sent})"
            ),
            &[closed, tenant, id],
        )
        .await;
    }
    for (id, read) in [(ids[7], at), (ids[8], "NULL")] {
        raw.execute(
            &format!(
                "INSERT INTO staff_notifications (id, tenant_id, user_id, ticket_id, source, title, body, created_at, read_at) \
                 VALUES ($3, $2, $4, $1, 'rule', 'Heads up', 'Chiller', {at}, {read})"
            ),
            &[closed, tenant, id, admin],
        )
        .await;
    }
    for (id, ticket, sha) in [(ids[9], closed, "a"), (ids[10], open, "b")] {
        raw.execute(
            &format!(
                "INSERT INTO media (id, tenant_id, ticket_id, kind, content_type, size, sha256, state, created_at, completed_at) \
                 VALUES ($3, $2, $1, 'photo', 'image/jpeg', 10, '{}', 'complete', {at}, {at})",
                sha.repeat(64)
            ),
            &[ticket, tenant, id],
        )
        .await;
    }
    ids
}

async fn housekeeping_sweeps_each_kind_once_old_and_nothing_else(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme").technicians(1).build().await;
    let admin = shop.tenant.admin_token.clone();
    app.send(
        Method::PUT,
        "/v1/retention",
        Some(&admin),
        Some(
            &json!({"closed_ticket_anonymise_months": 1, "media_days": 10,
                     "location_days": 5, "comment_days": 10}),
        ),
    )
    .await
    .expect(StatusCode::OK);
    // A second tenant without a policy: only the server-wide windows apply to it.
    let bystander = Shop::builder(&app, "globex").technicians(1).build().await;

    let closed =
        ticket_with_comment(&app, &shop, "Leak in zanzibar flat 3", "Mrs Quux called").await;
    let open = ticket_with_comment(&app, &shop, "Noisy zanzibar fan", "Still open").await;
    let kept =
        ticket_with_comment(&app, &bystander, "Globex zanzibar boiler", "Globex comment").await;
    for ticket in [closed] {
        app.patch(
            &format!("/v1/tickets/{ticket}"),
            &admin,
            &json!({"status": "cancelled"}),
        )
        .await
        .expect(StatusCode::OK);
    }
    app.patch(
        &format!("/v1/tickets/{kept}"),
        &bystander.tenant.admin_token,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    // Pings of both tenants' technicians, an idempotency key, a failed sign-in.
    for (shop, lat) in [(&shop, 52.5), (&bystander, 48.1)] {
        let ping = json!({"device_time": Utc::now().to_rfc3339(), "lat": lat, "lon": 13.4, "accuracy_m": 6.0});
        let reply = app
            .post(
                "/v1/me/locations",
                &shop.tech().token,
                &json!({"pings": [ping]}),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.body);
    }
    let reply = app
        .send_with(
            Method::POST,
            "/v1/customers",
            Some(&admin),
            Some(&json!({"name": "Keyed Ltd", "tier": "standard"})),
            &[("idempotency-key", "retention-test-key")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = app
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"tenant": "acme", "email": "admin@acme.test", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let raw = app.db.raw().await;
    let rows = seed_rows(&raw, &shop, closed, open).await;

    let housekeeping = app.state.housekeeping();
    let t0 = Utc::now();
    let swept = |report: &std::collections::BTreeMap<&'static str, u64>, kind: &str| {
        report.get(kind).copied().unwrap_or(0)
    };

    // Now: nothing is old enough.
    let report = housekeeping.run_once(t0).await.expect("sweep");
    assert_eq!(report.values().sum::<u64>(), 0, "{report:?}");

    // Eight days on: keys (1 day), sign-in failures (1 day), sent pushes
    // (7 days) and acme's pings (its 5 days; globex keeps the default 30).
    let report = housekeeping
        .run_once(t0 + Duration::days(8))
        .await
        .expect("sweep");
    assert_eq!(swept(&report, "idempotency_keys"), 1, "{report:?}");
    assert_eq!(swept(&report, "login_failures"), 1, "{report:?}");
    assert!(swept(&report, "sent_push") >= 1, "{report:?}");
    assert_eq!(swept(&report, "tenant_locations"), 1, "{report:?}");
    for kind in [
        "delivered_webhooks",
        "sent_notifications",
        "read_staff_notifications",
        "expired_sessions",
        "locations",
        "comments",
        "media",
        "anonymised_tickets",
        "squashed_documents",
    ] {
        assert_eq!(
            swept(&report, kind),
            0,
            "nothing else: {kind} in {report:?}"
        );
    }
    assert_eq!(
        count(&raw, "SELECT COUNT(*) FROM idempotency_keys", &[]).await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM push_outbox WHERE id = $1",
            &[rows[3]]
        )
        .await,
        0,
        "sent push swept"
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM push_outbox WHERE id = $1",
            &[rows[4]]
        )
        .await,
        1,
        "pending push kept"
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM technician_locations WHERE tenant_id = $1",
            &[shop.tenant.id]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM technician_locations WHERE tenant_id = $1",
            &[bystander.tenant.id]
        )
        .await,
        1
    );
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM comments", &[]).await, 3);

    // Thirty-five days on: delivered webhooks (30), acme's closed ticket's
    // comments and photo (10 days) and the ticket itself anonymised (1
    // month), expired sessions (30 + 1 days), globex's pings (30).
    let report = housekeeping
        .run_once(t0 + Duration::days(35))
        .await
        .expect("sweep");
    assert_eq!(swept(&report, "delivered_webhooks"), 1, "{report:?}");
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1",
            &[rows[1]]
        )
        .await,
        0
    );
    assert_eq!(
        count(&raw, "SELECT COUNT(*) FROM media WHERE id = $1", &[rows[9]]).await,
        0
    );
    assert_eq!(swept(&report, "comments"), 1, "{report:?}");
    assert_eq!(swept(&report, "media"), 1, "{report:?}");
    assert_eq!(swept(&report, "anonymised_tickets"), 1, "{report:?}");
    assert_eq!(swept(&report, "locations"), 1, "{report:?}");
    assert!(swept(&report, "expired_sessions") >= 3, "{report:?}");
    assert_eq!(swept(&report, "sent_notifications"), 0, "{report:?}");
    assert_eq!(swept(&report, "read_staff_notifications"), 0, "{report:?}");
    assert_eq!(
        count(&raw, "SELECT COUNT(*) FROM refresh_tokens", &[]).await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1",
            &[rows[2]]
        )
        .await,
        1,
        "dead letter kept"
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM comments WHERE ticket_id = $1",
            &[closed]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM comments WHERE ticket_id = $1",
            &[open]
        )
        .await,
        1,
        "open ticket's comment kept"
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM comments WHERE ticket_id = $1",
            &[kept]
        )
        .await,
        1,
        "no policy, no sweep"
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM media WHERE id = $1",
            &[rows[10]]
        )
        .await,
        1,
        "open ticket's photo kept"
    );
    let description = |id: Uuid| {
        let raw = raw.clone();
        async move {
            raw.scalar_text("SELECT description FROM tickets WHERE id = $1", &[id])
                .await
        }
    };
    assert_eq!(description(closed).await.as_deref(), Some(""));
    assert_eq!(
        description(open).await.as_deref(),
        Some("Noisy zanzibar fan")
    );
    assert_eq!(
        description(kept).await.as_deref(),
        Some("Globex zanzibar boiler")
    );
    // The search index forgot the closed ticket's words.
    let hits = app
        .get("/v1/search?q=zanzibar", &admin)
        .await
        .expect(StatusCode::OK);
    let text = hits.to_string();
    assert!(text.contains(&open.to_string()), "{text}");
    assert!(!text.contains(&closed.to_string()), "{text}");
    // The ticket itself is still there, with its audit entry for the anonymisation.
    let ticket: Value = app
        .get(&format!("/v1/tickets/{closed}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ticket["status"], "cancelled");
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.anonymise' AND entity_id = $1",
            &[closed]
        )
        .await,
        1
    );
    // A second run at the same time finds nothing new.
    let report = housekeeping
        .run_once(t0 + Duration::days(35))
        .await
        .expect("sweep");
    assert_eq!(report.values().sum::<u64>(), 0, "{report:?}");

    // Two hundred days on: sent customer messages (180) and read staff
    // notifications (90); the failed message and the unread one stay.
    let report = housekeeping
        .run_once(t0 + Duration::days(200))
        .await
        .expect("sweep");
    assert!(swept(&report, "sent_notifications") >= 1, "{report:?}");
    assert_eq!(swept(&report, "read_staff_notifications"), 1, "{report:?}");
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM notify_messages WHERE id = $1",
            &[rows[5]]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM staff_notifications WHERE id = $1",
            &[rows[7]]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM notify_messages WHERE id = $1",
            &[rows[6]]
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM staff_notifications WHERE id = $1",
            &[rows[8]]
        )
        .await,
        1
    );
    raw.close().await;
    app.stop().await;
}

async fn a_closed_tickets_document_loses_its_history_and_the_phone_syncs_on(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "acme").technicians(1).build().await;
    let tech = shop.tech().id;
    let closing = shop.assigned_ticket(&app, tech).await;
    let open = shop.assigned_ticket(&app, tech).await;
    let dir = TempGuard::new("truckroll-phone-");
    let phone = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    phone
        .sign_in(&shop.tenant.name, &shop.tech().email, PASSWORD)
        .await
        .expect("signs in");
    let sync = || async {
        let report = phone.sync_now().await.expect("sync runs");
        assert!(report.converged, "{report:?}");
        assert!(report.rejections.is_empty(), "{report:?}");
        report
    };
    sync().await;
    for (ticket, text) in [
        (closing, "Call Mrs Quux on 555 0100.\n"),
        (open, "Fan noisy.\n"),
    ] {
        for line in [text, "Checked again.\n"] {
            phone
                .edit(&ticket.to_string(), Edit::NotesAppend { text: line.into() })
                .await
                .expect("edit stored");
        }
    }
    sync().await;
    app.patch(
        &format!("/v1/tickets/{closing}"),
        &shop.tenant.admin_token,
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(StatusCode::OK);
    let report = sync().await;
    assert!(
        report
            .docs_removed
            .iter()
            .any(|(id, _)| id == &closing.to_string()),
        "{report:?}"
    );
    let before = app
        .ticket_doc(shop.tenant.id, closing)
        .await
        .expect("document")
        .doc;
    let open_before = app
        .ticket_doc(shop.tenant.id, open)
        .await
        .expect("document")
        .doc;
    let history =
        |doc: &truckroll_sdk::truckroll_sync::TicketDoc| doc.as_automerge().get_changes(&[]).len();
    assert!(history(&before) > 2);

    // Within the grace period nothing happens; after it the document is squashed once.
    let housekeeping = app.state.housekeeping();
    let report = housekeeping
        .run_once(Utc::now() + Duration::days(20))
        .await
        .expect("sweep");
    assert_eq!(
        report.get("squashed_documents").copied(),
        Some(0),
        "{report:?}"
    );
    let report = housekeeping
        .run_once(Utc::now() + Duration::days(40))
        .await
        .expect("sweep");
    assert_eq!(
        report.get("squashed_documents").copied(),
        Some(1),
        "{report:?}"
    );
    let report = housekeeping
        .run_once(Utc::now() + Duration::days(41))
        .await
        .expect("sweep");
    assert_eq!(
        report.get("squashed_documents").copied(),
        Some(0),
        "once: {report:?}"
    );

    let after = app
        .ticket_doc(shop.tenant.id, closing)
        .await
        .expect("document")
        .doc;
    assert_eq!(history(&after), 2, "the skeleton and one change");
    assert_eq!(after.notes(), before.notes());
    assert_eq!(after.events(), before.events());
    assert_eq!(after.status(), before.status());
    let open_after = app
        .ticket_doc(shop.tenant.id, open)
        .await
        .expect("document")
        .doc;
    assert_eq!(
        history(&open_after),
        history(&open_before),
        "the open ticket keeps its history"
    );
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM device_sync_states WHERE ticket_id = $1",
            &[closing]
        )
        .await,
        0
    );
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.document_squash' AND entity_id = $1",
            &[closing],
        )
        .await,
        1
    );
    raw.close().await;
    // The ticket row still shows what the document says.
    let row = app
        .get(&format!("/v1/tickets/{closing}"), &shop.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["status"], "cancelled");

    // The phone works on: its open ticket's edit arrives, the closed one stays gone.
    phone
        .edit(
            &open.to_string(),
            Edit::NotesAppend {
                text: "Fan replaced.\n".into(),
            },
        )
        .await
        .expect("edit stored");
    let report = sync().await;
    assert_eq!(report.pending_edits, 0, "{report:?}");
    assert!(report.docs_added.is_empty(), "{report:?}");
    assert!(phone.quarantine().await.expect("quarantine").is_empty());
    let held: Vec<String> = phone
        .tickets()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(held, vec![open.to_string()]);
    let open_now = app
        .ticket_doc(shop.tenant.id, open)
        .await
        .expect("document")
        .doc;
    assert_eq!(
        open_now.notes(),
        "Fan noisy.\nChecked again.\nFan replaced.\n"
    );
    let closed_now = app
        .ticket_doc(shop.tenant.id, closing)
        .await
        .expect("document")
        .doc;
    assert_eq!(
        history(&closed_now),
        2,
        "no sync brought the old history back"
    );
    drop(phone);
    app.stop().await;
}
