//! The shape of a ticket document, its typed items, and the schema check.
//!
//! PROTOCOL.md ("Document schema") is the normative description; this module
//! is its implementation. Readers here are strict: they return a
//! [`SchemaError`] naming the path of the first problem. [`crate::TicketDoc`]'s
//! list readers skip items that fail, so a quarantined or half-valid document
//! stays readable; [`validate_schema`] reports the first failure instead.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};

use crate::event::{Position, StatusEvent};
use crate::hlc::{Hlc, is_actor_hex};
use crate::status::{HoldReason, StatusAction};

/// The schema version this crate writes and accepts.
pub const SCHEMA_VERSION: i64 = 1;

pub(crate) const K_TICKET_ID: &str = "ticket_id";
pub(crate) const K_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const K_NOTES: &str = "notes";
pub(crate) const K_CHECKLIST: &str = "checklist";
pub(crate) const K_PARTS: &str = "parts";
pub(crate) const K_TIME_ENTRIES: &str = "time_entries";
pub(crate) const K_PHOTOS: &str = "photos";
pub(crate) const K_SIGNATURES: &str = "signatures";
pub(crate) const K_CUSTOM: &str = "custom";
pub(crate) const K_EVENTS: &str = "events";

/// Every root key, in the order the document skeleton writes them.
pub(crate) const ROOT_KEYS: &[(&str, Option<ObjType>)] = &[
    (K_TICKET_ID, None),
    (K_SCHEMA_VERSION, None),
    (K_NOTES, Some(ObjType::Text)),
    (K_CHECKLIST, Some(ObjType::List)),
    (K_PARTS, Some(ObjType::List)),
    (K_TIME_ENTRIES, Some(ObjType::List)),
    (K_PHOTOS, Some(ObjType::List)),
    (K_SIGNATURES, Some(ObjType::List)),
    (K_CUSTOM, Some(ObjType::Map)),
    (K_EVENTS, Some(ObjType::List)),
];

pub(crate) const CHECKLIST_KEYS: &[&str] = &["id", "label", "done", "done_by", "done_at"];
pub(crate) const PART_KEYS: &[&str] = &["id", "part_number", "quantity", "serial"];
pub(crate) const TIME_ENTRY_KEYS: &[&str] = &["id", "kind", "started_at", "ended_at"];
pub(crate) const MEDIA_KEYS: &[&str] = &["id", "sha256", "content_type", "state", "taken_at"];
pub(crate) const EVENT_KEYS: &[&str] = &[
    "id",
    "kind",
    "actor",
    "device_time",
    "hlc",
    "position",
    "reason",
    "assignee",
    "assignment",
];
pub(crate) const POSITION_KEYS: &[&str] = &["lat", "lon", "accuracy_m"];

/// One line of the on-site checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: String,
    pub label: String,
    pub done: bool,
    pub done_by: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub done_at: Option<i64>,
}

/// A part used on the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub id: String,
    pub part_number: String,
    /// Positive; fractional for parts sold by length or weight.
    pub quantity: f64,
    pub serial: Option<String>,
}

/// What a time entry was spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeEntryKind {
    Travel,
    Work,
    Waiting,
    Break,
}

impl TimeEntryKind {
    /// Every kind.
    pub const ALL: [TimeEntryKind; 4] = [Self::Travel, Self::Work, Self::Waiting, Self::Break];

    /// The snake_case name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Travel => "travel",
            Self::Work => "work",
            Self::Waiting => "waiting",
            Self::Break => "break",
        }
    }
}

impl FromStr for TimeEntryKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// A span of time worked on the ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeEntry {
    pub id: String,
    pub kind: TimeEntryKind,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    /// Milliseconds since the Unix epoch; `None` while running.
    pub ended_at: Option<i64>,
}

/// Whether the blob behind a media reference has been verified by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Recorded on the device; upload not yet verified.
    Pending,
    /// The server checked size, type and hash of the stored object.
    Stored,
}

impl MediaState {
    /// The snake_case name, identical to the serde representation.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Stored => "stored",
        }
    }
}

