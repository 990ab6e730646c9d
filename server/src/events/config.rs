//! The `[events]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// Which event bus carries state changes between replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventsBackend {
    /// In process: one replica.
    Memory,
    /// PostgreSQL LISTEN/NOTIFY: several replicas on one database.
    Postgres,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub backend: EventsBackend,
    /// Position fixes are gathered this long and sent as a few notifications
    /// (postgres backend).
    pub position_flush_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            backend: EventsBackend::Memory,
            position_flush_ms: 50,
        }
    }
}

impl EventsConfig {
    /// Checks this section alone; that `backend = "postgres"` has a
    /// PostgreSQL `database_url` is checked where both are known
    /// (`Config::validated`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=10_000).contains(&self.position_flush_ms) {
            return Err(ConfigError::invalid(
                "events.position_flush_ms",
                "must be between 10 and 10000",
            ));
        }
        Ok(())
    }
}
