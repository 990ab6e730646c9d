//! Fan-out of events to live-map viewers, coalesced per record.
//!
//! The hub never waits for a viewer: it only writes into each viewer's
//! pending set, where a newer position of a technician (or a newer version
//! of a ticket) replaces the older one. Each viewer's socket task takes the
//! pending set at its own pace, so a slow browser gets fewer, newer updates
//! and ingest never waits for it. Memory per viewer is bounded by the
//! number of technicians and tickets in view.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::geo::GeoPoint;

/// A map viewport. `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Bounds {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl Bounds {
    pub const WORLD: Bounds = Bounds {
        south: -90.0,
        west: -180.0,
        north: 90.0,
        east: 180.0,
    };

    pub fn contains(&self, point: GeoPoint) -> bool {
        let lat_ok = point.lat >= self.south && point.lat <= self.north;
        let lon_ok = if self.west <= self.east {
            point.lon >= self.west && point.lon <= self.east
        } else {
            point.lon >= self.west || point.lon <= self.east
        };
        lat_ok && lon_ok
    }

    /// `None` when a coordinate is out of range or south is above north.
    pub fn validated(self) -> Option<Self> {
        let lat = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        let lon = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
        (lat(self.south)
            && lat(self.north)
            && lon(self.west)
            && lon(self.east)
            && self.south <= self.north)
            .then_some(self)
    }
}

/// A technician as the map shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveTechnician {
    pub id: Uuid,
    pub name: Option<String>,
    /// `available`, `busy` or `off_duty`.
    pub status: String,
    pub lat: f64,
    pub lon: f64,
    /// Device time of the position; absent while the home base stands in.
    pub at: Option<DateTime<Utc>>,
    pub load: u32,
    pub capacity: u32,
}

/// An open ticket as the map shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveTicket {
    pub id: Uuid,
    pub number: String,
    pub title: String,
    pub category: String,
    /// `P1` (most urgent) to `P4`.
    pub priority: String,
    pub status: String,
    pub assignee_id: Option<Uuid>,
    pub lat: f64,
    pub lon: f64,
    pub created_at: DateTime<Utc>,
    /// The SLA clocks, as `GET /v1/tickets/{id}` shows them.
    #[schema(value_type = Option<Object>)]
    pub sla: Option<serde_json::Value>,
    /// Closed or cancelled: the map drops it.
    pub closed: bool,
}

/// An offer made, answered or expired.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveOffer {
    pub offer_id: Uuid,
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    pub state: String,
}

/// Everything changed since a viewer's last flush.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Delta {
    pub technicians: Vec<LiveTechnician>,
    pub tickets: Vec<LiveTicket>,
    pub offers: Vec<LiveOffer>,
    /// Left the viewer's bounds.
    pub gone_technicians: Vec<Uuid>,
    pub gone_tickets: Vec<Uuid>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.technicians.is_empty()
            && self.tickets.is_empty()
            && self.offers.is_empty()
            && self.gone_technicians.is_empty()
            && self.gone_tickets.is_empty()
    }
}

#[derive(Debug, Default)]
struct Pending {
    bounds: Option<Bounds>,
    technicians: HashMap<Uuid, LiveTechnician>,
    tickets: HashMap<Uuid, LiveTicket>,
    offers: Vec<LiveOffer>,
    gone_technicians: HashSet<Uuid>,
    gone_tickets: HashSet<Uuid>,
    /// What the viewer holds, so leaving the bounds can be told.
    shown_technicians: HashSet<Uuid>,
    shown_tickets: HashSet<Uuid>,
    /// Events were lost: the viewer needs a fresh snapshot.
    resync: bool,
}

/// Offers kept for a viewer between flushes; older ones are dropped (the
/// ticket and technician records still carry the outcome).
const MAX_PENDING_OFFERS: usize = 256;

/// One connected map.
#[derive(Debug)]
pub struct Viewer {
    pub id: u64,
    pub tenant_id: Uuid,
    pending: Mutex<Pending>,
}