impl FromStr for MediaState {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pending" => Ok(Self::Pending),
            "stored" => Ok(Self::Stored),
            _ => Err(()),
        }
    }
}

/// Which media list a reference lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Signature,
}

impl MediaKind {
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Self::Photo => K_PHOTOS,
            Self::Signature => K_SIGNATURES,
        }
    }
}

/// A reference to a photo or signature blob, addressed by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    pub id: String,
    /// Lowercase hex SHA-256 of the content (64 characters).
    pub sha256: String,
    /// MIME type, `type/subtype`.
    pub content_type: String,
    pub state: MediaState,
    /// Milliseconds since the Unix epoch.
    pub taken_at: i64,
}

/// The value of a field-editable custom field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomValue {
    Null,
    Bool(bool),
    Int(i64),
    F64(f64),
    Str(String),
    /// Milliseconds since the Unix epoch (an Automerge timestamp). Serialised
    /// to JSON as a plain integer.
    Timestamp(i64),
}

impl CustomValue {
    pub(crate) fn to_scalar(&self) -> ScalarValue {
        match self {
            Self::Null => ScalarValue::Null,
            Self::Bool(b) => ScalarValue::Boolean(*b),
            Self::Int(i) => ScalarValue::Int(*i),
            Self::F64(f) => ScalarValue::F64(*f),
            Self::Str(s) => ScalarValue::Str(s.as_str().into()),
            Self::Timestamp(t) => ScalarValue::Timestamp(*t),
        }
    }
}

/// What is wrong at a [`SchemaError`]'s path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    /// A required key is absent (or null).
    Missing,
    /// The value has another Automerge type.
    WrongType {
        expected: &'static str,
        found: String,
    },
    /// A key the schema does not define.
    UnknownKey,
    /// The type is right but the value is not allowed.
    Invalid(String),
    /// An `id` that another item of the same list already has.
    DuplicateId(String),
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing"),
            Self::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::UnknownKey => f.write_str("unknown key"),
            Self::Invalid(why) => write!(f, "invalid value: {why}"),
            Self::DuplicateId(id) => write!(f, "duplicate id `{id}`"),
        }
    }
}

/// A document that does not match the ticket schema. `path` is a JSON
/// Pointer into the document (`/events/2/kind`; `` for the root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema: {}: {problem}", if path.is_empty() { "/" } else { path })]
pub struct SchemaError {
    pub path: String,
    pub problem: SchemaProblem,
}

impl SchemaError {
    pub(crate) fn new(path: impl Into<String>, problem: SchemaProblem) -> Self {
        Self {
            path: path.into(),
            problem,
        }
    }
}

/// Checks that `doc` is a ticket document: every root key present with its
/// type and no other, every list item a map with exactly the defined keys and
/// value types, ids unique within each list, and the cross-field rules of
/// events. Returns the first problem found.
pub fn validate_schema<R: ReadDoc>(doc: &R) -> Result<(), SchemaError> {
    let root = Obj::root(doc);
    root.check_keys(ROOT_KEYS.iter().map(|(k, _)| *k))?;
    let ticket_id = root.req_str(K_TICKET_ID)?;
    if ticket_id.is_empty() {
        return Err(root.invalid(K_TICKET_ID, "empty"));
    }
    let version = root.req_int(K_SCHEMA_VERSION)?;
    if version != SCHEMA_VERSION {
        return Err(root.invalid(
            K_SCHEMA_VERSION,
            format!("version {version} is not supported (expected {SCHEMA_VERSION})"),
        ));
    }
    root.child(K_NOTES, ObjType::Text)?;
    strict_list(&root, K_CHECKLIST, read_checklist_item, |i| &i.id)?;
    strict_list(&root, K_PARTS, read_part, |p| &p.id)?;
    strict_list(&root, K_TIME_ENTRIES, read_time_entry, |t| &t.id)?;
    strict_list(&root, K_PHOTOS, read_media_ref, |m| &m.id)?;
    strict_list(&root, K_SIGNATURES, read_media_ref, |m| &m.id)?;
    read_custom(&root.child(K_CUSTOM, ObjType::Map)?)?;
    strict_list(&root, K_EVENTS, read_event, |e| &e.id)?;
    Ok(())
}

