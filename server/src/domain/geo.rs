//! Geographic coordinates.

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

/// WGS84 latitude/longitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn validate(&self, field: &str, errors: &mut ValidationErrors) {
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            errors.add(
                format!("{field}.lat"),
                "must be a finite number between -90 and 90",
            );
        }
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            errors.add(
                format!("{field}.lon"),
                "must be a finite number between -180 and 180",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(lat: f64, lon: f64) -> usize {
        let mut errors = ValidationErrors::new();
        GeoPoint { lat, lon }.validate("location", &mut errors);
        errors.0.len()
    }

    #[test]
    fn accepts_the_whole_globe_and_rejects_the_rest() {
        assert_eq!(problems(90.0, 180.0), 0);
        assert_eq!(problems(-90.0, -180.0), 0);
        assert_eq!(problems(52.52, 13.40), 0);
        assert_eq!(problems(90.0001, 0.0), 1);
        assert_eq!(problems(0.0, -180.5), 1);
        assert_eq!(problems(f64::NAN, f64::INFINITY), 2);
    }
}
