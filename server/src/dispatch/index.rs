//! The live technician index.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use rstar::{AABB, PointDistance, RTree, RTreeObject};
use uuid::Uuid;

use super::{
    query::{Candidate, IndexError, NearestQuery, PositionFix, PositionUpdate, TechnicianEntry},
    schedule::Schedule,
    sphere::{self, UnitVector},
};

/// A technician's position in a tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    at: UnitVector,
    id: Uuid,
}

impl RTreeObject for Node {
    type Envelope = AABB<UnitVector>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.at)
    }
}

impl PointDistance for Node {
    fn distance_2(&self, point: &UnitVector) -> f64 {
        sphere::chord_squared(&self.at, point)
    }
}

/// A technician as held: the entry and its shifts, parsed.
struct Slot {
    entry: TechnicianEntry,
    schedule: Schedule,
}

impl Slot {
    fn new(entry: TechnicianEntry) -> Self {
        Self {
            schedule: Schedule::new(&entry.shifts, &entry.time_zone),
            entry,
        }
    }
}

#[derive(Default)]
struct Shard {
    technicians: HashMap<Uuid, Slot>,
    all: RTree<Node>,
    by_skill: HashMap<String, RTree<Node>>,
}

impl Shard {
    /// Builds the trees in bulk (much faster than one insert at a time).
    fn bulk(technicians: HashMap<Uuid, TechnicianEntry>) -> Self {
        let mut all = Vec::new();
        let mut by_skill: HashMap<String, Vec<Node>> = HashMap::new();
        for entry in technicians.values() {
            let Some(position) = entry.position else {
                continue;
            };
            let node = Node {
                at: sphere::unit_vector(position.point),
                id: entry.id,
            };
            all.push(node);
            for skill in &entry.skills {
                by_skill.entry(skill.skill.clone()).or_default().push(node);
            }
        }
        Self {
            technicians: technicians
                .into_iter()
                .map(|(id, entry)| (id, Slot::new(entry)))
                .collect(),
            all: RTree::bulk_load(all),
            by_skill: by_skill
                .into_iter()
                .map(|(skill, nodes)| (skill, RTree::bulk_load(nodes)))
                .collect(),
        }
    }

    fn insert_nodes(&mut self, entry: &TechnicianEntry) {
        let Some(position) = entry.position else {
            return;
        };
        let node = Node {
            at: sphere::unit_vector(position.point),
            id: entry.id,
        };
        self.all.insert(node);
        for skill in &entry.skills {
            match self.by_skill.get_mut(&skill.skill) {
                Some(tree) => tree.insert(node),
                None => {
                    self.by_skill
                        .insert(skill.skill.clone(), RTree::bulk_load(vec![node]));
                }
            }
        }
    }

    fn remove_nodes(&mut self, entry: &TechnicianEntry) {
        let Some(position) = entry.position else {
            return;
        };
        // The same function of the same stored position: bit-identical.
        let node = Node {
            at: sphere::unit_vector(position.point),
            id: entry.id,
        };
        self.all.remove(&node);
        for skill in &entry.skills {
            let Some(tree) = self.by_skill.get_mut(&skill.skill) else {
                continue;
            };
            tree.remove(&node);
            if tree.size() == 0 {
                self.by_skill.remove(&skill.skill);
            }
        }
    }

    fn put(&mut self, entry: TechnicianEntry) {
        if let Some(old) = self.technicians.remove(&entry.id) {
            self.remove_nodes(&old.entry);
        }
        self.insert_nodes(&entry);
        self.technicians.insert(entry.id, Slot::new(entry));
    }

    fn take(&mut self, id: Uuid) -> Option<TechnicianEntry> {
        let old = self.technicians.remove(&id)?;
        self.remove_nodes(&old.entry);
        Some(old.entry)
    }

