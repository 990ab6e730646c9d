//! Property tests: the calendar and the clock against a deliberately simple
//! minute-by-minute reference implementation.
//!
//! The reference walks UTC minutes and asks, for each one, "does the local
//! wall clock in the calendar's zone read a time inside an open window of a
//! non-holiday date, and is the target's clock running?". Everything is
//! minute-aligned (event times, windows, zone offsets), so the results must
//! agree exactly. Spans stay within three weeks (six for deadlines) so the
//! walk stays cheap.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use truckroll_sync::{HoldReason, Status};
use uuid::Uuid;

use super::calendar::{BusinessCalendar, BusinessHours, WeeklyCalendar};
use super::clock::{ClockPhase, SlaTarget, StatusEvent, TargetClock, TargetState, compute_clock};
use super::policy::{PauseMatcher, PolicyMatch, SlaPolicy, SlaTargets, default_pause_on};
use crate::domain::shifts::Day;

/// Zones with northern DST, southern DST, a 30-minute DST shift, and none.
const ZONES: [&str; 7] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
];

/// Days near the 2026 DST changes of those zones (plus one quiet day).
const ANCHORS: [(i32, u32, u32); 8] = [
    (2026, 3, 8),   // New York springs forward
    (2026, 3, 29),  // Berlin springs forward
    (2026, 4, 5),   // Sydney, Lord Howe, Santiago fall back
    (2026, 9, 6),   // Santiago springs forward
    (2026, 10, 4),  // Sydney, Lord Howe spring forward
    (2026, 10, 25), // Berlin falls back
    (2026, 11, 1),  // New York falls back
    (2026, 7, 15),  // nothing happens
];

const DAYS: [Day; 7] = [
    Day::Mon,
    Day::Tue,
    Day::Wed,
    Day::Thu,
    Day::Fri,
    Day::Sat,
    Day::Sun,
];

/// Longest span between creation and now, or between two calendar instants.
const SPAN_MINUTES: i64 = 21 * 24 * 60;
/// How far the reference looks for a deadline.
const HORIZON_MINUTES: i64 = 42 * 24 * 60;

// ---------------------------------------------------------------- reference

/// The reference's view of a calendar, read straight from the strings.
struct RefCalendar {
    zone: Option<Tz>,
    windows: [Vec<(u32, u32)>; 7],
    holidays: HashSet<NaiveDate>,
}

fn ref_minutes(value: &str) -> u32 {
    let (h, m) = value.split_once(':').expect("HH:MM");
    h.parse::<u32>().expect("hours") * 60 + m.parse::<u32>().expect("minutes")
}

impl RefCalendar {
    fn new(calendar: &BusinessCalendar) -> Self {
        let mut windows: [Vec<(u32, u32)>; 7] = Default::default();
        match calendar {
            BusinessCalendar::AlwaysOpen => Self {
                zone: None,
                windows,
                holidays: HashSet::new(),
            },
            BusinessCalendar::Weekly(weekly) => {
                for w in &weekly.hours {
                    let day = DAYS.iter().position(|&d| d == w.day).expect("a day");
                    windows[day].push((ref_minutes(&w.start), ref_minutes(&w.end)));
                }
                Self {
                    zone: Some(weekly.time_zone.parse().expect("zone")),
                    windows,
                    holidays: weekly.holidays.iter().copied().collect(),
                }
            }
        }
    }

    /// Is the minute starting at `at` business time?
    fn open(&self, at: DateTime<Utc>) -> bool {
        let Some(zone) = self.zone else {
            return true;
        };
        let local = at.with_timezone(&zone);
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        let minute = local.hour() * 60 + local.minute();
        self.windows[local.weekday().num_days_from_monday() as usize]
            .iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }

