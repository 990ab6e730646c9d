//! The `[live]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// The live map stream, `GET /v1/live`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// Changes are sent to each viewer at most this often, newest per record.
    pub flush_ms: u64,
    /// A ping frame and a `heartbeat` message this often.
    pub heartbeat_ms: u64,
    /// A viewer that sends nothing (not even a pong) this long is dropped.
    pub idle_timeout_ms: u64,
    /// A viewer that does not take a message within this long is dropped.
    pub send_timeout_ms: u64,
    /// At most this many open tickets in a snapshot.
    pub max_snapshot_tickets: usize,
    /// Changes kept per watched tenant so that a reconnecting viewer gets
    /// only what it missed (`GET /v1/live?since=`); further behind, it gets
    /// a snapshot.
    pub resume_changes: usize,
    /// A tenant's changes are kept this long after its last viewer left.
    pub resume_grace_ms: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            flush_ms: 100,
            heartbeat_ms: 15_000,
            idle_timeout_ms: 45_000,
            send_timeout_ms: 10_000,
            max_snapshot_tickets: 5_000,
            resume_changes: 50_000,
            resume_grace_ms: 120_000,
        }
    }
}

impl LiveConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=10_000).contains(&self.flush_ms) {
            return Err(ConfigError::invalid(
                "live.flush_ms",
                "must be between 10 and 10000",
            ));
        }
        if self.heartbeat_ms < 10 || self.idle_timeout_ms <= self.heartbeat_ms {
            return Err(ConfigError::invalid(
                "live.idle_timeout_ms",
                "must be longer than live.heartbeat_ms (at least 10)",
            ));
        }
        if self.send_timeout_ms < 10 {
            return Err(ConfigError::invalid(
                "live.send_timeout_ms",
                "must be at least 10",
            ));
        }
        if self.resume_changes > 10_000_000 {
            return Err(ConfigError::invalid(
                "live.resume_changes",
                "must be at most 10000000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_timeout_within_the_heartbeat_is_refused() {
        assert!(LiveConfig::default().validate().is_ok());
        let config = LiveConfig {
            heartbeat_ms: 1_000,
            idle_timeout_ms: 1_000,
            ..LiveConfig::default()
        };
        let error = config.validate().expect_err("idle timeout not longer");
        assert_eq!(
            error.to_string(),
            "configuration key `live.idle_timeout_ms`: must be longer than live.heartbeat_ms (at least 10)"
        );
    }
}
