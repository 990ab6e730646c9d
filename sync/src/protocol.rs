//! The sync protocol's envelope: JSON frames that multiplex standard
//! Automerge sync messages for many documents over one connection.
//!
//! `sync/PROTOCOL.md` is the normative description. One frame is one JSON
//! object with a `type` tag; binary payloads are standard base64 (RFC 4648
//! §4, with padding). Over WebSocket, one text message carries one frame;
//! over the one-shot HTTP exchange, a body carries `{"frames": [...]}`.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest encoded frame accepted (a 4 MiB sync message in base64 plus room).
pub const MAX_FRAME_BYTES: usize = 6 * 1024 * 1024;

/// Largest one-shot HTTP exchange body accepted.
pub const MAX_EXCHANGE_BYTES: usize = 16 * 1024 * 1024;

/// The `type` of the frame that carries a request's `sync` frames in one
/// (PROTOCOL.md §3.4, "Batched sync frames"): device → server, in a
/// `POST /v1/sync` request, to a server that said it reads it.
pub const SYNC_BATCH: &str = "sync_batch";

/// The answer header by which a server says it reads `sync_batch` frames.
pub const SYNC_BATCH_HEADER: &str = "truckroll-sync-batch";

/// One frame of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// First frame in each direction: the sender's protocol version and the
    /// device the session is for (the server echoes the authenticated one).
    Hello { version: u32, device_id: String },
    /// A standard Automerge sync message (`generateSyncMessage` output) for
    /// one document.
    Sync {
        doc_id: String,
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// Server → device: this document is in the device's set; start syncing it.
    DocAdded { doc_id: String },
    /// Server → device: this document left the device's set.
    DocRemoved {
        doc_id: String,
        reason: RemovalReason,
    },
    /// Something went wrong, for one document (`doc_id`) or the session.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        doc_id: Option<String>,
        code: ErrorCode,
        detail: String,
    },
    /// Server → device: the job packet of a document in the set, replaced
    /// whole (PROTOCOL.md §4). `hash` identifies its content.
    Packet {
        doc_id: String,
        hash: String,
        packet: Box<crate::packet::JobPacket>,
    },
    /// Device → server, after `hello`: the hash of the packet the device
    /// holds for a document, so the server sends only packets that changed.
    PacketHave { doc_id: String, hash: String },
}

/// Why a document left a device's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// The ticket was given to another technician.
    Reassigned,
    /// The ticket has no technician any more (unassigned or declined).
    Unassigned,
    Cancelled,
    /// Closed; the document is frozen.
    Closed,
    Deleted,
    /// The device asked for a document that is not in its set.
    NotInSet,
    /// A reason this version does not know.
    #[serde(other)]
    Other,
}

/// Machine-readable error codes. Unknown codes decode as [`ErrorCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The peer does not speak the version in `hello`.
    UnsupportedVersion,
    /// The first frame was not `hello`.
    HelloRequired,
    /// Not JSON, or not a frame of this version.
    MalformedFrame,
    /// A frame over [`MAX_FRAME_BYTES`] (or a body over [`MAX_EXCHANGE_BYTES`]).
    FrameTooLarge,
    /// The document is not in this device's set (and not draining).
    NotInSet,
    /// `data` is not a decodable Automerge sync message, or its changes do
    /// not decode.
    MalformedSyncMessage,
    /// A change was made by an actor not registered to this device.
    ForeignActor,
    /// The merged document fails the schema check.
    SchemaViolation,
    /// A change touches something a field device may not change.
    NotFieldEditable,
    /// The document or message would exceed a size limit.
    LimitExceeded,
    /// The changes do not build on the server's version.
    InvalidChanges,
    /// Authentication expired or was revoked; re-authenticate and reconnect.
    Unauthorized,
    /// A server fault; retry later with backoff.
    Internal,
    /// The session already carried changes for as many documents as the
    /// server allows one session; sync the rest in a new session.
    SessionLimit,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// Whether the server discarded the device's changes for the document and
    /// reset its sync state for it: the device must set its local copy aside
    /// (quarantine), drop its sync state for the document and sync it again
    /// from an empty document.
    pub const fn requires_reset(self) -> bool {
        matches!(
            self,
            Self::MalformedSyncMessage
                | Self::ForeignActor
                | Self::SchemaViolation
                | Self::NotFieldEditable
                | Self::LimitExceeded
                | Self::InvalidChanges
        )
    }
}