    /// `open` for each minute from `from`, `count` minutes.
    fn bitmap(&self, from: DateTime<Utc>, count: i64) -> Vec<bool> {
        (0..count)
            .map(|i| self.open(from + Duration::minutes(i)))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefPhase {
    Running,
    Paused,
    Met,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RefTarget {
    elapsed: i64,
    paused: i64,
    deadline: Option<DateTime<Utc>>,
    state: TargetState,
    met_at: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
}

fn ref_reached(target: SlaTarget, status: Status) -> bool {
    let order = |s: Status| match s {
        Status::Accepted => Some(2),
        Status::EnRoute => Some(3),
        Status::OnSite => Some(4),
        Status::WorkDone => Some(5),
        Status::Closed => Some(6),
        _ => None,
    };
    let needed = match target {
        SlaTarget::Response => 2,
        SlaTarget::Arrival => 4,
        SlaTarget::Resolution => 5,
    };
    order(status).is_some_and(|o| o >= needed)
}

/// Replays the history for one target; the phase after each event.
struct Replay<'a> {
    policy: &'a SlaPolicy,
    target: SlaTarget,
    met: bool,
    phase: RefPhase,
}

impl<'a> Replay<'a> {
    fn new(policy: &'a SlaPolicy, target: SlaTarget) -> Self {
        let mut replay = Self {
            policy,
            target,
            met: false,
            phase: RefPhase::Running,
        };
        replay.phase = replay.phase_for(Status::New, None);
        replay
    }

    fn phase_for(&self, status: Status, reason: Option<HoldReason>) -> RefPhase {
        if self.met {
            RefPhase::Met
        } else if status == Status::Cancelled {
            RefPhase::Cancelled
        } else if self
            .policy
            .pause_on
            .iter()
            .any(|m| m.status == status && (m.hold_reason.is_none() || m.hold_reason == reason))
        {
            RefPhase::Paused
        } else {
            RefPhase::Running
        }
    }

    fn apply(&mut self, event: &StatusEvent) {
        self.met = match self.target {
            SlaTarget::Resolution => {
                ref_reached(self.target, event.status)
                    || (self.met && event.status == Status::Cancelled)
            }
            _ => self.met || ref_reached(self.target, event.status),
        };
        self.phase = self.phase_for(event.status, event.hold_reason);
    }
}

fn ref_events(
    created: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> Vec<StatusEvent> {
    let mut indexed: Vec<(usize, StatusEvent)> = history.iter().copied().enumerate().collect();
    indexed.retain(|(_, e)| e.at <= now);
    indexed.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));
    indexed
        .into_iter()
        .map(|(_, mut e)| {
            if e.at < created {
                e.at = created;
            }
            e
        })
        .collect()
}

/// `open` is the bitmap from `created`, `HORIZON_MINUTES` long.
fn ref_target(
    open: &[bool],
    policy: &SlaPolicy,
    target: SlaTarget,
    budget_minutes: i64,
    created: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> RefTarget {
    let events = ref_events(created, history, now);
    // Where the clock stops for good: the start of the final met or cancelled phase.
    let mut replay = Replay::new(policy, target);
    let mut since = created;
    for e in &events {
        let before = replay.phase;
        replay.apply(e);
        if replay.phase != before {
            since = e.at;
        }
    }
    let final_phase = replay.phase;
    let end = match final_phase {
        RefPhase::Met | RefPhase::Cancelled => since,
        _ => now,
    };
    let end_index = (end - created).num_minutes();

    // Minute by minute: the phase during each minute before `end`.
    let mut replay = Replay::new(policy, target);
    let mut next = 0;
    let mut running = Vec::new();
    for i in 0..end_index {
        let minute = created + Duration::minutes(i);
        while next < events.len() && events[next].at <= minute {
            replay.apply(&events[next]);
            next += 1;
        }
        running.push(replay.phase == RefPhase::Running);
    }
    let elapsed = (0..end_index as usize)
        .filter(|&i| open[i] && running[i])
        .count() as i64;
    let paused = (0..end_index as usize)
        .filter(|&i| open[i] && !running[i])
        .count() as i64;

    // Deadline: the first minute boundary at which the counted minutes reach the budget.
    let mut counted = 0;
    let mut deadline = None;
    for i in 0..=HORIZON_MINUTES as usize {
        if counted >= budget_minutes {
            deadline = Some(created + Duration::minutes(i as i64));
            break;
        }
        if i == HORIZON_MINUTES as usize {
            break;
        }
        let counts = open[i] && (i as i64 >= end_index || running[i]);
        counted += i64::from(counts);
    }

    let thresholds = policy.thresholds();
    let state = match (final_phase, deadline) {
        (RefPhase::Met, Some(d)) if end <= d => TargetState::Met,
        (RefPhase::Met, _) => TargetState::MetLate,
        (_, Some(d)) if end >= d => TargetState::Breached,
        _ => thresholds
            .iter()
            .rev()
            .find(|&&t| elapsed * 100 >= i64::from(t) * budget_minutes)
            .map_or(TargetState::Ok, |&threshold| TargetState::Warning {
                threshold,
            }),
    };
    RefTarget {
        elapsed,
        paused,
        deadline,
        state,
        met_at: (final_phase == RefPhase::Met).then_some(end),
        stopped_at: matches!(final_phase, RefPhase::Met | RefPhase::Cancelled).then_some(end),
    }
}

// --------------------------------------------------------------- strategies

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn cut_point() -> impl Strategy<Value = u32> {
    prop_oneof![
        // Around typical DST change times and office hours.
        prop::sample::select(vec![
            0u32, 60, 90, 120, 150, 180, 210, 480, 1020, 1380, 1440
        ]),
        0u32..=1440,
    ]
}

/// Zero to two non-overlapping windows for one day.
fn day_windows() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec(cut_point(), 0..=4).prop_map(|mut cuts| {
        cuts.sort_unstable();
        cuts.dedup();
        cuts.chunks_exact(2).map(|c| (c[0], c[1])).collect()
    })
}

fn anchor() -> impl Strategy<Value = DateTime<Utc>> {
    (
        prop::sample::select(ANCHORS.to_vec()),
        -10 * 24 * 60i64..=3 * 24 * 60,
    )
        .prop_map(|((y, m, d), minutes)| {
            Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
                .single()
                .expect("valid")
                + Duration::minutes(minutes)
        })
}

/// A calendar, holidays chosen near `base`.
fn calendar(base: DateTime<Utc>) -> impl Strategy<Value = BusinessCalendar> {
    let weekly = (
        prop::sample::select(ZONES.to_vec()),
        prop::collection::vec(day_windows(), 7),
        prop::collection::vec(-2i64..42, 0..=3),
    )
        .prop_map(move |(zone, days, holidays)| {
            let mut hours: Vec<BusinessHours> = days
                .iter()
                .zip(DAYS)
                .flat_map(|(windows, day)| {
                    windows
                        .iter()
                        .map(move |&(s, e)| BusinessHours::new(day, &hhmm(s), &hhmm(e)))
                })
                .collect();
            if hours.is_empty() {
                hours.push(BusinessHours::new(Day::Mon, "09:00", "17:00"));
            }
            BusinessCalendar::Weekly(WeeklyCalendar {
                time_zone: zone.into(),
                hours,
                holidays: holidays
                    .into_iter()
                    .map(|d| (base + Duration::days(d)).date_naive())
                    .collect(),
            })
        });
    prop_oneof![1 => Just(BusinessCalendar::AlwaysOpen), 7 => weekly]
}

fn status_event(created: DateTime<Utc>) -> impl Strategy<Value = StatusEvent> {
    (
        // Sometimes on the hour within two days, so same-time events happen.
        prop_oneof![2 => -120i64..=SPAN_MINUTES, 1 => (0i64..24).prop_map(|h| h * 60)],
        // Extra cancellations and reopens (to new), which random statuses rarely leave standing.
        prop_oneof![
            6 => prop::sample::select(Status::ALL.to_vec()),
            1 => Just(Status::Cancelled),
            1 => Just(Status::New),
        ],
        0usize..3,
        // Bias towards holds so pauses happen often.
        prop::bool::weighted(0.3),
    )
        .prop_map(move |(minutes, status, reason, hold)| {
            let status = if hold { Status::OnHold } else { status };
            let hold_reason = if status == Status::OnHold {
                [
                    None,
                    Some(HoldReason::WaitingCustomer),
                    Some(HoldReason::WaitingParts),
                ][reason]
            } else {
                None
            };
            StatusEvent {
                at: created + Duration::minutes(minutes),
                status,
                hold_reason,
            }
        })
}

fn target_minutes() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![1 => Just(None), 4 => (1u32..=3000).prop_map(Some)]
}

