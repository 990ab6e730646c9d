//! The `Store` contract: every test runs on SQLite and on PostgreSQL
//! (`sqlite::name`, `postgres::name`), each in a database of its own.

use std::collections::{BTreeSet, HashSet};

use chrono::{Duration, Utc};
use serde_json::json;
use truckroll_server::{
    domain::{
        people::{NewDevice, Platform, Role, SkillLevel, TechnicianStatus, UserPatch},
        ticket::{Priority, Ticket},
    },
    store::{
        Actor, Backend, IdempotencyBegin, Page, PageRequest, RefreshOutcome, RefreshTokenRecord,
        Store, StoreError, StoredResponse, TicketFilter,
    },
};
use truckroll_sync::{HoldReason, Status};
use truckroll_tests::{
    TestBackend, TestDb,
    fixtures::{
        PASSWORD_HASH, TenantFixture, new_asset, new_category, new_comment, new_customer, new_site,
        new_technician, new_ticket, new_user,
    },
    store_contract_tests,
};
use uuid::Uuid;

store_contract_tests!(
    migrated_store_is_ready,
    tenants_are_created_with_their_admin,
    users_are_unique_per_tenant_by_lowercased_email,
    users_are_tenant_scoped_and_updatable,
    user_pages_walk_every_user_once,
    refresh_tokens_rotate_and_detect_reuse,
    refresh_tokens_expire_and_die_with_password_change,
    devices_are_registered_once_per_actor,
    technicians_need_a_technician_user,
    technicians_update_optimistically,
    customers_sites_assets_and_categories,
    references_never_cross_tenants,
    ticket_numbers_count_per_tenant,
    ticket_with_foreign_site_writes_nothing,
    tickets_filter_by_every_field,
    ticket_text_search_is_literal_and_case_insensitive,
    ticket_text_search_folds_non_ascii_case,
    tickets_update_optimistically,
    replaced_tags_are_filterable,
    comments_belong_to_tickets_of_the_tenant,
    every_write_is_audited,
    audit_tampering_is_detected,
    idempotency_keys_replay_and_guard,
    concurrent_tickets_get_distinct_numbers,
);

// ---------------------------------------------------------------------------
// Helpers

const ALL: PageRequest = PageRequest {
    limit: 1000,
    after: None,
};

async fn tenant(db: &TestDb, name: &str) -> TenantFixture {
    TenantFixture::create(db.store.as_ref(), name).await
}

async fn audit_len(store: &dyn Store, tenant_id: Uuid) -> usize {
    store
        .list_audit(tenant_id, 0, 10_000)
        .await
        .expect("list audit")
        .len()
}

