//! Reading the audit log: each tenant's hash chain of every write.
//!
//! Entries are appended by the writes themselves, inside their own
//! transactions (`sql/audit.rs`); this trait only reads and verifies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::audit::{AuditEntry, ChainReport};

/// An entry's seal: the HMAC of its hash under the audit key `key_id`
/// (`governance::audit_key`); `None` while (or when never) sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSeal {
    pub tenant_id: Uuid,
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub mac: Option<String>,
}

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
    /// Unsealed entries written at or after `since`, every tenant, in
    /// (tenant, seq) order, at most `limit`.
    async fn unsealed_audit(&self, since: DateTime<Utc>, limit: u32)
    -> StoreResult<Vec<AuditSeal>>;
    /// Seals one entry unless it is sealed already; false when it was.
    async fn seal_audit(
        &self,
        tenant_id: Uuid,
        seq: i64,
        key_id: &str,
        mac: &str,
    ) -> StoreResult<bool>;
    /// Every entry's hash and seal, in `seq` order.
    async fn audit_seals(&self, tenant_id: Uuid) -> StoreResult<Vec<AuditSeal>>;
}