fn pause_on() -> impl Strategy<Value = Vec<PauseMatcher>> {
    prop_oneof![
        3 => Just(default_pause_on()),
        1 => Just(vec![PauseMatcher { status: Status::OnHold, hold_reason: None }]),
        1 => Just({
            let mut m = default_pause_on();
            m.push(PauseMatcher { status: Status::Assigned, hold_reason: None });
            m
        }),
    ]
}

fn policy(calendar: BusinessCalendar) -> impl Strategy<Value = SlaPolicy> {
    (
        target_minutes(),
        target_minutes(),
        target_minutes(),
        pause_on(),
        prop_oneof![Just(vec![75u8, 90]), prop::collection::vec(1u8..=99, 0..=3)],
    )
        .prop_map(
            move |(response, arrival, resolution, pause_on, warning_thresholds)| SlaPolicy {
                id: Uuid::from_u128(7),
                name: "generated".into(),
                matches: PolicyMatch::default(),
                targets: SlaTargets {
                    response_minutes: response,
                    arrival_minutes: arrival,
                    resolution_minutes: resolution,
                },
                calendar: calendar.clone(),
                pause_on,
                warning_thresholds,
                escalation: Default::default(),
                archived_at: None,
            },
        )
}

/// A ticket: creation, history and now, under a generated policy.
#[derive(Debug, Clone)]
struct Case {
    policy: SlaPolicy,
    created: DateTime<Utc>,
    history: Vec<StatusEvent>,
    now: DateTime<Utc>,
}

