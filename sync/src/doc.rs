//! [`TicketDoc`]: the typed wrapper around one ticket's Automerge document.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{Transactable, Transaction};
use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, LoadOptions, ObjId, ObjType, ROOT, ReadDoc,
    ScalarValue, TextEncoding, Value,
};

use crate::event::{FoldedStatus, StatusEvent, fold_status};
use crate::hlc::Hlc;
use crate::schema::{
    self, ChecklistItem, CustomValue, K_CHECKLIST, K_CUSTOM, K_EVENTS, K_NOTES, K_PARTS,
    K_SCHEMA_VERSION, K_TICKET_ID, K_TIME_ENTRIES, MediaKind, MediaRef, MediaState, Obj, Part,
    ROOT_KEYS, SCHEMA_VERSION, SchemaError, TimeEntry, TimeEntryKind,
};
use crate::status::{ActionOrigin, StatusAction};

/// The actor of every document's first change (the skeleton). Fixed, so that
/// `TicketDoc::new` for the same ticket id yields the same change, with the
/// same hash, on every replica.
pub const SKELETON_ACTOR: &[u8] = b"truckroll/skeleton";

/// Notes are indexed in Unicode scalar values (Rust `char`s).
const TEXT_ENCODING: TextEncoding = TextEncoding::UnicodeCodePoint;

/// What [`TicketDoc::coalesce_own_changes`] made.
#[derive(Debug)]
pub struct Coalesced {
    /// The document with one change in place of the run.
    pub doc: TicketDoc,
    /// The hashes of the changes the new one replaces, oldest first.
    pub replaced: Vec<ChangeHash>,
    /// The new change's hash.
    pub hash: ChangeHash,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("sync message: {0}")]
    SyncMessage(#[from] sync::ReadMessageError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("no {list} item with id `{id}`")]
    NotFound { list: &'static str, id: String },
    #[error("an event with id `{0}` is already in the document")]
    DuplicateEventId(String),
    #[error("invalid {field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("notes position {pos} is past the end ({len} characters)")]
    OutOfRange { pos: usize, len: usize },
}

/// A new part for [`TicketDoc::add_part`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewPart {
    pub part_number: String,
    pub quantity: f64,
    pub serial: Option<String>,
}

/// A new photo or signature reference for [`TicketDoc::add_photo_ref`] and
/// [`TicketDoc::add_signature_ref`]. It starts `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediaRef {
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    pub content_type: String,
    /// Milliseconds since the Unix epoch.
    pub taken_at: i64,
}

/// One ticket's CRDT document.
///
/// Every typed edit is one Automerge change, committed at once (there is no
/// open transaction between calls), so readers take `&self` and the heads
/// are always those of the last edit. Item ids (checklist, parts, time
/// entries, media) are generated from the Automerge id of the item's map,
/// `counter@actor`, unique across replicas without coordination.
#[derive(Debug)]
pub struct TicketDoc {
    doc: Automerge,
    clock: Hlc,
}

fn actor_hex(actor: &ActorId) -> String {
    actor.to_hex_string()
}

impl TicketDoc {
    /// A new document for `ticket_id` with the empty schema skeleton, written
    /// as one change by [`SKELETON_ACTOR`] at time 0, so replicas that create
    /// the same ticket independently share the same first change. Later edits
    /// are made by `actor`.
    pub fn new(ticket_id: &str, actor: ActorId) -> Result<Self, DocError> {
        if ticket_id.is_empty() {
            return Err(DocError::Invalid {
                field: "ticket_id",
                why: "empty".into(),
            });
        }
        let mut doc =
            Automerge::new_with_encoding(TEXT_ENCODING).with_actor(ActorId::from(SKELETON_ACTOR));
        doc.transact::<_, _, AutomergeError>(|tx| {
            tx.put(ROOT, K_TICKET_ID, ticket_id)?;
            tx.put(ROOT, K_SCHEMA_VERSION, ScalarValue::Int(SCHEMA_VERSION))?;
            for (key, ty) in ROOT_KEYS {
                if let Some(ty) = ty {
                    tx.put_object(ROOT, *key, *ty)?;
                }
            }
            Ok(())
        })
        .map_err(|f| f.error)?;
        doc.set_actor(actor);
        Ok(Self::wrap(doc))
    }

