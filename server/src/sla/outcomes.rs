//! SLA outcomes on write: the per-ticket verdicts the SQL report aggregates
//! (`store/sla_report.rs`), kept current as tickets change instead of being
//! computed by the first report that needs them.
//!
//! Every change that can move a verdict (a ticket's priority, category,
//! site or creation; its status history; an approval that pauses the clock;
//! a policy; a customer's tier) marks the ticket in `sla_outcome_dirty` in
//! the change's own transaction, by database triggers (migration 0033), so no
//! write path can forget it. [`run`] (one replica, lease `sla_outcomes`)
//! recomputes marked tickets every `sla.poll_ms` and clears each mark in the
//! transaction that stores the outcome; it also recomputes outcomes that a
//! future-dated event made expire. A target that passes needs no rewrite: an
//! undecided target stores its deadline and the report counts it breached
//! once the deadline is past. A report recomputes only the marked or
//! expired tickets of its range first, so a report right after a change
//! (before the maintainer's next round) is still exact.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    domain::customers::CustomerTier,
    sla::{
        report::measures::{fixed_first_time, on_site_stretches, target_outcome, valid_until},
        view::SlaContext,
    },
    store::{
        Store, StoreError,
        sla_report::{OutcomeDue, SlaOutcome},
    },
};

/// Outcomes recomputed per round.
pub const OUTCOME_BATCH: usize = 2000;

/// Outcomes written after which the tables are analysed (and again each
/// time a drain's count doubles since its last analysis).
const ANALYZE_AFTER: u64 = 10_000;

/// Recomputes and stores the outcomes of these tickets of one tenant under
/// the tenant's policies; returns how many were computed.
pub(crate) async fn recompute(
    store: &dyn Store,
    context: &SlaContext,
    tenant_id: Uuid,
    due: &[OutcomeDue],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let epoch = context.epoch();
    let mut computed = 0;
    for batch in due.chunks(OUTCOME_BATCH) {
        let ids: Vec<Uuid> = batch.iter().map(|d| d.ticket_id).collect();
        let tickets = store.sla_outcome_inputs(tenant_id, &ids).await?;
        let mut sites: Vec<Uuid> = tickets.iter().map(|t| t.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let customers = store.site_customers(tenant_id, &sites).await?;
        let found: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
        let histories = store.status_histories(tenant_id, &found).await?;
        let pauses = store.approval_pauses(tenant_id, &found).await?;
        let outcomes: Vec<SlaOutcome> = tickets
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
        // Marks of tickets no longer found are cleared with the rest.
        store
            .write_sla_outcomes(tenant_id, &outcomes, batch)
            .await?;
        computed += outcomes.len() as u64;
    }
    Ok(computed)
}

/// Recomputes due outcomes grouped by tenant (any order of tenants).
async fn recompute_due(
    store: &dyn Store,
    due: &[OutcomeDue],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut by_tenant: BTreeMap<Uuid, Vec<OutcomeDue>> = BTreeMap::new();
    for item in due {
        by_tenant.entry(item.tenant_id).or_default().push(*item);
    }
    for (tenant_id, mut items) in by_tenant {
        // One order for every writer: concurrent rounds lock rows alike.
        items.sort_by_key(|d| d.ticket_id);
        let context = SlaContext::load(store, tenant_id).await?;
        recompute(store, &context, tenant_id, &items, now).await?;
    }
    Ok(())
}

/// Recomputes every marked outcome (the backfill after migration 0033, a
/// bulk load, a policy change) and the expired ones; returns how many were
/// recomputed. Marks made during the walk behind its cursor wait for the
/// next call.
///
/// A long walk analyses the outcome tables as it goes (after
/// [`ANALYZE_AFTER`] outcomes, then whenever its count has doubled), not
/// only at its end: its own statements are planned on those statistics. A
/// backfill into a `sla_on_site` last analysed empty (autovacuum off) had
/// its `DELETE … WHERE tenant_id = $1 AND ticket_id IN (…)` planned as a
/// scan of the tenant's whole index range with the id list as a filter,
/// which a cached generic plan tests id by id: 1.46 s per 500 ids at 100 000
/// stretches, growing with the table, against 0.55 ms by the primary key
/// once analysed (PostgreSQL 15; BENCHMARKS.md, issue 18, twelfth session).
pub async fn drain(store: &dyn Store) -> Result<u64, StoreError> {
    let limit = i64::try_from(OUTCOME_BATCH).unwrap_or(i64::MAX);
    let mut total = 0;
    let mut analysed_at = 0;
    let mut after = None;
    loop {
        let due = store.marked_sla_outcomes(after, limit).await?;
        let Some(last) = due.last() else { break };
        after = Some((last.tenant_id, last.ticket_id));
        let now = crate::domain::audit::audit_time(Utc::now());
        recompute_due(store, &due, now).await?;
        total += due.len() as u64;
        if due.len() < OUTCOME_BATCH {
            break;
        }
        if total >= ANALYZE_AFTER.max(2 * analysed_at) {
            store.analyze_sla_outcomes().await?;
            analysed_at = total;
        }
    }
    let now = crate::domain::audit::audit_time(Utc::now());
    let expired = store
        .expired_sla_outcomes(now.timestamp_micros(), limit)
        .await?;
    recompute_due(store, &expired, now).await?;
    total += expired.len() as u64;
    if total >= ANALYZE_AFTER && total > analysed_at {
        store.analyze_sla_outcomes().await?;
    }
    Ok(total)
}

/// While leading: drains the due outcomes every `poll`.
pub async fn run(
    store: Arc<dyn Store>,
    poll: Duration,
    leading: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !*leading.borrow() {
            continue;
        }
        match drain(store.as_ref()).await {
            Ok(0) => {}
            Ok(count) => tracing::debug!(count, "SLA outcomes recomputed"),
            Err(error) => tracing::warn!(%error, "SLA outcome maintainer failed"),
        }
    }
}
