//! The queue's SLA views: open tickets whose clocks are at risk or breached,
//! and open tickets by their nearest running deadline. The clocks are
//! computed in the application (business calendars, pauses), so these lists
//! read every open ticket that matches the other filters, evaluate it, and
//! page in memory.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::view::{SlaContext, TicketSla};
use crate::{
    domain::{
        sla::{ClockPhase, TargetState},
        ticket::Ticket,
    },
    store::{Page, PageRequest, Store, StoreError, TicketFilter, tickets::TicketOrder},
};

/// How many open tickets one SLA view may evaluate; a tenant with more
/// narrows the filter (status, territory, category…).
pub const MAX_EVALUATED: usize = 20_000;

const READ_CHUNK: u32 = 1_000;

/// Which clocks a queue asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaFilter {
    /// A running target past a warning threshold or its deadline.
    AtRisk,
    /// A running target past its deadline.
    Breached,
}

/// The order of an SLA view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriageOrder {
    /// Keep the store's order (`filter.order`).
    Stored,
    /// The nearest running deadline first; tickets without one last.
    Urgency,
}

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("more than {MAX_EVALUATED} open tickets match; narrow the filter")]
    TooMany,
}

/// How urgent one ticket is by its running targets (not met, not cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Urgency {
    /// The earliest running deadline.
    pub due: Option<DateTime<Utc>>,
    pub warning: bool,
    pub breached: bool,
}

pub fn urgency(sla: Option<&TicketSla>) -> Urgency {
    let mut urgency = Urgency {
        due: None,
        warning: false,
        breached: false,
    };
    let Some(sla) = sla else {
        return urgency;
    };
    for clock in [&sla.response, &sla.arrival, &sla.resolution]
        .into_iter()
        .flatten()
    {
        if matches!(clock.phase, ClockPhase::Met | ClockPhase::Cancelled) {
            continue;
        }
        urgency.due = Some(
            urgency
                .due
                .map_or(clock.deadline, |d| d.min(clock.deadline)),
        );
        match clock.state {
            TargetState::Breached => urgency.breached = true,
            TargetState::Warning { .. } => urgency.warning = true,
            _ if clock.deadline <= sla.now => urgency.breached = true,
            _ => {}
        }
    }
    urgency
}

impl SlaFilter {
    fn keeps(self, urgency: &Urgency) -> bool {
        match self {
            SlaFilter::Breached => urgency.breached,
            SlaFilter::AtRisk => urgency.breached || urgency.warning,
        }
    }
}

/// One page of the open tickets matching `filter` (and `sla`, when given)
/// in `order`, each with its SLA state. The cursor is the last ticket's id.
pub async fn open_tickets(
    store: &dyn Store,
    tenant_id: Uuid,
    filter: &TicketFilter,
    sla: Option<SlaFilter>,
    order: TriageOrder,
    page: PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<(Ticket, Option<TicketSla>)>, TriageError> {
    let mut filter = filter.clone();
    filter.open_only = true;
    if filter.order == TicketOrder::Relevance {
        filter.order = TicketOrder::CreatedDesc;
    }
    let mut tickets = Vec::new();
    let mut after = None;
    loop {
        let chunk = store
            .list_tickets(
                tenant_id,
                &filter,
                PageRequest {
                    limit: READ_CHUNK,
                    after,
                },
            )
            .await?;
        tickets.extend(chunk.items);
        if tickets.len() > MAX_EVALUATED {
            return Err(TriageError::TooMany);
        }
        match chunk.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let context = SlaContext::load(store, tenant_id).await?;
    let slas = context.evaluate(store, tenant_id, &tickets, now).await?;
    let mut rows: Vec<(Ticket, Option<TicketSla>, Urgency)> = tickets
        .into_iter()
        .zip(slas)
        .map(|(ticket, sla)| {
            let urgency = urgency(sla.as_ref());
            (ticket, sla, urgency)
        })
        .filter(|(_, _, urgency)| sla.is_none_or(|wanted| wanted.keeps(urgency)))
        .collect();
    if order == TriageOrder::Urgency {
        // Stable: equal deadlines keep the store's order.
        rows.sort_by_key(|(_, _, urgency)| (urgency.due.is_none(), urgency.due));
    }
    let start = match page.after {
        Some(after) => rows
            .iter()
            .position(|(ticket, _, _)| ticket.id == after)
            .map_or(rows.len(), |at| at + 1),
        None => 0,
    };
    let limit = page.limit as usize;
    let end = rows.len().min(start.saturating_add(limit));
    let next_after = (end < rows.len())
        .then(|| end.checked_sub(1).map(|last| rows[last].0.id))
        .flatten();
    let items = rows
        .drain(start.min(end)..end)
        .map(|(ticket, sla, _)| (ticket, sla))
        .collect();
    Ok(Page { items, next_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_policy_is_not_urgent() {
        let urgency = urgency(None);
        assert_eq!(urgency.due, None);
        assert!(!SlaFilter::AtRisk.keeps(&urgency));
        assert!(!SlaFilter::Breached.keeps(&urgency));
    }

    #[test]
    fn a_warning_is_at_risk_but_not_breached() {
        let urgency = Urgency {
            due: None,
            warning: true,
            breached: false,
        };
        assert!(SlaFilter::AtRisk.keeps(&urgency));
        assert!(!SlaFilter::Breached.keeps(&urgency));
    }
}
