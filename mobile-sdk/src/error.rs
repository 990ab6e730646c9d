//! The SDK's error type.

use truckroll_sync::protocol::ErrorCode;

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The local database failed; the call changed nothing.
    #[error("local store: {0}")]
    Store(#[from] sqlx::Error),
    /// A stored document could not be read back.
    #[error("local document {doc_id} is unreadable: {detail}")]
    CorruptDocument { doc_id: String, detail: String },
    /// The edit was refused before anything was written.
    #[error("edit refused: {0}")]
    Edit(#[from] truckroll_sync::DocError),
    /// The ticket is not on this device (never received, or it left the set).
    #[error("ticket {0} is not on this device")]
    UnknownTicket(String),
    /// The ticket was announced (or reset) but its document has not arrived
    /// from the server yet; sync first.
    #[error("ticket {0} has not been received from the server yet; sync first")]
    NotReceived(String),
    /// A server-only status action (assign, cancel, …) was asked of the device.
    #[error("`{0}` is a server action; a device cannot record it")]
    ServerAction(String),
    /// Not signed in, or the server refused the credentials.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// The server answered a request with an error (RFC 9457 problem detail).
    #[error("server answered {status}: {detail}")]
    Api { status: u16, detail: String },
    /// The network failed; retry later.
    #[error("transport: {0}")]
    Transport(String),
    /// The sync session ended with a protocol error that is not per document.
    #[error("sync session refused ({code:?}): {detail}")]
    Session { code: ErrorCode, detail: String },
    /// A photo or signature was refused before anything was queued.
    #[error("media refused: {0}")]
    InvalidMedia(String),
    /// The storage server (S3) could not be reached; the upload stays
    /// queued and is retried.
    #[error("storage: {0}")]
    Storage(String),
    /// The storage server answered a presigned request with an error.
    #[error("storage server answered {status}: {detail}")]
    StorageRefused { status: u16, detail: String },
    /// No quarantined document with this id.
    #[error("no quarantined document {0}")]
    UnknownQuarantine(i64),
    /// An argument was refused before anything was stored (a position out
    /// of range, an empty comment, …).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl SdkError {
    /// Whether retrying later (with backoff) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SdkError::Transport(_) | SdkError::Storage(_) => true,
            SdkError::StorageRefused { status, .. } => *status >= 500 || *status == 429,
            SdkError::Api { status, .. } => *status >= 500 || *status == 429,
            SdkError::Session { code, .. } => matches!(code, ErrorCode::Internal),
            _ => false,
        }
    }
}

pub type SdkResult<T> = Result<T, SdkError>;
