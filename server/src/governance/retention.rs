//! Retention and housekeeping (issue 19): the `[retention]` section and the
//! one sweeper that, on the replica holding the `housekeeping` lease,
//! deletes what has outlived its use — expired idempotency keys and
//! sessions, delivered webhooks, sent pushes and notifications, read staff
//! notifications, old sign-in failures — and applies each tenant's policy
//! (location trails, comments and photos of closed tickets, anonymised
//! closed tickets). Every deletion is a bounded batch in its own
//! transaction, so a sweep never holds locks for long.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    blob::{BlobStore, object_key, thumbnail_key},
    config_error::ConfigError,
    domain::ValidationErrors,
    store::{
        Store, StoreError,
        retention::{RetentionPolicy, SweepKind, TenantSweep},
    },
};

/// The `[retention]` section: server-wide windows for housekeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// How often the sweeper runs.
    pub sweep_interval_secs: u64,
    /// Rows one batch deletes (one transaction).
    pub batch_size: u32,
    /// Batches one kind may take per run; the rest waits for the next run.
    pub max_batches_per_run: u32,
    /// Days a delivered webhook delivery stays listed.
    pub delivered_webhook_days: u32,
    /// Days a sent push stays.
    pub sent_push_days: u32,
    /// Days a sent customer email or SMS stays (the timeline shows it).
    pub sent_notification_days: u32,
    /// Days a read staff notification stays.
    pub read_staff_notification_days: u32,
    /// Days an expired refresh token (session) stays.
    pub expired_session_days: u32,
    /// Days after a ticket is closed or cancelled before its document is
    /// rewritten without its history (phones drop a closed ticket's document
    /// at their next sync, long before).
    pub squash_closed_documents_after_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 600,
            batch_size: 1000,
            max_batches_per_run: 50,
            delivered_webhook_days: 30,
            sent_push_days: 7,
            sent_notification_days: 180,
            read_staff_notification_days: 90,
            expired_session_days: 1,
            squash_closed_documents_after_days: 30,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.sweep_interval_secs == 0 {
            return Err(ConfigError::invalid(
                "retention.sweep_interval_secs",
                "must be at least 1",
            ));
        }
        // A phone's trailing changes to a ticket that left its set are
        // merged for `REMOVAL_GRACE_MS`; a squashed document must never
        // meet a phone's copy of the old history.
        let grace_days = crate::device_sync::REMOVAL_GRACE_MS / (24 * 3600 * 1000);
        if i64::from(self.squash_closed_documents_after_days) <= grace_days {
            return Err(ConfigError::invalid(
                "retention.squash_closed_documents_after_days",
                "must be longer than the removal grace (3 days) in which phones may still send changes",
            ));
        }
        if !(1..=100_000).contains(&self.batch_size) || self.max_batches_per_run == 0 {
            return Err(ConfigError::invalid(
                "retention.batch_size",
                "must be between 1 and 100000 (and max_batches_per_run at least 1)",
            ));
        }
        Ok(())
    }
}

/// The longest a tenant may set: ten years.
pub const MAX_POLICY_DAYS: u32 = 3653;
pub const MAX_POLICY_MONTHS: u32 = 120;

/// A policy's values are within bounds (at least one day or month).
pub fn check_policy(policy: &RetentionPolicy) -> Result<(), ValidationErrors> {
    let days = [
        ("media_days", policy.media_days),
        ("location_days", policy.location_days),
        ("comment_days", policy.comment_days),
    ];
    for (field, value) in days {
        if let Some(value) = value
            && !(1..=MAX_POLICY_DAYS).contains(&value)
        {
            return Err(ValidationErrors::single(
                field,
                format!("must be between 1 and {MAX_POLICY_DAYS}"),
            ));
        }
    }
    if let Some(months) = policy.closed_ticket_anonymise_months
        && !(1..=MAX_POLICY_MONTHS).contains(&months)
    {
        return Err(ValidationErrors::single(
            "closed_ticket_anonymise_months",
            format!("must be between 1 and {MAX_POLICY_MONTHS}"),
        ));
    }
    Ok(())
}

/// The sweeper's handles and windows.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub config: RetentionConfig,
    /// `[governance] idempotency_key_ttl_secs`.
    pub idempotency_ttl: Duration,
    /// `[dispatch] location_retention_days`, for tenants without their own.
    pub default_location_days: u32,
    /// `[auth] login_delay_cap_secs`: a pair's failures older than this no
    /// longer make it wait longer than the cap.
    pub login_failure_ttl: Duration,
}

/// What one run removed, by kind (`SweepKind::name`, `TenantSweep::name`).
pub type SweepReport = BTreeMap<&'static str, u64>;

fn days(n: u32) -> chrono::Duration {
    chrono::Duration::days(i64::from(n))
}

