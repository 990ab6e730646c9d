//! The `[dispatch]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    /// Average road speed used to turn distance into travel minutes.
    pub average_speed_kmh: f64,
    /// Score weight per minute of travel (lower scores rank first).
    pub weight_travel_minute: f64,
    /// Score weight per open assignment the technician already has.
    pub weight_open_job: f64,
    /// Score bonus per skill level above the required one.
    pub weight_extra_skill_level: f64,
    /// Pings stamped further than this in the future are refused.
    pub ping_max_future_secs: u64,
    /// Ping trail kept this many days.
    pub location_retention_days: u32,
    /// A check-in is verified when the phone's distance to the site, less
    /// its reported accuracy, is at most this many metres.
    pub checkin_radius_m: f64,
    /// How long a technician has to accept an offer.
    pub offer_window_secs: u64,
    /// How often expired offers are looked for.
    pub offer_poll_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            average_speed_kmh: 40.0,
            weight_travel_minute: 1.0,
            weight_open_job: 15.0,
            weight_extra_skill_level: 5.0,
            ping_max_future_secs: 300,
            location_retention_days: 30,
            checkin_radius_m: 150.0,
            offer_window_secs: 120,
            offer_poll_ms: 1000,
        }
    }
}

impl DispatchConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.average_speed_kmh.is_finite() || self.average_speed_kmh <= 0.0 {
            return Err(ConfigError::invalid(
                "dispatch.average_speed_kmh",
                "must be a positive number",
            ));
        }
        for (key, weight) in [
            ("dispatch.weight_travel_minute", self.weight_travel_minute),
            ("dispatch.weight_open_job", self.weight_open_job),
            (
                "dispatch.weight_extra_skill_level",
                self.weight_extra_skill_level,
            ),
        ] {
            if !weight.is_finite() || weight < 0.0 {
                return Err(ConfigError::invalid(
                    key,
                    "must be a finite number, at least 0",
                ));
            }
        }
        if !(10..=86_400).contains(&self.offer_window_secs) {
            return Err(ConfigError::invalid(
                "dispatch.offer_window_secs",
                "must be between 10 and 86400",
            ));
        }
        if !(50..=60_000).contains(&self.offer_poll_ms) {
            return Err(ConfigError::invalid(
                "dispatch.offer_poll_ms",
                "must be between 50 and 60000",
            ));
        }
        if self.location_retention_days == 0 {
            return Err(ConfigError::invalid(
                "dispatch.location_retention_days",
                "must be at least 1",
            ));
        }
        if !self.checkin_radius_m.is_finite() || self.checkin_radius_m < 0.0 {
            return Err(ConfigError::invalid(
                "dispatch.checkin_radius_m",
                "must be a finite number of metres, at least 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_weight_is_refused_by_its_key() {
        assert!(DispatchConfig::default().validate().is_ok());
        let config = DispatchConfig {
            weight_open_job: -1.0,
            ..DispatchConfig::default()
        };
        let error = config.validate().expect_err("negative weight");
        assert_eq!(
            error.to_string(),
            "configuration key `dispatch.weight_open_job`: must be a finite number, at least 0"
        );
    }
}
