//! AssignmentStore: the database decides. Concurrent assigns of one ticket,
//! or of one technician's last free slot, never double-book — on both
//! backends (through HTTP: `api::assign`).

use std::sync::Arc;

use futures_util::future::join_all;
use truckroll_server::{
    domain::people::Role,
    store::{Store, StoreError},
};
use truckroll_tests::{
    TestDb,
    fixtures::{TenantFixture, new_technician, new_ticket, new_user},
};
use uuid::Uuid;

backend_tests!(
    one_ticket_many_assigners,
    last_slot_many_tickets,
    assignment_rules
);

async fn technician(store: &dyn Store, fixture: &TenantFixture, n: usize, capacity: u32) -> Uuid {
    let user = store
        .create_user(
            fixture.actor(),
            &new_user(&format!("tech{n}@example.com"), Role::Technician),
            "hash",
        )
        .await
        .expect("user");
    let mut new = new_technician(user.id);
    new.capacity = capacity;
    store
        .create_technician(fixture.actor(), &new)
        .await
        .expect("technician")
        .id
}

async fn one_ticket_many_assigners(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let fixture = TenantFixture::create(store.as_ref(), "race").await;
    let ticket = store
        .create_ticket(fixture.actor(), &new_ticket(fixture.site_id, "Contested"))
        .await
        .expect("ticket");
    let mut technicians = Vec::new();
    for n in 0..12 {
        technicians.push(technician(store.as_ref(), &fixture, n, 5).await);
    }
    let attempts = technicians.iter().map(|&technician| {
        let store = store.clone();
        let actor = fixture.actor();
        tokio::spawn(async move {
            store
                .assign_ticket(actor, ticket.id, technician, None)
                .await
        })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    // Every attempt is either the first assign or a reassign after it; the
    // ticket ends with exactly one assignee, and every winner was serialised.
    let winners: Vec<Uuid> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|t| t.assignee_id)
        .collect();
    assert!(!winners.is_empty());
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, StoreError::Conflict(_)),
                "only conflicts may fail: {error:?}"
            );
        }
    }
    let stored = store
        .get_ticket(fixture.tenant_id, ticket.id)
        .await
        .expect("ticket");
    assert_eq!(stored.status.as_str(), "assigned");
    let assignee = stored.assignee_id.expect("assigned");
    let booked: u32 = {
        let mut total = 0;
        for technician in &technicians {
            total += store
                .technician_load(fixture.tenant_id, *technician)
                .await
                .expect("load");
        }
        total
    };
    assert_eq!(
        booked, 1,
        "the ticket counts against exactly one technician ({assignee})"
    );
    let report = store.verify_audit(fixture.tenant_id).await.expect("verify");
    assert!(report.valid, "{report:?}");
}

async fn last_slot_many_tickets(db: &TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let fixture = TenantFixture::create(store.as_ref(), "slot").await;
    let technician = technician(store.as_ref(), &fixture, 0, 3).await;
    // Two slots taken already: one left.
    for n in 0..2 {
        let ticket = store
            .create_ticket(
                fixture.actor(),
                &new_ticket(fixture.site_id, &format!("taken {n}")),
            )
            .await
            .expect("ticket");
        store
            .assign_ticket(fixture.actor(), ticket.id, technician, None)
            .await
            .expect("free slot");
    }
    let mut tickets = Vec::new();
    for n in 0..16 {
        tickets.push(
            store
                .create_ticket(
                    fixture.actor(),
                    &new_ticket(fixture.site_id, &format!("wanted {n}")),
                )
                .await
                .expect("ticket")
                .id,
        );
    }
    let attempts = tickets.iter().map(|&ticket| {
        let store = store.clone();
        let actor = fixture.actor();
        tokio::spawn(async move { store.assign_ticket(actor, ticket, technician, None).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one ticket gets the last slot: {results:?}");
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        match result {
            StoreError::Conflict(reason) => assert!(reason.contains("capacity"), "{reason}"),
            other => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(
        store
            .technician_load(fixture.tenant_id, technician)
            .await
            .expect("load"),
        3
    );
}

async fn assignment_rules(db: &TestDb) {
    let store = db.store.as_ref();
    let fixture = TenantFixture::create(store, "rules").await;
    let ada = technician(store, &fixture, 0, 2).await;
    let bob = technician(store, &fixture, 1, 2).await;
    let ticket = store
        .create_ticket(fixture.actor(), &new_ticket(fixture.site_id, "Boiler"))
        .await
        .expect("ticket");

    let assigned = store
        .assign_ticket(fixture.actor(), ticket.id, ada, None)
        .await
        .expect("assign");
    assert_eq!(
        (assigned.status.as_str(), assigned.assignee_id),
        ("assigned", Some(ada))
    );
    let again = store
        .assign_ticket(fixture.actor(), ticket.id, ada, None)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let moved = store
        .assign_ticket(fixture.actor(), ticket.id, bob, None)
        .await
        .expect("reassign");
    assert_eq!(moved.assignee_id, Some(bob));
    assert_eq!(
        store
            .technician_load(fixture.tenant_id, ada)
            .await
            .expect("load"),
        0
    );

    let unknown = store
        .assign_ticket(fixture.actor(), ticket.id, Uuid::now_v7(), None)
        .await;
    assert!(
        matches!(
            unknown,
            Err(StoreError::Reference {
                field: "technician_id",
                ..
            })
        ),
        "{unknown:?}"
    );
    let other = TenantFixture::create(store, "other").await;
    let foreign = technician(store, &other, 9, 2).await;
    let crossed = store
        .assign_ticket(fixture.actor(), ticket.id, foreign, None)
        .await;
    assert!(
        matches!(crossed, Err(StoreError::Reference { .. })),
        "{crossed:?}"
    );
    let missing = store
        .assign_ticket(fixture.actor(), Uuid::now_v7(), ada, None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("ticket"))),
        "{missing:?}"
    );

    // A closed ticket is no longer assignable.
    let mut closed = moved.clone();
    closed.status = truckroll_sync::Status::Cancelled;
    store
        .update_ticket(fixture.actor(), &moved, &closed, None)
        .await
        .expect("cancel");
    let late = store
        .assign_ticket(fixture.actor(), ticket.id, ada, None)
        .await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    let entries = store
        .list_audit(fixture.tenant_id, 0, 200)
        .await
        .expect("audit");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "ticket.assign")
            .count(),
        2
    );
}