    /// `doc` as a ticket document with `like`'s actor and clock.
    pub(crate) fn from_parts(mut doc: Automerge, like: &TicketDoc) -> Self {
        doc.set_actor(like.actor().clone());
        Self {
            doc,
            clock: like.clock.clone(),
        }
    }

    fn wrap(doc: Automerge) -> Self {
        let clock = Hlc::new(actor_hex(doc.get_actor()));
        Self { doc, clock }
    }

    /// Loads a saved document (or a concatenation of saved chunks) and checks
    /// the schema. The actor is random: call [`set_actor`](Self::set_actor)
    /// before editing.
    pub fn load(bytes: &[u8]) -> Result<Self, DocError> {
        let doc = Self::load_unvalidated(bytes)?;
        doc.validate()?;
        Ok(doc)
    }

    /// Loads without the schema check: for quarantined or foreign documents
    /// that must stay readable. Typed readers skip malformed items.
    pub fn load_unvalidated(bytes: &[u8]) -> Result<Self, DocError> {
        let doc =
            Automerge::load_with_options(bytes, LoadOptions::new().text_encoding(TEXT_ENCODING))?;
        Ok(Self::wrap(doc))
    }

    /// The whole document, compressed (Automerge's document format).
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes after `heads`, as a chunk [`load_incremental`](Self::load_incremental)
    /// and [`load`](Self::load) (appended to a snapshot) accept.
    pub fn save_after(&self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Applies saved chunks (changes or whole documents). Returns the number of
    /// operations applied.
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<usize, DocError> {
        Ok(self.doc.load_incremental(bytes)?)
    }

    /// Checks the schema; see [`schema::validate_schema`].
    pub fn validate(&self) -> Result<(), SchemaError> {
        schema::validate_schema(&self.doc)
    }

    /// A copy with the same history that writes as `actor` (e.g. a device
    /// starting from the server's version, or a what-if copy).
    pub fn fork_with_actor(&self, actor: ActorId) -> Self {
        let doc = self.doc.fork().with_actor(actor);
        let mut fork = Self::wrap(doc);
        fork.clock.observe(&self.clock);
        fork
    }

    /// Applies every change of `other` that this document lacks (for trusted
    /// peers; a field device's sync messages go through
    /// [`receive_field_sync_message`](Self::receive_field_sync_message)).
    pub fn merge(&mut self, other: &mut TicketDoc) -> Result<Vec<ChangeHash>, DocError> {
        Ok(self.doc.merge(&mut other.doc)?)
    }

    /// The current heads (hashes of the changes nothing else depends on).
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The actor this document writes as.
    pub fn actor(&self) -> &ActorId {
        self.doc.get_actor()
    }

    /// Changes the actor later edits are made by.
    pub fn set_actor(&mut self, actor: ActorId) {
        let mut clock = Hlc::new(actor_hex(&actor));
        clock.observe(&self.clock);
        self.clock = clock;
        self.doc.set_actor(actor);
    }

    /// The actors of every change this document has beyond `heads` (which
    /// must be heads this document has seen), sorted, without duplicates.
    pub fn change_actors_since(&self, heads: &[ChangeHash]) -> Vec<ActorId> {
        let mut actors: Vec<ActorId> = self
            .doc
            .get_changes(heads)
            .iter()
            .map(|c| c.actor_id().clone())
            .collect();
        actors.sort();
        actors.dedup();
        actors
    }

    /// Whether every change in `heads` is part of this document.
    pub fn contains_heads(&self, heads: &[ChangeHash]) -> bool {
        heads
            .iter()
            .all(|h| self.doc.get_change_by_hash(h).is_some())
    }

    /// The underlying Automerge document, read-only.
    pub fn as_automerge(&self) -> &Automerge {
        &self.doc
    }

    /// This document with its own changes after `sealed` coalesced into one
    /// change (smaller catch-ups: a burst of local edits travels as one
    /// change, not one per edit). `sealed` are heads no coalescing may cross:
    /// what the peer holds and anything ever offered to it.
    ///
    /// Only a run of this actor's changes that are never offered can be
    /// merged: each depends on the one before alone, with consecutive
    /// sequence numbers and operation counters. Their operations are put one
    /// after the other into a change with the first one's header, so every
    /// operation keeps its id (item ids made from object ids stay valid) and
    /// the content is the same; only the change boundaries go. Device times
    /// live in the data (events' `device_time`, `done_at`, time entries), so
    /// nothing of them is lost. `None` when there is nothing to coalesce or
    /// the changes are not such a run.
    pub fn coalesce_own_changes(&self, sealed: &[ChangeHash]) -> Option<Coalesced> {
        if !self.contains_heads(sealed) {
            return None;
        }
        let actor = self.doc.get_actor();
        let changes = self.doc.get_changes(sealed);
        if changes.len() < 2 {
            return None;
        }
        let mut previous: Option<&automerge::Change> = None;
        for change in &changes {
            if change.actor_id() != actor {
                return None;
            }
            if let Some(before) = previous {
                let follows = change.deps() == [before.hash()]
                    && change.seq() == before.seq() + 1
                    && change.start_op().get() == before.max_op() + 1;
                if !follows {
                    return None;
                }
            }
            previous = Some(change);
        }
        let mut merged = changes[0].decode();
        merged.hash = None;
        for change in &changes[1..] {
            merged.operations.extend(change.decode().operations);
        }
        let change = automerge::Change::from(merged);
        let hash = change.hash();
        let mut doc = self.doc.fork_at(sealed).ok()?;
        doc.apply_changes([change]).ok()?;
        // The same content, or no coalescing at all.
        if doc.get_heads() != [hash] || doc.hydrate(None) != self.doc.hydrate(None) {
            return None;
        }
        Some(Coalesced {
            doc: Self::from_parts(doc, self),
            replaced: changes.iter().map(automerge::Change::hash).collect(),
            hash,
        })
    }

    // ---- sync ------------------------------------------------------------

    /// The next standard Automerge sync message for the peer tracked by
    /// `state`, encoded; `None` when there is nothing to send right now.
    pub fn generate_sync_message(&self, state: &mut sync::State) -> Option<Vec<u8>> {
        self.doc
            .generate_sync_message(state)
            .map(sync::Message::encode)
    }

    /// Applies an encoded Automerge sync message from the peer tracked by
    /// `state`, without any check. For untrusted input (a field device's
    /// message on the server) use
    /// [`receive_field_sync_message`](Self::receive_field_sync_message).
    pub fn receive_sync_message(
        &mut self,
        state: &mut sync::State,
        message: &[u8],
    ) -> Result<(), DocError> {
        let message = sync::Message::decode(message)?;
        self.doc.receive_sync_message(state, message)?;
        Ok(())
    }

    // ---- readers ---------------------------------------------------------

    /// The ticket id written in the skeleton (empty if missing).
    pub fn ticket_id(&self) -> String {
        Obj::root(&self.doc)
            .req_str(K_TICKET_ID)
            .unwrap_or_default()
    }

    /// The work notes.
    pub fn notes(&self) -> String {
        self.root_obj(K_NOTES, ObjType::Text)
            .and_then(|o| self.doc.text(&o).ok())
            .unwrap_or_default()
    }

    /// The checklist, in list order.
    pub fn checklist(&self) -> Vec<ChecklistItem> {
        schema::lenient_list(&self.doc, K_CHECKLIST, schema::read_checklist_item)
    }

    /// The parts used, in list order.
    pub fn parts(&self) -> Vec<Part> {
        schema::lenient_list(&self.doc, K_PARTS, schema::read_part)
    }

    /// The time entries, in list order.
    pub fn time_entries(&self) -> Vec<TimeEntry> {
        schema::lenient_list(&self.doc, K_TIME_ENTRIES, schema::read_time_entry)
    }

    /// Photo references, in list order.
    pub fn photos(&self) -> Vec<MediaRef> {
        self.media(MediaKind::Photo)
    }

    /// Signature references, in list order.
    pub fn signatures(&self) -> Vec<MediaRef> {
        self.media(MediaKind::Signature)
    }

    /// Photo or signature references, in list order.
    pub fn media(&self, kind: MediaKind) -> Vec<MediaRef> {
        schema::lenient_list(&self.doc, kind.key(), schema::read_media_ref)
    }

    /// The custom fields (malformed values are left out).
    pub fn custom(&self) -> BTreeMap<String, CustomValue> {
        let root = Obj::root(&self.doc);
        let Ok(custom) = root.child(K_CUSTOM, ObjType::Map) else {
            return BTreeMap::new();
        };
        self.doc
            .keys(&custom.id)
            .filter_map(|k| {
                let v = schema::read_custom_value(&custom, &k).ok()??;
                Some((k, v))
            })
            .collect()
    }

    /// The status events in fold order (HLC stamp, then actor, then id).
    pub fn events(&self) -> Vec<StatusEvent> {
        let mut events = schema::lenient_list(&self.doc, K_EVENTS, schema::read_event);
        events.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        events
    }

    /// How many items the events list holds, without reading them: a
    /// validated merge keeps every event it had, unchanged
    /// ([`crate::check_field_edit`]), so the same count after it means no
    /// new event.
    pub fn event_count(&self) -> usize {
        self.root_obj(K_EVENTS, ObjType::List)
            .map_or(0, |events| self.doc.length(&events))
    }

    /// The status folded from the events; see [`fold_status`].
    pub fn status(&self) -> FoldedStatus {
        fold_status(&self.events())
    }

    fn root_obj(&self, key: &str, ty: ObjType) -> Option<ObjId> {
        match self.doc.get(ROOT, key).ok().flatten() {
            Some((Value::Object(t), id)) if t == ty => Some(id),
            _ => None,
        }
    }

    // ---- edits -----------------------------------------------------------

    fn edit<O>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<O, DocError>,
    ) -> Result<O, DocError> {
        self.doc.transact(f).map(|s| s.result).map_err(|f| f.error)
    }

