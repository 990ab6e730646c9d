//! The SLA clock: a pure function of (created_at, status history, policy, now).
//!
//! See the module documentation of [`crate::domain::sla`] for the rules.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use truckroll_sync::{HoldReason, Status};
use utoipa::ToSchema;
use uuid::Uuid;

use super::calendar::CompiledCalendar;
use super::policy::SlaPolicy;
use crate::domain::ValidationErrors;
pub use crate::domain::approvals::PauseSpan;

/// One entry of a ticket's status history: the status it moved to, and when
/// (the event's own time — device time for field events — not sync time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    pub at: DateTime<Utc>,
    #[schema(value_type = String, example = "on_hold")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "waiting_parts")]
    pub hold_reason: Option<HoldReason>,
}

impl StatusEvent {
    pub fn new(at: DateTime<Utc>, status: Status) -> Self {
        Self {
            at,
            status,
            hold_reason: None,
        }
    }

    pub fn hold(at: DateTime<Utc>, reason: HoldReason) -> Self {
        Self {
            at,
            status: Status::OnHold,
            hold_reason: Some(reason),
        }
    }
}

/// The three things an SLA promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// Until the assignee accepts.
    Response,
    /// Until the technician is on site.
    Arrival,
    /// Until the work is done.
    Resolution,
}

impl SlaTarget {
    pub const ALL: [SlaTarget; 3] = [
        SlaTarget::Response,
        SlaTarget::Arrival,
        SlaTarget::Resolution,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SlaTarget::Response => "response",
            SlaTarget::Arrival => "arrival",
            SlaTarget::Resolution => "resolution",
        }
    }

    /// Whether reaching `status` satisfies this target: its own status or
    /// any later one in the forward flow. `new`, `assigned`, `on_hold` and
    /// `cancelled` satisfy nothing.
    pub const fn reached_by(self, status: Status) -> bool {
        use Status::*;
        match self {
            SlaTarget::Response => {
                matches!(status, Accepted | EnRoute | OnSite | WorkDone | Closed)
            }
            SlaTarget::Arrival => matches!(status, OnSite | WorkDone | Closed),
            SlaTarget::Resolution => matches!(status, WorkDone | Closed),
        }
    }

    /// The target's duration in `policy`, if it sets one.
    pub fn duration_in(self, policy: &SlaPolicy) -> Option<Duration> {
        let minutes = match self {
            SlaTarget::Response => policy.targets.response_minutes,
            SlaTarget::Arrival => policy.targets.arrival_minutes,
            SlaTarget::Resolution => policy.targets.resolution_minutes,
        }?;
        Some(Duration::minutes(i64::from(minutes)))
    }

    /// Whether the target is met after moving to `status`, given whether it
    /// was met before. Response and arrival stay met once met. Resolution is
    /// met while the ticket is work_done or closed, stays met if it is then
    /// cancelled, and is re-opened by any other status (rework, reopen).
    fn met_after(self, was_met: bool, status: Status) -> bool {
        match self {
            SlaTarget::Response | SlaTarget::Arrival => was_met || self.reached_by(status),
            SlaTarget::Resolution => {
                self.reached_by(status) || (was_met && status == Status::Cancelled)
            }
        }
    }
}

/// What a target's clock is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockPhase {
    /// Counting business time.
    Running,
    /// Stopped by a pause status of the policy (e.g. waiting for the customer).
    Paused,
    /// The target was reached; the clock stopped at `met_at`.
    Met,
    /// The ticket was cancelled before the target was reached; the clock
    /// stopped at `stopped_at`.
    Cancelled,
}

/// How a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetState {
    /// Not reached, below every warning threshold.
    Ok,
    /// Not reached; `threshold` is the highest warning percentage used up.
    Warning { threshold: u8 },
    /// Not reached by the deadline.
    Breached,
    /// Reached by the deadline.
    Met,
    /// Reached after the deadline.
    MetLate,
}

/// When a warning threshold is (or was, or would be) crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarningAt {
    pub threshold: u8,
    pub at: DateTime<Utc>,
}

