//! Territories: named areas (GeoJSON Polygon or MultiPolygon) that sites
//! resolve to and dispatch filters by.
//!
//! Boundaries come in and go out as RFC 7946 GeoJSON geometries. Positions
//! are `[longitude, latitude]` in degrees (an altitude, when sent, is
//! dropped); every linear ring is closed (first position = last), has at
//! least 4 positions and encloses an area; interior rings are holes. The
//! plane is longitude × latitude, as RFC 7946 prescribes, so a territory
//! that spans the antimeridian is sent as a MultiPolygon split at ±180°
//! (§3.1.9); a single ring with an edge longer than 180° of longitude is
//! refused rather than read the long way round the globe.
//!
//! A point on a boundary counts as inside, so neighbouring territories that
//! share an edge leave no gap between them.

use chrono::{DateTime, Utc};
use geo::{BoundingRect, Coord, Intersects, LineString, Point, Polygon, Rect, Validation};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ValidationErrors, geo::GeoPoint, validation::check_text};

/// Most positions a boundary may hold, over all its rings.
pub const MAX_POSITIONS: usize = 50_000;
/// Most polygons in a MultiPolygon.
pub const MAX_POLYGONS: usize = 1_000;
/// Field errors reported for one boundary before giving up.
const MAX_ERRORS: usize = 20;

/// A territory as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Territory {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// GeoJSON Polygon or MultiPolygon, `[lon, lat]` positions.
    #[schema(value_type = Object, example = json!({"type": "Polygon", "coordinates": [[[13.3, 52.4], [13.6, 52.4], [13.6, 52.6], [13.3, 52.6], [13.3, 52.4]]]}))]
    pub boundary: Boundary,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the record was archived; `null` while active.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTerritory {
    pub name: String,
    /// GeoJSON Polygon or MultiPolygon geometry.
    #[schema(value_type = Object)]
    pub boundary: Value,
}

impl NewTerritory {
    /// The name and the parsed boundary, or every problem found.
    pub fn validate(&self) -> Result<(String, Boundary), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_text(&mut errors, "name", &self.name, 200);
        let boundary = Boundary::parse(&self.boundary, "boundary", &mut errors);
        match boundary {
            Some(boundary) if errors.is_empty() => Ok((self.name.trim().to_owned(), boundary)),
            _ => Err(errors),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerritoryPatch {
    pub name: Option<String>,
    /// A new GeoJSON Polygon or MultiPolygon; sites are re-resolved.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<Value>,
}

/// A validated change of a territory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TerritoryChange {
    pub name: Option<String>,
    pub boundary: Option<Boundary>,
}

impl TerritoryPatch {
    pub fn validate(&self) -> Result<TerritoryChange, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut errors, "name", name, 200);
        }
        let boundary = self
            .boundary
            .as_ref()
            .and_then(|value| Boundary::parse(value, "boundary", &mut errors));
        errors.into_result()?;
        Ok(TerritoryChange {
            name: self.name.as_ref().map(|n| n.trim().to_owned()),
            boundary,
        })
    }
}

/// `[longitude, latitude]`.
pub type Position = [f64; 2];
/// A closed ring: the first position repeated last.
pub type Ring = Vec<Position>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryKind {
    Polygon,
    MultiPolygon,
}

/// A validated boundary: one or more polygons, each an exterior ring and
/// its holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    kind: BoundaryKind,
    polygons: Vec<Vec<Ring>>,
}

/// Latitude/longitude extent, for the database's coarse pre-filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

impl BoundingBox {
    pub fn contains(&self, point: GeoPoint) -> bool {
        (self.min_lat..=self.max_lat).contains(&point.lat)
            && (self.min_lon..=self.max_lon).contains(&point.lon)
    }

    pub fn union(&self, other: &BoundingBox) -> BoundingBox {
        BoundingBox {
            min_lat: self.min_lat.min(other.min_lat),
            min_lon: self.min_lon.min(other.min_lon),
            max_lat: self.max_lat.max(other.max_lat),
            max_lon: self.max_lon.max(other.max_lon),
        }
    }
}

impl Boundary {
    pub fn kind(&self) -> BoundaryKind {
        self.kind
    }

    /// Polygons, each as `[exterior, holes…]`.
    pub fn polygons(&self) -> &[Vec<Ring>] {
        &self.polygons
    }

