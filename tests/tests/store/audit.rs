//! AuditStore: every write is audited, and tampering with the log is detected.

use super::*;

backend_tests!(every_write_is_audited, audit_tampering_is_detected,);

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
        .update_ticket(a.actor(), &ticket, &p1, None)
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
        .idempotency_begin(a.tenant_id, a.admin_id, "key", "req", window())
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

/// Keys live a day; one begun two minutes ago without an answer was abandoned.
fn window() -> truckroll_server::store::idempotency::IdempotencyWindow {
    let now = chrono::Utc::now();
    truckroll_server::store::idempotency::IdempotencyWindow {
        now,
        abandoned_before: now - chrono::Duration::seconds(120),
        expired_before: now - chrono::Duration::days(1),
    }
}
