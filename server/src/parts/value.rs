//! The priced job: the parts a work record lists × their catalogue price,
//! plus its billable time × the labour rate (technician, else category,
//! else the tenant's default), for the work record, the service report and
//! the invoicing export.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{PartsError, PartsResult};
use crate::domain::ValidationErrors;
use crate::domain::csv::field;
use crate::domain::parts::{labour_cents, line_cents, rate_for, to_milli};
use crate::domain::ticket::Ticket;
use crate::domain::validation::without_nul;
use crate::store::{PageRequest, Store, TicketFilter};
use crate::work::WorkRecord;

/// One part entry, priced.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PricedPart {
    /// The entry's id in the ticket's document.
    pub entry_id: String,
    pub part_number: String,
    /// The catalogue's name; absent for a number the catalogue lacks.
    pub name: Option<String>,
    pub quantity: f64,
    pub unit: Option<String>,
    pub unit_price_cents: Option<i64>,
    /// Absent for a number the catalogue lacks (priced by hand).
    pub cents: Option<i64>,
}

/// What the job is worth.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobValue {
    pub parts: Vec<PricedPart>,
    pub parts_cents: i64,
    /// Part entries whose number the catalogue lacks: not in the total.
    pub unpriced_parts: usize,
    /// Travel, work and waiting (breaks excluded).
    pub labour_seconds: i64,
    /// Absent when no labour rate is set.
    pub labour_rate_cents_per_hour: Option<i64>,
    pub labour_cents: i64,
    pub total_cents: i64,
}

/// The value of `record`, the work record of `ticket`.
pub async fn job_value(
    store: &dyn Store,
    ticket: &Ticket,
    record: &WorkRecord,
) -> PartsResult<JobValue> {
    // As the ledger stores them (`device_sync` projection): without NUL,
    // which PostgreSQL cannot even compare.
    let mut numbers: Vec<String> = record
        .parts
        .iter()
        .map(|p| without_nul(&p.part_number).into_owned())
        .collect();
    numbers.sort();
    numbers.dedup();
    let catalogue: HashMap<String, crate::domain::parts::Part> = store
        .parts_by_numbers(ticket.tenant_id, &numbers)
        .await?
        .into_iter()
        .map(|p| (p.number.clone(), p))
        .collect();
    let rates = store.labour_rates(ticket.tenant_id).await?;
    Ok(price(
        record,
        &catalogue,
        rate_for(&rates, &ticket.category, ticket.assignee_id),
    ))
}

/// What ticket `ticket_id` of `tenant_id` is worth now (its work record's
/// parts × catalogue prices plus billable time × the labour rate): the one
/// call for other modules, e.g. approval thresholds on the job's value.
/// `NotFound` for a ticket not in the tenant.
pub async fn ticket_value(
    store: &dyn Store,
    tenant_id: Uuid,
    ticket_id: Uuid,
) -> PartsResult<JobValue> {
    let ticket = store.get_ticket(tenant_id, ticket_id).await?;
    let work = crate::work::record(store, tenant_id, ticket.id, ticket.status, &[]).await?;
    job_value(store, &ticket, &work.record).await
}

fn price(
    record: &WorkRecord,
    catalogue: &HashMap<String, crate::domain::parts::Part>,
    rate: Option<i64>,
) -> JobValue {
    let parts: Vec<PricedPart> = record
        .parts
        .iter()
        .map(|line| {
            let part = catalogue.get(&*without_nul(&line.part_number));
            let milli = to_milli(line.quantity).unwrap_or(0);
            PricedPart {
                entry_id: line.id.clone(),
                part_number: line.part_number.clone(),
                name: part.map(|p| p.name.clone()),
                quantity: line.quantity,
                unit: part.map(|p| p.unit.clone()),
                unit_price_cents: part.map(|p| p.price_cents),
                cents: part.map(|p| line_cents(milli, p.price_cents)),
            }
        })
        .collect();
    let parts_cents = parts.iter().filter_map(|p| p.cents).sum();
    let unpriced_parts = parts.iter().filter(|p| p.cents.is_none()).count();
    let labour_seconds = record.time_totals.total_seconds;
    let labour = rate.map_or(0, |r| labour_cents(labour_seconds, r));
    JobValue {
        parts,
        parts_cents,
        unpriced_parts,
        labour_seconds,
        labour_rate_cents_per_hour: rate,
        labour_cents: labour,
        total_cents: parts_cents + labour,
    }
}

/// One ticket's value in the invoicing export.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobValueLine {
    pub ticket_id: Uuid,
    pub ticket_number: String,
    pub category: String,
    pub technician_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub value: JobValue,
}

const PAGE: u32 = 200;

/// The value of every ticket of the tenant completed in `[from, to)`, in
/// ticket id order.
pub async fn export(
    store: &dyn Store,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PartsResult<Vec<JobValueLine>> {
    if to <= from {
        return Err(ValidationErrors::single("to", "must be after `from`").into());
    }
    if to - from > chrono::Duration::days(crate::work::export::MAX_PERIOD_DAYS) {
        return Err(PartsError::Invalid(ValidationErrors::single(
            "to",
            format!(
                "a period covers at most {} days",
                crate::work::export::MAX_PERIOD_DAYS
            ),
        )));
    }
    let filter = TicketFilter {
        completed_from: Some(from),
        completed_to: Some(to),
        ..TicketFilter::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_tickets(tenant_id, &filter, PageRequest { limit: PAGE, after })
            .await?;
        for ticket in &page.items {
            let work = crate::work::record(store, tenant_id, ticket.id, ticket.status, &[]).await?;
            let completed_at = store
                .field_columns(tenant_id, ticket.id)
                .await?
                .completed_at;
            out.push(JobValueLine {
                ticket_id: ticket.id,
                ticket_number: ticket.number.clone(),
                category: ticket.category.clone(),
                technician_id: ticket.assignee_id,
                completed_at,
                value: job_value(store, ticket, &work.record).await?,
            });
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(out)
}

fn cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", value.abs() / 100, value.abs() % 100)
}

/// The export as CSV: one line per ticket, amounts in currency units.
pub fn export_csv(lines: &[JobValueLine]) -> String {
    let mut out = String::from(
        "ticket_number,ticket_id,category,technician_id,completed_at,parts,unpriced_parts,labour_hours,labour_rate,labour,total\r\n",
    );
    for line in lines {
        let v = &line.value;
        let row = [
            field(&line.ticket_number),
            line.ticket_id.to_string(),
            field(&line.category),
            line.technician_id
                .map(|t| t.to_string())
                .unwrap_or_default(),
            line.completed_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            cents(v.parts_cents),
            v.unpriced_parts.to_string(),
            format!("{:.2}", v.labour_seconds as f64 / 3600.0),
            v.labour_rate_cents_per_hour.map(cents).unwrap_or_default(),
            cents(v.labour_cents),
            cents(v.total_cents),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Money for people: `12.50`.
pub fn money(value: i64) -> String {
    cents(value)
}
