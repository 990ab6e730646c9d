//! Scheduling rules without I/O: appointment windows and estimated
//! durations, technicians' absences and the tenant's holidays, a technician's
//! working intervals on a day, travel estimates, and the simulation of a day
//! route that every planner's answer is checked against.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ValidationErrors, geo::GeoPoint, shifts::Shift};

/// A ticket's estimated duration when its category names none.
pub const DEFAULT_DURATION_MINUTES: u32 = 60;
/// Shortest and longest estimated duration.
pub const DURATION_RANGE: std::ops::RangeInclusive<u32> = 5..=1440;
/// A window starts at most this many days ahead.
pub const MAX_WINDOW_AHEAD_DAYS: i64 = 366;
/// Roads are longer than the great circle by about this much in towns.
pub const DETOUR_FACTOR: f64 = 1.3;

/// Who set a ticket's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// A dispatcher typed it (`PUT /v1/tickets/{id}/window`).
    Manual,
    /// Booked from the offered slots.
    Slot,
    /// An applied day plan.
    Plan,
}

impl WindowSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Slot => "slot",
            Self::Plan => "plan",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Manual, Self::Slot, Self::Plan]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// The appointment promised to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppointmentWindow {
    pub ticket_id: Uuid,
    /// The technician arrives and starts no earlier than this.
    pub starts_at: DateTime<Utc>,
    /// The work is done by this time.
    pub ends_at: DateTime<Utc>,
    /// Estimated time on site.
    pub duration_minutes: u32,
    /// Who the window is booked with; `null`: whoever is assigned.
    pub technician_id: Option<Uuid>,
    pub source: WindowSource,
    /// When the applied day plan has the technician start the work.
    pub planned_start: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// `PUT /v1/tickets/{id}/window`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Estimated time on site; default: the category's, else 60.
    pub duration_minutes: Option<u32>,
    /// Book the window with this technician (refused when it overlaps
    /// another window booked with them).
    pub technician_id: Option<Uuid>,
}

impl WindowRequest {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.ends_at <= self.starts_at {
            errors.add("ends_at", "must be after starts_at");
        } else if self.ends_at - self.starts_at > Duration::hours(24) {
            errors.add("ends_at", "a window is at most 24 hours long");
        }
        if self.ends_at <= now {
            errors.add("ends_at", "must be in the future");
        }
        if self.starts_at > now + Duration::days(MAX_WINDOW_AHEAD_DAYS) {
            errors.add(
                "starts_at",
                format!("must be within {MAX_WINDOW_AHEAD_DAYS} days"),
            );
        }
        if let Some(minutes) = self.duration_minutes {
            check_duration(&mut errors, "duration_minutes", minutes);
            if self.ends_at > self.starts_at
                && i64::from(minutes) > (self.ends_at - self.starts_at).num_minutes()
            {
                errors.add("duration_minutes", "must fit inside the window");
            }
        }
        errors.into_result()
    }
}

pub fn check_duration(errors: &mut ValidationErrors, field: &str, minutes: u32) {
    if !DURATION_RANGE.contains(&minutes) {
        errors.add(field, "must be between 5 and 1440 minutes");
    }
}

/// A category's estimated duration (`PUT /v1/categories/{name}/duration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryDuration {
    pub category: String,
    pub minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceKind {
    Holiday,
    Sickness,
    Training,
    Other,
}

