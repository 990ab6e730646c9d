//! UniFFI bindings over `truckroll-sdk`, kept thin: one `Phone` object whose
//! blocking methods run the async SDK on the object's own Tokio runtime.
//! Kotlin, Swift and Python bindings are generated from the built library
//! (`scripts/bindings.sh`).

use std::path::PathBuf;
use std::sync::Arc;

use truckroll_sdk::media::default_backoff;
use truckroll_sdk::truckroll_sync::{Position, StatusAction};
use truckroll_sdk::{Client, ClientConfig, Edit, MediaEntry, SdkError, SignatureCapture};

uniffi::setup_scaffolding!();

mod day;
pub use day::{
    Availability, AvailabilityState, Comment, CommentDelivery, CommentThread, CommentVisibility,
    FlushSummary, LocationFix, Offer, OfferAnswer, OfferList, OfferStatus, PendingPing,
    PingDecision, PushToken,
};

/// Why a call failed; `detail` is the SDK's explanation (not `message`:
/// Kotlin's generated exceptions would clash with `Throwable.message`).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PhoneError {
    #[error("{detail}")]
    NotSignedIn { detail: String },
    #[error("{detail}")]
    Offline { detail: String },
    #[error("{detail}")]
    Refused { detail: String },
}

impl From<SdkError> for PhoneError {
    fn from(e: SdkError) -> Self {
        let detail = e.to_string();
        match e {
            SdkError::Unauthorized(_) => Self::NotSignedIn { detail },
            e if e.is_retryable() => Self::Offline { detail },
            _ => Self::Refused { detail },
        }
    }
}

/// A ticket on the phone.
#[derive(Debug, uniffi::Record)]
pub struct TicketInfo {
    pub id: String,
    pub title: Option<String>,
    /// Folded status, e.g. `assigned`, `on_site`.
    pub status: String,
    pub pending_edits: u32,
}

/// What a sync did.
#[derive(Debug, uniffi::Record)]
pub struct SyncSummary {
    pub converged: bool,
    pub pending_edits: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub docs_added: Vec<String>,
    pub docs_removed: Vec<String>,
    /// `doc_id: code: detail` per refused document.
    pub rejections: Vec<String>,
}

/// A refused local version kept in the quarantine.
#[derive(Debug, uniffi::Record)]
pub struct QuarantineEntry {
    pub id: i64,
    pub doc_id: String,
    pub code: String,
    pub detail: String,
    pub notes: Option<String>,
}

/// A photo or signature captured on the phone.
#[derive(Debug, uniffi::Record)]
pub struct CapturedMedia {
    /// The reference's id in the ticket document.
    pub ref_id: String,
    pub sha256: String,
}

/// A row of the media outbox.
#[derive(Debug, uniffi::Record)]
pub struct MediaItem {
    pub ticket_id: String,
    /// `photo` or `signature`.
    pub kind: String,
    pub ref_id: String,
    pub sha256: String,
    pub content_type: String,
    pub size: u64,
    /// `queued`, `begun`, `uploaded`, `done` or `failed`.
    pub step: String,
    /// The server's media id, once known.
    pub media_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl From<MediaEntry> for MediaItem {
    fn from(e: MediaEntry) -> Self {
        Self {
            ticket_id: e.doc_id,
            kind: e.kind,
            ref_id: e.ref_id,
            sha256: e.sha256,
            content_type: e.content_type,
            size: u64::try_from(e.size).unwrap_or_default(),
            step: e.step,
            media_id: e.media_id,
            attempts: u32::try_from(e.attempts).unwrap_or(u32::MAX),
            last_error: e.last_error,
        }
    }
}

/// What an upload run did.
#[derive(Debug, uniffi::Record)]
pub struct UploadSummary {
    pub uploaded: u32,
    pub failed: u32,
    pub remaining: u32,
    pub deduplicated: u32,
    pub retries: u32,
}

/// The SDK for one installation (one local database).
#[derive(Debug, uniffi::Object)]
pub struct Phone {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[uniffi::export]
impl Phone {
    /// Opens (or creates) the local database at `db_path` for `server`.
    #[uniffi::constructor]
    pub fn new(db_path: String, server: String) -> Result<Arc<Self>, PhoneError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| PhoneError::Refused {
                detail: e.to_string(),
            })?;
        let client = runtime.block_on(Client::open(
            &PathBuf::from(db_path),
            ClientConfig::new(&server),
        ))?;
        Ok(Arc::new(Self { runtime, client }))
    }

