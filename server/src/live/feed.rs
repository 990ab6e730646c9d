//! What the map shows: a viewer's snapshot, and every bus event rendered
//! into the hub's changes.
//!
//! Records are rendered from the dispatch index (technicians, with their
//! live position and load), the store (tickets, with their SLA state) and
//! the [`LiveDirectory`] (names and site positions).

use std::{collections::HashSet, sync::Arc};

use chrono::Utc;
use truckroll_sync::Status;
use uuid::Uuid;

use super::{
    LiveDirectory, LiveHub,
    hub::{Bounds, LiveOffer, LiveSlaNotice, LiveTechnician, LiveTicket, LiveTotals},
};
use crate::{
    dispatch::{TechnicianEntry, service::DispatchService},
    domain::{geo::GeoPoint, people::TechnicianStatus, shifts::is_on_shift, ticket::Ticket},
    events::{BusMessage, Delivery, EventBus, EventKind},
    store::{PageRequest, Store, StoreError, TicketFilter},
};

/// The handles the map's records are read through.
#[derive(Debug, Clone, Copy)]
pub struct Feed<'a> {
    pub store: &'a dyn Store,
    pub dispatch: &'a DispatchService,
    pub directory: &'a LiveDirectory,
}

/// Runs for the life of the server: applies other replicas' events to the
/// dispatch index and hands every event to this replica's viewers.
pub async fn follow(
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    dispatch: Arc<DispatchService>,
    hub: Arc<LiveHub>,
    directory: Arc<LiveDirectory>,
) {
    let feed = Feed {
        store: store.as_ref(),
        dispatch: &dispatch,
        directory: &directory,
    };
    let mut events = bus.subscribe();
    let own = bus.replica_id();
    while let Some(message) = events.recv().await {
        let delivery = match message {
            BusMessage::Resync => {
                hub.resync_all(&|tenant_id| positions_now(&dispatch, tenant_id));
                continue;
            }
            BusMessage::Event(delivery) => delivery,
        };
        // This replica's own writes updated the index when they were made.
        if delivery.origin != own
            && let Err(error) = dispatch.apply(store.as_ref(), &delivery.event).await
        {
            tracing::warn!(%error, "cannot apply another replica's event");
        }
        if !hub.watched(delivery.event.tenant_id) {
            continue;
        }
        if let Err(error) = feed.fan_out(&hub, &delivery).await {
            tracing::warn!(%error, "cannot show an event on the live map");
        }
    }
}

/// Where the index has a tenant's technicians now.
pub fn positions_now(dispatch: &DispatchService, tenant_id: Uuid) -> Vec<(Uuid, GeoPoint)> {
    dispatch
        .index()
        .tenant_entries(tenant_id)
        .iter()
        .filter_map(|entry| Some((entry.id, entry.position?.point)))
        .collect()
}

/// What the map says a technician is doing: the availability the phone set
/// (on a break, off duty), off duty outside every shift, busy with open
/// jobs, else available. (`on_site` is the page's: it sees the tickets.)
fn shown_status(entry: &TechnicianEntry, now: chrono::DateTime<Utc>) -> &'static str {
    match entry.status {
        TechnicianStatus::OnBreak => "on_break",
        TechnicianStatus::OffDuty => "off_duty",
        _ if !is_on_shift(&entry.shifts, &entry.time_zone, now) => "off_duty",
        TechnicianStatus::Busy => "busy",
        _ if entry.load > 0 => "busy",
        TechnicianStatus::Available => "available",
    }
}

fn live_technician(entry: &TechnicianEntry, name: Option<String>) -> Option<LiveTechnician> {
    let position = entry.position?;
    Some(LiveTechnician {
        id: entry.id,
        name,
        status: shown_status(entry, Utc::now()).to_owned(),
        lat: position.point.lat,
        lon: position.point.lon,
        at: (position.at != chrono::DateTime::<Utc>::MIN_UTC).then_some(position.at),
        load: entry.load,
        capacity: entry.capacity,
    })
}

