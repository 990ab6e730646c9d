//! The offer flow: offer a new ticket to the best technicians in turn until
//! one accepts, the list is used up, or a dispatcher steps in.
//!
//! Every step is a conditional write, so two replicas (or a timer racing a
//! technician's tap) can never both advance the same offer.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::service::DispatchService;
use crate::{
    domain::{
        offer::{AutoDispatchMode, Offer, OfferState},
        people::Role,
        ticket::Ticket,
    },
    events::{Event, EventBus, EventKind},
    store::{Actor, PageRequest, Store, StoreError, push::PushContent},
};
use truckroll_sync::Status;

#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dispatch index: {0}")]
    Index(#[from] super::IndexError),
}

/// What happened when the flow moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Offered(Offer),
    /// Nobody (more) to offer to: the ticket stays unassigned for a dispatcher.
    Exhausted,
    /// The category is not auto-dispatched, or the ticket is no longer new.
    NotApplicable,
}

/// The offer flow over a store and the dispatch index.
#[derive(Debug)]
pub struct OfferFlow<'a> {
    pub store: &'a dyn Store,
    pub dispatch: &'a DispatchService,
    pub events: &'a dyn EventBus,
    pub window: Duration,
}

/// The event telling that `offer` now is in `offer.state`.
pub fn offer_event(offer: &Offer) -> Event {
    Event::new(
        offer.tenant_id,
        EventKind::Offer {
            offer_id: offer.id,
            ticket_id: offer.ticket_id,
            technician_id: offer.technician_id,
            state: offer.state,
        },
    )
}

