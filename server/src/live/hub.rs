//! The hub: fan-out of changes to this replica's live-map viewers,
//! coalesced per record.
//!
//! The hub never waits for a viewer: it only writes into each viewer's
//! pending set, where a newer position of a technician (or a newer version
//! of a ticket) replaces the older one. Each viewer's socket task takes the
//! pending set at its own pace, so a slow browser gets fewer, newer updates
//! and ingest never waits for it. Memory per viewer is bounded by the
//! number of technicians and tickets in view.
//!
//! The hub also keeps each watched tenant's recent changes in a bounded
//! ring, numbered, so that a viewer that reconnects with its cursor gets
//! only what it missed (see [`LiveHub::resume`]).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use super::snapshots::SharedSnapshots;
use crate::{domain::geo::GeoPoint, events::EventStamp};

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
    /// `available`, `busy`, `on_break` or `off_duty`.
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
    /// The ticket's version: sent back with an assignment, so a ticket
    /// changed since the map showed it is refused.
    pub updated_at: DateTime<Utc>,
    /// The SLA clocks, as `GET /v1/tickets/{id}` shows them.
    #[schema(value_type = Option<Object>)]
    pub sla: Option<serde_json::Value>,
    /// Closed or cancelled: the map drops it.
    pub closed: bool,
}

/// The tenant's counts whatever the view, sent with every snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct LiveTotals {
    /// Technicians with a known position.
    pub technicians: usize,
    pub open_tickets: usize,
    /// More open tickets exist than a snapshot reads (`live.max_snapshot_tickets`).
    pub open_tickets_capped: bool,
}

/// An offer made, answered or expired.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveOffer {
    pub offer_id: Uuid,
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    pub state: String,
}

/// An SLA warning or breach, as the map shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveSlaNotice {
    pub ticket_id: Uuid,
    /// `response`, `arrival` or `resolution`.
    pub target: String,
    /// `warning` or `breach`.
    pub kind: String,
    /// Percent of the target used; 100 for a breach.
    pub threshold: u8,
    pub due_at: DateTime<Utc>,
}

/// Everything changed since a viewer's last flush.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Delta {
    /// Resume from here after a reconnect (`GET /v1/live?since=`).
    pub cursor: String,
    /// The first message after a resume: the changes missed while away.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    #[schema(value_type = Vec<LiveTechnician>)]
    pub technicians: Vec<Arc<Rendered<LiveTechnician>>>,
    #[schema(value_type = Vec<LiveTicket>)]
    pub tickets: Vec<Arc<Rendered<LiveTicket>>>,
    pub offers: Vec<LiveOffer>,
    pub sla_notices: Vec<LiveSlaNotice>,
    /// Left the viewer's bounds.
    pub gone_technicians: Vec<Uuid>,
    pub gone_tickets: Vec<Uuid>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.technicians.is_empty()
            && self.tickets.is_empty()
            && self.offers.is_empty()
            && self.sla_notices.is_empty()
            && self.gone_technicians.is_empty()
            && self.gone_tickets.is_empty()
    }
}

/// A record with its JSON, rendered once when the change is fanned out, so
/// that sending it to fifty viewers copies bytes instead of serialising it
/// fifty times.
#[derive(Debug)]
pub struct Rendered<T> {
    record: T,
    json: Box<RawValue>,
}

impl<T: Serialize> Rendered<T> {
    /// `None` (logged) when the record cannot be serialised.
    pub fn new(record: T) -> Option<Self> {
        match serde_json::value::to_raw_value(&record) {
            Ok(json) => Some(Self { record, json }),
            Err(error) => {
                tracing::error!(%error, "cannot render a live record");
                None
            }
        }
    }
}

impl<T> std::ops::Deref for Rendered<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.record
    }
}

impl<T> Serialize for Rendered<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// One change as the hub fans it out and keeps it for resuming viewers.
#[derive(Debug, Clone)]
pub enum Change {
    Technician(Arc<Rendered<LiveTechnician>>),
    Ticket(Arc<Rendered<LiveTicket>>),
    Offer(LiveOffer),
    SlaNotice(LiveSlaNotice),
}

