//! Position pings from technicians' phones.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationErrors;

/// One GPS fix, stamped with the phone's clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPing {
    /// When the phone took the fix (RFC 3339).
    pub device_time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres.
    pub accuracy_m: f64,
    /// Metres per second, when the phone knows it.
    pub speed_mps: Option<f64>,
    /// Degrees clockwise from north, 0 to 360.
    pub heading_deg: Option<f64>,
}

/// Largest batch a phone may send at once (hours of buffered pings).
pub const MAX_PINGS_PER_BATCH: usize = 5000;

impl LocationPing {
    /// Device time at the microsecond precision both databases keep, so a
    /// re-sent ping is recognised as the same ping.
    pub fn normalized(mut self) -> Self {
        self.device_time = super::audit::audit_time(self.device_time);
        self
    }
}

/// Checks a batch; every bad ping is named by its index.
pub fn validate_batch(
    pings: &[LocationPing],
    now: DateTime<Utc>,
    max_future: Duration,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if pings.is_empty() {
        errors.add("pings", "must contain at least one ping");
    }
    if pings.len() > MAX_PINGS_PER_BATCH {
        errors.add(
            "pings",
            format!("must contain at most {MAX_PINGS_PER_BATCH} pings"),
        );
    }
    for (i, ping) in pings.iter().enumerate() {
        super::geo::GeoPoint {
            lat: ping.lat,
            lon: ping.lon,
        }
        .validate(&format!("pings[{i}]"), &mut errors);
        if !ping.accuracy_m.is_finite() || ping.accuracy_m < 0.0 {
            errors.add(
                format!("pings[{i}].accuracy_m"),
                "must be a finite number of metres, at least 0",
            );
        }
        if ping.speed_mps.is_some_and(|s| !s.is_finite() || s < 0.0) {
            errors.add(
                format!("pings[{i}].speed_mps"),
                "must be a finite number, at least 0",
            );
        }
        if ping
            .heading_deg
            .is_some_and(|h| !h.is_finite() || !(0.0..=360.0).contains(&h))
        {
            errors.add(
                format!("pings[{i}].heading_deg"),
                "must be between 0 and 360",
            );
        }
        if ping.device_time > now + max_future {
            errors.add(
                format!("pings[{i}].device_time"),
                format!(
                    "is more than {} s in the future; check the phone's clock",
                    max_future.num_seconds()
                ),
            );
        }
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(lat: f64, lon: f64, accuracy_m: f64, device_time: DateTime<Utc>) -> LocationPing {
        LocationPing {
            device_time,
            lat,
            lon,
            accuracy_m,
            speed_mps: None,
            heading_deg: None,
        }
    }

    #[test]
    fn names_every_bad_ping() {
        let now = Utc::now();
        let pings = [
            ping(52.5, 13.4, 5.0, now),
            ping(f64::NAN, 13.4, 5.0, now),
            ping(52.5, 181.0, -1.0, now),
            ping(52.5, 13.4, 5.0, now + Duration::hours(2)),
        ];
        let errors =
            validate_batch(&pings, now, Duration::minutes(5)).expect_err("three bad pings");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "pings[1].lat",
                "pings[2].lon",
                "pings[2].accuracy_m",
                "pings[3].device_time"
            ]
        );
        assert!(validate_batch(&pings[..1], now, Duration::minutes(5)).is_ok());
        assert!(validate_batch(&[], now, Duration::minutes(5)).is_err());
    }
}