    /// Replaces `delete` characters at `pos` with `insert` (positions count
    /// Unicode scalar values).
    pub fn notes_splice(
        &mut self,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<(), DocError> {
        let notes = self.require_root(K_NOTES, ObjType::Text)?;
        let len = self.doc.length(&notes);
        if pos > len || delete > len - pos {
            return Err(DocError::OutOfRange {
                pos: pos + delete,
                len,
            });
        }
        let delete = isize::try_from(delete).map_err(|_| DocError::OutOfRange { pos, len })?;
        self.edit(|tx| Ok(tx.splice_text(&notes, pos, delete, insert)?))
    }

    /// Inserts `text` at `pos` (in Unicode scalar values).
    pub fn notes_insert(&mut self, pos: usize, text: &str) -> Result<(), DocError> {
        self.notes_splice(pos, 0, text)
    }

    /// Appends `text` at the end of the notes.
    pub fn notes_append(&mut self, text: &str) -> Result<(), DocError> {
        let notes = self.require_root(K_NOTES, ObjType::Text)?;
        let len = self.doc.length(&notes);
        self.notes_splice(len, 0, text)
    }

    /// Makes the notes equal to `text` with the smallest splices (for UIs that
    /// only hand over the whole new text). Capturing splices directly merges
    /// better with concurrent edits.
    pub fn set_notes(&mut self, text: &str) -> Result<(), DocError> {
        let notes = self.require_root(K_NOTES, ObjType::Text)?;
        self.edit(|tx| Ok(tx.update_text(&notes, text)?))
    }

    /// Appends an unchecked item; returns its id.
    pub fn add_checklist_item(&mut self, label: &str) -> Result<String, DocError> {
        let list = self.require_root(K_CHECKLIST, ObjType::List)?;
        self.edit(|tx| {
            let (item, id) = append_item(tx, &list)?;
            tx.put(&item, "label", label)?;
            tx.put(&item, "done", false)?;
            Ok(id)
        })
    }

    /// Ticks or unticks a checklist item, recording who and when (cleared when
    /// unticked).
    pub fn set_checklist_done(
        &mut self,
        id: &str,
        done: bool,
        by: &str,
        at_ms: i64,
    ) -> Result<(), DocError> {
        let item = self.find_item(K_CHECKLIST, id)?;
        self.edit(|tx| {
            tx.put(&item, "done", done)?;
            if done {
                tx.put(&item, "done_by", by)?;
                tx.put(&item, "done_at", ScalarValue::Timestamp(at_ms))?;
            } else {
                tx.put(&item, "done_by", ScalarValue::Null)?;
                tx.put(&item, "done_at", ScalarValue::Null)?;
            }
            Ok(())
        })
    }

    /// Removes a checklist item.
    pub fn remove_checklist_item(&mut self, id: &str) -> Result<(), DocError> {
        self.remove_item(K_CHECKLIST, id)
    }

    /// Appends a part; returns its id.
    pub fn add_part(&mut self, part: &NewPart) -> Result<String, DocError> {
        if part.part_number.is_empty() {
            return Err(DocError::Invalid {
                field: "part_number",
                why: "empty".into(),
            });
        }
        if !(part.quantity.is_finite() && part.quantity > 0.0) {
            return Err(DocError::Invalid {
                field: "quantity",
                why: "must be a positive number".into(),
            });
        }
        let list = self.require_root(K_PARTS, ObjType::List)?;
        self.edit(|tx| {
            let (item, id) = append_item(tx, &list)?;
            tx.put(&item, "part_number", part.part_number.as_str())?;
            tx.put(&item, "quantity", part.quantity)?;
            if let Some(serial) = &part.serial {
                tx.put(&item, "serial", serial.as_str())?;
            }
            Ok(id)
        })
    }

    /// Sets a part's quantity (an office correction; positive, like
    /// [`TicketDoc::add_part`]).
    pub fn set_part_quantity(&mut self, id: &str, quantity: f64) -> Result<(), DocError> {
        if !(quantity.is_finite() && quantity > 0.0) {
            return Err(DocError::Invalid {
                field: "quantity",
                why: "must be a positive number".into(),
            });
        }
        let item = self.find_item(K_PARTS, id)?;
        self.edit(|tx| Ok(tx.put(&item, "quantity", quantity)?))
    }

    /// Removes a part.
    pub fn remove_part(&mut self, id: &str) -> Result<(), DocError> {
        self.remove_item(K_PARTS, id)
    }

    /// Appends a time entry (`ended_at` `None` while it runs); returns its id.
    pub fn add_time_entry(
        &mut self,
        kind: TimeEntryKind,
        started_at: i64,
        ended_at: Option<i64>,
    ) -> Result<String, DocError> {
        check_span(started_at, ended_at)?;
        let list = self.require_root(K_TIME_ENTRIES, ObjType::List)?;
        self.edit(|tx| {
            let (item, id) = append_item(tx, &list)?;
            tx.put(&item, "kind", kind.as_str())?;
            tx.put(&item, "started_at", ScalarValue::Timestamp(started_at))?;
            if let Some(end) = ended_at {
                tx.put(&item, "ended_at", ScalarValue::Timestamp(end))?;
            }
            Ok(id)
        })
    }

    /// Sets the end of a running time entry.
    pub fn end_time_entry(&mut self, id: &str, ended_at: i64) -> Result<(), DocError> {
        let entry = self
            .time_entries()
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| DocError::NotFound {
                list: K_TIME_ENTRIES,
                id: id.to_owned(),
            })?;
        check_span(entry.started_at, Some(ended_at))?;
        let item = self.find_item(K_TIME_ENTRIES, id)?;
        self.edit(|tx| Ok(tx.put(&item, "ended_at", ScalarValue::Timestamp(ended_at))?))
    }

