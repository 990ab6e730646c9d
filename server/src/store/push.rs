//! The push outbox: notifications waiting to be sent, durable across restarts.
//!
//! Writers only enqueue (inside or after their own transaction); the push
//! worker claims due messages with a lease, sends them outside any
//! transaction and records the outcome.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;

/// How long a claimed message stays invisible to other claimers. A worker
/// that dies mid-send leaves the message due again after this.
pub const CLAIM_LEASE: chrono::Duration = chrono::Duration::seconds(120);

/// What a notification says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushContent {
    pub title: String,
    pub body: String,
    /// Key/value payload for the app (FCM requires string values).
    pub data: BTreeMap<String, String>,
}

/// One message for one push token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPush {
    /// The recipient, when known.
    pub user_id: Option<Uuid>,
    /// The device the token was registered with, when known.
    pub device_id: Option<Uuid>,
    pub token: String,
    pub content: PushContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    Pending,
    Sent,
    Failed,
}

impl PushState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A row of the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxPush {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub token: String,
    pub content: PushContent,
    /// Send attempts started (a claim counts as one).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub state: PushState,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxPush")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .field("content", &self.content)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("state", &self.state)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[async_trait]
pub trait PushStore {
    /// Queues one message, due now.
    async fn enqueue_push(&self, tenant_id: Uuid, push: &NewPush) -> StoreResult<Uuid>;
    /// Queues `content` once per device of `user_id` that has a push token
    /// (one transaction); returns the new outbox ids, none when the user has
    /// no such device.
    async fn enqueue_push_for_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        content: &PushContent,
    ) -> StoreResult<Vec<Uuid>>;
    /// Claims up to `limit` pending messages due at `now`, oldest due first:
    /// each claimed message's `attempts` goes up by one and it is hidden
    /// until `now + CLAIM_LEASE`. Concurrent claimers (other replicas) never
    /// get the same message.
    async fn due_pushes(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<OutboxPush>>;
    /// Delivered. False when the message was not pending.
    async fn mark_push_sent(&self, id: Uuid) -> StoreResult<bool>;
    /// Try again at `at`. False when the message was not pending.
    async fn reschedule_push(&self, id: Uuid, at: DateTime<Utc>, error: &str) -> StoreResult<bool>;
    /// Give up. False when the message was not pending.
    async fn fail_push(&self, id: Uuid, error: &str) -> StoreResult<bool>;
    /// The provider said the token is gone: clears it from every device of
    /// the tenant holding it and fails the pending messages for it. Returns
    /// the number of devices changed.
    async fn forget_push_token(&self, tenant_id: Uuid, token: &str) -> StoreResult<u64>;
    async fn get_push(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<OutboxPush>;
    /// Sets (rotates) or clears the push token of `user_id`'s device
    /// `device_id`, in one transaction with its pending messages: a new
    /// token takes them over (the worker sends them to it, never to the old
    /// one); clearing fails them. `NotFound` when the device is not the
    /// user's.
    async fn set_device_push_token(
        &self,
        actor: super::Actor,
        user_id: Uuid,
        device_id: Uuid,
        token: Option<&str>,
    ) -> StoreResult<crate::domain::people::Device>;
}