    /// Parses a GeoJSON geometry, adding a field error (`{field}.coordinates[0][3][1]`
    /// and the like) for each problem. `None` when anything is wrong.
    pub fn parse(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<Boundary> {
        let before = errors.0.len();
        let Some(object) = value.as_object() else {
            errors.add(field, "must be a GeoJSON Polygon or MultiPolygon object");
            return None;
        };
        let kind = match object.get("type").and_then(Value::as_str) {
            Some("Polygon") => BoundaryKind::Polygon,
            Some("MultiPolygon") => BoundaryKind::MultiPolygon,
            Some(other) => {
                errors.add(
                    format!("{field}.type"),
                    format!("must be \"Polygon\" or \"MultiPolygon\", not \"{other}\""),
                );
                return None;
            }
            None => {
                errors.add(
                    format!("{field}.type"),
                    "must be \"Polygon\" or \"MultiPolygon\"",
                );
                return None;
            }
        };
        let field = format!("{field}.coordinates");
        let Some(coordinates) = object.get("coordinates") else {
            errors.add(&field, "is required");
            return None;
        };
        let mut parser = Parser {
            errors,
            positions: 0,
            start: before,
        };
        let polygons = match kind {
            BoundaryKind::Polygon => vec![parser.polygon(coordinates, &field)?],
            BoundaryKind::MultiPolygon => {
                let Some(items) = coordinates.as_array() else {
                    parser.add(&field, "must be an array of polygons");
                    return None;
                };
                if items.is_empty() {
                    parser.add(&field, "must contain at least one polygon");
                }
                if items.len() > MAX_POLYGONS {
                    parser.add(
                        &field,
                        format!("must contain at most {MAX_POLYGONS} polygons"),
                    );
                    return None;
                }
                let mut polygons = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(polygon) = parser.polygon(item, &format!("{field}[{i}]")) {
                        polygons.push(polygon);
                    }
                }
                polygons
            }
        };
        if errors.0.len() > before {
            return None;
        }
        let boundary = Boundary { kind, polygons };
        // Topology last, on rings that are well-formed: self-intersections,
        // holes outside their polygon, rings crossing each other.
        for (p, polygon) in boundary.geo_polygons().iter().enumerate() {
            if let Err(problem) = polygon.check_validation() {
                let prefix = match kind {
                    BoundaryKind::Polygon => field.clone(),
                    BoundaryKind::MultiPolygon => format!("{field}[{p}]"),
                };
                errors.add(prefix, format!("is not a valid polygon: {problem}"));
            }
        }
        (errors.0.len() == before).then_some(boundary)
    }

    /// Reads a boundary stored by [`Boundary::to_geojson`].
    pub fn from_stored(text: &str) -> Result<Boundary, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut errors = ValidationErrors::new();
        Boundary::parse(&value, "boundary", &mut errors).ok_or_else(|| errors.to_string())
    }

    /// The GeoJSON geometry.
    pub fn to_geojson(&self) -> Value {
        match self.kind {
            BoundaryKind::Polygon => json!({"type": "Polygon", "coordinates": self.polygons[0]}),
            BoundaryKind::MultiPolygon => {
                json!({"type": "MultiPolygon", "coordinates": self.polygons})
            }
        }
    }

    pub fn bounding_box(&self) -> BoundingBox {
        let mut bbox = BoundingBox {
            min_lat: f64::INFINITY,
            min_lon: f64::INFINITY,
            max_lat: f64::NEG_INFINITY,
            max_lon: f64::NEG_INFINITY,
        };
        // Holes lie inside their exterior ring: the exteriors suffice.
        for [lon, lat] in self.polygons.iter().flat_map(|p| p[0].iter()) {
            bbox.min_lat = bbox.min_lat.min(*lat);
            bbox.min_lon = bbox.min_lon.min(*lon);
            bbox.max_lat = bbox.max_lat.max(*lat);
            bbox.max_lon = bbox.max_lon.max(*lon);
        }
        bbox
    }

    fn geo_polygons(&self) -> Vec<Polygon<f64>> {
        let ring = |ring: &Ring| {
            LineString::new(
                ring.iter()
                    .map(|&[x, y]| Coord { x, y })
                    .collect::<Vec<_>>(),
            )
        };
        self.polygons
            .iter()
            .map(|rings| Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect()))
            .collect()
    }

    /// The boundary ready for point-in-polygon tests.
    pub fn compile(&self) -> CompiledBoundary {
        let parts = self
            .geo_polygons()
            .into_iter()
            .filter_map(|polygon| Some((polygon.bounding_rect()?, polygon)))
            .collect();
        CompiledBoundary { parts }
    }
}

impl Serialize for Boundary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_geojson().serialize(serializer)
    }
}

/// Walks GeoJSON coordinates, collecting errors with their paths.
struct Parser<'e> {
    errors: &'e mut ValidationErrors,
    positions: usize,
    start: usize,
}

