//! What the index holds per technician, what a query asks, and what it answers.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sphere;
use crate::domain::{
    geo::GeoPoint,
    people::{SkillLevel, Technician, TechnicianStatus},
    shifts::Shift,
};

/// A position and the device time it was taken at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionFix {
    pub point: GeoPoint,
    pub at: DateTime<Utc>,
}

/// Everything dispatch needs to know about one technician.
#[derive(Debug, Clone, PartialEq)]
pub struct TechnicianEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The newest known position; a technician without one is kept but never
    /// proposed.
    pub position: Option<PositionFix>,
    pub skills: Vec<SkillLevel>,
    pub status: TechnicianStatus,
    pub shifts: Vec<Shift>,
    /// IANA time zone the shifts are written in.
    pub time_zone: String,
    /// Maximum number of open assignments at once.
    pub capacity: u32,
    /// Current number of open assignments.
    pub load: u32,
}

impl TechnicianEntry {
    /// The dispatch view of a stored technician. The live position and the
    /// load come from elsewhere (pings and assignments); whether to fall back
    /// to the home base when there is no ping yet is the caller's choice.
    pub fn from_technician(
        technician: &Technician,
        position: Option<PositionFix>,
        load: u32,
    ) -> Self {
        Self {
            id: technician.id,
            tenant_id: technician.tenant_id,
            position,
            skills: technician.skills.clone(),
            status: technician.status,
            shifts: technician.shifts.clone(),
            time_zone: technician.time_zone.clone(),
            capacity: technician.capacity,
            load,
        }
    }

    /// The technician's level in `skill`, if they have it.
    pub fn level(&self, skill: &str) -> Option<u8> {
        self.skills
            .iter()
            .find(|s| s.skill == skill)
            .map(|s| s.level)
    }
}

/// An extra condition on candidates, e.g. "inside the ticket's territory".
pub type CandidateFilter<'a> = dyn Fn(&TechnicianEntry) -> bool + 'a;

/// "The nearest `k` technicians of `tenant_id` to `point` who are available
/// now, under capacity, on shift at `now` and have every `required` skill at
/// or above its level."
#[derive(Clone, Copy)]
pub struct NearestQuery<'a> {
    pub tenant_id: Uuid,
    pub point: GeoPoint,
    pub k: usize,
    /// Required skills; `level` is the minimum level.
    pub required: &'a [SkillLevel],
    /// The instant shifts are checked at.
    pub now: DateTime<Utc>,
    /// Checked last, only for technicians that pass everything else.
    pub filter: Option<&'a CandidateFilter<'a>>,
}

impl<'a> NearestQuery<'a> {
    /// A query with no required skills and no extra filter.
    pub fn new(tenant_id: Uuid, point: GeoPoint, k: usize, now: DateTime<Utc>) -> Self {
        Self {
            tenant_id,
            point,
            k,
            required: &[],
            now,
            filter: None,
        }
    }

    pub fn with_skills(mut self, required: &'a [SkillLevel]) -> Self {
        self.required = required;
        self
    }

    pub fn with_filter(mut self, filter: &'a CandidateFilter<'a>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Whether `entry` may be proposed, `on_shift` telling whether it is on
    /// shift at `self.now`. Cheap checks first; the shift (time zone
    /// arithmetic) and the caller's filter last.
    pub(crate) fn accepts(
        &self,
        entry: &TechnicianEntry,
        on_shift: impl FnOnce(&TechnicianEntry) -> bool,
    ) -> bool {
        entry.tenant_id == self.tenant_id
            && entry.status == TechnicianStatus::Available
            && entry.load < entry.capacity
            && entry.position.is_some()
            && self
                .required
                .iter()
                .all(|r| entry.level(&r.skill).is_some_and(|level| level >= r.level))
            && on_shift(entry)
            && self.filter.is_none_or(|filter| filter(entry))
    }

    /// The answer row for an accepted entry.
    pub(crate) fn candidate(&self, entry: &TechnicianEntry, position: PositionFix) -> Candidate {
        Candidate {
            technician_id: entry.id,
            distance_m: sphere::great_circle_m(self.point, position.point),
            position,
            load: entry.load,
            capacity: entry.capacity,
            skills: self
                .required
                .iter()
                .map(|r| SkillLevel {
                    skill: r.skill.clone(),
                    level: entry.level(&r.skill).unwrap_or(0),
                })
                .collect(),
        }
    }
}

impl fmt::Debug for NearestQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NearestQuery")
            .field("tenant_id", &self.tenant_id)
            .field("point", &self.point)
            .field("k", &self.k)
            .field("required", &self.required)
            .field("now", &self.now)
            .field(
                "filter",
                &self.filter.map(|_| "Fn(&TechnicianEntry) -> bool"),
            )
            .finish()
    }
}

/// One proposed technician, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub technician_id: Uuid,
    /// Great-circle distance from the query point.
    pub distance_m: f64,
    pub position: PositionFix,
    pub load: u32,
    pub capacity: u32,
    /// The technician's levels in the required skills, in the query's order.
    pub skills: Vec<SkillLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("position must be a finite latitude in -90..=90 and longitude in -180..=180")]
    InvalidPoint,
}

/// What became of a position update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PositionUpdate {
    /// The position is now the technician's live position.
    Applied,
    /// Not newer than the position already held (same device time included):
    /// ignored.
    Stale,
    /// No such technician in that tenant.
    Unknown,
}