fn strict_list<'a, R: ReadDoc, T>(
    root: &Obj<'a, R>,
    key: &str,
    read: fn(&Obj<'a, R>) -> Result<T, SchemaError>,
    id: fn(&T) -> &String,
) -> Result<Vec<T>, SchemaError> {
    let list = root.child(key, ObjType::List)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in list.items()? {
        let value = read(&item)?;
        if !seen.insert(id(&value).clone()) {
            return Err(SchemaError::new(
                format!("{}/id", item.path),
                SchemaProblem::DuplicateId(id(&value).clone()),
            ));
        }
        out.push(value);
    }
    Ok(out)
}

/// A lenient list reader: items that fail to parse are skipped.
pub(crate) fn lenient_list<'a, R: ReadDoc, T>(
    doc: &'a R,
    key: &str,
    read: fn(&Obj<'a, R>) -> Result<T, SchemaError>,
) -> Vec<T> {
    let Ok(list) = Obj::root(doc).child(key, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list.id))
        .filter_map(|i| list.item(i).ok())
        .filter_map(|item| read(&item).ok())
        .collect()
}

pub(crate) fn read_checklist_item<R: ReadDoc>(
    o: &Obj<'_, R>,
) -> Result<ChecklistItem, SchemaError> {
    o.check_keys(CHECKLIST_KEYS.iter().copied())?;
    Ok(ChecklistItem {
        id: o.req_id()?,
        label: o.req_str("label")?,
        done: o.req_bool("done")?,
        done_by: o.opt_str("done_by")?,
        done_at: o.opt_timestamp("done_at")?,
    })
}

pub(crate) fn read_part<R: ReadDoc>(o: &Obj<'_, R>) -> Result<Part, SchemaError> {
    o.check_keys(PART_KEYS.iter().copied())?;
    let part_number = o.req_str("part_number")?;
    if part_number.is_empty() {
        return Err(o.invalid("part_number", "empty"));
    }
    let quantity = o.req_number("quantity")?;
    if quantity <= 0.0 {
        return Err(o.invalid("quantity", "must be positive"));
    }
    Ok(Part {
        id: o.req_id()?,
        part_number,
        quantity,
        serial: o.opt_str("serial")?,
    })
}

pub(crate) fn read_time_entry<R: ReadDoc>(o: &Obj<'_, R>) -> Result<TimeEntry, SchemaError> {
    o.check_keys(TIME_ENTRY_KEYS.iter().copied())?;
    let started_at = o.req_timestamp("started_at")?;
    let ended_at = o.opt_timestamp("ended_at")?;
    if ended_at.is_some_and(|e| e < started_at) {
        return Err(o.invalid("ended_at", "before started_at"));
    }
    Ok(TimeEntry {
        id: o.req_id()?,
        kind: o.req_enum("kind", "travel, work, waiting, break")?,
        started_at,
        ended_at,
    })
}

pub(crate) fn read_media_ref<R: ReadDoc>(o: &Obj<'_, R>) -> Result<MediaRef, SchemaError> {
    o.check_keys(MEDIA_KEYS.iter().copied())?;
    let sha256 = o.req_str("sha256")?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(o.invalid("sha256", "expected 64 lowercase hex characters"));
    }
    let content_type = o.req_str("content_type")?;
    match content_type.split_once('/') {
        Some((t, s))
            if !t.is_empty() && !s.is_empty() && !content_type.contains(char::is_whitespace) => {}
        _ => return Err(o.invalid("content_type", "expected a MIME type `type/subtype`")),
    }
    Ok(MediaRef {
        id: o.req_id()?,
        sha256,
        content_type,
        state: o.req_enum("state", "pending, stored")?,
        taken_at: o.req_timestamp("taken_at")?,
    })
}

