//! The `LocationStore` contract: ping trails, live positions and the rows
//! the dispatch index is built from. Every test runs on SQLite and on
//! PostgreSQL (`name::sqlite`, `name::postgres`), each in a database of its own.

use chrono::{DateTime, Duration, TimeZone, Utc};
use truckroll_server::{
    domain::{
        location::LocationPing,
        people::{Role, Technician, TechnicianStatus},
        ticket::Ticket,
    },
    store::{StoreError, locations::DispatchRow},
};
use truckroll_sync::{HoldReason, Status};
use truckroll_tests::{
    TestDb,
    fixtures::{PASSWORD_HASH, TenantFixture, new_technician, new_ticket, new_user},
};
use uuid::Uuid;

backend_tests!(
    a_batch_is_stored_in_any_order,
    resent_pings_are_duplicates,
    duplicates_within_one_batch_keep_the_first,
    live_position_only_moves_forward,
    unknown_or_foreign_technicians_write_nothing,
    trail_window_is_half_open_ordered_and_limited,
    trail_is_tenant_scoped,
    prune_deletes_only_older_pings,
    dispatch_rows_cover_every_tenant_with_position_and_load,
    editing_a_technician_keeps_the_live_position,
);

// ---------------------------------------------------------------------------
// Helpers

/// Monday 2026-03-02 08:00:00 UTC: every ping time is an offset from here.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .expect("valid time")
}

