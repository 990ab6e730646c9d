//! Outgoing webhooks: subscriptions, and the delivery queue (a transactional
//! outbox: deliveries are written in the transaction of the change they
//! report, and sent later by the worker).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult};

/// How long a claimed delivery is reserved for its sender; a sender that
/// dies leaves it due again after this.
pub const DELIVERY_LEASE: chrono::Duration = chrono::Duration::seconds(120);

/// A tenant's subscription. The secret is only shown when created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types delivered: ticket.created, ticket.assigned,
    /// ticket.status_changed, ticket.completed, sla.warning, sla.breached.
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Gave up after the retry budget: a dead letter, redeliverable by hand.
    Dead,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub ticket_id: Option<Uuid>,
    /// The JSON text sent.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A claimed delivery with where and how to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("delivery", &self.delivery.id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[async_trait]
pub trait WebhookStore {
    async fn create_webhook(
        &self,
        actor: Actor,
        url: &str,
        events: &[String],
        active: bool,
        secret: &str,
    ) -> StoreResult<Webhook>;
    async fn list_webhooks(&self, tenant_id: Uuid) -> StoreResult<Vec<Webhook>>;
    /// Queues an event about the tenant as a whole (no ticket), such as
    /// `audit.anchored`, for its active subscriptions that want it; returns
    /// how many deliveries were queued.
    async fn queue_tenant_event_webhooks(
        &self,
        tenant_id: Uuid,
        event_type: &str,
        data: serde_json::Value,
    ) -> StoreResult<usize>;
    async fn get_webhook(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Webhook>;
    /// Replaces url, events and active.
    async fn update_webhook(&self, actor: Actor, webhook: &Webhook) -> StoreResult<Webhook>;
    /// Deletes the subscription and its deliveries.
    async fn delete_webhook(&self, actor: Actor, id: Uuid) -> StoreResult<()>;
    /// Claims up to `limit` deliveries due at `now` whose ticket has no
    /// earlier delivery still pending for the same subscription (so each
    /// ticket's events go out in order); each is leased for [`DELIVERY_LEASE`]
    /// and its attempt counted.
    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    async fn mark_webhook_delivered(
        &self,
        id: Uuid,
        status: u16,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn retry_webhook_delivery(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        status: Option<u16>,
        error: &str,
    ) -> StoreResult<bool>;
    async fn dead_letter_webhook_delivery(
        &self,
        id: Uuid,
        status: Option<u16>,
        error: &str,
    ) -> StoreResult<bool>;
    /// Deliveries of the tenant, newest first (at most 500), optionally of one
    /// subscription and/or in one state.
    async fn list_webhook_deliveries(
        &self,
        tenant_id: Uuid,
        subscription_id: Option<Uuid>,
        state: Option<DeliveryState>,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Deliveries about one ticket, oldest first (at most 500).
    async fn list_ticket_webhook_deliveries(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Puts a dead (or delivered) delivery back in the queue, due at `now`,
    /// with a fresh retry budget.
    async fn redeliver_webhook_delivery(
        &self,
        actor: Actor,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<WebhookDelivery>;
}
