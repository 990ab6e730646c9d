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

/// Lowest and highest value of a function over an interval, from its values
/// at the ends and at the interior points where it peaks.
fn span(a: f64, b: f64, f: fn(f64) -> f64, peaks: &[(f64, f64)]) -> (f64, f64) {
    let (mut low, mut high) = (f(a).min(f(b)), f(a).max(f(b)));
    for (at, value) in peaks {
        if a <= *at && *at <= b {
            low = low.min(*value);
            high = high.max(*value);
        }
    }
    (low, high)
}

/// The bounds of a product of two intervals.
fn times((a0, a1): (f64, f64), (b0, b1): (f64, f64)) -> (f64, f64) {
    let products = [a0 * b0, a0 * b1, a1 * b0, a1 * b1];
    (
        products.iter().copied().fold(f64::INFINITY, f64::min),
        products.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

/// A 3-D box holding every unit vector of the latitude/longitude box
/// `south..=north` × `west..=east` (degrees, `west <= east`), padded a little
/// against rounding: an R-tree query with it finds a superset of the box's
/// points, to be filtered exactly by latitude and longitude.
pub fn box_envelope(south: f64, west: f64, north: f64, east: f64) -> (UnitVector, UnitVector) {
    use std::f64::consts::{FRAC_PI_2, PI};
    let (s, n) = (south.to_radians(), north.to_radians());
    let (w, e) = (west.to_radians(), east.to_radians());
    let cos_lat = span(s, n, f64::cos, &[(0.0, 1.0)]);
    let sin_lat = span(s, n, f64::sin, &[]);
    let cos_lon = span(w, e, f64::cos, &[(0.0, 1.0), (-PI, -1.0), (PI, -1.0)]);
    let sin_lon = span(w, e, f64::sin, &[(FRAC_PI_2, 1.0), (-FRAC_PI_2, -1.0)]);
    let x = times(cos_lat, cos_lon);
    let y = times(cos_lat, sin_lon);
    const PAD: f64 = 1e-9;
    (
        [x.0 - PAD, y.0 - PAD, sin_lat.0 - PAD],
        [x.1 + PAD, y.1 + PAD, sin_lat.1 + PAD],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    #[test]
    fn box_envelopes_hold_their_points() {
        let boxes = [
            (52.3, 13.0, 52.7, 13.8),
            (-10.0, -20.0, 10.0, 20.0),
            (-90.0, -180.0, 90.0, 180.0),
            (60.0, 170.0, 89.0, 180.0),
            (-89.0, -180.0, -60.0, -100.0),
            (-5.0, 80.0, 5.0, 100.0),
        ];
        for (south, west, north, east) in boxes {
            let (low, high) = box_envelope(south, west, north, east);
            for i in 0..=20 {
                for j in 0..=20 {
                    let lat = south + (north - south) * f64::from(i) / 20.0;
                    let lon = west + (east - west) * f64::from(j) / 20.0;
                    let v = unit_vector(p(lat, lon));
                    for axis in 0..3 {
                        assert!(
                            low[axis] <= v[axis] && v[axis] <= high[axis],
                            "({lat}, {lon}) outside the envelope of {south},{west},{north},{east}"
                        );
                    }
                }
            }
        }
        // And it is tight enough to leave the rest of the world out.
        let (low, high) = box_envelope(52.3, 13.0, 52.7, 13.8);
        let munich = unit_vector(p(48.14, 11.58));
        assert!((0..3).any(|axis| munich[axis] < low[axis] || munich[axis] > high[axis]));
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
