//! Positions as points on the unit sphere.
//!
//! A latitude/longitude pair maps to the 3-D unit vector
//! `(cos φ cos λ, cos φ sin λ, sin φ)`. The straight-line (chord) distance
//! between two such vectors is `2 sin(θ/2)` for the central angle `θ`, which
//! grows with `θ` over the whole range `0..=π`. So ordering by Euclidean
//! distance in 3-D *is* ordering by great-circle distance, with no seam at the
//! antimeridian and no squeeze at the poles, and an ordinary Euclidean R-tree
//! answers great-circle nearest-neighbour queries exactly.

use geo::{Distance, Haversine, Point};

use crate::domain::geo::GeoPoint;

/// A point on the unit sphere.
pub type UnitVector = [f64; 3];

/// Whether `point` is a finite latitude/longitude on the globe.
pub fn is_valid(point: GeoPoint) -> bool {
    point.lat.is_finite()
        && point.lon.is_finite()
        && (-90.0..=90.0).contains(&point.lat)
        && (-180.0..=180.0).contains(&point.lon)
}

/// The unit vector of a latitude/longitude in degrees.
pub fn unit_vector(point: GeoPoint) -> UnitVector {
    let (sin_lat, cos_lat) = point.lat.to_radians().sin_cos();
    let (sin_lon, cos_lon) = point.lon.to_radians().sin_cos();
    [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat]
}

/// Squared chord length between two unit vectors: the ordering key.
///
/// Summed component by component, the same way `rstar` measures the distance
/// to a bounding box, so a box's distance is never more than the distance to
/// a point inside it, even after rounding.
pub fn chord_squared(a: &UnitVector, b: &UnitVector) -> f64 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

/// Great-circle distance in metres on the mean Earth sphere
/// (`geo`'s haversine, radius 6 371 008.8 m).
pub fn great_circle_m(a: GeoPoint, b: GeoPoint) -> f64 {
    Haversine.distance(Point::new(a.lon, a.lat), Point::new(b.lon, b.lat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    #[test]
    fn the_antimeridian_is_no_seam() {
        let west = p(10.0, 179.999);
        let east = p(10.0, -179.999);
        let far = p(10.0, 179.9);
        // 0.002° of longitude at 10°N is about 219 m.
        let across = great_circle_m(west, east);
        assert!((218.0..220.0).contains(&across), "{across}");
        let (w, e, f) = (unit_vector(west), unit_vector(east), unit_vector(far));
        assert!(chord_squared(&w, &e) < chord_squared(&w, &f));
    }

    #[test]
    fn the_pole_is_one_point() {
        let a = unit_vector(p(90.0, 0.0));
        let b = unit_vector(p(90.0, 123.0));
        assert!(chord_squared(&a, &b) < 1e-30);
        // Near the pole, longitude hardly matters; latitude does.
        let near = unit_vector(p(89.999, 180.0));
        let farther = unit_vector(p(89.99, 0.0));
        assert!(chord_squared(&a, &near) < chord_squared(&a, &farther));
        assert!((great_circle_m(p(90.0, 0.0), p(89.0, 77.0)) - 111_195.08).abs() < 1.0);
    }

    #[test]
    fn chord_order_is_great_circle_order() {
        let origin = p(-33.9, 151.2);
        let mut points: Vec<GeoPoint> = (0..=36)
            .map(|i| p(-33.9 + f64::from(i) * 3.4, 151.2 - f64::from(i) * 9.7))
            .collect();
        points.push(p(33.9, -28.8)); // the antipode
        let o = unit_vector(origin);
        let mut by_chord = points.clone();
        by_chord.sort_by(|a, b| {
            chord_squared(&o, &unit_vector(*a)).total_cmp(&chord_squared(&o, &unit_vector(*b)))
        });
        let mut by_haversine = points;
        by_haversine
            .sort_by(|a, b| great_circle_m(origin, *a).total_cmp(&great_circle_m(origin, *b)));
        assert_eq!(by_chord, by_haversine);
    }

    #[test]
    fn validity() {
        assert!(is_valid(p(-90.0, 180.0)));
        assert!(!is_valid(p(f64::NAN, 0.0)));
        assert!(!is_valid(p(0.0, 180.5)));
        assert!(!is_valid(p(91.0, 0.0)));
    }
}
