//! The bus for several replicas: PostgreSQL `LISTEN`/`NOTIFY` on one channel.
//!
//! Every replica publishes with `pg_notify` and listens on the same channel,
//! its own notifications included, so all replicas see one order of events.
//! Position fixes are held for one flush interval, newest per technician,
//! and sent as a few notifications per flush instead of one per ping; every
//! notification is kept under PostgreSQL's 8000-byte payload limit.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use sqlx::{
    PgPool,
    postgres::{PgListener, PgPoolOptions},
};
use tokio::{sync::mpsc, task::JoinHandle};
use uuid::Uuid;

use super::{
    BusMessage, Delivery, Event, EventBus, EventKind, EventsConfig, PositionEvent, Subscription,
    memory::MemoryBus,
};

/// The notification channel every replica listens on.
pub const CHANNEL: &str = "truckroll_events";

/// PostgreSQL refuses payloads of 8000 bytes or more; leave room.
pub const MAX_PAYLOAD_BYTES: usize = 7_500;

/// Events waiting to be sent before publishers start dropping.
const OUTBOX_CAPACITY: usize = 8_192;

/// What one notification carries.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// Publishing replica.
    o: Uuid,
    /// The publisher's number for this event (absent from older releases).
    #[serde(default)]
    n: u64,
    e: Event,
}

/// Positions waiting for the next flush: tenant → technician → newest fix.
type PendingPositions = HashMap<Uuid, HashMap<Uuid, PositionEvent>>;

