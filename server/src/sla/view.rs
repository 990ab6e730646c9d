//! A ticket's SLA state as every ticket response (and the live map) shows
//! it: the clocks of each target under the policy that covers the ticket.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{
        customers::CustomerTier,
        sla::{
            CompiledCalendar, PauseSpan, SlaPolicy, StatusEvent, TargetClock, compute_clock_paused,
            select_policy,
        },
        ticket::{Priority, Ticket},
    },
    store::{Store, StoreError},
};

/// A ticket's SLA state per target, as of `now`. A target the policy does
/// not set is `null`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketSla {
    pub policy_id: Uuid,
    pub policy_name: String,
    pub now: DateTime<Utc>,
    pub response: Option<TargetClock>,
    pub arrival: Option<TargetClock>,
    pub resolution: Option<TargetClock>,
}

/// The SLA state of each ticket of one tenant as of `now`, in order;
/// `None` for a ticket no policy covers.
pub async fn evaluate(
    store: &dyn Store,
    tenant_id: Uuid,
    tickets: &[Ticket],
    now: DateTime<Utc>,
) -> Result<Vec<Option<TicketSla>>, StoreError> {
    SlaContext::load(store, tenant_id)
        .await?
        .evaluate(store, tenant_id, tickets, now)
        .await
}

/// A tenant's policies with their calendars compiled, loaded once per request.
pub(crate) struct SlaContext {
    policies: Vec<SlaPolicy>,
    calendars: HashMap<Uuid, CompiledCalendar>,
}

impl SlaContext {
    pub(crate) async fn load(store: &dyn Store, tenant_id: Uuid) -> Result<Self, StoreError> {
        let policies = store.list_sla_policies(tenant_id).await?;
        let calendars = policies
            .iter()
            // Stored policies were validated; one that no longer compiles covers nothing.
            .filter_map(|p| p.calendar.compile().ok().map(|c| (p.id, c)))
            .collect();
        Ok(Self {
            policies,
            calendars,
        })
    }

    /// The SLA state of each ticket: one query for the tiers of their
    /// sites and one for their histories, whatever the number of tickets.
    pub(crate) async fn evaluate(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        tickets: &[Ticket],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<TicketSla>>, StoreError> {
        if self.policies.is_empty() || tickets.is_empty() {
            return Ok(vec![None; tickets.len()]);
        }
        let mut sites: Vec<Uuid> = tickets.iter().map(|t| t.site_id).collect();
        sites.sort_unstable();
        sites.dedup();
        let customers = store.site_customers(tenant_id, &sites).await?;
        let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
        let histories = store.status_histories(tenant_id, &ids).await?;
        let pauses = store.approval_pauses(tenant_id, &ids).await?;
        Ok(tickets
            .iter()
            .map(|ticket| {
                let tier = customers
                    .get(&ticket.site_id)
                    .map_or(CustomerTier::Standard, |c| c.tier);
                let history = histories.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                let paused = pauses.get(&ticket.id).map_or(&[][..], Vec::as_slice);
                self.clock_of(
                    (ticket.priority, tier, &ticket.category),
                    ticket.created_at,
                    (history, paused),
                    now,
                )
            })
            .collect())
    }

    /// A fingerprint of the policies: stored SLA outcomes computed under
    /// other policies are stale.
    pub(crate) fn epoch(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for policy in &self.policies {
            // Serialising a policy cannot fail (plain data).
            hash.update(serde_json::to_vec(policy).unwrap_or_default());
            hash.update(b"\n");
        }
        hex::encode(&hash.finalize()[..16])
    }

    /// The clocks of a ticket with these facts; `None` when no policy
    /// covers it.
    pub(crate) fn clock_of(
        &self,
        (priority, tier, category): (Priority, CustomerTier, &str),
        created_at: DateTime<Utc>,
        (history, pauses): (&[StatusEvent], &[PauseSpan]),
        now: DateTime<Utc>,
    ) -> Option<TicketSla> {
        let policy = select_policy(&self.policies, priority, tier, category)?;
        let calendar = self.calendars.get(&policy.id)?;
        let clock = compute_clock_paused(calendar, policy, created_at, history, pauses, now);
        Some(TicketSla {
            policy_id: policy.id,
            policy_name: policy.name.clone(),
            now: clock.now,
            response: clock.response,
            arrival: clock.arrival,
            resolution: clock.resolution,
        })
    }
}
