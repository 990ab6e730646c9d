//! Snapshots shared by the viewers of one view.
//!
//! After a start (or a resync) every dispatcher's map asks for a snapshot at
//! once; with a large fleet each one reads and renders tens of thousands of
//! technicians. A snapshot read after a viewer joined shows at least what
//! that viewer needs (its pending changes cover the rest), so viewers of the
//! same tenant and bounds wait for the one being read instead of reading
//! their own, and take it as rendered JSON.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde_json::value::RawValue;
use uuid::Uuid;

use super::hub::{Bounds, LiveTechnician, LiveTicket, LiveTotals};

/// One view's records, read once.
#[derive(Debug)]
pub struct Snapshot {
    /// The hub's sequence when the read began: the snapshot shows every
    /// change up to it.
    pub seq: u64,
    pub technicians: Vec<LiveTechnician>,
    pub tickets: Vec<LiveTicket>,
    pub totals: LiveTotals,
    /// `technicians` and `tickets` as JSON arrays, rendered once.
    pub technicians_json: Box<RawValue>,
    pub tickets_json: Box<RawValue>,
    read_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct View {
    tenant_id: Uuid,
    bounds: [u64; 4],
}

impl View {
    fn new(tenant_id: Uuid, bounds: Bounds) -> Self {
        Self {
            tenant_id,
            bounds: [
                bounds.south.to_bits(),
                bounds.west.to_bits(),
                bounds.north.to_bits(),
                bounds.east.to_bits(),
            ],
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Snapshot>>>>;

/// Views kept before idle ones are dropped.
const KEPT_VIEWS: usize = 64;
/// An idle view's snapshot is dropped after this long.
const KEPT_FOR: Duration = Duration::from_secs(5);

/// The latest snapshot of each view recently asked for.
#[derive(Debug, Default)]
pub struct SharedSnapshots {
    views: Mutex<HashMap<View, Slot>>,
}

/// Why a snapshot could not be taken: the read failed, or rendering did.
#[derive(Debug)]
pub enum SnapshotError<E> {
    Read(E),
    Render(serde_json::Error),
}

impl SharedSnapshots {
    /// A snapshot of `bounds` showing at least every change up to `seq`:
    /// the newest one already read if it does, else one read now by
    /// `read` (begun at hub sequence `now()`), while other viewers of the
    /// same view wait for it.
    pub async fn get<E, F, Fut>(
        &self,
        tenant_id: Uuid,
        bounds: Bounds,
        seq: u64,
        now: impl Fn() -> u64,
        read: F,
    ) -> Result<Arc<Snapshot>, SnapshotError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Vec<LiveTechnician>, Vec<LiveTicket>, LiveTotals), E>>,
    {
        let slot = self.slot(View::new(tenant_id, bounds));
        let mut held = slot.lock().await;
        if let Some(snapshot) = held.as_ref().filter(|s| s.seq >= seq) {
            metrics::counter!("truckroll_live_snapshots_total", "outcome" => "shared").increment(1);
            return Ok(snapshot.clone());
        }
        let begun = now();
        let (technicians, tickets, totals) = read().await.map_err(SnapshotError::Read)?;
        let technicians_json =
            serde_json::value::to_raw_value(&technicians).map_err(SnapshotError::Render)?;
        let tickets_json =
            serde_json::value::to_raw_value(&tickets).map_err(SnapshotError::Render)?;
        let snapshot = Arc::new(Snapshot {
            seq: begun,
            technicians,
            tickets,
            totals,
            technicians_json,
            tickets_json,
            read_at: Instant::now(),
        });
        *held = Some(snapshot.clone());
        metrics::counter!("truckroll_live_snapshots_total", "outcome" => "read").increment(1);
        Ok(snapshot)
    }

    fn slot(&self, view: View) -> Slot {
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if views.len() >= KEPT_VIEWS && !views.contains_key(&view) {
            // Nobody waiting on it (only the map holds the slot) and old.
            views.retain(|_, slot| {
                if Arc::strong_count(slot) > 1 {
                    return true;
                }
                match slot.try_lock() {
                    Ok(held) => held
                        .as_ref()
                        .is_some_and(|s| s.read_at.elapsed() < KEPT_FOR),
                    // Being read.
                    Err(_) => true,
                }
            });
        }
        views.entry(view).or_default().clone()
    }

    /// Views currently kept.
    pub fn len(&self) -> usize {
        self.views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn totals() -> LiveTotals {
        LiveTotals {
            technicians: 0,
            open_tickets: 0,
            open_tickets_capped: false,
        }
    }

    #[tokio::test]
    async fn viewers_of_one_view_share_a_read_that_is_new_enough() {
        let shared = Arc::new(SharedSnapshots::default());
        let tenant = Uuid::now_v7();
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| async move {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>((Vec::new(), Vec::new(), totals()))
        };
        // Ten viewers that joined at sequence 5 ask at once; the hub is at 7.
        let mut asks = Vec::new();
        for _ in 0..10 {
            let (shared, reads) = (shared.clone(), reads.clone());
            asks.push(tokio::spawn(async move {
                shared
                    .get(tenant, Bounds::WORLD, 5, || 7, || read(reads))
                    .await
                    .map(|s| s.seq)
                    .ok()
            }));
        }
        for ask in asks {
            assert_eq!(ask.await.expect("joined"), Some(7));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one read for ten viewers");
        // A viewer that joined after that read needs a newer one.
        let seq = shared
            .get(tenant, Bounds::WORLD, 8, || 9, || read(reads.clone()))
            .await
            .map(|s| s.seq)
            .ok();
        assert_eq!(seq, Some(9));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // Another view, or another tenant, is read on its own.
        let other = Bounds {
            south: 1.0,
            west: 1.0,
            north: 2.0,
            east: 2.0,
        };
        let _ = shared
            .get(tenant, other, 0, || 9, || read(reads.clone()))
            .await;
        let _ = shared
            .get(
                Uuid::now_v7(),
                Bounds::WORLD,
                0,
                || 9,
                || read(reads.clone()),
            )
            .await;
        assert_eq!(reads.load(Ordering::SeqCst), 4);
        // A failed read is not kept.
        let failed = shared
            .get(
                tenant,
                other,
                100,
                || 100,
                || async { Err::<(Vec<LiveTechnician>, Vec<LiveTicket>, LiveTotals), _>("down") },
            )
            .await;
        assert!(matches!(failed, Err(SnapshotError::Read("down"))));
        assert_eq!(shared.len(), 3);
    }
}
