//! UserStore: tenants, users, refresh tokens and devices.

use super::*;

backend_tests!(
    tenants_are_created_with_their_admin,
    users_are_unique_per_tenant_by_lowercased_email,
    users_are_tenant_scoped_and_updatable,
    user_pages_walk_every_user_once,
    refresh_tokens_rotate_and_detect_reuse,
    refresh_tokens_expire_and_die_with_password_change,
    devices_are_registered_once_per_actor,
);

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
        current_password: None,
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
