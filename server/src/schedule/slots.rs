//! Bookable slots: windows on a grid in which a qualified technician can
//! drive to the site and do the work while every job already booked with
//! them still fits its own window, they are back home by the end of the
//! shift, and no booked window of theirs overlaps the slot. Ranked by the
//! driving the job adds to that technician's day, least first.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{
        geo::GeoPoint,
        people::{SkillLevel, Technician},
        schedule::{
            Depot, Interval, RouteOutcome, Stop, TravelTimes, breaks_within, local_day,
            shift_breaks, shift_intervals, simulate, subtract,
        },
    },
    store::schedule::BookedJob,
};

/// The job to find room for.
#[derive(Debug, Clone)]
pub struct SlotJob {
    /// The ticket, when slots are asked for one (its own window is ignored).
    pub ticket_id: Option<Uuid>,
    pub site: GeoPoint,
    pub duration: Duration,
    pub required_skills: Vec<SkillLevel>,
}

/// A technician with the absences that touch the searched days.
#[derive(Debug, Clone)]
pub struct TechnicianCalendar {
    pub technician: Technician,
    pub absences: Vec<Interval>,
}

#[derive(Debug, Clone, Copy)]
pub struct SlotGrid {
    /// Slots start at or after this instant.
    pub from: DateTime<Utc>,
    /// Local days searched, starting with `from`'s.
    pub days: u32,
    /// Length of each slot; slots start at the shift start and follow each other.
    pub length: Duration,
    pub limit: usize,
}

/// One offered window, with the technician it would be booked with.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub technician_id: Uuid,
    pub technician_name: String,
    /// Driving the job adds to the technician's day, in minutes.
    pub added_travel_minutes: f64,
    /// Jobs already booked with the technician in that shift.
    pub other_jobs: usize,
    /// Why this slot is offered, in words.
    pub reason: String,
}

fn qualified(technician: &Technician, required: &[SkillLevel]) -> bool {
    required.iter().all(|need| {
        technician
            .skills
            .iter()
            .any(|held| held.skill == need.skill && held.level >= need.level)
    })
}

fn stop(job: &BookedJob) -> Stop {
    Stop {
        ticket_id: job.ticket_id,
        point: job.site,
        window: (job.starts_at, job.ends_at),
        duration: Duration::minutes(i64::from(job.duration_minutes)),
    }
}

/// Whether `technician` may be offered slots for `job`: active, with a
/// home base to start from, and holding the job's skills.
pub fn may_offer(technician: &Technician, job: &SlotJob) -> bool {
    technician.home_base.is_some()
        && technician.archived_at.is_none()
        && qualified(technician, &job.required_skills)
}

fn drive(stops: &[&Stop], travel: &dyn TravelTimes, depot: &Depot) -> Option<RouteOutcome> {
    let mut ordered = stops.to_vec();
    ordered.sort_by_key(|s| (s.window.0, s.window.1, s.ticket_id));
    simulate(travel, depot, &ordered).ok()
}

