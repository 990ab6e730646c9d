//! `engine=app`: the report's groups with every clock evaluated in the
//! application, the reference ("naive") path the SQL engine is checked
//! against. Refuses ranges of more than 100 000 tickets.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use truckroll_sync::Status;
use uuid::Uuid;

use super::{
    BacklogAge, FirstTimeFix, GroupBy, ReportError, ReportGroup, TargetFigures,
    measures::{age_bucket, fixed_first_time, on_site_seconds},
    percent, target_figures,
};
use crate::{
    domain::{
        ValidationErrors,
        sla::{SlaTarget, StatusEvent, TargetState},
        ticket::Ticket,
    },
    sla::view::{SlaContext, TicketSla},
    store::{PageRequest, Store, TicketFilter, sla::SiteCustomer},
};

/// Most tickets one report reads.
const REPORT_MAX_TICKETS: usize = 100_000;

pub(super) async fn groups(
    store: &dyn Store,
    tenant_id: Uuid,
    group_by: GroupBy,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Vec<ReportGroup>, ReportError> {
    let filter = TicketFilter {
        created_from: Some(from),
        created_to: Some(to),
        ..TicketFilter::default()
    };
    let mut tickets = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_tickets(tenant_id, &filter, PageRequest { limit: 500, after })
            .await?;
        tickets.extend(page.items);
        if tickets.len() > REPORT_MAX_TICKETS {
            return Err(ValidationErrors::single(
                "from",
                format!("the range holds more than {REPORT_MAX_TICKETS} tickets; narrow it"),
            )
            .into());
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // A ticket merged into another is counted once, as the other (issue 22).
    let merged: std::collections::HashSet<Uuid> = store
        .merged_tickets(tenant_id, from, to)
        .await?
        .into_iter()
        .collect();
    tickets.retain(|t| !merged.contains(&t.id));
    let context = SlaContext::load(store, tenant_id).await?;
    let slas = context.evaluate(store, tenant_id, &tickets, now).await?;
    let mut sites: Vec<Uuid> = tickets.iter().map(|t| t.site_id).collect();
    sites.sort_unstable();
    sites.dedup();
    let customers = if group_by == GroupBy::Customer {
        store.site_customers(tenant_id, &sites).await?
    } else {
        HashMap::new()
    };
    let territories = if group_by == GroupBy::Territory {
        store.site_territories(tenant_id, &sites).await?
    } else {
        HashMap::new()
    };
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let histories = store.status_histories(tenant_id, &ids).await?;
    let keys = GroupKeys {
        group_by,
        customers: &customers,
        territories: &territories,
    };
    Ok(build_groups(
        &keys,
        &tickets,
        &slas,
        &histories,
        (from, to),
        now,
    ))
}

/// What grouping needs besides the ticket.
struct GroupKeys<'a> {
    group_by: GroupBy,
    customers: &'a HashMap<Uuid, SiteCustomer>,
    territories: &'a HashMap<Uuid, Option<Uuid>>,
}

fn group_key(keys: &GroupKeys<'_>, ticket: &Ticket) -> String {
    let customers = keys.customers;
    let date = ticket.created_at.date_naive();
    match keys.group_by {
        GroupBy::Territory => keys
            .territories
            .get(&ticket.site_id)
            .copied()
            .flatten()
            .map_or_else(|| "none".to_owned(), |id| id.to_string()),
        GroupBy::Category => ticket.category.clone(),
        GroupBy::Priority => ticket.priority.as_str().to_owned(),
        GroupBy::Technician => ticket
            .assignee_id
            .map_or_else(|| "unassigned".to_owned(), |id| id.to_string()),
        GroupBy::Customer => customers
            .get(&ticket.site_id)
            .map_or_else(|| "unknown".to_owned(), |c| c.customer_id.to_string()),
        GroupBy::Day => date.to_string(),
        GroupBy::Week => {
            (date - Duration::days(i64::from(date.weekday().num_days_from_monday()))).to_string()
        }
        GroupBy::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
            .unwrap_or(date)
            .to_string(),
    }
}

#[derive(Default)]
struct Accumulator {
    tickets: u64,
    covered: u64,
    backlog: u64,
    backlog_age: [u64; 4],
    closed: u64,
    fixed_first_time: u64,
    on_site_seconds: i64,
    /// Per target: (met, met_late, breached, seconds to meet).
    targets: [(u64, u64, u64, Vec<i64>); 3],
}

fn build_groups(
    keys: &GroupKeys<'_>,
    tickets: &[Ticket],
    slas: &[Option<TicketSla>],
    histories: &HashMap<Uuid, Vec<StatusEvent>>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Vec<ReportGroup> {
    let mut groups: BTreeMap<String, Accumulator> = BTreeMap::new();
    for (ticket, sla) in tickets.iter().zip(slas) {
        let group = groups.entry(group_key(keys, ticket)).or_default();
        let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
        group.tickets += 1;
        if !matches!(
            ticket.status,
            Status::WorkDone | Status::Closed | Status::Cancelled
        ) {
            group.backlog += 1;
            group.backlog_age[age_bucket(now - ticket.created_at)] += 1;
        }
        if ticket.status == Status::Closed {
            group.closed += 1;
            if fixed_first_time(history) {
                group.fixed_first_time += 1;
            }
        }
        group.on_site_seconds += on_site_seconds(history, from, to, now);
        let Some(sla) = sla else { continue };
        group.covered += 1;
        for (i, target) in SlaTarget::ALL.into_iter().enumerate() {
            let clock = match target {
                SlaTarget::Response => &sla.response,
                SlaTarget::Arrival => &sla.arrival,
                SlaTarget::Resolution => &sla.resolution,
            };
            let Some(clock) = clock else { continue };
            let figures = &mut group.targets[i];
            match clock.state {
                TargetState::Met => figures.0 += 1,
                TargetState::MetLate => figures.1 += 1,
                TargetState::Breached => figures.2 += 1,
                TargetState::Ok | TargetState::Warning { .. } => {}
            }
            if matches!(clock.state, TargetState::Met | TargetState::MetLate) {
                figures.3.push(clock.elapsed.num_seconds());
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, mut acc)| {
            let [response, arrival, resolution] = acc.targets.each_mut().map(figures);
            ReportGroup {
                key,
                tickets: acc.tickets,
                covered: acc.covered,
                response,
                arrival,
                resolution,
                backlog: acc.backlog,
                backlog_age: BacklogAge {
                    under_1d: acc.backlog_age[0],
                    from_1d_to_3d: acc.backlog_age[1],
                    from_3d_to_7d: acc.backlog_age[2],
                    over_7d: acc.backlog_age[3],
                },
                first_time_fix: FirstTimeFix {
                    closed: acc.closed,
                    fixed_first_time: acc.fixed_first_time,
                    rate_pct: percent(acc.fixed_first_time, acc.closed),
                },
                on_site_seconds: acc.on_site_seconds,
                utilisation_pct: None,
            }
        })
        .collect()
}

fn figures(acc: &mut (u64, u64, u64, Vec<i64>)) -> TargetFigures {
    let (met, met_late, breached, times) = acc;
    times.sort_unstable();
    target_figures(
        (*met, *met_late, *breached),
        percentile(times, 50),
        percentile(times, 90),
    )
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], pct: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
    }
}
