//! Weekly shifts, written in the technician's own time zone.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// One working window. `end` before `start` means the shift runs past midnight
/// into the next day; `start == end` is a 24-hour shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    pub day: Day,
    /// Local start time, `HH:MM`.
    #[schema(example = "08:00")]
    pub start: String,
    /// Local end time, `HH:MM`.
    #[schema(example = "17:00")]
    pub end: String,
    /// Breaks inside the shift (at most two); day plans and slots keep them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<ShiftBreak>,
}

/// A break of `minutes`, begun no earlier than `after` and over by
/// `before` (local times inside the shift). The technician takes it where
/// they are, between jobs or on arriving at the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftBreak {
    #[schema(example = "12:00")]
    pub after: String,
    #[schema(example = "14:00")]
    pub before: String,
    #[schema(example = 30, minimum = 5, maximum = 240)]
    pub minutes: u32,
}

/// A shift's local times as minutes after its start (`end` past midnight
/// counts on), for the checks of its breaks.
fn minutes_into(start: NaiveTime, time: NaiveTime) -> i64 {
    let minutes = (time - start).num_minutes();
    if minutes < 0 {
        minutes + 24 * 60
    } else {
        minutes
    }
}

fn parse_clock(value: &str) -> Option<NaiveTime> {
    if value.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(value, "%H:%M").ok()
}

pub fn validate_time_zone(errors: &mut ValidationErrors, field: &str, time_zone: &str) {
    if time_zone.parse::<Tz>().is_err() {
        errors.add(
            field,
            "must be an IANA time zone such as Europe/Berlin or America/New_York",
        );
    }
}

pub fn validate_shifts(errors: &mut ValidationErrors, field: &str, shifts: &[Shift]) {
    for (i, shift) in shifts.iter().enumerate() {
        if parse_clock(&shift.start).is_none() {
            errors.add(format!("{field}[{i}].start"), "must be a local time HH:MM");
        }
        if parse_clock(&shift.end).is_none() {
            errors.add(format!("{field}[{i}].end"), "must be a local time HH:MM");
        }
        if shift.breaks.len() > 2 {
            errors.add(format!("{field}[{i}].breaks"), "at most two breaks a shift");
        }
        for (b, brk) in shift.breaks.iter().enumerate() {
            let at = format!("{field}[{i}].breaks[{b}]");
            let (Some(start), Some(end), Some(after), Some(before)) = (
                parse_clock(&shift.start),
                parse_clock(&shift.end),
                parse_clock(&brk.after),
                parse_clock(&brk.before),
            ) else {
                errors.add(at, "after and before must be local times HH:MM");
                continue;
            };
            if !(5..=240).contains(&brk.minutes) {
                errors.add(format!("{at}.minutes"), "must be between 5 and 240");
            }
            let length = match minutes_into(start, end) {
                0 => 24 * 60,
                n => n,
            };
            let (from, to) = (minutes_into(start, after), minutes_into(start, before));
            if to > length || from >= to {
                errors.add(at.clone(), "must lie inside the shift, after before before");
            } else if to - from < i64::from(brk.minutes) {
                errors.add(format!("{at}.minutes"), "must fit between after and before");
            }
        }
    }
    if shifts.len() > 50 {
        errors.add(field, "must list at most 50 shifts");
    }
}

/// Whether `now` falls inside one of the shifts, read in `time_zone`.
/// Unparseable parts (never stored: input is validated) count as off shift.
pub fn is_on_shift(shifts: &[Shift], time_zone: &str, now: DateTime<Utc>) -> bool {
    let Ok(tz) = time_zone.parse::<Tz>() else {
        return false;
    };
    let local = now.with_timezone(&tz);
    let today = local.weekday();
    let yesterday = today.pred();
    let time = local.time();
    shifts.iter().any(|shift| {
        let (Some(start), Some(end)) = (parse_clock(&shift.start), parse_clock(&shift.end)) else {
            return false;
        };
        let day = shift.day.weekday();
        if start < end {
            day == today && start <= time && time < end
        } else {
            // Overnight (or 24-hour) shift: the part after start today, the part before end tomorrow.
            (day == today && time >= start) || (day == yesterday && time < end)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shift(day: Day, start: &str, end: &str) -> Shift {
        Shift {
            day,
            start: start.into(),
            end: end.into(),
            breaks: Vec::new(),
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn day_shift_in_the_technicians_zone() {
        let shifts = [shift(Day::Mon, "08:00", "17:00")];
        // Monday 2026-11-23 07:30 UTC is 08:30 in Berlin (UTC+1 in winter).
        assert!(is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 11, 23, 7, 30)
        ));
        assert!(!is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 11, 23, 6, 30)
        ));
        // 16:00 UTC is 17:00 local: the end is exclusive.
        assert!(!is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 11, 23, 16, 0)
        ));
        // The same instant in New York is still Monday 02:30: off shift.
        assert!(!is_on_shift(
            &shifts,
            "America/New_York",
            utc(2026, 11, 23, 7, 30)
        ));
    }

    #[test]
    fn overnight_shift_crosses_midnight() {
        let shifts = [shift(Day::Fri, "22:00", "06:00")];
        assert!(is_on_shift(&shifts, "UTC", utc(2026, 11, 27, 23, 0))); // Friday night
        assert!(is_on_shift(&shifts, "UTC", utc(2026, 11, 28, 5, 59))); // Saturday morning
        assert!(!is_on_shift(&shifts, "UTC", utc(2026, 11, 28, 6, 0)));
        assert!(!is_on_shift(&shifts, "UTC", utc(2026, 11, 27, 5, 0))); // Friday morning
    }

    #[test]
    fn follows_daylight_saving_changes() {
        let shifts = [
            shift(Day::Sun, "08:00", "12:00"),
            shift(Day::Mon, "08:00", "12:00"),
        ];
        // Berlin switches to summer time on 2026-03-29 (Sunday): 08:00 local is 06:00 UTC.
        assert!(is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 3, 29, 6, 0)
        ));
        assert!(!is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 3, 29, 5, 30)
        ));
        // The Sunday before, 08:00 local was 07:00 UTC.
        assert!(!is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 3, 22, 6, 30)
        ));
        assert!(is_on_shift(
            &shifts,
            "Europe/Berlin",
            utc(2026, 3, 22, 7, 0)
        ));
    }

    #[test]
    fn validation_names_the_bad_part() {
        let mut errors = ValidationErrors::new();
        validate_shifts(&mut errors, "shifts", &[shift(Day::Mon, "8:00", "25:00")]);
        validate_time_zone(&mut errors, "time_zone", "Mars/Olympus");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["shifts[0].start", "shifts[0].end", "time_zone"]);
    }
}
