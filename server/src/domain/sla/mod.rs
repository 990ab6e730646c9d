//! SLA policies and the SLA clock: pure, no I/O.
//!
//! - [`calendar`]: when business time runs ([`BusinessCalendar`]: 24×7, or
//!   weekly local hours in an IANA zone with holidays), and how to measure it
//!   ([`CompiledCalendar::business_time`], [`CompiledCalendar::add_business_time`]).
//! - [`policy`]: [`SlaPolicy`] (match on priority × customer tier ×
//!   category, targets, calendar, pause statuses, warning thresholds) and
//!   [`select_policy`].
//! - [`clock`]: [`compute_clock`], the clock of each target of one ticket.
//!
//! # The clock's rules
//!
//! The clock is a pure function of the ticket's creation time, its status
//! history, the policy and `now`. Nothing is stored between evaluations, so
//! recomputing with another policy (priority raised, policy edited) loses no
//! paused time: the pauses are in the history.
//!
//! - **Start**: every target starts at the ticket's creation, in status `new`.
//! - **Order**: events are sorted by their own time (device time for field
//!   events), ties by their position in the history, so events that arrive
//!   late or out of order give the same result as in order. Events before
//!   the creation count as at the creation (device clock skew); events after
//!   `now` have not happened yet and are ignored.
//! - **Met**: a target is met by the first event whose status is the
//!   target's own or a later one in the forward flow: response by
//!   `accepted`, `en_route`, `on_site`, `work_done` or `closed`; arrival by
//!   `on_site`, `work_done` or `closed`; resolution by `work_done` or
//!   `closed`. So `on_site` meets response if `accepted` was never recorded.
//!   `on_hold` meets nothing.
//! - **Paused**: while the status matches one of the policy's pause matchers
//!   (default: `on_hold` waiting for the customer or for parts), unmet
//!   targets do not count business time.
//! - **Cancelled**: the clock of every unmet target stops at the
//!   cancellation; its state stays what it was at that moment (ok, warning
//!   or breached), with phase `cancelled`. Met targets stay met.
//! - **Reopen**: response and arrival, once met, stay met (the first
//!   response and the first visit are what was promised). Resolution is
//!   re-opened by any move out of `work_done`/`closed` other than
//!   cancellation (rework on site, reopen after closing): the clock resumes
//!   with the elapsed time it had, the time spent done or closed does not
//!   count (it is reported as paused), and it is met again by the next
//!   `work_done`. The same holds for a cancelled ticket that is reopened:
//!   the cancelled stretch does not count.
//! - **Deadline**: the instant at which the counted business time reaches
//!   the target: creation + target in business time, pushed out by every
//!   stretch the clock did not run. While a target is paused, the deadline
//!   assumes the clock resumes now (it moves later as the pause goes on);
//!   once met or cancelled it is the deadline as it stood at that moment.
//! - **State**: met at or before the deadline → `met`, after → `met_late`;
//!   not met and the deadline reached (now, or the cancellation, at or
//!   after it) → `breached`; else `warning` with the highest threshold whose
//!   share of the target is used up, else `ok`.
//! - **Business time and DST**: see [`calendar`]: an instant counts when the
//!   local wall clock reads a time inside an open window; skipped local times
//!   never count, repeated ones count twice.

pub mod calendar;
pub mod clock;
pub mod policy;

#[cfg(test)]
mod proptests;

pub use calendar::{BusinessCalendar, BusinessHours, CompiledCalendar, WeeklyCalendar};
pub use clock::{
    ClockPhase, PauseSpan, SlaClock, SlaTarget, StatusEvent, TargetClock, TargetState, WarningAt,
    compute_clock, compute_clock_paused, compute_clock_with,
};
pub use policy::{
    Escalation, EscalationActions, NotifyWho, PauseMatcher, PolicyMatch, SlaPolicy, SlaTargets,
    default_pause_on, default_warning_thresholds, select_policy,
};