fn at_secs(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

fn ping(device_time: DateTime<Utc>, lat: f64, lon: f64) -> LocationPing {
    LocationPing {
        device_time,
        lat,
        lon,
        accuracy_m: 8.5,
        speed_mps: None,
        heading_deg: None,
    }
}

/// A ping that carries speed and heading too.
fn moving(device_time: DateTime<Utc>, lat: f64, lon: f64) -> LocationPing {
    LocationPing {
        speed_mps: Some(13.25),
        heading_deg: Some(271.5),
        ..ping(device_time, lat, lon)
    }
}

/// A technician user and their technician profile in `tenant`.
async fn technician(db: &TestDb, tenant: &TenantFixture, email: &str) -> Technician {
    let store = db.store.as_ref();
    let user = store
        .create_user(
            tenant.actor(),
            &new_user(email, Role::Technician),
            PASSWORD_HASH,
        )
        .await
        .unwrap_or_else(|e| panic!("create user {email}: {e}"));
    store
        .create_technician(tenant.actor(), &new_technician(user.id))
        .await
        .unwrap_or_else(|e| panic!("create technician {email}: {e}"))
}

async fn trail(db: &TestDb, tenant_id: Uuid, technician_id: Uuid) -> Vec<LocationPing> {
    db.store
        .locations(
            tenant_id,
            technician_id,
            t0() - Duration::days(365),
            t0() + Duration::days(365),
            10_000,
        )
        .await
        .expect("trail")
}

/// Rows of `technician_locations` of one technician, counted around the store.
async fn stored_pings(db: &TestDb, technician_id: Uuid) -> i64 {
    let raw = db.raw().await;
    let count = raw
        .scalar_i64(
            "SELECT COUNT(*) FROM technician_locations WHERE technician_id = $1",
            &[technician_id],
        )
        .await;
    raw.close().await;
    count
}

async fn all_stored_pings(db: &TestDb) -> i64 {
    let raw = db.raw().await;
    let count = raw
        .scalar_i64("SELECT COUNT(*) FROM technician_locations", &[])
        .await;
    raw.close().await;
    count
}

async fn dispatch_row(db: &TestDb, technician_id: Uuid) -> DispatchRow {
    db.store
        .dispatch_rows()
        .await
        .expect("dispatch rows")
        .into_iter()
        .find(|row| row.technician.id == technician_id)
        .unwrap_or_else(|| panic!("technician {technician_id} missing from dispatch rows"))
}

/// The live position as the index would be built from it.
async fn live_position(db: &TestDb, technician_id: Uuid) -> Option<(DateTime<Utc>, f64, f64)> {
    dispatch_row(db, technician_id)
        .await
        .last_position
        .map(|p| (p.device_time, p.lat, p.lon))
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Moves `ticket` to `status` with `assignee` through the store (no state machine).
async fn set_status(
    db: &TestDb,
    tenant: &TenantFixture,
    ticket: &Ticket,
    status: Status,
    assignee: Option<Uuid>,
) -> Ticket {
    let mut after = ticket.clone();
    after.status = status;
    after.assignee_id = assignee;
    after.hold_reason = (status == Status::OnHold).then_some(HoldReason::WaitingParts);
    db.store
        .update_ticket(tenant.actor(), ticket, &after, None)
        .await
        .unwrap_or_else(|e| panic!("ticket to {status:?}: {e}"))
}

// ---------------------------------------------------------------------------
// Ingest

async fn a_batch_is_stored_in_any_order(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    assert_eq!(live_position(db, tech.id).await, None, "no ping yet");

    // Hours of buffered pings, sent newest first, with mixed sub-second
    // precision (SQLite keeps times as text: the order must still be by time).
    let pings = [
        moving(at_secs(3 * 3600), 52.53, 13.41),
        ping(at_secs(1) + Duration::microseconds(1), 52.5101, 13.4001),
        moving(at_secs(0) + Duration::milliseconds(500), 52.5005, 13.4005),
        ping(at_secs(1), 52.51, 13.40),
        ping(at_secs(0), 52.50, 13.40),
    ];
    let ingest = store
        .record_locations(a.tenant_id, tech.id, &pings)
        .await
        .expect("record");
    assert_eq!(ingest.stored, 5);
    assert_eq!(ingest.duplicates, 0);
    assert_eq!(ingest.new_position, Some(pings[0]), "the newest ping");

    let mut expected = pings.to_vec();
    expected.sort_by_key(|p| p.device_time);
    assert_eq!(
        trail(db, a.tenant_id, tech.id).await,
        expected,
        "every field round-trips, oldest first"
    );
    assert_eq!(stored_pings(db, tech.id).await, 5);
    let row = dispatch_row(db, tech.id).await;
    let live = row.last_position.expect("live position");
    assert_eq!(
        (live.device_time, live.lat, live.lon, live.accuracy_m),
        (pings[0].device_time, 52.53, 13.41, 8.5)
    );
}

async fn resent_pings_are_duplicates(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    // Nanoseconds are beyond both databases: kept to the microsecond, and the
    // very same ping sent again is still recognised.
    let precise = at_secs(20) + Duration::nanoseconds(123_456_789);
    let batch = [
        ping(at_secs(0), 52.50, 13.40),
        ping(at_secs(10), 52.51, 13.40),
        ping(precise, 52.52, 13.40),
    ];
    let first = store
        .record_locations(a.tenant_id, tech.id, &batch)
        .await
        .expect("first");
    assert_eq!((first.stored, first.duplicates), (3, 0));
    let normalized = at_secs(20) + Duration::microseconds(123_456);
    assert_eq!(
        first.new_position.map(|p| p.device_time),
        Some(normalized),
        "device time kept to the microsecond"
    );

    let again = store
        .record_locations(a.tenant_id, tech.id, &batch)
        .await
        .expect("resend");
    assert_eq!((again.stored, again.duplicates), (0, 3));
    assert_eq!(again.new_position, None);

    // Same device time with other coordinates is still the same ping.
    let overlap = [
        ping(at_secs(10), 10.0, 10.0),
        ping(at_secs(30), 52.53, 13.40),
    ];
    let partly = store
        .record_locations(a.tenant_id, tech.id, &overlap)
        .await
        .expect("overlap");
    assert_eq!((partly.stored, partly.duplicates), (1, 1));
    assert_eq!(partly.new_position, Some(overlap[1]));

    let trail = trail(db, a.tenant_id, tech.id).await;
    let times: Vec<_> = trail.iter().map(|p| p.device_time).collect();
    assert_eq!(times, [at_secs(0), at_secs(10), normalized, at_secs(30)]);
    assert_eq!(
        (trail[1].lat, trail[1].lon),
        (52.51, 13.40),
        "a duplicate never overwrites"
    );
    assert_eq!(stored_pings(db, tech.id).await, 4);
}

async fn duplicates_within_one_batch_keep_the_first(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    // A phone that sends one fix twice (e.g. a retried buffer flush), the
    // newest time twice with different coordinates.
    let batch = [
        ping(at_secs(0), 52.50, 13.40),
        ping(at_secs(60), 52.51, 13.41),
        ping(at_secs(0), 52.50, 13.40),
        ping(at_secs(60), 48.14, 11.58),
    ];
    let ingest = store
        .record_locations(a.tenant_id, tech.id, &batch)
        .await
        .expect("record");
    assert_eq!((ingest.stored, ingest.duplicates), (2, 2));
    let trail = trail(db, a.tenant_id, tech.id).await;
    assert_eq!(
        trail,
        [batch[0], batch[1]],
        "the first of equal times is kept"
    );
    // The live position is the ping the trail holds, not the discarded one.
    assert_eq!(ingest.new_position, Some(batch[1]));
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(60), 52.51, 13.41))
    );
}

