//! Shifts parsed once, for the hot path of a query.
//!
//! [`is_on_shift`](crate::domain::shifts::is_on_shift) parses the time zone
//! and every `HH:MM` on each call, about a microsecond for a week of shifts:
//! most of a query's time when it checks ten technicians. The index parses
//! them when a technician is upserted and checks the parsed form here, with
//! the same rules. The differential test holds the two to the same answers
//! (its brute force calls `is_on_shift`).

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::shifts::{Day, Shift};

#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// `None`: an unknown time zone, never on shift.
    time_zone: Option<Tz>,
    /// (day, start, end), local; unparseable shifts are left out.
    windows: Vec<(Weekday, NaiveTime, NaiveTime)>,
}

fn weekday(day: Day) -> Weekday {
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

/// `HH:MM` exactly, as the domain reads it.
fn clock(value: &str) -> Option<NaiveTime> {
    if value.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(value, "%H:%M").ok()
}

impl Schedule {
    pub(crate) fn new(shifts: &[Shift], time_zone: &str) -> Self {
        Self {
            time_zone: time_zone.parse().ok(),
            windows: shifts
                .iter()
                .filter_map(|shift| {
                    Some((weekday(shift.day), clock(&shift.start)?, clock(&shift.end)?))
                })
                .collect(),
        }
    }

    /// Whether `now` falls in one of the windows, read in the technician's
    /// zone. An end before the start runs past midnight; start == end is a
    /// 24-hour shift.
    pub(crate) fn is_on(&self, now: DateTime<Utc>) -> bool {
        let Some(tz) = self.time_zone else {
            return false;
        };
        if self.windows.is_empty() {
            return false;
        }
        let local = now.with_timezone(&tz);
        let today = local.weekday();
        let yesterday = today.pred();
        let time = local.time();
        self.windows.iter().any(|&(day, start, end)| {
            if start < end {
                day == today && start <= time && time < end
            } else {
                (day == today && time >= start) || (day == yesterday && time < end)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::shifts::is_on_shift;

    #[test]
    fn agrees_with_the_domain_rule_over_two_weeks() {
        let shift = |day, start: &str, end: &str| Shift {
            day,
            start: start.into(),
            end: end.into(),
            breaks: Vec::new(),
        };
        let cases: Vec<(Vec<Shift>, &str)> = vec![
            (vec![shift(Day::Mon, "08:00", "17:00")], "Europe/Berlin"),
            (vec![shift(Day::Fri, "22:00", "06:00")], "America/New_York"),
            (vec![shift(Day::Sun, "00:00", "00:00")], "Pacific/Auckland"),
            (
                vec![
                    shift(Day::Sat, "23:30", "00:30"),
                    shift(Day::Sun, "9:00", "10:00"),
                ],
                "Asia/Kolkata",
            ),
            (vec![shift(Day::Tue, "08:00", "17:00")], "Not/A_Zone"),
            (vec![], "UTC"),
        ];
        let start = Utc
            .with_ymd_and_hms(2026, 3, 20, 0, 0, 0)
            .single()
            .expect("valid time");
        for (shifts, zone) in &cases {
            let schedule = Schedule::new(shifts, zone);
            // Every 15 minutes across the March daylight-saving change.
            for step in 0..(14 * 24 * 4) {
                let now = start + Duration::minutes(15 * step);
                assert_eq!(
                    schedule.is_on(now),
                    is_on_shift(shifts, zone, now),
                    "{zone} {shifts:?} at {now}"
                );
            }
        }
    }
}
