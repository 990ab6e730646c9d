//! What a merge from a device means for the ticket row: its custom fields
//! checked against the category's schema, plausible device times, the
//! status steps for the SLA history and the part entries as stored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use truckroll_sync::protocol::ErrorCode;
use truckroll_sync::{ActorId, CustomValue, Limits, Status, SyncState, TicketDoc};

use crate::domain::{custom_fields, ticket::Ticket};
use crate::store::documents::CustomFieldsDiff;
use crate::store::{Store, StoreResult};

/// When a field event can have happened: not before its ticket existed, not
/// after the server received it (each give or take
/// [`CLOCK_SKEW_TOLERANCE_MS`]). A device time outside is kept in the
/// document (never rewritten) but the projected columns use the nearest
/// bound, and the merge's audit entry flags the event.
#[derive(Debug, Clone, Copy)]
pub(super) struct PlausibleTimes {
    pub(super) earliest: i64,
    pub(super) latest: i64,
}

/// Phone clocks drift: a device time this close outside the window is taken
/// as it is, not flagged.
const CLOCK_SKEW_TOLERANCE_MS: i64 = 5 * 60 * 1000;

impl PlausibleTimes {
    /// `ms` if within the window (give or take the skew tolerance), else the
    /// nearest end of the window.
    pub(super) fn bound(self, ms: i64) -> i64 {
        if ms < self.earliest - CLOCK_SKEW_TOLERANCE_MS {
            self.earliest
        } else if ms > self.latest + CLOCK_SKEW_TOLERANCE_MS {
            self.latest
        } else {
            ms
        }
    }

    /// The events `after` has that `before` lacks whose device time is
    /// outside the window, as audit detail.
    pub(super) fn flag_new_events(
        self,
        before: &TicketDoc,
        after: &TicketDoc,
    ) -> Vec<serde_json::Value> {
        let known: BTreeSet<String> = before.events().into_iter().map(|e| e.id).collect();
        after
            .events()
            .into_iter()
            .filter(|e| !known.contains(&e.id))
            .filter_map(|e| {
                let why = if e.device_time > self.latest + CLOCK_SKEW_TOLERANCE_MS {
                    "after_receipt"
                } else if e.device_time < self.earliest - CLOCK_SKEW_TOLERANCE_MS {
                    "before_ticket"
                } else {
                    return None;
                };
                Some(serde_json::json!({
                    "event": e.id, "kind": e.kind.as_str(), "actor": e.actor,
                    "device_time": e.device_time, "bounded_to": self.bound(e.device_time), "why": why,
                }))
            })
            .collect()
    }
}

/// The status steps a merge makes, for the SLA status history: at each new
/// event (by `before`'s ids) where the fold of the events up to it differs
/// from the fold before it, that status at the event's device time (bounded
/// to the plausible window). Ends with the merged fold: when the last step
/// is not it, the fold at `received` follows.
pub(super) fn status_steps(
    before: &TicketDoc,
    after: &TicketDoc,
    window: PlausibleTimes,
    received: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Status, Option<truckroll_sync::HoldReason>)> {
    let known: BTreeSet<String> = before.events().into_iter().map(|e| e.id).collect();
    let events = after.events();
    let mut steps = Vec::new();
    if let Some(first) = events.iter().position(|e| !known.contains(&e.id)) {
        let mut previous = truckroll_sync::fold_status(&events[..first]);
        for i in first..events.len() {
            let folded = truckroll_sync::fold_status(&events[..=i]);
            let moved =
                (folded.status, folded.hold_reason) != (previous.status, previous.hold_reason);
            if moved
                && !known.contains(&events[i].id)
                && let Some(at) = ms_to_time(Some(window.bound(events[i].device_time)))
            {
                steps.push((at, folded.status, folded.hold_reason));
            }
            previous = folded;
        }
    }
    let last = truckroll_sync::fold_status(&events);
    let ends_there = steps
        .last()
        .is_some_and(|(_, status, reason)| (*status, *reason) == (last.status, last.hold_reason));
    if !ends_there {
        steps.push((received, last.status, last.hold_reason));
    }
    steps
}

pub(super) fn ms_to_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
}

/// Why a device's sync message was refused: the crate's checks, or a
/// custom field the ticket's category does not allow.
#[derive(Debug)]
pub(super) enum Refusal {
    Receive(truckroll_sync::ReceiveError),
    /// Names the document path (`/custom/…`) and what the schema says.
    CustomField(String),
    /// A custom field the category's schema marks `readOnly`: the office's.
    ReadOnlyField(String),
}

