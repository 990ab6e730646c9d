//! The media outbox: photos and signatures captured on the device, offline
//! or not, queued durably and uploaded when the server is reachable.
//!
//! Capturing one is a single SQLite transaction: the pending reference in
//! the ticket document (through the sync crate's typed API), the edit's
//! outbox row, the bytes (table `media_blobs`, by SHA-256) and the
//! `media_outbox` row. Uploading walks each row through its steps, each
//! persisted before the next starts, so a killed process resumes where it
//! stopped:
//!
//! - photo: `queued` → `POST /v1/tickets/{id}/media` → `begun` (media id and
//!   presigned PUT kept) → PUT to the storage server → `uploaded` →
//!   `POST /v1/media/{id}/complete` → `done`;
//! - signature: `queued` → `POST /v1/tickets/{id}/signature` with the row's
//!   client id as `Idempotency-Key` → `done`.
//!
//! Retries never duplicate anything: the object key is the content's
//! SHA-256, a repeated begin finds the same media reference (one per
//! ticket and content), a repeated complete answers the stored reference,
//! and a repeated signature upload replays the first answer.
//!
//! Before uploading, the ticket's document is synced so the server holds
//! the pending reference; the server flips it to `stored` when it accepts
//! the upload, and the sync after the uploads brings that back.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use truckroll_sync::signature::Strokes;
use truckroll_sync::{MediaKind, NewMediaRef};

use crate::engine::Backoff;
use crate::error::{SdkError, SdkResult};
use crate::store::{self, MediaEntry, NewMediaEntry};
use crate::{Change, Client, Phase, body_for, incremental_after, parse_actor};

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The content type of a photo (JPEG, PNG, HEIC or WebP), told by its
/// first bytes.
pub fn sniffed_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && matches!(
            &bytes[8..12],
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1"
        )
    {
        Some("image/heic")
    } else {
        None
    }
}

/// A signature as the customer gave it on the device.
#[derive(Debug, Clone)]
pub struct SignatureCapture {
    pub signer_name: String,
    /// The canvas and strokes, as `{"width", "height", "strokes": [[{"x","y"}…]…]}`.
    pub strokes: Strokes,
    /// Where it was signed.
    pub position: Option<(f64, f64)>,
}

/// A captured photo or signature: its reference in the ticket document and
/// its outbox row.
#[derive(Debug, Clone, Serialize)]
pub struct Captured {
    pub ref_id: String,
    pub sha256: String,
    pub seq: i64,
}

/// What one upload run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MediaReport {
    /// Rows that reached `done` in this run.
    pub uploaded: usize,
    /// Rows the server refused for good (`failed`, with the reason).
    pub failed: usize,
    /// Rows still queued (the run stopped on an error, or was offline).
    pub remaining: usize,
    /// PUTs skipped because the store already had the content.
    pub deduplicated: usize,
    /// Attempts that failed and were retried.
    pub retries: usize,
}

/// How an upload run retries, and a hook for tests and the CLI.
pub struct UploadOptions<'a> {
    pub backoff: Backoff,
    /// Called after each step is persisted; answering `true` stalls the run
    /// forever (a test then kills the process).
    pub on_step: Option<&'a (dyn Fn(&MediaEntry) -> bool + Send + Sync)>,
}

impl std::fmt::Debug for UploadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("backoff", &self.backoff)
            .field("on_step", &self.on_step.is_some())
            .finish()
    }
}

impl UploadOptions<'_> {
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            on_step: None,
        }
    }
}

/// What one attempt at a row's next step found.
enum Outcome {
    /// The row moved on; continue with the next step. `deduplicated`: the
    /// store already had the content, no PUT needed.
    Advanced { deduplicated: bool },
    /// The row is done.
    Done,
}

/// A presigned PUT this close to expiry is not used; a new begin asks for another.
const URL_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

