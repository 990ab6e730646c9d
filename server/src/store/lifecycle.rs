//! Archive, restore and delete of master data (customers, sites, assets,
//! categories, SLA policies, territories, technicians).
//!
//! Archiving is refused while open tickets refer to the record (for a
//! technician: open tickets assigned to them); deleting while anything at
//! all refers to it. Both refusals are `StoreError::InUse` with the reason
//! in words. Each write checks and changes in one transaction, with its
//! audit entry.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::lifecycle::MasterKind;

#[async_trait]
pub trait LifecycleStore {
    /// Sets `archived_at` (kept when already archived).
    async fn archive(&self, actor: Actor, kind: MasterKind, id: Uuid) -> StoreResult<()>;
    /// Clears `archived_at`.
    async fn restore(&self, actor: Actor, kind: MasterKind, id: Uuid) -> StoreResult<()>;
    /// Deletes the record and its search entry.
    async fn delete_master(&self, actor: Actor, kind: MasterKind, id: Uuid) -> StoreResult<()>;
}
