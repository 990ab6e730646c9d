//! Territories and the site → territory resolution they drive.
//!
//! A site's territory is stored on the site (`sites.territory_id`) and kept
//! current by the writes that can change it: creating a site, and creating,
//! reshaping or deleting a territory. Each of those takes the tenant row's
//! lock first, so a site created while a territory changes is resolved
//! against the territories as they are once the other write committed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::territory::{Boundary, CompiledBoundary, Territory, TerritoryChange};

#[async_trait]
pub trait TerritoryStore {
    /// Creates a territory and moves the sites it now covers into it
    /// (unless an older territory covers them already).
    async fn create_territory(
        &self,
        actor: Actor,
        name: &str,
        boundary: &Boundary,
    ) -> StoreResult<Territory>;
    async fn get_territory(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Territory>;
    async fn list_territories(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Territory>>;
    /// Territories in creation order, active, archived or all.
    async fn list_territories_where(
        &self,
        tenant_id: Uuid,
        archived: crate::domain::lifecycle::ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Territory>>;
    /// Renames and/or reshapes; a new boundary re-resolves the affected sites.
    async fn update_territory(
        &self,
        actor: Actor,
        id: Uuid,
        change: &TerritoryChange,
    ) -> StoreResult<Territory>;
    /// Deletes; its sites move to the next territory covering them, or none.
    async fn delete_territory(&self, actor: Actor, id: Uuid) -> StoreResult<()>;
    /// The compiled boundary of one territory, from a process-wide cache
    /// checked against the stored version, so another replica's change is
    /// seen at once. `None` when the territory does not exist.
    async fn territory_boundary(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<Arc<CompiledBoundary>>>;
}

/// Compiled boundaries by territory id, with the `updated_at` they were
/// compiled at. Parsing and compiling a large polygon costs far more than
/// the one-row version check that guards each use.
#[derive(Debug, Default)]
pub(super) struct BoundaryCache {
    entries: Mutex<HashMap<Uuid, CacheEntry>>,
}

/// The version a boundary was compiled at, and the compiled boundary.
type CacheEntry = (DateTime<Utc>, Arc<CompiledBoundary>);

impl BoundaryCache {
    pub(super) fn global() -> &'static BoundaryCache {
        static CACHE: OnceLock<BoundaryCache> = OnceLock::new();
        CACHE.get_or_init(BoundaryCache::default)
    }

    pub(super) fn get(&self, id: Uuid, version: DateTime<Utc>) -> Option<Arc<CompiledBoundary>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&id)
            .filter(|(at, _)| *at == version)
            .map(|(_, boundary)| boundary.clone())
    }

    pub(super) fn put(
        &self,
        id: Uuid,
        version: DateTime<Utc>,
        boundary: Arc<CompiledBoundary>,
    ) -> Arc<CompiledBoundary> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(id, (version, boundary.clone()));
        boundary
    }

    pub(super) fn remove(&self, id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&id);
    }
}
