//! The `[push]` configuration section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushProvider {
    /// Log each notification (token redacted); nothing leaves the server.
    Log,
    /// Firebase Cloud Messaging, HTTP v1 API.
    Fcm,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub provider: PushProvider,
    /// Firebase project id (`provider = "fcm"`).
    pub fcm_project_id: Option<String>,
    /// Service-account JSON key file (`provider = "fcm"`): `client_email`,
    /// `private_key` (PEM) and `token_uri` are used.
    pub fcm_service_account_file: Option<PathBuf>,
    /// Base of the FCM API; messages go to
    /// `{fcm_base_url}/v1/projects/{fcm_project_id}/messages:send`.
    pub fcm_base_url: String,
    /// Where to request OAuth2 tokens instead of the key file's `token_uri`
    /// (which stays the JWT audience).
    pub token_url_override: Option<String>,
    /// Send attempts per message before it is marked failed.
    pub max_attempts: u32,
    /// How often the worker looks for due messages.
    pub poll_interval_ms: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            provider: PushProvider::Log,
            fcm_project_id: None,
            fcm_service_account_file: None,
            fcm_base_url: "https://fcm.googleapis.com".into(),
            token_url_override: None,
            max_attempts: 8,
            poll_interval_ms: 1000,
        }
    }
}

impl PushConfig {
    /// Checks every key, and with `provider = "fcm"` that the project id is
    /// set and the key file is readable and holds a usable RSA key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 || self.max_attempts > 100 {
            return Err(ConfigError::invalid(
                "push.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if !(10..=3_600_000).contains(&self.poll_interval_ms) {
            return Err(ConfigError::invalid(
                "push.poll_interval_ms",
                "must be between 10 and 3600000",
            ));
        }
        if !is_http_url(&self.fcm_base_url) {
            return Err(ConfigError::invalid(
                "push.fcm_base_url",
                "must be an http:// or https:// URL",
            ));
        }
        if let Some(url) = &self.token_url_override
            && !is_http_url(url)
        {
            return Err(ConfigError::invalid(
                "push.token_url_override",
                "must be an http:// or https:// URL",
            ));
        }
        if self.provider == PushProvider::Fcm {
            let project = self
                .fcm_project_id
                .as_deref()
                .map(str::trim)
                .unwrap_or_default();
            if project.is_empty() {
                return Err(ConfigError::invalid(
                    "push.fcm_project_id",
                    "is required when push.provider is \"fcm\"",
                ));
            }
            if !project
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(ConfigError::invalid(
                    "push.fcm_project_id",
                    "must be a Firebase project id (lowercase letters, digits, dashes)",
                ));
            }
            let Some(path) = &self.fcm_service_account_file else {
                return Err(ConfigError::invalid(
                    "push.fcm_service_account_file",
                    "is required when push.provider is \"fcm\"",
                ));
            };
            super::fcm::ServiceAccount::load(path)
                .and_then(|account| account.encoding_key().map(|_| ()))
                .map_err(|e| {
                    ConfigError::invalid("push.fcm_service_account_file", e.to_string())
                })?;
        }
        Ok(())
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
}