    /// Sets both ends of a time entry (an office correction; `ended_at`
    /// `None` makes it running again).
    pub fn set_time_entry_span(
        &mut self,
        id: &str,
        started_at: i64,
        ended_at: Option<i64>,
    ) -> Result<(), DocError> {
        check_span(started_at, ended_at)?;
        let had_end = self
            .time_entries()
            .into_iter()
            .any(|e| e.id == id && e.ended_at.is_some());
        let item = self.find_item(K_TIME_ENTRIES, id)?;
        self.edit(|tx| {
            tx.put(&item, "started_at", ScalarValue::Timestamp(started_at))?;
            match ended_at {
                Some(end) => tx.put(&item, "ended_at", ScalarValue::Timestamp(end))?,
                None if had_end => tx.delete(&item, "ended_at")?,
                None => {}
            }
            Ok(())
        })
    }

    /// Appends a pending photo reference; returns its id.
    pub fn add_photo_ref(&mut self, media: &NewMediaRef) -> Result<String, DocError> {
        self.add_media_ref(MediaKind::Photo, media)
    }

    /// Appends a pending signature reference; returns its id.
    pub fn add_signature_ref(&mut self, media: &NewMediaRef) -> Result<String, DocError> {
        self.add_media_ref(MediaKind::Signature, media)
    }

