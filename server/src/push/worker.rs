//! Drains the push outbox: claim due messages, send, record the outcome.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::{sync::watch, task::JoinSet};

use super::{Notifier, PushConfig, PushError, PushMessage, PushOutcome, notifier, redact_token};
use crate::store::{Store, StoreResult, push::OutboxPush};

/// First retry delay without `Retry-After`; it doubles per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay without `Retry-After`.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// A provider's `Retry-After` is honoured up to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Messages claimed (and sent concurrently) per round.
const BATCH: u32 = 32;
/// How long shutdown waits for the round in flight.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Delay before attempt `attempt + 1` after `attempt` failed (1-based):
/// `BACKOFF_BASE · 2^(attempt-1)`, capped at `BACKOFF_CAP`, with "equal
/// jitter" (a random point in the upper half) so retries of many messages
/// spread out.
pub fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_CAP);
    let half = ceiling / 2;
    let jitter = getrandom::u64().unwrap_or(0) % (half.as_millis() as u64 + 1);
    half + Duration::from_millis(jitter)
}

/// Sends due messages from the outbox through a notifier.
#[derive(Debug, Clone)]
pub struct PushWorker {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    max_attempts: u32,
    batch: u32,
}

impl PushWorker {
    pub fn new(store: Arc<dyn Store>, notifier: Arc<dyn Notifier>, max_attempts: u32) -> Self {
        Self {
            store,
            notifier,
            max_attempts: max_attempts.max(1),
            batch: BATCH,
        }
    }

    /// Messages claimed per round (at least 1).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// One round, with `now` as the clock: claims up to a batch of messages
    /// due at `now`, sends them concurrently and records each outcome
    /// (retries are scheduled from `now`). Returns how many were claimed.
    pub async fn run_once(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let due = self.store.due_pushes(now, self.batch).await?;
        let claimed = due.len();
        let mut sends = JoinSet::new();
        for push in due {
            let worker = self.clone();
            sends.spawn(async move {
                let outcome = worker.notifier.send(&PushMessage::from(&push)).await;
                if let Err(error) = worker.record(&push, outcome, now).await {
                    // The claim's lease runs out and the message is retried.
                    tracing::warn!(push = %push.id, %error, "cannot record a push outcome");
                }
            });
        }
        while let Some(joined) = sends.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "push send task failed");
            }
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        push: &OutboxPush,
        outcome: Result<PushOutcome, PushError>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let store = self.store.as_ref();
        let (label, retry) = match outcome {
            Ok(PushOutcome::Delivered) => {
                store.mark_push_sent(push.id).await?;
                tracing::debug!(push = %push.id, attempts = push.attempts, "push delivered");
                ("delivered", None)
            }
            Ok(PushOutcome::TokenUnregistered { reason }) => {
                store.fail_push(push.id, &reason).await?;
                let devices = store.forget_push_token(push.tenant_id, &push.token).await?;
                tracing::info!(push = %push.id, token = %redact_token(&push.token), devices, "push token unregistered; removed");
                ("unregistered", None)
            }
            Ok(PushOutcome::Permanent { reason }) => {
                store.fail_push(push.id, &reason).await?;
                tracing::warn!(push = %push.id, %reason, "push failed permanently");
                ("failed", None)
            }
            Ok(PushOutcome::Retry { after, reason }) => ("retry", Some((after, reason))),
            Err(error) => ("retry", Some((None, error.to_string()))),
        };
        if let Some((after, reason)) = retry {
            if push.attempts >= self.max_attempts {
                let reason = format!("gave up after {} attempts: {reason}", push.attempts);
                store.fail_push(push.id, &reason).await?;
                tracing::warn!(push = %push.id, %reason, "push failed");
                metrics::counter!("push_outcomes_total", "outcome" => "failed").increment(1);
                return Ok(());
            }
            let delay = after.map_or_else(|| backoff(push.attempts), |d| d.min(MAX_RETRY_AFTER));
            let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            store.reschedule_push(push.id, at, &reason).await?;
            tracing::info!(push = %push.id, attempts = push.attempts, retry_in_ms = delay.as_millis() as u64, %reason, "push will be retried");
        }
        metrics::counter!("push_outcomes_total", "outcome" => label).increment(1);
        Ok(())
    }

    /// Rounds every `poll_interval` (back to back while full batches are
    /// due) until `stop` turns true or its sender is dropped.
    pub async fn run(self, poll_interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(poll_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
            }
            loop {
                match self.run_once(Utc::now()).await {
                    Ok(claimed) if claimed as u32 >= self.batch && !*stop.borrow() => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "push outbox poll failed");
                        break;
                    }
                }
            }
        }
    }
}

/// The running worker of a server.
#[derive(Debug)]
pub struct PushWorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl PushWorkerHandle {
    /// Lets the round in flight finish (up to a grace period), then stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Starts the worker with the notifier `config` selects.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    config: &PushConfig,
) -> Result<PushWorkerHandle, PushError> {
    let worker = PushWorker::new(store, notifier(config)?, config.max_attempts);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(worker.run(Duration::from_millis(config.poll_interval_ms), stopped));
    Ok(PushWorkerHandle { stop, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=12 {
            let ceiling = (BACKOFF_BASE * 2u32.pow(attempt - 1)).min(BACKOFF_CAP);
            for _ in 0..20 {
                let delay = backoff(attempt);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "attempt {attempt}: {delay:?}"
                );
            }
        }
        assert!(backoff(u32::MAX) <= BACKOFF_CAP);
        assert!(backoff(0) >= BACKOFF_BASE / 2);
    }
}