pub(crate) fn read_custom<R: ReadDoc>(
    o: &Obj<'_, R>,
) -> Result<BTreeMap<String, CustomValue>, SchemaError> {
    let mut out = BTreeMap::new();
    for key in o.doc.keys(&o.id) {
        if let Some(value) = read_custom_value(o, &key)? {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// The custom field `key` of the `custom` map `o`; `None` if absent.
pub(crate) fn read_custom_value<R: ReadDoc>(
    o: &Obj<'_, R>,
    key: &str,
) -> Result<Option<CustomValue>, SchemaError> {
    let path = o.key_path(key);
    if key.is_empty() {
        return Err(SchemaError::new(
            path,
            SchemaProblem::Invalid("empty key".into()),
        ));
    }
    let value = match o.doc.get(&o.id, key).ok().flatten() {
        None => return Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Null => CustomValue::Null,
            ScalarValue::Boolean(b) => CustomValue::Bool(*b),
            ScalarValue::Int(i) => CustomValue::Int(*i),
            ScalarValue::Uint(u) => CustomValue::Int(i64::try_from(*u).map_err(|_| {
                SchemaError::new(
                    path.clone(),
                    SchemaProblem::Invalid("integer out of range".into()),
                )
            })?),
            ScalarValue::F64(f) if f.is_finite() => CustomValue::F64(*f),
            ScalarValue::Str(s) => CustomValue::Str(s.to_string()),
            ScalarValue::Timestamp(t) => CustomValue::Timestamp(*t),
            other => {
                return Err(SchemaError::new(
                    path,
                    SchemaProblem::WrongType {
                        expected: "null, boolean, int, uint, finite f64, string or timestamp",
                        found: describe_scalar(other),
                    },
                ));
            }
        },
        Some((Value::Object(t), _)) => {
            return Err(SchemaError::new(
                path,
                SchemaProblem::WrongType {
                    expected: "a scalar",
                    found: describe_obj(t).into(),
                },
            ));
        }
    };
    Ok(Some(value))
}

pub(crate) fn read_event<R: ReadDoc>(o: &Obj<'_, R>) -> Result<StatusEvent, SchemaError> {
    o.check_keys(EVENT_KEYS.iter().copied())?;
    let id = o.req_id()?;
    let kind: StatusAction = o.req_enum("kind", "a status action name")?;
    let actor = o.req_str("actor")?;
    if !is_actor_hex(&actor) {
        return Err(o.invalid("actor", "expected an actor id in lowercase hex"));
    }
    let hlc_text = o.req_str("hlc")?;
    let hlc: Hlc = hlc_text
        .parse()
        .map_err(|e: crate::hlc::ParseHlcError| o.invalid("hlc", e.to_string()))?;
    if hlc.actor() != actor {
        return Err(o.invalid("hlc", "stamp actor differs from the event's actor"));
    }
    let position = match o.opt_child("position", ObjType::Map)? {
        None => None,
        Some(p) => Some(read_position(&p)?),
    };
    let reason = o.opt_str("reason")?;
    if kind == StatusAction::Hold
        && reason
            .as_deref()
            .and_then(|r| r.parse::<HoldReason>().ok())
            .is_none()
    {
        return Err(o.invalid(
            "reason",
            "hold needs a reason: waiting_customer or waiting_parts",
        ));
    }
    let assignee = o.opt_str("assignee")?;
    let assigns = matches!(kind, StatusAction::Assign | StatusAction::Reassign);
    match (&assignee, assigns) {
        (None, true) => {
            return Err(SchemaError::new(
                o.key_path("assignee"),
                SchemaProblem::Missing,
            ));
        }
        (Some(_), false) => return Err(o.invalid("assignee", format!("not allowed on `{kind}`"))),
        (Some(a), true) if a.is_empty() => return Err(o.invalid("assignee", "empty")),
        _ => {}
    }
    Ok(StatusEvent {
        id,
        kind,
        actor,
        device_time: o.req_timestamp("device_time")?,
        hlc,
        position,
        reason,
        assignee,
        assignment: o.opt_str("assignment")?,
    })
}

fn read_position<R: ReadDoc>(o: &Obj<'_, R>) -> Result<Position, SchemaError> {
    o.check_keys(POSITION_KEYS.iter().copied())?;
    let lat = o.req_number("lat")?;
    let lon = o.req_number("lon")?;
    let accuracy_m = o.opt_number("accuracy_m")?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(o.invalid("lat", "outside -90..=90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(o.invalid("lon", "outside -180..=180"));
    }
    if accuracy_m.is_some_and(|a| a < 0.0) {
        return Err(o.invalid("accuracy_m", "negative"));
    }
    Ok(Position {
        lat,
        lon,
        accuracy_m,
    })
}

pub(crate) fn describe_obj(t: ObjType) -> &'static str {
    match t {
        ObjType::Map => "map",
        ObjType::Table => "table",
        ObjType::List => "list",
        ObjType::Text => "text",
    }
}

pub(crate) fn describe_scalar(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Bytes(_) => "bytes",
        ScalarValue::Str(_) => "string",
        ScalarValue::Int(_) => "int",
        ScalarValue::Uint(_) => "uint",
        ScalarValue::F64(f) if !f.is_finite() => "non-finite f64",
        ScalarValue::F64(_) => "f64",
        ScalarValue::Counter(_) => "counter",
        ScalarValue::Timestamp(_) => "timestamp",
        ScalarValue::Boolean(_) => "boolean",
        ScalarValue::Unknown { .. } => "unknown scalar",
        ScalarValue::Null => "null",
    }
    .to_owned()
}

fn describe(v: &Value<'_>) -> String {
    match v {
        Value::Object(t) => describe_obj(*t).to_owned(),
        Value::Scalar(s) => describe_scalar(s),
    }
}

/// An object of a document together with its JSON Pointer path, with strict
/// typed accessors.
#[derive(Debug)]
pub(crate) struct Obj<'a, R> {
    pub(crate) doc: &'a R,
    pub(crate) id: ObjId,
    pub(crate) path: String,
}