/// A frame that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A well-formed frame of a type this version does not know. Receivers
    /// skip such frames (see PROTOCOL.md, "Compatibility").
    #[error("unknown frame type `{0}`")]
    UnknownType(String),
}

impl EnvelopeError {
    /// The protocol error code to answer this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge(..) => ErrorCode::FrameTooLarge,
            Self::Malformed(_) | Self::UnknownType(_) => ErrorCode::MalformedFrame,
        }
    }
}

/// One received frame, as far as it could be read. A receiver answers each
/// frame on its own: an unknown type is skipped, a bad frame fails only
/// itself (and, when it names one, only its document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Frame(Message),
    /// A frame whose `type` this version does not know (PROTOCOL.md §3.1,
    /// "Compatibility": receivers skip it).
    Unknown(String),
    /// A frame that could not be read: not JSON, not an object, a known type
    /// with missing or ill-typed fields, or `data` that is not base64.
    /// `doc_id` is the frame's `doc_id` when it has a string one.
    Bad {
        doc_id: Option<String>,
        code: ErrorCode,
        detail: String,
    },
}

impl Incoming {
    /// Reads one frame (a WebSocket text message).
    pub fn decode(frame: &str) -> Self {
        if frame.len() > MAX_FRAME_BYTES {
            return Self::from_error(None, EnvelopeError::TooLarge(frame.len(), MAX_FRAME_BYTES));
        }
        match serde_json::from_str::<serde_json::Value>(frame) {
            Ok(value) => Self::from_value(value),
            Err(e) => Self::from_error(None, e.into()),
        }
    }

    fn from_value(value: serde_json::Value) -> Self {
        let doc_id = value
            .get("doc_id")
            .and_then(|d| d.as_str())
            .map(str::to_owned);
        match Message::from_value(value) {
            Ok(m) => Self::Frame(m),
            Err(EnvelopeError::UnknownType(t)) => Self::Unknown(t),
            Err(e) => Self::from_error(doc_id, e),
        }
    }

    fn from_error(doc_id: Option<String>, e: EnvelopeError) -> Self {
        Self::Bad {
            doc_id,
            code: e.code(),
            detail: e.to_string(),
        }
    }

    /// The `error` frame that answers a bad frame.
    pub fn error_frame(&self) -> Option<Message> {
        match self {
            Self::Bad {
                doc_id,
                code,
                detail,
            } => Some(Message::Error {
                doc_id: doc_id.clone(),
                code: *code,
                detail: detail.clone(),
            }),
            _ => None,
        }
    }
}

/// WebSocket close codes (RFC 6455 §7.4) the server sends when it ends a
/// session. 1000–1015 are RFC 6455's; 4000–4999 are the range RFC 6455
/// leaves to applications, here 4000 + the HTTP status of the same meaning.
pub mod close {
    use super::ErrorCode;

    /// The device closed, or the server answers a close.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect after a short pause (to
    /// another replica, behind a load balancer).
    pub const GOING_AWAY: u16 = 1001;
    /// A frame over [`super::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A server fault; reconnect with backoff.
    pub const INTERNAL: u16 = 1011;
    /// The first frame was not `hello` (`hello_required`, `malformed_frame`).
    pub const HELLO_REQUIRED: u16 = 4400;
    /// `unauthorized`: re-authenticate before reconnecting.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `unsupported_version`: the server does not speak the `hello` version.
    pub const UNSUPPORTED_VERSION: u16 = 4426;

    /// The close code that ends a session refused with `code`.
    pub const fn for_code(code: ErrorCode) -> u16 {
        match code {
            ErrorCode::Unauthorized => UNAUTHORIZED,
            ErrorCode::UnsupportedVersion => UNSUPPORTED_VERSION,
            ErrorCode::HelloRequired | ErrorCode::MalformedFrame => HELLO_REQUIRED,
            ErrorCode::FrameTooLarge => MESSAGE_TOO_BIG,
            _ => INTERNAL,
        }
    }
}

const KNOWN_TYPES: [&str; 7] = [
    "hello",
    "sync",
    "doc_added",
    "doc_removed",
    "error",
    "packet",
    "packet_have",
];

