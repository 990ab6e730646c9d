//! The `[schedule]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// How often the maintenance generator (on the leading replica) looks
    /// for occurrences whose tickets are due, in milliseconds.
    pub maintenance_poll_ms: u64,
    /// Base URL of an OSRM-compatible server (`http://osrm:5000`) whose
    /// `table` service gives day plans their driving times; unset: the
    /// great-circle estimate. Reached under the `[egress]` rules.
    pub osrm_url: Option<String>,
    /// The routing profile in the `table` request's path.
    pub osrm_profile: String,
    /// How long a plan waits for the road network before estimating.
    pub osrm_timeout_ms: u64,
    /// Point pairs kept per replica (emptied when full).
    pub osrm_cache_pairs: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            maintenance_poll_ms: 60_000,
            osrm_url: None,
            osrm_profile: "driving".into(),
            osrm_timeout_ms: 3_000,
            osrm_cache_pairs: 2_000_000,
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
        if let Some(url) = &self.osrm_url {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(ConfigError::invalid(
                    "schedule.osrm_url",
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if self.osrm_profile.is_empty()
            || !self
                .osrm_profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::invalid(
                "schedule.osrm_profile",
                "letters, digits, - and _ only",
            ));
        }
        if !(50..=120_000).contains(&self.osrm_timeout_ms) {
            return Err(ConfigError::invalid(
                "schedule.osrm_timeout_ms",
                "must be between 50 and 120000",
            ));
        }
        if self.osrm_cache_pairs == 0 {
            return Err(ConfigError::invalid(
                "schedule.osrm_cache_pairs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The road network's settings, when one is configured.
    pub fn road_network(&self) -> Option<super::travel::RoadNetworkSettings> {
        self.osrm_url
            .as_ref()
            .map(|url| super::travel::RoadNetworkSettings {
                url: url.clone(),
                profile: self.osrm_profile.clone(),
                timeout: std::time::Duration::from_millis(self.osrm_timeout_ms),
                cache_pairs: self.osrm_cache_pairs,
            })
    }
}
