//! Part-aware ranking (issue 23): a ticket's required parts against what
//! each technician's van holds. Under the category's `require` policy only
//! technicians whose van holds every required part (in the quantity asked)
//! are candidates — the R-tree walk filters on it, so the nearest holders
//! are found however far away the rest are; under `prefer` (the default)
//! holders gain [`PREFER_BONUS`] and compete with the nearest others. Every
//! candidate's reasons say what its van holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::service::{DispatchService, RankedCandidate};
use super::{CandidateFilter, IndexError, TechnicianEntry};
use crate::domain::geo::GeoPoint;
use crate::domain::parts::{PartsPolicy, RequiredPart, from_milli, to_milli};
use crate::domain::territory::CompiledBoundary;
use crate::domain::ticket::Ticket;
use crate::store::{Store, StoreError};

/// Score taken off a technician whose van holds every required part under
/// `prefer`: worth 30 travel minutes at the default weights.
pub const PREFER_BONUS: f64 = 30.0;

#[derive(Debug, thiserror::Error)]
pub enum PartsRankError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dispatch index: {0}")]
    Index(#[from] IndexError),
}

impl From<PartsRankError> for super::offers::OfferError {
    fn from(error: PartsRankError) -> Self {
        match error {
            PartsRankError::Store(e) => Self::Store(e),
            PartsRankError::Index(e) => Self::Index(e),
        }
    }
}

/// Van quantities (thousandths) per technician, of the required parts.
type Holdings = HashMap<Uuid, HashMap<Uuid, i64>>;

fn holds_all(holdings: &Holdings, technician: Uuid, required: &[RequiredPart]) -> bool {
    let van = holdings.get(&technician);
    required.iter().all(|r| {
        let have = van.and_then(|v| v.get(&r.part_id)).copied().unwrap_or(0);
        have >= to_milli(r.quantity).unwrap_or(i64::MAX)
    })
}

fn quantity_text(milli: i64) -> String {
    let units = from_milli(milli);
    if units.fract() == 0.0 {
        format!("{units:.0}")
    } else {
        format!("{units}")
    }
}

/// The words for `technician`'s van against `required`.
fn reasons(holdings: &Holdings, technician: Uuid, required: &[RequiredPart]) -> Vec<String> {
    let van = holdings.get(&technician);
    required
        .iter()
        .map(|r| match van.and_then(|v| v.get(&r.part_id)).copied() {
            Some(have) if have > 0 => {
                let needed = to_milli(r.quantity).unwrap_or(0);
                if have >= needed {
                    format!("has {} × {} in van", quantity_text(have), r.name)
                } else {
                    format!(
                        "has {} × {} in van, needs {}",
                        quantity_text(have),
                        r.name,
                        quantity_text(needed)
                    )
                }
            }
            _ => format!("no {} in van", r.name),
        })
        .collect()
}

/// [`PREFER_BONUS`] as metres of travel, for the batch planner (which
/// minimises distance): the bonus's travel minutes at the configured speed.
pub fn prefer_bonus_m(service: &DispatchService) -> f64 {
    let config = service.config();
    let minutes = if config.weight_travel_minute > 0.0 {
        PREFER_BONUS / config.weight_travel_minute
    } else {
        PREFER_BONUS
    };
    minutes / 60.0 * config.average_speed_kmh * 1000.0
}

/// Technicians at most this many hold the required parts: rank them by id
/// lookups ([`DispatchService::candidates_among`]) instead of a filtered
/// tree walk, which visits most of the tenant when holders are rare.
pub const AMONG_MAX_HOLDERS: usize = 5_000;

/// A ticket's required parts, its category's policy, and which vans hold
/// them: what candidates, offers, batch assignment and day plans ask.
#[derive(Debug, Clone)]
pub struct PartsNeed {
    pub required: Vec<RequiredPart>,
    pub policy: PartsPolicy,
    holdings: Holdings,
}

