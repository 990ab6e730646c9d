//! The `PushStore` contract: the durable push outbox. Every test runs on
//! SQLite and on PostgreSQL (`name::sqlite`, `name::postgres`).

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use truckroll_server::{
    domain::people::{NewDevice, Platform, Role},
    store::{
        StoreError,
        push::{CLAIM_LEASE, NewPush, PushContent, PushState},
    },
};
use truckroll_tests::{
    TestDb,
    fixtures::{PASSWORD_HASH, TenantFixture, new_user},
};
use uuid::Uuid;

backend_tests!(
    enqueued_messages_round_trip,
    claiming_hides_a_message_for_the_lease,
    claims_take_the_oldest_due_first_up_to_the_limit,
    concurrent_claims_get_each_message_once,
    outcomes_end_or_move_a_message,
    enqueue_for_user_covers_each_device_with_a_token,
    forgetting_a_token_clears_devices_and_fails_its_pending_messages,
    pushes_are_tenant_scoped,
);

// ---------------------------------------------------------------------------
// Helpers

fn content(title: &str) -> PushContent {
    PushContent {
        title: title.to_owned(),
        body: format!("{title} body"),
        data: BTreeMap::from([
            ("type".to_owned(), "test".to_owned()),
            ("n".to_owned(), "1".to_owned()),
        ]),
    }
}

fn push_to(token: &str, title: &str) -> NewPush {
    NewPush {
        user_id: None,
        device_id: None,
        token: token.to_owned(),
        content: content(title),
    }
}

/// A moment comfortably after everything enqueued so far, at the
/// microsecond precision the databases keep.
fn later() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6) + Duration::seconds(1)
}

async fn technician_user(db: &TestDb, tenant: &TenantFixture, email: &str) -> Uuid {
    db.store
        .create_user(
            tenant.actor(),
            &new_user(email, Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .unwrap_or_else(|e| panic!("create user {email}: {e}"))
        .id
}

async fn device(db: &TestDb, tenant: &TenantFixture, user_id: Uuid, token: Option<&str>) -> Uuid {
    let actor_id = Uuid::new_v4().simple().to_string();
    db.store
        .register_device(
            tenant.actor(),
            user_id,
            &NewDevice {
                platform: Platform::Android,
                push_token: token.map(str::to_owned),
                actor_id,
            },
        )
        .await
        .expect("register device")
        .id
}

async fn device_token(db: &TestDb, device_id: Uuid) -> Option<String> {
    let raw = db.raw().await;
    let token = raw
        .scalar_text("SELECT push_token FROM devices WHERE id = $1", &[device_id])
        .await;
    raw.close().await;
    token
}

// ---------------------------------------------------------------------------
// Tests

async fn enqueued_messages_round_trip(db: &TestDb) {
    let store = db.store.as_ref();
    let tenant = TenantFixture::create(store, "acme").await;
    let user = technician_user(db, &tenant, "tech@acme.example").await;
    let before = Utc::now() - Duration::seconds(1);
    let id = store
        .enqueue_push(
            tenant.tenant_id,
            &NewPush {
                user_id: Some(user),
                ..push_to("tok-1", "Hello")
            },
        )
        .await
        .expect("enqueue");
    let push = store.get_push(tenant.tenant_id, id).await.expect("stored");
    assert_eq!(push.id, id);
    assert_eq!(push.tenant_id, tenant.tenant_id);
    assert_eq!(push.user_id, Some(user));
    assert_eq!(push.device_id, None);
    assert_eq!(push.token, "tok-1");
    assert_eq!(push.content, content("Hello"));
    assert_eq!(push.attempts, 0);
    assert_eq!(push.state, PushState::Pending);
    assert_eq!(push.last_error, None);
    assert!(push.created_at > before && push.next_attempt_at == push.created_at);
    assert!(
        !format!("{push:?}").contains("tok-1"),
        "Debug redacts the token"
    );

    let unknown_user = store
        .enqueue_push(
            tenant.tenant_id,
            &NewPush {
                user_id: Some(Uuid::now_v7()),
                ..push_to("tok-2", "x")
            },
        )
        .await
        .expect_err("unknown user");
    assert!(
        matches!(
            unknown_user,
            StoreError::Reference {
                field: "user_id",
                ..
            }
        ),
        "{unknown_user:?}"
    );
}

async fn claiming_hides_a_message_for_the_lease(db: &TestDb) {
    let store = db.store.as_ref();
    let tenant = TenantFixture::create(store, "acme").await;
    let id = store
        .enqueue_push(tenant.tenant_id, &push_to("tok", "a"))
        .await
        .expect("enqueue");
    let now = later();
    let claimed = store.due_pushes(now, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].next_attempt_at, now + CLAIM_LEASE);

    assert!(store.due_pushes(now, 10).await.expect("again").is_empty());
    let almost = now + CLAIM_LEASE - Duration::seconds(1);
    assert!(
        store
            .due_pushes(almost, 10)
            .await
            .expect("in lease")
            .is_empty()
    );

    // A worker that died mid-send: the message comes back after the lease.
    let reclaimed = store
        .due_pushes(now + CLAIM_LEASE, 10)
        .await
        .expect("after lease");
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].attempts, 2);
}

