//! Assigning a ticket and everything that follows a change of its assignee
//! or status: the server event in the ticket's document, the dispatch
//! index's open-job counts, the technician's push, the published event.
//! One flow for the API, offers, batch assignment and SLA escalation.

use std::sync::Arc;

use truckroll_sync::StatusAction;
use uuid::Uuid;

use super::{offers::OfferFlow, service::DispatchService};
use crate::{
    domain::{people::missing_skills, ticket::Ticket},
    events::{Event, EventBus},
    store::{Actor, Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error("no such technician")]
    UnknownTechnician,
    /// The technician lacks required skills; the text lists them.
    #[error("lacks required skills: {0}")]
    MissingSkills(String),
    /// The ticket's status does not allow the change.
    #[error("{0}")]
    Transition(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Owned handles for the assignment and offer flows, for background jobs
/// that outlive a request.
#[derive(Clone, Debug)]
pub struct DispatchHandles {
    pub store: Arc<dyn Store>,
    pub index: Arc<DispatchService>,
    pub events: Arc<dyn EventBus>,
    /// How long a technician has to answer an offer.
    pub offer_window: chrono::Duration,
}

impl DispatchHandles {
    pub fn assignments(&self) -> AssignmentFlow<'_> {
        AssignmentFlow {
            store: self.store.as_ref(),
            dispatch: self.index.as_ref(),
            events: self.events.as_ref(),
        }
    }

    pub fn offers(&self) -> OfferFlow<'_> {
        OfferFlow {
            store: self.store.as_ref(),
            dispatch: self.index.as_ref(),
            events: self.events.as_ref(),
            window: self.offer_window,
        }
    }
}

/// Assignment over a store, the dispatch index and the bus.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentFlow<'a> {
    pub store: &'a dyn Store,
    pub dispatch: &'a DispatchService,
    pub events: &'a dyn EventBus,
}

impl AssignmentFlow<'_> {
    /// Assigns after checking the technician's skills; the store decides
    /// capacity and races (a `Conflict` names the reason). The technician's
    /// phone is told by push.
    pub async fn assign(
        &self,
        actor: Actor,
        ticket: &Ticket,
        technician_id: Uuid,
    ) -> Result<Ticket, AssignError> {
        let technician = self
            .store
            .get_technician(actor.tenant_id, technician_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => AssignError::UnknownTechnician,
                other => other.into(),
            })?;
        let missing = missing_skills(&ticket.required_skills, &technician.skills);
        if !missing.is_empty() {
            return Err(AssignError::MissingSkills(missing.join("; ")));
        }
        let assigned = self
            .store
            .assign_ticket(actor, ticket.id, technician.id)
            .await?;
        self.after_change(ticket, &assigned).await?;
        crate::push::notify_assigned(self.store, &assigned, technician.user_id).await;
        Ok(assigned)
    }

    /// Takes the ticket back from its technician; it returns to `new`.
    pub async fn unassign(&self, actor: Actor, before: &Ticket) -> Result<Ticket, AssignError> {
        let status = truckroll_sync::transition(before.status, StatusAction::Unassign)
            .map_err(|e| AssignError::Transition(e.to_string()))?;
        let after = Ticket {
            status,
            assignee_id: None,
            hold_reason: None,
            ..before.clone()
        };
        let updated = self.store.update_ticket(actor, before, &after).await?;
        self.after_change(before, &updated).await?;
        Ok(updated)
    }

    /// Follow-up after a ticket write committed: when its assignee or status
    /// changed, the ticket's document gets the server event; the change is
    /// applied to this replica's index, then published.
    pub async fn after_change(&self, before: &Ticket, after: &Ticket) -> Result<(), StoreError> {
        let Some(event) = Event::for_ticket(Some(before), after) else {
            return Ok(());
        };
        if before.assignee_id != after.assignee_id || before.status != after.status {
            let system = Actor {
                tenant_id: after.tenant_id,
                user_id: None,
            };
            crate::device_sync::after_rest_write(self.store, system, after).await;
        }
        // Before publishing, so followers read the index with the new loads.
        self.dispatch.apply(self.store, &event).await?;
        self.events.publish(event);
        Ok(())
    }
}
