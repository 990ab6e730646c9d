//! The media flow over the blob store and the media tables: begin an
//! upload (a presigned PUT for the content-addressed key), complete it
//! (check what was stored before the ticket shows it), thumbnails, download
//! URLs, and the orphan sweep. Signatures are in [`signature`].

pub mod signature;
pub mod thumbnail;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    blob::{
        BlobError, PutSpec, SignedRequest, Validity, is_sha256_hex, object_key, sha256_hex,
        sniff::{Format, SNIFF_LEN, sniff},
        thumbnail_key,
    },
    blob::{BlobStore, MediaConfig},
    store::{
        Actor, Store, StoreError,
        media::{Media, MediaBegin, MediaKind, MediaState, NewMedia},
    },
};

/// What the media flow acts through.
#[derive(Debug, Clone, Copy)]
pub struct MediaService<'a> {
    pub store: &'a dyn Store,
    pub blobs: &'a dyn BlobStore,
    pub config: &'a MediaConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A field of the request is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Nothing is stored under the key yet: upload first, then complete.
    #[error("{0}")]
    NotUploaded(String),
    /// What was stored does not match what was declared; the reference is gone.
    #[error("{0}")]
    Rejected(String),
}

pub type MediaResult<T> = Result<T, MediaError>;

fn invalid(field: &'static str, message: impl Into<String>) -> MediaError {
    MediaError::Invalid {
        field,
        message: message.into(),
    }
}

/// What a phone declares before uploading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub kind: MediaKind,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// The answer to a begin: the reference, and either a PUT to send the bytes
/// with or the word that the store already has them.
#[derive(Debug, Clone)]
pub struct Begun {
    pub media: Media,
    pub upload: Option<SignedRequest>,
    pub already_stored: bool,
}

/// Formats each kind accepts.
fn accepts(kind: MediaKind, format: Format) -> bool {
    match kind {
        MediaKind::Photo => matches!(
            format,
            Format::Jpeg | Format::Png | Format::Heic | Format::Webp
        ),
        MediaKind::Signature => format == Format::Png,
        MediaKind::Document => matches!(format, Format::Pdf | Format::Jpeg | Format::Png),
    }
}

fn url_validity(service: &MediaService<'_>) -> Validity {
    Validity::from_now(Duration::from_secs(service.config.url_expiry_secs))
}

/// Checks the declaration and records a pending reference (or finds the
/// existing one); hands out an upload URL unless the object is already there.
pub async fn begin(
    service: &MediaService<'_>,
    actor: Actor,
    ticket_id: Uuid,
    request: &UploadRequest,
    origin: &str,
) -> MediaResult<Begun> {
    let sha256 = request.sha256.to_ascii_lowercase();
    if !is_sha256_hex(&sha256) {
        return Err(invalid("sha256", "must be 64 hex digits (SHA-256)"));
    }
    let limit = service.config.max_bytes;
    if request.size == 0 || request.size > limit {
        return Err(invalid(
            "size",
            format!("must be between 1 and {limit} bytes"),
        ));
    }
    let format = Format::from_mime(&request.content_type).ok_or_else(|| {
        invalid(
            "content_type",
            "must be image/jpeg, image/png, image/heic, image/webp or application/pdf",
        )
    })?;
    if !accepts(request.kind, format) {
        return Err(invalid(
            "content_type",
            format!(
                "{} is not accepted for a {}",
                format.mime(),
                request.kind.as_str()
            ),
        ));
    }
    let new = NewMedia {
        ticket_id,
        kind: request.kind,
        content_type: format.mime().to_owned(),
        size: i64::try_from(request.size).map_err(|_| invalid("size", "too large"))?,
        sha256: sha256.clone(),
    };
    let begun = service
        .store
        .begin_media(actor, &new, service.config.max_per_ticket)
        .await?;
    let media = match begun {
        MediaBegin::Created(m) | MediaBegin::Existing(m) => m,
    };
    if media.state == MediaState::Stored {
        return Ok(Begun {
            media,
            upload: None,
            already_stored: true,
        });
    }
    let key = object_key(actor.tenant_id, &media.sha256);
    if service.blobs.head(&key).await?.is_some() {
        return Ok(Begun {
            media,
            upload: None,
            already_stored: true,
        });
    }
    let spec = PutSpec {
        content_type: media.content_type.clone(),
        size: u64::try_from(media.size).unwrap_or_default(),
        sha256: media.sha256.clone(),
    };
    let upload = service
        .blobs
        .presign_put(&key, &spec, origin, url_validity(service))
        .await?;
    Ok(Begun {
        media,
        upload: Some(upload),
        already_stored: false,
    })
}

/// Drops the pending reference and answers why.
async fn reject(
    service: &MediaService<'_>,
    actor: Actor,
    media: &Media,
    reason: String,
) -> MediaError {
    if let Err(e) = service.store.reject_media(actor, media.id, &reason).await {
        return e.into();
    }
    MediaError::Rejected(reason)
}

