//! SLA: what a ticket's clocks say, the report over many tickets, and the
//! timers that fire warnings and breaches.
//!
//! - [`view`]: a ticket's SLA state under the policy that covers it, as
//!   every ticket response and the live map show it.
//! - [`report`]: the SLA report, by the database or in the application.
//! - [`triage`]: the queue's SLA views (at risk, breached, by urgency).
//! - [`queue`]: the priority queue of next instants per ticket.
//! - [`timers`]: [`SlaTimers`], the engine that fires each warning and
//!   breach exactly once per (ticket, target, kind, threshold), driven by
//!   `run_once(now)` (an explicit `now`, so tests drive it with a fake
//!   clock).
//! - [`escalation`]: what a notice does (push, priority, re-dispatch).
//! - [`outcomes`]: the per-ticket outcomes the SQL report aggregates, kept
//!   current on write (lease `sla_outcomes`).
//!
//! The timers are rebuilt from the database when a replica becomes leader
//! (leader lease `sla`, see [`crate::leader`]), pick up changed tickets by
//! their version every `sla.poll_ms`, and re-read a ticket before firing,
//! so changes made through another replica are honoured. Exactly-once does
//! not rest on the lease: the notice row's primary key decides, in the
//! transaction that carries the escalation's effects.

pub mod escalation;
pub mod outcomes;
pub mod queue;
pub mod report;
pub mod timers;
pub mod triage;
pub mod view;
pub mod webhooks;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

pub use timers::SlaTimers;

use crate::{
    config_error::ConfigError,
    dispatch::DispatchHandles,
    leader::{LeaderConfig, Leadership},
};

/// The `[sla]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Run the SLA timers in this process (when it leads).
    pub timers_enabled: bool,
    /// Run the SLA outcome maintainer (`outcomes::run`) in this process
    /// (when it leads the `sla_outcomes` job).
    pub outcomes_enabled: bool,
    /// Longest sleep of the timers: how often changed tickets are picked up.
    pub poll_ms: u64,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            timers_enabled: true,
            outcomes_enabled: true,
            poll_ms: 1000,
        }
    }
}

impl SlaConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=600_000).contains(&self.poll_ms) {
            return Err(ConfigError::invalid(
                "sla.poll_ms",
                "must be between 10 and 600000",
            ));
        }
        Ok(())
    }
}

/// The timers' background task and its leadership.
#[derive(Debug)]
pub struct SlaTimersHandle {
    leadership: Option<Leadership>,
    task: Option<JoinHandle<()>>,
}

impl SlaTimersHandle {
    /// Stops the timers and gives the lease up.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        if let Some(leadership) = self.leadership.take() {
            leadership.stop().await;
        }
    }
}

/// Contends for the `sla` lease and runs the timers while leading.
pub fn spawn_timers(
    dispatch: DispatchHandles,
    config: &SlaConfig,
    leader: &LeaderConfig,
) -> SlaTimersHandle {
    if !config.timers_enabled {
        return SlaTimersHandle {
            leadership: None,
            task: None,
        };
    }
    let leadership = Leadership::start(dispatch.store.clone(), "sla", leader);
    let leading = leadership.subscribe();
    let poll = Duration::from_millis(config.poll_ms);
    let task = tokio::spawn(run(dispatch, poll, leading));
    SlaTimersHandle {
        leadership: Some(leadership),
        task: Some(task),
    }
}

async fn run(
    dispatch: DispatchHandles,
    poll: Duration,
    mut leading: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if leading.wait_for(|l| *l).await.is_err() {
            return;
        }
        let mut timers = match SlaTimers::load(dispatch.clone(), chrono::Utc::now()).await {
            Ok(timers) => timers,
            Err(error) => {
                tracing::warn!(%error, "SLA timers cannot load");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        while *leading.borrow() {
            if let Err(error) = timers.run_once(chrono::Utc::now()).await {
                tracing::warn!(%error, "SLA timers failed");
            }
            let until_next = timers
                .next_due()
                .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                .unwrap_or(Duration::ZERO);
            let sleep = if until_next.is_zero() {
                poll
            } else {
                until_next.min(poll)
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                changed = leading.changed() => if changed.is_err() { return },
            }
        }
    }
}
