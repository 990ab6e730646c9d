//! The schedule board: for some local days of the tenant, each active
//! technician's working hours (shifts less absences, none on holidays), their
//! absences, and the jobs whose windows occupy them, in order, with the
//! driving from the previous stop (or from home for a day's first job) by
//! the configured travel; and the windows promised with no technician yet.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    active_technicians,
    travel::{LegsWanted, RoadNetwork, TravelNote, travel_for},
};
use crate::{
    domain::{
        geo::GeoPoint,
        schedule::{
            Absence, AppointmentWindow, Holiday, Interval, TravelModel, TravelTimes, day_start,
            local_day, shift_intervals, subtract,
        },
        ticket::{Priority, Ticket},
    },
    store::{Store, StoreError, StoreResult},
};
use truckroll_sync::Status;

/// Most days one board shows (a week).
pub const MAX_BOARD_DAYS: u32 = 7;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Board {
    #[schema(value_type = String, example = "2026-12-08")]
    pub first_day: NaiveDate,
    pub days: u32,
    /// The tenant's time zone, in which the days are read.
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub technicians: Vec<BoardLane>,
    /// Windows promised to customers with no technician yet (booked with
    /// nobody, the ticket assigned to nobody), by window start.
    pub unassigned: Vec<BoardJob>,
    pub holidays: Vec<Holiday>,
    /// Where the driving times came from (the road network or the estimate).
    pub travel: TravelNote,
}

/// One technician's row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardLane {
    pub technician_id: Uuid,
    pub name: String,
    /// Shifts less absences.
    pub working: Vec<BoardInterval>,
    pub absences: Vec<Absence>,
    /// In the order they are driven (planned start, else window start).
    pub jobs: Vec<BoardJob>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct BoardInterval {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardJob {
    pub ticket_id: Uuid,
    pub number: String,
    pub title: String,
    #[schema(value_type = String, example = "assigned")]
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    /// Who the window is booked with (`null`: it occupies the assignee).
    pub booked_with: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: u32,
    pub planned_start: Option<DateTime<Utc>>,
    /// Driving from the previous stop that day (from home for the first);
    /// `null` for a first job of a technician without a home base.
    pub travel_minutes: Option<u32>,
    /// The previous stop's ticket number, or `home`.
    pub travel_from: Option<String>,
}

/// Reads the board over a store.
#[derive(Debug, Clone, Copy)]
pub struct BoardReader<'a> {
    pub store: &'a dyn Store,
    pub travel: TravelModel,
    /// The OSRM-compatible road network, when configured.
    pub roads: Option<&'a RoadNetwork>,
}

/// A job on the board before its driving is known.
fn board_job(
    ticket: Ticket,
    window: Option<AppointmentWindow>,
    (starts_at, ends_at, duration_minutes): (DateTime<Utc>, DateTime<Utc>, u32),
) -> BoardJob {
    BoardJob {
        ticket_id: ticket.id,
        number: ticket.number,
        title: ticket.title,
        status: ticket.status,
        priority: ticket.priority,
        assignee_id: ticket.assignee_id,
        booked_with: window.as_ref().and_then(|w| w.technician_id),
        starts_at,
        ends_at,
        duration_minutes,
        planned_start: window.and_then(|w| w.planned_start),
        travel_minutes: None,
        travel_from: None,
    }
}

