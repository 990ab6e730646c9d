//! Scheduling: bookable slots for a job over the next days, from the
//! technicians' shifts, absences, the tenant's holidays and the windows
//! already booked (`slots.rs`, pure), driven with the configured travel
//! (`travel.rs`); the text a customer reads for a window.

pub mod board;
mod config;
pub mod customer;
pub mod day;
pub mod maintenance;
pub mod plan;
pub mod slots;
pub mod travel;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

pub use config::ScheduleConfig;
pub use slots::{Slot, SlotGrid, SlotJob, TechnicianCalendar, find_slots, may_offer};

use self::travel::{LegsWanted, RoadNetwork, TravelNote, travel_for};
use crate::{
    domain::{
        lifecycle::ArchivedFilter,
        people::Technician,
        schedule::{Interval, RoadTravel, TravelModel, local_day},
    },
    store::{PageRequest, Store, StoreResult},
};

/// Slots over a store: the data of the searched days loaded, then searched.
#[derive(Debug, Clone, Copy)]
pub struct SlotFinder<'a> {
    pub store: &'a dyn Store,
    pub travel: TravelModel,
    /// The OSRM-compatible road network, when configured.
    pub roads: Option<&'a RoadNetwork>,
}

impl SlotFinder<'_> {
    /// The slots for `job`, of every active technician or of `only`, and
    /// where their driving times came from.
    pub async fn slots(
        &self,
        tenant_id: Uuid,
        job: &SlotJob,
        grid: &SlotGrid,
        only: Option<Uuid>,
    ) -> StoreResult<(Vec<Slot>, TravelNote)> {
        let technicians = match only {
            Some(id) => vec![self.store.get_technician(tenant_id, id).await?],
            None => active_technicians(self.store, tenant_id).await?,
        };
        // A day either side: shifts run past midnight and zones differ.
        let from = grid.from - Duration::days(1);
        let to = grid.from + Duration::days(i64::from(grid.days) + 2);
        let mut absences: HashMap<Uuid, Vec<Interval>> = HashMap::new();
        for absence in self.store.list_absences(tenant_id, only, from, to).await? {
            absences
                .entry(absence.technician_id)
                .or_default()
                .push((absence.starts_at, absence.ends_at));
        }
        let time_zone = self.store.tenant_settings(tenant_id).await?.time_zone;
        let holidays: HashSet<_> = self
            .store
            .list_holidays(
                tenant_id,
                local_day(&time_zone, from),
                local_day(&time_zone, to),
            )
            .await?
            .into_iter()
            .map(|h| h.day)
            .collect();
        let booked = self.store.booked_jobs(tenant_id, from, to).await?;
        let calendars: Vec<TechnicianCalendar> = technicians
            .into_iter()
            .map(|technician| TechnicianCalendar {
                absences: absences.remove(&technician.id).unwrap_or_default(),
                technician,
            })
            .collect();
        // The legs a slot's day can drive: between a technician's home and
        // their booked sites, and from and to the job's site.
        let mut wanted = LegsWanted::default();
        let mut everywhere = Vec::new();
        for calendar in &calendars {
            let technician = &calendar.technician;
            let Some(home) = technician.home_base.filter(|_| may_offer(technician, job)) else {
                continue;
            };
            let mut points = vec![home];
            points.extend(
                booked
                    .iter()
                    .filter(|b| {
                        b.technician_id == technician.id && Some(b.ticket_id) != job.ticket_id
                    })
                    .map(|b| b.site),
            );
            wanted.among(&points);
            everywhere.extend(points);
        }
        let (travel, note): (RoadTravel, TravelNote) = if everywhere.is_empty() {
            (
                self.travel.into(),
                TravelNote::estimated("no technician to drive"),
            )
        } else {
            wanted
                .between(&[job.site], &everywhere)
                .between(&everywhere, &[job.site]);
            travel_for(self.roads, &wanted, self.travel).await
        };
        let slots = find_slots(&travel, job, &calendars, &booked, &holidays, grid);
        Ok((slots, note))
    }
}

/// Every active technician of the tenant.
pub async fn active_technicians(
    store: &dyn Store,
    tenant_id: Uuid,
) -> StoreResult<Vec<Technician>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_technicians_where(
                tenant_id,
                ArchivedFilter::Active,
                PageRequest { limit: 200, after },
            )
            .await?;
        all.extend(page.items);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// A window as the customer reads it: local date and times in `time_zone`.
pub fn window_text(time_zone: &str, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> String {
    let Ok(tz) = time_zone.parse::<Tz>() else {
        return format!(
            "{}–{} UTC",
            starts_at.format("%Y-%m-%d %H:%M"),
            ends_at.format("%H:%M")
        );
    };
    let (start, end) = (starts_at.with_timezone(&tz), ends_at.with_timezone(&tz));
    if start.date_naive() == end.date_naive() {
        format!(
            "{} {}–{} ({time_zone})",
            start.format("%Y-%m-%d"),
            start.format("%H:%M"),
            end.format("%H:%M")
        )
    } else {
        format!(
            "{}–{} ({time_zone})",
            start.format("%Y-%m-%d %H:%M"),
            end.format("%Y-%m-%d %H:%M")
        )
    }
}