impl Housekeeping {
    /// One run as of `now` (tests pass a moved clock).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::new();
        let idempotency =
            chrono::Duration::from_std(self.idempotency_ttl).unwrap_or(chrono::Duration::MAX);
        let failures =
            chrono::Duration::from_std(self.login_failure_ttl).unwrap_or(chrono::Duration::MAX);
        for kind in SweepKind::ALL {
            let window = match kind {
                SweepKind::IdempotencyKeys => idempotency,
                SweepKind::DeliveredWebhooks => days(self.config.delivered_webhook_days),
                SweepKind::SentPush => days(self.config.sent_push_days),
                SweepKind::SentNotifications => days(self.config.sent_notification_days),
                SweepKind::ReadStaffNotifications => days(self.config.read_staff_notification_days),
                SweepKind::ExpiredSessions => days(self.config.expired_session_days),
                SweepKind::LoginFailures => failures,
                SweepKind::DefaultLocations => days(self.default_location_days),
            };
            let before = now
                .checked_sub_signed(window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let mut total = 0;
            for _ in 0..self.config.max_batches_per_run {
                let deleted = self
                    .store
                    .sweep_expired(kind, before, self.config.batch_size)
                    .await?;
                total += deleted;
                if deleted < u64::from(self.config.batch_size) {
                    break;
                }
            }
            report.insert(kind.name(), total);
        }
        for (tenant_id, policy) in self.store.retention_policies().await? {
            let sweeps = [
                (TenantSweep::Locations, policy.location_days.map(days)),
                (TenantSweep::Comments, policy.comment_days.map(days)),
                (TenantSweep::Media, policy.media_days.map(days)),
                (
                    TenantSweep::AnonymiseTickets,
                    policy.closed_ticket_anonymise_months.and_then(|m| {
                        now.checked_sub_months(Months::new(m))
                            .map(|then| now - then)
                    }),
                ),
            ];
            for (sweep, window) in sweeps {
                let Some(window) = window else { continue };
                let before = now - window;
                let mut total = 0;
                for _ in 0..self.config.max_batches_per_run {
                    let swept = self
                        .store
                        .sweep_tenant(tenant_id, sweep, before, now, self.config.batch_size)
                        .await?;
                    total += swept.rows;
                    for object in swept.objects {
                        self.drop_unreferenced(object.tenant_id, &object.sha256)
                            .await?;
                    }
                    if swept.rows < u64::from(self.config.batch_size) {
                        break;
                    }
                }
                *report.entry(sweep.name()).or_default() += total;
            }
        }
        let squashed = self
            .squash_documents(
                now,
                now - days(self.config.squash_closed_documents_after_days),
            )
            .await?;
        report.insert("squashed_documents", squashed);
        for (kind, rows) in &report {
            if *rows > 0 {
                metrics::counter!("truckroll_retention_swept_total", "kind" => *kind)
                    .increment(*rows);
            }
        }
        Ok(report)
    }

    /// Rewrites the documents of tickets closed before `before` without
    /// their history. A document that cannot be read is logged and left.
    async fn squash_documents(
        &self,
        now: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut squashed = 0;
        for _ in 0..self.config.max_batches_per_run {
            let candidates = self
                .store
                .squash_candidates(before, self.config.batch_size)
                .await?;
            for (tenant_id, ticket_id, _) in &candidates {
                let Some(loaded) =
                    crate::device_sync::load(self.store.as_ref(), *tenant_id, *ticket_id).await?
                else {
                    continue;
                };
                let fresh = match loaded
                    .doc
                    .squashed(truckroll_sync::ActorId::random(), &|text| text.to_owned())
                {
                    Ok(fresh) => fresh,
                    Err(error) => {
                        tracing::warn!(%error, %ticket_id, "could not squash a closed ticket's document");
                        continue;
                    }
                };
                if self
                    .store
                    .replace_squashed_document(
                        *tenant_id,
                        *ticket_id,
                        loaded.version,
                        &fresh.save(),
                        now,
                    )
                    .await?
                {
                    squashed += 1;
                }
            }
            if candidates.len() < self.config.batch_size as usize {
                break;
            }
        }
        Ok(squashed)
    }

    /// Deletes a swept photo's content unless another row still names it.
    async fn drop_unreferenced(
        &self,
        tenant_id: uuid::Uuid,
        sha256: &str,
    ) -> Result<(), StoreError> {
        if self.store.media_referenced(tenant_id, sha256).await? {
            return Ok(());
        }
        for key in [
            object_key(tenant_id, sha256),
            thumbnail_key(tenant_id, sha256),
        ] {
            if let Err(error) = self.blobs.delete(&key).await {
                tracing::warn!(%error, "could not delete a swept photo's object");
            }
        }
        Ok(())
    }
}

/// Runs the sweeper every `sweep_interval_secs` while this replica leads
/// the `housekeeping` job.
pub async fn run(housekeeping: Housekeeping, leading: tokio::sync::watch::Receiver<bool>) {
    let mut ticks =
        tokio::time::interval(Duration::from_secs(housekeeping.config.sweep_interval_secs));
    loop {
        ticks.tick().await;
        let lead = *leading.borrow();
        metrics::gauge!("truckroll_leader", "job" => "housekeeping").set(if lead {
            1.0
        } else {
            0.0
        });
        if !lead {
            continue;
        }
        match housekeeping.run_once(Utc::now()).await {
            Ok(report) => {
                let swept: u64 = report.values().sum();
                if swept > 0 {
                    tracing::info!(?report, "housekeeping swept");
                }
            }
            Err(error) => tracing::warn!(%error, "housekeeping sweep failed"),
        }
    }
}
