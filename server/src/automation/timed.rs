//! Time-based rules (issue 21, item 2): "no update for N hours", "waiting on
//! the customer for N days". A rule with the event `time_elapsed` and a
//! [`Timer`] fires on a ticket once its clock — started at the ticket's last
//! update, or when it entered its current status — has run `minutes` (in the
//! covering SLA policy's business hours when the timer asks for them), if its
//! conditions hold then.
//!
//! Exactly once per rule, ticket and clock start: the firing's claim in
//! `timed_rule_firings` (primary key) is written in the same transaction as
//! everything the chain does (`AutomationStore::write_chain`: the ticket's
//! fields, the firings, notifications, webhooks, team, notes), so a restart
//! or a second replica sweeping at the same moment finds it taken, and a
//! crash before the commit leaves neither claim nor effect — the next sweep
//! makes the firing. The sweep runs on one replica at a time (the
//! `timed_rules` lease); the claim makes that a matter of load, not of
//! correctness. Effects outside the transaction (an approval request, an
//! auto-dispatch) follow the commit. A rule's own write is an update: with `since: updated` its clock starts
//! again, so a rule that changes the ticket fires again after another
//! `minutes` of silence (a reminder); one that only notifies fires once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Automation, AutomationError, Trigger, cache::RulesCache};
use crate::{
    dispatch::assignment::DispatchHandles,
    domain::{
        automation::{Rule, Timer, TimerSince, TriggerEvent},
        customers::CustomerTier,
        sla::{calendar::CompiledCalendar, policy::select_policy},
        ticket::Ticket,
    },
    store::automation::TimedClaim,
};

/// The most tickets one rule looks at per sweep (least recently updated first).
pub const TICKETS_PER_RULE: u32 = 500;

/// Whether `rule` is time-based.
pub fn is_timed(rule: &Rule) -> bool {
    rule.definition.timer.is_some() && rule.definition.events.contains(&TriggerEvent::TimeElapsed)
}

/// One sweep at `now` over every tenant with time-based rules; answers how
/// many firings it made.
pub async fn sweep(
    handles: &DispatchHandles,
    rules: &RulesCache,
    now: DateTime<Utc>,
) -> Result<usize, AutomationError> {
    let engine = Automation {
        store: handles.store.as_ref(),
        assignments: handles.assignments(),
        rules,
    };
    let mut fired = 0;
    for tenant_id in handles.store.tenants_with_timed_rules().await? {
        fired += sweep_tenant(&engine, tenant_id, now).await?;
    }
    Ok(fired)
}

async fn sweep_tenant(
    engine: &Automation<'_>,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, AutomationError> {
    let store = engine.store;
    let rules = engine.rules.rules(store, tenant_id).await?;
    let (timed, others): (Vec<&Rule>, Vec<&Rule>) =
        rules.iter().filter(|r| r.active).partition(|r| is_timed(r));
    let mut policies = None;
    let mut fired = 0;
    for rule in timed {
        let Some(timer) = rule.definition.timer else {
            continue;
        };
        let minutes = chrono::Duration::minutes(i64::from(timer.minutes));
        // Business time never runs ahead of wall time: a ticket updated
        // later than `now - minutes` cannot be due.
        let updated_before = match timer.since {
            TimerSince::Updated => Some(now - minutes),
            TimerSince::Status => None,
        };
        let tickets = store
            .timed_candidates(tenant_id, updated_before, TICKETS_PER_RULE)
            .await?;
        let since_status = match timer.since {
            TimerSince::Status => {
                let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
                store.status_histories(tenant_id, &ids).await?
            }
            TimerSince::Updated => HashMap::new(),
        };
        // The chain: this rule on `time_elapsed`, then the event rules on
        // what it changed.
        let chain: Vec<Rule> = std::iter::once(rule)
            .chain(others.iter().copied())
            .cloned()
            .collect();
        for ticket in tickets {
            let anchor = match timer.since {
                TimerSince::Updated => ticket.updated_at,
                TimerSince::Status => since_status
                    .get(&ticket.id)
                    .and_then(|h| h.last())
                    .map_or(ticket.created_at, |e| e.at),
            };
            // Wall time first: business time never runs ahead of it.
            if now - anchor < minutes {
                continue;
            }
            let facts = engine.facts(&ticket, None).await?;
            if !due(
                engine,
                &mut policies,
                &timer,
                &ticket,
                facts.customer_tier,
                anchor,
                now,
            )
            .await?
            {
                continue;
            }
            let holds = rule
                .definition
                .conditions
                .as_ref()
                .is_none_or(|c| c.holds(&facts));
            if !holds {
                continue;
            }
            let trigger = Trigger {
                events: vec![TriggerEvent::TimeElapsed],
                comment: None,
            };
            let claim = TimedClaim {
                rule_id: rule.id,
                anchor,
            };
            if engine
                .run_claimed(&chain, ticket, &trigger, Some(claim))
                .await?
                .is_some()
            {
                metrics::counter!("truckroll_timed_rule_firings_total").increment(1);
                fired += 1;
            }
        }
    }
    Ok(fired)
}

/// Whether the timer has run out on `ticket`.
async fn due(
    engine: &Automation<'_>,
    policies: &mut Option<Vec<crate::domain::sla::policy::SlaPolicy>>,
    timer: &Timer,
    ticket: &Ticket,
    tier: Option<CustomerTier>,
    anchor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, AutomationError> {
    let wanted = chrono::Duration::minutes(i64::from(timer.minutes));
    if now - anchor < wanted {
        return Ok(false);
    }
    if !timer.business_hours {
        return Ok(true);
    }
    if policies.is_none() {
        *policies = Some(engine.store.list_sla_policies(ticket.tenant_id).await?);
    }
    let calendar = policies
        .as_deref()
        .and_then(|p| {
            select_policy(
                p,
                ticket.priority,
                tier.unwrap_or(CustomerTier::Standard),
                &ticket.category,
            )
        })
        .and_then(|p| p.calendar.compile().ok())
        .unwrap_or_else(CompiledCalendar::always_open);
    Ok(calendar.business_time(anchor, now) >= wanted)
}

/// Runs the tenant's rules on an event that is not a ticket write (an SLA
/// notice). Best effort: a failure is logged. The rules come through a
/// cache of their own (one load per notice; notices are rare).
pub async fn on_event(
    handles: &DispatchHandles,
    tenant_id: Uuid,
    ticket_id: Uuid,
    event: TriggerEvent,
) {
    let rules = RulesCache::new();
    let engine = Automation {
        store: handles.store.as_ref(),
        assignments: handles.assignments(),
        rules: &rules,
    };
    let result = async {
        let ticket = handles.store.get_ticket(tenant_id, ticket_id).await?;
        engine.run(ticket, &Trigger::event(event)).await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, ticket = %ticket_id, event = event.as_str(), "rules on an event failed");
    }
}

/// Sweeps every `poll` (`[automation] timed_sweep_secs`) while this
/// replica leads `timed_rules`.
pub async fn run(
    handles: DispatchHandles,
    rules: Arc<RulesCache>,
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
        if let Err(error) = sweep(&handles, &rules, Utc::now()).await {
            tracing::warn!(%error, "time-based rules failed");
        }
    }
}
