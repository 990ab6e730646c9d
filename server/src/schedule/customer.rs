//! The customer's choice of a visit window on the progress page, where the
//! tenant allows it: the ticket's offered slots as bare times (no
//! technician, no other customer's ticket named), and booking one after
//! checking again that it is still offered.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{SlotFinder, SlotGrid, SlotJob, travel::RoadNetwork, window_text};
use crate::{
    domain::{
        ValidationErrors,
        schedule::{
            AppointmentWindow, DEFAULT_DURATION_MINUTES, TravelModel, WindowRequest, WindowSource,
        },
        ticket::Ticket,
    },
    store::{Actor, Store, StoreError, schedule::WindowSet},
};
use truckroll_sync::Status;

/// Days ahead a customer is offered.
const CUSTOMER_DAYS: u32 = 14;
/// Length of each offered window.
const CUSTOMER_WINDOW_MINUTES: i64 = 120;
/// Most windows shown.
const CUSTOMER_SLOTS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CustomerSlotError {
    #[error("the service company books visit times itself")]
    NotAllowed,
    #[error("{0}")]
    NotNow(&'static str),
    #[error("that time is no longer free: please pick another")]
    Taken,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CustomerSlotError {
    fn from(error: StoreError) -> Self {
        match error {
            // The overlap guard names the other ticket: not for this customer.
            StoreError::Conflict(_) => CustomerSlotError::Taken,
            other => CustomerSlotError::Store(other),
        }
    }
}

/// A window the customer may pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// What the progress page shows for choosing a time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerSlots {
    /// Whether the customer may pick a time now (the tenant allows it and
    /// the technician is not yet on the way).
    pub allowed: bool,
    /// The visit window booked now, if any.
    pub window: Option<CustomerSlot>,
    /// Offered windows, soonest first; empty when not allowed.
    pub slots: Vec<CustomerSlot>,
    /// The service company's time zone, in which the times are meant.
    pub time_zone: String,
}

/// Slots and booking for one ticket, over the store.
#[derive(Debug, Clone, Copy)]
pub struct CustomerScheduling<'a> {
    pub store: &'a dyn Store,
    pub travel: TravelModel,
    /// The OSRM-compatible road network, when configured.
    pub roads: Option<&'a RoadNetwork>,
}

/// A time can be chosen before the technician sets off.
fn choosable(ticket: &Ticket) -> bool {
    matches!(
        ticket.status,
        Status::New | Status::Assigned | Status::Accepted
    )
}

impl CustomerScheduling<'_> {
    async fn job(&self, ticket: &Ticket) -> Result<(SlotJob, u32), StoreError> {
        let site = self
            .store
            .get_site(ticket.tenant_id, ticket.site_id)
            .await?;
        let duration = match self
            .store
            .ticket_window(ticket.tenant_id, ticket.id)
            .await?
        {
            Some(window) => window.duration_minutes,
            None => self
                .store
                .category_duration(ticket.tenant_id, &ticket.category)
                .await?
                .unwrap_or(DEFAULT_DURATION_MINUTES),
        };
        Ok((
            SlotJob {
                ticket_id: Some(ticket.id),
                site: site.location,
                duration: Duration::minutes(i64::from(duration)),
                required_skills: ticket.required_skills.clone(),
            },
            duration,
        ))
    }

    /// Offered windows: a ticket already assigned is offered its
    /// technician's free windows only; each window at most once.
    async fn offered(
        &self,
        ticket: &Ticket,
        job: &SlotJob,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(CustomerSlot, Uuid)>, StoreError> {
        let finder = SlotFinder {
            store: self.store,
            travel: self.travel,
            roads: self.roads,
        };
        let grid = SlotGrid {
            from: now,
            days: CUSTOMER_DAYS,
            length: Duration::minutes(CUSTOMER_WINDOW_MINUTES.max(job.duration.num_minutes())),
            limit: usize::MAX,
        };
        let (mut slots, _) = finder
            .slots(ticket.tenant_id, job, &grid, ticket.assignee_id)
            .await?;
        // Best technician first for each window, then the windows by time.
        slots.sort_by(|a, b| {
            a.starts_at
                .cmp(&b.starts_at)
                .then(a.added_travel_minutes.total_cmp(&b.added_travel_minutes))
        });
        let mut offered: Vec<(CustomerSlot, Uuid)> = Vec::new();
        for slot in slots {
            if offered
                .last()
                .is_some_and(|(last, _)| last.starts_at == slot.starts_at)
            {
                continue;
            }
            offered.push((
                CustomerSlot {
                    starts_at: slot.starts_at,
                    ends_at: slot.ends_at,
                },
                slot.technician_id,
            ));
            if offered.len() == limit {
                break;
            }
        }
        Ok(offered)
    }

    /// The page's view: whether a time may be picked, the booked window, the offers.
    pub async fn view(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<CustomerSlots, CustomerSlotError> {
        let settings = self.store.tenant_settings(tenant_id).await?;
        let ticket = self.store.get_ticket(tenant_id, ticket_id).await?;
        let window = self
            .store
            .ticket_window(tenant_id, ticket_id)
            .await?
            .map(|w| CustomerSlot {
                starts_at: w.starts_at,
                ends_at: w.ends_at,
            });
        let allowed = settings.customer_slot_choice && choosable(&ticket);
        let slots = if allowed {
            let (job, _) = self.job(&ticket).await?;
            self.offered(&ticket, &job, now, CUSTOMER_SLOTS)
                .await?
                .into_iter()
                .map(|(slot, _)| slot)
                .collect()
        } else {
            Vec::new()
        };
        Ok(CustomerSlots {
            allowed,
            window,
            slots,
            time_zone: settings.time_zone,
        })
    }

    /// Books `[starts_at, ends_at)` for the ticket when it is still offered,
    /// with the technician who adds the least driving; the customer (`customer_id`)
    /// is the audited actor and is told through the notification outbox.
    pub async fn book(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        customer_id: Uuid,
        choice: &CustomerSlot,
        now: DateTime<Utc>,
    ) -> Result<AppointmentWindow, CustomerSlotError> {
        let settings = self.store.tenant_settings(tenant_id).await?;
        if !settings.customer_slot_choice {
            return Err(CustomerSlotError::NotAllowed);
        }
        let ticket = self.store.get_ticket(tenant_id, ticket_id).await?;
        if !choosable(&ticket) {
            return Err(CustomerSlotError::NotNow(
                "the technician is already on the way or the visit is over",
            ));
        }
        let (job, duration) = self.job(&ticket).await?;
        WindowRequest {
            starts_at: choice.starts_at,
            ends_at: choice.ends_at,
            duration_minutes: Some(duration),
            technician_id: None,
        }
        .validate(now)?;
        let technician_id = self
            .offered(&ticket, &job, now, usize::MAX)
            .await?
            .into_iter()
            .find(|(slot, _)| slot == choice)
            .map(|(_, technician)| technician)
            .ok_or(CustomerSlotError::Taken)?;
        let set = WindowSet {
            starts_at: choice.starts_at,
            ends_at: choice.ends_at,
            duration_minutes: duration,
            technician_id: Some(technician_id),
            source: WindowSource::Slot,
            notice_text: window_text(&settings.time_zone, choice.starts_at, choice.ends_at),
        };
        let actor = Actor {
            tenant_id,
            user_id: Some(customer_id),
        };
        Ok(self.store.set_ticket_window(actor, ticket_id, &set).await?)
    }
}