/// The slots for `job`, best first: for each window of the grid, the
/// technician to whom the job adds the least driving.
pub fn find_slots(
    travel: &dyn TravelTimes,
    job: &SlotJob,
    calendars: &[TechnicianCalendar],
    booked: &[BookedJob],
    holidays: &HashSet<NaiveDate>,
    grid: &SlotGrid,
) -> Vec<Slot> {
    if grid.length < job.duration || grid.length <= Duration::zero() {
        return Vec::new();
    }
    // Per window (start, end): the best offer so far.
    let mut best: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Slot> = BTreeMap::new();
    for calendar in calendars {
        let technician = &calendar.technician;
        let Some(home) = technician.home_base.filter(|_| may_offer(technician, job)) else {
            continue;
        };
        let theirs: Vec<Stop> = booked
            .iter()
            .filter(|b| b.technician_id == technician.id && Some(b.ticket_id) != job.ticket_id)
            .map(stop)
            .collect();
        let numbers: Vec<(&Uuid, &str)> = booked
            .iter()
            .map(|b| (&b.ticket_id, b.ticket_number.as_str()))
            .collect();
        let first_day = local_day(&technician.time_zone, grid.from);
        for offset in 0..grid.days {
            let Some(day) = first_day.checked_add_days(chrono::Days::new(u64::from(offset))) else {
                break;
            };
            if holidays.contains(&day) {
                continue;
            }
            let shifts = shift_intervals(&technician.shifts, &technician.time_zone, day);
            let breaks = shift_breaks(&technician.shifts, &technician.time_zone, day);
            for (start, end) in subtract(&shifts, &calendar.absences) {
                let depot = Depot {
                    start: home,
                    end: home,
                    shift: (start, end),
                    breaks: breaks_within(&breaks, (start, end)),
                };
                let inside: Vec<&Stop> = theirs
                    .iter()
                    .filter(|s| s.window.0 < end && s.window.1 > start)
                    .collect();
                // A day already over-full offers nothing.
                let Some(base) = drive(&inside, travel, &depot) else {
                    continue;
                };
                // The grid starts at the shift start; skip the steps already past.
                let mut slot_start = start;
                if grid.from > start {
                    let step = grid.length.num_seconds().max(1);
                    let behind = (grid.from - start).num_seconds();
                    slot_start = start + Duration::seconds((behind + step - 1) / step * step);
                }
                while slot_start + grid.length <= end {
                    let window = (slot_start, slot_start + grid.length);
                    slot_start += grid.length;
                    if inside
                        .iter()
                        .any(|s| s.window.0 < window.1 && s.window.1 > window.0)
                    {
                        continue;
                    }
                    let new = Stop {
                        ticket_id: job.ticket_id.unwrap_or_else(Uuid::nil),
                        point: job.site,
                        window,
                        duration: job.duration,
                    };
                    let mut with = inside.clone();
                    with.push(&new);
                    let Some(route) = drive(&with, travel, &depot) else {
                        continue;
                    };
                    let added = (route.travel_seconds - base.travel_seconds) as f64 / 60.0;
                    let added = (added * 10.0).round() / 10.0;
                    let position = route
                        .visits
                        .iter()
                        .position(|v| v.ticket_id == new.ticket_id);
                    let neighbour = |index: Option<usize>| {
                        index
                            .and_then(|i| route.visits.get(i))
                            .and_then(|v| numbers.iter().find(|(id, _)| **id == v.ticket_id))
                            .map(|(_, number)| (*number).to_owned())
                            .unwrap_or_else(|| "home".to_owned())
                    };
                    let before = neighbour(position.and_then(|p| p.checked_sub(1)));
                    let after = neighbour(position.map(|p| p + 1));
                    let offer = Slot {
                        starts_at: window.0,
                        ends_at: window.1,
                        technician_id: technician.id,
                        technician_name: technician.name.clone(),
                        added_travel_minutes: added,
                        other_jobs: inside.len(),
                        reason: format!(
                            "{} is qualified and free; the visit fits between {before} and {after} and adds {added} min of driving ({} other job{} that shift)",
                            technician.name,
                            inside.len(),
                            if inside.len() == 1 { "" } else { "s" },
                        ),
                    };
                    let better = |held: &Slot| {
                        (
                            offer.added_travel_minutes,
                            &offer.technician_name,
                            offer.technician_id,
                        )
                            .partial_cmp(&(
                                held.added_travel_minutes,
                                &held.technician_name,
                                held.technician_id,
                            ))
                            .is_some_and(|o| o.is_lt())
                    };
                    match best.get(&window) {
                        Some(held) if !better(held) => {}
                        _ => {
                            best.insert(window, offer);
                        }
                    }
                }
            }
        }
    }
    let mut slots: Vec<Slot> = best.into_values().collect();
    slots.sort_by(|a, b| {
        a.added_travel_minutes
            .total_cmp(&b.added_travel_minutes)
            .then(a.starts_at.cmp(&b.starts_at))
    });
    slots.truncate(grid.limit);
    slots
}
