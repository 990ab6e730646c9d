//! The `[notify]`, `[smtp]` and `[sms]` configuration sections.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// `[notify]`: links in messages and the retry policy of both channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Run the email and SMS workers in this process (every replica may).
    pub worker_enabled: bool,
    /// Where customers reach this server; links in messages start with it.
    pub public_base_url: String,
    /// How often the workers look for due messages.
    pub poll_interval_ms: u64,
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; it doubles per attempt (with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// HMAC key of the progress page's direct links and bearers (at least
    /// 32 characters). Empty: a random key per process start, so links in
    /// messages stop working after a restart — set it in production.
    #[serde(default)]
    pub link_secret: String,
    /// Requests per minute one client address may make to the public
    /// progress endpoints.
    #[serde(default = "default_public_requests_per_minute")]
    pub public_requests_per_minute: u32,
}

fn default_public_requests_per_minute() -> u32 {
    60
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            worker_enabled: true,
            public_base_url: "http://127.0.0.1:8080".into(),
            poll_interval_ms: 1000,
            max_attempts: 10,
            backoff_base_ms: 30_000,
            backoff_cap_ms: 3_600_000,
            link_secret: String::new(),
            public_requests_per_minute: default_public_requests_per_minute(),
        }
    }
}

impl NotifyConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.public_base_url.starts_with("http://")
            || self.public_base_url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "notify.public_base_url",
                "must start with http:// or https://",
            ));
        }
        if !(10..=3_600_000).contains(&self.poll_interval_ms) {
            return Err(ConfigError::invalid(
                "notify.poll_interval_ms",
                "must be between 10 and 3600000",
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(ConfigError::invalid(
                "notify.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if !self.link_secret.is_empty() && self.link_secret.len() < 32 {
            return Err(ConfigError::invalid(
                "notify.link_secret",
                "must be at least 32 characters",
            ));
        }
        if self.public_requests_per_minute == 0 {
            return Err(ConfigError::invalid(
                "notify.public_requests_per_minute",
                "must be positive",
            ));
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return Err(ConfigError::invalid(
                "notify.backoff_cap_ms",
                "backoff_base_ms must be positive and backoff_cap_ms at least backoff_base_ms",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// `[smtp]`: outgoing email. No `host` means the embedded default: each
/// message is written to the log (and the ticket's timeline) instead.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: String,
    /// The sender, e.g. `Acme Service <service@acme.example>`.
    pub from: String,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: "Truckroll <noreply@localhost>".into(),
            timeout_ms: 10_000,
        }
    }
}

impl SmtpConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::invalid(
                "smtp.from",
                "must be an address such as `Service <service@example.com>`",
            ));
        }
        if self.username.is_empty() != self.password.is_empty() {
            return Err(ConfigError::invalid(
                "smtp.password",
                "username and password go together",
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(ConfigError::invalid(
                "smtp.timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        Ok(())
    }
}

/// `[sms]`: an HTTP provider taking `POST {url}` with a JSON body
/// `{"to", "from", "body"}` and `Authorization: Bearer {token}`. No `url`
/// means the embedded default: messages are written to the log.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    pub url: String,
    pub token: String,
    /// The sender id or number the provider shows.
    pub from: String,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("url", &self.url)
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: String::new(),
            from: "Truckroll".into(),
            timeout_ms: 10_000,
        }
    }
}

impl SmsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let http = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !self.url.is_empty() && !http {
            return Err(ConfigError::invalid(
                "sms.url",
                "must start with http:// or https://",
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(ConfigError::invalid(
                "sms.timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        Ok(())
    }
}