    /// Signs in and registers the device; returns the device id.
    pub fn sign_in(
        &self,
        tenant: String,
        email: String,
        password: String,
    ) -> Result<String, PhoneError> {
        let session = self
            .runtime
            .block_on(self.client.sign_in(&tenant, &email, &password))?;
        Ok(session.device_id)
    }

    /// The tickets on the phone.
    pub fn tickets(&self) -> Result<Vec<TicketInfo>, PhoneError> {
        let list = self.runtime.block_on(self.client.tickets())?;
        Ok(list
            .into_iter()
            .map(|t| TicketInfo {
                title: t
                    .header
                    .as_ref()
                    .and_then(|h| h["title"].as_str().map(str::to_owned)),
                status: t.status.status.as_str().to_owned(),
                pending_edits: count(t.pending_edits),
                id: t.id,
            })
            .collect())
    }

    /// One ticket as JSON (notes, checklist, parts, time entries, events, status).
    pub fn ticket_json(&self, ticket_id: String) -> Result<String, PhoneError> {
        let view = self.runtime.block_on(self.client.ticket(&ticket_id))?;
        serde_json::to_string(&view).map_err(|e| PhoneError::Refused {
            detail: e.to_string(),
        })
    }

    /// Appends text to the work notes.
    pub fn append_note(&self, ticket_id: String, text: String) -> Result<(), PhoneError> {
        self.runtime
            .block_on(self.client.edit(&ticket_id, Edit::NotesAppend { text }))?;
        Ok(())
    }

    /// Any edit as JSON (the SDK's `Edit`); returns a created id, if any.
    pub fn edit_json(&self, ticket_id: String, edit: String) -> Result<Option<String>, PhoneError> {
        let edit: Edit = serde_json::from_str(&edit).map_err(|e| PhoneError::Refused {
            detail: format!("not an edit: {e}"),
        })?;
        Ok(self.runtime.block_on(self.client.edit(&ticket_id, edit))?)
    }

    /// A status action (`accept`, `start_travel`, `check_in`, `hold`, …) at
    /// the phone's time, with an optional position and reason; returns the
    /// event id.
    pub fn status_action(
        &self,
        ticket_id: String,
        action: String,
        lat: Option<f64>,
        lon: Option<f64>,
        reason: Option<String>,
    ) -> Result<Option<String>, PhoneError> {
        let action: StatusAction = action.parse().map_err(|e| PhoneError::Refused {
            detail: format!("{e}"),
        })?;
        let position = lat.zip(lon).map(|(lat, lon)| Position {
            lat,
            lon,
            accuracy_m: None,
        });
        Ok(self.runtime.block_on(self.client.edit(
            &ticket_id,
            Edit::Status {
                action,
                position,
                reason,
            },
        ))?)
    }

    /// Reports connectivity.
    pub fn set_online(&self, online: bool) {
        self.client.set_online(online);
    }

    /// Syncs now.
    pub fn sync(&self) -> Result<SyncSummary, PhoneError> {
        let r = self.runtime.block_on(self.client.sync_now())?;
        Ok(SyncSummary {
            converged: r.converged,
            pending_edits: count(r.pending_edits),
            bytes_sent: r.bytes_sent as u64,
            bytes_received: r.bytes_received as u64,
            docs_added: r.docs_added,
            docs_removed: r.docs_removed.into_iter().map(|(id, _)| id).collect(),
            rejections: r
                .rejections
                .into_iter()
                .map(|x| format!("{}: {:?}: {}", x.doc_id, x.code, x.detail))
                .collect(),
        })
    }

