//! Office corrections of a work record: a dispatcher or manager fixes what
//! the technician recorded (a part's quantity, a wrong part, a note line, a
//! time entry, a checklist tick). The corrections are written into the
//! ticket's document as a fresh server actor, so the phone merges them on
//! its next sync and the technician's original stays in the document's
//! history; the audit entry names the office user and lists each operation
//! with the value it replaced.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use truckroll_sync::{DocError, NewPart, TicketDoc, TimeEntryKind};
use utoipa::ToSchema;

use crate::device_sync::WorkEdit;
use crate::domain::ValidationErrors;
use crate::domain::ticket::Ticket;
use crate::store::{Actor, Store, StoreError};

/// The audit action of a correction (the timeline lists it).
pub const AUDIT_ACTION: &str = "ticket.work_correct";

/// Operations in one request, at most.
const MAX_OPERATIONS: usize = 100;
/// Characters of a note line, a part number or a checklist label, at most.
const MAX_TEXT: usize = 2000;

/// A batch of corrections, applied together or not at all.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Corrections {
    /// The work record's `version` the corrections were made on; a record
    /// changed since answers 409.
    pub version: i64,
    /// Why (kept in the audit log and the timeline).
    #[serde(default)]
    pub reason: Option<String>,
    pub operations: Vec<Correction>,
}

/// One correction.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Correction {
    /// Fix a part's quantity.
    SetPartQuantity { part_id: String, quantity: f64 },
    /// Remove a part entry.
    RemovePart { part_id: String },
    /// Replace a part entry by another part.
    ReplacePart {
        part_id: String,
        part_number: String,
        quantity: f64,
        #[serde(default)]
        serial: Option<String>,
    },
    /// Add a part the technician forgot.
    AddPart {
        part_number: String,
        quantity: f64,
        #[serde(default)]
        serial: Option<String>,
    },
    /// Add a line to the work notes.
    AppendNote { text: String },
    /// Replace the work notes (an edit of their text).
    SetNotes { text: String },
    /// Fix a time entry's start and end (`ended_at` absent: still running).
    SetTimeEntry {
        entry_id: String,
        started_at: DateTime<Utc>,
        #[serde(default)]
        ended_at: Option<DateTime<Utc>>,
    },
    /// Add a time entry.
    AddTimeEntry {
        #[schema(value_type = String, example = "work")]
        kind: TimeEntryKind,
        started_at: DateTime<Utc>,
        #[serde(default)]
        ended_at: Option<DateTime<Utc>>,
    },
    /// Tick or untick a checklist item.
    SetChecklistDone { item_id: String, done: bool },
    /// Add a checklist item.
    AddChecklistItem { label: String },
}

