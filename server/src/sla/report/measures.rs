//! The pure parts of the SLA report beyond attainment: first-time fix,
//! backlog age, on-site time and technician utilisation. Definitions are in
//! DECISIONS.md ("SLA report extras").

use chrono::{DateTime, Duration, Utc};
use truckroll_sync::Status;

use crate::{
    domain::{
        shifts::{Day, Shift},
        sla::{
            BusinessCalendar, BusinessHours, ClockPhase, CompiledCalendar, StatusEvent,
            TargetClock, TargetState, WeeklyCalendar,
        },
    },
    store::sla_report::{
        STATE_BREACHED, STATE_MET, STATE_MET_LATE, STATE_UNDECIDED, TargetOutcome,
    },
};

/// What the SQL report needs of one target's clock, evaluated at some `now`,
/// such that it gives the clock's verdict at any later `now` with the same
/// history and policy: met and met late are final; a running clock is
/// breached once its deadline is reached (the deadline of a running clock
/// does not depend on `now`); a paused or cancelled one keeps its state.
pub fn target_outcome(clock: Option<&TargetClock>) -> TargetOutcome {
    let Some(clock) = clock else {
        return TargetOutcome::default();
    };
    let seconds = Some(clock.elapsed.num_seconds());
    match clock.state {
        TargetState::Met => TargetOutcome {
            state: Some(STATE_MET),
            deadline_us: None,
            seconds,
        },
        TargetState::MetLate => TargetOutcome {
            state: Some(STATE_MET_LATE),
            deadline_us: None,
            seconds,
        },
        _ if clock.phase == ClockPhase::Running => TargetOutcome {
            state: Some(STATE_UNDECIDED),
            deadline_us: Some(ceil_micros(clock.deadline)),
            seconds: None,
        },
        TargetState::Breached => TargetOutcome {
            state: Some(STATE_BREACHED),
            deadline_us: None,
            seconds: None,
        },
        TargetState::Ok | TargetState::Warning { .. } => TargetOutcome {
            state: Some(STATE_UNDECIDED),
            deadline_us: None,
            seconds: None,
        },
    }
}

/// Microseconds since the epoch, rounded up: `ceil_micros(d) <= now` exactly
/// when `d <= now` for a `now` in whole microseconds.
pub fn ceil_micros(at: DateTime<Utc>) -> i64 {
    let micros = at.timestamp_micros();
    if at.timestamp_subsec_nanos().is_multiple_of(1000) {
        micros
    } else {
        micros + 1
    }
}

/// The instant rounded up to a whole microsecond.
pub fn ceil_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(ceil_micros(at)).unwrap_or(at)
}

/// The on-site stretches [`on_site_seconds`] adds up, unclipped, in
/// microseconds: each `on_site` entry to the next entry (`None`: to now).
pub fn on_site_stretches(history: &[StatusEvent]) -> Vec<(i64, Option<i64>)> {
    history
        .iter()
        .enumerate()
        .filter(|(_, e)| e.status == Status::OnSite)
        .map(|(i, e)| {
            (
                e.at.timestamp_micros(),
                history.get(i + 1).map(|next| next.at.timestamp_micros()),
            )
        })
        .collect()
}