    /// Moves a technician: out of its trees, new position, back in.
    fn relocate(&mut self, id: Uuid, fix: PositionFix) {
        let Some(mut slot) = self.technicians.remove(&id) else {
            return;
        };
        self.remove_nodes(&slot.entry);
        slot.entry.position = Some(fix);
        self.insert_nodes(&slot.entry);
        self.technicians.insert(id, slot);
    }

    fn nearest(&self, query: &NearestQuery<'_>) -> Vec<Candidate> {
        let tree = if query.required.is_empty() {
            &self.all
        } else {
            let mut rarest = None;
            for required in query.required {
                let Some(tree) = self.by_skill.get(&required.skill) else {
                    return Vec::new(); // nobody has this skill
                };
                if rarest.is_none_or(|r: &RTree<Node>| tree.size() < r.size()) {
                    rarest = Some(tree);
                }
            }
            let Some(tree) = rarest else {
                return Vec::new();
            };
            tree
        };

        let target = sphere::unit_vector(query.point);
        let mut hits: Vec<(f64, &TechnicianEntry)> = Vec::with_capacity(query.k);
        let mut cutoff = None;
        for (node, distance_2) in tree.nearest_neighbor_iter_with_distance_2(target) {
            if cutoff.is_some_and(|cutoff| distance_2 > cutoff) {
                break;
            }
            let Some(Slot { entry, schedule }) = self.technicians.get(&node.id) else {
                continue; // unreachable: trees only hold indexed technicians
            };
            if query.accepts(entry, |_| schedule.is_on(query.now)) {
                hits.push((distance_2, entry));
                if cutoff.is_none() && hits.len() == query.k {
                    // Keep collecting only exact ties with the k-th.
                    cutoff = Some(distance_2);
                }
            }
        }
        hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        hits.truncate(query.k);
        hits.into_iter()
            .filter_map(|(_, entry)| Some(query.candidate(entry, entry.position?)))
            .collect()
    }
}