async fn live_position_only_moves_forward(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;

    let live = store
        .record_locations(a.tenant_id, tech.id, &[ping(at_secs(7200), 52.52, 13.40)])
        .await
        .expect("live ping");
    assert!(live.new_position.is_some());
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(7200), 52.52, 13.40))
    );

    // A phone comes back online with an hour of older, buffered pings: the
    // trail gets them, the live position stays.
    let buffered: Vec<_> = (0..60)
        .map(|i| ping(at_secs(3600 + i * 60), 52.0 + i as f64 / 100.0, 13.0))
        .collect();
    let late = store
        .record_locations(a.tenant_id, tech.id, &buffered)
        .await
        .expect("buffered");
    assert_eq!((late.stored, late.duplicates), (60, 0));
    assert_eq!(late.new_position, None, "older than the live position");
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(7200), 52.52, 13.40))
    );

    // Same time as the live position, other place: a duplicate, no move.
    let same = store
        .record_locations(a.tenant_id, tech.id, &[ping(at_secs(7200), 1.0, 1.0)])
        .await
        .expect("same time");
    assert_eq!(
        (same.stored, same.duplicates, same.new_position),
        (0, 1, None)
    );
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(7200), 52.52, 13.40))
    );

    // A mixed batch: old and newer pings; the newest one moves it.
    let mixed = [
        ping(at_secs(100), 50.0, 10.0),
        ping(at_secs(7201), 52.60, 13.50),
        ping(at_secs(200), 50.1, 10.1),
    ];
    let moved = store
        .record_locations(a.tenant_id, tech.id, &mixed)
        .await
        .expect("mixed");
    assert_eq!(moved.new_position, Some(mixed[1]));
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(7201), 52.60, 13.50))
    );
    assert_eq!(stored_pings(db, tech.id).await, 1 + 60 + 3);
}

async fn unknown_or_foreign_technicians_write_nothing(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let b = TenantFixture::create(store, "bravo").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    store
        .record_locations(a.tenant_id, tech.id, &[ping(at_secs(0), 52.5, 13.4)])
        .await
        .expect("own ping");

    let batch = [ping(at_secs(60), 1.0, 2.0), ping(at_secs(120), 3.0, 4.0)];
    assert_not_found(
        store
            .record_locations(a.tenant_id, Uuid::now_v7(), &batch)
            .await,
        "unknown technician",
    );
    assert_not_found(
        store.record_locations(b.tenant_id, tech.id, &batch).await,
        "technician of another tenant",
    );
    assert_eq!(all_stored_pings(db).await, 1, "nothing written");
    assert_eq!(
        live_position(db, tech.id).await,
        Some((at_secs(0), 52.5, 13.4)),
        "the live position did not move"
    );
}

// ---------------------------------------------------------------------------
// Trail and retention

async fn trail_window_is_half_open_ordered_and_limited(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    let other = technician(db, &a, "bob@alpha.example").await;
    // One ping a minute for ten minutes, sent shuffled.
    let mut pings: Vec<_> = (0..10)
        .map(|i| ping(at_secs(i * 60), 52.0 + i as f64 / 10.0, 13.0))
        .collect();
    pings.reverse();
    pings.swap(2, 7);
    store
        .record_locations(a.tenant_id, tech.id, &pings)
        .await
        .expect("record");
    // Someone else's pings in the same window never show.
    store
        .record_locations(a.tenant_id, other.id, &[ping(at_secs(150), 1.0, 1.0)])
        .await
        .expect("other");

    let window = |from: i64, to: i64, limit: u32| {
        store.locations(a.tenant_id, tech.id, at_secs(from), at_secs(to), limit)
    };
    let minutes = |trail: Vec<LocationPing>| -> Vec<i64> {
        trail
            .iter()
            .map(|p| (p.device_time - t0()).num_seconds() / 60)
            .collect()
    };
    // [2 min, 5 min): from inclusive, to exclusive.
    assert_eq!(
        minutes(window(120, 300, 100).await.expect("window")),
        [2, 3, 4]
    );
    // Off-grid bounds.
    assert_eq!(
        minutes(window(121, 301, 100).await.expect("window")),
        [3, 4, 5]
    );
    // The limit keeps the oldest.
    assert_eq!(
        minutes(window(0, 600, 4).await.expect("limited")),
        [0, 1, 2, 3]
    );
    assert_eq!(
        minutes(window(0, 3600, 1000).await.expect("all")),
        (0..10).collect::<Vec<_>>()
    );
    assert!(window(-3600, 0, 10).await.expect("before").is_empty());
    assert!(window(600, 3600, 10).await.expect("after").is_empty());
    assert!(window(120, 120, 10).await.expect("empty window").is_empty());
}