impl AbsenceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Holiday => "holiday",
            Self::Sickness => "sickness",
            Self::Training => "training",
            Self::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Holiday, Self::Sickness, Self::Training, Self::Other]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// A time a technician does not work: `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Absence {
    pub id: Uuid,
    pub technician_id: Uuid,
    pub kind: AbsenceKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/technicians/{id}/absences`: either an instant range
/// (`starts_at`, `ends_at`: part of a day) or whole local days in the
/// technician's time zone (`from_day` to `to_day`, both included).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAbsence {
    pub kind: AbsenceKind,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, example = "2026-12-24")]
    pub from_day: Option<NaiveDate>,
    #[schema(value_type = Option<String>, example = "2026-12-31")]
    pub to_day: Option<NaiveDate>,
    #[serde(default)]
    pub note: String,
}

impl NewAbsence {
    /// The absence as an instant range, whole days read in `time_zone`.
    pub fn resolve(
        &self,
        time_zone: &str,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.note.chars().count() > 500 {
            errors.add("note", "must be at most 500 characters");
        }
        let range = match (self.starts_at, self.ends_at, self.from_day, self.to_day) {
            (Some(start), Some(end), None, None) => {
                if end <= start {
                    errors.add("ends_at", "must be after starts_at");
                }
                Some((start, end))
            }
            (None, None, Some(from), to) => {
                let to = to.unwrap_or(from);
                if to < from {
                    errors.add("to_day", "must not be before from_day");
                }
                if (to - from).num_days() > 366 {
                    errors.add("to_day", "an absence is at most 366 days long");
                }
                match (
                    day_start(time_zone, from),
                    to.succ_opt().and_then(|next| day_start(time_zone, next)),
                ) {
                    (Some(start), Some(end)) => Some((start, end)),
                    _ => {
                        errors.add("from_day", "not a day in the technician's time zone");
                        None
                    }
                }
            }
            _ => {
                errors.add(
                    "starts_at",
                    "give starts_at and ends_at, or from_day (and to_day), not both",
                );
                None
            }
        };
        errors.into_result()?;
        range.ok_or_else(|| ValidationErrors::single("starts_at", "no range"))
    }
}

/// A day nobody of the tenant works, in the tenant's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    #[schema(value_type = String, example = "2026-12-25")]
    pub day: NaiveDate,
    pub name: String,
}

/// The first instant of local `day` in `time_zone` (after a gap, the first
/// that exists).
pub fn day_start(time_zone: &str, day: NaiveDate) -> Option<DateTime<Utc>> {
    let tz: Tz = time_zone.parse().ok()?;
    local_instant(tz, day, NaiveTime::MIN)
}

fn local_instant(tz: Tz, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = day.and_time(time);
    tz.from_local_datetime(&local)
        .earliest()
        // In a daylight-saving gap, an hour later exists.
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// The local date of `at` in `time_zone` (UTC for an unknown zone).
pub fn local_day(time_zone: &str, at: DateTime<Utc>) -> NaiveDate {
    match time_zone.parse::<Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

fn weekday(day: super::shifts::Day) -> Weekday {
    use super::shifts::Day;
    match day {
        Day::Mon => Weekday::Mon,
        Day::Tue => Weekday::Tue,
        Day::Wed => Weekday::Wed,
        Day::Thu => Weekday::Thu,
        Day::Fri => Weekday::Fri,
        Day::Sat => Weekday::Sat,
        Day::Sun => Weekday::Sun,
    }
}

/// A half-open instant range.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

/// The shifts that start on local `day`, as instant ranges (a shift past
/// midnight ends the next day; start == end is 24 hours), earliest first.
pub fn shift_intervals(shifts: &[Shift], time_zone: &str, day: NaiveDate) -> Vec<Interval> {
    let Ok(tz) = time_zone.parse::<Tz>() else {
        return Vec::new();
    };
    let clock = |value: &str| {
        (value.len() == 5)
            .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
            .flatten()
    };
    let mut intervals: Vec<Interval> = shifts
        .iter()
        .filter(|shift| weekday(shift.day) == day.weekday())
        .filter_map(|shift| {
            let (start, end) = (clock(&shift.start)?, clock(&shift.end)?);
            let end_day = if end <= start { day.succ_opt()? } else { day };
            Some((
                local_instant(tz, day, start)?,
                local_instant(tz, end_day, end)?,
            ))
        })
        .filter(|(start, end)| end > start)
        .collect();
    intervals.sort();
    intervals
}

/// A break to take inside a working interval: `length`, begun at or after
/// `earliest`, over by `latest_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakWindow {
    pub earliest: DateTime<Utc>,
    pub latest_end: DateTime<Utc>,
    pub length: Duration,
}