impl Correction {
    fn name(&self) -> &'static str {
        match self {
            Self::SetPartQuantity { .. } => "set_part_quantity",
            Self::RemovePart { .. } => "remove_part",
            Self::ReplacePart { .. } => "replace_part",
            Self::AddPart { .. } => "add_part",
            Self::AppendNote { .. } => "append_note",
            Self::SetNotes { .. } => "set_notes",
            Self::SetTimeEntry { .. } => "set_time_entry",
            Self::AddTimeEntry { .. } => "add_time_entry",
            Self::SetChecklistDone { .. } => "set_checklist_done",
            Self::AddChecklistItem { .. } => "add_checklist_item",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The record changed since the version the office read.
    #[error("the work record changed since version {read} (now {current}); read it again")]
    Stale { read: i64, current: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_text(errors: &mut ValidationErrors, field: String, value: &str, required: bool) {
    if required && value.trim().is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > MAX_TEXT {
        errors.add(field, format!("must be at most {MAX_TEXT} characters"));
    }
}

fn check_quantity(errors: &mut ValidationErrors, field: String, quantity: f64) {
    if !(quantity.is_finite() && quantity > 0.0) {
        errors.add(field, "must be a positive number");
    }
}

fn check_span(
    errors: &mut ValidationErrors,
    field: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
) {
    if ended_at.is_some_and(|end| end < started_at) {
        errors.add(field, "ended_at is before started_at");
    }
}

/// Checks the request's shape before anything is read.
pub fn validate(request: &Corrections) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if request.operations.is_empty() {
        errors.add("operations", "must not be empty");
    }
    if request.operations.len() > MAX_OPERATIONS {
        errors.add(
            "operations",
            format!("at most {MAX_OPERATIONS} operations per request"),
        );
    }
    if let Some(reason) = &request.reason {
        check_text(&mut errors, "reason".into(), reason, false);
    }
    for (i, op) in request.operations.iter().enumerate() {
        let at = |f: &str| format!("operations[{i}].{f}");
        match op {
            Correction::SetPartQuantity { quantity, .. } => {
                check_quantity(&mut errors, at("quantity"), *quantity);
            }
            Correction::ReplacePart {
                part_number,
                quantity,
                serial,
                ..
            }
            | Correction::AddPart {
                part_number,
                quantity,
                serial,
            } => {
                check_text(&mut errors, at("part_number"), part_number, true);
                check_quantity(&mut errors, at("quantity"), *quantity);
                if let Some(serial) = serial {
                    check_text(&mut errors, at("serial"), serial, false);
                }
            }
            Correction::AppendNote { text } => check_text(&mut errors, at("text"), text, true),
            Correction::SetNotes { text } => {
                if text.chars().count() > 100 * MAX_TEXT {
                    errors.add(at("text"), "too long");
                }
            }
            Correction::SetTimeEntry {
                started_at,
                ended_at,
                ..
            }
            | Correction::AddTimeEntry {
                started_at,
                ended_at,
                ..
            } => check_span(&mut errors, at("ended_at"), *started_at, *ended_at),
            Correction::AddChecklistItem { label } => {
                check_text(&mut errors, at("label"), label, true);
            }
            Correction::RemovePart { .. } | Correction::SetChecklistDone { .. } => {}
        }
    }
    errors.into_result()
}

/// An id the operation names that the record does not hold.
fn unknown(field: String, what: &str, id: &str) -> ValidationErrors {
    ValidationErrors::single(
        field,
        format!("no {what} with id `{id}` in the work record"),
    )
}

fn doc_error(field: String, error: DocError) -> CorrectionError {
    match error {
        DocError::Invalid { why, .. } => ValidationErrors::single(field, why).into(),
        DocError::NotFound { id, .. } => {
            ValidationErrors::single(field, format!("no item `{id}`")).into()
        }
        other => StoreError::Corrupt(format!("ticket document: {other}")).into(),
    }
}

/// Applies operation `i` to `doc`; returns what it replaced, for the audit.
fn apply(
    doc: &mut TicketDoc,
    by: &str,
    i: usize,
    op: &Correction,
) -> Result<Value, CorrectionError> {
    let at = |f: &str| format!("operations[{i}].{f}");
    let now = Utc::now().timestamp_millis();
    let part = |doc: &TicketDoc, id: &str| {
        doc.parts()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| unknown(at("part_id"), "part", id))
    };
    Ok(match op {
        Correction::SetPartQuantity { part_id, quantity } => {
            let was = part(doc, part_id)?;
            doc.set_part_quantity(part_id, *quantity)
                .map_err(|e| doc_error(at("quantity"), e))?;
            json!({"part_number": was.part_number, "quantity": was.quantity})
        }
        Correction::RemovePart { part_id } => {
            let was = part(doc, part_id)?;
            doc.remove_part(part_id)
                .map_err(|e| doc_error(at("part_id"), e))?;
            json!({"part_number": was.part_number, "quantity": was.quantity, "serial": was.serial})
        }
        Correction::ReplacePart {
            part_id,
            part_number,
            quantity,
            serial,
        } => {
            let was = part(doc, part_id)?;
            doc.remove_part(part_id)
                .map_err(|e| doc_error(at("part_id"), e))?;
            let id = doc
                .add_part(&NewPart {
                    part_number: part_number.clone(),
                    quantity: *quantity,
                    serial: serial.clone(),
                })
                .map_err(|e| doc_error(at("part_number"), e))?;
            json!({"part_number": was.part_number, "quantity": was.quantity, "serial": was.serial, "new_part_id": id})
        }
        Correction::AddPart {
            part_number,
            quantity,
            serial,
        } => {
            let id = doc
                .add_part(&NewPart {
                    part_number: part_number.clone(),
                    quantity: *quantity,
                    serial: serial.clone(),
                })
                .map_err(|e| doc_error(at("part_number"), e))?;
            json!({"new_part_id": id})
        }
        Correction::AppendNote { text } => {
            let notes = doc.notes();
            let line = if notes.is_empty() || notes.ends_with('\n') {
                text.clone()
            } else {
                format!("\n{text}")
            };
            doc.notes_append(&line)
                .map_err(|e| doc_error(at("text"), e))?;
            Value::Null
        }
        Correction::SetNotes { text } => {
            let was = doc.notes();
            doc.set_notes(text).map_err(|e| doc_error(at("text"), e))?;
            json!({"notes": was})
        }
        Correction::SetTimeEntry {
            entry_id,
            started_at,
            ended_at,
        } => {
            let was = doc
                .time_entries()
                .into_iter()
                .find(|e| e.id == *entry_id)
                .ok_or_else(|| unknown(at("entry_id"), "time entry", entry_id))?;
            doc.set_time_entry_span(
                entry_id,
                started_at.timestamp_millis(),
                ended_at.map(|e| e.timestamp_millis()),
            )
            .map_err(|e| doc_error(at("ended_at"), e))?;
            json!({"kind": was.kind, "started_at": super::at(was.started_at), "ended_at": was.ended_at.map(super::at)})
        }
        Correction::AddTimeEntry {
            kind,
            started_at,
            ended_at,
        } => {
            let id = doc
                .add_time_entry(
                    *kind,
                    started_at.timestamp_millis(),
                    ended_at.map(|e| e.timestamp_millis()),
                )
                .map_err(|e| doc_error(at("ended_at"), e))?;
            json!({"new_entry_id": id})
        }
        Correction::SetChecklistDone { item_id, done } => {
            let was = doc
                .checklist()
                .into_iter()
                .find(|c| c.id == *item_id)
                .ok_or_else(|| unknown(at("item_id"), "checklist item", item_id))?;
            doc.set_checklist_done(item_id, *done, by, now)
                .map_err(|e| doc_error(at("item_id"), e))?;
            json!({"label": was.label, "done": was.done})
        }
        Correction::AddChecklistItem { label } => {
            let id = doc
                .add_checklist_item(label)
                .map_err(|e| doc_error(at("label"), e))?;
            json!({"new_item_id": id})
        }
    })
}

/// Applies `request` to `ticket`'s work record as `actor` (an office user)
/// and stores it with its audit entry; returns the record's new version.
pub async fn correct(
    store: &dyn Store,
    actor: Actor,
    ticket: &Ticket,
    request: &Corrections,
) -> Result<i64, CorrectionError> {
    validate(request)?;
    // A ticket without a document has version 0: nothing was recorded.
    let current = store
        .load_document(ticket.tenant_id, ticket.id)
        .await?
        .map_or(0, |d| d.version);
    if current != request.version {
        return Err(CorrectionError::Stale {
            read: request.version,
            current,
        });
    }
    let mut edit = WorkEdit::load(store, actor, ticket).await?;
    if current != 0 && edit.version() != current {
        return Err(CorrectionError::Stale {
            read: request.version,
            current: edit.version(),
        });
    }
    let by = edit.actor_hex();
    let mut applied = Vec::with_capacity(request.operations.len());
    for (i, op) in request.operations.iter().enumerate() {
        let replaced = apply(&mut edit.doc, &by, i, op)?;
        let mut line = serde_json::to_value(op).unwrap_or(Value::Null);
        if let Some(map) = line.as_object_mut() {
            map.insert("was".into(), replaced);
        }
        applied.push(line);
    }
    let summary: Vec<&str> = request.operations.iter().map(Correction::name).collect();
    let detail = json!({
        "operations": applied,
        "summary": summary,
        "reason": request.reason,
        "server_actor": by,
        "version_read": request.version,
    });
    match edit
        .write(store, actor, ticket.id, AUDIT_ACTION, detail)
        .await
    {
        Ok(version) => Ok(version),
        Err(StoreError::Conflict(_)) => {
            let now = store
                .load_document(ticket.tenant_id, ticket.id)
                .await?
                .map_or(0, |d| d.version);
            Err(CorrectionError::Stale {
                read: request.version,
                current: now,
            })
        }
        Err(e) => Err(e.into()),
    }
}
