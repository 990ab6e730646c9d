//! `Idempotency-Key`: the first answer to a retried write, kept and replayed.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time: run the request, then `idempotency_complete`.
    Started,
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used before with a different request.
    Mismatch,
}

#[async_trait]
pub trait IdempotencyStore {
    async fn idempotency_begin(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key: &str,
        request_hash: &str,
    ) -> StoreResult<IdempotencyBegin>;
    async fn idempotency_complete(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    async fn idempotency_abort(&self, tenant_id: Uuid, user_id: Uuid, key: &str)
    -> StoreResult<()>;
}
