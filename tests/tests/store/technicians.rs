//! TechnicianStore: technicians need a technician user and update optimistically.

use super::*;

backend_tests!(
    technicians_need_a_technician_user,
    technicians_update_optimistically,
);

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