/// Checks the stored object against the declaration (exists, size, type by
/// magic bytes, SHA-256 unless the store vouches for it), makes the
/// thumbnail of a photo, and only then marks the reference stored.
pub async fn complete(
    service: &MediaService<'_>,
    actor: Actor,
    media: Media,
) -> MediaResult<Media> {
    if media.state == MediaState::Stored {
        // A retried completion, or a second pending reference to the same
        // content that reached the ticket document after the first
        // completion: flip whatever is still pending (a no-op otherwise).
        crate::device_sync::mark_media_stored(service.store, actor, media.ticket_id, &media.sha256)
            .await;
        return Ok(media);
    }
    let key = object_key(media.tenant_id, &media.sha256);
    let Some(head) = service.blobs.head(&key).await? else {
        return Err(MediaError::NotUploaded(
            "nothing is stored for this media yet: PUT the bytes to the upload URL, then complete"
                .into(),
        ));
    };
    let declared_size = u64::try_from(media.size).unwrap_or_default();
    if head.size != declared_size {
        let reason = format!(
            "stored object has {} bytes, {} were declared",
            head.size, declared_size
        );
        return Err(reject(service, actor, &media, reason).await);
    }
    let wants_thumbnail = media.kind == MediaKind::Photo
        && thumbnail::supported(&media.content_type)
        && service
            .blobs
            .head(&thumbnail_key(media.tenant_id, &media.sha256))
            .await?
            .is_none();
    let vouched = head.verified_sha256.as_deref() == Some(media.sha256.as_str());
    let whole = if !vouched || wants_thumbnail {
        Some(service.blobs.read(&key).await?)
    } else {
        None
    };
    let prefix = match &whole {
        Some(bytes) => bytes[..bytes.len().min(SNIFF_LEN as usize)].to_vec(),
        None => service.blobs.read_prefix(&key, SNIFF_LEN).await?,
    };
    if !vouched && let Some(bytes) = &whole {
        let actual = sha256_hex(bytes);
        if actual != media.sha256 {
            // Bytes under a content-addressed key that do not hash to it are
            // garbage for everyone: remove them so nothing dedupes onto them.
            service.blobs.delete(&key).await?;
            let reason = format!(
                "stored bytes hash to {actual}, {} was declared",
                media.sha256
            );
            return Err(reject(service, actor, &media, reason).await);
        }
    }
    let declared = Format::from_mime(&media.content_type);
    let found = sniff(&prefix);
    if found.is_none() || found != declared {
        let reason = format!(
            "stored bytes are {}, {} was declared",
            found.map_or("of no accepted type", Format::mime),
            media.content_type
        );
        return Err(reject(service, actor, &media, reason).await);
    }
    let mut has_thumbnail = !wants_thumbnail
        && media.kind == MediaKind::Photo
        && thumbnail::supported(&media.content_type);
    if wants_thumbnail && let Some(bytes) = whole {
        let edge = service.config.thumbnail_px;
        match tokio::task::spawn_blocking(move || thumbnail::render(&bytes, edge)).await {
            Ok(Ok(jpeg)) => {
                service
                    .blobs
                    .write(
                        &thumbnail_key(media.tenant_id, &media.sha256),
                        jpeg,
                        "image/jpeg",
                    )
                    .await?;
                has_thumbnail = true;
            }
            // A photo the decoder cannot read is still the photo the phone
            // took: keep it, without a thumbnail.
            Ok(Err(error)) => tracing::warn!(media = %media.id, %error, "no thumbnail"),
            Err(error) => tracing::warn!(media = %media.id, %error, "thumbnail task failed"),
        }
    }
    let stored = service
        .store
        .complete_media(actor, media.id, has_thumbnail)
        .await?;
    crate::device_sync::mark_media_stored(service.store, actor, stored.ticket_id, &stored.sha256)
        .await;
    Ok(stored)
}

/// Which bytes a download URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

/// A short-lived GET for a stored media's bytes.
pub async fn download(
    service: &MediaService<'_>,
    media: &Media,
    variant: Variant,
    origin: &str,
) -> MediaResult<SignedRequest> {
    let key = match variant {
        Variant::Original => object_key(media.tenant_id, &media.sha256),
        Variant::Thumbnail => thumbnail_key(media.tenant_id, &media.sha256),
    };
    Ok(service
        .blobs
        .presign_get(&key, origin, url_validity(service))
        .await?)
}

/// What one orphan sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub references_removed: usize,
    pub objects_deleted: usize,
}

/// References to uploads begun before `now - media.orphan_age_secs` and
/// never completed are removed; their objects go too when no other
/// reference (pending or stored) names the same content.
pub async fn sweep_orphans(
    service: &MediaService<'_>,
    now: DateTime<Utc>,
) -> MediaResult<SweepReport> {
    let age = chrono::Duration::seconds(
        i64::try_from(service.config.orphan_age_secs).unwrap_or(i64::MAX / 1000),
    );
    let mut report = SweepReport::default();
    loop {
        let swept = service.store.sweep_pending_media(now - age, 500).await?;
        if swept.is_empty() {
            return Ok(report);
        }
        report.references_removed += swept.len();
        for orphan in swept.iter().filter(|s| s.object_unreferenced) {
            // Checked again right before deleting: a begin since the sweep's
            // transaction makes the object referenced again.
            if service
                .store
                .media_referenced(orphan.tenant_id, &orphan.sha256)
                .await?
            {
                continue;
            }
            service
                .blobs
                .delete(&object_key(orphan.tenant_id, &orphan.sha256))
                .await?;
            service
                .blobs
                .delete(&thumbnail_key(orphan.tenant_id, &orphan.sha256))
                .await?;
            report.objects_deleted += 1;
        }
    }
}

/// Runs the orphan sweep every `media.sweep_interval_secs`.
pub async fn sweep_loop(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>, config: MediaConfig) {
    let service = MediaService {
        store: store.as_ref(),
        blobs: blobs.as_ref(),
        config: &config,
    };
    let every = Duration::from_secs(config.sweep_interval_secs);
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match sweep_orphans(&service, Utc::now()).await {
            Ok(SweepReport {
                references_removed: 0,
                ..
            }) => {}
            Ok(report) => tracing::info!(?report, "orphaned uploads swept"),
            Err(error) => tracing::warn!(%error, "orphan sweep failed"),
        }
    }
}
