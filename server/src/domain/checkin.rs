//! Geofenced check-in: where the phone was when the technician said
//! "on site". A check-in is never refused; it is recorded as verified,
//! unverified (with the distance) or without a position.

use chrono::{DateTime, Utc};
use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ValidationErrors, geo::GeoPoint};

/// The phone's fix sent with a check-in.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInPosition {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres, as the phone reports it.
    pub accuracy_m: f64,
}

impl CheckInPosition {
    /// The same rules as for location pings.
    pub fn validate(&self, field: &str, errors: &mut ValidationErrors) {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
        .validate(field, errors);
        if !self.accuracy_m.is_finite() || self.accuracy_m < 0.0 {
            errors.add(
                format!("{field}.accuracy_m"),
                "must be a finite number of metres, at least 0",
            );
        }
    }
}

/// The outcome of the newest check-in on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckIn {
    /// `true`: within the check-in radius of the site (allowing for the
    /// accuracy); `false`: farther; `null`: no position was sent.
    pub verified: Option<bool>,
    /// Great-circle distance from the reported position to the site.
    pub distance_m: Option<f64>,
    /// The accuracy the phone reported.
    pub accuracy_m: Option<f64>,
    /// When the server recorded the check-in.
    pub at: DateTime<Utc>,
}

impl CheckIn {
    /// Judges a check-in at `site`: verified when the distance minus the
    /// reported accuracy is at most `radius_m`.
    pub fn evaluate(
        site: GeoPoint,
        position: Option<&CheckInPosition>,
        radius_m: f64,
        at: DateTime<Utc>,
    ) -> CheckIn {
        let at = super::audit::audit_time(at);
        match position {
            None => CheckIn {
                verified: None,
                distance_m: None,
                accuracy_m: None,
                at,
            },
            Some(position) => {
                let distance = Haversine.distance(
                    Point::new(site.lon, site.lat),
                    Point::new(position.lon, position.lat),
                );
                // Centimetres are plenty and keep the stored value stable.
                let distance_m = (distance * 100.0).round() / 100.0;
                CheckIn {
                    verified: Some(distance_m - position.accuracy_m <= radius_m),
                    distance_m: Some(distance_m),
                    accuracy_m: Some(position.accuracy_m),
                    at,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: GeoPoint = GeoPoint {
        lat: 52.5163,
        lon: 13.3795,
    };

    fn at(lat: f64, lon: f64, accuracy_m: f64) -> CheckIn {
        CheckIn::evaluate(
            SITE,
            Some(&CheckInPosition {
                lat,
                lon,
                accuracy_m,
            }),
            150.0,
            Utc::now(),
        )
    }

    #[test]
    fn near_is_verified_far_is_not_and_accuracy_counts() {
        // 0.001° of latitude is about 111 m.
        let near = at(52.5173, 13.3795, 5.0);
        assert_eq!(near.verified, Some(true));
        assert!((near.distance_m.expect("distance") - 111.2).abs() < 1.0);
        let far = at(52.5193, 13.3795, 5.0);
        assert_eq!(far.verified, Some(false));
        assert!((far.distance_m.expect("distance") - 333.6).abs() < 1.0);
        // The same spot with a 200 m accuracy radius may be within 150 m.
        assert_eq!(at(52.5193, 13.3795, 200.0).verified, Some(true));
        let none = CheckIn::evaluate(SITE, None, 150.0, Utc::now());
        assert_eq!((none.verified, none.distance_m), (None, None));
    }

    #[test]
    fn positions_are_checked_like_pings() {
        let mut errors = ValidationErrors::new();
        CheckInPosition {
            lat: f64::NAN,
            lon: 200.0,
            accuracy_m: -1.0,
        }
        .validate("position", &mut errors);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["position.lat", "position.lon", "position.accuracy_m"]
        );
    }
}