async fn audit_actions(store: &dyn Store, tenant_id: Uuid) -> Vec<String> {
    store
        .list_audit(tenant_id, 0, 10_000)
        .await
        .expect("list audit")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn tickets(store: &dyn Store, tenant_id: Uuid, filter: &TicketFilter) -> Vec<Ticket> {
    let page = store
        .list_tickets(tenant_id, filter, ALL)
        .await
        .expect("list tickets");
    assert_eq!(page.next_after, None, "all tickets fit one page");
    page.items
}

/// Numbers of the tickets `filter` selects, sorted.
async fn numbers(store: &dyn Store, tenant_id: Uuid, filter: TicketFilter) -> Vec<String> {
    let mut numbers: Vec<String> = tickets(store, tenant_id, &filter)
        .await
        .into_iter()
        .map(|t| t.number)
        .collect();
    numbers.sort();
    numbers
}

/// Sorted numbers of `tickets`, to compare with [`numbers`].
fn expected(tickets: &[&Ticket]) -> Vec<String> {
    let mut numbers: Vec<String> = tickets.iter().map(|t| t.number.clone()).collect();
    numbers.sort();
    numbers
}

fn text(search: &str) -> TicketFilter {
    TicketFilter {
        text: Some(search.to_owned()),
        ..Default::default()
    }
}

fn token(hash: &str, user: (Uuid, Uuid), expires_in: Duration) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.to_owned(),
        family_id: Uuid::now_v7(),
        tenant_id: user.0,
        user_id: user.1,
        expires_at: Utc::now() + expires_in,
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_reference<T: std::fmt::Debug>(result: Result<T, StoreError>, field: &str, what: &str) {
    match result {
        Err(StoreError::Reference { field: f, .. }) if f == field => {}
        other => panic!("{what}: expected Reference on {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Setup and tenants

async fn migrated_store_is_ready(db: &TestDb) {
    let store = db.store.as_ref();
    let expected = match db.backend() {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(store.backend(), expected);
    assert!(store.ready().await.expect("ready"));
    // Migrating again is a no-op.
    store.migrate().await.expect("second migrate");
    assert!(store.ready().await.expect("ready after second migrate"));
}

async fn tenants_are_created_with_their_admin(db: &TestDb) {
    let store = db.store.as_ref();
    let (tenant, admin) = store
        .create_tenant(
            "acme-heating",
            &new_user("  Boss@Acme.Example ", Role::Admin),
            PASSWORD_HASH,
        )
        .await
        .expect("create tenant");
    assert_eq!(tenant.name, "acme-heating");
    assert_eq!(admin.tenant_id, tenant.id);
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.active);
    assert_eq!(admin.email, "boss@acme.example", "emails are normalized");

    let found = store
        .tenant_by_name("acme-heating")
        .await
        .expect("tenant by name")
        .expect("tenant exists");
    assert_eq!(found, tenant);
    assert_eq!(store.tenant_by_name("acme").await.expect("lookup"), None);
    assert_eq!(
        store.get_user(tenant.id, admin.id).await.expect("admin"),
        admin
    );

    let duplicate = store
        .create_tenant(
            "acme-heating",
            &new_user("other@acme.example", Role::Admin),
            PASSWORD_HASH,
        )
        .await;
    assert_conflict(duplicate, "duplicate tenant name");

    assert_eq!(
        audit_actions(store, tenant.id).await,
        ["tenant.create", "user.create"]
    );
}

// ---------------------------------------------------------------------------
// Users

async fn users_are_unique_per_tenant_by_lowercased_email(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;

    let dispatcher = store
        .create_user(
            a.actor(),
            &new_user("Dana@Alpha.Example", Role::Dispatcher),
            "hash-1",
        )
        .await
        .expect("create user");
    assert_eq!(dispatcher.email, "dana@alpha.example");
    assert_eq!(dispatcher.tenant_id, a.tenant_id);

    let users_before = store
        .list_users(a.tenant_id, ALL)
        .await
        .expect("list")
        .items;
    let audit_before = audit_len(store, a.tenant_id).await;
    let duplicate = store
        .create_user(
            a.actor(),
            &new_user("DANA@alpha.example", Role::Manager),
            "hash-2",
        )
        .await;
    assert_conflict(duplicate, "same email in other case");
    assert_eq!(
        store
            .list_users(a.tenant_id, ALL)
            .await
            .expect("list")
            .items,
        users_before,
        "a rejected user leaves nothing behind"
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);

    // The same address is fine in another tenant.
    store
        .create_user(
            b.actor(),
            &new_user("dana@alpha.example", Role::Dispatcher),
            "hash-3",
        )
        .await
        .expect("same email, other tenant");
}

async fn users_are_tenant_scoped_and_updatable(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let user = store
        .create_user(
            a.actor(),
            &new_user("max@alpha.example", Role::Dispatcher),
            "hash-old",
        )
        .await
        .expect("create user");

    assert_eq!(
        store.get_user(a.tenant_id, user.id).await.expect("get"),
        user
    );
    assert_not_found(
        store.get_user(b.tenant_id, user.id).await,
        "user from another tenant",
    );
    assert_not_found(
        store.get_user(a.tenant_id, Uuid::now_v7()).await,
        "unknown user",
    );

    let (found, hash) = store
        .user_credentials(a.tenant_id, " MAX@Alpha.example")
        .await
        .expect("credentials")
        .expect("user found by email in any case");
    assert_eq!(found, user);
    assert_eq!(hash, "hash-old");
    assert_eq!(
        store
            .user_credentials(b.tenant_id, "max@alpha.example")
            .await
            .expect("credentials"),
        None,
        "credentials are per tenant"
    );

    let patch = UserPatch {
        name: Some("  Max Manager ".to_owned()),
        role: Some(Role::Manager),
        active: Some(false),
        password: None,
    };
    let updated = store
        .update_user(a.actor(), user.id, &patch, Some("hash-new"))
        .await
        .expect("update user");
    assert_eq!(updated.name, "Max Manager");
    assert_eq!(updated.role, Role::Manager);
    assert!(!updated.active);
    assert_eq!(updated.email, user.email);
    assert_eq!(updated.created_at, user.created_at);
    assert_eq!(
        store.get_user(a.tenant_id, user.id).await.expect("get"),
        updated
    );
    let (_, hash) = store
        .user_credentials(a.tenant_id, "max@alpha.example")
        .await
        .expect("credentials")
        .expect("user");
    assert_eq!(hash, "hash-new");

    // An empty patch without a password changes nothing but is still audited.
    let same = store
        .update_user(a.actor(), user.id, &UserPatch::default(), None)
        .await
        .expect("empty patch");
    assert_eq!(same, updated);
    let (_, hash) = store
        .user_credentials(a.tenant_id, "max@alpha.example")
        .await
        .expect("credentials")
        .expect("user");
    assert_eq!(hash, "hash-new", "no password keeps the old hash");

    assert_not_found(
        store
            .update_user(b.actor(), user.id, &UserPatch::default(), None)
            .await,
        "update user of another tenant",
    );
}

async fn user_pages_walk_every_user_once(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let mut expected: BTreeSet<Uuid> = BTreeSet::from([a.admin_id]);
    for i in 0..4 {
        let user = store
            .create_user(
                a.actor(),
                &new_user(&format!("user{i}@alpha.example"), Role::Technician),
                PASSWORD_HASH,
            )
            .await
            .expect("create user");
        expected.insert(user.id);
    }
    // Another tenant's users never show up.
    store
        .create_user(
            b.actor(),
            &new_user("user@bravo.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("create user in b");

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let Page { items, next_after } = store
            .list_users(a.tenant_id, PageRequest { limit: 2, after })
            .await
            .expect("list users");
        sizes.push(items.len());
        seen.extend(items.iter().map(|u| u.id));
        match next_after {
            Some(cursor) => {
                assert_eq!(Some(cursor), items.last().map(|u| u.id));
                after = Some(cursor);
            }
            None => break,
        }
        assert!(sizes.len() <= 5, "pagination does not terminate");
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert!(seen.is_sorted(), "pages follow id order");
    assert_eq!(seen.len(), expected.len(), "no user twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);

    // Exactly `limit` remaining items: no further page is announced.
    let four = store
        .list_users(
            a.tenant_id,
            PageRequest {
                limit: 5,
                after: None,
            },
        )
        .await
        .expect("list users");
    assert_eq!(four.items.len(), 5);
    assert_eq!(four.next_after, None);
}

// ---------------------------------------------------------------------------
// Refresh tokens and devices

async fn refresh_tokens_rotate_and_detect_reuse(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let admin = store
        .get_user(a.tenant_id, a.admin_id)
        .await
        .expect("admin");
    let who = (a.tenant_id, a.admin_id);

    let first = token("hash-first", who, Duration::days(30));
    store.insert_refresh_token(&first).await.expect("insert");

    let second = token("hash-second", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-first", &second.token_hash, second.expires_at)
            .await
            .expect("rotate"),
        RefreshOutcome::Rotated(admin.clone())
    );

    // The second token rotates normally.
    let third = token("hash-third", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-second", &third.token_hash, third.expires_at)
            .await
            .expect("rotate second"),
        RefreshOutcome::Rotated(admin)
    );

    // Presenting a spent token again revokes the whole family …
    let audit_before = audit_len(store, a.tenant_id).await;
    let stolen = token("hash-stolen", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-first", &stolen.token_hash, stolen.expires_at)
            .await
            .expect("reuse"),
        RefreshOutcome::Reused
    );
    assert_eq!(
        audit_actions(store, a.tenant_id)
            .await
            .last()
            .map(String::as_str),
        Some("auth.refresh_reuse")
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before + 1);

    // … so the newest token is dead too, and the thief's token was never stored.
    let fourth = token("hash-fourth", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-third", &fourth.token_hash, fourth.expires_at)
            .await
            .expect("rotate revoked"),
        RefreshOutcome::Invalid
    );
    let fifth = token("hash-fifth", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-stolen", &fifth.token_hash, fifth.expires_at)
            .await
            .expect("rotate never-issued"),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh_token("hash-unknown", &fifth.token_hash, fifth.expires_at)
            .await
            .expect("rotate unknown"),
        RefreshOutcome::Invalid
    );

    // Other families of the same user are untouched.
    let other = token("hash-other-device", who, Duration::days(30));
    store.insert_refresh_token(&other).await.expect("insert");
    let next = token("hash-other-next", who, Duration::days(30));
    assert!(matches!(
        store
            .rotate_refresh_token("hash-other-device", &next.token_hash, next.expires_at)
            .await
            .expect("rotate other family"),
        RefreshOutcome::Rotated(_)
    ));
}

async fn refresh_tokens_expire_and_die_with_password_change(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let who = (a.tenant_id, a.admin_id);

    let expired = token("hash-expired", who, Duration::hours(-1));
    store.insert_refresh_token(&expired).await.expect("insert");
    let next = token("hash-after-expired", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-expired", &next.token_hash, next.expires_at)
            .await
            .expect("rotate expired"),
        RefreshOutcome::Invalid
    );
    // Still invalid (not "reused") when presented again.
    assert_eq!(
        store
            .rotate_refresh_token("hash-expired", &next.token_hash, next.expires_at)
            .await
            .expect("rotate expired again"),
        RefreshOutcome::Invalid
    );

    let live = token("hash-live", who, Duration::days(30));
    store.insert_refresh_token(&live).await.expect("insert");
    store
        .update_user(
            a.actor(),
            a.admin_id,
            &UserPatch::default(),
            Some("new-hash"),
        )
        .await
        .expect("change password");
    let next = token("hash-after-password", who, Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-live", &next.token_hash, next.expires_at)
            .await
            .expect("rotate after password change"),
        RefreshOutcome::Invalid,
        "a new password ends every session"
    );

    // Deactivation ends sessions too.
    let user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("create user");
    let session = token("hash-tech", (a.tenant_id, user.id), Duration::days(30));
    store.insert_refresh_token(&session).await.expect("insert");
    store
        .update_user(
            a.actor(),
            user.id,
            &UserPatch {
                active: Some(false),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("deactivate");
    let next = token("hash-tech-next", (a.tenant_id, user.id), Duration::days(30));
    assert_eq!(
        store
            .rotate_refresh_token("hash-tech", &next.token_hash, next.expires_at)
            .await
            .expect("rotate after deactivation"),
        RefreshOutcome::Invalid
    );
}

async fn devices_are_registered_once_per_actor(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let device = NewDevice {
        platform: Platform::Android,
        push_token: Some("push-secret".to_owned()),
        actor_id: "0123456789abcdef0123456789abcdef".to_owned(),
    };
    let registered = store
        .register_device(a.actor(), a.admin_id, &device)
        .await
        .expect("register device");
    assert_eq!(registered.user_id, a.admin_id);
    assert_eq!(registered.actor_id, device.actor_id);
    assert_eq!(registered.push_token.as_deref(), Some("push-secret"));

    let audit = store.list_audit(a.tenant_id, 0, 100).await.expect("audit");
    let entry = audit.last().expect("device audit entry");
    assert_eq!(entry.action, "device.register");
    let after = entry.after.as_deref().expect("after");
    assert!(
        !after.contains("push-secret"),
        "push tokens are redacted in the audit log: {after}"
    );

    assert_conflict(
        store.register_device(a.actor(), a.admin_id, &device).await,
        "same actor id twice",
    );
    assert_reference(
        store
            .register_device(
                a.actor(),
                b.admin_id,
                &NewDevice {
                    actor_id: "fedcba9876543210".to_owned(),
                    ..device.clone()
                },
            )
            .await,
        "user_id",
        "device for a user of another tenant",
    );
}

// ---------------------------------------------------------------------------
// Technicians

async fn technicians_need_a_technician_user(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;

    assert_reference(
        store
            .create_technician(a.actor(), &new_technician(a.admin_id))
            .await,
        "user_id",
        "admin as technician",
    );
    assert_reference(
        store
            .create_technician(a.actor(), &new_technician(Uuid::now_v7()))
            .await,
        "user_id",
        "unknown user",
    );
    let b_tech_user = store
        .create_user(
            b.actor(),
            &new_user("tech@bravo.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("technician user in b");
    assert_reference(
        store
            .create_technician(a.actor(), &new_technician(b_tech_user.id))
            .await,
        "user_id",
        "technician user of another tenant",
    );

    let user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("technician user");
    let mut input = new_technician(user.id);
    input.skills = vec![SkillLevel {
        skill: "hvac".to_owned(),
        level: 4,
    }];
    let technician = store
        .create_technician(a.actor(), &input)
        .await
        .expect("create technician");
    assert_eq!(technician.user_id, user.id);
    assert_eq!(technician.tenant_id, a.tenant_id);
    assert_eq!(technician.skills, input.skills);
    assert_eq!(technician.home_base, input.home_base);
    assert_eq!(technician.capacity, 5);
    assert_eq!(technician.status, TechnicianStatus::Available);

    assert_eq!(
        store
            .get_technician(a.tenant_id, technician.id)
            .await
            .expect("get"),
        technician
    );
    assert_not_found(
        store.get_technician(b.tenant_id, technician.id).await,
        "technician from another tenant",
    );
    assert_eq!(
        store
            .technician_for_user(a.tenant_id, user.id)
            .await
            .expect("for user"),
        Some(technician.clone())
    );
    assert_eq!(
        store
            .technician_for_user(a.tenant_id, a.admin_id)
            .await
            .expect("for admin"),
        None
    );
    assert_eq!(
        store
            .technician_for_user(b.tenant_id, user.id)
            .await
            .expect("other tenant"),
        None
    );
    assert_eq!(
        store
            .list_technicians(a.tenant_id, ALL)
            .await
            .expect("list")
            .items,
        [technician]
    );
    assert!(
        store
            .list_technicians(b.tenant_id, ALL)
            .await
            .expect("list b")
            .items
            .is_empty()
    );

    assert_conflict(
        store.create_technician(a.actor(), &input).await,
        "second profile for the same user",
    );
}

async fn technicians_update_optimistically(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("technician user");
    let original = store
        .create_technician(a.actor(), &new_technician(user.id))
        .await
        .expect("create technician");

    let mut changed = original.clone();
    changed.capacity = 8;
    changed.status = TechnicianStatus::Busy;
    changed.home_base = None;
    let updated = store
        .update_technician(a.actor(), &original, &changed)
        .await
        .expect("update");
    assert_eq!(updated.capacity, 8);
    assert_eq!(updated.status, TechnicianStatus::Busy);
    assert_eq!(updated.home_base, None);
    assert_eq!(updated.created_at, original.created_at);
    assert_eq!(
        store
            .get_technician(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );

    // A writer still holding the original loses.
    let audit_before = audit_len(store, a.tenant_id).await;
    let mut stale = original.clone();
    stale.capacity = 2;
    assert_conflict(
        store.update_technician(a.actor(), &original, &stale).await,
        "stale technician update",
    );
    assert_eq!(
        store
            .get_technician(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated,
        "a rejected update changes nothing"
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);

    // With the fresh version it works.
    let mut again = updated.clone();
    again.status = TechnicianStatus::OffDuty;
    let again = store
        .update_technician(a.actor(), &updated, &again)
        .await
        .expect("update from fresh copy");
    assert_eq!(again.status, TechnicianStatus::OffDuty);
}

// ---------------------------------------------------------------------------
// Customers, sites, assets, categories

async fn customers_sites_assets_and_categories(db: &TestDb) {
    let store = db.store.as_ref();
    let (tenant, admin) = store
        .create_tenant(
            "alpha",
            &new_user("admin@alpha.example", Role::Admin),
            PASSWORD_HASH,
        )
        .await
        .expect("tenant");
    let actor = Actor {
        tenant_id: tenant.id,
        user_id: Some(admin.id),
    };

    let customer = store
        .create_customer(actor, &new_customer("  Stadtwerke  "))
        .await
        .expect("customer");
    assert_eq!(customer.name, "Stadtwerke");
    assert_eq!(customer.email.as_deref(), Some("facilities@example.com"));
    assert_eq!(
        store
            .get_customer(tenant.id, customer.id)
            .await
            .expect("get"),
        customer
    );

    let site = store
        .create_site(actor, &new_site(customer.id, "Plant North"))
        .await
        .expect("site");
    assert_eq!(site.customer_id, customer.id);
    assert_eq!(site.location.lat, 52.5);
    assert_eq!(site.location.lon, 13.4);
    assert_eq!(store.get_site(tenant.id, site.id).await.expect("get"), site);

    let asset = store
        .create_asset(actor, &new_asset(site.id, "SN-1"))
        .await
        .expect("asset");
    assert_eq!(asset.site_id, site.id);
    assert_eq!(
        asset.warranty_end,
        chrono::NaiveDate::from_ymd_opt(2030, 12, 31)
    );
    assert_eq!(
        store.get_asset(tenant.id, asset.id).await.expect("get"),
        asset
    );
    assert_conflict(
        store.create_asset(actor, &new_asset(site.id, "SN-1")).await,
        "duplicate serial",
    );

    let mut input = new_category("hvac");
    input.custom_fields_schema =
        json!({"type": "object", "properties": {"pressure": {"type": "number"}}});
    let category = store
        .create_category(actor, &input)
        .await
        .expect("category");
    assert_eq!(category.custom_fields_schema, input.custom_fields_schema);
    assert_eq!(
        store
            .category_by_name(tenant.id, "hvac")
            .await
            .expect("by name"),
        Some(category.clone())
    );
    assert_eq!(
        store
            .category_by_name(tenant.id, "plumbing")
            .await
            .expect("by name"),
        None
    );
    assert_conflict(
        store.create_category(actor, &new_category("hvac")).await,
        "duplicate category",
    );

    let second_customer = store
        .create_customer(actor, &new_customer("Hospital"))
        .await
        .expect("customer 2");
    let customers = store
        .list_customers(tenant.id, ALL)
        .await
        .expect("list customers");
    assert_eq!(customers.items, [customer, second_customer]);
    assert_eq!(customers.next_after, None);
    assert_eq!(
        store.list_sites(tenant.id, ALL).await.expect("sites").items,
        [site]
    );
    assert_eq!(
        store
            .list_assets(tenant.id, ALL)
            .await
            .expect("assets")
            .items,
        [asset]
    );
    assert_eq!(
        store
            .list_categories(tenant.id, ALL)
            .await
            .expect("categories")
            .items,
        [category]
    );
    let first_only = store
        .list_customers(
            tenant.id,
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page");
    assert_eq!(first_only.items.len(), 1);
    assert_eq!(first_only.next_after, Some(first_only.items[0].id));
}

async fn references_never_cross_tenants(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let b_asset = store
        .create_asset(b.actor(), &new_asset(b.site_id, "SN-B"))
        .await
        .expect("asset in b");
    let b_category = store
        .create_category(b.actor(), &new_category("hvac"))
        .await
        .expect("category in b");

    let audit_before = audit_len(store, a.tenant_id).await;
    assert_reference(
        store
            .create_site(a.actor(), &new_site(b.customer_id, "Stolen"))
            .await,
        "customer_id",
        "site with another tenant's customer",
    );
    assert_reference(
        store
            .create_site(a.actor(), &new_site(Uuid::now_v7(), "Nowhere"))
            .await,
        "customer_id",
        "site with unknown customer",
    );
    assert_reference(
        store
            .create_asset(a.actor(), &new_asset(b.site_id, "SN-X"))
            .await,
        "site_id",
        "asset on another tenant's site",
    );
    let mut with_foreign_asset = new_ticket(a.site_id, "Foreign asset");
    with_foreign_asset.asset_id = Some(b_asset.id);
    assert!(
        matches!(
            store.create_ticket(a.actor(), &with_foreign_asset).await,
            Err(StoreError::Reference { .. })
        ),
        "ticket with another tenant's asset"
    );
    assert_eq!(
        audit_len(store, a.tenant_id).await,
        audit_before,
        "rejected writes are not audited"
    );
    assert_eq!(
        store
            .list_sites(a.tenant_id, ALL)
            .await
            .expect("sites")
            .items
            .len(),
        1
    );
    assert!(
        store
            .list_assets(a.tenant_id, ALL)
            .await
            .expect("assets")
            .items
            .is_empty()
    );

    // Reads are scoped too.
    assert_not_found(
        store.get_customer(a.tenant_id, b.customer_id).await,
        "customer of b",
    );
    assert_not_found(store.get_site(a.tenant_id, b.site_id).await, "site of b");
    assert_not_found(store.get_asset(a.tenant_id, b_asset.id).await, "asset of b");
    assert_eq!(
        store
            .category_by_name(a.tenant_id, &b_category.name)
            .await
            .expect("lookup"),
        None
    );
    assert!(
        store
            .list_categories(a.tenant_id, ALL)
            .await
            .expect("categories")
            .items
            .is_empty()
    );
    // A category name may repeat across tenants.
    store
        .create_category(a.actor(), &new_category("hvac"))
        .await
        .expect("same category name in a");
}

// ---------------------------------------------------------------------------
// Tickets

async fn ticket_numbers_count_per_tenant(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let a1 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "First"))
        .await
        .expect("a1");
    let a2 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Second"))
        .await
        .expect("a2");
    let b1 = store
        .create_ticket(b.actor(), &new_ticket(b.site_id, "Other tenant"))
        .await
        .expect("b1");
    let a3 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Third"))
        .await
        .expect("a3");
    assert_eq!(a1.number, "TR-000001");
    assert_eq!(a2.number, "TR-000002");
    assert_eq!(a3.number, "TR-000003");
    assert_eq!(b1.number, "TR-000001");

    assert_eq!(a1.status, Status::New);
    assert_eq!(a1.created_by, a.admin_id);
    assert_eq!(a1.created_at, a1.updated_at);
    assert_eq!(a1.assignee_id, None);
    assert_eq!(store.get_ticket(a.tenant_id, a1.id).await.expect("get"), a1);
    assert_not_found(
        store.get_ticket(b.tenant_id, a1.id).await,
        "ticket of a from b",
    );

    // Tickets are written by users, never anonymously.
    let anonymous = Actor {
        tenant_id: a.tenant_id,
        user_id: None,
    };
    assert!(matches!(
        store
            .create_ticket(anonymous, &new_ticket(a.site_id, "Nobody"))
            .await,
        Err(StoreError::Reference { .. })
    ));
    let a4 = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Fourth"))
        .await
        .expect("a4");
    assert_eq!(a4.number, "TR-000004", "a rejected ticket uses no number");
}

async fn ticket_with_foreign_site_writes_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let audit_before = audit_len(store, a.tenant_id).await;

    assert_reference(
        store
            .create_ticket(a.actor(), &new_ticket(b.site_id, "Wrong site"))
            .await,
        "site_id",
        "ticket on another tenant's site",
    );
    assert_reference(
        store
            .create_ticket(a.actor(), &new_ticket(Uuid::now_v7(), "No site"))
            .await,
        "site_id",
        "ticket on an unknown site",
    );
    assert!(
        tickets(store, a.tenant_id, &TicketFilter::default())
            .await
            .is_empty(),
        "no ticket written"
    );
    assert!(
        tickets(store, b.tenant_id, &TicketFilter::default())
            .await
            .is_empty(),
        "nothing written into the site's tenant either"
    );
    assert_eq!(
        audit_len(store, a.tenant_id).await,
        audit_before,
        "no audit entry"
    );
    let raw = db.raw().await;
    assert_eq!(raw.scalar_i64("SELECT COUNT(*) FROM tickets", &[]).await, 0);
    assert_eq!(
        raw.scalar_i64("SELECT COUNT(*) FROM ticket_tags", &[])
            .await,
        0
    );
    raw.close().await;

    let first = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Right site"))
        .await
        .expect("valid ticket");
    assert_eq!(
        first.number, "TR-000001",
        "the failed attempts used no number"
    );
    assert!(store.verify_audit(a.tenant_id).await.expect("verify").valid);
}

async fn tickets_filter_by_every_field(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let second_site = store
        .create_site(a.actor(), &new_site(a.customer_id, "Plant South"))
        .await
        .expect("second site");
    let tech_user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("technician user");
    let technician = store
        .create_technician(a.actor(), &new_technician(tech_user.id))
        .await
        .expect("technician");

    let mut one = new_ticket(a.site_id, "Boiler broken");
    one.priority = Priority::P1;
    one.category = "hvac".to_owned();
    one.tags = vec!["urgent".to_owned(), "boiler".to_owned()];
    let one = store.create_ticket(a.actor(), &one).await.expect("one");

    let mut two = new_ticket(second_site.id, "Leaking pipe");
    two.priority = Priority::P2;
    two.category = "plumbing".to_owned();
    two.tags = vec!["water".to_owned()];
    let two = store.create_ticket(a.actor(), &two).await.expect("two");

    let mut three = new_ticket(a.site_id, "Annual inspection");
    three.priority = Priority::P4;
    three.category = "hvac".to_owned();
    three.tags = vec!["urgent".to_owned()];
    let three = store.create_ticket(a.actor(), &three).await.expect("three");

    // Another tenant's ticket matches many filters but must never appear.
    let mut foreign = new_ticket(b.site_id, "Boiler broken");
    foreign.priority = Priority::P1;
    foreign.tags = vec!["urgent".to_owned()];
    store
        .create_ticket(b.actor(), &foreign)
        .await
        .expect("foreign");

    // Assign `two` and put `three` on hold.
    let mut assigned = two.clone();
    assigned.assignee_id = Some(technician.id);
    assigned.status = Status::Assigned;
    let two = store
        .update_ticket(a.actor(), &two, &assigned)
        .await
        .expect("assign two");
    let mut held = three.clone();
    held.status = Status::OnHold;
    held.hold_reason = Some(HoldReason::WaitingParts);
    let three = store
        .update_ticket(a.actor(), &three, &held)
        .await
        .expect("hold three");
    assert_eq!(three.hold_reason, Some(HoldReason::WaitingParts));

    let t = a.tenant_id;
    let all = numbers(store, t, TicketFilter::default()).await;
    assert_eq!(all, ["TR-000001", "TR-000002", "TR-000003"]);

    let by_status = |status| TicketFilter {
        status: Some(status),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_status(Status::New)).await,
        expected(&[&one])
    );
    assert_eq!(
        numbers(store, t, by_status(Status::Assigned)).await,
        expected(&[&two])
    );
    assert_eq!(
        numbers(store, t, by_status(Status::OnHold)).await,
        expected(&[&three])
    );
    assert!(
        numbers(store, t, by_status(Status::Closed))
            .await
            .is_empty()
    );

    let by_assignee = TicketFilter {
        assignee_id: Some(technician.id),
        ..Default::default()
    };
    assert_eq!(numbers(store, t, by_assignee).await, expected(&[&two]));
    let by_unknown_assignee = TicketFilter {
        assignee_id: Some(Uuid::now_v7()),
        ..Default::default()
    };
    assert!(numbers(store, t, by_unknown_assignee).await.is_empty());

    let by_priority = |priority| TicketFilter {
        priority: Some(priority),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_priority(Priority::P1)).await,
        expected(&[&one])
    );
    assert_eq!(
        numbers(store, t, by_priority(Priority::P4)).await,
        expected(&[&three])
    );
    assert!(
        numbers(store, t, by_priority(Priority::P3))
            .await
            .is_empty()
    );

    let by_category = |category: &str| TicketFilter {
        category: Some(category.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_category("hvac")).await,
        expected(&[&one, &three])
    );
    assert_eq!(
        numbers(store, t, by_category("plumbing")).await,
        expected(&[&two])
    );
    assert!(
        numbers(store, t, by_category("HVAC")).await.is_empty(),
        "categories are exact"
    );

    let by_site = |site_id| TicketFilter {
        site_id: Some(site_id),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_site(a.site_id)).await,
        expected(&[&one, &three])
    );
    assert_eq!(
        numbers(store, t, by_site(second_site.id)).await,
        expected(&[&two])
    );
    assert!(numbers(store, t, by_site(b.site_id)).await.is_empty());

    let by_tag = |tag: &str| TicketFilter {
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        numbers(store, t, by_tag("urgent")).await,
        expected(&[&one, &three])
    );
    assert_eq!(numbers(store, t, by_tag("water")).await, expected(&[&two]));
    assert!(
        numbers(store, t, by_tag("urg")).await.is_empty(),
        "tags match whole"
    );

    // Creation-time window [from, to): computed from the stored timestamps,
    // so the test never depends on the clock.
    let created = [&one, &two, &three];
    let window = |from, to| TicketFilter {
        created_from: from,
        created_to: to,
        ..Default::default()
    };
    let expect_window = |from: Option<chrono::DateTime<Utc>>, to: Option<chrono::DateTime<Utc>>| {
        let mut expected: Vec<String> = created
            .iter()
            .filter(|t| from.is_none_or(|f| t.created_at >= f))
            .filter(|t| to.is_none_or(|u| t.created_at < u))
            .map(|t| t.number.clone())
            .collect();
        expected.sort();
        expected
    };
    let micro = Duration::microseconds(1);
    let cases = [
        (Some(two.created_at), None),
        (None, Some(two.created_at)),
        (Some(two.created_at), Some(two.created_at + micro)),
        (Some(one.created_at), Some(three.created_at)),
        (Some(three.created_at + micro), None),
        (None, Some(one.created_at)),
    ];
    for (from, to) in cases {
        let got = numbers(store, t, window(from, to)).await;
        assert_eq!(got, expect_window(from, to), "window {from:?}..{to:?}");
    }
    assert!(
        numbers(
            store,
            t,
            window(Some(two.created_at), Some(two.created_at + micro))
        )
        .await
        .contains(&two.number),
        "from is inclusive"
    );
    assert!(
        !numbers(store, t, window(None, Some(one.created_at)))
            .await
            .contains(&one.number),
        "to is exclusive"
    );

    // Filters combine with AND.
    let combined = TicketFilter {
        category: Some("hvac".to_owned()),
        tag: Some("urgent".to_owned()),
        status: Some(Status::New),
        site_id: Some(a.site_id),
        priority: Some(Priority::P1),
        text: Some("BOILER".to_owned()),
        ..Default::default()
    };
    assert_eq!(numbers(store, t, combined).await, expected(&[&one]));

    // Filters and pagination work together.
    let first_page = store
        .list_tickets(
            t,
            &by_category("hvac"),
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page 1");
    assert_eq!(first_page.items.len(), 1);
    let second_page = store
        .list_tickets(
            t,
            &by_category("hvac"),
            PageRequest {
                limit: 1,
                after: first_page.next_after,
            },
        )
        .await
        .expect("page 2");
    assert_eq!(second_page.items.len(), 1);
    assert_eq!(second_page.next_after, None);
    assert_ne!(first_page.items[0].id, second_page.items[0].id);
}

async fn ticket_text_search_is_literal_and_case_insensitive(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let titles_and_descriptions = [
        ("Boiler LEAK in Basement", ""),
        ("Quarterly check", "Customer reports a Leaky valve"),
        ("Fan at 100% noise", ""),
        ("Fan at 1000 rpm", ""),
        ("fan_speed sensor", ""),
        ("fanXspeed sensor", ""),
        ("Robert'); DROP TABLE tickets;--", "x' OR '1'='1"),
        (r"Path C:\temp\logs", ""),
        (r"Path C:Xtemp", ""),
    ];
    let mut created = Vec::new();
    for (title, description) in titles_and_descriptions {
        let mut input = new_ticket(a.site_id, title);
        input.description = description.to_owned();
        created.push(
            store
                .create_ticket(a.actor(), &input)
                .await
                .expect("create"),
        );
    }
    let number = |i: usize| created[i].number.clone();
    let t = a.tenant_id;

    // Case-insensitive, in title or description.
    assert_eq!(
        numbers(store, t, text("leak")).await,
        [number(0), number(1)]
    );
    assert_eq!(
        numbers(store, t, text("LEAK")).await,
        [number(0), number(1)]
    );
    assert_eq!(numbers(store, t, text("bAsEmEnT")).await, [number(0)]);
    assert_eq!(numbers(store, t, text("leaky VALVE")).await, [number(1)]);
    assert!(numbers(store, t, text("leakage")).await.is_empty());

    // LIKE wildcards are literal.
    assert_eq!(numbers(store, t, text("100%")).await, [number(2)]);
    assert_eq!(numbers(store, t, text("%")).await, [number(2)]);
    assert_eq!(numbers(store, t, text("fan_speed")).await, [number(4)]);
    assert_eq!(numbers(store, t, text("_")).await, [number(4)]);
    assert_eq!(numbers(store, t, text(r"C:\temp")).await, [number(7)]);
    assert_eq!(numbers(store, t, text(r"\")).await, [number(7)]);

    // SQL metacharacters are data: stored verbatim and searchable.
    let injected = store.get_ticket(t, created[6].id).await.expect("get");
    assert_eq!(injected.title, "Robert'); DROP TABLE tickets;--");
    assert_eq!(injected.description, "x' OR '1'='1");
    assert_eq!(
        numbers(store, t, text("'); DROP TABLE tickets;--")).await,
        [number(6)]
    );
    assert_eq!(numbers(store, t, text("'1'='1")).await, [number(6)]);
    assert_eq!(
        numbers(store, t, text("' OR 1=1 --")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        numbers(store, t, TicketFilter::default()).await.len(),
        titles_and_descriptions.len(),
        "the tickets table is intact"
    );
}

/// The contract says "case-insensitive", not "ASCII-case-insensitive":
/// German, French or Turkish customers type their own letters.
async fn ticket_text_search_folds_non_ascii_case(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let ticket = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Überhitzung im Kessel"))
        .await
        .expect("create");
    let t = a.tenant_id;
    assert_eq!(
        numbers(store, t, text("ÜBERHITZUNG")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, text("überhitzung")).await,
        expected(&[&ticket])
    );
}

async fn tickets_update_optimistically(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let asset = store
        .create_asset(a.actor(), &new_asset(a.site_id, "SN-1"))
        .await
        .expect("asset");
    let b_user = store
        .create_user(
            b.actor(),
            &new_user("tech@bravo.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("b technician user");
    let b_tech = store
        .create_technician(b.actor(), &new_technician(b_user.id))
        .await
        .expect("b technician");

    let original = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Boiler"))
        .await
        .expect("ticket");
    let mut changed = original.clone();
    changed.title = "  Boiler, really broken ".to_owned();
    changed.description = "Pressure drops overnight".to_owned();
    changed.priority = Priority::P1;
    changed.asset_id = Some(asset.id);
    changed.custom_fields = json!({"pressure": 0.4});
    changed.required_skills = vec![SkillLevel {
        skill: "hvac".to_owned(),
        level: 3,
    }];
    let updated = store
        .update_ticket(a.actor(), &original, &changed)
        .await
        .expect("update");
    assert_eq!(updated.title, "Boiler, really broken");
    assert_eq!(updated.priority, Priority::P1);
    assert_eq!(updated.asset_id, Some(asset.id));
    assert_eq!(updated.custom_fields, json!({"pressure": 0.4}));
    assert_eq!(updated.required_skills, changed.required_skills);
    assert_eq!(updated.number, original.number);
    assert_eq!(updated.created_at, original.created_at);
    assert_ne!(updated.updated_at, original.updated_at);
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );

    // A second writer holding the original version loses, and nothing changes.
    let audit_before = audit_len(store, a.tenant_id).await;
    let mut stale = original.clone();
    stale.title = "Lost update".to_owned();
    assert_conflict(
        store.update_ticket(a.actor(), &original, &stale).await,
        "stale ticket update",
    );
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);

    // Assigning another tenant's technician is a bad reference, not a write.
    let mut foreign = updated.clone();
    foreign.assignee_id = Some(b_tech.id);
    foreign.status = Status::Assigned;
    assert_reference(
        store.update_ticket(a.actor(), &updated, &foreign).await,
        "assignee_id",
        "assignee from another tenant",
    );
    assert_eq!(
        store
            .get_ticket(a.tenant_id, original.id)
            .await
            .expect("get"),
        updated
    );

    // Another tenant cannot update it at all.
    let mut hijack = updated.clone();
    hijack.title = "Hijacked".to_owned();
    assert_not_found(
        store.update_ticket(b.actor(), &updated, &hijack).await,
        "update from another tenant",
    );
    let mut ghost = updated.clone();
    ghost.id = Uuid::now_v7();
    assert_not_found(
        store.update_ticket(a.actor(), &ghost, &ghost).await,
        "update of an unknown ticket",
    );
    assert_eq!(audit_len(store, a.tenant_id).await, audit_before);
}

async fn replaced_tags_are_filterable(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let mut input = new_ticket(a.site_id, "Roof");
    input.tags = vec!["urgent".to_owned(), "roof".to_owned(), "urgent".to_owned()];
    let ticket = store
        .create_ticket(a.actor(), &input)
        .await
        .expect("ticket");
    let by_tag = |tag: &str| TicketFilter {
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    let t = a.tenant_id;
    assert_eq!(
        numbers(store, t, by_tag("urgent")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, by_tag("roof")).await,
        expected(&[&ticket])
    );

    let mut retagged = ticket.clone();
    retagged.tags = vec!["roof".to_owned(), "warranty".to_owned()];
    let updated = store
        .update_ticket(a.actor(), &ticket, &retagged)
        .await
        .expect("retag");
    assert_eq!(updated.tags, ["roof", "warranty"]);
    assert!(
        numbers(store, t, by_tag("urgent")).await.is_empty(),
        "old tag gone"
    );
    assert_eq!(
        numbers(store, t, by_tag("roof")).await,
        expected(&[&ticket])
    );
    assert_eq!(
        numbers(store, t, by_tag("warranty")).await,
        expected(&[&ticket])
    );

    let mut untagged = updated.clone();
    untagged.tags = vec![];
    store
        .update_ticket(a.actor(), &updated, &untagged)
        .await
        .expect("untag");
    for tag in ["urgent", "roof", "warranty"] {
        assert!(
            numbers(store, t, by_tag(tag)).await.is_empty(),
            "{tag} removed"
        );
    }
}

// ---------------------------------------------------------------------------
// Comments

async fn comments_belong_to_tickets_of_the_tenant(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let ticket = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Boiler"))
        .await
        .expect("ticket");
    let other = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Other"))
        .await
        .expect("other ticket");

    let first = store
        .add_comment(a.actor(), ticket.id, &new_comment("Called the customer"))
        .await
        .expect("comment 1");
    let second = store
        .add_comment(a.actor(), ticket.id, &new_comment("Part ordered"))
        .await
        .expect("comment 2");
    store
        .add_comment(a.actor(), other.id, &new_comment("Elsewhere"))
        .await
        .expect("comment on other ticket");
    assert_eq!(first.ticket_id, ticket.id);
    assert_eq!(first.author_id, a.admin_id);
    assert_eq!(first.tenant_id, a.tenant_id);

    let listed = store
        .list_comments(a.tenant_id, ticket.id, ALL)
        .await
        .expect("list");
    assert_eq!(listed.items, [first.clone(), second.clone()]);
    let page = store
        .list_comments(
            a.tenant_id,
            ticket.id,
            PageRequest {
                limit: 1,
                after: None,
            },
        )
        .await
        .expect("page");
    assert_eq!(page.items, [first]);
    assert_eq!(page.next_after, Some(page.items[0].id));
    assert!(
        store
            .list_comments(b.tenant_id, ticket.id, ALL)
            .await
            .expect("list from b")
            .items
            .is_empty()
    );

    let audit_before = audit_len(store, b.tenant_id).await;
    assert_not_found(
        store
            .add_comment(b.actor(), ticket.id, &new_comment("Sneaky"))
            .await,
        "comment on another tenant's ticket",
    );
    assert_not_found(
        store
            .add_comment(a.actor(), Uuid::now_v7(), &new_comment("Void"))
            .await,
        "comment on an unknown ticket",
    );
    assert_eq!(audit_len(store, b.tenant_id).await, audit_before);
    assert_eq!(
        store
            .list_comments(a.tenant_id, ticket.id, ALL)
            .await
            .expect("list")
            .items
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------
// Audit log

async fn every_write_is_audited(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await; // tenant, admin user, customer, site: 4
    let b = tenant(db, "bravo").await;
    let user = store
        .create_user(
            a.actor(),
            &new_user("tech@alpha.example", Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .expect("user"); // 5
    let technician = store
        .create_technician(a.actor(), &new_technician(user.id))
        .await
        .expect("technician"); // 6
    let mut busy = technician.clone();
    busy.status = TechnicianStatus::Busy;
    store
        .update_technician(a.actor(), &technician, &busy)
        .await
        .expect("update technician"); // 7
    store
        .create_asset(a.actor(), &new_asset(a.site_id, "SN-1"))
        .await
        .expect("asset"); // 8
    store
        .create_category(a.actor(), &new_category("hvac"))
        .await
        .expect("category"); // 9
    let ticket = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "Boiler"))
        .await
        .expect("ticket"); // 10
    let mut p1 = ticket.clone();
    p1.priority = Priority::P1;
    store
        .update_ticket(a.actor(), &ticket, &p1)
        .await
        .expect("update ticket"); // 11
    store
        .add_comment(a.actor(), ticket.id, &new_comment("On it"))
        .await
        .expect("comment"); // 12
    store
        .update_user(
            a.actor(),
            user.id,
            &UserPatch {
                name: Some("Renamed".to_owned()),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("update user"); // 13
    store
        .register_device(
            a.actor(),
            user.id,
            &NewDevice {
                platform: Platform::Ios,
                push_token: None,
                actor_id: "abcdef0123456789".to_owned(),
            },
        )
        .await
        .expect("device"); // 14
    // Not audited: reads, token inserts, idempotency bookkeeping.
    store
        .insert_refresh_token(&token("hash", (a.tenant_id, user.id), Duration::days(1)))
        .await
        .expect("token");
    store
        .idempotency_begin(a.tenant_id, a.admin_id, "key", "req")
        .await
        .expect("idempotency");

    let entries = store.list_audit(a.tenant_id, 0, 1000).await.expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "user.create",
            "customer.create",
            "site.create",
            "user.create",
            "technician.create",
            "technician.update",
            "asset.create",
            "category.create",
            "ticket.create",
            "ticket.update",
            "comment.create",
            "user.update",
            "device.register",
        ]
    );
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=14).collect::<Vec<i64>>());
    assert!(entries.iter().all(|e| e.tenant_id == a.tenant_id));
    assert_eq!(entries[0].actor_id, None, "tenant creation has no user");
    assert!(entries[2..].iter().all(|e| e.actor_id == Some(a.admin_id)));
    assert_eq!(entries[9].entity_id, Some(ticket.id));
    assert!(entries[9].before.is_none() && entries[9].after.is_some());
    assert!(entries[10].before.is_some() && entries[10].after.is_some());
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "chained");
    }

    // Paging through the log.
    let tail = store.list_audit(a.tenant_id, 10, 3).await.expect("tail");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [11, 12, 13]);

    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, 14);
    assert_eq!(report.broken_at_seq, None);
    // The other tenant's chain is separate.
    let report_b = store.verify_audit(b.tenant_id).await.expect("verify b");
    assert!(report_b.valid);
    assert_eq!(report_b.entries, 4);
    assert_not_found(store.verify_audit(Uuid::now_v7()).await, "unknown tenant");
}

async fn audit_tampering_is_detected(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await; // 4 entries
    let b = tenant(db, "bravo").await;
    for title in ["One", "Two", "Three"] {
        store
            .create_ticket(a.actor(), &new_ticket(a.site_id, title))
            .await
            .expect("ticket"); // 5, 6, 7
    }
    assert!(store.verify_audit(a.tenant_id).await.expect("verify").valid);
    let raw = db.raw().await;
    let ids = [a.tenant_id];

    // Rewrite history in entry 5.
    let original = raw
        .scalar_text(
            "SELECT after FROM audit_log WHERE tenant_id = $1 AND seq = 5",
            &ids,
        )
        .await
        .expect("entry 5 has an after");
    let forged = original.replace("One", "Forged");
    assert_ne!(forged, original);
    let changed = raw
        .execute(
            &format!(
                "UPDATE audit_log SET after = '{}' WHERE tenant_id = $1 AND seq = 5",
                forged.replace('\'', "''")
            ),
            &ids,
        )
        .await;
    assert_eq!(changed, 1);
    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert!(!report.valid, "edited entry must be detected: {report:?}");
    assert_eq!(report.broken_at_seq, Some(5));
    assert!(
        store
            .verify_audit(b.tenant_id)
            .await
            .expect("verify b")
            .valid,
        "other tenants are unaffected"
    );

    // Put it back: the chain verifies again, so detection is precise.
    raw.execute(
        &format!(
            "UPDATE audit_log SET after = '{}' WHERE tenant_id = $1 AND seq = 5",
            original.replace('\'', "''")
        ),
        &ids,
    )
    .await;
    assert!(store.verify_audit(a.tenant_id).await.expect("verify").valid);

    // Swapping the actor is detected too.
    raw.execute(
        "UPDATE audit_log SET actor_id = NULL WHERE tenant_id = $1 AND seq = 6",
        &ids,
    )
    .await;
    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert_eq!(report.broken_at_seq, Some(6), "{report:?}");
    raw.execute(
        "UPDATE audit_log SET actor_id = $2 WHERE tenant_id = $1 AND seq = 6",
        &[a.tenant_id, a.admin_id],
    )
    .await;
    assert!(store.verify_audit(a.tenant_id).await.expect("verify").valid);

    // Dropping the newest entry is a truncation the tenant's head reveals.
    let deleted = raw
        .execute(
            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 7",
            &ids,
        )
        .await;
    assert_eq!(deleted, 1);
    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert!(!report.valid, "truncation must be detected: {report:?}");
    assert_eq!(report.broken_at_seq, Some(7));
    assert_eq!(report.entries, 6);

    // Dropping one from the middle as well.
    raw.execute(
        "DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 2",
        &ids,
    )
    .await;
    let report = store.verify_audit(a.tenant_id).await.expect("verify");
    assert!(!report.valid);
    assert_eq!(report.broken_at_seq, Some(2));
    raw.close().await;
}

// ---------------------------------------------------------------------------
// Idempotency keys

async fn idempotency_keys_replay_and_guard(db: &TestDb) {
    let store = db.store.as_ref();
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let (t, u) = (a.tenant_id, a.admin_id);
    let other_user = store
        .create_user(
            a.actor(),
            &new_user("second@alpha.example", Role::Dispatcher),
            PASSWORD_HASH,
        )
        .await
        .expect("second user");

    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a")
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a")
            .await
            .expect("begin again"),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-b")
            .await
            .expect("begin other request"),
        IdempotencyBegin::Mismatch
    );

    // Keys belong to one user of one tenant.
    assert_eq!(
        store
            .idempotency_begin(t, other_user.id, "k1", "hash-a")
            .await
            .expect("other user"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(b.tenant_id, b.admin_id, "k1", "hash-a")
            .await
            .expect("other tenant"),
        IdempotencyBegin::Started
    );

    // Bodies are bytes, not text: NUL and invalid UTF-8 survive.
    let mut body = br#"{"number":"TR-000001"}"#.to_vec();
    body.extend_from_slice(&[0, 159, 255]);
    let response = StoredResponse {
        status: 201,
        content_type: "application/json".to_owned(),
        body,
    };
    store
        .idempotency_complete(t, u, "k1", &response)
        .await
        .expect("complete");
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a")
            .await
            .expect("replay"),
        IdempotencyBegin::Replay(response.clone())
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-a")
            .await
            .expect("replay twice"),
        IdempotencyBegin::Replay(response)
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k1", "hash-b")
            .await
            .expect("mismatch"),
        IdempotencyBegin::Mismatch
    );

    // A completed key cannot be aborted.
    store
        .idempotency_abort(t, u, "k1")
        .await
        .expect("abort completed");
    assert!(matches!(
        store
            .idempotency_begin(t, u, "k1", "hash-a")
            .await
            .expect("still replay"),
        IdempotencyBegin::Replay(_)
    ));

    // Aborting an in-progress key frees it, even for a different request.
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-a")
            .await
            .expect("begin k2"),
        IdempotencyBegin::Started
    );
    store.idempotency_abort(t, u, "k2").await.expect("abort k2");
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-c")
            .await
            .expect("begin k2 again"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin(t, u, "k2", "hash-c")
            .await
            .expect("k2 in progress"),
        IdempotencyBegin::InProgress
    );
}

// ---------------------------------------------------------------------------
// Concurrency

async fn concurrent_tickets_get_distinct_numbers(db: &TestDb) {
    const N: usize = 20;
    let a = tenant(db, "alpha").await;
    let b = tenant(db, "bravo").await;
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = db.store.clone();
        let fixture = if i % 5 == 4 { b.clone() } else { a.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("Job {i}")),
                )
                .await
        }));
    }
    // Plus `N` more on tenant a only, racing the mixed ones above.
    for i in 0..N {
        let store = db.store.clone();
        let fixture = a.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("Solo {i}")),
                )
                .await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        created.push(task.await.expect("task").expect("create ticket"));
    }

    for (fixture, expected) in [(&a, N - N / 5 + N), (&b, N / 5)] {
        let numbers: HashSet<String> = created
            .iter()
            .filter(|t| t.tenant_id == fixture.tenant_id)
            .map(|t| t.number.clone())
            .collect();
        let want: HashSet<String> = (1..=expected).map(|n| format!("TR-{n:06}")).collect();
        assert_eq!(numbers, want, "numbers 1..={expected}, each once");
        let report = db
            .store
            .verify_audit(fixture.tenant_id)
            .await
            .expect("verify");
        assert!(report.valid, "{report:?}");
        assert_eq!(report.entries, 4 + expected as i64);
    }
}

// ---------------------------------------------------------------------------
// Migrations (no database needed)

/// `(version, description)` of every `NNNN_description.sql` in `dir`, sorted.
fn migration_files(dir: &std::path::Path) -> Vec<(i64, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_str().expect("UTF-8 file name").to_owned();
        let stem = name
            .strip_suffix(".sql")
            .unwrap_or_else(|| panic!("{}: {name} is not a .sql file", dir.display()));
        let (number, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected NNNN_description.sql"));
        assert!(
            number.len() == 4 && number.chars().all(|c| c.is_ascii_digit()),
            "{name}: the version must be four digits"
        );
        assert!(
            !description.is_empty()
                && description
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: the description must be lowercase snake_case"
        );
        found.push((number.parse().expect("digits"), description.to_owned()));
    }
    found.sort();
    found
}

#[test]
fn migration_sets_match_each_other_and_the_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let postgres = migration_files(&root.join("postgres"));
    let sqlite = migration_files(&root.join("sqlite"));
    assert!(
        !postgres.is_empty(),
        "no migrations found in {}",
        root.display()
    );
    assert_eq!(postgres, sqlite, "both backends have the same migrations");
    let versions: Vec<i64> = postgres.iter().map(|m| m.0).collect();
    assert_eq!(
        versions,
        (1..=postgres.len() as i64).collect::<Vec<_>>(),
        "versions are 1, 2, 3, … without gaps"
    );

    let (embedded_pg, embedded_sqlite) = truckroll_server::store::migrations::migration_names();
    let owned = |set: Vec<(i64, &str)>| -> Vec<(i64, String)> {
        set.into_iter().map(|(v, d)| (v, d.to_owned())).collect()
    };
    assert_eq!(
        owned(embedded_pg),
        postgres,
        "embedded PostgreSQL set = migrations/postgres"
    );
    assert_eq!(
        owned(embedded_sqlite),
        sqlite,
        "embedded SQLite set = migrations/sqlite"
    );
}
