//! What a field device may change, and size limits.
//!
//! The server applies a device's changes to a fork of its copy and calls
//! [`check_field_edit`] with the copy before and the fork after. The check is
//! on content, not on individual operations: it compares the two versions
//! object by object (Automerge object ids identify the same list item in
//! both), including values that lost a conflict, so an edit cannot hide in a
//! conflict either.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::sync::{self, SyncDoc};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, LoadOptions, ObjId, ObjType, OnPartialLoad, ROOT,
    ReadDoc, ScalarValue, Value, VerificationMode,
};
use serde::{Deserialize, Serialize};

use crate::doc::TicketDoc;
use crate::protocol::ErrorCode;
use crate::schema::{self, K_EVENTS, K_NOTES, MediaKind, MediaState, Obj, ROOT_KEYS, SchemaError};
use crate::status::{ActionOrigin, StatusAction};

/// Size limits for one ticket document. The defaults fit a ticket worked
/// for days by a few technicians with room to spare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Saved (compressed) document size.
    pub max_doc_bytes: usize,
    /// Entries in `events`.
    pub max_events: usize,
    /// Characters (Unicode scalar values) in `notes`.
    pub max_notes_chars: usize,
    /// Items in each of `checklist`, `parts`, `time_entries`, `photos`, `signatures`.
    pub max_list_items: usize,
    /// Keys in `custom`.
    pub max_custom_fields: usize,
    /// Characters in any string value (labels, serials, reasons, custom values, keys).
    pub max_string_chars: usize,
    /// Bytes of one encoded Automerge sync message.
    pub max_sync_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_doc_bytes: 2 * 1024 * 1024,
            max_events: 1_000,
            max_notes_chars: 100_000,
            max_list_items: 500,
            max_custom_fields: 100,
            max_string_chars: 2_000,
            max_sync_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A document (or message) over one of the [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {actual} {unit} exceeds the limit of {limit}")]
pub struct LimitError {
    /// JSON Pointer of what is too large (`` for the whole document).
    pub path: String,
    pub unit: &'static str,
    pub limit: usize,
    pub actual: usize,
}

impl Limits {
    /// Checks `doc` against every limit except the sync message size.
    /// Saves the document to measure it.
    pub fn check(&self, doc: &TicketDoc) -> Result<(), LimitError> {
        let over = |path: &str, unit, limit: usize, actual: usize| {
            if actual > limit {
                Err(LimitError {
                    path: path.to_owned(),
                    unit,
                    limit,
                    actual,
                })
            } else {
                Ok(())
            }
        };
        let am = doc.as_automerge();
        for (key, ty) in ROOT_KEYS {
            let Some((Value::Object(t), id)) = am.get(ROOT, *key).ok().flatten() else {
                continue;
            };
            if Some(t) != *ty {
                continue;
            }
            let path = format!("/{key}");
            let len = am.length(&id);
            match (t, *key) {
                (ObjType::Text, _) => {
                    over(&path, "Unicode scalar values", self.max_notes_chars, len)?
                }
                (ObjType::List, K_EVENTS) => over(&path, "events", self.max_events, len)?,
                (ObjType::List, _) => over(&path, "items", self.max_list_items, len)?,
                (_, _) => over(
                    &path,
                    "fields",
                    self.max_custom_fields,
                    am.keys(&id).count(),
                )?,
            }
        }
        let mut long = None;
        walk_strings(am, &ROOT, "", &mut |path, chars| {
            if long.is_none() && chars > self.max_string_chars {
                long = Some((path.to_owned(), chars));
            }
        });
        if let Some((path, chars)) = long {
            over(&path, "Unicode scalar values", self.max_string_chars, chars)?;
        }
        over("", "bytes", self.max_doc_bytes, doc.save().len())
    }

    /// Checks the size of one encoded sync message.
    pub fn check_sync_message(&self, message: &[u8]) -> Result<(), LimitError> {
        if message.len() > self.max_sync_message_bytes {
            return Err(LimitError {
                path: String::new(),
                unit: "bytes",
                limit: self.max_sync_message_bytes,
                actual: message.len(),
            });
        }
        Ok(())
    }
}

/// Calls `f(path, chars)` for every string value and map key under `obj`
/// (text objects other than `notes` count as strings too).
fn walk_strings<R: ReadDoc>(doc: &R, obj: &ObjId, path: &str, f: &mut dyn FnMut(&str, usize)) {
    let visit = |f: &mut dyn FnMut(&str, usize), p: &str, v: Value<'_>, id: ObjId| match v {
        Value::Scalar(s) => {
            if let ScalarValue::Str(s) = s.as_ref() {
                f(p, s.chars().count());
            }
        }
        Value::Object(ObjType::Text) if p.strip_prefix('/') != Some(K_NOTES) => {
            f(p, doc.length(&id));
        }
        Value::Object(ObjType::Text) => {}
        Value::Object(_) => walk_strings(doc, &id, p, f),
    };
    match doc.object_type(obj) {
        Ok(ObjType::List) => {
            for i in 0..doc.length(obj) {
                for (v, id) in doc.get_all(obj, i).unwrap_or_default() {
                    visit(f, &format!("{path}/{i}"), v, id);
                }
            }
        }
        Ok(ObjType::Map | ObjType::Table) => {
            for key in doc.keys(obj) {
                let p = format!("{path}/{key}");
                f(&p, key.chars().count());
                for (v, id) in doc.get_all(obj, key.as_str()).unwrap_or_default() {
                    visit(f, &p, v, id);
                }
            }
        }
        _ => {}
    }
}

