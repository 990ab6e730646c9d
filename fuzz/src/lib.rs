//! Shared pieces of the fuzz targets: the server's copy of a ticket document
//! and arbitrary edits a device (or an attacker) makes to its own copy.
//!
//! The targets call the same functions the server calls for a device's
//! frame (`Incoming::decode`, `Exchange::decode_frames`,
//! `TicketDoc::receive_field_sync_message`, the fold, the reply) — the
//! server's `device_sync::Session` only adds storage around them.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use truckroll_sync::automerge::{
    self, ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use truckroll_sync::{StatusAction, TicketDoc};

/// The device's registered actor.
pub const DEVICE_ACTOR: [u8; 16] = [0xdd; 16];
pub const TICKET_ID: &str = "0196a1e2-d0d0-7000-8000-00000000000d";

/// The server's document: the skeleton, an assignment, a note, a part.
pub fn server_doc() -> TicketDoc {
    static SAVED: OnceLock<Vec<u8>> = OnceLock::new();
    let saved = SAVED.get_or_init(|| {
        let mut doc = TicketDoc::new(TICKET_ID, ActorId::from([0x5e; 16])).expect("skeleton");
        let assign = doc
            .stamp_event(StatusAction::Assign, 1_767_225_600_000)
            .with_assignee("0196a1e2-d0d0-7000-8000-0000000000aa");
        doc.append_event(&assign).expect("assign");
        doc.notes_append("Compressor noisy. ").expect("notes");
        doc.save()
    });
    TicketDoc::load(saved).expect("server document loads")
}

/// Keys the schema knows, so edits hit the validator's real paths often.
const KEYS: &[&str] = &[
    "id",
    "kind",
    "actor",
    "device_time",
    "hlc",
    "assignment",
    "assignee",
    "reason",
    "position",
    "lat",
    "lon",
    "accuracy_m",
    "label",
    "done",
    "done_by",
    "done_at",
    "part_number",
    "quantity",
    "serial",
    "started_at",
    "ended_at",
    "sha256",
    "content_type",
    "state",
    "taken_at",
    "ticket_id",
    "schema_version",
    "notes",
    "checklist",
    "parts",
    "time_entries",
    "photos",
    "signatures",
    "custom",
    "events",
];

/// String values the schema gives meaning to.
const WORDS: &[&str] = &[
    "accept",
    "decline",
    "start_travel",
    "check_in",
    "hold",
    "resume",
    "complete_work",
    "rework",
    "close",
    "assign",
    "reassign",
    "unassign",
    "cancel",
    "reopen",
    "waiting_customer",
    "waiting_parts",
    "travel",
    "work",
    "waiting",
    "break",
    "pending",
    "stored",
    "image/jpeg",
    "dddddddddddddddddddddddddddddddd",
    "001767225600001-0000000000-dddddddddddddddddddddddddddddddd",
];

#[derive(Debug, Arbitrary)]
pub enum Key {
    Known(u8),
    Any(String),
}

