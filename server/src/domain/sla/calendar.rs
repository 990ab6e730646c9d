//! Business calendars: the hours during which an SLA clock runs.
//!
//! A calendar is either open around the clock (`24x7`) or open during weekly
//! windows written in local wall-clock time (`"HH:MM"`, the end may be
//! `"24:00"`) in an IANA time zone, minus whole-day holidays given as local
//! dates.
//!
//! # Daylight saving time
//!
//! An instant is business time when **the local wall clock at that instant
//! reads a time inside an open window** of that local date's weekday, and the
//! local date is not a holiday. Everything else follows from that one rule:
//!
//! - spring forward: wall-clock times that do not exist never count. A window
//!   08:00–17:00 on a day that skips 02:00–03:00 is still 9 hours; a window
//!   01:00–04:00 that day is 2 hours (01:00–02:00 and 03:00–04:00 local); a
//!   window that lies wholly inside the gap is empty.
//! - fall back: wall-clock times that happen twice count twice. A window
//!   00:00–24:00 on a day with 25 hours is 25 hours; a window 01:00–02:30 on
//!   a night that repeats 02:00–03:00 is 1.5 h + 0.5 h (the repeated
//!   02:00–02:30).
//!
//! This is the rule a person in that office would apply ("are we open at this
//! moment, looking at the clock on the wall?"), and it is what the
//! minute-by-minute reference implementation in the property tests checks.
//!
//! Internally the UTC axis is cut into stretches of constant UTC offset, and
//! each stretch is mapped to local time with its own offset, so no local time
//! is ever resolved through an ambiguous or missing mapping.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ValidationErrors;
use crate::domain::shifts::Day;

const MINUTES_PER_DAY: u32 = 24 * 60;
/// Most windows a weekly calendar may list.
pub const MAX_WINDOWS: usize = 100;
/// Most holidays a weekly calendar may list.
pub const MAX_HOLIDAYS: usize = 1000;
/// How far `add_business_time` searches before it answers "never"
/// ([`DateTime::<Utc>::MAX_UTC`]). Only reachable for a calendar without
/// open hours, which validation refuses.
const SEARCH_HORIZON_DAYS: i64 = 200 * 366;
/// Offsets are probed at this step to find DST transitions; zones do not
/// change offset twice (and back) within it.
const OFFSET_PROBE_SECONDS: i64 = 3 * 3600;

/// When the SLA clock runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusinessCalendar {
    /// Always open: every instant is business time.
    #[serde(rename = "24x7")]
    AlwaysOpen,
    /// Open during weekly local hours, closed on holidays.
    Weekly(WeeklyCalendar),
}

/// Weekly opening hours in one time zone, with holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyCalendar {
    /// IANA time zone the hours and holidays are written in.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Open windows; a day may have several (e.g. a lunch break), none may overlap.
    pub hours: Vec<BusinessHours>,
    /// Local dates that are closed all day.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// One open window on one weekday, in local wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    pub day: Day,
    /// Local opening time, `HH:MM`.
    #[schema(example = "08:00")]
    pub start: String,
    /// Local closing time, `HH:MM`, after `start`; `24:00` for midnight at the end of the day.
    #[schema(example = "17:00")]
    pub end: String,
}

impl BusinessHours {
    pub fn new(day: Day, start: &str, end: &str) -> Self {
        Self {
            day,
            start: start.into(),
            end: end.into(),
        }
    }
}

