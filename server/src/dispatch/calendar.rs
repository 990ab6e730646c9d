//! Calendars in dispatch: a technician absent now (holiday, sickness,
//! training) or a holiday of the tenant today takes them out of candidates,
//! offers and batch assignment.
//!
//! Absences live in the database, not in the index: every query reads the
//! ones covering `now` (one indexed read), so an absence entered on any
//! replica counts at once. The index is asked for that many more technicians
//! and the absent ones are dropped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::service::RankedCandidate;
use crate::{
    domain::schedule::local_day,
    store::{Store, StoreResult},
};

/// Who may not be proposed at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Away {
    /// A holiday of the tenant: nobody works.
    pub everyone: bool,
    pub technicians: HashSet<Uuid>,
}

impl Away {
    /// The tenant's absences and holiday at `now`.
    pub async fn at(store: &dyn Store, tenant_id: Uuid, now: DateTime<Utc>) -> StoreResult<Self> {
        let time_zone = store.tenant_settings(tenant_id).await?.time_zone;
        let today = local_day(&time_zone, now);
        let everyone = !store
            .list_holidays(tenant_id, today, today)
            .await?
            .is_empty();
        let absences = store
            .list_absences(
                tenant_id,
                None,
                now,
                now + chrono::Duration::microseconds(1),
            )
            .await?;
        Ok(Self {
            everyone,
            technicians: absences.into_iter().map(|a| a.technician_id).collect(),
        })
    }

    /// How many more candidates to ask the index for.
    pub fn extra(&self) -> usize {
        self.technicians.len()
    }

    pub fn allows(&self, technician_id: Uuid) -> bool {
        !self.everyone && !self.technicians.contains(&technician_id)
    }

    /// `ranked` without the absent, the first `k`, ranked again from 1.
    pub fn keep(&self, ranked: Vec<RankedCandidate>, k: usize) -> Vec<RankedCandidate> {
        let mut kept: Vec<RankedCandidate> = ranked
            .into_iter()
            .filter(|c| self.allows(c.technician_id))
            .take(k)
            .collect();
        for (i, candidate) in kept.iter_mut().enumerate() {
            candidate.rank = i as u32 + 1;
        }
        kept
    }
}
