//! Parts and time across the tickets whose work was completed in a period,
//! for invoicing in another system: JSON lines or CSV.

use chrono::{DateTime, Utc};
use serde::Serialize;
use truckroll_sync::TimeEntryKind;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{at, seconds_of};
use crate::domain::ValidationErrors;
use crate::domain::csv::field;
use crate::store::{PageRequest, Store, StoreError, TicketFilter};

/// The longest period one export covers.
pub const MAX_PERIOD_DAYS: i64 = 366;

const PAGE: u32 = 200;

/// A part used on a ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartExportLine {
    pub ticket_id: Uuid,
    #[schema(example = "TR-000123")]
    pub ticket_number: String,
    pub site_id: Uuid,
    pub completed_at: DateTime<Utc>,
    pub part_number: String,
    pub quantity: f64,
    pub serial: Option<String>,
}

/// A finished time entry on a ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeExportLine {
    pub ticket_id: Uuid,
    #[schema(example = "TR-000123")]
    pub ticket_number: String,
    pub site_id: Uuid,
    pub completed_at: DateTime<Utc>,
    #[schema(value_type = String, example = "work")]
    pub kind: TimeEntryKind,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub seconds: i64,
}

/// Everything exported for one period.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct WorkExport {
    /// Tickets whose work was completed in the period.
    pub tickets: usize,
    pub parts: Vec<PartExportLine>,
    pub time: Vec<TimeExportLine>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parts and time of the tenant's tickets completed in `[from, to)`, in
/// ticket id order. Time entries still running are left out (nothing to
/// bill yet).
pub async fn export(
    store: &dyn Store,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<WorkExport, ExportError> {
    if to <= from {
        return Err(ValidationErrors::single("to", "must be after `from`").into());
    }
    if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(ValidationErrors::single(
            "to",
            format!("a period covers at most {MAX_PERIOD_DAYS} days"),
        )
        .into());
    }
    let filter = TicketFilter {
        completed_from: Some(from),
        completed_to: Some(to),
        ..TicketFilter::default()
    };
    let mut out = WorkExport::default();
    let mut after = None;
    loop {
        let page = store
            .list_tickets(tenant_id, &filter, PageRequest { limit: PAGE, after })
            .await?;
        for ticket in &page.items {
            let Some(loaded) = crate::device_sync::load(store, tenant_id, ticket.id).await? else {
                continue;
            };
            out.tickets += 1;
            let completed_at = loaded.doc.status().completed_at.map_or(from, at);
            for part in loaded.doc.parts() {
                out.parts.push(PartExportLine {
                    ticket_id: ticket.id,
                    ticket_number: ticket.number.clone(),
                    site_id: ticket.site_id,
                    completed_at,
                    part_number: part.part_number,
                    quantity: part.quantity,
                    serial: part.serial,
                });
            }
            for entry in loaded.doc.time_entries() {
                let Some(ended_at) = entry.ended_at else {
                    continue;
                };
                out.time.push(TimeExportLine {
                    ticket_id: ticket.id,
                    ticket_number: ticket.number.clone(),
                    site_id: ticket.site_id,
                    completed_at,
                    kind: entry.kind,
                    started_at: at(entry.started_at),
                    ended_at: at(ended_at),
                    seconds: seconds_of(&entry, ended_at),
                });
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// The parts as CSV, one line per part, with a header.
pub fn parts_csv(lines: &[PartExportLine]) -> String {
    let mut out = String::from(
        "ticket_id,ticket_number,site_id,completed_at,part_number,quantity,serial\r\n",
    );
    for l in lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            l.ticket_id,
            field(&l.ticket_number),
            l.site_id,
            l.completed_at.to_rfc3339(),
            field(&l.part_number),
            l.quantity,
            field(l.serial.as_deref().unwrap_or_default()),
        ));
    }
    out
}

/// The time entries as CSV, one line per entry, with a header.
pub fn time_csv(lines: &[TimeExportLine]) -> String {
    let mut out = String::from(
        "ticket_id,ticket_number,site_id,completed_at,kind,started_at,ended_at,seconds\r\n",
    );
    for l in lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            l.ticket_id,
            field(&l.ticket_number),
            l.site_id,
            l.completed_at.to_rfc3339(),
            l.kind.as_str(),
            l.started_at.to_rfc3339(),
            l.ended_at.to_rfc3339(),
            l.seconds,
        ));
    }
    out
}
