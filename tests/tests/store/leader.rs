//! Leader leases: exactly one of several processes on one PostgreSQL database
//! leads a job, and leadership moves when the leader goes away. On SQLite
//! the single process always leads.

use std::{sync::Arc, time::Duration};

use truckroll_server::{
    leader::{LeaderConfig, Leadership},
    store::{Store, postgres::PgStore},
};
use truckroll_tests::TestDb;

const FAST: LeaderConfig = LeaderConfig { retry_ms: 20 };

/// Polls `condition` every 10 ms, failing after a generous cap.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

async fn second_store(db: &TestDb) -> Arc<dyn Store> {
    Arc::new(
        PgStore::connect(db.database_url(), 2)
            .await
            .expect("second connection pool"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_is_exclusive_until_released() {
    let db = TestDb::postgres().await;
    let other = second_store(&db).await;
    let held = db
        .store
        .try_acquire_lease("sla")
        .await
        .expect("query")
        .expect("first taker gets the lease");
    assert!(
        other
            .try_acquire_lease("sla")
            .await
            .expect("query")
            .is_none(),
        "a second process must not get a held lease"
    );
    let offers = other
        .try_acquire_lease("offers")
        .await
        .expect("query")
        .expect("another job's lease is independent");
    held.release().await;
    let mut taken = other
        .try_acquire_lease("sla")
        .await
        .expect("query")
        .expect("released lease is free");
    assert!(taken.still_held().await);
    offers.release().await;
    taken.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leadership_moves_when_the_leader_stops_or_dies() {
    let db = TestDb::postgres().await;
    let other = second_store(&db).await;
    let first = Leadership::start(db.store.clone(), "sla", &FAST);
    eventually("first replica leads", || first.is_leader()).await;
    let second = Leadership::start(other.clone(), "sla", &FAST);
    // Several retry periods pass: the second never leads while the first does.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(first.is_leader() && !second.is_leader(), "two leaders");
    }
    first.stop().await;
    eventually("second replica takes over", || second.is_leader()).await;

    // A leader that dies without releasing (its task aborted, connection
    // dropped) also hands over once PostgreSQL notices the closed session.
    let third = Leadership::start(db.store.clone(), "sla", &FAST);
    let mut changes = second.subscribe();
    drop(second);
    while changes.changed().await.is_ok() {}
    assert!(
        !*changes.borrow(),
        "a dropped leadership stops reporting leadership"
    );
    eventually("third replica takes over from the dead one", || {
        third.is_leader()
    })
    .await;
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_process_always_leads() {
    let db = TestDb::sqlite().await;
    let one = Leadership::start(db.store.clone(), "sla", &FAST);
    let two = Leadership::start(db.store.clone(), "offers", &FAST);
    eventually("sqlite leads", || one.is_leader() && two.is_leader()).await;
    one.stop().await;
    two.stop().await;
}