    /// Appends a pending photo or signature reference; returns its id.
    pub fn add_media_ref(
        &mut self,
        kind: MediaKind,
        media: &NewMediaRef,
    ) -> Result<String, DocError> {
        let sha = &media.sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DocError::Invalid {
                field: "sha256",
                why: "expected 64 lowercase hex characters".into(),
            });
        }
        let list = self.require_root(kind.key(), ObjType::List)?;
        self.edit(|tx| {
            let (item, id) = append_item(tx, &list)?;
            tx.put(&item, "sha256", sha.as_str())?;
            tx.put(&item, "content_type", media.content_type.as_str())?;
            tx.put(&item, "state", MediaState::Pending.as_str())?;
            tx.put(&item, "taken_at", ScalarValue::Timestamp(media.taken_at))?;
            Ok(id)
        })
    }

    /// Marks a photo reference as stored (the server does this after checking
    /// the uploaded object).
    pub fn mark_photo_stored(&mut self, id: &str) -> Result<(), DocError> {
        self.mark_media_stored(MediaKind::Photo, id)
    }

    /// Marks a signature reference as stored.
    pub fn mark_signature_stored(&mut self, id: &str) -> Result<(), DocError> {
        self.mark_media_stored(MediaKind::Signature, id)
    }

    /// Marks a photo or signature reference as stored.
    pub fn mark_media_stored(&mut self, kind: MediaKind, id: &str) -> Result<(), DocError> {
        let item = self.find_item(kind.key(), id)?;
        self.edit(|tx| Ok(tx.put(&item, "state", MediaState::Stored.as_str())?))
    }

    /// Removes a photo or signature reference.
    pub fn remove_media_ref(&mut self, kind: MediaKind, id: &str) -> Result<(), DocError> {
        self.remove_item(kind.key(), id)
    }

    /// Sets a custom field. Non-finite numbers and empty keys are refused.
    pub fn set_custom(&mut self, key: &str, value: CustomValue) -> Result<(), DocError> {
        if key.is_empty() {
            return Err(DocError::Invalid {
                field: "custom key",
                why: "empty".into(),
            });
        }
        if matches!(value, CustomValue::F64(f) if !f.is_finite()) {
            return Err(DocError::Invalid {
                field: "custom value",
                why: "not a finite number".into(),
            });
        }
        let custom = self.require_root(K_CUSTOM, ObjType::Map)?;
        self.edit(|tx| Ok(tx.put(&custom, key, value.to_scalar())?))
    }

    /// Removes a custom field (no-op if absent).
    pub fn remove_custom(&mut self, key: &str) -> Result<(), DocError> {
        let custom = self.require_root(K_CUSTOM, ObjType::Map)?;
        if self.doc.get(&custom, key)?.is_none() {
            return Ok(());
        }
        self.edit(|tx| Ok(tx.delete(&custom, key)?))
    }

    /// A new event by this document's actor, not yet appended: the HLC stamp
    /// is issued after observing every event in the document, the id is the
    /// stamp's string form, and a field event records the current
    /// assignment. Add position, reason or assignee with the builder methods
    /// of [`StatusEvent`], then [`append_event`](Self::append_event).
    pub fn stamp_event(&mut self, kind: StatusAction, device_time_ms: i64) -> StatusEvent {
        let events = self.events();
        for e in &events {
            self.clock.observe(&e.hlc);
        }
        let hlc = self.clock.tick(u64::try_from(device_time_ms).unwrap_or(0));
        let assignment = match kind.origin() {
            ActionOrigin::Field => fold_status(&events).assignment,
            ActionOrigin::Server => None,
        };
        StatusEvent {
            id: hlc.to_string(),
            kind,
            actor: hlc.actor().to_owned(),
            device_time: device_time_ms,
            hlc,
            position: None,
            reason: None,
            assignee: None,
            assignment,
        }
    }

    /// Appends `event` to the event list as one change. The event must be
    /// well-formed (the same rules as the schema check) and its id new.
    /// Whether it is allowed is decided later, by [`fold_status`].
    pub fn append_event(&mut self, event: &StatusEvent) -> Result<(), DocError> {
        let events = self.require_root(K_EVENTS, ObjType::List)?;
        if self.events().iter().any(|e| e.id == event.id) {
            return Err(DocError::DuplicateEventId(event.id.clone()));
        }
        // Read the written event back with the schema's reader; on an error
        // the transaction is rolled back, so nothing malformed lands.
        let written = self.edit(|tx| {
            let len = tx.length(&events);
            let item = tx.insert_object(&events, len, ObjType::Map)?;
            write_event(tx, &item, event)?;
            let probe = Obj {
                doc: &*tx,
                id: item,
                path: format!("/{K_EVENTS}/{len}"),
            };
            schema::read_event(&probe)?;
            Ok(())
        });
        if written.is_ok() {
            self.clock.observe(&event.hlc);
        }
        written
    }

    fn require_root(&self, key: &'static str, ty: ObjType) -> Result<ObjId, DocError> {
        Ok(Obj::root(&self.doc).child(key, ty)?.id)
    }

    fn find_item(&self, list_key: &'static str, id: &str) -> Result<ObjId, DocError> {
        self.find_index(list_key, id).map(|(_, obj)| obj)
    }

    fn find_index(&self, list_key: &'static str, id: &str) -> Result<(usize, ObjId), DocError> {
        let list = Obj::root(&self.doc).child(list_key, ObjType::List)?;
        (0..self.doc.length(&list.id))
            .filter_map(|i| list.item(i).ok().map(|o| (i, o)))
            .find(|(_, o)| o.opt_str("id").ok().flatten().as_deref() == Some(id))
            .map(|(i, o)| (i, o.id))
            .ok_or_else(|| DocError::NotFound {
                list: list_key,
                id: id.to_owned(),
            })
    }

    /// A fresh document with this one's content and none of its history: the
    /// skeleton plus one change by `actor`, every string (map values, list
    /// items, text) passed through `redact`. Erasure (issue 19) stores it in
    /// place of the old document, so erased values are gone from the bytes.
    /// Item ids are stored fields, so they survive; change hashes do not.
    pub fn squashed(
        &self,
        actor: ActorId,
        redact: &dyn Fn(&str) -> String,
    ) -> Result<TicketDoc, DocError> {
        let mut fresh = TicketDoc::new(&self.ticket_id(), actor)?;
        let source = &self.doc;
        fresh
            .doc
            .transact::<_, _, AutomergeError>(|tx| {
                for key in source.keys(ROOT) {
                    if key == K_TICKET_ID || key == K_SCHEMA_VERSION {
                        continue;
                    }
                    match source.get(ROOT, key.as_str())? {
                        Some((Value::Object(ty), from)) => {
                            let to = match tx.get(ROOT, key.as_str())? {
                                Some((Value::Object(existing), to)) if existing == ty => to,
                                _ => tx.put_object(ROOT, key.as_str(), ty)?,
                            };
                            copy_object(source, &from, tx, &to, redact)?;
                        }
                        Some((Value::Scalar(value), _)) => {
                            tx.put(ROOT, key.as_str(), redact_scalar(&value, redact))?;
                        }
                        None => {}
                    }
                }
                Ok(())
            })
            .map_err(|f| f.error)?;
        Ok(fresh)
    }

    fn remove_item(&mut self, list_key: &'static str, id: &str) -> Result<(), DocError> {
        let list = self.require_root(list_key, ObjType::List)?;
        let (index, _) = self.find_index(list_key, id)?;
        self.edit(|tx| Ok(tx.delete(&list, index)?))
    }
}