impl Shard {
    /// Like [`Self::nearest`], but only among `ids`: each is looked up by id
    /// and checked, O(|ids|) with no tree walk — for a query whose filter
    /// only a few known technicians pass (the holders of a rare part), where
    /// a filtered walk would visit most of the tenant.
    fn nearest_among(&self, query: &NearestQuery<'_>, ids: &[Uuid]) -> Vec<Candidate> {
        let target = sphere::unit_vector(query.point);
        let mut hits: Vec<(f64, &TechnicianEntry)> = ids
            .iter()
            .filter_map(|id| self.technicians.get(id))
            .filter(|slot| query.accepts(&slot.entry, |_| slot.schedule.is_on(query.now)))
            .filter_map(|slot| {
                let point = sphere::unit_vector(slot.entry.position?.point);
                Some((sphere::chord_squared(&point, &target), &slot.entry))
            })
            .collect();
        hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        hits.dedup_by(|a, b| a.1.id == b.1.id);
        hits.truncate(query.k);
        hits.into_iter()
            .filter_map(|(_, entry)| Some(query.candidate(entry, entry.position?)))
            .collect()
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn check(position: Option<PositionFix>) -> Result<(), IndexError> {
    match position {
        Some(fix) if !sphere::is_valid(fix.point) => Err(IndexError::InvalidPoint),
        _ => Ok(()),
    }
}

/// Live technician positions and dispatch facts, for nearest-candidate
/// queries. `Send + Sync`: share it in an `Arc`.
///
/// # Structure: one R-tree per tenant, plus one per (tenant, skill)
///
/// Each tenant has a shard holding
/// - the technicians themselves, by id;
/// - `all`: an R-tree of every positioned technician of the tenant;
/// - `by_skill`: for every skill someone in the tenant has, an R-tree of the
///   positioned technicians who have it (at any level).
///
/// Tree nodes are 3-D unit vectors (see [`sphere`](super::sphere)) tagged with the
/// technician id, so nearest-neighbour order is great-circle order.
///
/// A query with required skills walks the tree of its *rarest* required skill
/// (the smallest tree) in nearest-neighbour order (`rstar`'s incremental
/// nearest-neighbour iterator) and checks everything else per technician:
/// the other skills and all levels, status, load, shift, the caller's filter.
/// When 1 technician in 50 has the skill, the walk touches only technicians
/// who have it, instead of about 50 non-matching ones for each match as a
/// single tree with skill bitsets would. A query without skills walks `all`.
/// The walk is still long when the rarest skill is common but the other
/// conditions are rare (everyone at level 1, the query wants level 5; most
/// technicians off shift); that is the price of not keeping a tree per
/// level or per shift.
///
/// The cost is on writes: a technician with `s` skills sits in `s + 1` trees,
/// and a position update is a remove and an insert in each, `O(log n)` apiece.
///
/// # Ties
///
/// Technicians are ranked by (squared chord, id), which is (great-circle
/// distance, id): among technicians at the same distance — in practice, at
/// the same spot, such as a depot — the smaller id comes first, so answers
/// are deterministic. The walk keeps going past the k-th match while the next
/// technician is exactly as far, then sorts. (Two different spots at the
/// same distance in exact arithmetic are ordered by how the chord rounds;
/// the reported haversine metres may then disagree in the last bits, about
/// a nanometre.)
///
/// # Concurrency: a reader-writer lock per tenant shard
///
/// Every shard sits behind its own `RwLock`. A query holds its shard's read
/// lock for the whole walk, so it sees each technician exactly once and never
/// half-updated; any number of queries run together. A write (a ping, a load
/// change, an upsert) holds the write lock only for its own few `O(log n)`
/// tree operations — microseconds — and only for its own tenant, so ingest
/// for one tenant never waits on another tenant's queries, and within a
/// tenant waits at most for the queries already running (each tens of
/// microseconds). The standard library's lock lets a waiting writer go before
/// newly arriving readers, so a stream of queries does not starve ingest.
///
/// Read-copy-update (readers on an immutable snapshot, writers swapping in a
/// new one) would make reads wait-free, but copying a tenant's trees per ping
/// at 20 000 pings/s is out of the question and batching pings into periodic
/// snapshots would make positions lag. The lock is simpler and measured
/// enough.
///
/// Beside the shards, a directory maps technician id to tenant, so loads and
/// removals can be addressed by id alone. Lock order is directory, then the
/// shard map, then one shard; queries take only the last two, one after the
/// other. Membership changes (upsert, remove) hold the directory's write lock
/// throughout, so a technician is never in two shards.
///
/// A poisoned lock (a panic while it was held) is taken over rather than
/// propagated: every mutation here leaves a shard consistent between its
/// statements except for an allocation failure, which aborts anyway.
#[derive(Default)]
pub struct TechnicianIndex {
    /// Technician id → tenant id.
    directory: RwLock<HashMap<Uuid, Uuid>>,
    /// Tenant id → that tenant's shard.
    shards: RwLock<HashMap<Uuid, Arc<RwLock<Shard>>>>,
}

impl fmt::Debug for TechnicianIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TechnicianIndex")
            .field("technicians", &self.len())
            .field("tenants", &read(&self.shards).len())
            .finish()
    }
}

