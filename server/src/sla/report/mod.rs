//! The SLA report: per group of the tickets created in `[from, to)`,
//! attainment of each target, backlog, first-time fix, on-site time and
//! (by technician) utilisation. Definitions are in DECISIONS.md.
//!
//! Two engines give the same numbers:
//! - [`sql_engine`] (`engine=sql`, the default): per-ticket outcomes stored
//!   and refreshed where stale, aggregated by the database;
//! - [`app_engine`] (`engine=app`): every clock evaluated in the
//!   application, the reference path, bounded to 100 000 tickets.
//!
//! [`measures`] holds the pure definitions both use; [`csv`] the CSV form.

mod app_engine;
pub mod csv;
pub mod measures;
pub mod sql_engine;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::ValidationErrors,
    store::{Store, StoreError},
};

/// How the report's tickets are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Category,
    Priority,
    Technician,
    Customer,
    Territory,
    Day,
    Week,
    Month,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Category => "category",
            GroupBy::Priority => "priority",
            GroupBy::Technician => "technician",
            GroupBy::Customer => "customer",
            GroupBy::Territory => "territory",
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Month => "month",
        }
    }
}

/// How the report is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportEngine {
    #[default]
    Sql,
    App,
}

/// The figures of one target in one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TargetFigures {
    /// Tickets whose target is decided: met, met late or breached.
    pub decided: u64,
    pub met: u64,
    pub met_late: u64,
    pub breached: u64,
    /// Met on time ÷ decided, in percent; `null` when nothing is decided.
    pub attainment_pct: Option<f64>,
    /// Business seconds to meet the target (met and met late), median.
    pub median_seconds: Option<i64>,
    /// … 90th percentile (nearest rank).
    pub p90_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportGroup {
    /// The group's key: category, priority, technician id (`unassigned`),
    /// customer id, or the UTC date starting the day/week (Monday)/month.
    pub key: String,
    /// Tickets created in the range.
    pub tickets: u64,
    /// Tickets covered by an SLA policy.
    pub covered: u64,
    pub response: TargetFigures,
    pub arrival: TargetFigures,
    pub resolution: TargetFigures,
    /// Of the tickets, those still open now (not work done, closed or cancelled).
    pub backlog: u64,
    /// The backlog by age now (since creation).
    pub backlog_age: BacklogAge,
    pub first_time_fix: FirstTimeFix,
    /// Seconds the group's tickets spent on site within the range.
    pub on_site_seconds: i64,
    /// `group_by=technician` only: on-site seconds ÷ the technician's shift
    /// seconds in `[from, min(to, now))`, in percent; `null` otherwise, for
    /// `unassigned`, or without shift time.
    pub utilisation_pct: Option<f64>,
}

/// Open tickets by age.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct BacklogAge {
    pub under_1d: u64,
    pub from_1d_to_3d: u64,
    pub from_3d_to_7d: u64,
    pub over_7d: u64,
}

/// Closed tickets fixed at the first visit and never reopened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct FirstTimeFix {
    /// Tickets of the group closed now.
    pub closed: u64,
    /// … with at most one arrival on site and no reopen.
    pub fixed_first_time: u64,
    /// fixed_first_time ÷ closed, in percent; `null` when none is closed.
    pub rate_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = String, example = "category")]
    pub group_by: String,
    /// When the clocks were evaluated.
    pub now: DateTime<Utc>,
    pub groups: Vec<ReportGroup>,
}

/// What a report is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRequest {
    /// Tickets created at or after.
    pub from: DateTime<Utc>,
    /// Tickets created before.
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    pub engine: ReportEngine,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The range is empty, or too large for the application engine.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The report of one tenant as of `now`.
pub async fn build(
    store: &dyn Store,
    tenant_id: Uuid,
    request: ReportRequest,
    now: DateTime<Utc>,
) -> Result<SlaReport, ReportError> {
    if request.to <= request.from {
        return Err(ValidationErrors::single("to", "must be after from").into());
    }
    let group_by = request.group_by;
    // Whole microseconds, as both databases keep times: rounding `from` and
    // `to` up selects the same tickets, and both engines see the same instants.
    let from = measures::ceil_to_micros(request.from);
    let to = measures::ceil_to_micros(request.to);
    let now = crate::domain::audit::audit_time(now);
    let mut groups = match request.engine {
        ReportEngine::Sql => {
            sql_engine::groups(store, tenant_id, group_by, (from, to), now).await?
        }
        ReportEngine::App => {
            app_engine::groups(store, tenant_id, group_by, (from, to), now).await?
        }
    };
    if group_by == GroupBy::Technician {
        utilisation(store, tenant_id, &mut groups, (from, to.min(now))).await;
    }
    Ok(SlaReport {
        from,
        to,
        group_by: group_by.as_str().to_owned(),
        now,
        groups,
    })
}

/// Sets each technician group's utilisation over `[from, until)`.
async fn utilisation(
    store: &dyn Store,
    tenant_id: Uuid,
    groups: &mut [ReportGroup],
    (from, until): (DateTime<Utc>, DateTime<Utc>),
) {
    for group in groups {
        let Ok(id) = group.key.parse::<Uuid>() else {
            continue;
        };
        let Ok(technician) = store.get_technician(tenant_id, id).await else {
            continue;
        };
        let shift_seconds = measures::shift_calendar(&technician.shifts, &technician.time_zone)
            .filter(|_| until > from)
            .map_or(0, |calendar| {
                calendar.business_time(from, until).num_seconds()
            });
        if shift_seconds > 0 {
            #[allow(clippy::cast_precision_loss)]
            let pct = group.on_site_seconds as f64 * 100.0 / shift_seconds as f64;
            group.utilisation_pct = Some((pct * 100.0).round() / 100.0);
        }
    }
}

/// One target's figures from its counts and percentiles (both engines).
fn target_figures(
    (met, met_late, breached): (u64, u64, u64),
    median_seconds: Option<i64>,
    p90_seconds: Option<i64>,
) -> TargetFigures {
    let decided = met + met_late + breached;
    TargetFigures {
        decided,
        met,
        met_late,
        breached,
        attainment_pct: percent(met, decided),
        median_seconds,
        p90_seconds,
    }
}

/// part ÷ whole in percent, two decimals; `None` for an empty whole.
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| {
        // Counts stay far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let pct = part as f64 * 100.0 / whole as f64;
        (pct * 100.0).round() / 100.0
    })
}
