//! The `[automation]` section (issue 21).

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationConfig {
    /// How often the replica leading `timed_rules` looks for time-based
    /// rules whose clocks ran out, in seconds: a rule fires at most this
    /// late.
    pub timed_sweep_secs: u64,
}

impl Default for AutomationConfig {
    fn default() -> Self {
        Self {
            timed_sweep_secs: 30,
        }
    }
}

impl AutomationConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.timed_sweep_secs) {
            return Err(ConfigError::invalid(
                "automation.timed_sweep_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }

    pub fn timed_sweep(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timed_sweep_secs)
    }
}