/// The clock of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetClock {
    pub target: SlaTarget,
    /// The business-time budget of the target.
    #[serde(rename = "target_seconds", with = "seconds")]
    #[schema(value_type = i64)]
    pub budget: Duration,
    /// When the clock started: the ticket's creation.
    pub started_at: DateTime<Utc>,
    /// Start + budget in business time, pushed out by every stretch the clock
    /// did not run. While running or paused it assumes the clock runs from now on.
    pub deadline: DateTime<Utc>,
    /// Business time counted, up to `stopped_at` or now.
    #[serde(rename = "elapsed_seconds", with = "seconds")]
    #[schema(value_type = i64)]
    pub elapsed: Duration,
    /// Business time during which the clock did not run (pauses, and time
    /// between a cancellation or completion and a reopen), up to `stopped_at` or now.
    #[serde(rename = "paused_seconds", with = "seconds")]
    #[schema(value_type = i64)]
    pub paused: Duration,
    /// Budget minus elapsed; negative once overrun.
    #[serde(rename = "remaining_seconds", with = "seconds")]
    #[schema(value_type = i64)]
    pub remaining: Duration,
    /// Elapsed ÷ budget (1.0 = the whole budget).
    pub fraction_used: f64,
    pub phase: ClockPhase,
    /// When the target was reached (the latest time, for a re-opened resolution).
    pub met_at: Option<DateTime<Utc>>,
    /// When the clock stopped for good: `met_at`, or the cancellation.
    pub stopped_at: Option<DateTime<Utc>>,
    pub state: TargetState,
    /// The instants at which each warning threshold is crossed, ascending.
    pub warnings: Vec<WarningAt>,
}

/// The SLA clocks of one ticket under one policy, as of `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaClock {
    pub policy_id: Uuid,
    pub now: DateTime<Utc>,
    pub response: Option<TargetClock>,
    pub arrival: Option<TargetClock>,
    pub resolution: Option<TargetClock>,
}

impl SlaClock {
    pub fn target(&self, target: SlaTarget) -> Option<&TargetClock> {
        match target {
            SlaTarget::Response => self.response.as_ref(),
            SlaTarget::Arrival => self.arrival.as_ref(),
            SlaTarget::Resolution => self.resolution.as_ref(),
        }
    }

    /// The targets the policy tracks, in order response, arrival, resolution.
    pub fn targets(&self) -> impl Iterator<Item = &TargetClock> {
        [&self.response, &self.arrival, &self.resolution]
            .into_iter()
            .flatten()
    }
}

/// Computes the clocks of a ticket created at `created_at` with status
/// `history` (any order) under `policy`, as of `now`. Fails only when the
/// policy's calendar is invalid.
pub fn compute_clock(
    policy: &SlaPolicy,
    created_at: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> Result<SlaClock, ValidationErrors> {
    let calendar = policy.calendar.compile()?;
    Ok(compute_clock_with(
        &calendar, policy, created_at, history, now,
    ))
}

/// [`compute_clock`] with the policy's calendar compiled ahead (for callers
/// that evaluate many tickets). `calendar` must be `policy.calendar` compiled.
pub fn compute_clock_with(
    calendar: &CompiledCalendar,
    policy: &SlaPolicy,
    created_at: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> SlaClock {
    compute_clock_paused(calendar, policy, created_at, history, &[], now)
}

/// [`compute_clock_with`] with extra stretches during which the clocks
/// stand still whatever the status (approval requests whose policy pauses
/// the SLA, issue 21); an open span runs to `now`.
pub fn compute_clock_paused(
    calendar: &CompiledCalendar,
    policy: &SlaPolicy,
    created_at: DateTime<Utc>,
    history: &[StatusEvent],
    pauses: &[PauseSpan],
    now: DateTime<Utc>,
) -> SlaClock {
    let now = now.max(created_at);
    let events = prepare(created_at, history, now);
    let thresholds = policy.thresholds();
    let measure = |target: SlaTarget| {
        let budget = target.duration_in(policy)?;
        Some(measure_target(
            calendar,
            policy,
            &thresholds,
            target,
            budget,
            created_at,
            &events,
            pauses,
            now,
        ))
    };
    SlaClock {
        policy_id: policy.id,
        now,
        response: measure(SlaTarget::Response),
        arrival: measure(SlaTarget::Arrival),
        resolution: measure(SlaTarget::Resolution),
    }
}

/// Sorted by time (ties by position in `history`), without events after
/// `now`, with events before creation moved to the creation time.
fn prepare(
    created_at: DateTime<Utc>,
    history: &[StatusEvent],
    now: DateTime<Utc>,
) -> Vec<StatusEvent> {
    let mut events: Vec<(usize, StatusEvent)> = history
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, e)| e.at <= now)
        .collect();
    events.sort_by_key(|&(i, e)| (e.at, i));
    events
        .into_iter()
        .map(|(_, e)| StatusEvent {
            at: e.at.max(created_at),
            ..e
        })
        .collect()
}

