//! `engine=sql`: the report's groups aggregated by the database from
//! per-ticket SLA outcomes, kept current on write (`sla/outcomes.rs`); the
//! few a change marked since the maintainer's last round are recomputed first.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::{BacklogAge, FirstTimeFix, GroupBy, ReportGroup, percent, target_figures};
use crate::{
    sla::{outcomes, view::SlaContext},
    store::{
        Store, StoreError,
        sla_report::{GroupKey, ReportGrouping, ReportRange},
    },
};

/// Outcomes written by one refresh after which the tables are analysed.
const ANALYZE_AFTER: u64 = 10_000;

/// Recomputes the stored SLA outcomes of the range's tickets that a change
/// marked and the maintainer (`sla/outcomes.rs`) has not reached yet, or
/// that a future-dated event made expire. Returns how many were recomputed.
pub async fn refresh_outcomes(
    store: &dyn Store,
    range: &ReportRange,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut due = store.stale_sla_outcomes(range).await?;
    if due.is_empty() {
        return Ok(0);
    }
    due.sort_by_key(|d| d.ticket_id);
    let context = SlaContext::load(store, range.tenant_id).await?;
    let refreshed = outcomes::recompute(store, &context, range.tenant_id, &due, now).await?;
    // A large refresh changes the tables' shape: without fresh statistics
    // the planner joins 100 000 outcomes as if they were a few hundred
    // (nested loops: 1.3 s instead of 0.37 s for a month of 82 000 tickets).
    if refreshed >= ANALYZE_AFTER {
        store.analyze_sla_outcomes().await?;
    }
    Ok(refreshed)
}

/// The groups, aggregated by the database from the stored outcomes
/// (refreshed first where stale).
pub(super) async fn groups(
    store: &dyn Store,
    tenant_id: Uuid,
    group_by: GroupBy,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Vec<ReportGroup>, StoreError> {
    let range = ReportRange {
        tenant_id,
        from,
        to,
        grouping: match group_by {
            GroupBy::Category => ReportGrouping::Category,
            GroupBy::Priority => ReportGrouping::Priority,
            GroupBy::Technician => ReportGrouping::Technician,
            GroupBy::Customer => ReportGrouping::Customer,
            GroupBy::Territory => ReportGrouping::Territory,
            GroupBy::Day => ReportGrouping::Day,
            GroupBy::Week => ReportGrouping::Week,
            GroupBy::Month => ReportGrouping::Month,
        },
        now_us: now.timestamp_micros(),
        from_us: from.timestamp_micros(),
        until_us: to.min(now).timestamp_micros(),
    };
    refresh_outcomes(store, &range, now).await?;
    let rows = store.sla_report_rows(&range).await?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut groups: Vec<ReportGroup> = rows
        .into_iter()
        .map(|row| {
            let [response, arrival, resolution] = row.targets.map(|t| {
                target_figures(
                    (count(t.met), count(t.met_late), count(t.breached)),
                    t.median_seconds,
                    t.p90_seconds,
                )
            });
            let (closed, fixed) = (count(row.closed), count(row.fixed_first_time));
            ReportGroup {
                key: key_name(group_by, &row.key),
                tickets: count(row.tickets),
                covered: count(row.covered),
                response,
                arrival,
                resolution,
                backlog: count(row.backlog),
                backlog_age: BacklogAge {
                    under_1d: count(row.backlog_age[0]),
                    from_1d_to_3d: count(row.backlog_age[1]),
                    from_3d_to_7d: count(row.backlog_age[2]),
                    over_7d: count(row.backlog_age[3]),
                },
                first_time_fix: FirstTimeFix {
                    closed,
                    fixed_first_time: fixed,
                    rate_pct: percent(fixed, closed),
                },
                on_site_seconds: row.on_site_seconds,
                utilisation_pct: None,
            }
        })
        .collect();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(groups)
}

/// A database group key as the report names it.
fn key_name(group_by: GroupBy, key: &GroupKey) -> String {
    let id = |none: &str| key.id.map_or_else(|| none.to_owned(), |id| id.to_string());
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    match group_by {
        GroupBy::Category | GroupBy::Priority => key.text.clone().unwrap_or_default(),
        GroupBy::Technician => id("unassigned"),
        GroupBy::Customer => id("unknown"),
        GroupBy::Territory => id("none"),
        GroupBy::Day | GroupBy::Week => {
            (epoch + Duration::days(key.number.unwrap_or(0))).to_string()
        }
        GroupBy::Month => {
            let months = key.number.unwrap_or(0);
            let year = i32::try_from(months.div_euclid(12)).unwrap_or(1970);
            let month = u32::try_from(months.rem_euclid(12) + 1).unwrap_or(1);
            NaiveDate::from_ymd_opt(year, month, 1)
                .unwrap_or(epoch)
                .to_string()
        }
    }
}
