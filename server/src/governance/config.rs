//! The `[governance]` configuration section.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::audit_key::AuditKeyring;
use crate::{config_error::ConfigError, domain::people::Role};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceConfig {
    /// How long an `Idempotency-Key` is remembered; a later request with it
    /// runs anew.
    pub idempotency_key_ttl_secs: u64,
    /// A key whose request has neither answered nor committed a write after
    /// this long counts as abandoned (the process stopped): the next request
    /// with the key runs. Longer than any request takes.
    pub idempotency_abandoned_after_secs: u64,
    /// `/metrics` on the API's address answers only with
    /// `Authorization: Bearer <metrics_token>`; empty: not there at all.
    pub metrics_token: String,
    /// A second address serving only `/metrics` without a token, for a
    /// scraper on a private network (e.g. `127.0.0.1:9464`).
    pub metrics_listen: Option<SocketAddr>,
    /// Frames one `POST /v1/sync` may carry.
    pub sync_max_frames: usize,
    /// Documents one sync session (a WebSocket or one exchange) may send
    /// changes for.
    pub sync_max_documents: usize,
    /// Office roles allowed to record a customer's signature on a ticket
    /// (besides the technician it is assigned to). Empty: nobody else.
    pub signature_roles: Vec<Role>,
    /// How far in the future a signature's `signed_at` may lie (device clocks drift).
    pub signature_max_skew_secs: u64,
    /// `<key id>:<secret>` (32+ characters) sealing new audit entries with
    /// an HMAC (`governance::audit_key`); empty: the chain is hashed only.
    pub audit_key: String,
    /// Former `audit_key`s, so entries sealed with them still verify.
    pub audit_retired_keys: Vec<String>,
    /// Entries are sealed only while younger than this; an older unsealed
    /// entry inside the sealed part of the chain fails verification.
    pub audit_seal_window_secs: u64,
    /// How often the sealer looks for new entries.
    pub audit_seal_interval_ms: u64,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        Self {
            idempotency_key_ttl_secs: 24 * 3600,
            idempotency_abandoned_after_secs: 120,
            metrics_token: String::new(),
            metrics_listen: None,
            sync_max_frames: 1000,
            sync_max_documents: 1000,
            signature_roles: Vec::new(),
            signature_max_skew_secs: 300,
            audit_key: String::new(),
            audit_retired_keys: Vec::new(),
            audit_seal_window_secs: 600,
            audit_seal_interval_ms: 2000,
        }
    }
}

impl std::fmt::Debug for GovernanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernanceConfig")
            .field("idempotency_key_ttl_secs", &self.idempotency_key_ttl_secs)
            .field(
                "idempotency_abandoned_after_secs",
                &self.idempotency_abandoned_after_secs,
            )
            .field(
                "metrics_token",
                &if self.metrics_token.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("metrics_listen", &self.metrics_listen)
            .field("sync_max_frames", &self.sync_max_frames)
            .field("sync_max_documents", &self.sync_max_documents)
            .field("signature_roles", &self.signature_roles)
            .field("signature_max_skew_secs", &self.signature_max_skew_secs)
            .field("audit_keys", &self.keyring().ok())
            .field("audit_seal_window_secs", &self.audit_seal_window_secs)
            .field("audit_seal_interval_ms", &self.audit_seal_interval_ms)
            .finish()
    }
}

impl GovernanceConfig {
    /// The audit keys (validated with the section).
    pub fn keyring(&self) -> Result<AuditKeyring, ConfigError> {
        AuditKeyring::from_config(&self.audit_key, &self.audit_retired_keys)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.idempotency_abandoned_after_secs == 0
            || self.idempotency_key_ttl_secs < self.idempotency_abandoned_after_secs
            || self.idempotency_key_ttl_secs > 366 * 24 * 3600
        {
            return Err(ConfigError::invalid(
                "governance.idempotency_key_ttl_secs",
                "must be at least governance.idempotency_abandoned_after_secs (positive) and at most a year",
            ));
        }
        if !self.metrics_token.is_empty() && self.metrics_token.len() < 16 {
            return Err(ConfigError::invalid(
                "governance.metrics_token",
                "must be at least 16 characters",
            ));
        }
        if self.sync_max_frames == 0 {
            return Err(ConfigError::invalid(
                "governance.sync_max_frames",
                "must be at least 1",
            ));
        }
        if self.sync_max_documents == 0 {
            return Err(ConfigError::invalid(
                "governance.sync_max_documents",
                "must be at least 1",
            ));
        }
        self.keyring()?;
        if self.audit_seal_window_secs < 10 || self.audit_seal_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "governance.audit_seal_window_secs",
                "must be at least 10, with a positive audit_seal_interval_ms",
            ));
        }
        if self.signature_max_skew_secs > 24 * 3600 || self.audit_seal_window_secs > 7 * 24 * 3600 {
            return Err(ConfigError::invalid(
                "governance.signature_max_skew_secs",
                "must be at most a day (and audit_seal_window_secs at most a week)",
            ));
        }
        if self.signature_roles.contains(&Role::Technician) {
            return Err(ConfigError::invalid(
                "governance.signature_roles",
                "lists office roles; technicians sign on their own assigned tickets already",
            ));
        }
        Ok(())
    }
}