async fn claims_take_the_oldest_due_first_up_to_the_limit(db: &TestDb) {
    let store = db.store.as_ref();
    let tenant = TenantFixture::create(store, "acme").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            store
                .enqueue_push(tenant.tenant_id, &push_to("tok", &format!("m{n}")))
                .await
                .expect("enqueue"),
        );
    }
    // The first one is pushed back: it is now due last.
    let now = later();
    assert!(
        store
            .reschedule_push(ids[0], now + Duration::seconds(10), "later")
            .await
            .expect("reschedule")
    );
    let first = store.due_pushes(now, 2).await.expect("claim");
    assert_eq!(
        first.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[1..3].to_vec()
    );
    let rest = store.due_pushes(now, 10).await.expect("claim");
    assert_eq!(
        rest.iter().map(|p| p.id).collect::<Vec<_>>(),
        ids[3..5].to_vec()
    );
    let last = store
        .due_pushes(now + Duration::seconds(10), 10)
        .await
        .expect("claim");
    assert_eq!(last.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[0]]);
}

async fn concurrent_claims_get_each_message_once(db: &TestDb) {
    let store = db.store.clone();
    let tenant = TenantFixture::create(store.as_ref(), "acme").await;
    const MESSAGES: usize = 60;
    let mut ids = Vec::new();
    for n in 0..MESSAGES {
        ids.push(
            store
                .enqueue_push(tenant.tenant_id, &push_to(&format!("tok-{n}"), "m"))
                .await
                .expect("enqueue"),
        );
    }
    let now = later();
    // Several claimers race for overlapping candidate sets, in small batches.
    let mut claimers = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.due_pushes(now, 7).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|p| p.id));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("claimer"));
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(count, all.len(), "a message was claimed twice");
    ids.sort();
    assert_eq!(all, ids, "every message claimed once");
}

async fn outcomes_end_or_move_a_message(db: &TestDb) {
    let store = db.store.as_ref();
    let tenant = TenantFixture::create(store, "acme").await;
    let sent = store
        .enqueue_push(tenant.tenant_id, &push_to("a", "sent"))
        .await
        .expect("enqueue");
    let retried = store
        .enqueue_push(tenant.tenant_id, &push_to("b", "retried"))
        .await
        .expect("enqueue");
    let failed = store
        .enqueue_push(tenant.tenant_id, &push_to("c", "failed"))
        .await
        .expect("enqueue");
    let now = later();
    assert_eq!(store.due_pushes(now, 10).await.expect("claim").len(), 3);

    assert!(store.mark_push_sent(sent).await.expect("sent"));
    let retry_at = now + Duration::seconds(30);
    assert!(
        store
            .reschedule_push(retried, retry_at, "FCM 503")
            .await
            .expect("reschedule")
    );
    assert!(store.fail_push(failed, "FCM 400").await.expect("fail"));

    let get = |id| store.get_push(tenant.tenant_id, id);
    let sent_row = get(sent).await.expect("sent row");
    assert_eq!(sent_row.state, PushState::Sent);
    assert_eq!(sent_row.last_error, None);
    let retried_row = get(retried).await.expect("retried row");
    assert_eq!(retried_row.state, PushState::Pending);
    assert_eq!(retried_row.next_attempt_at, retry_at);
    assert_eq!(retried_row.last_error.as_deref(), Some("FCM 503"));
    let failed_row = get(failed).await.expect("failed row");
    assert_eq!(failed_row.state, PushState::Failed);
    assert_eq!(failed_row.last_error.as_deref(), Some("FCM 400"));

    // Finished messages are never claimed again, nor changed.
    let far = now + Duration::days(1);
    let due: Vec<Uuid> = store
        .due_pushes(far, 10)
        .await
        .expect("claim")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(due, vec![retried]);
    assert!(!store.mark_push_sent(failed).await.expect("no-op"));
    assert!(!store.fail_push(sent, "x").await.expect("no-op"));
    assert!(!store.reschedule_push(sent, far, "x").await.expect("no-op"));
    assert!(!store.mark_push_sent(Uuid::now_v7()).await.expect("unknown"));
}

