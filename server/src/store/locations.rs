//! Technicians' positions: the ping trail and the newest fix per technician.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::{location::LocationPing, people::Technician};

/// What a batch of pings did.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationIngest {
    /// Pings stored now.
    pub stored: usize,
    /// Pings already stored earlier (same device time), ignored.
    pub duplicates: usize,
    /// The newest ping of the batch, if it is newer than the position held.
    pub new_position: Option<LocationPing>,
}

/// One request's pings in a group commit ([`LocationStore::record_location_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct PingBatchItem<'a> {
    pub tenant_id: Uuid,
    pub technician_id: Uuid,
    pub pings: &'a [LocationPing],
}

/// A technician as dispatch sees it at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchRow {
    pub technician: Technician,
    pub last_position: Option<LocationPing>,
    /// Open tickets assigned to the technician.
    pub load: u32,
}

#[async_trait]
pub trait LocationStore {
    /// Stores a validated batch in one transaction and moves the live position
    /// forward when the batch holds a newer fix.
    async fn record_locations(
        &self,
        tenant_id: Uuid,
        technician_id: Uuid,
        pings: &[LocationPing],
    ) -> StoreResult<LocationIngest>;
    /// Stores the pings of many requests in one transaction (multi-row
    /// statements), as if each had been recorded on its own in the given
    /// order: per item what [`LocationStore::record_locations`] would have
    /// answered, or `None` when the tenant has no such technician. A
    /// technician's live position moves once, to the newest ping of the batch,
    /// and only forward (a newer fix written meanwhile by another replica wins).
    async fn record_location_batch(
        &self,
        items: &[PingBatchItem<'_>],
    ) -> StoreResult<Vec<Option<LocationIngest>>>;
    /// The trail in `[from, to)`, oldest first, at most `limit` pings.
    async fn locations(
        &self,
        tenant_id: Uuid,
        technician_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<LocationPing>>;
    /// Deletes pings taken before `before`; returns how many.
    async fn prune_locations(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Every technician of every tenant with position and load, to build the index.
    async fn dispatch_rows(&self) -> StoreResult<Vec<DispatchRow>>;
    /// Open tickets assigned to one technician.
    async fn technician_load(&self, tenant_id: Uuid, technician_id: Uuid) -> StoreResult<u32>;
}
