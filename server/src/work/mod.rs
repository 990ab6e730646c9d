//! The work record: what a technician did on a ticket, read from the
//! ticket's document for the office — notes, checklist, parts, time with
//! totals, photos and signatures with their upload state, and every status
//! event with its device time and whether the fold applied it.

pub mod corrections;
pub mod export;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use truckroll_sync::{
    FoldedStatus, MediaRef, Status, StatusEvent, TicketDoc, TimeEntry, TimeEntryKind,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::media::{Media, MediaKind as StoredKind};
use crate::store::{Store, StoreResult};

/// A ticket's work record and the photos and signatures its document
/// references (kept apart so a reader can add download URLs).
#[derive(Debug, Clone)]
pub struct Work {
    pub record: WorkRecord,
    pub photos: Vec<WorkMedia>,
    pub signatures: Vec<WorkMedia>,
}

/// A ticket's work record, photos and signatures aside.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkRecord {
    pub ticket_id: Uuid,
    /// The stored document's version (0: none yet); corrections name the
    /// version they were made on.
    pub version: i64,
    /// The status the document's events fold to.
    #[schema(value_type = String, example = "work_done")]
    pub status: Status,
    /// The technician's work notes (free text).
    pub notes: String,
    pub checklist: Vec<ChecklistLine>,
    pub parts: Vec<PartLine>,
    pub time_entries: Vec<TimeLine>,
    pub time_totals: TimeTotals,
    /// Every status event in the order the fold applies them.
    pub events: Vec<WorkEvent>,
    /// Field-editable custom fields as the document holds them.
    #[schema(value_type = Object)]
    pub custom: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChecklistLine {
    pub id: String,
    pub label: String,
    pub done: bool,
    /// Automerge actor (hex) of whoever ticked it.
    pub done_by: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartLine {
    pub id: String,
    pub part_number: String,
    pub quantity: f64,
    pub serial: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimeLine {
    pub id: String,
    #[schema(value_type = String, example = "work")]
    pub kind: TimeEntryKind,
    pub started_at: DateTime<Utc>,
    /// Absent while the entry is still running.
    pub ended_at: Option<DateTime<Utc>>,
    /// Up to `ended_at`, or up to the time the record was read while running.
    pub seconds: i64,
}

/// Seconds per kind; running entries count up to the time of reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimeTotals {
    pub travel_seconds: i64,
    pub work_seconds: i64,
    pub waiting_seconds: i64,
    pub break_seconds: i64,
    /// Travel, work and waiting (breaks excluded): the billable span.
    pub total_seconds: i64,
    /// Some entry has no end yet.
    pub running: bool,
}

/// Upload state of a photo or signature the document references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkMediaState {
    /// Recorded on the phone; the server has not verified the upload.
    Pending,
    /// Uploaded and verified (size, type, hash).
    Stored,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkMedia {
    /// The reference's id in the document; absent for an upload made over
    /// REST that no phone recorded in the document.
    pub ref_id: Option<String>,
    pub sha256: String,
    pub content_type: String,
    pub taken_at: DateTime<Utc>,
    pub state: WorkMediaState,
    /// The server's media row for this content, once an upload began.
    pub media_id: Option<Uuid>,
    pub has_thumbnail: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkEvent {
    pub id: String,
    pub kind: String,
    /// Automerge actor (hex) of the writer.
    pub actor: String,
    /// The writer's clock when it happened.
    pub device_time: DateTime<Utc>,
    pub position: Option<WorkPosition>,
    pub reason: Option<String>,
    pub assignee: Option<String>,
    /// The fold applied it; otherwise `ignored_because` says why not.
    pub applied: bool,
    pub ignored_because: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct WorkPosition {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
}

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn seconds_of(entry: &TimeEntry, now_ms: i64) -> i64 {
    let end = entry.ended_at.unwrap_or(now_ms);
    (end - entry.started_at).max(0) / 1000
}

fn totals(entries: &[TimeEntry], now_ms: i64) -> TimeTotals {
    let mut t = TimeTotals::default();
    for e in entries {
        let s = seconds_of(e, now_ms);
        match e.kind {
            TimeEntryKind::Travel => t.travel_seconds += s,
            TimeEntryKind::Work => t.work_seconds += s,
            TimeEntryKind::Waiting => t.waiting_seconds += s,
            TimeEntryKind::Break => t.break_seconds += s,
        }
        t.running |= e.ended_at.is_none();
    }
    t.total_seconds = t.travel_seconds + t.work_seconds + t.waiting_seconds;
    t
}

fn events(doc_events: Vec<StatusEvent>, fold: &FoldedStatus) -> Vec<WorkEvent> {
    let mut sorted = doc_events;
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let ignored: BTreeMap<&str, String> = fold
        .ignored
        .iter()
        .map(|i| (i.id.as_str(), i.reason.to_string()))
        .collect();
    let mut out = Vec::with_capacity(sorted.len());
    for e in &sorted {
        let ignored_because = ignored.get(e.id.as_str()).cloned();
        out.push(WorkEvent {
            id: e.id.clone(),
            kind: e.kind.as_str().to_owned(),
            actor: e.actor.clone(),
            device_time: at(e.device_time),
            position: e.position.map(|p| WorkPosition {
                lat: p.lat,
                lon: p.lon,
                accuracy_m: p.accuracy_m,
            }),
            reason: e.reason.clone(),
            assignee: e.assignee.clone(),
            applied: ignored_because.is_none(),
            ignored_because,
        });
    }
    out
}

/// The document's references of `kind`, then the stored uploads of that
/// kind no reference names (made over REST).
fn media_lines(refs: Vec<MediaRef>, rows: &[Media], kind: StoredKind) -> Vec<WorkMedia> {
    let unreferenced: Vec<WorkMedia> = rows
        .iter()
        .filter(|m| m.kind == kind && m.state == crate::store::media::MediaState::Stored)
        .filter(|m| !refs.iter().any(|r| r.sha256 == m.sha256))
        .map(|m| WorkMedia {
            ref_id: None,
            sha256: m.sha256.clone(),
            content_type: m.content_type.clone(),
            taken_at: m.created_at,
            state: WorkMediaState::Stored,
            media_id: Some(m.id),
            has_thumbnail: m.has_thumbnail,
        })
        .collect();
    let mut lines: Vec<WorkMedia> = refs
        .into_iter()
        .map(|r| {
            let row = rows.iter().find(|m| m.kind == kind && m.sha256 == r.sha256);
            WorkMedia {
                ref_id: Some(r.id),
                sha256: r.sha256,
                content_type: r.content_type,
                taken_at: at(r.taken_at),
                state: match r.state {
                    truckroll_sync::MediaState::Pending => WorkMediaState::Pending,
                    truckroll_sync::MediaState::Stored => WorkMediaState::Stored,
                },
                media_id: row.map(|m| m.id),
                has_thumbnail: row.is_some_and(|m| m.has_thumbnail),
            }
        })
        .collect();
    lines.extend(unreferenced);
    lines
}

/// The record of `doc` read at `now_ms`, with `rows` the ticket's media rows.
pub fn from_doc(ticket_id: Uuid, doc: &TicketDoc, rows: &[Media], now_ms: i64) -> Work {
    let fold = doc.status();
    let time = doc.time_entries();
    let custom = serde_json::to_value(doc.custom()).unwrap_or(serde_json::Value::Null);
    let record = WorkRecord {
        ticket_id,
        version: 0,
        status: fold.status,
        notes: doc.notes(),
        checklist: doc
            .checklist()
            .into_iter()
            .map(|c| ChecklistLine {
                id: c.id,
                label: c.label,
                done: c.done,
                done_by: c.done_by,
                done_at: c.done_at.map(at),
            })
            .collect(),
        parts: doc
            .parts()
            .into_iter()
            .map(|p| PartLine {
                id: p.id,
                part_number: p.part_number,
                quantity: p.quantity,
                serial: p.serial,
            })
            .collect(),
        time_totals: totals(&time, now_ms),
        time_entries: time
            .iter()
            .map(|e| TimeLine {
                id: e.id.clone(),
                kind: e.kind,
                started_at: at(e.started_at),
                ended_at: e.ended_at.map(at),
                seconds: seconds_of(e, now_ms),
            })
            .collect(),
        events: events(doc.events(), &fold),
        custom,
    };
    Work {
        record,
        photos: media_lines(doc.photos(), rows, StoredKind::Photo),
        signatures: media_lines(doc.signatures(), rows, StoredKind::Signature),
    }
}

/// The record of ticket `ticket_id` with `rows` its media rows; a ticket
/// nobody synced yet has an empty one (no document: nothing was done in
/// the field).
pub async fn record(
    store: &dyn Store,
    tenant_id: Uuid,
    ticket_id: Uuid,
    status: Status,
    rows: &[Media],
) -> StoreResult<Work> {
    let now = Utc::now().timestamp_millis();
    Ok(
        match crate::device_sync::load(store, tenant_id, ticket_id).await? {
            Some(loaded) => {
                let mut work = from_doc(ticket_id, &loaded.doc, rows, now);
                work.record.version = loaded.version;
                work
            }
            None => Work {
                record: WorkRecord {
                    ticket_id,
                    version: 0,
                    status,
                    notes: String::new(),
                    checklist: Vec::new(),
                    parts: Vec::new(),
                    time_entries: Vec::new(),
                    time_totals: TimeTotals::default(),
                    events: Vec::new(),
                    custom: serde_json::Value::Object(serde_json::Map::new()),
                },
                photos: media_lines(Vec::new(), rows, StoredKind::Photo),
                signatures: media_lines(Vec::new(), rows, StoredKind::Signature),
            },
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(kind: TimeEntryKind, start: i64, end: Option<i64>) -> TimeEntry {
        TimeEntry {
            id: format!("{start}"),
            kind,
            started_at: start,
            ended_at: end,
        }
    }

    #[test]
    fn totals_add_per_kind_and_count_running_entries_to_now() {
        let t = totals(
            &[
                entry(TimeEntryKind::Travel, 0, Some(600_000)),
                entry(TimeEntryKind::Work, 600_000, Some(4_200_000)),
                entry(TimeEntryKind::Break, 4_200_000, Some(4_500_000)),
                entry(TimeEntryKind::Waiting, 4_500_000, None),
            ],
            4_560_000,
        );
        assert_eq!(
            t,
            TimeTotals {
                travel_seconds: 600,
                work_seconds: 3600,
                waiting_seconds: 60,
                break_seconds: 300,
                total_seconds: 4260,
                running: true,
            }
        );
    }

    #[test]
    fn an_entry_ending_before_it_started_counts_zero() {
        assert_eq!(
            seconds_of(&entry(TimeEntryKind::Work, 5000, Some(1000)), 0),
            0
        );
    }
}