/// Why a field device's version of a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the edited document does not contain the server's version (missing changes)")]
    NotDescendant,
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("limit: {0}")]
    Limit(#[from] LimitError),
    #[error("{path}: not field-editable")]
    Protected { path: String },
    #[error("{path}: conflicting values are not allowed here")]
    Conflict { path: String },
    #[error("{path}: event `{id}` was removed; events are append-only")]
    EventRemoved { path: String, id: String },
    #[error("{path}: event `{id}` was modified; events are append-only")]
    EventModified { path: String, id: String },
    #[error("{path}: `{kind}` is a server event; a field device may not append it")]
    ServerEvent { path: String, kind: StatusAction },
    #[error(
        "{path}/assignment: must be the `assign`/`reassign` event current in the writer's fold when it wrote the event ({expected}), found {found}"
    )]
    WrongAssignment {
        path: String,
        /// `` `id` `` of the writer's current assignment, or "none".
        expected: String,
        /// `` `id` `` written, or "none (absent)".
        found: String,
    },
    #[error("{path}: event actor `{actor}` did not write any of the new changes")]
    EventActor { path: String, actor: String },
    #[error("{path}: media reference `{id}` may not be modified by a field device")]
    MediaModified { path: String, id: String },
    #[error("{path}: stored media reference `{id}` may not be removed by a field device")]
    MediaRemoved { path: String, id: String },
    #[error("{path}: a field device may only add media references in state `pending`")]
    MediaNotPending { path: String },
}

impl EditError {
    /// The protocol error code a server reports this as.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotDescendant => ErrorCode::InvalidChanges,
            Self::Schema(_) | Self::WrongAssignment { .. } => ErrorCode::SchemaViolation,
            Self::Limit(_) => ErrorCode::LimitExceeded,
            _ => ErrorCode::NotFieldEditable,
        }
    }
}

/// Why [`TicketDoc::receive_field_sync_message`] refused a message. Nothing
/// was applied and the sync state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    #[error("sync message: {0}")]
    TooLarge(LimitError),
    #[error("malformed sync message: {0}")]
    Malformed(String),
    #[error("change {hash} was made by actor {actor}, which is not registered to this device")]
    ForeignActor { hash: String, actor: String },
    #[error(transparent)]
    Rejected(#[from] EditError),
}

impl ReceiveError {
    /// The protocol error code to answer with. Every variant requires a reset
    /// ([`ErrorCode::requires_reset`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge(_) => ErrorCode::LimitExceeded,
            Self::Malformed(_) => ErrorCode::MalformedSyncMessage,
            Self::ForeignActor { .. } => ErrorCode::ForeignActor,
            Self::Rejected(e) => e.code(),
        }
    }
}

impl TicketDoc {
    /// Receives a sync message from a field device, all or nothing: the
    /// message must be within `limits`, every change in it that this document
    /// lacks must be made by one of `device_actors` (including changes that
    /// have to wait for missing dependencies), and the result must pass
    /// [`check_field_edit`]. On success the document and `state` advance
    /// exactly as with [`TicketDoc::receive_sync_message`]; on error neither
    /// changes.
    ///
    /// The message is applied to a full copy of the document — including
    /// Automerge's queue of changes whose dependencies have not arrived yet —
    /// and the copy replaces the document when accepted. (Merging an accepted
    /// fork back with [`TicketDoc::merge`] would drop that queue while the
    /// device's sync state believes those changes were delivered, and the
    /// sync would stall until the next reconnect.)
    pub fn receive_field_sync_message(
        &mut self,
        state: &mut sync::State,
        message: &[u8],
        device_actors: &[ActorId],
        limits: &Limits,
    ) -> Result<(), ReceiveError> {
        *self = self.with_field_sync_message(state, message, device_actors, limits)?;
        Ok(())
    }