#[derive(Debug)]
pub struct PgBus {
    replica_id: Uuid,
    local: Arc<MemoryBus>,
    outbox: mpsc::Sender<Event>,
    positions: Arc<Mutex<PendingPositions>>,
    sent: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl PgBus {
    /// Connects a small pool for `NOTIFY` and a listener; starts both tasks.
    pub async fn connect(database_url: &str, config: &EventsConfig) -> Result<Self, sqlx::Error> {
        let replica_id = Uuid::now_v7();
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(database_url)
            .await?;
        let mut listener = PgListener::connect(database_url).await?;
        listener.listen(CHANNEL).await?;
        let local = Arc::new(MemoryBus::new());
        let (outbox, queued) = mpsc::channel(OUTBOX_CAPACITY);
        let positions = Arc::new(Mutex::new(PendingPositions::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let flush = Duration::from_millis(config.position_flush_ms);
        let sender = tokio::spawn(send_loop(
            pool,
            replica_id,
            queued,
            positions.clone(),
            flush,
            sent.clone(),
        ));
        let receiver = tokio::spawn(listen_loop(listener, local.clone()));
        Ok(Self {
            replica_id,
            local,
            outbox,
            positions,
            sent,
            tasks: vec![sender, receiver],
        })
    }

    /// Notifications this replica has sent so far.
    pub fn notifications_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for PgBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EventBus for PgBus {
    fn replica_id(&self) -> Uuid {
        self.replica_id
    }

    fn publish(&self, event: Event) {
        if let EventKind::Positions { fixes } = event.kind {
            let mut pending = self
                .positions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let tenant = pending.entry(event.tenant_id).or_default();
            for fix in fixes {
                match tenant.get(&fix.technician_id) {
                    Some(held) if held.at >= fix.at => {}
                    _ => {
                        tenant.insert(fix.technician_id, fix);
                    }
                }
            }
            return;
        }
        if self.outbox.try_send(event).is_err() {
            // Other replicas miss it: they must rebuild what they derived.
            tracing::warn!("event outbox full; an event was dropped");
            metrics::counter!("truckroll_events_dropped_total").increment(1);
            self.local.deliver(BusMessage::Resync);
        }
    }

    fn subscribe(&self) -> Subscription {
        self.local.subscribe()
    }
}

async fn send_loop(
    pool: PgPool,
    origin: Uuid,
    mut queued: mpsc::Receiver<Event>,
    positions: Arc<Mutex<PendingPositions>>,
    flush: Duration,
    sent: Arc<AtomicU64>,
) {
    let mut numbers = 0_u64;
    let mut ticks = tokio::time::interval(flush);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut payloads = Vec::new();
        tokio::select! {
            event = queued.recv() => {
                let Some(event) = event else { return };
                payloads.extend(encode(origin, &mut numbers, event));
                while let Ok(event) = queued.try_recv() {
                    payloads.extend(encode(origin, &mut numbers, event));
                }
            }
            _ = ticks.tick() => {
                let pending = std::mem::take(
                    &mut *positions.lock().unwrap_or_else(PoisonError::into_inner),
                );
                for (tenant_id, fixes) in pending {
                    payloads.extend(position_payloads(
                        origin,
                        &mut numbers,
                        tenant_id,
                        fixes.into_values(),
                    ));
                }
            }
        }
        if payloads.is_empty() {
            continue;
        }
        let count = payloads.len() as u64;
        // One round trip for the whole batch.
        let result =
            sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
                .bind(CHANNEL)
                .bind(&payloads)
                .execute(&pool)
                .await;
        match result {
            Ok(_) => {
                sent.fetch_add(count, Ordering::Relaxed);
                metrics::counter!("truckroll_event_notifications_total").increment(count);
            }
            Err(error) => tracing::warn!(%error, count, "cannot send event notifications"),
        }
    }
}

/// Numbers the event (from 1, in the order this replica sends: `numbers`
/// is the last number given) and encodes it.
fn encode(origin: Uuid, numbers: &mut u64, event: Event) -> Option<String> {
    *numbers = numbers.saturating_add(1);
    match serde_json::to_string(&Wire {
        o: origin,
        n: *numbers,
        e: event,
    }) {
        Ok(payload) if payload.len() <= MAX_PAYLOAD_BYTES => Some(payload),
        Ok(payload) => {
            // Only position batches have a body, and those are chunked.
            tracing::error!(bytes = payload.len(), "event too large for a notification");
            None
        }
        Err(error) => {
            tracing::error!(%error, "cannot encode an event");
            None
        }
    }
}

/// Position fixes of one tenant as notifications, each under the limit.
fn position_payloads(
    origin: Uuid,
    numbers: &mut u64,
    tenant_id: Uuid,
    fixes: impl Iterator<Item = PositionEvent>,
) -> Vec<String> {
    let mut batch = |fixes: Vec<PositionEvent>| {
        encode(
            origin,
            numbers,
            Event::new(tenant_id, EventKind::Positions { fixes }),
        )
    };
    // Measured with the largest number an event can carry.
    let envelope = encode(
        origin,
        &mut (u64::MAX - 1),
        Event::new(tenant_id, EventKind::Positions { fixes: Vec::new() }),
    )
    .map_or(0, |payload| payload.len());
    let mut payloads = Vec::new();
    let mut chunk = Vec::new();
    let mut size = envelope;
    for fix in fixes {
        // The fix as JSON and its comma.
        let bytes = serde_json::to_string(&fix).map_or(0, |json| json.len()) + 1;
        if size + bytes > MAX_PAYLOAD_BYTES && !chunk.is_empty() {
            payloads.extend(batch(std::mem::take(&mut chunk)));
            size = envelope;
        }
        chunk.push(fix);
        size += bytes;
    }
    if !chunk.is_empty() {
        payloads.extend(batch(chunk));
    }
    payloads
}

async fn listen_loop(mut listener: PgListener, local: Arc<MemoryBus>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match serde_json::from_str::<Wire>(notification.payload()) {
                Ok(wire) => local.deliver(BusMessage::Event(Arc::new(Delivery {
                    origin: wire.o,
                    number: wire.n,
                    event: wire.e,
                }))),
                Err(error) => tracing::warn!(%error, "unreadable event notification"),
            },
            // The connection dropped; the next call reconnects. Whatever was
            // sent meanwhile is lost to this replica.
            Ok(None) => local.deliver(BusMessage::Resync),
            Err(error) => {
                tracing::warn!(%error, "event listener failed; retrying");
                local.deliver(BusMessage::Resync);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn position_batches_fit_a_notification() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .expect("time");
        let fixes = (0..1000).map(|i| PositionEvent {
            technician_id: Uuid::now_v7(),
            lat: -89.123_456_789_012 + f64::from(i) * 1e-9,
            lon: -179.123_456_789_012,
            at: at + chrono::Duration::nanoseconds(123_456_789),
        });
        let payloads = position_payloads(Uuid::now_v7(), &mut 0, Uuid::now_v7(), fixes);
        let mut total = 0;
        for payload in &payloads {
            assert!(payload.len() < 8000, "{} bytes", payload.len());
            let wire: Wire = serde_json::from_str(payload).expect("decodes");
            let EventKind::Positions { fixes } = wire.e.kind else {
                panic!("not positions")
            };
            total += fixes.len();
        }
        assert_eq!(total, 1000);
        assert!(payloads.len() <= 30, "{} notifications", payloads.len());
    }
}
