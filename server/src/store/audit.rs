//! Reading the audit log: each tenant's hash chain of every write.
//!
//! Entries are appended by the writes themselves, inside their own
//! transactions (`sql/audit.rs`); this trait only reads and verifies.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::audit::{AuditEntry, ChainReport};

#[async_trait]
pub trait AuditStore {
    async fn list_audit(
        &self,
        tenant_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    async fn verify_audit(&self, tenant_id: Uuid) -> StoreResult<ChainReport>;
    /// The entries about one record (e.g. a ticket), oldest first, at most `limit`.
    async fn list_audit_for_entity(
        &self,
        tenant_id: Uuid,
        entity_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
}
