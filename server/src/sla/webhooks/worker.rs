//! Sends due webhook deliveries: claim, sign, POST, record the outcome.
//! Never inside a write transaction: deliveries were queued by the writes.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::{sync::watch, task::JoinSet};

use super::{WebhookConfig, signature};
use crate::store::{Store, StoreResult, webhooks::ClaimedDelivery};

/// Deliveries claimed per round.
const BATCH: u32 = 32;

/// Delivers the outbox of every tenant.
#[derive(Debug, Clone)]
pub struct WebhookWorker {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: WebhookConfig,
}

impl WebhookWorker {
    pub fn new(store: Arc<dyn Store>, config: WebhookConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            store,
            client,
            config,
        })
    }

    /// Delay after attempt `attempt` (1-based) failed: base · 2^(attempt−1),
    /// capped, with equal jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = Duration::from_millis(self.config.backoff_base_ms)
            .saturating_mul(1u32 << exponent.min(31))
            .min(Duration::from_millis(self.config.backoff_cap_ms));
        let half = ceiling / 2;
        let jitter = getrandom::u64().unwrap_or(0) % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }

    /// One round at `now`: claims due deliveries (each ticket's oldest
    /// pending event only), sends them concurrently, records outcomes.
    /// Returns how many were attempted.
    pub async fn run_once(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let due = self.store.claim_webhook_deliveries(now, BATCH).await?;
        let count = due.len();
        let mut sends = JoinSet::new();
        for claimed in due {
            let worker = self.clone();
            sends.spawn(async move {
                let outcome = worker.send(&claimed, now).await;
                if let Err(error) = worker.record(&claimed, outcome, now).await {
                    tracing::warn!(delivery = %claimed.delivery.id, %error, "cannot record a webhook outcome");
                }
            });
        }
        while let Some(joined) = sends.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "webhook send task failed");
            }
        }
        Ok(count)
    }

    /// `Ok(status)` when the receiver answered 2xx; otherwise the status (if
    /// any) and why.
    async fn send(
        &self,
        claimed: &ClaimedDelivery,
        now: DateTime<Utc>,
    ) -> Result<u16, (Option<u16>, String)> {
        let delivery = &claimed.delivery;
        let timestamp = now.timestamp();
        let response = self
            .client
            .post(&claimed.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                super::SIGNATURE_HEADER,
                signature(&claimed.secret, timestamp, &delivery.body),
            )
            .header("truckroll-event-id", delivery.event_id.to_string())
            .header("truckroll-event-type", &delivery.event_type)
            .header("truckroll-delivery-id", delivery.id.to_string())
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| (None, format!("transport: {e}")))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("receiver answered {status}")))
        }
    }

    async fn record(
        &self,
        claimed: &ClaimedDelivery,
        outcome: Result<u16, (Option<u16>, String)>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let delivery = &claimed.delivery;
        match outcome {
            Ok(status) => {
                self.store
                    .mark_webhook_delivered(delivery.id, status, now)
                    .await?;
            }
            Err((status, error)) if delivery.attempts >= self.config.max_attempts => {
                tracing::warn!(delivery = %delivery.id, %error, "webhook dead-lettered");
                self.store
                    .dead_letter_webhook_delivery(delivery.id, status, &error)
                    .await?;
            }
            Err((status, error)) => {
                let delay = chrono::Duration::from_std(self.backoff(delivery.attempts))
                    .unwrap_or(chrono::Duration::hours(1));
                self.store
                    .retry_webhook_delivery(delivery.id, now + delay, status, &error)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The background worker; `stop` ends it after the round in flight.
#[derive(Debug)]
pub struct WebhookWorkerHandle {
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WebhookWorkerHandle {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// Starts the worker unless `config.worker_enabled` is off.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    config: &WebhookConfig,
) -> Result<WebhookWorkerHandle, reqwest::Error> {
    if !config.worker_enabled {
        return Ok(WebhookWorkerHandle {
            stop: None,
            task: None,
        });
    }
    let worker = WebhookWorker::new(store, config.clone())?;
    let poll = Duration::from_millis(config.poll_interval_ms);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            if *stopped.borrow() {
                return;
            }
            let busy = match worker.run_once(Utc::now()).await {
                Ok(n) => n > 0,
                Err(error) => {
                    tracing::warn!(%error, "webhook worker round failed");
                    false
                }
            };
            if busy {
                // More may be waiting behind what was just sent (ordering).
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    Ok(WebhookWorkerHandle {
        stop: Some(stop),
        task: Some(task),
    })
}
