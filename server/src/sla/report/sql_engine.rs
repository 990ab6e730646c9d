//! `engine=sql`: the report's groups aggregated by the database from
//! per-ticket SLA outcomes, which are stored and recomputed where stale.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::{
    BacklogAge, FirstTimeFix, GroupBy, ReportGroup,
    measures::{fixed_first_time, on_site_stretches, target_outcome, valid_until},
    percent, target_figures,
};
use crate::{
    domain::customers::CustomerTier,
    sla::view::SlaContext,
    store::{
        Store, StoreError,
        sla_report::{GroupKey, ReportGrouping, ReportRange, SlaOutcome},
    },
};

/// Outcomes recomputed per round of the refresh.
const OUTCOME_BATCH: usize = 2000;

/// Outcomes written by one refresh after which the tables are analysed.
const ANALYZE_AFTER: u64 = 10_000;

/// Recomputes the stored SLA outcomes of the range's tickets that are
/// missing or stale (ticket changed, policies changed, a future-dated event
/// reached). Returns how many were recomputed.
pub async fn refresh_outcomes(
    store: &dyn Store,
    range: &ReportRange,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let tenant_id = range.tenant_id;
    let context = SlaContext::load(store, tenant_id).await?;
    let epoch = context.epoch();
    let stale_ids = store.stale_sla_outcomes(range, &epoch).await?;
    let mut refreshed = 0;
    for ids in stale_ids.chunks(OUTCOME_BATCH) {
        let stale = store.sla_outcome_inputs(tenant_id, ids).await?;
        let mut sites: Vec<Uuid> = stale.iter().map(|t| t.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let customers = store.site_customers(tenant_id, &sites).await?;
        let ids: Vec<Uuid> = stale.iter().map(|t| t.id).collect();
        let histories = store.status_histories(tenant_id, &ids).await?;
        let pauses = store.approval_pauses(tenant_id, &ids).await?;
        let outcomes: Vec<SlaOutcome> = stale
            .iter()
            .map(|ticket| {
                let tier = customers
                    .get(&ticket.site_id)
                    .map_or(CustomerTier::Standard, |c| c.tier);
                let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                let paused = pauses.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                let sla = context.clock_of(
                    (ticket.priority, tier, &ticket.category),
                    ticket.created_at,
                    (history, paused),
                    now,
                );
                let targets = match &sla {
                    Some(sla) => [&sla.response, &sla.arrival, &sla.resolution]
                        .map(|clock| target_outcome(clock.as_ref())),
                    None => Default::default(),
                };
                SlaOutcome {
                    ticket_id: ticket.id,
                    ticket_version: ticket.updated_at,
                    policy_epoch: epoch.clone(),
                    valid_until_us: valid_until(ticket.created_at, history, now),
                    created_us: ticket.created_at.timestamp_micros(),
                    covered: sla.is_some(),
                    fixed_first_time: fixed_first_time(history),
                    targets,
                    on_site: on_site_stretches(history),
                }
            })
            .collect();
        store.write_sla_outcomes(tenant_id, &outcomes).await?;
        refreshed += outcomes.len() as u64;
    }
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