/// A stretch of time with one phase.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    running: bool,
}

/// The running stretches with the pause spans cut out (as stopped stretches).
fn carve(stretches: Vec<Stretch>, pauses: &[PauseSpan], now: DateTime<Utc>) -> Vec<Stretch> {
    if pauses.is_empty() {
        return stretches;
    }
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = pauses
        .iter()
        .map(|p| (p.from, p.to.unwrap_or(now).max(p.from)))
        .filter(|(from, to)| from < to)
        .collect();
    spans.sort();
    let mut out = Vec::with_capacity(stretches.len());
    for s in stretches {
        if !s.running {
            out.push(s);
            continue;
        }
        let mut cursor = s.from;
        for &(from, to) in &spans {
            let (from, to) = (from.max(cursor), to.min(s.to));
            if from >= to {
                continue;
            }
            if from > cursor {
                out.push(Stretch {
                    from: cursor,
                    to: from,
                    running: true,
                });
            }
            out.push(Stretch {
                from,
                to,
                running: false,
            });
            cursor = to;
        }
        if cursor < s.to {
            out.push(Stretch {
                from: cursor,
                to: s.to,
                running: true,
            });
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn measure_target(
    calendar: &CompiledCalendar,
    policy: &SlaPolicy,
    thresholds: &[u8],
    target: SlaTarget,
    budget: Duration,
    created_at: DateTime<Utc>,
    events: &[StatusEvent],
    pauses: &[PauseSpan],
    now: DateTime<Utc>,
) -> TargetClock {
    let phase_of = |met: bool, status: Status, reason: Option<HoldReason>| {
        if met {
            ClockPhase::Met
        } else if status == Status::Cancelled {
            ClockPhase::Cancelled
        } else if policy.pauses(status, reason) {
            ClockPhase::Paused
        } else {
            ClockPhase::Running
        }
    };
    let mut met = false;
    let mut met_at = None;
    let mut phase = phase_of(false, Status::New, None);
    let mut since = created_at;
    let mut cursor = created_at;
    let mut stretches: Vec<Stretch> = Vec::new();
    for event in events {
        if event.at > cursor {
            stretches.push(Stretch {
                from: cursor,
                to: event.at,
                running: phase == ClockPhase::Running,
            });
            cursor = event.at;
        }
        let now_met = target.met_after(met, event.status);
        if now_met && !met {
            met_at = Some(event.at);
        }
        met = now_met;
        let next = phase_of(met, event.status, event.hold_reason);
        if next != phase {
            phase = next;
            since = event.at;
        }
    }
    // The clock is measured up to where it stopped for good, or to now.
    let end = match phase {
        ClockPhase::Met | ClockPhase::Cancelled => since,
        ClockPhase::Running | ClockPhase::Paused => now,
    };
    stretches.retain(|s| s.from < end);
    if cursor < end {
        stretches.push(Stretch {
            from: cursor,
            to: end,
            running: phase == ClockPhase::Running,
        });
    }

    let stretches = carve(stretches, pauses, now);
    // An open pause span stops a running clock now (its stretches were cut
    // above; the phase says so).
    if phase == ClockPhase::Running
        && pauses
            .iter()
            .any(|p| p.from <= now && p.to.is_none_or(|to| to > now))
    {
        phase = ClockPhase::Paused;
    }
    let mut elapsed = Duration::zero();
    let mut paused = Duration::zero();
    for s in &stretches {
        let business = calendar.business_time(s.from, s.to);
        if s.running {
            elapsed += business;
        } else {
            paused += business;
        }
    }
    // Budgets are reached over the running stretches, then from `end` on as if running.
    let reached = |amount: Duration| -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return created_at;
        }
        let mut left = amount;
        for s in stretches.iter().filter(|s| s.running) {
            let business = calendar.business_time(s.from, s.to);
            if business >= left {
                return calendar.add_business_time(s.from, left);
            }
            left -= business;
        }
        calendar.add_business_time(end, left)
    };
    let deadline = reached(budget);
    let budget_ns = i128::from(budget.num_nanoseconds().unwrap_or(i64::MAX));
    let elapsed_ns = i128::from(elapsed.num_nanoseconds().unwrap_or(i64::MAX));
    let warnings: Vec<WarningAt> = thresholds
        .iter()
        .map(|&threshold| {
            // Smallest whole nanosecond count n with n * 100 >= threshold * budget.
            let part = (budget_ns * i128::from(threshold) + 99) / 100;
            let part = Duration::nanoseconds(i64::try_from(part).unwrap_or(i64::MAX));
            WarningAt {
                threshold,
                at: reached(part),
            }
        })
        .collect();

    let state = if phase == ClockPhase::Met {
        if end <= deadline {
            TargetState::Met
        } else {
            TargetState::MetLate
        }
    } else if end >= deadline {
        TargetState::Breached
    } else {
        thresholds
            .iter()
            .rev()
            .find(|&&t| elapsed_ns * 100 >= i128::from(t) * budget_ns)
            .map_or(TargetState::Ok, |&threshold| TargetState::Warning {
                threshold,
            })
    };
    let fraction_used = if budget_ns > 0 {
        elapsed_ns as f64 / budget_ns as f64
    } else {
        1.0
    };
    TargetClock {
        target,
        budget,
        started_at: created_at,
        deadline,
        elapsed,
        paused,
        remaining: budget - elapsed,
        fraction_used,
        phase,
        met_at: if phase == ClockPhase::Met {
            met_at
        } else {
            None
        },
        stopped_at: match phase {
            ClockPhase::Met | ClockPhase::Cancelled => Some(end),
            ClockPhase::Running | ClockPhase::Paused => None,
        },
        state,
        warnings,
    }
}

/// Durations as whole seconds (rounded down) in JSON.
mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(value.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = i64::deserialize(deserializer)?;
        Duration::try_seconds(seconds)
            .ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shifts::Day;
    use crate::domain::sla::calendar::{BusinessCalendar, BusinessHours, WeeklyCalendar};
    use crate::domain::sla::policy::{
        PauseMatcher, PolicyMatch, SlaTargets, default_pause_on, default_warning_thresholds,
    };
    use Status::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    fn berlin_office() -> BusinessCalendar {
        let days = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];
        BusinessCalendar::Weekly(WeeklyCalendar {
            time_zone: "Europe/Berlin".into(),
            hours: days
                .into_iter()
                .map(|day| BusinessHours::new(day, "08:00", "17:00"))
                .collect(),
            holidays: vec![],
        })
    }

    fn policy(
        calendar: BusinessCalendar,
        response: u32,
        arrival: u32,
        resolution: u32,
    ) -> SlaPolicy {
        SlaPolicy {
            id: Uuid::from_u128(1),
            name: "test".into(),
            matches: PolicyMatch::default(),
            targets: SlaTargets {
                response_minutes: Some(response),
                arrival_minutes: Some(arrival),
                resolution_minutes: Some(resolution),
            },
            calendar,
            pause_on: default_pause_on(),
            warning_thresholds: default_warning_thresholds(),
            escalation: Default::default(),
            archived_at: None,
        }
    }

    fn clock(
        policy: &SlaPolicy,
        created: DateTime<Utc>,
        history: &[StatusEvent],
        now: DateTime<Utc>,
    ) -> SlaClock {
        compute_clock(policy, created, history, now).expect("valid policy")
    }

    fn ev(at: DateTime<Utc>, status: Status) -> StatusEvent {
        StatusEvent::new(at, status)
    }

    #[test]
    fn friday_16_00_with_4h_response_is_due_monday_11_00() {
        let policy = policy(berlin_office(), 240, 480, 960);
        // Friday 2026-11-20 16:00 Berlin.
        let created = utc(2026, 11, 20, 15, 0);
        let c = clock(&policy, created, &[], utc(2026, 11, 21, 12, 0));
        let response = c.response.expect("tracked");
        assert_eq!(response.deadline, utc(2026, 11, 23, 10, 0)); // Monday 11:00 Berlin
        assert_eq!(response.elapsed, Duration::hours(1));
        assert_eq!(response.remaining, Duration::hours(3));
        assert_eq!(response.paused, Duration::zero());
        assert_eq!(response.phase, ClockPhase::Running);
        assert_eq!(response.state, TargetState::Ok);
        assert_eq!(response.fraction_used, 0.25);
        // 75 % of 4 h is 3 h: Monday 10:00 Berlin; 90 % is 3 h 36 min.
        assert_eq!(
            response.warnings,
            [
                WarningAt {
                    threshold: 75,
                    at: utc(2026, 11, 23, 9, 0)
                },
                WarningAt {
                    threshold: 90,
                    at: utc(2026, 11, 23, 9, 36)
                }
            ]
        );
    }

    #[test]
    fn states_move_from_ok_through_warnings_to_breach() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 100, 200, 300);
        let created = utc(2026, 5, 4, 8, 0);
        let state_at = |minutes: i64| {
            clock(&policy, created, &[], created + Duration::minutes(minutes))
                .response
                .expect("tracked")
                .state
        };
        assert_eq!(state_at(74), TargetState::Ok);
        assert_eq!(state_at(75), TargetState::Warning { threshold: 75 });
        assert_eq!(state_at(89), TargetState::Warning { threshold: 75 });
        assert_eq!(state_at(90), TargetState::Warning { threshold: 90 });
        assert_eq!(state_at(99), TargetState::Warning { threshold: 90 });
        assert_eq!(state_at(100), TargetState::Breached);
        // Met exactly at the deadline is on time; a minute later is late.
        let met = |minutes: i64| {
            let at = created + Duration::minutes(minutes);
            clock(
                &policy,
                created,
                &[ev(at, Accepted)],
                at + Duration::hours(5),
            )
            .response
            .expect("tracked")
        };
        assert_eq!(met(100).state, TargetState::Met);
        assert_eq!(met(101).state, TargetState::MetLate);
        assert_eq!(met(101).elapsed, Duration::minutes(101));
        assert_eq!(met(30).met_at, Some(created + Duration::minutes(30)));
        assert_eq!(met(30).stopped_at, Some(created + Duration::minutes(30)));
        assert_eq!(met(30).phase, ClockPhase::Met);
    }

    #[test]
    fn waiting_for_the_customer_pauses_and_resuming_continues() {
        let policy = policy(berlin_office(), 60, 240, 480);
        // Monday 2026-11-23 09:00 Berlin.
        let created = utc(2026, 11, 23, 8, 0);
        let history = [
            ev(created + Duration::minutes(10), Assigned),
            ev(created + Duration::minutes(20), Accepted),
            StatusEvent::hold(created + Duration::hours(1), HoldReason::WaitingCustomer),
            // Resumed Tuesday 10:00 Berlin: paused 7 h Monday + 2 h Tuesday.
            ev(utc(2026, 11, 24, 9, 0), Accepted),
        ];
        let now = utc(2026, 11, 24, 10, 0); // Tuesday 11:00 Berlin
        let c = clock(&policy, created, &history, now);
        let response = c.response.expect("tracked");
        assert_eq!(response.state, TargetState::Met);
        assert_eq!(response.elapsed, Duration::minutes(20));
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.paused, Duration::hours(9));
        assert_eq!(arrival.elapsed, Duration::hours(2));
        // 4 h target + 9 h paused from Monday 09:00: Tuesday 13:00 Berlin.
        assert_eq!(arrival.deadline, utc(2026, 11, 24, 12, 0));
        assert_eq!(arrival.phase, ClockPhase::Running);
        // While still on hold, the deadline assumes the clock resumes now.
        let c = clock(&policy, created, &history[..3], now);
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Paused);
        assert_eq!(arrival.elapsed, Duration::hours(1));
        assert_eq!(arrival.paused, Duration::hours(10));
        assert_eq!(arrival.deadline, utc(2026, 11, 24, 13, 0));
        // A hold without a pausing reason does not pause.
        let unpaused = [
            history[0],
            history[1],
            ev(created + Duration::hours(1), OnHold),
        ];
        let arrival = clock(&policy, created, &unpaused, now)
            .arrival
            .expect("tracked");
        assert_eq!(arrival.paused, Duration::zero());
        assert_eq!(arrival.state, TargetState::Breached);
    }

    #[test]
    fn later_statuses_meet_earlier_targets() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        let created = utc(2026, 6, 1, 8, 0);
        // Accepted was never recorded: on_site meets response and arrival.
        let history = [
            ev(created + Duration::minutes(5), Assigned),
            ev(created + Duration::minutes(90), OnSite),
        ];
        let c = clock(&policy, created, &history, created + Duration::hours(3));
        let response = c.response.expect("tracked");
        assert_eq!(response.met_at, Some(created + Duration::minutes(90)));
        assert_eq!(response.state, TargetState::MetLate);
        assert_eq!(c.arrival.expect("tracked").state, TargetState::Met);
        assert_eq!(c.resolution.expect("tracked").phase, ClockPhase::Running);
        // Closed alone meets all three.
        let c = clock(
            &policy,
            created,
            &[ev(created + Duration::minutes(50), Closed)],
            created + Duration::hours(9),
        );
        assert!(c.targets().all(|t| t.state == TargetState::Met));
    }

    #[test]
    fn cancellation_freezes_the_clock_where_it_stood() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        let created = utc(2026, 6, 1, 8, 0);
        let cancelled = created + Duration::minutes(100);
        let history = [
            ev(created + Duration::minutes(30), Accepted),
            ev(cancelled, Cancelled),
        ];
        let c = clock(&policy, created, &history, created + Duration::days(3));
        assert_eq!(
            c.response.as_ref().expect("tracked").state,
            TargetState::Met
        );
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Cancelled);
        assert_eq!(arrival.stopped_at, Some(cancelled));
        assert_eq!(arrival.elapsed, Duration::minutes(100));
        assert_eq!(arrival.state, TargetState::Warning { threshold: 75 });
        let resolution = c.resolution.expect("tracked");
        assert_eq!(resolution.state, TargetState::Ok);
        assert_eq!(resolution.remaining, Duration::minutes(140));
        // Reopened an hour later: the cancelled hour does not count.
        let mut reopened = history.to_vec();
        reopened.push(ev(cancelled + Duration::hours(1), New));
        let c = clock(&policy, created, &reopened, cancelled + Duration::hours(1));
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Running);
        assert_eq!(arrival.paused, Duration::hours(1));
        assert_eq!(arrival.deadline, created + Duration::minutes(180));
    }

    #[test]
    fn reopen_resumes_resolution_and_keeps_response_and_arrival() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        let created = utc(2026, 6, 1, 8, 0);
        let m = |minutes: i64| created + Duration::minutes(minutes);
        let history = [
            ev(m(10), Accepted),
            ev(m(20), EnRoute),
            ev(m(60), OnSite),
            StatusEvent::hold(m(70), HoldReason::WaitingParts),
            ev(m(100), Accepted),
            ev(m(110), EnRoute),
            ev(m(120), OnSite),
            ev(m(150), WorkDone),
            ev(m(160), Closed),
            // Customer calls back the next day: reopened, then fixed again.
            ev(m(24 * 60), New),
            ev(m(24 * 60 + 30), Assigned),
            ev(m(24 * 60 + 40), Accepted),
            ev(m(24 * 60 + 100), OnSite),
            ev(m(24 * 60 + 130), WorkDone),
        ];
        let c = clock(&policy, created, &history, m(3 * 24 * 60));
        let response = c.response.expect("tracked");
        assert_eq!(response.met_at, Some(m(10)));
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.met_at, Some(m(60)));
        assert_eq!(arrival.state, TargetState::Met);
        let resolution = c.resolution.expect("tracked");
        assert_eq!(resolution.met_at, Some(m(24 * 60 + 130)));
        // Counted: 0-70, 100-150, then 130 min after the reopen = 250 min > 240.
        assert_eq!(resolution.elapsed, Duration::minutes(250));
        // Not counted: the 30 min on hold and the 22 h 30 min resolved.
        assert_eq!(resolution.paused, Duration::minutes(30 + 24 * 60 - 150));
        assert_eq!(resolution.deadline, m(24 * 60 + 120));
        assert_eq!(resolution.state, TargetState::MetLate);
        // Before the reopen, the first completion was on time.
        let c = clock(&policy, created, &history[..9], m(12 * 60));
        let resolution = c.resolution.expect("tracked");
        assert_eq!(resolution.state, TargetState::Met);
        assert_eq!(resolution.met_at, Some(m(150)));
        // Cancelling after the work was done keeps resolution met.
        let mut done_then_cancelled = history[..8].to_vec();
        done_then_cancelled.push(ev(m(200), Cancelled));
        let c = clock(&policy, created, &done_then_cancelled, m(12 * 60));
        let resolution = c.resolution.expect("tracked");
        assert_eq!(resolution.phase, ClockPhase::Met);
        assert_eq!(resolution.met_at, Some(m(150)));
        // Rework on the spot re-opens resolution too.
        let rework = [ev(m(150), WorkDone), ev(m(155), OnSite)];
        let resolution = clock(&policy, created, &rework, m(200))
            .resolution
            .expect("tracked");
        assert_eq!(resolution.phase, ClockPhase::Running);
        assert_eq!(resolution.elapsed, Duration::minutes(195));
    }

    #[test]
    fn changing_the_policy_mid_ticket_keeps_paused_time() {
        let created = utc(2026, 11, 23, 8, 0); // Monday 09:00 Berlin
        let history = [
            ev(created + Duration::minutes(15), Accepted),
            StatusEvent::hold(created + Duration::hours(2), HoldReason::WaitingParts),
            ev(utc(2026, 11, 24, 10, 0), Accepted), // Tuesday 11:00 Berlin
        ];
        let now = utc(2026, 11, 24, 11, 0);
        let before = policy(berlin_office(), 60, 480, 960);
        let mut after = policy(berlin_office(), 30, 240, 600);
        after.id = Uuid::from_u128(2);
        let a = clock(&before, created, &history, now);
        let b = clock(&after, created, &history, now);
        for target in [SlaTarget::Arrival, SlaTarget::Resolution] {
            let (a, b) = (a.target(target).expect("a"), b.target(target).expect("b"));
            // 6 h Monday + 3 h Tuesday on hold, whichever policy applies.
            assert_eq!(a.paused, Duration::hours(9));
            assert_eq!(b.paused, Duration::hours(9));
            assert_eq!(a.elapsed, b.elapsed);
            assert_eq!(b.elapsed, Duration::hours(3));
        }
        // The new 4 h arrival target: Monday 09:00 + 4 h + 9 h paused = Tuesday 13:00 Berlin.
        assert_eq!(
            b.arrival.expect("tracked").deadline,
            utc(2026, 11, 24, 12, 0)
        );
        // Under the new 30 min response target, acceptance after 15 min is still met.
        assert_eq!(b.response.expect("tracked").state, TargetState::Met);
        assert_eq!(b.policy_id, Uuid::from_u128(2));
    }

    #[test]
    fn out_of_order_late_and_early_events() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        let created = utc(2026, 6, 1, 8, 0);
        let m = |minutes: i64| created + Duration::minutes(minutes);
        let in_order = [
            ev(m(5), Assigned),
            ev(m(10), Accepted),
            StatusEvent::hold(m(20), HoldReason::WaitingCustomer),
            ev(m(50), Accepted),
            ev(m(70), OnSite),
        ];
        let mut shuffled = in_order;
        shuffled.reverse();
        let now = m(100);
        assert_eq!(
            clock(&policy, created, &in_order, now),
            clock(&policy, created, &shuffled, now)
        );
        // A device clock slightly behind creation counts as at creation.
        let early = [ev(m(-3), Accepted)];
        let response = clock(&policy, created, &early, now)
            .response
            .expect("tracked");
        assert_eq!(response.met_at, Some(created));
        assert_eq!(response.elapsed, Duration::zero());
        // Events after `now` have not happened yet.
        let c = clock(&policy, created, &in_order, m(8));
        assert_eq!(c.response.expect("tracked").phase, ClockPhase::Running);
        // Same instant: the order in the history decides (work_done then rework).
        let same = [ev(m(30), WorkDone), ev(m(30), OnSite)];
        let resolution = clock(&policy, created, &same, now)
            .resolution
            .expect("tracked");
        assert_eq!(resolution.phase, ClockPhase::Running);
        let same = [ev(m(30), OnSite), ev(m(30), WorkDone)];
        let resolution = clock(&policy, created, &same, now)
            .resolution
            .expect("tracked");
        assert_eq!(resolution.phase, ClockPhase::Met);
    }

    #[test]
    fn untracked_targets_and_custom_pauses() {
        let mut policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        policy.targets.arrival_minutes = None;
        policy.pause_on.push(PauseMatcher {
            status: New,
            hold_reason: None,
        });
        let created = utc(2026, 6, 1, 8, 0);
        let c = clock(
            &policy,
            created,
            &[ev(created + Duration::minutes(45), Assigned)],
            created + Duration::minutes(60),
        );
        assert!(c.arrival.is_none());
        assert_eq!(c.targets().count(), 2);
        let response = c.response.expect("tracked");
        assert_eq!(response.paused, Duration::minutes(45));
        assert_eq!(response.elapsed, Duration::minutes(15));
        assert_eq!(response.deadline, created + Duration::minutes(105));
    }

    #[test]
    fn dst_change_under_a_running_clock() {
        // Friday 2026-10-23 16:00 CEST, 4 h resolution, 1 h on hold Monday: Monday is CET.
        let policy = policy(berlin_office(), 60, 120, 240);
        let created = utc(2026, 10, 23, 14, 0);
        let history = [
            StatusEvent::hold(utc(2026, 10, 26, 8, 0), HoldReason::WaitingCustomer), // Mon 09:00 CET
            ev(utc(2026, 10, 26, 9, 0), Accepted),
        ];
        let c = clock(&policy, created, &history, utc(2026, 10, 26, 12, 0));
        let resolution = c.resolution.expect("tracked");
        assert_eq!(resolution.paused, Duration::hours(1));
        // 1 h Friday + Monday 08:00-09:00 and 10:00-12:00 CET.
        assert_eq!(resolution.deadline, utc(2026, 10, 26, 11, 0));
        // New York, the same week-end shape around 2026-03-08.
        let mut ny = policy.clone();
        if let BusinessCalendar::Weekly(weekly) = &mut ny.calendar {
            weekly.time_zone = "America/New_York".into();
        }
        let created = utc(2026, 3, 6, 21, 0); // Friday 16:00 EST
        let c = clock(&ny, created, &[], utc(2026, 3, 9, 13, 0));
        // 1 h Friday + 3 h Monday from 08:00 EDT (12:00 UTC).
        assert_eq!(
            c.resolution.expect("tracked").deadline,
            utc(2026, 3, 9, 15, 0)
        );
    }

    #[test]
    fn serializes_durations_as_seconds() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 60, 120, 240);
        let created = utc(2026, 6, 1, 8, 0);
        let c = clock(&policy, created, &[], created + Duration::minutes(50));
        let json = serde_json::to_value(&c).expect("serializes");
        assert_eq!(json["response"]["target_seconds"], 3600);
        assert_eq!(json["response"]["elapsed_seconds"], 3000);
        assert_eq!(json["response"]["remaining_seconds"], 600);
        assert_eq!(json["response"]["state"]["kind"], "warning");
        assert_eq!(json["response"]["state"]["threshold"], 75);
        assert_eq!(json["response"]["phase"], "running");
        let back: SlaClock = serde_json::from_value(json).expect("round-trips");
        assert_eq!(back, c);
    }

    #[test]
    fn approval_pause_spans_stop_running_clocks() {
        let policy = policy(BusinessCalendar::AlwaysOpen, 240, 480, 960);
        let calendar = policy.calendar.compile().expect("valid");
        let created = utc(2026, 11, 20, 8, 0);
        let history = [ev(created, Assigned), ev(utc(2026, 11, 20, 9, 0), Accepted)];
        // Paused 10:00–11:00 (decided), and again from 12:00 (pending).
        let pauses = [
            PauseSpan {
                from: utc(2026, 11, 20, 10, 0),
                to: Some(utc(2026, 11, 20, 11, 0)),
            },
            PauseSpan {
                from: utc(2026, 11, 20, 12, 0),
                to: None,
            },
        ];
        let now = utc(2026, 11, 20, 13, 0);
        let c = compute_clock_paused(&calendar, &policy, created, &history, &pauses, now);
        // Response was met at 09:00, before any pause.
        let response = c.response.expect("tracked");
        assert_eq!(response.phase, ClockPhase::Met);
        assert_eq!(response.paused, Duration::zero());
        // Arrival: 5 h since creation, 2 h of them paused, paused now.
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Paused);
        assert_eq!(arrival.elapsed, Duration::hours(3));
        assert_eq!(arrival.paused, Duration::hours(2));
        // Without spans the same history runs.
        let plain = compute_clock_with(&calendar, &policy, created, &history, now);
        let arrival = plain.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Running);
        assert_eq!(arrival.elapsed, Duration::hours(5));
        // A span that ended: running again, its time counted as paused.
        let later = utc(2026, 11, 20, 14, 0);
        let decided = [PauseSpan {
            from: utc(2026, 11, 20, 12, 0),
            to: Some(utc(2026, 11, 20, 13, 0)),
        }];
        let c = compute_clock_paused(&calendar, &policy, created, &history, &decided, later);
        let arrival = c.arrival.expect("tracked");
        assert_eq!(arrival.phase, ClockPhase::Running);
        assert_eq!(arrival.paused, Duration::hours(1));
        assert_eq!(arrival.elapsed, Duration::hours(5));
        assert_eq!(arrival.deadline, created + Duration::hours(9));
    }
}