fn redact_scalar(value: &ScalarValue, redact: &dyn Fn(&str) -> String) -> ScalarValue {
    match value {
        ScalarValue::Str(text) => ScalarValue::Str(redact(text).into()),
        other => other.clone(),
    }
}

/// Copies the children of `from` (in `source`) into the empty object `to`.
fn copy_object(
    source: &Automerge,
    from: &ObjId,
    tx: &mut Transaction<'_>,
    to: &ObjId,
    redact: &dyn Fn(&str) -> String,
) -> Result<(), AutomergeError> {
    match source.object_type(from)? {
        ObjType::Text => {
            let text = source.text(from)?;
            tx.splice_text(to, 0, 0, &redact(&text))?;
        }
        ObjType::List => {
            for index in 0..source.length(from) {
                match source.get(from, index)? {
                    Some((Value::Object(ty), child)) => {
                        let copy = tx.insert_object(to, index, ty)?;
                        copy_object(source, &child, tx, &copy, redact)?;
                    }
                    Some((Value::Scalar(value), _)) => {
                        tx.insert(to, index, redact_scalar(&value, redact))?;
                    }
                    None => {}
                }
            }
        }
        ObjType::Map | ObjType::Table => {
            for key in source.keys(from) {
                match source.get(from, key.as_str())? {
                    Some((Value::Object(ty), child)) => {
                        let copy = tx.put_object(to, key.as_str(), ty)?;
                        copy_object(source, &child, tx, &copy, redact)?;
                    }
                    Some((Value::Scalar(value), _)) => {
                        tx.put(to, key.as_str(), redact_scalar(&value, redact))?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

fn check_span(started_at: i64, ended_at: Option<i64>) -> Result<(), DocError> {
    if ended_at.is_some_and(|e| e < started_at) {
        return Err(DocError::Invalid {
            field: "ended_at",
            why: "before started_at".into(),
        });
    }
    Ok(())
}

/// Appends a map to `list` and writes its generated `id`.
fn append_item(tx: &mut Transaction<'_>, list: &ObjId) -> Result<(ObjId, String), DocError> {
    let len = tx.length(list);
    let item = tx.insert_object(list, len, ObjType::Map)?;
    let id = item.to_string();
    tx.put(&item, "id", id.as_str())?;
    Ok((item, id))
}

fn write_event(tx: &mut Transaction<'_>, item: &ObjId, e: &StatusEvent) -> Result<(), DocError> {
    tx.put(item, "id", e.id.as_str())?;
    tx.put(item, "kind", e.kind.as_str())?;
    tx.put(item, "actor", e.actor.as_str())?;
    tx.put(item, "device_time", ScalarValue::Timestamp(e.device_time))?;
    tx.put(item, "hlc", e.hlc.to_string())?;
    if let Some(p) = &e.position {
        let pos = tx.put_object(item, "position", ObjType::Map)?;
        tx.put(&pos, "lat", p.lat)?;
        tx.put(&pos, "lon", p.lon)?;
        if let Some(a) = p.accuracy_m {
            tx.put(&pos, "accuracy_m", a)?;
        }
    }
    for (key, value) in [
        ("reason", &e.reason),
        ("assignee", &e.assignee),
        ("assignment", &e.assignment),
    ] {
        if let Some(v) = value {
            tx.put(item, key, v.as_str())?;
        }
    }
    Ok(())
}