    /// [`TicketDoc::receive_field_sync_message`] into a copy, leaving this
    /// document as it was: for a caller that compares the two (the server
    /// projects what the merge changed), which would otherwise copy the
    /// document once more to keep the original.
    pub fn with_field_sync_message(
        &self,
        state: &mut sync::State,
        message: &[u8],
        device_actors: &[ActorId],
        limits: &Limits,
    ) -> Result<TicketDoc, ReceiveError> {
        limits
            .check_sync_message(message)
            .map_err(ReceiveError::TooLarge)?;
        let decoded =
            sync::Message::decode(message).map_err(|e| ReceiveError::Malformed(brief(e)))?;
        for (hash, actor) in message_changes(&decoded)? {
            if !device_actors.contains(&actor)
                && self.as_automerge().get_change_by_hash(&hash).is_none()
            {
                return Err(ReceiveError::ForeignActor {
                    hash: hash.to_string(),
                    actor: actor.to_hex_string(),
                });
            }
        }
        let mut trial = self.as_automerge().clone();
        let mut trial_state = state.clone();
        trial
            .receive_sync_message(&mut trial_state, decoded)
            .map_err(|e| ReceiveError::Malformed(brief(e)))?;
        let trial = TicketDoc::from_parts(trial, self);
        check_field_edit(self, &trial, limits)?;
        *state = trial_state;
        Ok(trial)
    }
}

/// At most this many bytes of a decoder's error are kept: Automerge's
/// errors can print a whole change graph, which would flood the log and
/// the device's error frame.
const ERROR_TEXT_BYTES: usize = 200;

/// `error`'s text, cut to [`ERROR_TEXT_BYTES`] on a character boundary.
fn brief(error: impl std::fmt::Display) -> String {
    let mut text = error.to_string();
    if text.len() > ERROR_TEXT_BYTES {
        let mut end = ERROR_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Hash and actor of every change carried by a sync message: version 1
/// messages carry one change chunk per entry, version 2 messages one entry
/// holding concatenated change chunks or a whole document chunk.
fn message_changes(message: &sync::Message) -> Result<Vec<(ChangeHash, ActorId)>, ReceiveError> {
    let malformed = |e: &dyn std::fmt::Display| ReceiveError::Malformed(brief(e));
    let mut out = Vec::new();
    for entry in message.changes.iter() {
        for chunk in split_chunks(entry)? {
            if chunk[8] == CHUNK_TYPE_DOCUMENT {
                let doc = Automerge::load_with_options(
                    chunk,
                    LoadOptions::new()
                        .on_partial_load(OnPartialLoad::Error)
                        .verification_mode(VerificationMode::Check),
                )
                .map_err(|e| malformed(&e))?;
                out.extend(
                    doc.get_changes(&[])
                        .iter()
                        .map(|c| (c.hash(), c.actor_id().clone())),
                );
            } else {
                let change = Change::try_from(chunk).map_err(|e| malformed(&e))?;
                out.push((change.hash(), change.actor_id().clone()));
            }
        }
    }
    Ok(out)
}

const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_TYPE_DOCUMENT: u8 = 0;

/// Splits concatenated Automerge storage chunks (magic, 4-byte checksum,
/// type byte, LEB128 length, body) into one slice per chunk.
fn split_chunks(mut bytes: &[u8]) -> Result<Vec<&[u8]>, ReceiveError> {
    let bad = |why: &str| ReceiveError::Malformed(format!("bad change chunk: {why}"));
    let mut chunks = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 10 || bytes[..4] != CHUNK_MAGIC {
            return Err(bad("no chunk header"));
        }
        let (mut len, mut shift, mut i) = (0u64, 0u32, 9);
        loop {
            let b = *bytes.get(i).ok_or_else(|| bad("truncated length"))?;
            if shift > 56 {
                return Err(bad("length too long"));
            }
            len |= u64::from(b & 0x7f) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(i))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad("truncated body"))?;
        chunks.push(&bytes[..end]);
        bytes = &bytes[end..];
    }
    Ok(chunks)
}