/// Minutes after local midnight for `HH:MM`; `24:00` only when `allow_end_of_day`.
fn parse_minutes(value: &str, allow_end_of_day: bool) -> Option<u32> {
    let bytes = value.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let digit = |i: usize| {
        bytes[i]
            .is_ascii_digit()
            .then(|| u32::from(bytes[i] - b'0'))
    };
    let hours = digit(0)? * 10 + digit(1)?;
    let minutes = digit(3)? * 10 + digit(4)?;
    match (hours, minutes) {
        (24, 0) if allow_end_of_day => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

fn day_index(day: Day) -> usize {
    match day {
        Day::Mon => 0,
        Day::Tue => 1,
        Day::Wed => 2,
        Day::Thu => 3,
        Day::Fri => 4,
        Day::Sat => 5,
        Day::Sun => 6,
    }
}

impl BusinessCalendar {
    /// Checks the calendar, naming each bad part under `field`
    /// (e.g. `calendar.hours[2].end`).
    pub fn validate_into(&self, errors: &mut ValidationErrors, field: &str) {
        let BusinessCalendar::Weekly(weekly) = self else {
            return;
        };
        if weekly.time_zone.parse::<Tz>().is_err() {
            errors.add(
                format!("{field}.time_zone"),
                "must be an IANA time zone such as Europe/Berlin or America/New_York",
            );
        }
        if weekly.hours.is_empty() {
            errors.add(
                format!("{field}.hours"),
                "must list at least one open window (use kind 24x7 for always open)",
            );
        }
        if weekly.hours.len() > MAX_WINDOWS {
            errors.add(
                format!("{field}.hours"),
                format!("must list at most {MAX_WINDOWS} windows"),
            );
        }
        let mut parsed: Vec<(usize, usize, u32, u32)> = Vec::new();
        for (i, window) in weekly.hours.iter().enumerate() {
            let start = parse_minutes(&window.start, false);
            let end = parse_minutes(&window.end, true);
            if start.is_none() {
                errors.add(
                    format!("{field}.hours[{i}].start"),
                    "must be a local time HH:MM (00:00 to 23:59)",
                );
            }
            if end.is_none() {
                errors.add(
                    format!("{field}.hours[{i}].end"),
                    "must be a local time HH:MM (00:01 to 24:00)",
                );
            }
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            if end <= start {
                errors.add(
                    format!("{field}.hours[{i}].end"),
                    format!(
                        "must be after start {} (a window cannot cross midnight: split it at 24:00)",
                        window.start
                    ),
                );
                continue;
            }
            let day = day_index(window.day);
            if let Some(&(j, _, _, _)) = parsed
                .iter()
                .find(|&&(_, d, s, e)| d == day && s < end && start < e)
            {
                errors.add(
                    format!("{field}.hours[{i}]"),
                    format!("overlaps {field}.hours[{j}] on the same day"),
                );
            }
            parsed.push((i, day, start, end));
        }
        if weekly.holidays.len() > MAX_HOLIDAYS {
            errors.add(
                format!("{field}.holidays"),
                format!("must list at most {MAX_HOLIDAYS} dates"),
            );
        }
    }

    /// Checks the calendar; field names are relative to it (`hours[0].start`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.validate_into(&mut errors, "calendar");
        errors.into_result()
    }

    /// Validates and prepares the calendar for computing with it.
    pub fn compile(&self) -> Result<CompiledCalendar, ValidationErrors> {
        self.validate()?;
        let weekly = match self {
            BusinessCalendar::AlwaysOpen => return Ok(CompiledCalendar(Inner::AlwaysOpen)),
            BusinessCalendar::Weekly(weekly) => weekly,
        };
        let tz: Tz = weekly
            .time_zone
            .parse()
            .map_err(|_| ValidationErrors::single("calendar.time_zone", "unknown time zone"))?;
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for window in &weekly.hours {
            if let (Some(start), Some(end)) = (
                parse_minutes(&window.start, false),
                parse_minutes(&window.end, true),
            ) {
                days[day_index(window.day)].push((start, end));
            }
        }
        for windows in &mut days {
            windows.sort_unstable();
        }
        Ok(CompiledCalendar(Inner::Weekly(Box::new(Weekly {
            tz,
            days,
            holidays: weekly.holidays.iter().copied().collect(),
        }))))
    }
}

/// A validated calendar, ready to measure business time.
#[derive(Debug, Clone)]
pub struct CompiledCalendar(Inner);

#[derive(Debug, Clone)]
enum Inner {
    AlwaysOpen,
    Weekly(Box<Weekly>),
}

#[derive(Debug, Clone)]
struct Weekly {
    tz: Tz,
    /// Sorted, non-overlapping `(start, end)` minutes after local midnight, Monday first.
    days: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl CompiledCalendar {
    /// The always-open calendar.
    pub fn always_open() -> Self {
        CompiledCalendar(Inner::AlwaysOpen)
    }

    /// Business time in `[from, to)`; zero when `to <= from`.
    pub fn business_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        let _ = self.for_each_interval(from, to, &mut |start, end| {
            total += end - start;
            ControlFlow::Continue(())
        });
        total
    }

    /// The earliest instant `t >= start` with `business_time(start, t) >= duration`:
    /// the deadline of a `duration` business-time target started at `start`.
    /// A zero or negative duration gives `start`. A target that ends exactly
    /// at closing time is due at closing time, not at the next opening.
    pub fn add_business_time(&self, start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        if duration <= Duration::zero() {
            return start;
        }
        if let Inner::AlwaysOpen = self.0 {
            return start
                .checked_add_signed(duration)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        let chunk = Duration::days(28);
        let mut left = duration;
        let mut from = start;
        let mut found = None;
        while from - start < Duration::days(SEARCH_HORIZON_DAYS) {
            let Some(to) = from.checked_add_signed(chunk) else {
                break;
            };
            let flow = self.for_each_interval(from, to, &mut |a, b| {
                let length = b - a;
                if length >= left {
                    found = Some(a + left);
                    return ControlFlow::Break(());
                }
                left -= length;
                ControlFlow::Continue(())
            });
            if flow.is_break() {
                break;
            }
            from = to;
        }
        found.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether the instant `at` is business time.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        !self
            .business_time(at, at + Duration::nanoseconds(1))
            .is_zero()
    }

    /// Calls `f` with the business intervals inside `[from, to)`, in order.
    /// Intervals do not overlap; neighbours may touch.
    fn for_each_interval(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        f: &mut dyn FnMut(DateTime<Utc>, DateTime<Utc>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if to <= from {
            return ControlFlow::Continue(());
        }
        let weekly = match &self.0 {
            Inner::AlwaysOpen => return f(from, to),
            Inner::Weekly(weekly) => weekly,
        };
        let mut a = from;
        while a < to {
            let offset = weekly.offset_seconds(a);
            let b = weekly.next_offset_change(a, to, offset);
            weekly.intervals_with_offset(a, b, offset, f)?;
            a = b;
        }
        ControlFlow::Continue(())
    }
}

impl Weekly {
    fn offset_seconds(&self, at: DateTime<Utc>) -> i64 {
        i64::from(
            self.tz
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }

    /// The first instant after `a` (and at most `to`) where the UTC offset is
    /// no longer `offset`, or `to`.
    fn next_offset_change(
        &self,
        a: DateTime<Utc>,
        to: DateTime<Utc>,
        offset: i64,
    ) -> DateTime<Utc> {
        let mut lo = a;
        loop {
            let hi = (lo + Duration::seconds(OFFSET_PROBE_SECONDS)).min(to);
            if self.offset_seconds(hi) != offset {
                // Transitions fall on whole seconds: search between the seconds.
                let mut lo_s = lo.timestamp();
                let mut hi_s = hi.timestamp();
                if hi_s <= lo_s {
                    return hi;
                }
                while hi_s - lo_s > 1 {
                    let mid = lo_s + (hi_s - lo_s) / 2;
                    match DateTime::from_timestamp(mid, 0) {
                        Some(at) if self.offset_seconds(at) == offset => lo_s = mid,
                        _ => hi_s = mid,
                    }
                }
                return DateTime::from_timestamp(hi_s, 0)
                    .filter(|&change| change > a)
                    .unwrap_or(hi);
            }
            if hi >= to {
                return to;
            }
            lo = hi;
        }
    }

    /// Business intervals in `[a, b)`, a stretch with one constant UTC offset.
    fn intervals_with_offset(
        &self,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
        offset: i64,
        f: &mut dyn FnMut(DateTime<Utc>, DateTime<Utc>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let shift = Duration::seconds(offset);
        let local_a = a.naive_utc() + shift;
        let local_b = b.naive_utc() + shift;
        let to_utc = |local: NaiveDateTime| Utc.from_utc_datetime(&(local - shift));
        let mut date = local_a.date();
        while date <= local_b.date() {
            if !self.holidays.contains(&date) {
                let midnight = date.and_time(chrono::NaiveTime::MIN);
                let windows = &self.days[date.weekday().num_days_from_monday() as usize];
                for &(start, end) in windows {
                    let open = (midnight + Duration::minutes(i64::from(start))).max(local_a);
                    let close = (midnight + Duration::minutes(i64::from(end))).min(local_b);
                    if open < close {
                        f(to_utc(open), to_utc(close))?;
                    }
                }
            }
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn weekly(
        time_zone: &str,
        hours: Vec<BusinessHours>,
        holidays: Vec<NaiveDate>,
    ) -> BusinessCalendar {
        BusinessCalendar::Weekly(WeeklyCalendar {
            time_zone: time_zone.into(),
            hours,
            holidays,
        })
    }

    fn office(time_zone: &str, start: &str, end: &str) -> BusinessCalendar {
        let days = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];
        weekly(
            time_zone,
            days.into_iter()
                .map(|day| BusinessHours::new(day, start, end))
                .collect(),
            vec![],
        )
    }

    fn every_day(time_zone: &str, start: &str, end: &str) -> CompiledCalendar {
        let days = [
            Day::Mon,
            Day::Tue,
            Day::Wed,
            Day::Thu,
            Day::Fri,
            Day::Sat,
            Day::Sun,
        ];
        weekly(
            time_zone,
            days.into_iter()
                .map(|day| BusinessHours::new(day, start, end))
                .collect(),
            vec![],
        )
        .compile()
        .expect("valid calendar")
    }

    fn berlin_office() -> CompiledCalendar {
        office("Europe/Berlin", "08:00", "17:00")
            .compile()
            .expect("valid calendar")
    }

    #[test]
    fn friday_afternoon_ticket_is_due_monday_morning() {
        let cal = berlin_office();
        // Friday 2026-11-20 16:00 Berlin (UTC+1) is 15:00 UTC.
        let created = utc(2026, 11, 20, 15, 0);
        let due = cal.add_business_time(created, Duration::hours(4));
        // Monday 2026-11-23 11:00 Berlin.
        assert_eq!(due, utc(2026, 11, 23, 10, 0));
        assert_eq!(cal.business_time(created, due), Duration::hours(4));
        // The weekend does not count.
        assert_eq!(
            cal.business_time(utc(2026, 11, 20, 16, 0), utc(2026, 11, 23, 7, 0)),
            Duration::zero()
        );
    }

    #[test]
    fn target_ending_at_closing_time_is_due_at_closing_time() {
        let cal = berlin_office();
        let due = cal.add_business_time(utc(2026, 11, 20, 15, 0), Duration::hours(1));
        assert_eq!(due, utc(2026, 11, 20, 16, 0)); // Friday 17:00, not Monday 08:00
        // Started outside hours, a target counts from the next opening.
        let due = cal.add_business_time(utc(2026, 11, 21, 9, 0), Duration::minutes(30));
        assert_eq!(due, utc(2026, 11, 23, 7, 30)); // Monday 08:30 Berlin
        // Zero is due at once.
        let start = utc(2026, 11, 21, 9, 0);
        assert_eq!(cal.add_business_time(start, Duration::zero()), start);
    }

    #[test]
    fn berlin_spring_forward_2026_03_29() {
        let cal = berlin_office();
        // Friday 2026-03-27 16:00 CET (UTC+1) = 15:00 UTC; Monday 2026-03-30 is CEST (UTC+2).
        let due = cal.add_business_time(utc(2026, 3, 27, 15, 0), Duration::hours(4));
        assert_eq!(due, utc(2026, 3, 30, 9, 0)); // Monday 11:00 CEST
        // A full business week across the change is still 5 × 9 h.
        assert_eq!(
            cal.business_time(utc(2026, 3, 23, 0, 0), utc(2026, 4, 6, 0, 0)),
            Duration::hours(90)
        );
        // Every day 00:00-24:00: the Sunday of the change has 23 hours.
        let cal = every_day("Europe/Berlin", "00:00", "24:00");
        assert_eq!(
            cal.business_time(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)),
            Duration::hours(23)
        );
        // A window 01:00-04:00 that day: the skipped hour 02:00-03:00 never happens.
        let cal = every_day("Europe/Berlin", "01:00", "04:00");
        assert_eq!(
            cal.business_time(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)),
            Duration::hours(2)
        );
        // A window wholly inside the gap is empty that day; 02:30 is 01:30 UTC the day before.
        let cal = every_day("Europe/Berlin", "02:10", "02:50");
        assert_eq!(
            cal.business_time(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)),
            Duration::zero()
        );
        assert_eq!(
            cal.add_business_time(utc(2026, 3, 28, 22, 0), Duration::minutes(20)),
            utc(2026, 3, 30, 0, 30) // Monday 02:30 CEST
        );
    }

    #[test]
    fn berlin_fall_back_2026_10_25() {
        let cal = berlin_office();
        // Friday 2026-10-23 16:00 CEST = 14:00 UTC; Monday 2026-10-26 is CET (UTC+1).
        let due = cal.add_business_time(utc(2026, 10, 23, 14, 0), Duration::hours(4));
        assert_eq!(due, utc(2026, 10, 26, 10, 0)); // Monday 11:00 CET
        // The Sunday of the change has 25 hours.
        let cal = every_day("Europe/Berlin", "00:00", "24:00");
        assert_eq!(
            cal.business_time(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0)),
            Duration::hours(25)
        );
        // 01:00-02:30: 01:00-02:30 CEST and again 02:00-02:30 CET.
        let cal = every_day("Europe/Berlin", "01:00", "02:30");
        assert_eq!(
            cal.business_time(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0)),
            Duration::hours(2)
        );
        assert!(cal.is_open(utc(2026, 10, 25, 0, 15))); // 02:15 CEST
        assert!(!cal.is_open(utc(2026, 10, 25, 0, 45))); // 02:45 CEST
        assert!(cal.is_open(utc(2026, 10, 25, 1, 15))); // 02:15 CET
        assert!(!cal.is_open(utc(2026, 10, 25, 1, 30))); // 02:30 CET
    }

    #[test]
    fn new_york_dst_2026() {
        let cal = office("America/New_York", "09:00", "17:00")
            .compile()
            .expect("valid calendar");
        // Friday 2026-03-06 16:00 EST (UTC-5) = 21:00 UTC; Monday 03-09 is EDT (UTC-4).
        let due = cal.add_business_time(utc(2026, 3, 6, 21, 0), Duration::hours(2));
        assert_eq!(due, utc(2026, 3, 9, 14, 0)); // Monday 10:00 EDT
        // Friday 2026-10-30 16:00 EDT = 20:00 UTC; Monday 11-02 is EST.
        let due = cal.add_business_time(utc(2026, 10, 30, 20, 0), Duration::hours(2));
        assert_eq!(due, utc(2026, 11, 2, 15, 0)); // Monday 10:00 EST
        // Weekend-inclusive calendars see the short and the long Sunday.
        let cal = every_day("America/New_York", "00:00", "24:00");
        assert_eq!(
            cal.business_time(utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)),
            Duration::hours(23)
        );
        assert_eq!(
            cal.business_time(utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)),
            Duration::hours(25)
        );
    }

    #[test]
    fn holidays_close_the_whole_local_day() {
        let mut calendar = office("Europe/Berlin", "08:00", "17:00");
        if let BusinessCalendar::Weekly(weekly) = &mut calendar {
            weekly.holidays = vec![date(2026, 12, 24), date(2026, 12, 25)];
        }
        let cal = calendar.compile().expect("valid calendar");
        // Wednesday 2026-12-23 16:00 CET + 4h: Thu and Fri are holidays, so Monday 28th 11:00.
        let due = cal.add_business_time(utc(2026, 12, 23, 15, 0), Duration::hours(4));
        assert_eq!(due, utc(2026, 12, 28, 10, 0));
        assert_eq!(
            cal.business_time(utc(2026, 12, 21, 0, 0), utc(2026, 12, 28, 0, 0)),
            Duration::hours(27)
        );
    }

    #[test]
    fn several_windows_a_day_and_24x7() {
        let cal = weekly(
            "UTC",
            vec![
                BusinessHours::new(Day::Mon, "13:00", "17:00"),
                BusinessHours::new(Day::Mon, "08:00", "12:00"),
            ],
            vec![],
        )
        .compile()
        .expect("valid calendar");
        // Monday 2026-11-23 11:00 + 2h skips lunch: 14:00.
        assert_eq!(
            cal.add_business_time(utc(2026, 11, 23, 11, 0), Duration::hours(2)),
            utc(2026, 11, 23, 14, 0)
        );
        assert_eq!(
            cal.business_time(utc(2026, 11, 23, 0, 0), utc(2026, 11, 24, 0, 0)),
            Duration::hours(8)
        );
        let always = BusinessCalendar::AlwaysOpen.compile().expect("valid");
        let start = utc(2026, 3, 29, 0, 0);
        assert_eq!(
            always.add_business_time(start, Duration::hours(30)),
            utc(2026, 3, 30, 6, 0)
        );
        assert_eq!(
            always.business_time(start, utc(2026, 3, 30, 6, 0)),
            Duration::hours(30)
        );
        assert!(CompiledCalendar::always_open().is_open(start));
    }

    #[test]
    fn sub_minute_instants_are_measured_exactly() {
        let cal = berlin_office();
        let start = utc(2026, 11, 23, 8, 0) + Duration::milliseconds(1500);
        assert_eq!(
            cal.business_time(start, utc(2026, 11, 23, 9, 0)),
            Duration::hours(1) - Duration::milliseconds(1500)
        );
        assert_eq!(
            cal.add_business_time(start, Duration::seconds(10)),
            start + Duration::seconds(10)
        );
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::json!({
            "kind": "weekly",
            "time_zone": "Europe/Berlin",
            "hours": [{"day": "mon", "start": "08:00", "end": "24:00"}],
            "holidays": ["2026-12-25"]
        });
        let calendar: BusinessCalendar = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&calendar).expect("serializes"), json);
        let always: BusinessCalendar =
            serde_json::from_value(serde_json::json!({"kind": "24x7"})).expect("parses");
        assert_eq!(always, BusinessCalendar::AlwaysOpen);
    }

    #[test]
    fn validation_names_each_bad_part() {
        let calendar = weekly(
            "Mars/Olympus",
            vec![
                BusinessHours::new(Day::Mon, "8:00", "17:00"),
                BusinessHours::new(Day::Mon, "09:00", "24:01"),
                BusinessHours::new(Day::Tue, "17:00", "08:00"),
                BusinessHours::new(Day::Wed, "08:00", "12:00"),
                BusinessHours::new(Day::Wed, "11:00", "13:00"),
                BusinessHours::new(Day::Thu, "24:00", "24:00"),
                BusinessHours::new(Day::Fri, "00:00", "24:00"),
            ],
            vec![],
        );
        let errors = calendar.validate().expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "calendar.time_zone",
                "calendar.hours[0].start",
                "calendar.hours[1].end",
                "calendar.hours[2].end",
                "calendar.hours[4]",
                "calendar.hours[5].start",
            ]
        );
        assert!(errors.to_string().contains("overlaps calendar.hours[3]"));
        let empty = weekly("UTC", vec![], vec![]);
        assert_eq!(
            empty.validate().expect_err("invalid").0[0].field,
            "calendar.hours"
        );
        assert!(office("UTC", "08:00", "17:00").validate().is_ok());
        assert!(BusinessCalendar::AlwaysOpen.validate().is_ok());
    }
}