impl TechnicianIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index in one go (bulk-loaded trees), e.g. from the database
    /// at start. A later entry with the same id replaces an earlier one.
    pub fn from_entries(
        entries: impl IntoIterator<Item = TechnicianEntry>,
    ) -> Result<Self, IndexError> {
        let mut by_tenant: HashMap<Uuid, HashMap<Uuid, TechnicianEntry>> = HashMap::new();
        let mut directory = HashMap::new();
        for entry in entries {
            check(entry.position)?;
            if let Some(previous) = directory.insert(entry.id, entry.tenant_id)
                && let Some(technicians) = by_tenant.get_mut(&previous)
            {
                technicians.remove(&entry.id);
            }
            by_tenant
                .entry(entry.tenant_id)
                .or_default()
                .insert(entry.id, entry);
        }
        let shards = by_tenant
            .into_iter()
            .map(|(tenant, technicians)| (tenant, Arc::new(RwLock::new(Shard::bulk(technicians)))))
            .collect();
        Ok(Self {
            directory: RwLock::new(directory),
            shards: RwLock::new(shards),
        })
    }

    /// Number of technicians indexed (with or without a position).
    pub fn len(&self) -> usize {
        read(&self.directory).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, tenant_id: Uuid) -> Option<Arc<RwLock<Shard>>> {
        read(&self.shards).get(&tenant_id).cloned()
    }

    /// Adds a technician or replaces everything known about them (skills,
    /// status, shifts, capacity, load, even the tenant) — except that a held
    /// position newer than `entry.position` is kept, so reloading a row from
    /// the database never moves a technician back in time.
    pub fn upsert(&self, mut entry: TechnicianEntry) -> Result<(), IndexError> {
        check(entry.position)?;
        let mut directory = write(&self.directory);
        let mut held = None;
        if let Some(old_tenant) = directory.get(&entry.id).copied()
            && old_tenant != entry.tenant_id
        {
            held = self
                .take_from(old_tenant, entry.id)
                .and_then(|old| old.position);
        }
        let shard = match self.shard(entry.tenant_id) {
            Some(shard) => shard,
            None => Arc::clone(write(&self.shards).entry(entry.tenant_id).or_default()),
        };
        let mut shard = write(&shard);
        let held = held.or_else(|| {
            shard
                .technicians
                .get(&entry.id)
                .and_then(|old| old.entry.position)
        });
        if let Some(held) = held
            && entry.position.is_none_or(|new| new.at < held.at)
        {
            entry.position = Some(held);
        }
        directory.insert(entry.id, entry.tenant_id);
        shard.put(entry);
        Ok(())
    }

    /// Takes a technician out of a shard, dropping the shard when it empties.
    /// The caller holds the directory's write lock.
    fn take_from(&self, tenant_id: Uuid, id: Uuid) -> Option<TechnicianEntry> {
        let shard = self.shard(tenant_id)?;
        let (taken, empty) = {
            let mut shard = write(&shard);
            let taken = shard.take(id);
            (taken, shard.technicians.is_empty())
        };
        if empty {
            // Nobody can add to it meanwhile: that takes the directory lock.
            write(&self.shards).remove(&tenant_id);
        }
        taken
    }

    /// Moves a technician of `tenant_id` to `fix.point` as of device time
    /// `fix.at`. Positions not newer than the held one are ignored, so
    /// replayed and out-of-order pings are harmless.
    pub fn update_position(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        fix: PositionFix,
    ) -> Result<PositionUpdate, IndexError> {
        check(Some(fix))?;
        let directory = read(&self.directory);
        if directory.get(&id) != Some(&tenant_id) {
            return Ok(PositionUpdate::Unknown);
        }
        let Some(shard) = self.shard(tenant_id) else {
            return Ok(PositionUpdate::Unknown);
        };
        let mut shard = write(&shard);
        let Some(Slot { entry, .. }) = shard.technicians.get(&id) else {
            return Ok(PositionUpdate::Unknown);
        };
        if entry.position.is_some_and(|held| fix.at <= held.at) {
            return Ok(PositionUpdate::Stale);
        }
        shard.relocate(id, fix);
        Ok(PositionUpdate::Applied)
    }

    /// Sets a technician's number of open assignments. Returns whether the
    /// technician is indexed.
    pub fn update_load(&self, id: Uuid, load: u32) -> bool {
        let directory = read(&self.directory);
        let Some(shard) = directory.get(&id).and_then(|tenant| self.shard(*tenant)) else {
            return false;
        };
        let mut shard = write(&shard);
        match shard.technicians.get_mut(&id) {
            Some(slot) => {
                slot.entry.load = load;
                true
            }
            None => false,
        }
    }

    /// Forgets a technician; returns what was held.
    pub fn remove(&self, id: Uuid) -> Option<TechnicianEntry> {
        let mut directory = write(&self.directory);
        let tenant_id = directory.remove(&id)?;
        self.take_from(tenant_id, id)
    }

    /// Copies of every technician of `tenant_id`, e.g. for a map snapshot.
    pub fn tenant_entries(&self, tenant_id: Uuid) -> Vec<TechnicianEntry> {
        let Some(shard) = self.shard(tenant_id) else {
            return Vec::new();
        };
        let shard = read(&shard);
        shard
            .technicians
            .values()
            .map(|slot| slot.entry.clone())
            .collect()
    }

    /// Copies of the technicians of `tenant_id` whose position lies in the
    /// latitude/longitude box (degrees; `west > east` crosses the
    /// antimeridian), found through the tenant's R-tree rather than a scan.
    pub fn in_box(
        &self,
        tenant_id: Uuid,
        south: f64,
        west: f64,
        north: f64,
        east: f64,
    ) -> Vec<TechnicianEntry> {
        let Some(shard) = self.shard(tenant_id) else {
            return Vec::new();
        };
        let spans: &[(f64, f64)] = if west <= east {
            &[(west, east)]
        } else {
            &[(west, 180.0), (-180.0, east)]
        };
        let inside = |lat: f64, lon: f64| {
            lat >= south && lat <= north && spans.iter().any(|(w, e)| lon >= *w && lon <= *e)
        };
        let shard = read(&shard);
        let mut found = Vec::new();
        // Across the antimeridian a point at ±180° may lie in both halves.
        let mut seen = std::collections::HashSet::new();
        for (w, e) in spans {
            let (low, high) = sphere::box_envelope(south, *w, north, *e);
            for node in shard
                .all
                .locate_in_envelope_intersecting(AABB::from_corners(low, high))
            {
                if let Some(slot) = shard.technicians.get(&node.id)
                    && let Some(position) = slot.entry.position
                    && inside(position.point.lat, position.point.lon)
                    && (spans.len() == 1 || seen.insert(node.id))
                {
                    found.push(slot.entry.clone());
                }
            }
        }
        found
    }

    /// A copy of what is held about a technician.
    pub fn get(&self, id: Uuid) -> Option<TechnicianEntry> {
        let tenant_id = *read(&self.directory).get(&id)?;
        let shard = self.shard(tenant_id)?;
        let shard = read(&shard);
        shard.technicians.get(&id).map(|slot| slot.entry.clone())
    }

    /// Up to `query.k` eligible technicians nearest to `query.point`, nearest
    /// first, ties by id. See [`NearestQuery`] for what "eligible" means.
    pub fn nearest(&self, query: &NearestQuery<'_>) -> Result<Vec<Candidate>, IndexError> {
        if !sphere::is_valid(query.point) {
            return Err(IndexError::InvalidPoint);
        }
        if query.k == 0 {
            return Ok(Vec::new());
        }
        let Some(shard) = self.shard(query.tenant_id) else {
            return Ok(Vec::new());
        };
        let shard = read(&shard);
        Ok(shard.nearest(query))
    }

    /// Like [`Self::nearest`], considering only the technicians in `ids`
    /// (looked up by id, no tree walk): O(|ids|) however many technicians
    /// the tenant has. Same answer as `nearest` with a filter admitting
    /// exactly `ids`.
    pub fn nearest_among(
        &self,
        query: &NearestQuery<'_>,
        ids: &[Uuid],
    ) -> Result<Vec<Candidate>, IndexError> {
        if !sphere::is_valid(query.point) {
            return Err(IndexError::InvalidPoint);
        }
        if query.k == 0 || ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(shard) = self.shard(query.tenant_id) else {
            return Ok(Vec::new());
        };
        let shard = read(&shard);
        Ok(shard.nearest_among(query, ids))
    }
}