/// Accepts `after` as a field device's edit of `before` only if:
///
/// - `after` contains every change of `before`;
/// - `after` passes the schema check and `limits`;
/// - the root is untouched: same `ticket_id` and `schema_version`, the same
///   objects under every other root key (none replaced), no conflicting values;
/// - every event of `before` is still there, unchanged (no key added, changed,
///   removed or put in conflict); new events are field actions
///   ([`ActionOrigin::Field`]) whose `assignment` is the one current in the
///   writer's fold when it wrote them (absent only if it had none) and whose
///   `actor` wrote at least one of the new changes;
/// - photo and signature references of `before` are unchanged; a pending one
///   may be removed, a stored one may not; new ones are `pending`.
///
/// Notes, checklist, parts, time entries and custom fields are field-editable
/// without further rules (within the schema and limits).
pub fn check_field_edit(
    before: &TicketDoc,
    after: &TicketDoc,
    limits: &Limits,
) -> Result<(), EditError> {
    let before_heads = before.heads();
    if !after.contains_heads(&before_heads) {
        return Err(EditError::NotDescendant);
    }
    after.validate()?;
    limits.check(after)?;
    let (b, a) = (before.as_automerge(), after.as_automerge());

    for (key, _) in ROOT_KEYS {
        let path = format!("/{key}");
        let after_values = a.get_all(ROOT, *key).unwrap_or_default();
        if after_values.len() > 1 {
            return Err(EditError::Conflict { path });
        }
        let before_values = b.get_all(ROOT, *key).unwrap_or_default();
        let same = match (before_values.first(), after_values.first()) {
            (Some((Value::Object(bt), bid)), Some((Value::Object(at), aid))) => {
                bt == at && bid == aid
            }
            (Some((Value::Scalar(bv), _)), Some((Value::Scalar(av), _))) => bv == av,
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err(EditError::Protected { path });
        }
    }

    check_events(before, after, &before_heads)?;
    for kind in [MediaKind::Photo, MediaKind::Signature] {
        check_media(before, after, kind)?;
    }
    Ok(())
}

fn check_events(
    before: &TicketDoc,
    after: &TicketDoc,
    before_heads: &[automerge::ChangeHash],
) -> Result<(), EditError> {
    let before_items = items(before.as_automerge(), K_EVENTS);
    let after_items = items(after.as_automerge(), K_EVENTS);
    let after_by_id: HashMap<&ObjId, &Node> = after_items.iter().map(|(i, n)| (i, n)).collect();
    for (index, (obj, node)) in before_items.iter().enumerate() {
        let path = format!("/{K_EVENTS}/{index}");
        let id = node.string_at("id").unwrap_or_default();
        match after_by_id.get(obj) {
            None => return Err(EditError::EventRemoved { path, id }),
            Some(n) if *n != node => return Err(EditError::EventModified { path, id }),
            Some(_) => {}
        }
    }
    let known: HashSet<&ObjId> = before_items.iter().map(|(i, _)| i).collect();
    let new_actors: HashSet<String> = after
        .change_actors_since(before_heads)
        .iter()
        .map(|a| a.to_hex_string())
        .collect();
    let events = Obj::root(after.as_automerge()).child(K_EVENTS, ObjType::List)?;
    for (index, (obj, node)) in after_items.iter().enumerate() {
        if known.contains(obj) {
            continue;
        }
        let path = format!("/{K_EVENTS}/{index}");
        if node.has_conflict() {
            return Err(EditError::Conflict { path });
        }
        let event = schema::read_event(&events.item(index)?)?;
        if event.kind.origin() != ActionOrigin::Field {
            return Err(EditError::ServerEvent {
                path,
                kind: event.kind,
            });
        }
        // A wrong or missing `assignment` would make the fold ignore the
        // event for good: refused with a clear reason instead of kept.
        if let Some(expected) = writer_assignment(after, before_heads, obj)
            && expected != event.assignment
        {
            let show = |a: &Option<String>, none: &str| {
                a.as_ref()
                    .map_or_else(|| none.to_owned(), |id| format!("`{id}`"))
            };
            return Err(EditError::WrongAssignment {
                path,
                expected: show(&expected, "none"),
                found: show(&event.assignment, "none (absent)"),
            });
        }
        if !new_actors.contains(&event.actor) {
            return Err(EditError::EventActor {
                path,
                actor: event.actor,
            });
        }
    }
    Ok(())
}