/// The breaks of the shifts that start on local `day`, as instants: a
/// break's times are read on the shift's day, or the next when they fall
/// before the shift's start (a shift past midnight).
pub fn shift_breaks(shifts: &[Shift], time_zone: &str, day: NaiveDate) -> Vec<BreakWindow> {
    let Ok(tz) = time_zone.parse::<Tz>() else {
        return Vec::new();
    };
    let clock = |value: &str| {
        (value.len() == 5)
            .then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
            .flatten()
    };
    let mut breaks = Vec::new();
    for shift in shifts.iter().filter(|s| weekday(s.day) == day.weekday()) {
        let Some(start) = clock(&shift.start) else {
            continue;
        };
        let at = |time: NaiveTime| {
            let on = if time < start { day.succ_opt()? } else { day };
            local_instant(tz, on, time)
        };
        for brk in &shift.breaks {
            let (Some(after), Some(before)) = (clock(&brk.after), clock(&brk.before)) else {
                continue;
            };
            if let (Some(earliest), Some(latest_end)) = (at(after), at(before)) {
                breaks.push(BreakWindow {
                    earliest,
                    latest_end,
                    length: Duration::minutes(i64::from(brk.minutes)),
                });
            }
        }
    }
    breaks.sort_by_key(|b| (b.earliest, b.latest_end));
    breaks
}

/// The breaks that lie wholly inside `interval` (a break an absence cuts
/// into is not taken: the absence covers it).
pub fn breaks_within(breaks: &[BreakWindow], interval: Interval) -> Vec<BreakWindow> {
    breaks
        .iter()
        .copied()
        .filter(|b| b.earliest >= interval.0 && b.latest_end <= interval.1)
        .collect()
}

/// `intervals` less every range of `busy`.
pub fn subtract(intervals: &[Interval], busy: &[Interval]) -> Vec<Interval> {
    let mut free: Vec<Interval> = intervals.to_vec();
    for &(busy_start, busy_end) in busy {
        free = free
            .into_iter()
            .flat_map(|(start, end)| {
                if busy_end <= start || busy_start >= end {
                    return vec![(start, end)];
                }
                let mut left = Vec::new();
                if busy_start > start {
                    left.push((start, busy_start));
                }
                if busy_end < end {
                    left.push((busy_end, end));
                }
                left
            })
            .collect();
    }
    free
}

/// Travel estimates: great-circle distance × a detour factor ÷ speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TravelModel {
    pub speed_kmh: f64,
    pub detour_factor: f64,
}

impl TravelModel {
    pub fn new(speed_kmh: f64) -> Self {
        Self {
            speed_kmh,
            detour_factor: DETOUR_FACTOR,
        }
    }

    /// Road metres between two points.
    pub fn meters(&self, from: GeoPoint, to: GeoPoint) -> f64 {
        haversine_m(from, to) * self.detour_factor
    }

    /// Whole seconds of driving between two points (rounded up).
    pub fn seconds(&self, from: GeoPoint, to: GeoPoint) -> i64 {
        let seconds = self.meters(from, to) / 1000.0 / self.speed_kmh * 3600.0;
        if seconds.is_finite() {
            seconds.ceil() as i64
        } else {
            0
        }
    }
}

/// Driving seconds and road metres between two points: the great-circle
/// model, or a road network's matrix with the model for pairs it lacks.
pub trait TravelTimes {
    /// Whole seconds of driving.
    fn seconds(&self, from: GeoPoint, to: GeoPoint) -> i64;
    /// Road metres.
    fn meters(&self, from: GeoPoint, to: GeoPoint) -> f64;
}

impl TravelTimes for TravelModel {
    fn seconds(&self, from: GeoPoint, to: GeoPoint) -> i64 {
        TravelModel::seconds(self, from, to)
    }

    fn meters(&self, from: GeoPoint, to: GeoPoint) -> f64 {
        TravelModel::meters(self, from, to)
    }
}

/// A point as a map key: micro-degrees (about 0.1 m).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointKey(i64, i64);

impl From<GeoPoint> for PointKey {
    fn from(point: GeoPoint) -> Self {
        Self(
            (point.lat * 1e6).round() as i64,
            (point.lon * 1e6).round() as i64,
        )
    }
}

/// One road leg: whole seconds and metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    pub seconds: i64,
    pub meters: f64,
}

/// Road legs between points (from a road network), the model for the rest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoadMatrix {
    pub legs: std::collections::HashMap<(PointKey, PointKey), Leg>,
}

/// The travel a plan is made and checked with.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadTravel {
    pub model: TravelModel,
    pub matrix: Option<std::sync::Arc<RoadMatrix>>,
}

impl From<TravelModel> for RoadTravel {
    fn from(model: TravelModel) -> Self {
        Self {
            model,
            matrix: None,
        }
    }
}

impl RoadTravel {
    fn leg(&self, from: GeoPoint, to: GeoPoint) -> Option<Leg> {
        if PointKey::from(from) == PointKey::from(to) {
            return None;
        }
        self.matrix
            .as_ref()?
            .legs
            .get(&(from.into(), to.into()))
            .copied()
    }
}

