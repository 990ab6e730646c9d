//! What a warning or breach does, per the policy's `escalation`.

use chrono::{DateTime, Utc};
use truckroll_sync::Status;

use crate::{
    dispatch::DispatchHandles,
    domain::{
        sla::{SlaPolicy, SlaTarget},
        ticket::{Priority, Ticket},
    },
    events::{Event, EventKind},
    store::{
        Actor, StoreError,
        sla_timers::{NoticeEffects, NoticeKey, NoticeKind, SlaNotice, SlaTicketFacts},
    },
};

/// One step more urgent; P1 stays P1.
pub fn raised(priority: Priority) -> Option<Priority> {
    match priority {
        Priority::P1 => None,
        Priority::P2 => Some(Priority::P1),
        Priority::P3 => Some(Priority::P2),
        Priority::P4 => Some(Priority::P3),
    }
}

/// Records the notice with its effects in one transaction; then, if this
/// call fired it and the policy says so, re-dispatches. `None` when the
/// notice had already fired elsewhere.
pub async fn escalate(
    dispatch: &DispatchHandles,
    facts: &SlaTicketFacts,
    policy: &SlaPolicy,
    key: &NoticeKey,
    due_at: DateTime<Utc>,
) -> Result<Option<SlaNotice>, StoreError> {
    let actions = match key.kind {
        NoticeKind::Warning => &policy.escalation.on_warning,
        NoticeKind::Breach => &policy.escalation.on_breach,
    };
    let what = match key.kind {
        NoticeKind::Warning => format!(
            "{} % of the {} target used",
            key.threshold,
            key.target.as_str()
        ),
        NoticeKind::Breach => format!("{} target breached", key.target.as_str()),
    };
    let effects = NoticeEffects {
        notify: actions.notify.clone(),
        raise_priority: if actions.raise_priority {
            raised(facts.priority).map(|to| (facts.priority, to))
        } else {
            None
        },
        title: format!("SLA {}: {}", key.kind.as_str(), facts.number),
        body: what,
    };
    let notice = SlaNotice {
        ticket_id: key.ticket_id,
        target: key.target,
        kind: key.kind,
        threshold: key.threshold,
        policy_id: policy.id,
        due_at,
        fired_at: due_at,
        actions: serde_json::Value::Null,
    };
    let Some(notice) = dispatch
        .store
        .record_sla_notice(*key, &notice, &effects)
        .await?
    else {
        return Ok(None);
    };
    tracing::info!(ticket = %key.ticket_id, target = key.target.as_str(), kind = key.kind.as_str(),
        threshold = key.threshold, "SLA notice fired");
    // Committed: the live map and other replicas hear of it.
    dispatch.events.publish(Event::new(
        facts.tenant_id,
        EventKind::SlaNotice {
            ticket_id: key.ticket_id,
            target: key.target,
            kind: key.kind,
            threshold: key.threshold,
            due_at,
        },
    ));
    if actions.redispatch && key.target == SlaTarget::Response {
        redispatch(dispatch, facts).await;
    }
    // Issue 21: the tenant's rules on `sla_warning` / `sla_breached`, once
    // per notice (this call recorded it).
    let event = match key.kind {
        NoticeKind::Warning => crate::domain::automation::TriggerEvent::SlaWarning,
        NoticeKind::Breach => crate::domain::automation::TriggerEvent::SlaBreached,
    };
    crate::automation::timed::on_event(dispatch, facts.tenant_id, key.ticket_id, event).await;
    Ok(Some(notice))
}

/// Takes back a ticket assigned but not accepted and offers it to the next
/// candidate through its category's offer flow. Best effort after the
/// notice committed: a failure is logged (the notice stays fired).
async fn redispatch(dispatch: &DispatchHandles, facts: &SlaTicketFacts) {
    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = async {
        let mut ticket: Ticket = dispatch
            .store
            .get_ticket(facts.tenant_id, facts.ticket_id)
            .await?;
        let system = Actor {
            tenant_id: facts.tenant_id,
            user_id: None,
        };
        if ticket.status == Status::Assigned {
            ticket = dispatch.assignments().unassign(system, &ticket).await?;
        }
        if ticket.status == Status::New {
            let next = dispatch.offers().offer_next(&ticket, Utc::now()).await?;
            tracing::info!(ticket = %ticket.id, ?next, "SLA re-dispatch");
        }
        Ok(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(ticket = %facts.ticket_id, %error, "SLA re-dispatch failed");
    }
}
