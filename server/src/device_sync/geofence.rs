//! A check-in that arrives by sync, judged against the site's geofence like
//! one sent by `PATCH /v1/tickets/{id}` (`domain/checkin.rs`): the position
//! of the `check_in` event the merge newly applied, against the site's
//! coordinates and the configured radius.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use truckroll_sync::{StatusAction, TicketDoc};

use crate::domain::checkin::{CheckIn, CheckInPosition};
use crate::domain::ticket::Ticket;
use crate::store::{Store, StoreResult};

/// The radius when the session is not told the configured one
/// (`dispatch.checkin_radius_m`'s default).
pub const DEFAULT_CHECKIN_RADIUS_M: f64 = 150.0;

/// The `check_in` event `after`'s fold applies that `before`'s did not (the
/// newest, if several), with its position.
pub fn newly_applied_check_in(
    before: &TicketDoc,
    after: &TicketDoc,
) -> Option<Option<CheckInPosition>> {
    let known: BTreeSet<String> = before.status().applied.into_iter().collect();
    let applied = after.status().applied;
    let events = after.events();
    applied
        .iter()
        .rev()
        .filter(|id| !known.contains(*id))
        .find_map(|id| {
            events
                .iter()
                .find(|e| &e.id == id && e.kind == StatusAction::CheckIn)
        })
        .map(|event| {
            event.position.as_ref().map(|p| CheckInPosition {
                lat: p.lat,
                lon: p.lon,
                // A fix without an accuracy counts as exact.
                accuracy_m: p.accuracy_m.unwrap_or(0.0),
            })
        })
}

/// The verdict on a check-in this merge applied, if it applied one.
pub async fn judge_synced_check_in(
    store: &dyn Store,
    ticket: &Ticket,
    before: &TicketDoc,
    after: &TicketDoc,
    radius_m: f64,
    received: DateTime<Utc>,
) -> StoreResult<Option<CheckIn>> {
    let Some(position) = newly_applied_check_in(before, after) else {
        return Ok(None);
    };
    let site = store.get_site(ticket.tenant_id, ticket.site_id).await?;
    Ok(Some(CheckIn::evaluate(
        site.location,
        position.as_ref(),
        radius_m,
        received,
    )))
}