#[derive(Debug, Default)]
struct Pending {
    bounds: Option<Bounds>,
    /// The hub sequence of the newest change handed to this viewer
    /// (applied or filtered out).
    seq: u64,
    technicians: HashMap<Uuid, Arc<Rendered<LiveTechnician>>>,
    tickets: HashMap<Uuid, Arc<Rendered<LiveTicket>>>,
    offers: Vec<LiveOffer>,
    sla_notices: Vec<LiveSlaNotice>,
    gone_technicians: HashSet<Uuid>,
    gone_tickets: HashSet<Uuid>,
    /// What the viewer holds, so leaving the bounds can be told.
    shown_technicians: HashSet<Uuid>,
    shown_tickets: HashSet<Uuid>,
    /// Resumed without a snapshot: which tickets the viewer holds is not
    /// known, so a closed ticket in view is always told gone and offers and
    /// notices of any ticket are passed on.
    tickets_unknown: bool,
    /// Events were lost: the viewer needs a fresh snapshot.
    resync: bool,
}

/// Offers (and SLA notices) kept for a viewer between flushes; older ones
/// are dropped (the ticket and technician records still carry the outcome).
const MAX_PENDING_OFFERS: usize = 256;

fn push_bounded<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= MAX_PENDING_OFFERS {
        list.remove(0);
    }
    list.push(item);
}

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
        let seq = pending.seq;
        *pending = Pending {
            bounds: Some(bounds),
            seq,
            ..Pending::default()
        };
    }

    pub fn bounds(&self) -> Bounds {
        self.lock().bounds.unwrap_or(Bounds::WORLD)
    }

    /// The sequence of the newest change this viewer has been handed: a
    /// snapshot loaded after reading it shows at least that much.
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Records what a snapshot showed.
    pub fn shown(&self, technicians: &[LiveTechnician], tickets: &[LiveTicket]) {
        let mut pending = self.lock();
        pending.shown_technicians = technicians.iter().map(|t| t.id).collect();
        pending.shown_tickets = tickets.iter().map(|t| t.id).collect();
        pending.tickets_unknown = false;
        pending.resync = false;
    }

    /// Takes what is pending, with the sequence it reaches; `Err` when a
    /// snapshot is needed instead.
    pub fn take(&self) -> Result<(u64, Delta), NeedsSnapshot> {
        let mut pending = self.lock();
        if pending.resync {
            return Err(NeedsSnapshot);
        }
        let delta = Delta {
            technicians: pending.technicians.drain().map(|(_, t)| t).collect(),
            tickets: pending.tickets.drain().map(|(_, t)| t).collect(),
            offers: std::mem::take(&mut pending.offers),
            sla_notices: std::mem::take(&mut pending.sla_notices),
            gone_technicians: pending.gone_technicians.drain().collect(),
            gone_tickets: pending.gone_tickets.drain().collect(),
            ..Delta::default()
        };
        Ok((pending.seq, delta))
    }

    fn apply(&self, seq: u64, change: &Change) {
        let mut pending = self.lock();
        pending.seq = pending.seq.max(seq);
        let bounds = pending.bounds.unwrap_or(Bounds::WORLD);
        match change {
            Change::Technician(technician) => {
                if bounds.contains(technician.point()) {
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
            Change::Ticket(ticket) => {
                let inside = bounds.contains(ticket.point());
                if inside && !ticket.closed {
                    pending.shown_tickets.insert(ticket.id);
                    pending.gone_tickets.remove(&ticket.id);
                    pending.tickets.insert(ticket.id, ticket.clone());
                } else if pending.shown_tickets.remove(&ticket.id)
                    || (inside && pending.tickets_unknown)
                {
                    pending.tickets.remove(&ticket.id);
                    pending.gone_tickets.insert(ticket.id);
                }
            }
            Change::Offer(offer) => {
                if pending.tickets_unknown || pending.shown_tickets.contains(&offer.ticket_id) {
                    push_bounded(&mut pending.offers, offer.clone());
                }
            }
            Change::SlaNotice(notice) => {
                if pending.tickets_unknown || pending.shown_tickets.contains(&notice.ticket_id) {
                    push_bounded(&mut pending.sla_notices, notice.clone());
                }
            }
        }
    }

    fn resync(&self, seq: u64) {
        let mut pending = self.lock();
        pending.resync = true;
        pending.seq = seq;
    }
}

impl LiveTechnician {
    fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

impl LiveTicket {
    fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// A cursor as a viewer brings it back.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    epoch: Uuid,
    seq: u64,
    stamp: Option<EventStamp>,
}

/// A viewer whose pending changes were lost must be sent a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsSnapshot;

/// How long and how much the hub remembers for resuming viewers.
#[derive(Debug, Clone, Copy)]
pub struct ResumeLimits {
    /// Changes kept per tenant.
    pub changes: usize,
    /// A tenant's changes are kept this long after its last viewer left.
    pub grace: Duration,
}

impl Default for ResumeLimits {
    fn default() -> Self {
        Self {
            changes: 50_000,
            grace: Duration::from_secs(120),
        }
    }
}

/// A change kept for resuming viewers.
#[derive(Debug)]
struct Kept {
    seq: u64,
    /// The bus event it came from: the same on every replica.
    stamp: Option<EventStamp>,
    change: Change,
}

/// One tenant's viewers and recent changes.
#[derive(Debug)]
struct TenantLive {
    viewers: Vec<Arc<Viewer>>,
    /// Recent changes, oldest first, by sequence.
    ring: VecDeque<Kept>,
    /// Every change after this sequence is in `ring`.
    floor: u64,
    /// An event whose changes may be only partly in `ring`, at its front:
    /// the one being fanned out when following began, or one whose older
    /// changes were evicted.
    cut: Option<EventStamp>,
    /// Technicians' positions as last fanned out: what a resumed viewer
    /// holds in view.
    positions: HashMap<Uuid, GeoPoint>,
    /// When the last viewer left.
    idle_since: Option<Instant>,
}

#[derive(Debug, Default)]
struct HubState {
    tenants: HashMap<Uuid, TenantLive>,
    /// Sequence of the newest change, over all tenants.
    seq: u64,
    /// The event of the newest publish, over all tenants.
    last_stamp: Option<EventStamp>,
}

/// Every connected viewer of this replica, by tenant, and the recent
/// changes a reconnecting viewer may have missed.
///
/// Changes are numbered in the order the hub fans them out; a viewer's
/// cursor (`<hub epoch>.<sequence>[.<origin>-<number>]`) names the newest
/// change it has been sent and, when known, the bus event that change came
/// from. A reconnecting viewer that brings its cursor gets the changes after
/// it, newest per record, if this hub still holds all of them; otherwise a
/// snapshot. On another replica (or after a restart) the sequence means
/// nothing, but the event does: every replica receives the bus's events in
/// one order, so a hub that followed the tenant since before that event
/// replays from it.
#[derive(Debug)]
pub struct LiveHub {
    /// Cursors of another process (or an earlier run) never match.
    epoch: Uuid,
    limits: ResumeLimits,
    state: Mutex<HubState>,
    next_id: AtomicU64,
    snapshots: SharedSnapshots,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new(ResumeLimits::default())
    }
}

/// Positions of a tenant's technicians, read when the hub starts following
/// the tenant.
pub type PositionsNow<'a> = &'a dyn Fn(Uuid) -> Vec<(Uuid, GeoPoint)>;

impl LiveHub {
    pub fn new(limits: ResumeLimits) -> Self {
        Self {
            epoch: Uuid::new_v4(),
            limits,
            state: Mutex::default(),
            next_id: AtomicU64::new(0),
            snapshots: SharedSnapshots::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Snapshots shared by the viewers of one view.
    pub fn snapshots(&self) -> &SharedSnapshots {
        &self.snapshots
    }

    /// The sequence of the newest change fanned out.
    pub fn sequence(&self) -> u64 {
        self.lock().seq
    }

    /// The cursor a viewer of `tenant_id` at `seq` resumes from.
    pub fn cursor(&self, tenant_id: Uuid, seq: u64) -> String {
        let state = self.lock();
        // The event of the newest change kept at or before `seq`. Resuming
        // elsewhere replays from that event inclusive: the viewer may have
        // been handed only part of the changes it made.
        let stamp = state.tenants.get(&tenant_id).and_then(|tenant| {
            let end = tenant.ring.partition_point(|kept| kept.seq <= seq);
            tenant
                .ring
                .range(..end)
                .next_back()
                .and_then(|kept| kept.stamp)
        });
        match stamp {
            Some(stamp) => format!(
                "{}.{seq}.{}-{}",
                self.epoch.simple(),
                stamp.origin.simple(),
                stamp.number
            ),
            None => format!("{}.{seq}", self.epoch.simple()),
        }
    }

    fn parse_cursor(cursor: &str) -> Option<Cursor> {
        let mut parts = cursor.split('.');
        let epoch = Uuid::try_parse(parts.next()?).ok()?;
        let seq = parts.next()?.parse().ok()?;
        let stamp = match parts.next() {
            None => None,
            Some(stamp) => {
                let (origin, number) = stamp.split_once('-')?;
                Some(EventStamp {
                    origin: Uuid::try_parse(origin).ok()?,
                    number: number.parse().ok()?,
                })
            }
        };
        parts
            .next()
            .is_none()
            .then_some(Cursor { epoch, seq, stamp })
    }

    fn new_viewer(&self, tenant_id: Uuid, bounds: Bounds, seq: u64) -> Arc<Viewer> {
        Arc::new(Viewer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tenant_id,
            pending: Mutex::new(Pending {
                bounds: Some(bounds),
                seq,
                ..Pending::default()
            }),
        })
    }

    fn tenant<'s>(
        state: &'s mut HubState,
        tenant_id: Uuid,
        positions: PositionsNow<'_>,
    ) -> &'s mut TenantLive {
        let seq = state.seq;
        let cut = state.last_stamp;
        state
            .tenants
            .entry(tenant_id)
            .or_insert_with(|| TenantLive {
                viewers: Vec::new(),
                ring: VecDeque::new(),
                floor: seq,
                cut,
                positions: positions(tenant_id).into_iter().collect(),
                idle_since: None,
            })
    }

    /// Registers a viewer; it receives changes until [`Self::leave`].
    pub fn join(
        &self,
        tenant_id: Uuid,
        bounds: Bounds,
        positions: PositionsNow<'_>,
    ) -> Arc<Viewer> {
        let mut state = self.lock();
        let viewer = self.new_viewer(tenant_id, bounds, state.seq);
        let tenant = Self::tenant(&mut state, tenant_id, positions);
        tenant.viewers.push(viewer.clone());
        tenant.idle_since = None;
        metrics::gauge!("truckroll_live_viewers").increment(1.0);
        viewer
    }

    /// Registers a viewer that held everything up to `cursor` (in
    /// `bounds`) and returns the changes it missed, newest per record.
    /// `None` when they are not all held any more (or the cursor is not
    /// this hub's): the viewer needs a snapshot.
    pub fn resume(
        &self,
        tenant_id: Uuid,
        bounds: Bounds,
        cursor: &str,
        positions: PositionsNow<'_>,
    ) -> (Arc<Viewer>, Option<Delta>) {
        let from = Self::parse_cursor(cursor);
        let mut state = self.lock();
        let now = state.seq;
        let viewer = self.new_viewer(tenant_id, bounds, now);
        let known = state.tenants.contains_key(&tenant_id);
        let tenant = Self::tenant(&mut state, tenant_id, positions);
        tenant.viewers.push(viewer.clone());
        tenant.idle_since = None;
        metrics::gauge!("truckroll_live_viewers").increment(1.0);
        let start = from.filter(|_| known).and_then(|from| {
            if from.epoch == self.epoch {
                (from.seq >= tenant.floor && from.seq <= now)
                    .then(|| tenant.ring.partition_point(|kept| kept.seq <= from.seq))
            } else {
                let stamp = Some(from.stamp?);
                let held = tenant.ring.iter().rposition(|kept| kept.stamp == stamp)?;
                let first = tenant
                    .ring
                    .range(..held)
                    .rposition(|kept| kept.stamp != stamp)
                    .map_or(0, |before| before + 1);
                // At the front, the event may have lost changes.
                (first > 0 || tenant.cut != stamp).then_some(first)
            }
        });
        let Some(start) = start else {
            metrics::counter!("truckroll_live_resumes_total", "outcome" => "snapshot").increment(1);
            return (viewer, None);
        };
        let mut technicians = HashMap::new();
        let mut tickets = HashMap::new();
        let mut delta = Delta {
            replayed: true,
            ..Delta::default()
        };
        for Kept { change, .. } in tenant.ring.range(start..) {
            match change {
                Change::Technician(t) => {
                    technicians.insert(t.id, t.clone());
                }
                Change::Ticket(t) => {
                    tickets.insert(t.id, t.clone());
                }
                Change::Offer(offer) => push_bounded(&mut delta.offers, offer.clone()),
                Change::SlaNotice(notice) => push_bounded(&mut delta.sla_notices, notice.clone()),
            }
        }
        for (id, technician) in technicians {
            if bounds.contains(technician.point()) {
                delta.technicians.push(technician);
            } else {
                delta.gone_technicians.push(id);
            }
        }
        for (id, ticket) in tickets {
            if !bounds.contains(ticket.point()) {
                // Sites do not move: it was never in view.
            } else if ticket.closed {
                delta.gone_tickets.push(id);
            } else {
                delta.tickets.push(ticket);
            }
        }
        {
            let mut pending = viewer.lock();
            pending.shown_technicians = tenant
                .positions
                .iter()
                .filter(|(_, point)| bounds.contains(**point))
                .map(|(id, _)| *id)
                .collect();
            pending.tickets_unknown = true;
        }
        metrics::counter!("truckroll_live_resumes_total", "outcome" => "replayed").increment(1);
        (viewer, Some(delta))
    }

    pub fn leave(&self, viewer: &Viewer) {
        let mut state = self.lock();
        if let Some(tenant) = state.tenants.get_mut(&viewer.tenant_id) {
            tenant.viewers.retain(|v| v.id != viewer.id);
            if tenant.viewers.is_empty() {
                // Kept a while for a viewer that comes back.
                tenant.idle_since = Some(Instant::now());
            }
        }
        metrics::gauge!("truckroll_live_viewers").decrement(1.0);
    }

    /// Connected viewers of every tenant.
    pub fn viewer_count(&self) -> usize {
        self.lock().tenants.values().map(|t| t.viewers.len()).sum()
    }

    /// Whether `tenant_id`'s changes are followed: someone watches, or
    /// watched recently enough to resume.
    pub fn watched(&self, tenant_id: Uuid) -> bool {
        let mut state = self.lock();
        let Some(tenant) = state.tenants.get(&tenant_id) else {
            return false;
        };
        match tenant.idle_since {
            Some(since) if since.elapsed() > self.limits.grace => {
                state.tenants.remove(&tenant_id);
                false
            }
            _ => true,
        }
    }

    /// Hands changes to every viewer of the tenant, in one order, and keeps
    /// them for resuming viewers, with the bus event they came from.
    pub fn publish(&self, tenant_id: Uuid, stamp: Option<EventStamp>, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut state = self.lock();
        let HubState {
            tenants,
            seq,
            last_stamp,
        } = &mut *state;
        *last_stamp = stamp;
        let Some(tenant) = tenants.get_mut(&tenant_id) else {
            return;
        };
        for change in changes {
            *seq += 1;
            if let Change::Technician(technician) = &change {
                tenant.positions.insert(technician.id, technician.point());
            }
            for viewer in &tenant.viewers {
                viewer.apply(*seq, &change);
            }
            tenant.ring.push_back(Kept {
                seq: *seq,
                stamp,
                change,
            });
            while tenant.ring.len() > self.limits.changes {
                if let Some(evicted) = tenant.ring.pop_front() {
                    tenant.floor = evicted.seq;
                    tenant.cut = evicted.stamp;
                }
            }
        }
    }

    pub fn technicians(
        &self,
        tenant_id: Uuid,
        stamp: Option<EventStamp>,
        technicians: Vec<LiveTechnician>,
    ) {
        self.publish(
            tenant_id,
            stamp,
            technicians
                .into_iter()
                .filter_map(|t| Some(Change::Technician(Arc::new(Rendered::new(t)?))))
                .collect(),
        );
    }

    pub fn ticket(&self, tenant_id: Uuid, stamp: Option<EventStamp>, ticket: LiveTicket) {
        if let Some(ticket) = Rendered::new(ticket) {
            self.publish(tenant_id, stamp, vec![Change::Ticket(Arc::new(ticket))]);
        }
    }

    pub fn offer(&self, tenant_id: Uuid, stamp: Option<EventStamp>, offer: LiveOffer) {
        self.publish(tenant_id, stamp, vec![Change::Offer(offer)]);
    }

    pub fn sla_notice(&self, tenant_id: Uuid, stamp: Option<EventStamp>, notice: LiveSlaNotice) {
        self.publish(tenant_id, stamp, vec![Change::SlaNotice(notice)]);
    }

    /// Events were lost: every viewer gets a fresh snapshot at its next
    /// flush, and no cursor from before resumes.
    pub fn resync_all(&self, positions: PositionsNow<'_>) {
        let mut state = self.lock();
        // A step of its own: cursors up to here predate the loss.
        state.seq += 1;
        let seq = state.seq;
        for (tenant_id, tenant) in &mut state.tenants {
            tenant.ring.clear();
            tenant.floor = seq;
            // Resyncs come between events: the next one is whole.
            tenant.cut = None;
            tenant.positions = positions(*tenant_id).into_iter().collect();
            for viewer in &tenant.viewers {
                viewer.resync(seq);
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

    fn nobody(_: Uuid) -> Vec<(Uuid, GeoPoint)> {
        Vec::new()
    }

    const BERLIN: Bounds = Bounds {
        south: 52.3,
        west: 13.0,
        north: 52.7,
        east: 13.8,
    };

    #[test]
    fn positions_coalesce_and_leaving_the_bounds_is_told() {
        let hub = LiveHub::default();
        let tenant = Uuid::now_v7();
        let viewer = hub.join(tenant, BERLIN, &nobody);
        let id = Uuid::now_v7();
        for step in 0..100 {
            let lat = 52.4 + f64::from(step) * 0.001;
            hub.technicians(tenant, None, vec![technician(id, lat, 13.4)]);
        }
        let (seq, delta) = viewer.take().expect("no resync");
        assert_eq!(seq, 100);
        assert_eq!(delta.technicians.len(), 1, "latest wins");
        assert!((delta.technicians[0].lat - 52.499).abs() < 1e-9);
        hub.technicians(tenant, None, vec![technician(id, 48.1, 11.5)]);
        let (_, delta) = viewer.take().expect("no resync");
        assert!(delta.technicians.is_empty());
        assert_eq!(delta.gone_technicians, vec![id]);
        // Unknown and outside: nothing at all, but the cursor moves on.
        hub.technicians(tenant, None, vec![technician(Uuid::now_v7(), 48.1, 11.5)]);
        let (seq, delta) = viewer.take().expect("no resync");
        assert!(delta.is_empty());
        assert_eq!(seq, 102);
    }

    #[test]
    fn other_tenants_see_nothing() {
        let hub = LiveHub::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let viewer_a = hub.join(a, Bounds::WORLD, &nobody);
        let viewer_b = hub.join(b, Bounds::WORLD, &nobody);
        hub.technicians(a, None, vec![technician(Uuid::now_v7(), 1.0, 1.0)]);
        assert!(viewer_b.take().expect("no resync").1.is_empty());
        assert_eq!(viewer_a.take().expect("no resync").1.technicians.len(), 1);
        // A's cursor is no use to B: B's changes are another ring.
        let cursor = hub.cursor(a, viewer_a.seq());
        hub.leave(&viewer_b);
        let (_, replay) = hub.resume(b, Bounds::WORLD, &cursor, &nobody);
        assert!(
            replay
                .expect("b's ring holds everything after it")
                .is_empty()
        );
        hub.resync_all(&nobody);
        assert_eq!(viewer_a.take().err(), Some(NeedsSnapshot));
        let (_, replay) = hub.resume(a, Bounds::WORLD, &cursor, &nobody);
        assert!(replay.is_none(), "lost events: no resume across a resync");
    }

    #[test]
    fn a_resumed_viewer_gets_what_it_missed_newest_per_record() {
        let hub = LiveHub::new(ResumeLimits {
            changes: 8,
            grace: Duration::from_secs(60),
        });
        let tenant = Uuid::now_v7();
        let (stays, leaves, outside) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let known = move |_: Uuid| {
            vec![
                (
                    stays,
                    GeoPoint {
                        lat: 52.5,
                        lon: 13.4,
                    },
                ),
                (
                    leaves,
                    GeoPoint {
                        lat: 52.5,
                        lon: 13.5,
                    },
                ),
            ]
        };
        let viewer = hub.join(tenant, BERLIN, &known);
        hub.technicians(tenant, None, vec![technician(stays, 52.51, 13.4)]);
        let (seq, _) = viewer.take().expect("no resync");
        let cursor = hub.cursor(tenant, seq);
        hub.leave(&viewer);
        assert!(hub.watched(tenant), "kept for the grace period");

        // While away: two moves of one, one leaves the bounds, one outside.
        hub.technicians(tenant, None, vec![technician(stays, 52.52, 13.4)]);
        hub.technicians(tenant, None, vec![technician(stays, 52.53, 13.4)]);
        hub.technicians(tenant, None, vec![technician(leaves, 48.1, 11.5)]);
        let (viewer, replay) = hub.resume(tenant, BERLIN, &cursor, &known);
        let replay = replay.expect("all held");
        assert!(replay.replayed);
        assert_eq!(replay.technicians.len(), 1);
        assert!((replay.technicians[0].lat - 52.53).abs() < 1e-9);
        assert_eq!(replay.gone_technicians, vec![leaves]);
        // From here on, deltas as usual; leaving the bounds is still told.
        hub.technicians(tenant, None, vec![technician(outside, 48.2, 11.6)]);
        hub.technicians(tenant, None, vec![technician(stays, 48.1, 11.5)]);
        let (_, delta) = viewer.take().expect("no resync");
        assert_eq!(delta.gone_technicians, vec![stays]);
        assert!(delta.technicians.is_empty());

        // Too far behind: more changes than the ring keeps.
        let (seq, _) = viewer.take().expect("no resync");
        let cursor = hub.cursor(tenant, seq);
        hub.leave(&viewer);
        for step in 0..9 {
            hub.technicians(
                tenant,
                None,
                vec![technician(stays, 52.4 + f64::from(step) * 0.01, 13.4)],
            );
        }
        let (viewer, replay) = hub.resume(tenant, BERLIN, &cursor, &known);
        assert!(replay.is_none(), "a snapshot, not a partial replay");
        hub.leave(&viewer);
        // Another process's cursor, or nonsense: a snapshot.
        for foreign in [
            format!("{}.3", Uuid::new_v4().simple()),
            "3".into(),
            String::new(),
        ] {
            let (viewer, replay) = hub.resume(tenant, BERLIN, &foreign, &known);
            assert!(replay.is_none(), "{foreign}");
            hub.leave(&viewer);
        }
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

    #[test]
    fn another_replica_resumes_from_the_bus_event() {
        let (here, there) = (LiveHub::default(), LiveHub::default());
        let tenant = Uuid::now_v7();
        let origin = Uuid::now_v7();
        let stamp = |number| Some(EventStamp { origin, number });
        let (moving, other) = (Uuid::now_v7(), Uuid::now_v7());
        // Both replicas follow the tenant and receive the bus's events in one order.
        let viewer = here.join(tenant, BERLIN, &nobody);
        let _watching_there = there.join(tenant, BERLIN, &nobody);
        let late = LiveHub::default();
        for hub in [&here, &there] {
            hub.technicians(tenant, stamp(1), vec![technician(other, 52.4, 13.4)]);
            hub.technicians(tenant, stamp(2), vec![technician(moving, 52.41, 13.4)]);
        }
        let (seq, _) = viewer.take().expect("no resync");
        let cursor = here.cursor(tenant, seq);
        assert!(
            cursor.ends_with(&format!(".{}-2", origin.simple())),
            "{cursor}"
        );
        // Missed while reconnecting; only the second replica hears of it.
        for hub in [&there, &late] {
            let _viewer = hub.join(tenant, BERLIN, &nobody);
            hub.technicians(tenant, stamp(3), vec![technician(moving, 52.42, 13.4)]);
        }
        let (_, replay) = there.resume(tenant, BERLIN, &cursor, &nobody);
        let replay = replay.expect("the other replica holds everything since event 2");
        assert!(replay.replayed);
        let ids: HashSet<Uuid> = replay.technicians.iter().map(|t| t.id).collect();
        assert_eq!(ids, HashSet::from([moving]), "event 2 again and event 3");
        assert!(
            replay
                .technicians
                .iter()
                .all(|t| (t.lat - 52.42).abs() < 1e-9),
            "newest per record"
        );
        // A replica whose ring begins with the event (it began following the
        // tenant between events) holds all of it.
        let between = LiveHub::default();
        let _viewer = between.join(tenant, BERLIN, &nobody);
        between.technicians(tenant, stamp(2), vec![technician(moving, 52.41, 13.4)]);
        between.technicians(tenant, stamp(3), vec![technician(moving, 52.42, 13.4)]);
        assert!(between.resume(tenant, BERLIN, &cursor, &nobody).1.is_some());
        // One whose oldest changes of the event were evicted does not.
        let evicting = LiveHub::new(ResumeLimits {
            changes: 2,
            grace: Duration::from_secs(60),
        });
        let _viewer = evicting.join(tenant, BERLIN, &nobody);
        evicting.technicians(
            tenant,
            stamp(2),
            vec![
                technician(other, 52.4, 13.4),
                technician(moving, 52.41, 13.4),
            ],
        );
        evicting.technicians(tenant, stamp(3), vec![technician(moving, 52.42, 13.4)]);
        assert!(
            evicting
                .resume(tenant, BERLIN, &cursor, &nobody)
                .1
                .is_none()
        );
        // A replica that began following the tenant after event 2 cannot tell
        // what was missed.
        let (_, replay) = late.resume(tenant, BERLIN, &cursor, &nobody);
        assert!(replay.is_none());
        // A cursor without an event (nothing was kept yet) resumes only where
        // it was made.
        let fresh = LiveHub::default();
        let empty = fresh.cursor(tenant, 0);
        assert_eq!(empty.split('.').count(), 2, "{empty}");
        let (_, replay) = there.resume(tenant, BERLIN, &empty, &nobody);
        assert!(replay.is_none());
    }
}
