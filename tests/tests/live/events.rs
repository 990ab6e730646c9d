//! The event bus on its own: tenant routing, and the PostgreSQL bus between
//! two replicas (two buses on one database), with position batching.

use std::sync::Arc;

use chrono::Utc;
use truckroll_server::{
    domain::sla::SlaTarget,
    events::{
        BusMessage, Event, EventBus, EventKind, EventsBackend, EventsConfig, PositionEvent,
        TenantEvents, memory::MemoryBus, postgres::PgBus,
    },
    store::sla_timers::NoticeKind,
};
use truckroll_tests::{live::PATIENCE, postgres_store};
use uuid::Uuid;

fn ticket_event(tenant_id: Uuid) -> Event {
    Event::new(
        tenant_id,
        EventKind::TicketCreated {
            ticket_id: Uuid::now_v7(),
        },
    )
}

fn sla_event(tenant_id: Uuid) -> Event {
    Event::new(
        tenant_id,
        EventKind::SlaNotice {
            ticket_id: Uuid::now_v7(),
            target: SlaTarget::Arrival,
            kind: NoticeKind::Breach,
            threshold: 100,
            due_at: Utc::now(),
        },
    )
}

async fn next_event(events: &mut TenantEvents) -> Arc<truckroll_server::events::Delivery> {
    match tokio::time::timeout(PATIENCE, events.recv()).await {
        Ok(Some(BusMessage::Event(delivery))) => delivery,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Publishes a mix of both tenants' events; each tenant's subscriber gets
/// exactly its own, in order.
async fn only_own_tenant(bus: &dyn EventBus) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut for_a = TenantEvents::new(bus, a);
    let mut for_b = TenantEvents::new(bus, b);
    // Ticket events and SLA notices (typed fields that must survive the wire).
    let sent: Vec<Event> = (0..20)
        .map(|i| {
            let tenant = if i % 3 == 0 { a } else { b };
            if i % 4 == 0 {
                sla_event(tenant)
            } else {
                ticket_event(tenant)
            }
        })
        .collect();
    for event in &sent {
        bus.publish(event.clone());
    }
    for (tenant, events) in [(a, &mut for_a), (b, &mut for_b)] {
        for expected in sent.iter().filter(|e| e.tenant_id == tenant) {
            let delivery = next_event(events).await;
            assert_eq!(&delivery.event, expected);
            assert_eq!(delivery.origin, bus.replica_id());
        }
    }
    // Nothing else is waiting for either.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(200), for_a.recv()).await;
    assert!(quiet.is_err(), "an extra event for a: {quiet:?}");
}

#[tokio::test]
async fn memory_bus_routes_by_tenant() {
    only_own_tenant(&MemoryBus::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bus_routes_by_tenant() {
    let (_store, db) = postgres_store().await;
    let config = EventsConfig {
        backend: EventsBackend::Postgres,
        position_flush_ms: 50,
    };
    let bus = PgBus::connect(db.database_url(), &config)
        .await
        .expect("bus");
    only_own_tenant(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bus_batches_positions_between_replicas() {
    let (_store, db) = postgres_store().await;
    let config = EventsConfig {
        backend: EventsBackend::Postgres,
        position_flush_ms: 50,
    };
    let one = PgBus::connect(db.database_url(), &config)
        .await
        .expect("bus one");
    let two = PgBus::connect(db.database_url(), &config)
        .await
        .expect("bus two");
    let tenant = Uuid::now_v7();
    let mut on_two = TenantEvents::new(&two, tenant);

    // 2000 pings of 500 technicians, four each: the newest of each arrives.
    let technicians: Vec<Uuid> = (0..500).map(|_| Uuid::now_v7()).collect();
    let start = Utc::now();
    for step in 0..4 {
        for (i, technician_id) in technicians.iter().enumerate() {
            one.publish(Event::new(
                tenant,
                EventKind::Positions {
                    fixes: vec![PositionEvent {
                        technician_id: *technician_id,
                        lat: 52.0 + i as f64 * 1e-4,
                        lon: 13.0 + f64::from(step),
                        at: start + chrono::Duration::milliseconds(i64::from(step)),
                    }],
                },
            ));
        }
    }
    // Another tenant's and a ticket event in between.
    one.publish(ticket_event(Uuid::now_v7()));

    let mut newest = std::collections::HashMap::new();
    while newest.len() < technicians.len()
        || newest.values().any(|lon: &f64| (*lon - 16.0).abs() > 1e-9)
    {
        let delivery = next_event(&mut on_two).await;
        assert_eq!(delivery.origin, one.replica_id());
        let EventKind::Positions { fixes } = &delivery.event.kind else {
            panic!("unexpected {:?}", delivery.event)
        };
        for fix in fixes {
            newest.insert(fix.technician_id, fix.lon);
        }
    }
    let sent = one.notifications_sent();
    // 2000 pings would be 2000 notifications unbatched; each notification
    // carries dozens of fixes.
    assert!(sent <= 200, "{sent} notifications for 2000 pings");
    assert_eq!(two.notifications_sent(), 0);
}
