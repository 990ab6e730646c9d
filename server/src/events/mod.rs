//! The `EventBus`: every state change, published after its write committed,
//! as a typed event that names its tenant.
//!
//! Two implementations behind one trait: [`memory::MemoryBus`] (one process,
//! the default) and [`postgres::PgBus`] (several replicas on one PostgreSQL,
//! over `LISTEN`/`NOTIFY`). Events carry ids, not records: a receiver reads
//! the record it needs from the shared database, so every notification stays
//! far below PostgreSQL's 8000-byte payload limit. Position fixes are the one
//! event with a body; they are batched per flush interval and split into
//! chunks that fit.
//!
//! Every kind of state change is here: tickets (created, updated, assigned,
//! status), technicians (record, positions), offers and SLA notices.
//!
//! Subscribers get every tenant's events and must route by
//! [`Event::tenant_id`]; [`TenantEvents`] does that for one tenant.

mod config;
pub mod memory;
pub mod postgres;

use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

pub use config::{EventsBackend, EventsConfig};

use crate::{
    domain::{offer::OfferState, people::TechnicianStatus, sla::SlaTarget, ticket::Ticket},
    store::sla_timers::NoticeKind,
};

/// One state change of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub tenant_id: Uuid,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What changed. Records are referenced by id (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    TicketCreated {
        ticket_id: Uuid,
    },
    /// Header fields changed (title, priority, site, …).
    TicketUpdated {
        ticket_id: Uuid,
    },
    /// The assignee changed; `previous` held it before.
    TicketAssigned {
        ticket_id: Uuid,
        technician_id: Option<Uuid>,
        previous: Option<Uuid>,
    },
    TicketStatus {
        ticket_id: Uuid,
        status: String,
        /// Who holds the ticket: a receiver updates that technician's load
        /// without reading the ticket.
        #[serde(default)]
        assignee_id: Option<Uuid>,
    },
    /// A technician's record (status, skills, shifts, capacity) changed.
    TechnicianChanged {
        technician_id: Uuid,
        status: TechnicianStatus,
    },
    /// New live positions, newest per technician.
    Positions {
        fixes: Vec<PositionEvent>,
    },
    Offer {
        offer_id: Uuid,
        ticket_id: Uuid,
        technician_id: Uuid,
        state: OfferState,
    },
    /// An SLA warning or breach fired; published after its notice (and the
    /// escalation's effects, e.g. a raised priority) committed.
    SlaNotice {
        ticket_id: Uuid,
        target: SlaTarget,
        kind: NoticeKind,
        /// Percent of the target used; 100 for a breach.
        threshold: u8,
        due_at: DateTime<Utc>,
    },
}

/// One technician's new live position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PositionEvent {
    pub technician_id: Uuid,
    pub lat: f64,
    pub lon: f64,
    /// Device time of the fix.
    pub at: DateTime<Utc>,
}

impl Event {
    pub fn new(tenant_id: Uuid, kind: EventKind) -> Self {
        Self { tenant_id, kind }
    }

    /// The event for a ticket write, from its state before (none when it was
    /// created) and after. `None` when nothing a viewer sees changed.
    pub fn for_ticket(before: Option<&Ticket>, after: &Ticket) -> Option<Self> {
        let ticket_id = after.id;
        let kind = match before {
            None => EventKind::TicketCreated { ticket_id },
            Some(before) if before.assignee_id != after.assignee_id => EventKind::TicketAssigned {
                ticket_id,
                technician_id: after.assignee_id,
                previous: before.assignee_id,
            },
            Some(before) if before.status != after.status => EventKind::TicketStatus {
                ticket_id,
                status: after.status.as_str().to_owned(),
                assignee_id: after.assignee_id,
            },
            Some(before) if before == after => return None,
            Some(_) => EventKind::TicketUpdated { ticket_id },
        };
        Some(Self::new(after.tenant_id, kind))
    }
}

/// An event as delivered: which replica published it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The publishing replica's id ([`EventBus::replica_id`]).
    pub origin: Uuid,
    /// The publishing replica's number for this event, counting from 1; 0
    /// when the publisher did not number it (a replica of an older release).
    /// With `origin` it names the event on every replica: a live-map viewer
    /// resumes from it on another replica.
    pub number: u64,
    pub event: Event,
}

impl Delivery {
    /// The event's name across replicas; `None` when it was not numbered.
    pub fn stamp(&self) -> Option<EventStamp> {
        (self.number > 0).then_some(EventStamp {
            origin: self.origin,
            number: self.number,
        })
    }
}

/// One published event, named the same on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventStamp {
    pub origin: Uuid,
    pub number: u64,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum BusMessage {
    Event(Arc<Delivery>),
    /// Events may have been lost (a lagging subscriber, a lost database
    /// connection): anything derived from them must be rebuilt.
    Resync,
}

/// Publishes events and hands out subscriptions.
pub trait EventBus: Send + Sync + fmt::Debug {
    /// This process's id, stamped on what it publishes.
    fn replica_id(&self) -> Uuid;
    /// Publishes after the write committed. Never blocks: a bus that cannot
    /// keep up drops and tells its subscribers to resync.
    fn publish(&self, event: Event);
    /// Every event from now on, every tenant's.
    fn subscribe(&self) -> Subscription;
}

/// A subscriber's end of the bus.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<BusMessage>,
}

impl Subscription {
    pub(crate) fn new(receiver: broadcast::Receiver<BusMessage>) -> Self {
        Self { receiver }
    }

    /// The next message; `None` when the bus is gone. A subscriber that fell
    /// behind the channel's capacity gets [`BusMessage::Resync`].
    pub async fn recv(&mut self) -> Option<BusMessage> {
        match self.receiver.recv().await {
            Ok(message) => Some(message),
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "event subscriber fell behind");
                Some(BusMessage::Resync)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// One tenant's events only.
#[derive(Debug)]
pub struct TenantEvents {
    tenant_id: Uuid,
    subscription: Subscription,
}

impl TenantEvents {
    pub fn new(bus: &dyn EventBus, tenant_id: Uuid) -> Self {
        Self {
            tenant_id,
            subscription: bus.subscribe(),
        }
    }

    pub async fn recv(&mut self) -> Option<BusMessage> {
        loop {
            match self.subscription.recv().await? {
                BusMessage::Event(delivery) if delivery.event.tenant_id != self.tenant_id => {}
                message => return Some(message),
            }
        }
    }
}

/// How many messages a subscriber may fall behind before it must resync.
pub(crate) const CHANNEL_CAPACITY: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("events.backend = \"postgres\" needs a PostgreSQL database_url")]
    NeedsPostgres,
    #[error("event bus: {0}")]
    Database(#[from] sqlx::Error),
}

/// The bus `config.backend` names, on the database at `database_url` for
/// the postgres backend.
pub async fn connect(
    config: &EventsConfig,
    database_url: &str,
) -> Result<Arc<dyn EventBus>, EventsError> {
    match config.backend {
        EventsBackend::Memory => Ok(Arc::new(memory::MemoryBus::new())),
        EventsBackend::Postgres => {
            if database_url.starts_with("sqlite:") {
                return Err(EventsError::NeedsPostgres);
            }
            Ok(Arc::new(
                postgres::PgBus::connect(database_url, config).await?,
            ))
        }
    }
}