impl TravelTimes for RoadTravel {
    fn seconds(&self, from: GeoPoint, to: GeoPoint) -> i64 {
        self.leg(from, to)
            .map_or_else(|| self.model.seconds(from, to), |leg| leg.seconds)
    }

    fn meters(&self, from: GeoPoint, to: GeoPoint) -> f64 {
        self.leg(from, to)
            .map_or_else(|| self.model.meters(from, to), |leg| leg.meters)
    }
}

/// Great-circle metres on a sphere of the Earth's mean radius.
pub fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.lon - a.lon).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// One job on a route: where, when it may start, how long it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub ticket_id: Uuid,
    pub point: GeoPoint,
    /// The window: work starts at or after `window.0` and ends by `window.1`.
    pub window: Interval,
    pub duration: Duration,
}

impl Stop {
    /// The latest start that still ends inside the window.
    pub fn latest_start(&self) -> DateTime<Utc> {
        self.window.1 - self.duration
    }
}

/// Where and when a technician's working interval starts and ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Depot {
    pub start: GeoPoint,
    pub end: GeoPoint,
    pub shift: Interval,
    /// Breaks to take inside the interval, earliest first (at most two).
    pub breaks: Vec<BreakWindow>,
}

/// One simulated visit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Visit {
    pub ticket_id: Uuid,
    pub arrive_at: DateTime<Utc>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// Driving from the previous stop (or the start) to this one.
    pub travel_seconds: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteOutcome {
    pub visits: Vec<Visit>,
    /// The breaks taken, `[start, end)`.
    pub breaks: Vec<Interval>,
    /// Driving including the way back to the end point.
    pub travel_seconds: i64,
    pub distance_m: f64,
    pub back_at: DateTime<Utc>,
}

/// Why a route cannot be driven as ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteViolation {
    #[error("ticket {0} cannot start inside its window")]
    Window(Uuid),
    #[error("the route does not end before the shift ends")]
    Shift,
    #[error("a break cannot be taken inside its times")]
    Break,
}

/// Where a break is taken: before leaving for stop `p` (`p` = the number
/// of stops: before driving home), or on arriving at stop `p`, before the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakAt {
    Leaving(usize),
    Arriving(usize),
}

/// Every place a break may be taken on a route of `stops` stops, earliest first.
fn break_places(stops: usize) -> Vec<BreakAt> {
    let mut places = Vec::with_capacity(2 * stops + 1);
    for p in 0..stops {
        places.push(BreakAt::Leaving(p));
        places.push(BreakAt::Arriving(p));
    }
    places.push(BreakAt::Leaving(stops));
    places
}

/// Drives `stops` in order from the depot's start at the shift start,
/// waiting for each window to open, and back to the end point. Every job
/// must end inside its window and the technician be back by the shift end.
/// Each break of the depot is taken at the earliest place (between jobs, or
/// on arriving at the next one) that lets the whole route work; a break is
/// not needed once the technician is back before it may begin.
pub fn simulate<T: TravelTimes + ?Sized>(
    travel: &T,
    depot: &Depot,
    stops: &[&Stop],
) -> Result<RouteOutcome, RouteViolation> {
    let first = drive_with(travel, depot, stops, &[]);
    if depot.breaks.is_empty() || first.is_ok() {
        return first;
    }
    let places = break_places(stops.len());
    let mut error = first.err().unwrap_or(RouteViolation::Break);
    match depot.breaks.len() {
        1 => {
            for &place in &places {
                match drive_with(travel, depot, stops, &[place]) {
                    Ok(outcome) => return Ok(outcome),
                    Err(e) => error = e,
                }
            }
        }
        _ => {
            for (i, &one) in places.iter().enumerate() {
                for &two in &places[i..] {
                    match drive_with(travel, depot, stops, &[one, two]) {
                        Ok(outcome) => return Ok(outcome),
                        Err(e) => error = e,
                    }
                }
            }
        }
    }
    Err(error)
}

