//! Keeps this replica's dispatch index in step with writes made through
//! other replicas, from their events.

use crate::{
    dispatch::{PositionFix, service::DispatchService},
    domain::geo::GeoPoint,
    store::{Store, StoreError},
};

use super::{Event, EventKind};

/// Applies an event published by another replica to the index. Applying one
/// twice is harmless: positions never move back in time and loads are
/// re-read from the database.
pub async fn apply_remote(
    store: &dyn Store,
    dispatch: &DispatchService,
    event: &Event,
) -> Result<(), StoreError> {
    match &event.kind {
        EventKind::Positions { fixes } => {
            for fix in fixes {
                let _ = dispatch.index().update_position(
                    event.tenant_id,
                    fix.technician_id,
                    PositionFix {
                        point: GeoPoint {
                            lat: fix.lat,
                            lon: fix.lon,
                        },
                        at: fix.at,
                    },
                );
            }
        }
        EventKind::TechnicianChanged { technician_id, .. } => {
            match store.get_technician(event.tenant_id, *technician_id).await {
                Ok(technician) => dispatch.technician_saved(&technician),
                Err(StoreError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        EventKind::TicketAssigned {
            technician_id,
            previous,
            ..
        } => {
            for technician in [technician_id, previous].into_iter().flatten() {
                let load = store.technician_load(event.tenant_id, *technician).await?;
                dispatch.load_changed(*technician, load);
            }
        }
        EventKind::TicketStatus { ticket_id, .. } => {
            // A closed ticket frees its technician's capacity.
            let ticket = store.get_ticket(event.tenant_id, *ticket_id).await?;
            if let Some(technician) = ticket.assignee_id {
                let load = store.technician_load(event.tenant_id, technician).await?;
                dispatch.load_changed(technician, load);
            }
        }
        EventKind::TicketCreated { .. }
        | EventKind::TicketUpdated { .. }
        | EventKind::Offer { .. }
        | EventKind::SlaNotice { .. } => {}
    }
    Ok(())
}
