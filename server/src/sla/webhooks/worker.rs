//! The webhook channel of the shared outbox (`crate::outbox`): claim due
//! deliveries, sign, POST, record the outcome. Never inside a write
//! transaction: deliveries were queued by the writes.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{WebhookConfig, signature};
use crate::{
    egress::{EgressPolicy, refused_by_policy},
    outbox::{Attempt, Backoff, Channel, OutboxHandle, RetryPolicy, Worker},
    store::{Store, StoreResult, webhooks::ClaimedDelivery},
};

/// `webhook_deliveries` as an outbox channel.
#[derive(Debug)]
pub struct WebhookChannel {
    store: Arc<dyn Store>,
    egress: EgressPolicy,
    client: reqwest::Client,
}

#[async_trait]
impl Channel for WebhookChannel {
    type Message = ClaimedDelivery;

    fn name(&self) -> &'static str {
        "webhook"
    }

    fn id(&self, claimed: &ClaimedDelivery) -> String {
        claimed.delivery.id.to_string()
    }

    fn attempts(&self, claimed: &ClaimedDelivery) -> u32 {
        claimed.delivery.attempts
    }

    /// Each ticket's oldest pending event only, so receivers see a ticket's
    /// events in order.
    async fn claim(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<ClaimedDelivery>> {
        self.store.claim_webhook_deliveries(now, limit).await
    }

    async fn send(&self, claimed: &ClaimedDelivery, now: DateTime<Utc>) -> Attempt {
        let delivery = &claimed.delivery;
        // Names are checked by the client's resolver on every connection
        // (DNS rebinding); an address literal never reaches it.
        if let Err(refused) = self.egress.check_literal(&claimed.url) {
            return Attempt::Failed {
                reason: format!("destination refused: {refused}"),
                status: None,
            };
        }
        let response = self
            .client
            .post(&claimed.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                super::SIGNATURE_HEADER,
                signature(&claimed.secret, now.timestamp(), &delivery.body),
            )
            .header("truckroll-event-id", delivery.event_id.to_string())
            .header("truckroll-event-type", &delivery.event_type)
            .header("truckroll-delivery-id", delivery.id.to_string())
            .body(delivery.body.clone())
            .send()
            .await;
        match response {
            Err(error) => match refused_by_policy(&error) {
                Some(refused) => Attempt::Failed {
                    reason: format!("destination refused: {refused}"),
                    status: None,
                },
                None => Attempt::retry(format!("transport: {error}")),
            },
            Ok(response) if response.status().is_success() => Attempt::Delivered {
                status: Some(response.status().as_u16()),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                Attempt::Retry {
                    after: None,
                    reason: format!("receiver answered {status}"),
                    status: Some(status),
                }
            }
        }
    }

    async fn delivered(
        &self,
        claimed: &ClaimedDelivery,
        status: Option<u16>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.store
            .mark_webhook_delivered(claimed.delivery.id, status.unwrap_or(200), now)
            .await
            .map(drop)
    }

    async fn retry_at(
        &self,
        claimed: &ClaimedDelivery,
        at: DateTime<Utc>,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()> {
        self.store
            .retry_webhook_delivery(claimed.delivery.id, at, status, reason)
            .await
            .map(drop)
    }

    async fn dead_letter(
        &self,
        claimed: &ClaimedDelivery,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()> {
        self.store
            .dead_letter_webhook_delivery(claimed.delivery.id, status, reason)
            .await
            .map(drop)
    }
}

/// Delivers the outbox of every tenant.
#[derive(Debug, Clone)]
pub struct WebhookWorker {
    worker: Worker<WebhookChannel>,
    backoff: Backoff,
}

impl WebhookWorker {
    /// Receivers are reached only at addresses `egress` permits.
    pub fn new(
        store: Arc<dyn Store>,
        config: WebhookConfig,
        egress: EgressPolicy,
    ) -> Result<Self, reqwest::Error> {
        let client = egress.client(Duration::from_millis(config.timeout_ms))?;
        let backoff = Backoff {
            base: Duration::from_millis(config.backoff_base_ms),
            cap: Duration::from_millis(config.backoff_cap_ms),
        };
        let policy = RetryPolicy {
            backoff,
            max_attempts: config.max_attempts,
            max_retry_after: backoff.cap,
        };
        Ok(Self {
            worker: Worker::new(
                Arc::new(WebhookChannel {
                    store,
                    egress,
                    client,
                }),
                policy,
            ),
            backoff,
        })
    }

    /// Delay after attempt `attempt` (1-based) failed.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt)
    }

    /// One round at `now`. Returns how many deliveries were attempted.
    pub async fn run_once(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        self.worker.run_once(now).await
    }
}

/// The background worker; `stop` ends it after the round in flight.
pub type WebhookWorkerHandle = OutboxHandle;

/// Starts the worker unless `config.worker_enabled` is off.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    config: &WebhookConfig,
    egress: &EgressPolicy,
) -> Result<OutboxHandle, reqwest::Error> {
    if !config.worker_enabled {
        return Ok(OutboxHandle::idle());
    }
    let worker = WebhookWorker::new(store, config.clone(), egress.clone())?;
    Ok(OutboxHandle::spawn(
        worker.worker,
        Duration::from_millis(config.poll_interval_ms),
    ))
}
