//! The typed edits an app makes to a ticket document, applied through the
//! `truckroll-sync` crate's typed API (no raw Automerge paths here).

use serde::{Deserialize, Serialize};
use truckroll_sync::{
    ActionOrigin, CustomValue, NewPart, Position, StatusAction, TicketDoc, TimeEntryKind,
};

use crate::error::{SdkError, SdkResult};

/// One local edit. Serialised into the outbox as a record of what the user did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    /// Appends text at the end of the work notes.
    NotesAppend {
        text: String,
    },
    /// Replaces `delete` characters at `pos` (Unicode scalar values) with `insert`.
    NotesSplice {
        pos: usize,
        delete: usize,
        insert: String,
    },
    /// Makes the notes equal to `text` with the smallest splices.
    SetNotes {
        text: String,
    },
    AddChecklistItem {
        label: String,
    },
    SetChecklistDone {
        item_id: String,
        done: bool,
    },
    RemoveChecklistItem {
        item_id: String,
    },
    AddPart {
        part_number: String,
        quantity: f64,
        serial: Option<String>,
    },
    RemovePart {
        part_id: String,
    },
    AddTimeEntry {
        kind: TimeEntryKind,
        started_at: i64,
        ended_at: Option<i64>,
    },
    EndTimeEntry {
        entry_id: String,
        ended_at: i64,
    },
    SetCustom {
        key: String,
        value: CustomValue,
    },
    RemoveCustom {
        key: String,
    },
    /// A status event (accept, start_travel, check_in, hold, resume,
    /// complete_work, rework, decline, close), stamped with the device time
    /// and a hybrid logical clock.
    Status {
        action: StatusAction,
        position: Option<Position>,
        reason: Option<String>,
    },
}

/// What applying an edit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The id of a created item or event, if the edit created one.
    pub created_id: Option<String>,
}

/// Applies `edit` to `doc` as one Automerge change. `who` is the signed-in
/// user (recorded as `done_by`), `now_ms` the device time.
pub fn apply(doc: &mut TicketDoc, edit: &Edit, who: &str, now_ms: i64) -> SdkResult<Applied> {
    let created_id = match edit {
        Edit::NotesAppend { text } => {
            doc.notes_append(text)?;
            None
        }
        Edit::NotesSplice {
            pos,
            delete,
            insert,
        } => {
            doc.notes_splice(*pos, *delete, insert)?;
            None
        }
        Edit::SetNotes { text } => {
            doc.set_notes(text)?;
            None
        }
        Edit::AddChecklistItem { label } => Some(doc.add_checklist_item(label)?),
        Edit::SetChecklistDone { item_id, done } => {
            doc.set_checklist_done(item_id, *done, who, now_ms)?;
            None
        }
        Edit::RemoveChecklistItem { item_id } => {
            doc.remove_checklist_item(item_id)?;
            None
        }
        Edit::AddPart {
            part_number,
            quantity,
            serial,
        } => Some(doc.add_part(&NewPart {
            part_number: part_number.clone(),
            quantity: *quantity,
            serial: serial.clone(),
        })?),
        Edit::RemovePart { part_id } => {
            doc.remove_part(part_id)?;
            None
        }
        Edit::AddTimeEntry {
            kind,
            started_at,
            ended_at,
        } => Some(doc.add_time_entry(*kind, *started_at, *ended_at)?),
        Edit::EndTimeEntry { entry_id, ended_at } => {
            doc.end_time_entry(entry_id, *ended_at)?;
            None
        }
        Edit::SetCustom { key, value } => {
            doc.set_custom(key, value.clone())?;
            None
        }
        Edit::RemoveCustom { key } => {
            doc.remove_custom(key)?;
            None
        }
        Edit::Status {
            action,
            position,
            reason,
        } => {
            if action.origin() != ActionOrigin::Field {
                return Err(SdkError::ServerAction(action.as_str().to_owned()));
            }
            let mut event = doc.stamp_event(*action, now_ms);
            if let Some(p) = position {
                event = event.with_position(*p);
            }
            if let Some(r) = reason {
                event = event.with_reason(r.clone());
            }
            doc.append_event(&event)?;
            Some(event.id)
        }
    };
    Ok(Applied { created_id })
}
