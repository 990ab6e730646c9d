//! Push notifications to technicians' phones.
//!
//! Writers never send: they enqueue into the durable outbox (`PushStore`),
//! usually right after their own transaction commits. The [`PushWorker`]
//! claims due messages, sends each through the configured [`Notifier`]
//! outside any transaction, and records the outcome: delivered, retry later
//! (the provider's `Retry-After`, else exponential backoff with jitter),
//! token gone (cleared from the device table), or failed for good.
//!
//! Notifiers: [`LogNotifier`] (the default; logs with the token redacted) and
//! [`fcm::FcmNotifier`] (Firebase Cloud Messaging HTTP v1 with an OAuth2
//! service-account token).

mod config;
pub mod fcm;
mod logging;
mod worker;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use config::{PushConfig, PushProvider};
pub use logging::LogNotifier;
pub use worker::{
    BACKOFF_BASE, BACKOFF_CAP, MAX_RETRY_AFTER, PushWorker, PushWorkerHandle, backoff, spawn_worker,
};

use crate::{
    domain::ticket::Ticket,
    store::{
        Store,
        push::{OutboxPush, PushContent},
    },
};

/// One notification for one device token.
#[derive(Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The outbox id, for logs.
    pub id: Uuid,
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: BTreeMap<String, String>,
}

impl std::fmt::Debug for PushMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushMessage")
            .field("id", &self.id)
            .field("token", &redact_token(&self.token))
            .field("title", &self.title)
            .field("body", &self.body)
            .field("data", &self.data)
            .finish()
    }
}

impl From<&OutboxPush> for PushMessage {
    fn from(push: &OutboxPush) -> Self {
        Self {
            id: push.id,
            token: push.token.clone(),
            title: push.content.title.clone(),
            body: push.content.body.clone(),
            data: push.content.data.clone(),
        }
    }
}

/// What the provider made of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Delivered,
    /// Try again later: after `after` when the provider said so
    /// (`Retry-After`), else after the worker's backoff.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The token is no longer valid (app uninstalled, token rotated): it is
    /// removed from the device table.
    TokenUnregistered {
        reason: String,
    },
    /// The message can never be delivered as it is.
    Permanent {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("push configuration: {0}")]
    Config(String),
    /// The OAuth2 token could not be had (the worker retries with backoff).
    #[error("push credentials: {0}")]
    Credentials(String),
    /// The provider could not be reached (the worker retries with backoff).
    #[error("push transport: {0}")]
    Transport(String),
}

/// Sends one message. Implementations classify the provider's answer; the
/// worker decides what to do with it.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn send(&self, message: &PushMessage) -> Result<PushOutcome, PushError>;
}

/// The notifier `config` selects; reads the FCM service-account file.
pub fn notifier(config: &PushConfig) -> Result<Arc<dyn Notifier>, PushError> {
    Ok(match config.provider {
        PushProvider::Log => Arc::new(LogNotifier),
        PushProvider::Fcm => Arc::new(fcm::FcmNotifier::from_config(config)?),
    })
}

/// Queues "new assignment" for every device of the technician's user. Call
/// after the assignment committed; a failure to queue is logged, never
/// turned into an error for a request whose change has already happened.
pub async fn notify_assigned(store: &dyn Store, ticket: &Ticket, technician_user_id: Uuid) {
    let content = PushContent {
        title: "New assignment".into(),
        body: format!("{}: {}", ticket.number, ticket.title),
        data: BTreeMap::from([
            ("type".to_owned(), "ticket.assigned".to_owned()),
            ("ticket_id".to_owned(), ticket.id.to_string()),
            ("ticket_number".to_owned(), ticket.number.clone()),
        ]),
    };
    match store
        .enqueue_push_for_user(ticket.tenant_id, technician_user_id, &content)
        .await
    {
        Ok(ids) => {
            tracing::debug!(ticket = %ticket.id, queued = ids.len(), "assignment push queued")
        }
        Err(error) => {
            tracing::warn!(ticket = %ticket.id, %error, "cannot queue the assignment push")
        }
    }
}

/// A push token as logs may show it: a short fingerprint, never the token.
pub fn redact_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("<token sha256:{}>", hex::encode(&digest[..4]))
}