/// The first instant after `now` at which the clock would see something new
/// (a future-dated event, or a creation in the future), in microseconds.
pub fn valid_until(
    created_at: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> Option<i64> {
    history
        .iter()
        .map(|e| e.at)
        .chain([created_at])
        .filter(|at| *at > now)
        .min()
        .map(|at| at.timestamp_micros())
}

/// Whether a closed ticket was fixed the first time: at most one arrival on
/// site (`on_site` entries in its history, check-ins and reworks alike) and
/// never reopened (no `new` after a `closed` or `cancelled`).
pub fn fixed_first_time(history: &[StatusEvent]) -> bool {
    let visits = history
        .iter()
        .filter(|e| e.status == Status::OnSite)
        .count();
    let mut ended = false;
    let mut reopened = false;
    for event in history {
        match event.status {
            Status::Closed | Status::Cancelled => ended = true,
            Status::New if ended => reopened = true,
            _ => {}
        }
    }
    visits <= 1 && !reopened
}

/// Backlog age bucket: 0 = under 1 day, 1 = 1–3 days, 2 = 3–7 days, 3 = 7 days or more.
pub fn age_bucket(age: Duration) -> usize {
    if age < Duration::days(1) {
        0
    } else if age < Duration::days(3) {
        1
    } else if age < Duration::days(7) {
        2
    } else {
        3
    }
}

/// Seconds the ticket spent `on_site` (from each `on_site` entry to the next
/// entry, or to `now`), clipped to `[from, to)`. `history` in sequence order.
pub fn on_site_seconds(
    history: &[StatusEvent],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> i64 {
    let mut total = Duration::zero();
    for (i, event) in history.iter().enumerate() {
        if event.status != Status::OnSite {
            continue;
        }
        let end = history.get(i + 1).map_or(now, |next| next.at);
        let start = event.at.max(from);
        let end = end.min(to).min(now);
        if end > start {
            total += end - start;
        }
    }
    total.num_seconds()
}

/// A technician's shifts as a weekly calendar, so shift time in a range is
/// measured like business time (DST included). `None` when the shifts cannot
/// be expressed (overlapping windows) or the zone is unknown.
pub fn shift_calendar(shifts: &[Shift], time_zone: &str) -> Option<CompiledCalendar> {
    let mut hours = Vec::new();
    for shift in shifts {
        let day = shift.day;
        if shift.start == shift.end {
            hours.push(BusinessHours::new(day, "00:00", "24:00"));
        } else if shift.end > shift.start {
            hours.push(BusinessHours::new(day, &shift.start, &shift.end));
        } else {
            // Past midnight: the rest of this day, then the next morning.
            hours.push(BusinessHours::new(day, &shift.start, "24:00"));
            if shift.end != "00:00" {
                hours.push(BusinessHours::new(next_day(day), "00:00", &shift.end));
            }
        }
    }
    BusinessCalendar::Weekly(WeeklyCalendar {
        time_zone: time_zone.to_owned(),
        hours,
        holidays: Vec::new(),
    })
    .compile()
    .ok()
}

fn next_day(day: Day) -> Day {
    match day {
        Day::Mon => Day::Tue,
        Day::Tue => Day::Wed,
        Day::Wed => Day::Thu,
        Day::Thu => Day::Fri,
        Day::Fri => Day::Sat,
        Day::Sat => Day::Sun,
        Day::Sun => Day::Mon,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, minute, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn first_time_fix_counts_visits_and_reopens() {
        use Status::*;
        let ok = [New, Assigned, Accepted, EnRoute, OnSite, WorkDone, Closed];
        let events = |statuses: &[Status]| -> Vec<StatusEvent> {
            statuses
                .iter()
                .enumerate()
                .map(|(i, s)| StatusEvent::new(at(8, i as u32), *s))
                .collect()
        };
        assert!(fixed_first_time(&events(&ok)));
        assert!(!fixed_first_time(&events(&[
            New, Assigned, Accepted, EnRoute, OnSite, WorkDone, OnSite, WorkDone, Closed
        ])));
        assert!(!fixed_first_time(&events(&[
            New, Assigned, Accepted, EnRoute, OnSite, WorkDone, Closed, New, Assigned, Closed
        ])));
        assert!(
            fixed_first_time(&events(&[New, Assigned, Accepted, Closed])),
            "no visit needed"
        );
    }

    #[test]
    fn on_site_time_is_clipped() {
        let history = [
            StatusEvent::new(at(8, 0), Status::New),
            StatusEvent::new(at(9, 0), Status::OnSite),
            StatusEvent::new(at(10, 0), Status::WorkDone),
        ];
        assert_eq!(
            on_site_seconds(&history, at(0, 0), at(23, 0), at(23, 0)),
            3600
        );
        assert_eq!(
            on_site_seconds(&history, at(9, 30), at(23, 0), at(23, 0)),
            1800
        );
        let open = [StatusEvent::new(at(9, 0), Status::OnSite)];
        assert_eq!(on_site_seconds(&open, at(0, 0), at(23, 0), at(9, 15)), 900);
    }

    #[test]
    fn shifts_become_a_calendar() {
        let shifts = [
            Shift {
                day: Day::Mon,
                start: "08:00".into(),
                end: "12:00".into(),
                breaks: Vec::new(),
            },
            Shift {
                day: Day::Tue,
                start: "22:00".into(),
                end: "02:00".into(),
                breaks: Vec::new(),
            },
        ];
        let calendar = shift_calendar(&shifts, "UTC").expect("calendar");
        // 2026-11-02 is a Monday.
        let monday = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .expect("time");
        assert_eq!(
            calendar.business_time(monday, monday + Duration::days(7)),
            Duration::hours(8)
        );
        assert_eq!(age_bucket(Duration::hours(23)), 0);
        assert_eq!(age_bucket(Duration::days(3)), 2);
        assert_eq!(age_bucket(Duration::days(9)), 3);
    }
}