    /// Attaches a photo (JPEG, PNG, HEIC or WebP bytes) to a ticket. Works
    /// offline: the pending reference is in the ticket at once, the bytes
    /// wait in the media outbox for `upload_media`.
    pub fn attach_photo(
        &self,
        ticket_id: String,
        bytes: Vec<u8>,
        content_type: String,
    ) -> Result<CapturedMedia, PhoneError> {
        let c =
            self.runtime
                .block_on(self.client.attach_photo(&ticket_id, bytes, &content_type))?;
        Ok(CapturedMedia {
            ref_id: c.ref_id,
            sha256: c.sha256,
        })
    }

    /// [`attach_photo`](Self::attach_photo) from a file on the phone.
    pub fn attach_photo_file(
        &self,
        ticket_id: String,
        path: String,
        content_type: String,
    ) -> Result<CapturedMedia, PhoneError> {
        let c = self.runtime.block_on(self.client.attach_photo_file(
            &ticket_id,
            std::path::Path::new(&path),
            &content_type,
        ))?;
        Ok(CapturedMedia {
            ref_id: c.ref_id,
            sha256: c.sha256,
        })
    }

    /// Captures the customer's signature: `strokes_json` is
    /// `{"width": W, "height": H, "strokes": [[{"x": …, "y": …}, …], …]}`.
    /// Works offline like `attach_photo`.
    pub fn capture_signature(
        &self,
        ticket_id: String,
        signer_name: String,
        strokes_json: String,
        lat: Option<f64>,
        lon: Option<f64>,
    ) -> Result<CapturedMedia, PhoneError> {
        let strokes = serde_json::from_str(&strokes_json).map_err(|e| PhoneError::Refused {
            detail: format!("strokes: {e}"),
        })?;
        let c = self.runtime.block_on(self.client.capture_signature(
            &ticket_id,
            SignatureCapture {
                signer_name,
                strokes,
                position: lat.zip(lon),
            },
        ))?;
        Ok(CapturedMedia {
            ref_id: c.ref_id,
            sha256: c.sha256,
        })
    }

    /// The media outbox; `open_only`: rows still to upload.
    pub fn media_queue(&self, open_only: bool) -> Result<Vec<MediaItem>, PhoneError> {
        let rows = self.runtime.block_on(self.client.media_queue(open_only))?;
        Ok(rows.into_iter().map(MediaItem::from).collect())
    }

    /// Uploads queued photos and signatures (with retries and backoff); an
    /// error that retrying may fix comes back as `Offline`, the rows stay
    /// queued for the next call.
    pub fn upload_media(&self) -> Result<UploadSummary, PhoneError> {
        let r = self
            .runtime
            .block_on(self.client.upload_media(&default_backoff()))?;
        Ok(UploadSummary {
            uploaded: count(r.uploaded),
            failed: count(r.failed),
            remaining: count(r.remaining),
            deduplicated: count(r.deduplicated),
            retries: count(r.retries),
        })
    }

    /// The quarantine.
    pub fn quarantine(&self) -> Result<Vec<QuarantineEntry>, PhoneError> {
        let rows = self.runtime.block_on(self.client.quarantine())?;
        Ok(rows
            .into_iter()
            .map(|q| QuarantineEntry {
                notes: q.content.map(|c| c.notes),
                id: q.row.id,
                doc_id: q.row.doc_id,
                code: q.row.code,
                detail: q.row.detail,
            })
            .collect())
    }

    /// A quarantined version's Automerge bytes.
    pub fn export_quarantined(&self, id: i64) -> Result<Vec<u8>, PhoneError> {
        Ok(self.runtime.block_on(self.client.export_quarantined(id))?)
    }
}

mod packet;
mod van;
pub use van::{VanLine, VanStock};
