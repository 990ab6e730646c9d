//! Leadership for singleton work (SLA timers, offer timers): of all the
//! replicas sharing a database, exactly one leads a named job at a time.
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn truckroll_server::store::Store>) {
//! use truckroll_server::leader::{LeaderConfig, Leadership};
//! let sla = Leadership::start(store, "sla", &LeaderConfig::default());
//! if sla.is_leader() { /* do the singleton work */ }
//! let mut changes = sla.subscribe(); // a watch channel: true while leading
//! # let _ = changes.changed().await;
//! sla.stop().await; // gives the lease up at once
//! # }
//! ```
//!
//! On PostgreSQL the lease is a session advisory lock (`pg_try_advisory_lock`)
//! on a dedicated connection: non-leaders retry every `leader.retry_ms`, the
//! leader checks its session as often, so when a leader dies (its connection
//! closes and PostgreSQL frees the lock) another replica leads within about
//! one retry period. On SQLite the one process always leads.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
};

use crate::{
    config_error::ConfigError,
    store::{Store, leader::HeldLease},
};

/// The `[leader]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderConfig {
    /// How often a non-leader tries to take a lease, and how often the
    /// leader checks that it still holds it.
    pub retry_ms: u64,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        Self { retry_ms: 5000 }
    }
}

impl LeaderConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=600_000).contains(&self.retry_ms) {
            return Err(ConfigError::invalid(
                "leader.retry_ms",
                "must be between 10 and 600000",
            ));
        }
        Ok(())
    }
}

/// This process's standing for one named job. Dropping it aborts the
/// background task, which drops the lease (closing its connection).
#[derive(Debug)]
pub struct Leadership {
    job: String,
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Starts contending for `job` in the background.
    pub fn start(store: Arc<dyn Store>, job: &str, config: &LeaderConfig) -> Self {
        let (tell, leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let period = Duration::from_millis(config.retry_ms);
        let task = tokio::spawn(contend(store, job.to_owned(), period, tell, stopped));
        Self {
            job: job.to_owned(),
            leading,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn job(&self) -> &str {
        &self.job
    }

    /// Whether this process leads the job right now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// `true` while this process leads; changes when leadership is won or lost.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Gives the lease up (so another replica can take it at once) and stops contending.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Reports "not leading" when the task ends, however it ends (an aborted
/// task drops its lease with it).
struct LeadingFlag(watch::Sender<bool>);

impl Drop for LeadingFlag {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

async fn contend(
    store: Arc<dyn Store>,
    job: String,
    period: Duration,
    tell: watch::Sender<bool>,
    mut stopped: oneshot::Receiver<()>,
) {
    let tell = LeadingFlag(tell);
    let mut lease: Option<Box<dyn HeldLease>> = None;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = ticks.tick() => {}
        }
        match lease.as_mut() {
            Some(held) => {
                if !held.still_held().await {
                    tracing::warn!(job, "leadership lost");
                    lease = None;
                    tell.0.send_replace(false);
                }
            }
            None => match store.try_acquire_lease(&job).await {
                Ok(Some(held)) => {
                    tracing::info!(job, "leading");
                    lease = Some(held);
                    tell.0.send_replace(true);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(job, %error, "cannot contend for leadership"),
            },
        }
    }
    tell.0.send_replace(false);
    if let Some(held) = lease {
        held.release().await;
    }
}