async fn trail_is_tenant_scoped(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let b = TenantFixture::create(store, "bravo").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    store
        .record_locations(a.tenant_id, tech.id, &[ping(at_secs(0), 52.5, 13.4)])
        .await
        .expect("record");
    assert_eq!(trail(db, a.tenant_id, tech.id).await.len(), 1);
    assert!(
        trail(db, b.tenant_id, tech.id).await.is_empty(),
        "another tenant reads nothing"
    );
    assert!(trail(db, a.tenant_id, Uuid::now_v7()).await.is_empty());
}

async fn prune_deletes_only_older_pings(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let b = TenantFixture::create(store, "bravo").await;
    let ada = technician(db, &a, "ada@alpha.example").await;
    let bob = technician(db, &b, "bob@bravo.example").await;
    let minutes = |range: std::ops::Range<i64>| -> Vec<LocationPing> {
        range
            .map(|i| ping(at_secs(i * 60), 52.0, 13.0 + i as f64 / 100.0))
            .collect()
    };
    store
        .record_locations(a.tenant_id, ada.id, &minutes(0..10))
        .await
        .expect("ada");
    store
        .record_locations(b.tenant_id, bob.id, &minutes(3..8))
        .await
        .expect("bob");

    assert_eq!(
        store.prune_locations(at_secs(0)).await.expect("prune none"),
        0
    );
    // Retention is for everyone: ada loses minutes 0-4, bob minutes 3-4; the
    // ping exactly at the cut-off stays.
    assert_eq!(store.prune_locations(at_secs(300)).await.expect("prune"), 7);
    let first = |trail: Vec<LocationPing>| trail.first().map(|p| p.device_time);
    assert_eq!(
        first(trail(db, a.tenant_id, ada.id).await),
        Some(at_secs(300))
    );
    assert_eq!(
        first(trail(db, b.tenant_id, bob.id).await),
        Some(at_secs(300))
    );
    assert_eq!(stored_pings(db, ada.id).await, 5);
    assert_eq!(stored_pings(db, bob.id).await, 3);
    assert_eq!(store.prune_locations(at_secs(300)).await.expect("again"), 0);

    // Pruning the whole trail keeps the live position.
    assert_eq!(store.prune_locations(at_secs(3600)).await.expect("all"), 8);
    assert_eq!(all_stored_pings(db).await, 0);
    assert_eq!(
        live_position(db, ada.id).await.map(|(at, _, _)| at),
        Some(at_secs(540))
    );
}

// ---------------------------------------------------------------------------
// What the dispatch index is built from