impl BoardReader<'_> {
    /// The board of `days` local days from `first_day`.
    pub async fn read(
        &self,
        tenant_id: Uuid,
        first_day: NaiveDate,
        days: u32,
    ) -> StoreResult<Board> {
        let store = self.store;
        let time_zone = store.tenant_settings(tenant_id).await?.time_zone;
        let last_day = first_day
            .checked_add_days(Days::new(u64::from(days.max(1) - 1)))
            .ok_or(StoreError::NotFound("day"))?;
        let (Some(from), Some(to)) = (
            day_start(&time_zone, first_day),
            last_day
                .succ_opt()
                .and_then(|next| day_start(&time_zone, next)),
        ) else {
            return Err(StoreError::Corrupt(format!("tenant time zone {time_zone}")));
        };
        let holidays = store.list_holidays(tenant_id, first_day, last_day).await?;
        let holiday_days: HashSet<NaiveDate> = holidays.iter().map(|h| h.day).collect();
        let mut absences: HashMap<Uuid, Vec<Absence>> = HashMap::new();
        for absence in store.list_absences(tenant_id, None, from, to).await? {
            absences
                .entry(absence.technician_id)
                .or_default()
                .push(absence);
        }
        let mut booked: HashMap<Uuid, Vec<_>> = HashMap::new();
        for job in store.booked_jobs(tenant_id, from, to).await? {
            booked.entry(job.technician_id).or_default().push(job);
        }
        let mut technicians = active_technicians(store, tenant_id).await?;
        technicians.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let mut lanes = Vec::with_capacity(technicians.len());
        let mut wanted = LegsWanted::default();
        for technician in technicians {
            let theirs = absences.remove(&technician.id).unwrap_or_default();
            let busy: Vec<Interval> = theirs.iter().map(|a| (a.starts_at, a.ends_at)).collect();
            let mut working = Vec::new();
            // Shifts are read on the technician's own days; a day either side
            // catches zones ahead of or behind the tenant's.
            let first_local = local_day(&technician.time_zone, from)
                .pred_opt()
                .unwrap_or(first_day);
            for offset in 0..=u64::from(days) + 1 {
                let Some(day) = first_local.checked_add_days(Days::new(offset)) else {
                    break;
                };
                if holiday_days.contains(&day) {
                    continue;
                }
                let shifts = shift_intervals(&technician.shifts, &technician.time_zone, day);
                for (start, end) in subtract(&shifts, &busy) {
                    if start < to && end > from {
                        working.push(BoardInterval {
                            starts_at: start.max(from),
                            ends_at: end.min(to),
                        });
                    }
                }
            }
            let mut jobs = Vec::new();
            for job in booked.remove(&technician.id).unwrap_or_default() {
                let ticket = store.get_ticket(tenant_id, job.ticket_id).await?;
                let window = store.ticket_window(tenant_id, job.ticket_id).await?;
                let times = (job.starts_at, job.ends_at, job.duration_minutes);
                jobs.push((job.site, board_job(ticket, window, times)));
            }
            jobs.sort_by_key(|(_, job)| {
                (
                    job.planned_start.unwrap_or(job.starts_at),
                    job.starts_at,
                    job.ticket_id,
                )
            });
            // Each leg driven: from the previous stop that day, else from home.
            let mut previous: Option<(NaiveDate, String, GeoPoint)> = None;
            let mut legs = Vec::with_capacity(jobs.len());
            for (site, job) in &jobs {
                let day = local_day(
                    &technician.time_zone,
                    job.planned_start.unwrap_or(job.starts_at),
                );
                let from_point = match previous.take() {
                    Some((previous_day, number, point)) if previous_day == day => {
                        Some((number, point))
                    }
                    _ => technician.home_base.map(|home| ("home".to_owned(), home)),
                };
                legs.push(from_point.map(|(name, point)| (name, point, *site)));
                previous = Some((day, job.number.clone(), *site));
            }
            // One block per technician: their home and sites, as slots ask.
            let points: Vec<GeoPoint> = technician
                .home_base
                .into_iter()
                .chain(jobs.iter().map(|(site, _)| *site))
                .collect();
            wanted.among(&points);
            lanes.push((
                BoardLane {
                    technician_id: technician.id,
                    name: technician.name,
                    working,
                    absences: theirs,
                    jobs: Vec::new(),
                },
                jobs,
                legs,
            ));
        }
        let (travel, note) = travel_for(self.roads, &wanted, self.travel).await;
        let lanes: Vec<BoardLane> = lanes
            .into_iter()
            .map(|(mut lane, jobs, legs)| {
                lane.jobs = jobs
                    .into_iter()
                    .zip(legs)
                    .map(|((_, mut job), leg)| {
                        if let Some((name, from, to)) = leg {
                            let seconds = travel.seconds(from, to);
                            job.travel_from = Some(name);
                            job.travel_minutes =
                                Some(u32::try_from((seconds + 59) / 60).unwrap_or(u32::MAX));
                        }
                        job
                    })
                    .collect();
                lane
            })
            .collect();
        let mut unassigned = Vec::new();
        for job in store.promised_jobs(tenant_id, from, to).await? {
            let ticket = store.get_ticket(tenant_id, job.ticket_id).await?;
            let window = store.ticket_window(tenant_id, job.ticket_id).await?;
            let times = (job.starts_at, job.ends_at, job.duration_minutes);
            unassigned.push(board_job(ticket, window, times));
        }
        Ok(Board {
            first_day,
            days,
            time_zone,
            from,
            to,
            technicians: lanes,
            unassigned,
            holidays,
            travel: note,
        })
    }
}
