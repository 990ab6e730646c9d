//! Keeps the index in step with the database and ranks candidates.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    DispatchConfig, IndexError, NearestQuery, PositionFix, TechnicianEntry, TechnicianIndex,
};
use crate::{
    domain::{
        geo::GeoPoint, location::LocationPing, people::Technician, territory::CompiledBoundary,
        ticket::Ticket,
    },
    events::{Event, EventKind},
    store::{Store, StoreError},
};

/// Why a technician is proposed, and how they rank.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RankedCandidate {
    pub technician_id: Uuid,
    /// 1 is the best.
    pub rank: u32,
    /// Lower is better: weighted travel minutes and open jobs, minus extra skill.
    pub score: f64,
    pub reasons: CandidateReasons,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateReasons {
    /// Great-circle distance from the technician's live position to the site.
    pub distance_m: f64,
    /// At the configured average speed.
    pub travel_minutes: f64,
    pub open_jobs: u32,
    pub capacity: u32,
    /// Where the position comes from: `ping` or `home_base` (no ping yet).
    pub position_source: String,
    pub position_at: Option<DateTime<Utc>>,
    pub skills: Vec<SkillMatch>,
    /// Minutes of SLA left after travel; absent until SLA tracking lands.
    pub sla_slack_minutes: Option<f64>,
    /// The ticket's required parts in the technician's van, in words
    /// ("has 2 × compressor relay in van"); empty when none are required
    /// (`dispatch/parts.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub van_parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkillMatch {
    pub skill: String,
    pub required_level: u8,
    pub level: u8,
}

/// Home-base positions are stamped at the start of time so any ping wins.
const HOME_BASE_TIME: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;

#[derive(Debug)]
pub struct DispatchService {
    index: TechnicianIndex,
    config: DispatchConfig,
}