impl Viewer {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// New bounds: everything pending is dropped, a snapshot follows.
    pub fn set_bounds(&self, bounds: Bounds) {
        let mut pending = self.lock();
        *pending = Pending {
            bounds: Some(bounds),
            ..Pending::default()
        };
    }

    pub fn bounds(&self) -> Bounds {
        self.lock().bounds.unwrap_or(Bounds::WORLD)
    }

    /// Records what a snapshot showed.
    pub fn shown(&self, technicians: &[LiveTechnician], tickets: &[LiveTicket]) {
        let mut pending = self.lock();
        pending.shown_technicians = technicians.iter().map(|t| t.id).collect();
        pending.shown_tickets = tickets.iter().map(|t| t.id).collect();
        pending.resync = false;
    }

    /// Takes what is pending; `Err(())` when a snapshot is needed instead.
    pub fn take(&self) -> Result<Delta, NeedsSnapshot> {
        let mut pending = self.lock();
        if pending.resync {
            return Err(NeedsSnapshot);
        }
        Ok(Delta {
            technicians: pending.technicians.drain().map(|(_, t)| t).collect(),
            tickets: pending.tickets.drain().map(|(_, t)| t).collect(),
            offers: std::mem::take(&mut pending.offers),
            gone_technicians: pending.gone_technicians.drain().collect(),
            gone_tickets: pending.gone_tickets.drain().collect(),
        })
    }

    fn technician(&self, technician: &LiveTechnician) {
        let mut pending = self.lock();
        let bounds = pending.bounds.unwrap_or(Bounds::WORLD);
        let point = GeoPoint {
            lat: technician.lat,
            lon: technician.lon,
        };
        if bounds.contains(point) {
            pending.shown_technicians.insert(technician.id);
            pending.gone_technicians.remove(&technician.id);
            pending
                .technicians
                .insert(technician.id, technician.clone());
        } else if pending.shown_technicians.remove(&technician.id) {
            pending.technicians.remove(&technician.id);
            pending.gone_technicians.insert(technician.id);
        }
    }

    fn ticket(&self, ticket: &LiveTicket) {
        let mut pending = self.lock();
        let bounds = pending.bounds.unwrap_or(Bounds::WORLD);
        let point = GeoPoint {
            lat: ticket.lat,
            lon: ticket.lon,
        };
        if bounds.contains(point) && !ticket.closed {
            pending.shown_tickets.insert(ticket.id);
            pending.gone_tickets.remove(&ticket.id);
            pending.tickets.insert(ticket.id, ticket.clone());
        } else if pending.shown_tickets.remove(&ticket.id) {
            pending.tickets.remove(&ticket.id);
            pending.gone_tickets.insert(ticket.id);
        }
    }

    fn offer(&self, offer: &LiveOffer) {
        let mut pending = self.lock();
        if pending.shown_tickets.contains(&offer.ticket_id) {
            if pending.offers.len() >= MAX_PENDING_OFFERS {
                pending.offers.remove(0);
            }
            pending.offers.push(offer.clone());
        }
    }

    fn resync(&self) {
        self.lock().resync = true;
    }
}

/// A viewer whose pending changes were lost must be sent a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsSnapshot;

/// Every connected viewer of this replica, by tenant.
#[derive(Debug, Default)]
pub struct LiveHub {
    viewers: Mutex<HashMap<Uuid, Vec<Arc<Viewer>>>>,
    next_id: AtomicU64,
}

impl LiveHub {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Vec<Arc<Viewer>>>> {
        self.viewers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a viewer; it receives changes until [`Self::leave`].
    pub fn join(&self, tenant_id: Uuid, bounds: Bounds) -> Arc<Viewer> {
        let viewer = Arc::new(Viewer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tenant_id,
            pending: Mutex::new(Pending {
                bounds: Some(bounds),
                ..Pending::default()
            }),
        });
        self.lock()
            .entry(tenant_id)
            .or_default()
            .push(viewer.clone());
        metrics::gauge!("truckroll_live_viewers").increment(1.0);
        viewer
    }

