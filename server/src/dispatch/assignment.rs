//! Assigning a ticket and everything that follows a change of its assignee
//! or status: the dispatch index's open-job counts, the technician's push,
//! the published event. One flow for the API, offers, batch assignment and
//! SLA escalation. The change itself is an event in the ticket's document
//! written with the row in one transaction (`device_sync::Draft`).

use std::sync::Arc;

use truckroll_sync::StatusAction;
use uuid::Uuid;

use super::{offers::OfferFlow, service::DispatchService};
use crate::{
    device_sync::{ATTEMPTS, Draft, Step, lost_race},
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
        let (before, assigned) = self
            .assign_in_document(actor, ticket, technician.id)
            .await?;
        self.after_change(&before, &assigned).await?;
        crate::push::notify_assigned(self.store, &assigned, technician.user_id).await;
        Ok(assigned)
    }

    /// The assignment as an `assign`/`reassign` event in the ticket's
    /// document and the row as its projection, in one transaction; planned
    /// again when it lost a race. Returns the row it was planned on and the
    /// assigned ticket.
    async fn assign_in_document(
        &self,
        actor: Actor,
        ticket: &Ticket,
        technician_id: Uuid,
    ) -> Result<(Ticket, Ticket), AssignError> {
        let mut before = ticket.clone();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                before = self.store.get_ticket(actor.tenant_id, ticket.id).await?;
            }
            let mut draft = Draft::load(self.store, &before).await?;
            let current = draft.current(&before);
            if current.assignee_id == Some(technician_id)
                && current.status != truckroll_sync::Status::New
            {
                return Err(StoreError::Conflict(
                    "the ticket is already assigned to this technician".into(),
                )
                .into());
            }
            draft
                .step(Step::assign(current.status, technician_id))
                .map_err(|e| {
                    AssignError::Store(StoreError::Conflict(format!(
                        "the ticket cannot be assigned now: {e}"
                    )))
                })?;
            let write = draft.server_write(&before);
            match self
                .store
                .assign_ticket(actor, ticket.id, technician_id, write.as_ref())
                .await
            {
                Ok(assigned) => return Ok((before, assigned)),
                Err(StoreError::Conflict(why)) => {
                    if attempt == ATTEMPTS || !lost_race(self.store, &before, &draft).await? {
                        return Err(StoreError::Conflict(why).into());
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Conflict("the ticket kept changing; retry".into()).into())
    }

    /// Takes the ticket back from its technician; it returns to `new`.
    pub async fn unassign(&self, actor: Actor, before: &Ticket) -> Result<Ticket, AssignError> {
        let mut before = before.clone();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                before = self.store.get_ticket(actor.tenant_id, before.id).await?;
            }
            let mut draft = Draft::load(self.store, &before).await?;
            draft
                .step(Step::new(StatusAction::Unassign))
                .map_err(|e| AssignError::Transition(e.to_string()))?;
            let mut after = before.clone();
            draft.project(&mut after);
            match self
                .store
                .update_ticket(actor, &before, &after, draft.change().as_ref())
                .await
            {
                Ok(updated) => {
                    self.after_change(&before, &updated).await?;
                    return Ok(updated);
                }
                Err(StoreError::Conflict(why)) => {
                    if attempt == ATTEMPTS || !lost_race(self.store, &before, &draft).await? {
                        return Err(StoreError::Conflict(why).into());
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Conflict("the ticket kept changing; retry".into()).into())
    }

    /// Follow-up after a ticket write committed (its document already has
    /// the change): the change is applied to this replica's index, then
    /// published.
    pub async fn after_change(&self, before: &Ticket, after: &Ticket) -> Result<(), StoreError> {
        let Some(event) = Event::for_ticket(Some(before), after) else {
            return Ok(());
        };
        // Before publishing, so followers read the index with the new loads.
        self.dispatch.apply(self.store, &event).await?;
        self.events.publish(event);
        // Watchers of the ticket hear of a new status or assignee (issue 21).
        crate::store::watch::notify_change(self.store, before, after).await;
        Ok(())
    }
}
