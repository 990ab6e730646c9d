//! The same query as a linear scan: the baseline the index is benchmarked
//! against, and a second opinion in its tests.

use std::{cmp::Ordering, collections::BinaryHeap};

use uuid::Uuid;

use crate::domain::shifts::is_on_shift;

use super::{
    query::{Candidate, IndexError, NearestQuery, TechnicianEntry},
    sphere,
};

/// Ranking key: (squared chord, id), the index's order.
struct Ranked<'e> {
    distance_2: f64,
    entry: &'e TechnicianEntry,
}

impl Ranked<'_> {
    fn key(&self) -> (f64, Uuid) {
        (self.distance_2, self.entry.id)
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
    }
}

/// Answers `query` by looking at every entry: the cheap conditions first,
/// then the distance, and the shift and filter only for technicians that
/// would make the current top k. Same order and ties as
/// [`TechnicianIndex::nearest`](super::TechnicianIndex::nearest).
pub fn nearest_by_scan<'e>(
    entries: impl IntoIterator<Item = &'e TechnicianEntry>,
    query: &NearestQuery<'_>,
) -> Result<Vec<Candidate>, IndexError> {
    if !sphere::is_valid(query.point) {
        return Err(IndexError::InvalidPoint);
    }
    if query.k == 0 {
        return Ok(Vec::new());
    }
    let target = sphere::unit_vector(query.point);
    // A max-heap of the best k so far: its top is the worst of them.
    let mut best: BinaryHeap<Ranked<'e>> = BinaryHeap::with_capacity(query.k + 1);
    for entry in entries {
        let Some(position) = entry.position else {
            continue;
        };
        let cheap = entry.tenant_id == query.tenant_id
            && entry.load < entry.capacity
            && query
                .required
                .iter()
                .all(|r| entry.level(&r.skill).is_some_and(|level| level >= r.level));
        if !cheap {
            continue;
        }
        let ranked = Ranked {
            distance_2: sphere::chord_squared(&target, &sphere::unit_vector(position.point)),
            entry,
        };
        if best.len() == query.k && best.peek().is_some_and(|worst| ranked >= *worst) {
            continue;
        }
        if !query.accepts(entry, |e| is_on_shift(&e.shifts, &e.time_zone, query.now)) {
            continue;
        }
        best.push(ranked);
        if best.len() > query.k {
            best.pop();
        }
    }
    Ok(best
        .into_sorted_vec()
        .into_iter()
        .filter_map(|r| Some(query.candidate(r.entry, r.entry.position?)))
        .collect())
}