/// Drives the route with the depot's breaks taken at `places` (in the
/// breaks' order); no places: without breaks, which only works when every
/// break may be skipped (the technician is back before it begins).
fn drive_with<T: TravelTimes + ?Sized>(
    travel: &T,
    depot: &Depot,
    stops: &[&Stop],
    places: &[BreakAt],
) -> Result<RouteOutcome, RouteViolation> {
    let mut at = depot.shift.0;
    let mut here = depot.start;
    let mut visits = Vec::with_capacity(stops.len());
    let mut taken = Vec::with_capacity(places.len());
    let mut travel_seconds = 0;
    let mut distance_m = 0.0;
    let breaks_at = |place: BreakAt| -> Vec<BreakWindow> {
        places
            .iter()
            .zip(&depot.breaks)
            .filter(|(p, _)| **p == place)
            .map(|(_, b)| *b)
            .collect()
    };
    let mut rest = |at: &mut DateTime<Utc>, place: BreakAt| -> Result<(), RouteViolation> {
        for brk in breaks_at(place) {
            let start = (*at).max(brk.earliest);
            let end = start + brk.length;
            if end > brk.latest_end {
                return Err(RouteViolation::Break);
            }
            taken.push((start, end));
            *at = end;
        }
        Ok(())
    };
    for (p, stop) in stops.iter().enumerate() {
        rest(&mut at, BreakAt::Leaving(p))?;
        let drive = travel.seconds(here, stop.point);
        travel_seconds += drive;
        distance_m += travel.meters(here, stop.point);
        let arrive_at = at + Duration::seconds(drive);
        let mut ready = arrive_at;
        rest(&mut ready, BreakAt::Arriving(p))?;
        let start_at = ready.max(stop.window.0).max(depot.shift.0);
        if start_at > stop.latest_start() {
            return Err(RouteViolation::Window(stop.ticket_id));
        }
        let end_at = start_at + stop.duration;
        visits.push(Visit {
            ticket_id: stop.ticket_id,
            arrive_at,
            start_at,
            end_at,
            travel_seconds: drive,
        });
        at = end_at;
        here = stop.point;
    }
    rest(&mut at, BreakAt::Leaving(stops.len()))?;
    let drive = travel.seconds(here, depot.end);
    travel_seconds += drive;
    distance_m += travel.meters(here, depot.end);
    let back_at = at + Duration::seconds(drive);
    if back_at > depot.shift.1 {
        return Err(RouteViolation::Shift);
    }
    // A break not placed is skipped only when the day is over before it
    // may begin.
    for (i, brk) in depot.breaks.iter().enumerate() {
        if i >= places.len() && back_at > brk.earliest {
            return Err(RouteViolation::Break);
        }
    }
    Ok(RouteOutcome {
        visits,
        breaks: taken,
        travel_seconds,
        distance_m,
        back_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shifts::Day;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, hour, minute, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn shifts_of_a_day_in_the_local_zone() {
        let shifts = vec![
            Shift {
                day: Day::Mon,
                start: "08:00".into(),
                end: "17:00".into(),
                breaks: Vec::new(),
            },
            Shift {
                day: Day::Mon,
                start: "22:00".into(),
                end: "02:00".into(),
                breaks: Vec::new(),
            },
            Shift {
                day: Day::Tue,
                start: "08:00".into(),
                end: "17:00".into(),
                breaks: Vec::new(),
            },
        ];
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let got = shift_intervals(&shifts, "Europe/Berlin", monday);
        assert_eq!(
            got,
            vec![
                (at(7, 0), at(16, 0)),
                (at(21, 0), at(1, 0) + Duration::days(1))
            ]
        );
        assert!(shift_intervals(&shifts, "Not/AZone", monday).is_empty());
    }

    #[test]
    fn absences_cut_intervals() {
        let day = [(at(8, 0), at(16, 0))];
        assert_eq!(
            subtract(&day, &[(at(10, 0), at(12, 0))]),
            vec![(at(8, 0), at(10, 0)), (at(12, 0), at(16, 0))]
        );
        assert!(subtract(&day, &[(at(7, 0), at(17, 0))]).is_empty());
        assert_eq!(subtract(&day, &[(at(16, 0), at(17, 0))]), day.to_vec());
    }

    #[test]
    fn whole_days_of_absence_follow_the_zone() {
        let absence = NewAbsence {
            kind: AbsenceKind::Holiday,
            starts_at: None,
            ends_at: None,
            from_day: NaiveDate::from_ymd_opt(2026, 12, 7),
            to_day: NaiveDate::from_ymd_opt(2026, 12, 8),
            note: String::new(),
        };
        let (start, end) = absence.resolve("Europe/Berlin").expect("valid");
        assert_eq!(start, at(0, 0) - Duration::hours(1));
        assert_eq!(end, start + Duration::days(2));
        let both = NewAbsence {
            starts_at: Some(at(8, 0)),
            ..absence
        };
        assert!(both.resolve("Europe/Berlin").is_err());
    }

    #[test]
    fn a_route_waits_for_windows_and_must_end_in_time() {
        let travel = TravelModel::new(40.0);
        let home = GeoPoint {
            lat: 52.52,
            lon: 13.40,
        };
        let near = GeoPoint {
            lat: 52.53,
            lon: 13.41,
        };
        let depot = Depot {
            start: home,
            end: home,
            shift: (at(8, 0), at(16, 0)),
            breaks: Vec::new(),
        };
        let job = |window: Interval| Stop {
            ticket_id: Uuid::now_v7(),
            point: near,
            window,
            duration: Duration::minutes(60),
        };
        let late = job((at(10, 0), at(12, 0)));
        let route = simulate(&travel, &depot, &[&late]).expect("feasible");
        assert_eq!(route.visits[0].start_at, at(10, 0));
        let too_early = job((at(7, 0), at(8, 30)));
        assert_eq!(
            simulate(&travel, &depot, &[&too_early]),
            Err(RouteViolation::Window(too_early.ticket_id))
        );
        let at_the_end = job((at(14, 0), at(16, 0)));
        let route = simulate(&travel, &depot, &[&at_the_end]);
        assert!(route.is_ok(), "{route:?}");
        let squeezed = Depot {
            shift: (at(8, 0), at(15, 2)),
            ..depot.clone()
        };
        assert_eq!(
            simulate(&travel, &squeezed, &[&at_the_end]),
            Err(RouteViolation::Shift)
        );
    }

    #[test]
    fn a_route_keeps_the_lunch_break() {
        let travel = TravelModel::new(40.0);
        let home = GeoPoint {
            lat: 52.52,
            lon: 13.40,
        };
        let site = GeoPoint {
            lat: 52.53,
            lon: 13.41,
        };
        let depot = Depot {
            start: home,
            end: home,
            shift: (at(8, 0), at(17, 0)),
            breaks: vec![BreakWindow {
                earliest: at(12, 0),
                latest_end: at(13, 0),
                length: Duration::minutes(60),
            }],
        };
        let job = |window: Interval, minutes: i64| Stop {
            ticket_id: Uuid::now_v7(),
            point: site,
            window,
            duration: Duration::minutes(minutes),
        };
        // 90 minutes inside 12–14 cannot be done around a 12–13 lunch.
        let squeezed = job((at(12, 0), at(14, 0)), 90);
        assert!(simulate(&travel, &depot, &[&squeezed]).is_err());
        let without = Depot {
            breaks: Vec::new(),
            ..depot.clone()
        };
        assert!(simulate(&travel, &without, &[&squeezed]).is_ok());
        // Two jobs around it: the lunch falls between them.
        let morning = job((at(11, 0), at(12, 0)), 60);
        let afternoon = job((at(12, 0), at(15, 0)), 60);
        let route = simulate(&travel, &depot, &[&morning, &afternoon]).expect("feasible");
        assert_eq!(route.breaks, vec![(at(12, 0), at(13, 0))]);
        for visit in &route.visits {
            assert!(
                visit.end_at <= at(12, 0) || visit.start_at >= at(13, 0),
                "{route:?}"
            );
        }
        // Home before noon: no lunch needed.
        let early = job((at(8, 0), at(10, 0)), 60);
        let route = simulate(&travel, &depot, &[&early]).expect("feasible");
        assert!(route.breaks.is_empty());
    }

    #[test]
    fn breaks_are_read_on_the_shift_day() {
        let shifts = vec![Shift {
            day: Day::Mon,
            start: "22:00".into(),
            end: "06:00".into(),
            breaks: vec![crate::domain::shifts::ShiftBreak {
                after: "01:00".into(),
                before: "02:00".into(),
                minutes: 30,
            }],
        }];
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let breaks = shift_breaks(&shifts, "UTC", monday);
        assert_eq!(breaks.len(), 1);
        assert_eq!(breaks[0].earliest, at(1, 0) + Duration::days(1));
        assert_eq!(breaks[0].length, Duration::minutes(30));
    }
}
