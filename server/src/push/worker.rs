//! The push channel of the shared outbox (`crate::outbox`): claim due
//! messages from `push_outbox`, send through the notifier, record the outcome.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Notifier, PushConfig, PushError, PushMessage, PushOutcome, notifier, redact_token};
use crate::{
    outbox::{Attempt, Backoff, Channel, OutboxHandle, RetryPolicy, Worker},
    store::{Store, StoreResult, push::OutboxPush},
};

/// First retry delay without `Retry-After`; it doubles per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay without `Retry-After`.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// A provider's `Retry-After` is honoured up to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

const BACKOFF: Backoff = Backoff {
    base: BACKOFF_BASE,
    cap: BACKOFF_CAP,
};

/// Delay before attempt `attempt + 1` after `attempt` failed (1-based).
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF.delay(attempt)
}

/// `push_outbox` as an outbox channel.
#[derive(Debug)]
pub struct PushChannel {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
}

#[async_trait]
impl Channel for PushChannel {
    type Message = OutboxPush;

    fn name(&self) -> &'static str {
        "push"
    }

    fn id(&self, push: &OutboxPush) -> String {
        push.id.to_string()
    }

    fn attempts(&self, push: &OutboxPush) -> u32 {
        push.attempts
    }

    async fn claim(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<OutboxPush>> {
        self.store.due_pushes(now, limit).await
    }

    async fn send(&self, push: &OutboxPush, _now: DateTime<Utc>) -> Attempt {
        match self.notifier.send(&PushMessage::from(push)).await {
            Ok(PushOutcome::Delivered) => Attempt::Delivered { status: None },
            Ok(PushOutcome::TokenUnregistered { reason }) => {
                self.forget_token(push, &reason).await;
                Attempt::Failed {
                    reason,
                    status: None,
                }
            }
            Ok(PushOutcome::Permanent { reason }) => Attempt::Failed {
                reason,
                status: None,
            },
            Ok(PushOutcome::Retry { after, reason }) => Attempt::Retry {
                after,
                reason,
                status: None,
            },
            Err(error) => Attempt::retry(error.to_string()),
        }
    }

    async fn delivered(
        &self,
        push: &OutboxPush,
        _status: Option<u16>,
        _now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.store.mark_push_sent(push.id).await.map(drop)
    }

    async fn retry_at(
        &self,
        push: &OutboxPush,
        at: DateTime<Utc>,
        reason: &str,
        _status: Option<u16>,
    ) -> StoreResult<()> {
        self.store
            .reschedule_push(push.id, at, reason)
            .await
            .map(drop)
    }

    async fn dead_letter(
        &self,
        push: &OutboxPush,
        reason: &str,
        _status: Option<u16>,
    ) -> StoreResult<()> {
        self.store.fail_push(push.id, reason).await.map(drop)
    }
}

impl PushChannel {
    /// The token is gone: fail this message with the provider's reason, then
    /// clear the token from every device (which fails its other messages).
    async fn forget_token(&self, push: &OutboxPush, reason: &str) {
        let forgotten = match self.store.fail_push(push.id, reason).await {
            Ok(_) => {
                self.store
                    .forget_push_token(push.tenant_id, &push.token)
                    .await
            }
            Err(error) => Err(error),
        };
        match forgotten {
            Ok(devices) => {
                tracing::info!(push = %push.id, token = %redact_token(&push.token), devices, "push token unregistered; removed")
            }
            Err(error) => {
                tracing::warn!(push = %push.id, %error, "cannot forget an unregistered push token")
            }
        }
    }
}

/// Sends due messages from the push outbox through a notifier.
#[derive(Debug, Clone)]
pub struct PushWorker {
    worker: Worker<PushChannel>,
}

impl PushWorker {
    pub fn new(store: Arc<dyn Store>, notifier: Arc<dyn Notifier>, max_attempts: u32) -> Self {
        let policy = RetryPolicy {
            backoff: BACKOFF,
            max_attempts,
            max_retry_after: MAX_RETRY_AFTER,
        };
        Self {
            worker: Worker::new(Arc::new(PushChannel { store, notifier }), policy),
        }
    }

    /// Messages claimed per round (at least 1).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.worker = self.worker.with_batch(batch);
        self
    }

    /// One round, with `now` as the clock. Returns how many were claimed.
    pub async fn run_once(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        self.worker.run_once(now).await
    }
}

/// The running worker of a server.
pub type PushWorkerHandle = OutboxHandle;

/// Starts the worker with the notifier `config` selects.
pub fn spawn_worker(store: Arc<dyn Store>, config: &PushConfig) -> Result<OutboxHandle, PushError> {
    let worker = PushWorker::new(store, notifier(config)?, config.max_attempts);
    Ok(OutboxHandle::spawn(
        worker.worker,
        Duration::from_millis(config.poll_interval_ms),
    ))
}