impl Message {
    /// The frame as compact JSON.
    pub fn encode(&self) -> String {
        // Serialising these types cannot fail: all keys are strings.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes one frame (at most [`MAX_FRAME_BYTES`]). Unknown fields are
    /// ignored; an unknown `type` is [`EnvelopeError::UnknownType`].
    pub fn decode(frame: &str) -> Result<Self, EnvelopeError> {
        if frame.len() > MAX_FRAME_BYTES {
            return Err(EnvelopeError::TooLarge(frame.len(), MAX_FRAME_BYTES));
        }
        let value: serde_json::Value = serde_json::from_str(frame)?;
        Self::from_value(value)
    }

    fn from_value(value: serde_json::Value) -> Result<Self, EnvelopeError> {
        if let Some(t) = value.get("type").and_then(|t| t.as_str())
            && !KNOWN_TYPES.contains(&t)
        {
            return Err(EnvelopeError::UnknownType(t.to_owned()));
        }
        Ok(serde_json::from_value(value)?)
    }

    /// The document this frame is about, if any.
    pub fn doc_id(&self) -> Option<&str> {
        match self {
            Self::Hello { .. } => None,
            Self::Sync { doc_id, .. }
            | Self::DocAdded { doc_id }
            | Self::DocRemoved { doc_id, .. }
            | Self::Packet { doc_id, .. }
            | Self::PacketHave { doc_id, .. } => Some(doc_id),
            Self::Error { doc_id, .. } => doc_id.as_deref(),
        }
    }
}

/// The body of a one-shot HTTP exchange (`POST /v1/sync`), request and
/// response alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exchange {
    pub frames: Vec<Message>,
}

#[derive(Serialize)]
struct ExchangeOut<'a> {
    frames: &'a [Message],
}

#[derive(Deserialize)]
struct ExchangeIn {
    frames: Vec<serde_json::Value>,
}

/// A frame of a batched body: a frame as it is, or the `sync_batch` frame.
#[derive(Serialize)]
#[serde(untagged)]
enum BatchedOut<'a> {
    Frame(&'a Message),
    Batch {
        #[serde(rename = "type")]
        kind: &'static str,
        data: String,
    },
}

