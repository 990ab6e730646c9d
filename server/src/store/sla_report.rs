//! What the SLA report aggregates in SQL: one outcome row per ticket (the
//! clock's verdict, computed in the application and kept while the ticket's
//! version and the tenant's policies hold), and the grouped figures.
//!
//! State codes per target (`TargetOutcome::state`): `None` = the policy sets
//! no such target (or no policy covers the ticket), 0 = undecided (breached
//! as soon as `deadline_us <= now` when a deadline is set: a running clock),
//! 1 = met, 2 = met late, 3 = breached for good (paused or cancelled past its
//! budget).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::ticket::Priority;

pub const STATE_UNDECIDED: i16 = 0;
pub const STATE_MET: i16 = 1;
pub const STATE_MET_LATE: i16 = 2;
pub const STATE_BREACHED: i16 = 3;

/// One target's verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetOutcome {
    pub state: Option<i16>,
    /// Microseconds since the epoch (rounded up), for a running clock.
    pub deadline_us: Option<i64>,
    /// Business seconds to meet the target (met and met late).
    pub seconds: Option<i64>,
}

/// One ticket's stored SLA outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaOutcome {
    pub ticket_id: Uuid,
    /// The ticket's `updated_at` the outcome was computed from.
    pub ticket_version: DateTime<Utc>,
    pub policy_epoch: String,
    /// The first event (or creation) after the evaluation time: the outcome
    /// must be recomputed once the report's `now` reaches it.
    pub valid_until_us: Option<i64>,
    pub created_us: i64,
    pub covered: bool,
    pub fixed_first_time: bool,
    /// Response, arrival, resolution.
    pub targets: [TargetOutcome; 3],
    /// On-site stretches (start, end; `None` = still on site), in microseconds.
    pub on_site: Vec<(i64, Option<i64>)>,
}

/// An outcome's on-site stretches summed for the report (migration 0034):
/// exact for a range whose start is at or before `first_us` and whose end
/// is at or after `last_end_us`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnSiteSummary {
    /// Microseconds of the closed stretches.
    pub closed_us: i64,
    /// The earliest start of any stretch.
    pub first_us: Option<i64>,
    /// The latest end of a closed stretch.
    pub last_end_us: Option<i64>,
    /// The start of the stretch still open (only the last one can be).
    pub open_us: Option<i64>,
}

impl SlaOutcome {
    pub fn on_site_summary(&self) -> OnSiteSummary {
        let mut summary = OnSiteSummary::default();
        for &(start, end) in &self.on_site {
            summary.first_us = Some(summary.first_us.map_or(start, |first| first.min(start)));
            match end {
                Some(end) => {
                    summary.closed_us += (end - start).max(0);
                    summary.last_end_us =
                        Some(summary.last_end_us.map_or(end, |last| last.max(end)));
                }
                None => {
                    summary.open_us = Some(summary.open_us.map_or(start, |open| open.max(start)))
                }
            }
        }
        summary
    }
}

/// A ticket of the range whose outcome is missing or stale: what its clock needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTicket {
    pub id: Uuid,
    pub site_id: Uuid,
    pub category: String,
    pub priority: Priority,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How the report groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportGrouping {
    Category,
    Priority,
    Technician,
    Customer,
    Territory,
    /// Key: days since 1970-01-01 (UTC).
    Day,
    /// Key: days since 1970-01-01 of the week's Monday.
    Week,
    /// Key: year × 12 + month − 1 (UTC).
    Month,
}

/// The report's inputs, all times as the handler normalised them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRange {
    pub tenant_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub grouping: ReportGrouping,
    pub now_us: i64,
    pub from_us: i64,
    /// min(to, now) in microseconds: where on-site time stops counting.
    pub until_us: i64,
}

/// A group's key as the database returns it: text (category, priority), an
/// id (technician, customer, territory; `None` = none), or a number (day,
/// week, month).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub text: Option<String>,
    pub id: Option<Uuid>,
    pub number: Option<i64>,
}

/// One target's figures in one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetRow {
    pub met: i64,
    pub met_late: i64,
    pub breached: i64,
    /// Nearest-rank percentiles of `seconds` over met and met-late tickets.
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

/// One group's figures, aggregated by the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRow {
    pub key: GroupKey,
    pub tickets: i64,
    pub covered: i64,
    pub backlog: i64,
    /// Open tickets aged < 1 d, 1–3 d, 3–7 d, ≥ 7 d.
    pub backlog_age: [i64; 4],
    pub closed: i64,
    pub fixed_first_time: i64,
    /// Seconds on site within `[from, until)`, truncated per ticket.
    pub on_site_seconds: i64,
    pub targets: [TargetRow; 3],
}

/// A ticket whose stored outcome must be recomputed: marked by a change
/// (`mark` as read, so the write clears it only if no later change marked
/// it again), or expired by a future-dated event (`mark` = `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomeDue {
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub mark: Option<i64>,
}

#[async_trait]
pub trait SlaReportStore {
    /// The tickets created in `[from, to)` whose outcome is marked by a
    /// change (or was never computed) or expired at `now_us`.
    async fn stale_sla_outcomes(&self, range: &ReportRange) -> StoreResult<Vec<OutcomeDue>>;
    /// Up to `limit` marked tickets of any tenant after `after` (tenant,
    /// ticket), in that order: the maintainer's queue, walked by a cursor.
    async fn marked_sla_outcomes(
        &self,
        after: Option<(Uuid, Uuid)>,
        limit: i64,
    ) -> StoreResult<Vec<OutcomeDue>>;
    /// Up to `limit` outcomes of any tenant that a future-dated event made
    /// expire at `now_us`.
    async fn expired_sla_outcomes(&self, now_us: i64, limit: i64) -> StoreResult<Vec<OutcomeDue>>;
    /// What the clocks of these tickets need (tickets not found are left out).
    async fn sla_outcome_inputs(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<StaleTicket>>;
    /// Stores (replaces) outcomes of tickets of the tenant and clears the
    /// marks they were computed for (a mark that moved on stays), in one
    /// transaction.
    async fn write_sla_outcomes(
        &self,
        tenant_id: Uuid,
        outcomes: &[SlaOutcome],
        computed: &[OutcomeDue],
    ) -> StoreResult<()>;
    /// Refreshes the planner's statistics of the outcome tables, after a
    /// refresh that wrote many rows (autovacuum's analyze would lag behind).
    async fn analyze_sla_outcomes(&self) -> StoreResult<()>;
    /// The report's figures per group, aggregated from the outcomes of the
    /// tickets created in the range (unordered).
    async fn sla_report_rows(&self, range: &ReportRange) -> StoreResult<Vec<ReportRow>>;
}