fn random_id() -> String {
    let mut rng = fastrand::Rng::new();
    (0..16).map(|_| format!("{:02x}", rng.u8(..))).collect()
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Client {
    /// Attaches a photo to a ticket: the pending reference enters the ticket
    /// document and the bytes are queued for upload, all committed before
    /// this returns. Works offline. `content_type` must match the bytes
    /// (JPEG, PNG, HEIC or WebP).
    pub async fn attach_photo(
        &self,
        ticket_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> SdkResult<Captured> {
        if bytes.is_empty() {
            return Err(SdkError::InvalidMedia("the photo is empty".into()));
        }
        let found = sniffed_type(&bytes);
        if found != Some(content_type) {
            return Err(SdkError::InvalidMedia(format!(
                "the bytes are {}, {content_type} was given",
                found.unwrap_or("not a JPEG, PNG, HEIC or WebP image")
            )));
        }
        let sha256 = sha256_hex(&bytes);
        self.capture(
            ticket_id,
            MediaKind::Photo,
            &bytes,
            content_type,
            &sha256,
            None,
        )
        .await
    }

    /// [`attach_photo`](Self::attach_photo) from a file.
    pub async fn attach_photo_file(
        &self,
        ticket_id: &str,
        path: &std::path::Path,
        content_type: &str,
    ) -> SdkResult<Captured> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| SdkError::InvalidMedia(format!("cannot read {}: {e}", path.display())))?;
        self.attach_photo(ticket_id, bytes, content_type).await
    }

    /// Captures a customer's signature: rendered to PNG here by the code the
    /// server uses, so the pending reference names the same SHA-256 the
    /// server's image will have; queued for `POST /v1/tickets/{id}/signature`.
    pub async fn capture_signature(
        &self,
        ticket_id: &str,
        capture: SignatureCapture,
    ) -> SdkResult<Captured> {
        let name = capture.signer_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(SdkError::InvalidMedia(
                "signer_name must be 1 to 200 characters".into(),
            ));
        }
        if let Some((lat, lon)) = capture.position
            && !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
        {
            return Err(SdkError::InvalidMedia(
                "position: lat must be within ±90 and lon within ±180".into(),
            ));
        }
        capture
            .strokes
            .validate()
            .map_err(|e| SdkError::InvalidMedia(e.to_string()))?;
        let png = capture
            .strokes
            .render_png()
            .map_err(|e| SdkError::InvalidMedia(e.to_string()))?;
        let sha256 = sha256_hex(&png);
        let body = json!({
            "signer_name": name,
            "signed_at": rfc3339_ms(self.clock.now_ms()),
            "position": capture.position.map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
            "width": capture.strokes.width,
            "height": capture.strokes.height,
            "strokes": capture.strokes.strokes,
        })
        .to_string();
        self.capture(
            ticket_id,
            MediaKind::Signature,
            &png,
            "image/png",
            &sha256,
            Some(&body),
        )
        .await
    }

    async fn capture(
        &self,
        ticket_id: &str,
        kind: MediaKind,
        bytes: &[u8],
        content_type: &str,
        sha256: &str,
        signature: Option<&str>,
    ) -> SdkResult<Captured> {
        let session = self.require_session().await?;
        let now = self.clock.now_ms();
        let kind_name = match kind {
            MediaKind::Photo => "photo",
            MediaKind::Signature => "signature",
        };
        let captured = {
            let mut local = self.local.lock().await;
            let actor = parse_actor(&session.actor_hex)?;
            let entry = local.doc(ticket_id).await?;
            match entry.phase {
                Phase::Active => {}
                Phase::Receiving => return Err(SdkError::NotReceived(ticket_id.to_owned())),
                Phase::Leaving => return Err(SdkError::UnknownTicket(ticket_id.to_owned())),
            }
            if entry.doc.actor() != &actor {
                entry.doc.set_actor(actor);
            }
            let before = entry.doc.heads();
            let ref_id = entry.doc.add_media_ref(
                kind,
                &NewMediaRef {
                    sha256: sha256.to_owned(),
                    content_type: content_type.to_owned(),
                    taken_at: now,
                },
            )?;
            let body = body_for(entry, &before);
            let hash = entry
                .doc
                .heads()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            let client_id = random_id();
            let record = json!({
                "edit": format!("attach_{kind_name}"),
                "ref_id": ref_id,
                "sha256": sha256,
                "client_id": client_id,
            })
            .to_string();
            let incremental = incremental_after(&body);
            let written = async {
                let mut tx = local.conn.begin().await?;
                store::put_doc(&mut tx, ticket_id, body, now).await?;
                store::insert_outbox(&mut tx, ticket_id, &hash, &record, now).await?;
                let seq = store::insert_media(
                    &mut tx,
                    &NewMediaEntry {
                        client_id: &client_id,
                        doc_id: ticket_id,
                        kind: kind_name,
                        ref_id: &ref_id,
                        sha256,
                        content_type,
                        bytes,
                        signature,
                    },
                    now,
                )
                .await?;
                tx.commit().await?;
                SdkResult::Ok(seq)
            }
            .await;
            match written {
                Ok(seq) => {
                    if let Some(entry) = local.docs.get_mut(ticket_id) {
                        entry.incremental_bytes = incremental;
                    }
                    Captured {
                        ref_id,
                        sha256: sha256.to_owned(),
                        seq,
                    }
                }
                Err(e) => {
                    // The in-memory copy is ahead of the database: drop it.
                    local.docs.remove(ticket_id);
                    return Err(e);
                }
            }
        };
        self.emit(Change::Edited {
            doc_id: ticket_id.to_owned(),
        });
        self.wake.notify_one();
        Ok(captured)
    }

    /// The media outbox, oldest first; `open`: only rows still to upload.
    pub async fn media_queue(&self, open: bool) -> SdkResult<Vec<MediaEntry>> {
        let mut local = self.local.lock().await;
        store::media_entries(&mut local.conn, open).await
    }

    /// Uploads everything queued, retrying failures with `backoff`.
    pub async fn upload_media(&self, backoff: &Backoff) -> SdkResult<MediaReport> {
        self.upload_media_with(&UploadOptions::new(backoff.clone()))
            .await
    }

    /// Uploads everything queued. Syncs first (the server must hold the
    /// pending references it will mark stored) and after (to bring back
    /// `stored`). A row the server refuses for good becomes `failed` and the
    /// run goes on; an error that retrying may fix (network, storage server
    /// down, 5xx) is retried with backoff and, once the attempts are spent,
    /// ends the run with that error — the row stays at its step for the
    /// next run.
    pub async fn upload_media_with(&self, options: &UploadOptions<'_>) -> SdkResult<MediaReport> {
        let mut report = MediaReport::default();
        let open = self.media_queue(true).await?;
        if open.is_empty() {
            return Ok(report);
        }
        if !self.is_online() {
            return Err(SdkError::Transport(format!(
                "the device is offline; {} photos or signatures stay queued",
                open.len()
            )));
        }
        self.sync_before_upload(&open, &options.backoff).await?;
        let mut rng = fastrand::Rng::new();
        let mut stopped: Option<SdkError> = None;
        for row in &open {
            let seq = row.seq;
            // Failed attempts at the current step, and whether the tokens
            // were refreshed for this row already.
            let mut attempt = 0u32;
            let mut refreshed = false;
            loop {
                let Some(current) = self.media_row(seq).await? else {
                    break;
                };
                if matches!(current.step.as_str(), "done" | "failed") {
                    break;
                }
                match self.advance(&current).await {
                    Ok(outcome) => {
                        attempt = 0;
                        if let Some(hook) = options.on_step
                            && let Some(now) = self.media_row(seq).await?
                            && hook(&now)
                        {
                            std::future::pending::<()>().await;
                        }
                        match outcome {
                            Outcome::Done => {
                                report.uploaded += 1;
                                break;
                            }
                            Outcome::Advanced { deduplicated } => {
                                report.deduplicated += usize::from(deduplicated);
                            }
                        }
                    }
                    Err(e) if e.is_retryable() => {
                        self.record_attempt(seq, &e).await?;
                        attempt += 1;
                        if attempt >= options.backoff.attempts.max(1) {
                            stopped = Some(e);
                            break;
                        }
                        report.retries += 1;
                        tracing::info!(seq, error = %e, "media upload failed; retrying");
                        tokio::time::sleep(options.backoff.delay(attempt - 1, &mut rng)).await;
                    }
                    Err(SdkError::Unauthorized(_)) if !refreshed => {
                        refreshed = true;
                        self.refresh_tokens().await?;
                    }
                    // Refused for good by the server (422: the upload does
                    // not match its declaration; 403/404: the ticket is no
                    // longer this technician's), or the bytes are unusable:
                    // the row fails with the reason and the run goes on.
                    Err(e @ (SdkError::Api { .. } | SdkError::InvalidMedia(_))) => {
                        let now = self.clock.now_ms();
                        let mut local = self.local.lock().await;
                        store::media_failed(&mut local.conn, seq, &e.to_string(), now).await?;
                        store::release_media_blob(&mut local.conn, &current.sha256).await?;
                        report.failed += 1;
                        break;
                    }
                    // Anything else (the local database, signed out): stop
                    // the run; the row stays at its step.
                    Err(e) => {
                        stopped = Some(e);
                        break;
                    }
                }
            }
            if stopped.is_some() {
                break;
            }
        }
        report.remaining = self.media_queue(true).await?.len();
        if let Some(e) = stopped {
            return Err(e);
        }
        if report.uploaded > 0 {
            // Brings back the references the server marked stored; if this
            // fails, the next sync does it.
            if let Err(e) = self.sync_with_retries(&options.backoff).await {
                tracing::info!(error = %e, "sync after the uploads failed");
            }
        }
        Ok(report)
    }

    async fn media_row(&self, seq: i64) -> SdkResult<Option<MediaEntry>> {
        let mut local = self.local.lock().await;
        store::media_entry_by_seq(&mut local.conn, seq).await
    }

    async fn record_attempt(&self, seq: i64, e: &SdkError) -> SdkResult<()> {
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        store::media_attempt_failed(&mut local.conn, seq, &e.to_string(), now).await
    }

    async fn set_step(
        &self,
        seq: i64,
        step: &str,
        media_id: Option<&str>,
        upload: Option<&str>,
    ) -> SdkResult<()> {
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        store::set_media_step(&mut local.conn, seq, step, media_id, upload, now).await
    }

    /// Syncs when a document with queued media still has edits the server
    /// lacks, so the pending references are there before the uploads.
    async fn sync_before_upload(&self, open: &[MediaEntry], backoff: &Backoff) -> SdkResult<()> {
        let unsynced = {
            let mut local = self.local.lock().await;
            let mut unsynced = false;
            for row in open {
                if !store::outbox(&mut local.conn, Some(&row.doc_id), Some("pending"))
                    .await?
                    .is_empty()
                {
                    unsynced = true;
                    break;
                }
            }
            unsynced
        };
        if unsynced {
            self.sync_with_retries(backoff).await.map_err(|e| match e {
                SdkError::Transport(detail) => SdkError::Transport(format!(
                    "cannot sync the ticket before uploading its media (they stay queued): {detail}"
                )),
                other => other,
            })?;
        }
        Ok(())
    }

    /// One step of a row.
    async fn advance(&self, row: &MediaEntry) -> SdkResult<Outcome> {
        let session = self.require_session().await?;
        let token = session.access_token.as_str();
        if row.kind == "signature" {
            let body = row.signature.as_deref().ok_or_else(|| {
                SdkError::InvalidMedia("the queued signature lost its strokes".into())
            })?;
            let answer = self
                .api
                .capture_signature(token, &row.doc_id, &row.client_id, body)
                .await?;
            let media_id = answer["media_id"].as_str().map(str::to_owned);
            self.finish(row, media_id.as_deref()).await?;
            return Ok(Outcome::Done);
        }
        let usable_upload = match (row.step.as_str(), row.upload.as_deref()) {
            ("begun", Some(upload)) => serde_json::from_str::<Value>(upload).ok().filter(|u| {
                u["expires_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.with_timezone(&Utc) > Utc::now() + URL_MARGIN)
            }),
            _ => None,
        };
        match row.step.as_str() {
            "uploaded" => {
                let media_id = row.media_id.clone().unwrap_or_default();
                match self.api.complete_media(token, &media_id).await {
                    Ok(media) if media.state == "stored" => {
                        self.finish(row, Some(&media.id)).await?;
                        Ok(Outcome::Done)
                    }
                    Ok(media) => Err(SdkError::Api {
                        status: 500,
                        detail: format!("completed media {} is {}", media.id, media.state),
                    }),
                    // Nothing stored under the key (409), or the pending
                    // reference was swept (404): begin again.
                    Err(SdkError::Api { status, detail }) if status == 409 || status == 404 => {
                        tracing::info!(seq = row.seq, status, %detail, "upload not found; beginning again");
                        self.set_step(row.seq, "queued", None, None).await?;
                        Ok(Outcome::Advanced {
                            deduplicated: false,
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            "begun" if usable_upload.is_some() => {
                let upload = usable_upload.unwrap_or_default();
                let bytes = {
                    let mut local = self.local.lock().await;
                    store::media_blob(&mut local.conn, &row.sha256).await?
                }
                .ok_or_else(|| {
                    SdkError::InvalidMedia(format!("the bytes of {} are gone", row.sha256))
                })?;
                match self.api.put_presigned(&upload, bytes).await {
                    Ok(()) => {
                        self.set_step(row.seq, "uploaded", row.media_id.as_deref(), None)
                            .await?;
                        Ok(Outcome::Advanced {
                            deduplicated: false,
                        })
                    }
                    // Expired or otherwise refused URL: ask for a new one.
                    // (counted as a failed attempt, so a URL that is always
                    // refused does not loop without backoff).
                    Err(SdkError::StorageRefused { status, detail }) if status < 500 => {
                        self.set_step(row.seq, "queued", row.media_id.as_deref(), None)
                            .await?;
                        Err(SdkError::Storage(format!(
                            "the storage server refused the upload URL ({status}: {detail}); asking for a new one"
                        )))
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                let body = json!({
                    "kind": "photo",
                    "content_type": row.content_type,
                    "size": row.size,
                    "sha256": row.sha256,
                });
                let begun = self.api.begin_media(token, &row.doc_id, &body).await?;
                if begun.already_stored || begun.upload.is_none() {
                    // No PUT: the store has the content. Completing (even a
                    // stored reference) flips the document's pending one.
                    self.set_step(row.seq, "uploaded", Some(&begun.media.id), None)
                        .await?;
                    return Ok(Outcome::Advanced { deduplicated: true });
                }
                let upload = begun.upload.map(|u| u.to_string());
                self.set_step(row.seq, "begun", Some(&begun.media.id), upload.as_deref())
                    .await?;
                Ok(Outcome::Advanced {
                    deduplicated: false,
                })
            }
        }
    }

    /// Marks the row done and lets go of its bytes.
    async fn finish(&self, row: &MediaEntry, media_id: Option<&str>) -> SdkResult<()> {
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        let mut tx = local.conn.begin().await?;
        store::set_media_step(&mut tx, row.seq, "done", media_id, None, now).await?;
        store::release_media_blob(&mut tx, &row.sha256).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How long a run waits between attempts by default: a phone retries
/// soon, then backs off to a minute.
pub fn default_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(60),
        attempts: 6,
    }
}