impl<'a, R: ReadDoc> Obj<'a, R> {
    pub(crate) fn root(doc: &'a R) -> Self {
        Self {
            doc,
            id: ROOT,
            path: String::new(),
        }
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        // JSON Pointer escaping (RFC 6901).
        format!(
            "{}/{}",
            self.path,
            key.replace('~', "~0").replace('/', "~1")
        )
    }

    fn invalid(&self, key: &str, why: impl Into<String>) -> SchemaError {
        SchemaError::new(self.key_path(key), SchemaProblem::Invalid(why.into()))
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value<'_>) -> SchemaError {
        SchemaError::new(
            self.key_path(key),
            SchemaProblem::WrongType {
                expected,
                found: describe(found),
            },
        )
    }

    pub(crate) fn check_keys<'k>(
        &self,
        allowed: impl Iterator<Item = &'k str> + Clone,
    ) -> Result<(), SchemaError> {
        for key in self.doc.keys(&self.id) {
            if !allowed.clone().any(|a| a == key) {
                return Err(SchemaError::new(
                    self.key_path(&key),
                    SchemaProblem::UnknownKey,
                ));
            }
        }
        Ok(())
    }

    /// The value at `key`; `None` if absent.
    fn get(&self, key: &str) -> Option<Value<'a>> {
        self.doc.get(&self.id, key).ok().flatten().map(|(v, _)| v)
    }

    /// A scalar at `key`; `None` if absent or null.
    fn opt_scalar(
        &self,
        key: &str,
        expected: &'static str,
    ) -> Result<Option<ScalarValue>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Scalar(s)) if s.is_null() => Ok(None),
            Some(Value::Scalar(s)) => Ok(Some(s.into_owned())),
            Some(other) => Err(self.wrong(key, expected, &other)),
        }
    }

    fn opt_typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        pick: fn(&ScalarValue) -> Option<T>,
    ) -> Result<Option<T>, SchemaError> {
        match self.opt_scalar(key, expected)? {
            None => Ok(None),
            Some(s) => pick(&s).map(Some).ok_or_else(|| {
                self.wrong(key, expected, &Value::Scalar(std::borrow::Cow::Owned(s)))
            }),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, SchemaError> {
        v.ok_or_else(|| SchemaError::new(self.key_path(key), SchemaProblem::Missing))
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>, SchemaError> {
        self.opt_typed(key, "string", |s| match s {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        })
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<String, SchemaError> {
        let v = self.opt_str(key)?;
        self.required(key, v)
    }

    fn req_id(&self) -> Result<String, SchemaError> {
        let id = self.req_str("id")?;
        if id.is_empty() {
            return Err(self.invalid("id", "empty"));
        }
        Ok(id)
    }

    fn req_enum<T: FromStr>(&self, key: &str, allowed: &str) -> Result<T, SchemaError> {
        let s = self.req_str(key)?;
        s.parse()
            .map_err(|_| self.invalid(key, format!("`{s}` is not one of: {allowed}")))
    }

    fn req_bool(&self, key: &str) -> Result<bool, SchemaError> {
        let v = self.opt_typed(key, "boolean", |s| match s {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        })?;
        self.required(key, v)
    }

    fn req_int(&self, key: &str) -> Result<i64, SchemaError> {
        let v = self.opt_typed(key, "int", |s| match s {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        })?;
        self.required(key, v)
    }

    pub(crate) fn opt_timestamp(&self, key: &str) -> Result<Option<i64>, SchemaError> {
        self.opt_typed(key, "timestamp", |s| match s {
            ScalarValue::Timestamp(t) => Some(*t),
            _ => None,
        })
    }

    fn req_timestamp(&self, key: &str) -> Result<i64, SchemaError> {
        let v = self.opt_timestamp(key)?;
        self.required(key, v)
    }

    fn opt_number(&self, key: &str) -> Result<Option<f64>, SchemaError> {
        self.opt_typed(key, "finite number (int, uint or f64)", |s| match s {
            ScalarValue::Int(i) => Some(*i as f64),
            ScalarValue::Uint(u) => Some(*u as f64),
            ScalarValue::F64(f) if f.is_finite() => Some(*f),
            _ => None,
        })
    }

    fn req_number(&self, key: &str) -> Result<f64, SchemaError> {
        let v = self.opt_number(key)?;
        self.required(key, v)
    }

    /// The object at `key`, which must exist and have type `ty`.
    pub(crate) fn child(&self, key: &str, ty: ObjType) -> Result<Obj<'a, R>, SchemaError> {
        let v = self.opt_child(key, ty)?;
        self.required(key, v)
    }

    /// The object at `key` if present and not null; it must have type `ty`.
    pub(crate) fn opt_child(
        &self,
        key: &str,
        ty: ObjType,
    ) -> Result<Option<Obj<'a, R>>, SchemaError> {
        let expected = describe_obj(ty);
        match self.doc.get(&self.id, key).ok().flatten() {
            None => Ok(None),
            Some((Value::Scalar(s), _)) if s.is_null() => Ok(None),
            Some((Value::Object(t), id)) if t == ty => Ok(Some(Obj {
                doc: self.doc,
                id,
                path: self.key_path(key),
            })),
            Some((other, _)) => Err(self.wrong(key, expected, &other)),
        }
    }

    /// Element `i` of this list, which must be a map.
    pub(crate) fn item(&self, i: usize) -> Result<Obj<'a, R>, SchemaError> {
        let path = format!("{}/{i}", self.path);
        match self.doc.get(&self.id, i).ok().flatten() {
            Some((Value::Object(ObjType::Map), id)) => Ok(Obj {
                doc: self.doc,
                id,
                path,
            }),
            Some((other, _)) => Err(SchemaError::new(
                path,
                SchemaProblem::WrongType {
                    expected: "map",
                    found: describe(&other),
                },
            )),
            None => Err(SchemaError::new(path, SchemaProblem::Missing)),
        }
    }

    /// Every element of this list, each of which must be a map.
    pub(crate) fn items(&self) -> Result<Vec<Obj<'a, R>>, SchemaError> {
        (0..self.doc.length(&self.id))
            .map(|i| self.item(i))
            .collect()
    }
}
