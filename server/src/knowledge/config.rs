//! The `[knowledge]` configuration section (issue 22): the duplicate
//! check's look-back and whether a parent ticket may close while sub-tickets
//! are open.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// How many days back the duplicate check looks by default (a request
    /// may say `window_days`).
    pub duplicate_window_days: u32,
    /// A parent ticket may be closed while sub-tickets are still open.
    pub close_parent_with_open_children: bool,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            duplicate_window_days: 14,
            close_parent_with_open_children: false,
        }
    }
}

impl KnowledgeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=365).contains(&self.duplicate_window_days) {
            return Err(ConfigError::invalid(
                "knowledge.duplicate_window_days",
                "must be between 1 and 365",
            ));
        }
        Ok(())
    }
}