impl Key {
    fn name(&self) -> String {
        match self {
            Self::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
            Self::Any(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Val {
    Word(u8),
    Str(String),
    Int(i64),
    Uint(u64),
    F64(f64),
    Bool(bool),
    Null,
    Timestamp(i64),
    Bytes(Vec<u8>),
    Counter(i64),
    Map,
    List,
    Text(String),
}

/// One edit: `obj` picks one of the document's objects (root first, then
/// every object below it in document order).
#[derive(Debug, Arbitrary)]
pub enum Op {
    Put {
        obj: u8,
        key: Key,
        index: u8,
        value: Val,
    },
    Insert {
        obj: u8,
        index: u8,
        value: Val,
    },
    Delete {
        obj: u8,
        key: Key,
        index: u8,
    },
    Splice {
        obj: u8,
        index: u8,
        delete: u8,
        text: String,
    },
    /// Commit the transaction so far as one change (a message then carries several).
    Commit,
}

fn objects(doc: &Automerge) -> Vec<(ObjId, ObjType)> {
    let mut out = vec![(ROOT, ObjType::Map)];
    let mut i = 0;
    while i < out.len() && out.len() < 256 {
        let (obj, ty) = out[i].clone();
        let children: Vec<(Value<'_>, ObjId)> = match ty {
            ObjType::Map | ObjType::Table => doc
                .keys(&obj)
                .filter_map(|k| doc.get(&obj, k.as_str()).ok().flatten())
                .collect(),
            ObjType::List => (0..doc.length(&obj))
                .filter_map(|n| doc.get(&obj, n).ok().flatten())
                .collect(),
            ObjType::Text => Vec::new(),
        };
        for (v, id) in children {
            if let Value::Object(t) = v {
                out.push((id, t));
            }
        }
        i += 1;
    }
    out
}

fn scalar(v: &Val) -> Option<ScalarValue> {
    Some(match v {
        Val::Word(i) => ScalarValue::Str(WORDS[usize::from(*i) % WORDS.len()].into()),
        Val::Str(s) => ScalarValue::Str(s.as_str().into()),
        Val::Int(n) => ScalarValue::Int(*n),
        Val::Uint(n) => ScalarValue::Uint(*n),
        Val::F64(f) => ScalarValue::F64(*f),
        Val::Bool(b) => ScalarValue::Boolean(*b),
        Val::Null => ScalarValue::Null,
        Val::Timestamp(t) => ScalarValue::Timestamp(*t),
        Val::Bytes(b) => ScalarValue::Bytes(b.clone()),
        Val::Counter(c) => ScalarValue::counter(*c),
        Val::Map | Val::List | Val::Text(_) => return None,
    })
}

fn object_type(v: &Val) -> Option<ObjType> {
    match v {
        Val::Map => Some(ObjType::Map),
        Val::List => Some(ObjType::List),
        Val::Text(_) => Some(ObjType::Text),
        _ => None,
    }
}

/// Applies `ops` to `doc` (errors from Automerge, e.g. an index out of
/// range, just skip the op). At most 64 ops, so one input stays quick.
pub fn apply_ops(doc: &mut Automerge, ops: &[Op]) {
    for chunk in ops
        .iter()
        .take(64)
        .collect::<Vec<_>>()
        .split(|op| matches!(op, Op::Commit))
    {
        let objs = objects(doc);
        let mut tx = doc.transaction();
        for op in chunk {
            let _ = apply_op(&mut tx, &objs, op);
        }
        tx.commit();
    }
}

fn apply_op(
    tx: &mut automerge::transaction::Transaction<'_>,
    objs: &[(ObjId, ObjType)],
    op: &Op,
) -> Result<(), automerge::AutomergeError> {
    let pick = |i: u8| objs[usize::from(i) % objs.len()].clone();
    match op {
        Op::Put {
            obj,
            key,
            index,
            value,
        } => {
            let (obj, ty) = pick(*obj);
            match (ty, scalar(value), object_type(value)) {
                (ObjType::List, Some(s), _) => tx.put(&obj, usize::from(*index), s)?,
                (ObjType::List, None, Some(t)) => {
                    tx.put_object(&obj, usize::from(*index), t)?;
                }
                (ObjType::Text, ..) => {}
                (_, Some(s), _) => tx.put(&obj, key.name(), s)?,
                (_, None, Some(t)) => {
                    let id = tx.put_object(&obj, key.name(), t)?;
                    if let Val::Text(s) = value {
                        tx.splice_text(&id, 0, 0, s)?;
                    }
                }
                _ => {}
            }
        }
        Op::Insert { obj, index, value } => {
            let (obj, ty) = pick(*obj);
            if ty == ObjType::List {
                match (scalar(value), object_type(value)) {
                    (Some(s), _) => tx.insert(&obj, usize::from(*index), s)?,
                    (None, Some(t)) => {
                        tx.insert_object(&obj, usize::from(*index), t)?;
                    }
                    _ => {}
                }
            }
        }
        Op::Delete { obj, key, index } => {
            let (obj, ty) = pick(*obj);
            match ty {
                ObjType::List | ObjType::Text => tx.delete(&obj, usize::from(*index))?,
                _ => tx.delete(&obj, key.name())?,
            }
        }
        Op::Splice {
            obj,
            index,
            delete,
            text,
        } => {
            let (obj, ty) = pick(*obj);
            if ty == ObjType::Text {
                tx.splice_text(
                    &obj,
                    usize::from(*index),
                    isize::from(*delete as i8).abs(),
                    text,
                )?;
            }
        }
        Op::Commit => {}
    }
    Ok(())
}