fn case() -> impl Strategy<Value = Case> {
    anchor()
        .prop_flat_map(|created| (Just(created), calendar(created)))
        .prop_flat_map(|(created, calendar)| {
            (
                Just(created),
                policy(calendar),
                prop::collection::vec(status_event(created), 0..=12),
                0..=SPAN_MINUTES,
            )
        })
        .prop_map(|(created, policy, history, now)| Case {
            policy,
            created,
            history,
            now: created + Duration::minutes(now),
        })
}

fn compare(case: &Case, open: &[bool], clock: &TargetClock) -> Result<(), TestCaseError> {
    let budget = clock.budget.num_minutes();
    let r = ref_target(
        open,
        &case.policy,
        clock.target,
        budget,
        case.created,
        &case.history,
        case.now,
    );
    let target = clock.target.as_str();
    prop_assert_eq!(
        clock.elapsed,
        Duration::minutes(r.elapsed),
        "{} elapsed",
        target
    );
    prop_assert_eq!(
        clock.paused,
        Duration::minutes(r.paused),
        "{} paused",
        target
    );
    prop_assert_eq!(
        clock.remaining,
        Duration::minutes(budget - r.elapsed),
        "{} remaining",
        target
    );
    match r.deadline {
        Some(deadline) => prop_assert_eq!(clock.deadline, deadline, "{} deadline", target),
        None => prop_assert!(
            clock.deadline >= case.created + Duration::minutes(HORIZON_MINUTES),
            "{} deadline {} but the reference found none within its horizon",
            target,
            clock.deadline
        ),
    }
    if r.deadline.is_some() {
        prop_assert_eq!(clock.state, r.state, "{} state", target);
    }
    prop_assert_eq!(clock.met_at, r.met_at, "{} met_at", target);
    prop_assert_eq!(clock.stopped_at, r.stopped_at, "{} stopped_at", target);
    let expected_phase = match (r.met_at, r.stopped_at) {
        (Some(_), _) => Some(ClockPhase::Met),
        (None, Some(_)) => Some(ClockPhase::Cancelled),
        _ => None,
    };
    if let Some(phase) = expected_phase {
        prop_assert_eq!(clock.phase, phase, "{} phase", target);
    }
    // Warnings: reached within the minute before the reference's boundary.
    for w in &clock.warnings {
        let part = (budget * i64::from(w.threshold) + 99) / 100;
        let r = ref_target(
            open,
            &case.policy,
            clock.target,
            part,
            case.created,
            &case.history,
            case.now,
        );
        if let Some(at) = r.deadline {
            prop_assert!(
                w.at <= at && w.at > at - Duration::minutes(1),
                "{} warning {} at {} but reference {}",
                target,
                w.threshold,
                w.at,
                at
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------------- tests

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Business time between two instants matches counting open minutes.
    #[test]
    fn business_time_matches_minute_walk(
        (base, calendar) in anchor().prop_flat_map(|base| (Just(base), calendar(base))),
        a in 0..=SPAN_MINUTES,
        b in 0..=SPAN_MINUTES,
    ) {
        let compiled = calendar.compile().expect("generated calendars are valid");
        let reference = RefCalendar::new(&calendar);
        let (from, to) = (base + Duration::minutes(a.min(b)), base + Duration::minutes(a.max(b)));
        let open = reference.bitmap(from, (to - from).num_minutes());
        let expected = open.iter().filter(|&&o| o).count() as i64;
        prop_assert_eq!(compiled.business_time(from, to), Duration::minutes(expected));
        prop_assert_eq!(compiled.business_time(to, from), Duration::zero());
    }

    /// The deadline is the first minute at which the open minutes reach the target.
    #[test]
    fn add_business_time_matches_minute_walk(
        (base, calendar) in anchor().prop_flat_map(|base| (Just(base), calendar(base))),
        start in 0..=SPAN_MINUTES,
        minutes in 1i64..=3000,
    ) {
        let compiled = calendar.compile().expect("generated calendars are valid");
        let reference = RefCalendar::new(&calendar);
        let start = base + Duration::minutes(start);
        let open = reference.bitmap(start, HORIZON_MINUTES);
        let mut counted = 0;
        let expected = open.iter().position(|&o| {
            counted += i64::from(o);
            counted >= minutes
        });
        let due = compiled.add_business_time(start, Duration::minutes(minutes));
        match expected {
            Some(i) => prop_assert_eq!(due, start + Duration::minutes(i as i64 + 1)),
            None => prop_assert!(due >= start + Duration::minutes(HORIZON_MINUTES)),
        }
        prop_assert!(compiled.business_time(start, due) == Duration::minutes(minutes)
            || expected.is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Elapsed, paused, remaining, deadline, state, met/stop times and warnings
    /// agree with the minute-by-minute reference, for every tracked target.
    #[test]
    fn clock_matches_minute_walk(case in case()) {
        let clock = compute_clock(&case.policy, case.created, &case.history, case.now)
            .expect("generated policies are valid");
        let open = RefCalendar::new(&case.policy.calendar).bitmap(case.created, HORIZON_MINUTES);
        for target in clock.targets() {
            compare(&case, &open, target)?;
        }
        prop_assert_eq!(clock.targets().count(), SlaTarget::ALL.iter()
            .filter(|t| t.duration_in(&case.policy).is_some()).count());
    }

    /// Events that arrive late and out of order give the same clock.
    #[test]
    fn shuffled_history_gives_the_same_clock(
        (case, order) in case().prop_flat_map(|mut case| {
            // Distinct times: only the order of same-time events is positional.
            case.history.sort_by_key(|e| e.at);
            case.history.dedup_by_key(|e| e.at);
            let n = case.history.len();
            (Just(case), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let shuffled: Vec<StatusEvent> = order.iter().map(|&i| case.history[i]).collect();
        let a = compute_clock(&case.policy, case.created, &case.history, case.now).expect("valid");
        let b = compute_clock(&case.policy, case.created, &shuffled, case.now).expect("valid");
        prop_assert_eq!(a, b);
    }

    /// Another policy over the same history (same calendar and pauses)
    /// counts the same elapsed and paused time: nothing is lost by a
    /// priority or policy change. Elapsed + paused is all business time up
    /// to where the clock stopped.
    #[test]
    fn policy_change_keeps_elapsed_and_paused(
        case in case(),
        response in 1u32..=3000,
        arrival in 1u32..=3000,
        resolution in 1u32..=3000,
    ) {
        let mut other = case.policy.clone();
        other.id = Uuid::from_u128(8);
        other.targets = SlaTargets {
            response_minutes: Some(response),
            arrival_minutes: Some(arrival),
            resolution_minutes: Some(resolution),
        };
        other.warning_thresholds = vec![50];
        let a = compute_clock(&case.policy, case.created, &case.history, case.now).expect("valid");
        let b = compute_clock(&other, case.created, &case.history, case.now).expect("valid");
        let calendar = case.policy.calendar.compile().expect("valid");
        for new in b.targets() {
            let end = new.stopped_at.unwrap_or(b.now);
            prop_assert_eq!(new.elapsed + new.paused, calendar.business_time(case.created, end));
            if let Some(old) = a.target(new.target) {
                prop_assert_eq!(old.elapsed, new.elapsed);
                prop_assert_eq!(old.paused, new.paused);
                prop_assert_eq!(old.phase, new.phase);
                prop_assert_eq!(old.met_at, new.met_at);
                prop_assert_eq!(old.stopped_at, new.stopped_at);
            }
        }
    }
}
