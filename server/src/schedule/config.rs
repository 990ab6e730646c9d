//! The `[schedule]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// How often the maintenance generator (on the leading replica) looks
    /// for occurrences whose tickets are due, in milliseconds.
    pub maintenance_poll_ms: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            maintenance_poll_ms: 60_000,
        }
    }
}

impl ScheduleConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=86_400_000).contains(&self.maintenance_poll_ms) {
            return Err(ConfigError::invalid(
                "schedule.maintenance_poll_ms",
                "must be between 10 and 86400000",
            ));
        }
        Ok(())
    }
}