/// The current assignment in the writer's fold when it created the event map
/// `obj`: the fold of the document at the dependencies of the change that
/// created it (what the writer had seen). `None` if that change is not among
/// the new ones.
fn writer_assignment(
    after: &TicketDoc,
    before_heads: &[automerge::ChangeHash],
    obj: &ObjId,
) -> Option<Option<String>> {
    let ObjId::Id(counter, actor, _) = obj else {
        return None;
    };
    let am = after.as_automerge();
    let change = am.get_changes(before_heads).into_iter().find(|c| {
        c.actor_id() == actor && c.start_op().get() <= *counter && *counter <= c.max_op()
    })?;
    let view = am.fork_at(change.deps()).ok()?;
    let events = TicketDoc::from_parts(view, after).events();
    Some(crate::event::fold_status(&events).assignment)
}

fn check_media(before: &TicketDoc, after: &TicketDoc, kind: MediaKind) -> Result<(), EditError> {
    let key = kind.key();
    let before_items = items(before.as_automerge(), key);
    let after_items = items(after.as_automerge(), key);
    let after_by_id: HashMap<&ObjId, &Node> = after_items.iter().map(|(i, n)| (i, n)).collect();
    for (index, (obj, node)) in before_items.iter().enumerate() {
        let path = format!("/{key}/{index}");
        let id = node.string_at("id").unwrap_or_default();
        match after_by_id.get(obj) {
            None if node.string_at("state").as_deref() != Some(MediaState::Pending.as_str()) => {
                return Err(EditError::MediaRemoved { path, id });
            }
            Some(n) if *n != node => return Err(EditError::MediaModified { path, id }),
            _ => {}
        }
    }
    let known: HashSet<&ObjId> = before_items.iter().map(|(i, _)| i).collect();
    for (index, (obj, node)) in after_items.iter().enumerate() {
        if known.contains(obj) {
            continue;
        }
        let path = format!("/{key}/{index}");
        if node.has_conflict() {
            return Err(EditError::Conflict { path });
        }
        if node.string_at("state").as_deref() != Some(MediaState::Pending.as_str()) {
            return Err(EditError::MediaNotPending { path });
        }
    }
    Ok(())
}

/// A complete snapshot of a subtree, conflicting values included (each key
/// or index holds every value Automerge keeps for it), objects with their ids.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Scalar(ScalarValue),
    Text(ObjId, String),
    Map(ObjId, BTreeMap<String, Vec<Node>>),
    List(ObjId, Vec<Vec<Node>>),
}

impl Node {
    fn read<R: ReadDoc>(doc: &R, value: Value<'_>, id: ObjId) -> Node {
        match value {
            Value::Scalar(s) => Node::Scalar(s.into_owned()),
            Value::Object(ObjType::Text) => {
                let text = doc.text(&id).unwrap_or_default();
                Node::Text(id, text)
            }
            Value::Object(ObjType::List) => {
                let items = (0..doc.length(&id))
                    .map(|i| all(doc, &id, i.into()))
                    .collect();
                Node::List(id, items)
            }
            Value::Object(ObjType::Map | ObjType::Table) => {
                let entries = doc
                    .keys(&id)
                    .map(|k| {
                        let values = all(doc, &id, k.as_str().into());
                        (k, values)
                    })
                    .collect();
                Node::Map(id, entries)
            }
        }
    }

    fn has_conflict(&self) -> bool {
        match self {
            Node::Scalar(_) | Node::Text(..) => false,
            Node::Map(_, entries) => entries
                .values()
                .any(|v| v.len() > 1 || v.iter().any(Node::has_conflict)),
            Node::List(_, items) => items
                .iter()
                .any(|v| v.len() > 1 || v.iter().any(Node::has_conflict)),
        }
    }

    /// The winning string value at `key` of a map node.
    fn string_at(&self, key: &str) -> Option<String> {
        let Node::Map(_, entries) = self else {
            return None;
        };
        match entries.get(key)?.last()? {
            Node::Scalar(ScalarValue::Str(s)) => Some(s.to_string()),
            _ => None,
        }
    }
}

fn all<R: ReadDoc>(doc: &R, obj: &ObjId, prop: automerge::Prop) -> Vec<Node> {
    doc.get_all(obj, prop)
        .unwrap_or_default()
        .into_iter()
        .map(|(v, id)| Node::read(doc, v, id))
        .collect()
}

/// The map items of the root list `key`, with their object ids.
fn items<R: ReadDoc>(doc: &R, key: &str) -> Vec<(ObjId, Node)> {
    let Some((Value::Object(ObjType::List), list)) = doc.get(ROOT, key).ok().flatten() else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok().flatten() {
            Some((v @ Value::Object(ObjType::Map), id)) => {
                Some((id.clone(), Node::read(doc, v, id)))
            }
            _ => None,
        })
        .collect()
}