impl Refusal {
    pub(super) fn code(&self) -> ErrorCode {
        match self {
            Self::Receive(e) => e.code(),
            Self::CustomField(_) => ErrorCode::SchemaViolation,
            Self::ReadOnlyField(_) => ErrorCode::NotFieldEditable,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Receive(e) => e.fmt(f),
            Self::CustomField(why) => f.write_str(why),
            Self::ReadOnlyField(key) => write!(
                f,
                "/custom/{key}: read-only in the category's schema; a field device may not change it"
            ),
        }
    }
}

/// Receives a device's sync message into a copy of `before` through the
/// crate's field checks ([`TicketDoc::with_field_sync_message`]), then checks
/// the custom fields it changed against the JSON Schema of `ticket`'s
/// category (the validator REST uses): none is `readOnly` there, and the
/// row's fields with the merge's changes must not violate the schema
/// anywhere the row alone did not. Answers the merged document; on a
/// refusal `state` is to be discarded.
pub(super) async fn receive(
    store: &dyn Store,
    ticket: &Ticket,
    before: &TicketDoc,
    state: &mut SyncState,
    data: &[u8],
    actors: &[ActorId],
    limits: &Limits,
) -> StoreResult<Result<TicketDoc, Refusal>> {
    let doc = match before.with_field_sync_message(state, data, actors, limits) {
        Ok(doc) => doc,
        Err(e) => return Ok(Err(Refusal::Receive(e))),
    };
    let diff = diff_custom(&before.custom(), &doc.custom());
    if diff.is_empty() {
        return Ok(Ok(doc));
    }
    let Some(category) = store
        .category_by_name(ticket.tenant_id, &ticket.category)
        .await?
    else {
        return Ok(Ok(doc));
    };
    let schema = &category.custom_fields_schema;
    let read_only =
        |key: &str| schema["properties"][key]["readOnly"] == serde_json::Value::Bool(true);
    if let Some(key) = diff
        .set
        .keys()
        .chain(diff.removed.iter())
        .find(|k| read_only(k))
    {
        return Ok(Err(Refusal::ReadOnlyField(key.clone())));
    }
    let known: BTreeSet<(String, String)> =
        match custom_fields::validate(schema, &ticket.custom_fields) {
            Ok(()) => BTreeSet::new(),
            Err(errors) => errors.0.into_iter().map(|e| (e.field, e.message)).collect(),
        };
    if let Err(errors) = custom_fields::validate(schema, &diff.apply_to(&ticket.custom_fields)) {
        let new: Vec<String> = errors
            .0
            .into_iter()
            .filter(|e| !known.contains(&(e.field.clone(), e.message.clone())))
            .map(|e| {
                let path = e.field.strip_prefix("custom_fields").unwrap_or(&e.field);
                format!("schema: /custom{path}: {}", e.message)
            })
            .collect();
        if !new.is_empty() {
            return Ok(Err(Refusal::CustomField(new.join("; "))));
        }
    }
    Ok(Ok(doc))
}

/// The document's part entries as the stock ledger stores them: their text
/// without NUL characters, which PostgreSQL cannot store (SQLite could; both
/// backends store the same). The document keeps what the phone wrote; the
/// cleaning is deterministic, so a part entry maps to the same ledger entry
/// on every sync.
pub(super) fn storable_parts(doc: &TicketDoc) -> Vec<truckroll_sync::Part> {
    use crate::domain::validation::without_nul;
    doc.parts()
        .into_iter()
        .map(|mut part| {
            part.id = without_nul(&part.id).into_owned();
            part.part_number = without_nul(&part.part_number).into_owned();
            part.serial = part.serial.map(|s| without_nul(&s).into_owned());
            part
        })
        .collect()
}

/// What a merge changed in the custom fields, as the row shows them.
pub(super) fn custom_diff(before: &TicketDoc, after: &TicketDoc) -> CustomFieldsDiff {
    diff_custom(&before.custom(), &after.custom())
}

fn diff_custom(
    before: &BTreeMap<String, CustomValue>,
    after: &BTreeMap<String, CustomValue>,
) -> CustomFieldsDiff {
    let mut diff = CustomFieldsDiff::default();
    for (key, value) in after {
        if before.get(key) != Some(value) {
            diff.set
                .insert(key.clone(), custom_fields::from_document(value));
        }
    }
    diff.removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    diff
}
