//! `Idempotency-Key`: the first answer to a retried write, kept and replayed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    /// The first request's write committed but its answer was never
    /// recorded (the process stopped in between): running it again would
    /// write twice, and there is no answer to repeat.
    CommittedUnanswered,
}

/// How long keys live and when an unfinished one counts as abandoned.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyWindow {
    pub now: DateTime<Utc>,
    /// A key begun before this whose request never committed is taken over
    /// by the next request with it.
    pub abandoned_before: DateTime<Utc>,
    /// A key created before this is forgotten: the next request with it runs anew.
    pub expired_before: DateTime<Utc>,
}

/// The key of the request this task is serving, so the store marks it
/// committed inside the same transaction as the request's write (see
/// `begin_write` in `postgres.rs` and `sqlite.rs`).
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub key: String,
}

tokio::task_local! {
    pub static IDEMPOTENT_REQUEST: IdempotentRequest;
}

/// The key being served by this task, if any.
pub fn current_idempotent_request() -> Option<IdempotentRequest> {
    IDEMPOTENT_REQUEST.try_with(Clone::clone).ok()
}

#[async_trait]
pub trait IdempotencyStore {
    async fn idempotency_begin(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        key: &str,
        request_hash: &str,
        window: IdempotencyWindow,
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
    /// Deletes keys created before `before`; returns how many.
    async fn idempotency_sweep(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