    pub fn leave(&self, viewer: &Viewer) {
        let mut viewers = self.lock();
        if let Some(list) = viewers.get_mut(&viewer.tenant_id) {
            list.retain(|v| v.id != viewer.id);
            if list.is_empty() {
                viewers.remove(&viewer.tenant_id);
            }
        }
        metrics::gauge!("truckroll_live_viewers").decrement(1.0);
    }

    /// Connected viewers of every tenant.
    pub fn viewer_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Whether anyone of `tenant_id` is watching (records need loading).
    pub fn watched(&self, tenant_id: Uuid) -> bool {
        self.lock().contains_key(&tenant_id)
    }

    fn tenant_viewers(&self, tenant_id: Uuid) -> Vec<Arc<Viewer>> {
        self.lock().get(&tenant_id).cloned().unwrap_or_default()
    }

    pub fn technicians(&self, tenant_id: Uuid, technicians: &[LiveTechnician]) {
        for viewer in self.tenant_viewers(tenant_id) {
            for technician in technicians {
                viewer.technician(technician);
            }
        }
    }

    pub fn ticket(&self, tenant_id: Uuid, ticket: &LiveTicket) {
        for viewer in self.tenant_viewers(tenant_id) {
            viewer.ticket(ticket);
        }
    }

    pub fn offer(&self, tenant_id: Uuid, offer: &LiveOffer) {
        for viewer in self.tenant_viewers(tenant_id) {
            viewer.offer(offer);
        }
    }

    /// Every viewer gets a fresh snapshot at its next flush.
    pub fn resync_all(&self) {
        for viewers in self.lock().values() {
            for viewer in viewers {
                viewer.resync();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn technician(id: Uuid, lat: f64, lon: f64) -> LiveTechnician {
        LiveTechnician {
            id,
            name: None,
            status: "available".into(),
            lat,
            lon,
            at: None,
            load: 0,
            capacity: 1,
        }
    }

    #[test]
    fn positions_coalesce_and_leaving_the_bounds_is_told() {
        let hub = LiveHub::new();
        let tenant = Uuid::now_v7();
        let berlin = Bounds {
            south: 52.3,
            west: 13.0,
            north: 52.7,
            east: 13.8,
        };
        let viewer = hub.join(tenant, berlin);
        let id = Uuid::now_v7();
        for step in 0..100 {
            let lat = 52.4 + f64::from(step) * 0.001;
            hub.technicians(tenant, &[technician(id, lat, 13.4)]);
        }
        let delta = viewer.take().expect("no resync");
        assert_eq!(delta.technicians.len(), 1, "latest wins");
        assert!((delta.technicians[0].lat - 52.499).abs() < 1e-9);
        hub.technicians(tenant, &[technician(id, 48.1, 11.5)]);
        let delta = viewer.take().expect("no resync");
        assert!(delta.technicians.is_empty());
        assert_eq!(delta.gone_technicians, vec![id]);
        // Unknown and outside: nothing at all.
        hub.technicians(tenant, &[technician(Uuid::now_v7(), 48.1, 11.5)]);
        assert!(viewer.take().expect("no resync").is_empty());
    }

    #[test]
    fn other_tenants_see_nothing() {
        let hub = LiveHub::new();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let viewer_b = hub.join(b, Bounds::WORLD);
        hub.technicians(a, &[technician(Uuid::now_v7(), 1.0, 1.0)]);
        assert!(viewer_b.take().expect("no resync").is_empty());
        hub.resync_all();
        assert_eq!(viewer_b.take().err(), Some(NeedsSnapshot));
    }

    #[test]
    fn bounds_across_the_antimeridian() {
        let pacific = Bounds {
            south: -30.0,
            west: 170.0,
            north: 10.0,
            east: -170.0,
        };
        assert!(pacific.contains(GeoPoint {
            lat: 0.0,
            lon: 179.5
        }));
        assert!(pacific.contains(GeoPoint {
            lat: 0.0,
            lon: -175.0
        }));
        assert!(!pacific.contains(GeoPoint { lat: 0.0, lon: 0.0 }));
        assert!(
            Bounds {
                south: 10.0,
                north: -10.0,
                ..Bounds::WORLD
            }
            .validated()
            .is_none()
        );
    }
}