impl Parser<'_> {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.errors.0.len() - self.start < MAX_ERRORS {
            self.errors.add(field, message);
        }
    }

    fn full(&self) -> bool {
        self.errors.0.len() - self.start >= MAX_ERRORS
    }

    fn polygon(&mut self, value: &Value, field: &str) -> Option<Vec<Ring>> {
        let Some(items) = value.as_array() else {
            self.add(field, "must be an array of linear rings");
            return None;
        };
        if items.is_empty() {
            self.add(
                field,
                "must contain at least one linear ring (the exterior)",
            );
            return None;
        }
        let mut rings = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.ring(item, &format!("{field}[{i}]")) {
                Some(ring) => rings.push(ring),
                None => ok = false,
            }
            if self.full() {
                return None;
            }
        }
        ok.then_some(rings)
    }

    fn ring(&mut self, value: &Value, field: &str) -> Option<Ring> {
        let Some(items) = value.as_array() else {
            self.add(field, "must be an array of [longitude, latitude] positions");
            return None;
        };
        self.positions += items.len();
        if self.positions > MAX_POSITIONS {
            self.add(
                field,
                format!("the boundary has more than {MAX_POSITIONS} positions"),
            );
            return None;
        }
        let mut ring = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(position) = self.position(item, &format!("{field}[{i}]")) {
                ring.push(position);
            }
            if self.full() {
                return None;
            }
        }
        if ring.len() != items.len() {
            return None;
        }
        if ring.len() < 4 {
            self.add(
                field,
                "a linear ring needs at least 4 positions (3 corners and the first repeated last)",
            );
            return None;
        }
        if ring.first() != ring.last() {
            self.add(
                field,
                "the ring is not closed: its last position must equal its first",
            );
            return None;
        }
        for (i, pair) in ring.windows(2).enumerate() {
            if (pair[1][0] - pair[0][0]).abs() > 180.0 {
                self.add(
                    &format!("{field}[{}]", i + 1),
                    "the edge to this position spans more than 180° of longitude; split a \
                     territory that crosses the antimeridian into a MultiPolygon at ±180°",
                );
                return None;
            }
        }
        if shoelace(&ring).abs() < 1e-12 {
            self.add(field, "the ring encloses no area");
            return None;
        }
        Some(ring)
    }

    fn position(&mut self, value: &Value, field: &str) -> Option<Position> {
        let numbers: Option<Vec<f64>> = value
            .as_array()
            .filter(|items| (2..=3).contains(&items.len()))
            .and_then(|items| items.iter().map(Value::as_f64).collect());
        let Some(numbers) = numbers else {
            self.add(
                field,
                "must be a position [longitude, latitude] (an altitude may follow)",
            );
            return None;
        };
        let (lon, lat) = (numbers[0], numbers[1]);
        let mut ok = true;
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            self.add(
                &format!("{field}[0]"),
                "longitude must be a finite number between -180 and 180",
            );
            ok = false;
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            self.add(
                &format!("{field}[1]"),
                "latitude must be a finite number between -90 and 90",
            );
            ok = false;
        }
        ok.then_some([lon, lat])
    }
}

/// Twice the signed planar area of a closed ring.
fn shoelace(ring: &[Position]) -> f64 {
    ring.windows(2)
        .map(|p| p[0][0] * p[1][1] - p[1][0] * p[0][1])
        .sum()
}

/// A boundary as `geo` polygons with their bounding boxes.
#[derive(Debug, Clone)]
pub struct CompiledBoundary {
    parts: Vec<(Rect<f64>, Polygon<f64>)>,
}

impl CompiledBoundary {
    /// Whether `point` lies inside or on the boundary.
    pub fn covers(&self, point: GeoPoint) -> bool {
        let coord = Coord {
            x: point.lon,
            y: point.lat,
        };
        self.parts.iter().any(|(rect, polygon)| {
            rect.intersects(&coord) && polygon.intersects(&Point::from(coord))
        })
    }
}

