//! One durable outbox mechanism shared by push, webhooks, email and SMS.
//!
//! Each channel keeps its own table (rows are written by the write that
//! causes them, so nothing is lost) and implements [`Channel`]: claim due
//! rows with a lease, send one, and record delivered / retry-at / dead
//! letter. The [`Worker`] owns everything else: batching, concurrent sends,
//! the retry decision (the provider's `Retry-After`, else exponential
//! backoff with jitter), dead-lettering after the last attempt, metrics
//! (`outbox_outcomes_total{channel, outcome}`) and the polling loop.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::{sync::watch, task::JoinSet};

use crate::store::StoreResult;

/// Messages claimed (and sent concurrently) per round unless a channel says otherwise.
pub const DEFAULT_BATCH: u32 = 32;
/// How long shutdown waits for the round in flight.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Exponential backoff: the delay after failed attempt `n` (1-based) is a
/// random point in the upper half of `base · 2^(n−1)`, capped at `cap`
/// ("equal jitter", so retries of many messages spread out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let half = ceiling / 2;
        let jitter = getrandom::u64().unwrap_or(0) % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }
}

/// What one send attempt came to. `status` is the provider's answer code
/// when there was one (HTTP status, SMTP reply code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        status: Option<u16>,
    },
    /// Try again: after `after` when the provider said so, else after the backoff.
    Retry {
        after: Option<Duration>,
        reason: String,
        status: Option<u16>,
    },
    /// Never going to work (bad address, rejected content): dead letter now.
    Failed {
        reason: String,
        status: Option<u16>,
    },
}

impl Attempt {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            after: None,
            reason: reason.into(),
            status: None,
        }
    }
}

/// One kind of outgoing message over its own durable table.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    type Message: Send + Sync + 'static;

    /// The metrics and log label (`push`, `webhook`, `email`, `sms`).
    fn name(&self) -> &'static str;
    /// The row's id, for logs.
    fn id(&self, message: &Self::Message) -> String;
    /// Attempts started so far, this one included (a claim counts as one).
    fn attempts(&self, message: &Self::Message) -> u32;

    /// Claims up to `limit` rows due at `now` with a lease, so a worker that
    /// dies mid-send leaves them due again once the lease runs out.
    async fn claim(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Self::Message>>;
    /// Sends one message; never inside a transaction.
    async fn send(&self, message: &Self::Message, now: DateTime<Utc>) -> Attempt;
    async fn delivered(
        &self,
        message: &Self::Message,
        status: Option<u16>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn retry_at(
        &self,
        message: &Self::Message,
        at: DateTime<Utc>,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()>;
    async fn dead_letter(
        &self,
        message: &Self::Message,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()>;
}

/// How a worker retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// Dead letter once this many attempts failed (at least 1).
    pub max_attempts: u32,
    /// A provider's `Retry-After` is honoured up to this.
    pub max_retry_after: Duration,
}

/// Drains one channel's outbox.
#[derive(Debug)]
pub struct Worker<C> {
    channel: Arc<C>,
    policy: RetryPolicy,
    batch: u32,
}

impl<C> Clone for Worker<C> {
    fn clone(&self) -> Self {
        Self {
            channel: self.channel.clone(),
            policy: self.policy,
            batch: self.batch,
        }
    }
}

impl<C: Channel> Worker<C> {
    pub fn new(channel: Arc<C>, mut policy: RetryPolicy) -> Self {
        policy.max_attempts = policy.max_attempts.max(1);
        Self {
            channel,
            policy,
            batch: DEFAULT_BATCH,
        }
    }

    /// Messages claimed per round (at least 1).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    pub fn channel(&self) -> &C {
        &self.channel
    }

    /// One round with `now` as the clock: claims due messages, sends them
    /// concurrently and records each outcome (retries are scheduled from
    /// `now`). Returns how many were claimed.
    pub async fn run_once(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let due = self.channel.claim(now, self.batch).await?;
        let claimed = due.len();
        let mut sends = JoinSet::new();
        for message in due {
            let worker = self.clone();
            sends.spawn(async move {
                let attempt = worker.channel.send(&message, now).await;
                if let Err(error) = worker.record(&message, attempt, now).await {
                    // The claim's lease runs out and the message is retried.
                    tracing::warn!(channel = worker.channel.name(), id = %worker.channel.id(&message), %error, "cannot record an outbox outcome");
                }
            });
        }
        while let Some(joined) = sends.join_next().await {
            if let Err(error) = joined {
                tracing::error!(channel = self.channel.name(), %error, "outbox send task failed");
            }
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        message: &C::Message,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let channel = self.channel.as_ref();
        let (name, id, attempts) = (
            channel.name(),
            channel.id(message),
            channel.attempts(message),
        );
        let outcome = match attempt {
            Attempt::Delivered { status } => {
                channel.delivered(message, status, now).await?;
                tracing::debug!(channel = name, %id, attempts, "outbox message delivered");
                "delivered"
            }
            Attempt::Failed { reason, status } => {
                channel.dead_letter(message, &reason, status).await?;
                tracing::warn!(channel = name, %id, %reason, "outbox message failed permanently");
                "failed"
            }
            Attempt::Retry { reason, status, .. } if attempts >= self.policy.max_attempts => {
                let reason = format!("gave up after {attempts} attempts: {reason}");
                channel.dead_letter(message, &reason, status).await?;
                tracing::warn!(channel = name, %id, %reason, "outbox message dead-lettered");
                "dead_letter"
            }
            Attempt::Retry {
                after,
                reason,
                status,
            } => {
                let delay = after.map_or_else(
                    || self.policy.backoff.delay(attempts),
                    |after| after.min(self.policy.max_retry_after),
                );
                let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                channel.retry_at(message, at, &reason, status).await?;
                tracing::info!(channel = name, %id, attempts, retry_in_ms = delay.as_millis() as u64, %reason, "outbox message will be retried");
                "retry"
            }
        };
        metrics::counter!("outbox_outcomes_total", "channel" => name, "outcome" => outcome)
            .increment(1);
        Ok(())
    }

    /// Rounds every `poll` (back to back while messages keep coming) until
    /// `stop` turns true or its sender is dropped.
    pub async fn run(self, poll: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
            }
            loop {
                match self.run_once(Utc::now()).await {
                    Ok(claimed) if claimed > 0 && !*stop.borrow() => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(channel = self.channel.name(), %error, "outbox poll failed");
                        break;
                    }
                }
            }
        }
    }
}

/// A running worker (or none, when the channel is switched off).
#[derive(Debug)]
pub struct OutboxHandle {
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl OutboxHandle {
    /// Starts `worker` polling every `poll`.
    pub fn spawn<C: Channel>(worker: Worker<C>, poll: Duration) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(worker.run(poll, stopped));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A handle with nothing running.
    pub fn idle() -> Self {
        Self {
            stop: None,
            task: None,
        }
    }

    /// Lets the round in flight finish (up to a grace period), then stops.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let backoff = Backoff {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(600),
        };
        for attempt in 1..=12 {
            let ceiling = (backoff.base * 2u32.pow(attempt - 1)).min(backoff.cap);
            for _ in 0..20 {
                let delay = backoff.delay(attempt);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "attempt {attempt}: {delay:?}"
                );
            }
        }
        assert!(backoff.delay(u32::MAX) <= backoff.cap);
        assert!(backoff.delay(0) >= backoff.base / 2);
    }
}