async fn dispatch_rows_cover_every_tenant_with_position_and_load(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let b = TenantFixture::create(store, "bravo").await;
    let busy = technician(db, &a, "busy@alpha.example").await;
    let idle = technician(db, &a, "idle@alpha.example").await;
    let foreign = technician(db, &b, "far@bravo.example").await;
    assert_eq!(
        store.dispatch_rows().await.expect("rows").len(),
        3,
        "one row per technician"
    );

    store
        .record_locations(a.tenant_id, busy.id, &[ping(at_secs(60), 52.51, 13.39)])
        .await
        .expect("busy ping");
    store
        .record_locations(b.tenant_id, foreign.id, &[ping(at_secs(30), 48.1, 11.5)])
        .await
        .expect("foreign ping");

    // One ticket of `busy` in every status: only the open ones count.
    let open = [
        Status::Assigned,
        Status::Accepted,
        Status::EnRoute,
        Status::OnSite,
        Status::OnHold,
        Status::WorkDone,
    ];
    let not_counted = [Status::New, Status::Closed, Status::Cancelled];
    for (i, status) in open.iter().chain(&not_counted).enumerate() {
        let ticket = store
            .create_ticket(a.actor(), &new_ticket(a.site_id, &format!("job {i}")))
            .await
            .expect("ticket");
        // Even a `new` ticket that names a technician is not their load.
        set_status(db, &a, &ticket, *status, Some(busy.id)).await;
    }
    // Unassigned and other-technician tickets do not count for `busy`.
    let loose = store
        .create_ticket(a.actor(), &new_ticket(a.site_id, "unassigned"))
        .await
        .expect("loose");
    set_status(db, &a, &loose, Status::Cancelled, None).await;
    let foreign_ticket = store
        .create_ticket(b.actor(), &new_ticket(b.site_id, "bravo job"))
        .await
        .expect("foreign ticket");
    set_status(db, &b, &foreign_ticket, Status::Assigned, Some(foreign.id)).await;

    let rows = store.dispatch_rows().await.expect("rows");
    assert_eq!(rows.len(), 3);
    let row = |id: Uuid| {
        rows.iter()
            .find(|r| r.technician.id == id)
            .unwrap_or_else(|| panic!("no row for {id}"))
    };

    let busy_row = row(busy.id);
    assert_eq!(busy_row.technician, busy, "the stored technician");
    assert_eq!(busy_row.load, 6);
    let position = busy_row.last_position.expect("busy position");
    assert_eq!(
        (
            position.device_time,
            position.lat,
            position.lon,
            position.accuracy_m
        ),
        (at_secs(60), 52.51, 13.39, 8.5)
    );

    let idle_row = row(idle.id);
    assert_eq!(idle_row.technician, idle);
    assert_eq!(idle_row.load, 0);
    assert_eq!(idle_row.last_position, None);

    let foreign_row = row(foreign.id);
    assert_eq!(foreign_row.technician.tenant_id, b.tenant_id);
    assert_eq!(foreign_row.load, 1);
    assert_eq!(
        foreign_row.last_position.map(|p| (p.lat, p.lon)),
        Some((48.1, 11.5))
    );

    let load = |tenant: Uuid, technician: Uuid| store.technician_load(tenant, technician);
    assert_eq!(load(a.tenant_id, busy.id).await.expect("busy load"), 6);
    assert_eq!(load(a.tenant_id, idle.id).await.expect("idle load"), 0);
    assert_eq!(load(b.tenant_id, foreign.id).await.expect("foreign"), 1);
    assert_eq!(
        load(b.tenant_id, busy.id).await.expect("cross-tenant"),
        0,
        "another tenant never sees the load"
    );
    assert_eq!(load(a.tenant_id, Uuid::now_v7()).await.expect("unknown"), 0);

    // Closing one open ticket lowers the load in both views.
    let filter = truckroll_server::store::TicketFilter {
        status: Some(Status::WorkDone),
        ..Default::default()
    };
    let done = store
        .list_tickets(
            a.tenant_id,
            &filter,
            truckroll_server::store::PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .expect("work done tickets")
        .items;
    assert_eq!(done.len(), 1);
    set_status(db, &a, &done[0], Status::Closed, Some(busy.id)).await;
    assert_eq!(load(a.tenant_id, busy.id).await.expect("after close"), 5);
    assert_eq!(dispatch_row(db, busy.id).await.load, 5);
}

async fn editing_a_technician_keeps_the_live_position(db: &TestDb) {
    let store = db.store.as_ref();
    let a = TenantFixture::create(store, "alpha").await;
    let tech = technician(db, &a, "ada@alpha.example").await;
    store
        .record_locations(a.tenant_id, tech.id, &[ping(at_secs(60), 52.51, 13.39)])
        .await
        .expect("ping");
    // The ping does not count as an edit of the profile…
    let current = store
        .get_technician(a.tenant_id, tech.id)
        .await
        .expect("get");
    assert_eq!(current, tech, "a ping leaves the profile as it was");
    let mut off = current.clone();
    off.status = TechnicianStatus::OffDuty;
    off.capacity = 2;
    let saved = store
        .update_technician(a.actor(), &current, &off)
        .await
        .expect("optimistic update after a ping");
    // …and an edit of the profile does not lose the position.
    let row = dispatch_row(db, tech.id).await;
    assert_eq!(row.technician, saved);
    assert_eq!(row.technician.status, TechnicianStatus::OffDuty);
    assert_eq!(
        row.last_position.map(|p| (p.device_time, p.lat, p.lon)),
        Some((at_secs(60), 52.51, 13.39))
    );
}