/// The first territory (in the given order, which callers make creation
/// order) whose boundary covers `point`.
pub fn resolve<'a, I>(territories: I, point: GeoPoint) -> Option<Uuid>
where
    I: IntoIterator<Item = (Uuid, &'a CompiledBoundary)>,
{
    territories
        .into_iter()
        .find(|(_, boundary)| boundary.covers(point))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<Boundary, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        Boundary::parse(&value, "boundary", &mut errors).ok_or(errors)
    }

    fn fields(value: Value) -> Vec<String> {
        parse(value)
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    #[test]
    fn a_square_covers_its_inside_and_its_edge() {
        let square = parse(json!({"type": "Polygon",
            "coordinates": [[[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [10.0, 0.0], [0.0, 0.0]]]}))
        .expect("valid")
        .compile();
        assert!(square.covers(p(5.0, 5.0)));
        assert!(square.covers(p(0.0, 5.0)), "edge counts as inside");
        assert!(!square.covers(p(10.5, 5.0)));
    }

    #[test]
    fn concave_polygons_and_holes() {
        // A "U": the notch between the arms is outside.
        let u = parse(json!({"type": "Polygon", "coordinates": [[
            [0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [2.0, 3.0], [2.0, 1.0],
            [1.0, 1.0], [1.0, 3.0], [0.0, 3.0], [0.0, 0.0]]]}))
        .expect("valid")
        .compile();
        assert!(u.covers(p(2.5, 0.5)));
        assert!(!u.covers(p(2.0, 1.5)), "the notch");
        let holed = parse(json!({"type": "Polygon", "coordinates": [
            [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            [[1.0, 1.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0], [1.0, 1.0]]]}))
        .expect("valid")
        .compile();
        assert!(holed.covers(p(0.5, 0.5)));
        assert!(!holed.covers(p(2.0, 2.0)), "the hole");
    }

    #[test]
    fn a_multipolygon_split_at_the_antimeridian() {
        let fiji = parse(json!({"type": "MultiPolygon", "coordinates": [
            [[[177.0, -19.0], [180.0, -19.0], [180.0, -16.0], [177.0, -16.0], [177.0, -19.0]]],
            [[[-180.0, -19.0], [-178.0, -19.0], [-178.0, -16.0], [-180.0, -16.0], [-180.0, -19.0]]]]}))
        .expect("valid");
        let compiled = fiji.compile();
        assert!(compiled.covers(p(-17.5, 179.9)));
        assert!(compiled.covers(p(-17.5, -179.9)));
        assert!(!compiled.covers(p(-17.5, 0.0)));
        let bbox = fiji.bounding_box();
        assert_eq!((bbox.min_lon, bbox.max_lon), (-180.0, 180.0));
        // The same area as one ring crossing the seam is refused.
        assert_eq!(
            fields(json!({"type": "Polygon", "coordinates": [[
                [177.0, -19.0], [-178.0, -19.0], [-178.0, -16.0], [177.0, -16.0], [177.0, -19.0]]]})),
            ["boundary.coordinates[0][1]"]
        );
    }

    #[test]
    fn every_problem_is_named() {
        assert_eq!(fields(json!("square")), ["boundary"]);
        assert_eq!(
            fields(json!({"type": "Point", "coordinates": [0.0, 0.0]})),
            ["boundary.type"]
        );
        assert_eq!(fields(json!({"type": "Polygon"})), ["boundary.coordinates"]);
        // Open ring.
        assert_eq!(
            fields(
                json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]})
            ),
            ["boundary.coordinates[0]"]
        );
        // Too few positions.
        assert_eq!(
            fields(
                json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]})
            ),
            ["boundary.coordinates[0]"]
        );
        // Out of range and not a number.
        assert_eq!(
            fields(
                json!({"type": "MultiPolygon", "coordinates": [[[[0.0, 0.0], [181.0, 0.0], [1.0, 95.0], ["x", 1.0], [0.0, 0.0]]]]})
            ),
            [
                "boundary.coordinates[0][0][1][0]",
                "boundary.coordinates[0][0][2][1]",
                "boundary.coordinates[0][0][3]"
            ]
        );
        // No area.
        assert_eq!(
            fields(
                json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]]})
            ),
            ["boundary.coordinates[0]"]
        );
        // A bow tie crosses itself.
        let errors = parse(json!({"type": "Polygon", "coordinates": [[
            [0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]]}))
        .expect_err("self-intersecting");
        assert_eq!(errors.0[0].field, "boundary.coordinates");
        assert!(
            errors.0[0].message.contains("self-intersection"),
            "{errors}"
        );
    }

    #[test]
    fn stored_text_round_trips_and_altitude_is_dropped() {
        let boundary = parse(json!({"type": "Polygon", "coordinates": [[
            [0.0, 0.0, 12.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0, 12.0]]]}))
        .expect("valid");
        let text = boundary.to_geojson().to_string();
        assert_eq!(Boundary::from_stored(&text), Ok(boundary.clone()));
        assert_eq!(
            boundary.to_geojson()["coordinates"][0][0],
            json!([0.0, 0.0])
        );
    }

    #[test]
    fn resolution_takes_the_first_in_order() {
        let big = parse(json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]]}))
            .expect("valid")
            .compile();
        let small = parse(json!({"type": "Polygon", "coordinates": [[[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0], [1.0, 1.0]]]}))
            .expect("valid")
            .compile();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(resolve([(a, &small), (b, &big)], p(1.5, 1.5)), Some(a));
        assert_eq!(resolve([(b, &big), (a, &small)], p(1.5, 1.5)), Some(b));
        assert_eq!(resolve([(a, &small)], p(5.0, 5.0)), None);
    }
}
