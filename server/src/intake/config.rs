//! The `[intake]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Read the tenants' IMAP mailboxes (one replica at a time).
    pub imap_enabled: bool,
    /// Seconds between polls of a mailbox; with IDLE, the longest wait
    /// before the mailbox is polled again anyway.
    pub poll_interval_secs: u64,
    /// Wait with IMAP IDLE between polls where the server offers it.
    pub use_idle: bool,
    /// Largest raw message accepted (bytes), by the endpoint and from IMAP.
    pub max_message_bytes: usize,
    /// Web form submissions per client address and hour.
    pub form_per_address_per_hour: u32,
    /// Largest web form request (bytes, photos included).
    pub max_form_bytes: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            imap_enabled: true,
            poll_interval_secs: 60,
            use_idle: true,
            max_message_bytes: 25 * 1024 * 1024,
            form_per_address_per_hour: 20,
            max_form_bytes: 20 * 1024 * 1024,
        }
    }
}

impl IntakeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_interval_secs == 0 || self.poll_interval_secs > 3600 {
            return Err(ConfigError::invalid(
                "intake.poll_interval_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::invalid(
                "intake.max_message_bytes",
                "must be at least 1024",
            ));
        }
        if self.form_per_address_per_hour == 0 {
            return Err(ConfigError::invalid(
                "intake.form_per_address_per_hour",
                "must be at least 1",
            ));
        }
        if self.max_form_bytes < 1024 {
            return Err(ConfigError::invalid(
                "intake.max_form_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}