impl OfferFlow<'_> {
    /// Offers `ticket` to the next technician under its category's policy.
    pub async fn offer_next(
        &self,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<Next, OfferError> {
        let system = Actor {
            tenant_id: ticket.tenant_id,
            user_id: None,
        };
        let Some(policy) = self
            .store
            .dispatch_policy(ticket.tenant_id, &ticket.category)
            .await?
        else {
            return Ok(Next::NotApplicable);
        };
        if policy.mode == AutoDispatchMode::Off {
            return Ok(Next::NotApplicable);
        }
        let ticket = self.store.get_ticket(ticket.tenant_id, ticket.id).await?;
        if ticket.status != Status::New {
            return Ok(Next::NotApplicable);
        }
        let earlier = self
            .store
            .offers_for_ticket(ticket.tenant_id, ticket.id)
            .await?;
        if earlier
            .iter()
            .any(|offer| offer.state == OfferState::Pending)
        {
            return Ok(Next::NotApplicable);
        }
        let round = earlier.len() as u32 + 1;
        if round > policy.top_n {
            return self.exhausted(system, &ticket).await;
        }
        let site = self
            .store
            .get_site(ticket.tenant_id, ticket.site_id)
            .await?;
        // Only technicians inside the site's territory, when it has one.
        let territory = match site.territory_id {
            Some(id) => self.store.territory_boundary(ticket.tenant_id, id).await?,
            None => None,
        };
        let asked: Vec<Uuid> = earlier.iter().map(|offer| offer.technician_id).collect();
        let away = super::calendar::Away::at(self.store, ticket.tenant_id, now).await?;
        let ranked = super::parts::ranked(
            self.dispatch,
            self.store,
            &ticket,
            site.location,
            territory.as_deref(),
            asked.len() + 1 + away.extra(),
            now,
        )
        .await?;
        let ranked = away.keep(ranked, asked.len() + 1);
        let Some(next) = ranked
            .into_iter()
            .find(|c| !asked.contains(&c.technician_id))
        else {
            return self.exhausted(system, &ticket).await;
        };
        match self
            .store
            .create_offer(
                system,
                ticket.id,
                next.technician_id,
                round,
                now + self.window,
            )
            .await
        {
            Ok(offer) => {
                tracing::info!(offer = %offer.id, technician = %offer.technician_id, round, "ticket offered");
                self.events.publish(offer_event(&offer));
                self.push_offer(&ticket, &offer).await;
                Ok(Next::Offered(offer))
            }
            // Another replica made the offer first.
            Err(StoreError::Conflict(_)) => Ok(Next::NotApplicable),
            Err(other) => Err(other.into()),
        }
    }

    async fn exhausted(&self, system: Actor, ticket: &Ticket) -> Result<Next, OfferError> {
        self.store
            .record_offers_exhausted(system, ticket.id)
            .await?;
        tracing::warn!(ticket = %ticket.id, number = %ticket.number, "no technician took the ticket; it waits for a dispatcher");
        self.push_dispatchers(ticket).await;
        Ok(Next::Exhausted)
    }

    /// Queues the offer for the technician's phones (sent after this commit,
    /// from the push outbox). A failure to queue is logged: the offer stands.
    async fn push_offer(&self, ticket: &Ticket, offer: &Offer) {
        let content = PushContent {
            title: "New job offer".into(),
            body: format!(
                "{}: {} (answer by {})",
                ticket.number,
                ticket.title,
                offer.expires_at.format("%H:%M UTC")
            ),
            data: BTreeMap::from([
                ("type".to_owned(), "offer".to_owned()),
                ("offer_id".to_owned(), offer.id.to_string()),
                ("ticket_id".to_owned(), ticket.id.to_string()),
                ("expires_at".to_owned(), offer.expires_at.to_rfc3339()),
            ]),
        };
        let queued = match self
            .store
            .get_technician(ticket.tenant_id, offer.technician_id)
            .await
        {
            Ok(technician) => {
                self.store
                    .enqueue_push_for_user(ticket.tenant_id, technician.user_id, &content)
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = queued {
            tracing::warn!(%error, offer = %offer.id, "cannot queue the offer push");
        }
    }

    /// Tells every active dispatcher that a ticket needs a hand.
    async fn push_dispatchers(&self, ticket: &Ticket) {
        let content = PushContent {
            title: "Ticket needs a technician".into(),
            body: format!(
                "{}: {} (nobody took the offer)",
                ticket.number, ticket.title
            ),
            data: BTreeMap::from([
                ("type".to_owned(), "ticket.unassigned".to_owned()),
                ("ticket_id".to_owned(), ticket.id.to_string()),
            ]),
        };
        let mut page = PageRequest {
            limit: 200,
            after: None,
        };
        loop {
            let users = match self.store.list_users(ticket.tenant_id, page).await {
                Ok(users) => users,
                Err(error) => {
                    tracing::warn!(%error, "cannot list dispatchers to notify");
                    return;
                }
            };
            for user in users
                .items
                .iter()
                .filter(|u| u.active && u.role == Role::Dispatcher)
            {
                if let Err(error) = self
                    .store
                    .enqueue_push_for_user(ticket.tenant_id, user.id, &content)
                    .await
                {
                    tracing::warn!(%error, user = %user.id, "cannot queue the dispatcher push");
                }
            }
            match users.next_after {
                Some(after) => page.after = Some(after),
                None => return,
            }
        }
    }

    /// Expires every offer whose window has closed at `now` and moves each
    /// of their tickets on. Returns how many offers expired.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, OfferError> {
        let mut expired = 0;
        for offer in self.store.due_offers(now, 100).await? {
            let system = Actor {
                tenant_id: offer.tenant_id,
                user_id: None,
            };
            if let Some(closed) = self
                .store
                .close_offer(system, offer.id, OfferState::Expired, None, now)
                .await?
            {
                expired += 1;
                self.events.publish(offer_event(&closed));
                let ticket = self
                    .store
                    .get_ticket(offer.tenant_id, offer.ticket_id)
                    .await?;
                self.offer_next(&ticket, now).await?;
            }
        }
        Ok(expired)
    }

    /// The technician declines; the next technician is offered the ticket.
    pub async fn decline(
        &self,
        actor: Actor,
        offer: &Offer,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Offer>, OfferError> {
        let Some(closed) = self
            .store
            .close_offer(actor, offer.id, OfferState::Declined, Some(reason), now)
            .await?
        else {
            return Ok(None);
        };
        self.events.publish(offer_event(&closed));
        let ticket = self
            .store
            .get_ticket(offer.tenant_id, offer.ticket_id)
            .await?;
        self.offer_next(&ticket, now).await?;
        Ok(Some(closed))
    }
}