async fn enqueue_for_user_covers_each_device_with_a_token(db: &TestDb) {
    let store = db.store.as_ref();
    let tenant = TenantFixture::create(store, "acme").await;
    let tech = technician_user(db, &tenant, "tech@acme.example").await;
    let other = technician_user(db, &tenant, "other@acme.example").await;
    let phone = device(db, &tenant, tech, Some("phone-token")).await;
    let tablet = device(db, &tenant, tech, Some("tablet-token")).await;
    // Re-registered phone (same token) and a device without push.
    device(db, &tenant, tech, Some("phone-token")).await;
    device(db, &tenant, tech, None).await;
    device(db, &tenant, other, Some("other-token")).await;

    let ids = store
        .enqueue_push_for_user(tenant.tenant_id, tech, &content("Assigned"))
        .await
        .expect("enqueue for user");
    assert_eq!(ids.len(), 2, "one message per distinct token");
    let mut queued = Vec::new();
    for id in &ids {
        let push = store.get_push(tenant.tenant_id, *id).await.expect("row");
        assert_eq!(push.user_id, Some(tech));
        assert_eq!(push.content, content("Assigned"));
        queued.push((push.device_id.expect("device id"), push.token));
    }
    queued.sort();
    let mut expected = vec![
        (phone, "phone-token".to_owned()),
        (tablet, "tablet-token".to_owned()),
    ];
    expected.sort();
    assert_eq!(queued, expected);

    let nobody = technician_user(db, &tenant, "nobody@acme.example").await;
    assert!(
        store
            .enqueue_push_for_user(tenant.tenant_id, nobody, &content("x"))
            .await
            .expect("no devices")
            .is_empty()
    );
}

async fn forgetting_a_token_clears_devices_and_fails_its_pending_messages(db: &TestDb) {
    let store = db.store.as_ref();
    let acme = TenantFixture::create(store, "acme").await;
    let globex = TenantFixture::create(store, "globex").await;
    let tech = technician_user(db, &acme, "tech@acme.example").await;
    let gone = device(db, &acme, tech, Some("stale-token")).await;
    let kept = device(db, &acme, tech, Some("fresh-token")).await;
    let g_tech = technician_user(db, &globex, "tech@globex.example").await;
    let elsewhere = device(db, &globex, g_tech, Some("stale-token")).await;

    let stale = store
        .enqueue_push(acme.tenant_id, &push_to("stale-token", "a"))
        .await
        .expect("enqueue");
    let fresh = store
        .enqueue_push(acme.tenant_id, &push_to("fresh-token", "b"))
        .await
        .expect("enqueue");
    let g_stale = store
        .enqueue_push(globex.tenant_id, &push_to("stale-token", "c"))
        .await
        .expect("enqueue");

    let changed = store
        .forget_push_token(acme.tenant_id, "stale-token")
        .await
        .expect("forget");
    assert_eq!(changed, 1);
    assert_eq!(device_token(db, gone).await, None);
    assert_eq!(device_token(db, kept).await.as_deref(), Some("fresh-token"));
    assert_eq!(
        device_token(db, elsewhere).await.as_deref(),
        Some("stale-token"),
        "another tenant's device is untouched"
    );
    let stale_row = store.get_push(acme.tenant_id, stale).await.expect("row");
    assert_eq!(stale_row.state, PushState::Failed);
    assert!(stale_row.last_error.is_some());
    for (tenant, id) in [(acme.tenant_id, fresh), (globex.tenant_id, g_stale)] {
        let row = store.get_push(tenant, id).await.expect("row");
        assert_eq!(row.state, PushState::Pending);
    }
    // Clearing a token is audited and the chain still holds.
    let report = store.verify_audit(acme.tenant_id).await.expect("verify");
    assert!(report.valid, "{report:?}");
    let audit = store
        .list_audit(acme.tenant_id, 0, 100)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| {
        e.action == "device.push_token_forget"
            && e.entity_id == Some(gone)
            && !e
                .before
                .as_deref()
                .unwrap_or_default()
                .contains("stale-token")
    }));
    // Nothing left to forget.
    assert_eq!(
        store
            .forget_push_token(acme.tenant_id, "stale-token")
            .await
            .expect("again"),
        0
    );
}

async fn pushes_are_tenant_scoped(db: &TestDb) {
    let store = db.store.as_ref();
    let acme = TenantFixture::create(store, "acme").await;
    let globex = TenantFixture::create(store, "globex").await;
    let id = store
        .enqueue_push(acme.tenant_id, &push_to("tok", "a"))
        .await
        .expect("enqueue");
    let error = store
        .get_push(globex.tenant_id, id)
        .await
        .expect_err("other tenant");
    assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
    // A user of another tenant gets nothing queued through this tenant.
    let g_tech = technician_user(db, &globex, "tech@globex.example").await;
    device(db, &globex, g_tech, Some("g-token")).await;
    assert!(
        store
            .enqueue_push_for_user(acme.tenant_id, g_tech, &content("x"))
            .await
            .expect("nothing")
            .is_empty()
    );
}