impl Exchange {
    /// The body as compact JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(&ExchangeOut {
            frames: &self.frames,
        })
        .unwrap_or_default()
    }

    /// The body as compact JSON with its `sync` frames carried in one
    /// `sync_batch` frame, in the place of the first of them (PROTOCOL.md
    /// §3.4, "Batched sync frames"): the sync messages deflated together, so
    /// what repeats across documents (the device's actor id in item ids and
    /// events, keys, phrases) is sent once, which the base64 of separate
    /// frames hides from the body's gzip. Only for a server that said it
    /// reads them ([`SYNC_BATCH_HEADER`]); the same as
    /// [`encode`](Self::encode) without `sync` frames.
    pub fn encode_batched(&self) -> String {
        let mut raw = Vec::new();
        for frame in &self.frames {
            if let Message::Sync { doc_id, data } = frame {
                put_bytes(&mut raw, doc_id.as_bytes());
                put_bytes(&mut raw, data);
            }
        }
        if raw.is_empty() {
            return self.encode();
        }
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a `Vec` cannot fail.
        let deflated = encoder
            .write_all(&raw)
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        let mut batch = Some(BASE64.encode(deflated));
        let frames: Vec<BatchedOut<'_>> = self
            .frames
            .iter()
            .filter_map(|frame| match frame {
                Message::Sync { .. } => batch.take().map(|data| BatchedOut::Batch {
                    kind: SYNC_BATCH,
                    data,
                }),
                other => Some(BatchedOut::Frame(other)),
            })
            .collect();
        serde_json::to_string(&serde_json::json!({ "frames": frames })).unwrap_or_default()
    }

    /// Reads a body (at most [`MAX_EXCHANGE_BYTES`]) frame by frame, as the
    /// server does: only a body that is not `{"frames": [...]}` fails as a
    /// whole; each frame is read on its own ([`Incoming`]). A `sync_batch`
    /// frame is read as the `sync` frames it carries, in order; one that
    /// cannot be read is one bad frame without a `doc_id`.
    pub fn decode_frames(body: &str) -> Result<Vec<Incoming>, EnvelopeError> {
        if body.len() > MAX_EXCHANGE_BYTES {
            return Err(EnvelopeError::TooLarge(body.len(), MAX_EXCHANGE_BYTES));
        }
        let raw: ExchangeIn = serde_json::from_str(body)?;
        let mut out = Vec::with_capacity(raw.frames.len());
        for value in raw.frames {
            if value.get("type").and_then(|t| t.as_str()) != Some(SYNC_BATCH) {
                out.push(Incoming::from_value(value));
                continue;
            }
            match unbatch(&value) {
                Ok(frames) => out.extend(frames.into_iter().map(Incoming::Frame)),
                Err(detail) => out.push(Incoming::Bad {
                    doc_id: None,
                    code: ErrorCode::MalformedFrame,
                    detail,
                }),
            }
        }
        Ok(out)
    }

    /// Decodes a body (at most [`MAX_EXCHANGE_BYTES`]). Frames of unknown type
    /// are skipped; any other bad frame fails the whole body (a client's
    /// strict reading of a server's answer; the server reads requests with
    /// [`Exchange::decode_frames`]).
    pub fn decode(body: &str) -> Result<Self, EnvelopeError> {
        if body.len() > MAX_EXCHANGE_BYTES {
            return Err(EnvelopeError::TooLarge(body.len(), MAX_EXCHANGE_BYTES));
        }
        let raw: ExchangeIn = serde_json::from_str(body)?;
        let mut frames = Vec::with_capacity(raw.frames.len());
        for value in raw.frames {
            match Message::from_value(value) {
                Ok(m) => frames.push(m),
                Err(EnvelopeError::UnknownType(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self { frames })
    }
}

/// Appends `bytes` with their length in front (unsigned LEB128).
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len();
    loop {
        let low = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(bytes);
}

/// Takes one length-prefixed run of bytes (see [`put_bytes`]) off `input`.
fn take_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let (mut len, mut shift, mut used) = (0usize, 0u32, 0usize);
    loop {
        let b = *input.get(used).ok_or("`sync_batch`: truncated length")?;
        if shift > 28 {
            return Err("`sync_batch`: length too long".into());
        }
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        used += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = used
        .checked_add(len)
        .filter(|&end| end <= input.len())
        .ok_or("`sync_batch`: truncated entry")?;
    let (taken, rest) = input.split_at(end);
    *input = rest;
    Ok(&taken[used..])
}

/// The `sync` frames a `sync_batch` frame carries: its `data` is base64 of
/// raw DEFLATE (RFC 1951) of, per frame, the `doc_id` (UTF-8) and the sync
/// message, each with its length in front as unsigned LEB128. Inflated at
/// most to [`MAX_EXCHANGE_BYTES`]; each message at most [`MAX_FRAME_BYTES`].
fn unbatch(value: &serde_json::Value) -> Result<Vec<Message>, String> {
    let text = value
        .get("data")
        .and_then(|d| d.as_str())
        .ok_or("`sync_batch` without a string `data`")?;
    let deflated = BASE64
        .decode(text.as_bytes())
        .map_err(|e| format!("`sync_batch` data is not base64: {e}"))?;
    let limit = u64::try_from(MAX_EXCHANGE_BYTES).unwrap_or(u64::MAX);
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("`sync_batch` data does not inflate: {e}"))?;
    if raw.len() > MAX_EXCHANGE_BYTES {
        return Err(format!(
            "`sync_batch` inflates past the exchange limit of {MAX_EXCHANGE_BYTES} bytes"
        ));
    }
    let mut rest = &raw[..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let doc_id = std::str::from_utf8(take_bytes(&mut rest)?)
            .map_err(|_| "`sync_batch`: a doc_id is not UTF-8")?
            .to_owned();
        let data = take_bytes(&mut rest)?;
        if data.len() > MAX_FRAME_BYTES {
            return Err(format!(
                "`sync_batch`: the message for {doc_id} exceeds {MAX_FRAME_BYTES} bytes"
            ));
        }
        frames.push(Message::Sync {
            doc_id,
            data: data.to_vec(),
        });
    }
    if frames.is_empty() {
        // A batch is only sent for at least one frame.
        return Err("`sync_batch` carries no frame".into());
    }
    Ok(frames)
}

mod base64_bytes {
    use super::BASE64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