impl PartsNeed {
    /// `None` when the ticket requires no parts.
    pub async fn load(store: &dyn Store, ticket: &Ticket) -> Result<Option<Self>, StoreError> {
        let required = store.required_parts(ticket.tenant_id, ticket.id).await?;
        if required.is_empty() {
            return Ok(None);
        }
        let ids: Vec<Uuid> = required.iter().map(|r| r.part_id).collect();
        let mut holdings: Holdings = HashMap::new();
        for h in store.van_holdings(ticket.tenant_id, &ids).await? {
            holdings
                .entry(h.technician_id)
                .or_default()
                .insert(h.part_id, h.quantity);
        }
        let policy = store
            .parts_policy(ticket.tenant_id, &ticket.category)
            .await?;
        Ok(Some(Self {
            required,
            policy,
            holdings,
        }))
    }

    /// Whether `technician`'s van holds every required part in the quantity asked.
    pub fn holds_all(&self, technician: Uuid) -> bool {
        holds_all(&self.holdings, technician, &self.required)
    }

    /// Every technician whose van holds every required part, by id.
    pub fn holders(&self) -> Vec<Uuid> {
        let mut holders: Vec<Uuid> = self
            .holdings
            .keys()
            .copied()
            .filter(|t| self.holds_all(*t))
            .collect();
        holders.sort();
        holders
    }

    /// Under `require`, only holders may take the ticket.
    pub fn required_in_van(&self) -> bool {
        self.policy == PartsPolicy::Require
    }

    /// The words for `technician`'s van ("has 2 × compressor relay in van").
    pub fn reasons(&self, technician: Uuid) -> Vec<String> {
        reasons(&self.holdings, technician, &self.required)
    }
}

/// The `k` best technicians for `ticket`, its required parts and its
/// category's parts policy considered; without required parts, exactly
/// [`DispatchService::candidates_in`].
pub async fn ranked(
    service: &DispatchService,
    store: &dyn Store,
    ticket: &Ticket,
    site: GeoPoint,
    territory: Option<&CompiledBoundary>,
    k: usize,
    now: DateTime<Utc>,
) -> Result<Vec<RankedCandidate>, PartsRankError> {
    let Some(need) = PartsNeed::load(store, ticket).await? else {
        return Ok(service.candidates_in(ticket, site, territory, k, now)?);
    };
    // The nearest holders: by id when they are few (a rare part held by a
    // hundred vans among 100 000 technicians, or by none), else by walking
    // the tree with the holder filter.
    let holders = need.holders();
    let mut found = if holders.len() <= AMONG_MAX_HOLDERS {
        service.candidates_among(ticket, site, territory, &holders, k, now)?
    } else {
        let has_parts = |entry: &TechnicianEntry| need.holds_all(entry.id);
        let filter: &CandidateFilter<'_> = &has_parts;
        service.candidates_where(ticket, site, territory, Some(filter), k, now)?
    };
    if need.policy == PartsPolicy::Prefer {
        for candidate in &mut found {
            candidate.score -= PREFER_BONUS;
        }
        for other in service.candidates_in(ticket, site, territory, k, now)? {
            if !found.iter().any(|c| c.technician_id == other.technician_id) {
                found.push(other);
            }
        }
    }
    for candidate in &mut found {
        candidate.reasons.van_parts = need.reasons(candidate.technician_id);
    }
    found.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then(a.reasons.distance_m.total_cmp(&b.reasons.distance_m))
            .then(a.technician_id.cmp(&b.technician_id))
    });
    found.truncate(k);
    for (i, candidate) in found.iter_mut().enumerate() {
        candidate.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_what_the_van_holds() {
        let (tech, relay, fan) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let required = vec![
            RequiredPart {
                part_id: relay,
                part_number: "CR-24".into(),
                name: "compressor relay".into(),
                quantity: 2.0,
            },
            RequiredPart {
                part_id: fan,
                part_number: "FAN".into(),
                name: "fan motor".into(),
                quantity: 1.0,
            },
        ];
        let mut holdings: Holdings = HashMap::new();
        holdings.entry(tech).or_default().insert(relay, 2000);
        assert_eq!(
            reasons(&holdings, tech, &required),
            ["has 2 × compressor relay in van", "no fan motor in van"]
        );
        assert!(!holds_all(&holdings, tech, &required));
        holdings.entry(tech).or_default().insert(fan, 1500);
        assert!(holds_all(&holdings, tech, &required));
    }
}
