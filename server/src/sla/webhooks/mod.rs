//! Outgoing webhooks: event types, subscription validation, the signature
//! scheme, and the delivery worker.
//!
//! # Signature
//!
//! Every delivery is a `POST` of the event's JSON with the header
//! `Truckroll-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the
//! MAC is computed with the subscription's secret (its UTF-8 bytes) over
//! `<t>.<body>` — the timestamp, a full stop, and the exact body bytes.
//! Receivers recompute it, compare in constant time, and refuse timestamps
//! too far from their clock (replays). `Truckroll-Event-Id` (the same for
//! every retry and redelivery of one event: deduplicate on it),
//! `Truckroll-Event-Type` and `Truckroll-Delivery-Id` are sent too.

mod worker;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use worker::{WebhookWorker, WebhookWorkerHandle, spawn_worker};

use crate::{config_error::ConfigError, domain::ValidationErrors};

/// The event types a subscription may ask for.
pub const EVENT_TYPES: [&str; 8] = [
    "ticket.created",
    "ticket.assigned",
    "ticket.status_changed",
    "ticket.completed",
    "sla.warning",
    "sla.breached",
    // A trigger rule's webhook action (issue 21).
    "rule.fired",
    // The tenant's audit anchor moved: a signed checkpoint (issue 19).
    "audit.anchored",
];

/// Header carrying `t=…,v1=…`.
pub const SIGNATURE_HEADER: &str = "truckroll-signature";

/// The signature header value for `body` sent at unix time `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// Checks a subscription's URL and events into `errors`.
pub fn validate_subscription(errors: &mut ValidationErrors, url: &str, events: &[String]) {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
        _ => errors.add("url", "must be an absolute http:// or https:// URL"),
    }
    if url.len() > 2000 {
        errors.add("url", "must be at most 2000 characters");
    }
    if events.is_empty() {
        errors.add("events", "must list at least one event type");
    }
    for (i, event) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&event.as_str()) {
            errors.add(
                format!("events[{i}]"),
                format!("unknown event type; one of {}", EVENT_TYPES.join(", ")),
            );
        } else if events[..i].contains(event) {
            errors.add(format!("events[{i}]"), "is listed twice");
        }
    }
}

/// The `[webhooks]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Run the delivery worker in this process (every replica may).
    pub worker_enabled: bool,
    /// How often the worker looks for due deliveries.
    pub poll_interval_ms: u64,
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; it doubles per attempt (with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// Time allowed for the receiver to answer.
    pub timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            worker_enabled: true,
            poll_interval_ms: 1000,
            max_attempts: 10,
            backoff_base_ms: 10_000,
            backoff_cap_ms: 3_600_000,
            timeout_ms: 10_000,
        }
    }
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=3_600_000).contains(&self.poll_interval_ms) {
            return Err(ConfigError::invalid(
                "webhooks.poll_interval_ms",
                "must be between 10 and 3600000",
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(ConfigError::invalid(
                "webhooks.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return Err(ConfigError::invalid(
                "webhooks.backoff_cap_ms",
                "backoff_base_ms must be positive and backoff_cap_ms at least backoff_base_ms",
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(ConfigError::invalid(
                "webhooks.timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // The documented construction: HMAC over "<t>.<body>".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_k").expect("key");
        mac.update(b"1700000000.{\"a\":1}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sign("whsec_k", 1_700_000_000, "{\"a\":1}"), expected);
        assert_eq!(
            signature("whsec_k", 1_700_000_000, "{\"a\":1}"),
            format!("t=1700000000,v1={expected}")
        );
    }

    #[test]
    fn subscriptions_are_validated_with_field_names() {
        let mut errors = ValidationErrors::new();
        validate_subscription(
            &mut errors,
            "ftp://x",
            &[
                "ticket.created".into(),
                "nope".into(),
                "ticket.created".into(),
            ],
        );
        let text = format!("{errors:?}");
        assert!(
            text.contains("url") && text.contains("events[1]") && text.contains("events[2]"),
            "{text}"
        );
    }
}