impl Feed<'_> {
    /// Technicians and open tickets inside `bounds`, at most `max_tickets`
    /// open tickets read.
    pub async fn snapshot(
        &self,
        tenant_id: Uuid,
        bounds: Bounds,
        max_tickets: usize,
    ) -> Result<(Vec<LiveTechnician>, Vec<LiveTicket>, LiveTotals), StoreError> {
        // Through the tenant's R-tree: a small view of a large fleet reads only
        // the technicians in it.
        let entries = self.dispatch.index().in_box(
            tenant_id,
            bounds.south,
            bounds.west,
            bounds.north,
            bounds.east,
        );
        self.directory
            .load_names_if(self.store, tenant_id, |directory| {
                entries.iter().any(|e| directory.name(e.id).is_none())
            })
            .await?;
        let mut technicians: Vec<LiveTechnician> = entries
            .iter()
            .filter_map(|entry| live_technician(entry, self.directory.name(entry.id)))
            .filter(|t| {
                bounds.contains(GeoPoint {
                    lat: t.lat,
                    lon: t.lon,
                })
            })
            .collect();
        technicians.sort_by_key(|t| t.id);

        let mut open = Vec::new();
        let mut capped = false;
        'statuses: for status in Status::ALL.into_iter().filter(|s| !s.is_terminal()) {
            let filter = TicketFilter {
                status: Some(status),
                ..TicketFilter::default()
            };
            let mut page = PageRequest {
                limit: 200,
                after: None,
            };
            loop {
                let tickets = self.store.list_tickets(tenant_id, &filter, page).await?;
                open.extend(tickets.items);
                if open.len() >= max_tickets {
                    capped = open.len() > max_tickets || tickets.next_after.is_some();
                    open.truncate(max_tickets);
                    break 'statuses;
                }
                match tickets.next_after {
                    Some(after) => page.after = Some(after),
                    None => break,
                }
            }
        }
        // The whole tenant, whatever the view: the header's counts.
        let totals = LiveTotals {
            technicians: self
                .dispatch
                .index()
                .tenant_entries(tenant_id)
                .iter()
                .filter(|e| e.position.is_some())
                .count(),
            open_tickets: open.len(),
            open_tickets_capped: capped,
        };
        let tickets = self
            .live_tickets(tenant_id, open)
            .await?
            .into_iter()
            .filter(|t| {
                bounds.contains(GeoPoint {
                    lat: t.lat,
                    lon: t.lon,
                })
            })
            .collect();
        Ok((technicians, tickets, totals))
    }

    /// Tickets with their SLA state and site position, for the map.
    async fn live_tickets(
        &self,
        tenant_id: Uuid,
        tickets: Vec<Ticket>,
    ) -> Result<Vec<LiveTicket>, StoreError> {
        let missing: HashSet<Uuid> = tickets
            .iter()
            .map(|t| t.site_id)
            .filter(|site| self.directory.site(*site).is_none())
            .collect();
        // Many unknown sites: one listing costs less than a read each.
        if missing.len() > 20 {
            self.directory.load_sites(self.store, tenant_id).await?;
        }
        let slas = crate::sla::view::evaluate(self.store, tenant_id, &tickets, Utc::now()).await?;
        let mut live = Vec::with_capacity(tickets.len());
        for (ticket, sla) in tickets.into_iter().zip(slas) {
            let point = self
                .directory
                .site_point(self.store, tenant_id, ticket.site_id)
                .await?;
            live.push(LiveTicket {
                id: ticket.id,
                number: ticket.number,
                title: ticket.title,
                category: ticket.category,
                priority: ticket.priority.as_str().to_owned(),
                status: ticket.status.as_str().to_owned(),
                assignee_id: ticket.assignee_id,
                lat: point.lat,
                lon: point.lon,
                created_at: ticket.created_at,
                updated_at: ticket.updated_at,
                sla: sla.and_then(|sla| serde_json::to_value(sla).ok()),
                closed: ticket.status.is_terminal(),
            });
        }
        Ok(live)
    }

    fn technicians_now(&self, tenant_id: Uuid, ids: &[Uuid]) -> Vec<LiveTechnician> {
        ids.iter()
            .filter_map(|id| self.dispatch.index().get(*id))
            // Never another tenant's technician, whatever an event claims.
            .filter(|entry| entry.tenant_id == tenant_id)
            .filter_map(|entry| live_technician(&entry, self.directory.name(entry.id)))
            .collect()
    }

    /// Hands one event to the tenant's viewers, as the records it changed.
    async fn fan_out(&self, hub: &LiveHub, delivery: &Delivery) -> Result<(), StoreError> {
        let event = &delivery.event;
        let tenant_id = event.tenant_id;
        let stamp = delivery.stamp();
        match &event.kind {
            EventKind::Positions { fixes } => {
                let ids: Vec<Uuid> = fixes.iter().map(|f| f.technician_id).collect();
                hub.technicians(tenant_id, stamp, self.technicians_now(tenant_id, &ids));
            }
            EventKind::TechnicianChanged { technician_id, .. } => {
                if let Ok(technician) = self.store.get_technician(tenant_id, *technician_id).await {
                    self.directory.set_name(technician.id, technician.name);
                }
                hub.technicians(
                    tenant_id,
                    stamp,
                    self.technicians_now(tenant_id, &[*technician_id]),
                );
            }
            EventKind::TicketCreated { ticket_id }
            | EventKind::TicketUpdated { ticket_id }
            | EventKind::TicketStatus { ticket_id, .. }
            | EventKind::TicketAssigned { ticket_id, .. } => {
                let ticket = match self.store.get_ticket(tenant_id, *ticket_id).await {
                    Ok(ticket) => ticket,
                    Err(StoreError::NotFound(_)) => return Ok(()),
                    Err(other) => return Err(other),
                };
                let mut loads: Vec<Uuid> = ticket.assignee_id.into_iter().collect();
                if let EventKind::TicketAssigned {
                    previous: Some(previous),
                    ..
                } = &event.kind
                {
                    loads.push(*previous);
                }
                for live in self.live_tickets(tenant_id, vec![ticket]).await? {
                    hub.ticket(tenant_id, stamp, live);
                }
                // Their open-job counts changed.
                hub.technicians(tenant_id, stamp, self.technicians_now(tenant_id, &loads));
            }
            EventKind::Offer {
                offer_id,
                ticket_id,
                technician_id,
                state: offer_state,
            } => hub.offer(
                tenant_id,
                stamp,
                LiveOffer {
                    offer_id: *offer_id,
                    ticket_id: *ticket_id,
                    technician_id: *technician_id,
                    state: offer_state.as_str().to_owned(),
                },
            ),
            EventKind::SlaNotice {
                ticket_id,
                target,
                kind,
                threshold,
                due_at,
            } => {
                // The ticket as it is now: its SLA state, maybe a raised priority.
                match self.store.get_ticket(tenant_id, *ticket_id).await {
                    Ok(ticket) => {
                        for live in self.live_tickets(tenant_id, vec![ticket]).await? {
                            hub.ticket(tenant_id, stamp, live);
                        }
                    }
                    Err(StoreError::NotFound(_)) => return Ok(()),
                    Err(other) => return Err(other),
                }
                hub.sla_notice(
                    tenant_id,
                    stamp,
                    LiveSlaNotice {
                        ticket_id: *ticket_id,
                        target: target.as_str().to_owned(),
                        kind: kind.as_str().to_owned(),
                        threshold: *threshold,
                        due_at: *due_at,
                    },
                );
            }
        }
        Ok(())
    }
}