impl DispatchService {
    /// Builds the index from every technician in the database.
    pub async fn load(store: &dyn Store, config: DispatchConfig) -> Result<Self, StoreError> {
        let rows = store.dispatch_rows().await?;
        let entries = rows.into_iter().filter_map(|row| {
            let position = row.last_position.map(|ping| PositionFix {
                point: GeoPoint {
                    lat: ping.lat,
                    lon: ping.lon,
                },
                at: ping.device_time,
            });
            let entry = entry(&row.technician, position, row.load);
            // Stored positions were validated on the way in; skip rather than fail the start.
            entry
                .position
                .is_none_or(|fix| super::sphere::is_valid(fix.point))
                .then_some(entry)
        });
        let index = TechnicianIndex::from_entries(entries)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Self { index, config })
    }

    pub fn index(&self) -> &TechnicianIndex {
        &self.index
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    /// After a technician was created or changed: new facts, same position and load.
    pub fn technician_saved(&self, technician: &Technician) {
        // An archived technician is no dispatch candidate.
        if technician.archived_at.is_some() {
            self.index.remove(technician.id);
            return;
        }
        let (position, load) = match self.index.get(technician.id) {
            // A held home-base position is replaced by the (maybe new) home base.
            Some(held) => (
                held.position.filter(|fix| fix.at != HOME_BASE_TIME),
                held.load,
            ),
            None => (None, 0),
        };
        if let Err(error) = self.index.upsert(entry(technician, position, load)) {
            tracing::warn!(%error, technician = %technician.id, "technician not indexed");
        }
    }

    pub fn position_reported(&self, tenant_id: Uuid, technician_id: Uuid, ping: &LocationPing) {
        let fix = PositionFix {
            point: GeoPoint {
                lat: ping.lat,
                lon: ping.lon,
            },
            at: ping.device_time,
        };
        let _ = self.index.update_position(tenant_id, technician_id, fix);
    }

    pub fn load_changed(&self, technician_id: Uuid, load: u32) {
        self.index.update_load(technician_id, load);
    }

    /// Brings the index in step with a committed change: one of this
    /// replica's writes (before it is published) or another replica's
    /// event. Applying one twice is harmless: positions never move back in
    /// time, and records and loads are re-read from the database.
    pub async fn apply(&self, store: &dyn Store, event: &Event) -> Result<(), StoreError> {
        match &event.kind {
            EventKind::Positions { fixes } => {
                for fix in fixes {
                    let position = PositionFix {
                        point: GeoPoint {
                            lat: fix.lat,
                            lon: fix.lon,
                        },
                        at: fix.at,
                    };
                    let _ =
                        self.index
                            .update_position(event.tenant_id, fix.technician_id, position);
                }
            }
            EventKind::TechnicianChanged { technician_id, .. } => {
                match store.get_technician(event.tenant_id, *technician_id).await {
                    Ok(technician) => self.technician_saved(&technician),
                    Err(StoreError::NotFound(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            EventKind::TicketAssigned {
                technician_id,
                previous,
                ..
            } => {
                for technician in [technician_id, previous].into_iter().flatten() {
                    let load = store.technician_load(event.tenant_id, *technician).await?;
                    self.load_changed(*technician, load);
                }
            }
            EventKind::TicketStatus {
                assignee_id: Some(technician),
                ..
            } => {
                // A closed ticket frees its technician's capacity.
                let load = store.technician_load(event.tenant_id, *technician).await?;
                self.load_changed(*technician, load);
            }
            EventKind::TicketStatus {
                assignee_id: None, ..
            }
            | EventKind::TicketCreated { .. }
            | EventKind::TicketUpdated { .. }
            | EventKind::Offer { .. }
            | EventKind::SlaNotice { .. } => {}
        }
        Ok(())
    }

    /// The `k` best technicians for `ticket` at `site`, best first, with reasons.
    pub fn candidates(
        &self,
        ticket: &Ticket,
        site: GeoPoint,
        k: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<RankedCandidate>, IndexError> {
        self.candidates_in(ticket, site, None, k, now)
    }

    /// Like [`Self::candidates`], keeping only technicians whose position
    /// (live, or the home base standing in) lies inside `territory`, the
    /// territory of the ticket's site, when there is one.
    pub fn candidates_in(
        &self,
        ticket: &Ticket,
        site: GeoPoint,
        territory: Option<&CompiledBoundary>,
        k: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<RankedCandidate>, IndexError> {
        self.candidates_where(ticket, site, territory, None, k, now)
    }

    /// Like [`Self::candidates_in`], keeping only technicians `extra`
    /// accepts too (checked while walking the tree, so the `k` answered
    /// all pass it).
    pub fn candidates_where(
        &self,
        ticket: &Ticket,
        site: GeoPoint,
        territory: Option<&CompiledBoundary>,
        extra: Option<&super::query::CandidateFilter<'_>>,
        k: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<RankedCandidate>, IndexError> {
        // Rank among a wider circle than k: a slightly farther technician
        // with no open jobs may score better than the nearest.
        let pool = (k * 4).clamp(k, 200);
        let inside = |entry: &TechnicianEntry| {
            entry
                .position
                .is_some_and(|fix| territory.is_none_or(|t| t.covers(fix.point)))
                && extra.is_none_or(|f| f(entry))
        };
        let mut query = NearestQuery::new(ticket.tenant_id, site, pool, now)
            .with_skills(&ticket.required_skills);
        if territory.is_some() || extra.is_some() {
            query = query.with_filter(&inside);
        }
        let found = self.index.nearest(&query)?;
        Ok(self.rank(ticket, found, k))
    }

    /// Like [`Self::candidates_in`], among the technicians `ids` only (each
    /// looked up by id, no tree walk): for a few known technicians — the
    /// holders of a rare part — out of many, where a filtered walk would
    /// visit most of the tenant before finding them.
    pub fn candidates_among(
        &self,
        ticket: &Ticket,
        site: GeoPoint,
        territory: Option<&CompiledBoundary>,
        ids: &[Uuid],
        k: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<RankedCandidate>, IndexError> {
        let pool = (k * 4).clamp(k, 200);
        let inside = |entry: &TechnicianEntry| {
            entry
                .position
                .is_some_and(|fix| territory.is_none_or(|t| t.covers(fix.point)))
        };
        let query = NearestQuery::new(ticket.tenant_id, site, pool, now)
            .with_skills(&ticket.required_skills)
            .with_filter(&inside);
        let found = self.index.nearest_among(&query, ids)?;
        Ok(self.rank(ticket, found, k))
    }

    /// Scores `found` for `ticket`, best first, cut to `k`.
    fn rank(
        &self,
        ticket: &Ticket,
        found: Vec<super::query::Candidate>,
        k: usize,
    ) -> Vec<RankedCandidate> {
        let config = &self.config;
        let mut ranked: Vec<RankedCandidate> = found
            .into_iter()
            .map(|candidate| {
                let travel_minutes =
                    candidate.distance_m / 1000.0 / config.average_speed_kmh * 60.0;
                let skills: Vec<SkillMatch> = ticket
                    .required_skills
                    .iter()
                    .zip(&candidate.skills)
                    .map(|(required, held)| SkillMatch {
                        skill: required.skill.clone(),
                        required_level: required.level,
                        level: held.level,
                    })
                    .collect();
                let extra_levels: u32 = skills
                    .iter()
                    .map(|s| u32::from(s.level.saturating_sub(s.required_level)))
                    .sum();
                let score = travel_minutes * config.weight_travel_minute
                    + f64::from(candidate.load) * config.weight_open_job
                    - f64::from(extra_levels) * config.weight_extra_skill_level;
                let from_home = candidate.position.at == HOME_BASE_TIME;
                RankedCandidate {
                    technician_id: candidate.technician_id,
                    rank: 0,
                    score,
                    reasons: CandidateReasons {
                        distance_m: candidate.distance_m,
                        travel_minutes,
                        open_jobs: candidate.load,
                        capacity: candidate.capacity,
                        position_source: if from_home { "home_base" } else { "ping" }.into(),
                        position_at: (!from_home).then_some(candidate.position.at),
                        skills,
                        sla_slack_minutes: None,
                        van_parts: Vec::new(),
                    },
                }
            })
            .collect();
        ranked.sort_by(|a, b| {
            a.score
                .total_cmp(&b.score)
                .then(a.reasons.distance_m.total_cmp(&b.reasons.distance_m))
                .then(a.technician_id.cmp(&b.technician_id))
        });
        ranked.truncate(k);
        for (i, candidate) in ranked.iter_mut().enumerate() {
            candidate.rank = i as u32 + 1;
        }
        ranked
    }
}

/// The index entry of a technician; without a ping, the home base stands in.
fn entry(technician: &Technician, position: Option<PositionFix>, load: u32) -> TechnicianEntry {
    let position = position.or(technician.home_base.map(|point| PositionFix {
        point,
        at: HOME_BASE_TIME,
    }));
    TechnicianEntry::from_technician(technician, position, load)
}
