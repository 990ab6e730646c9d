//! Photos, signatures and documents on tickets: begin an upload, complete
//! it, list and download; capture and verify signatures; and the `fs`
//! backend's signed blob URLs (`/v1/blobs/{key}`).

use std::collections::BTreeMap;

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    blob::{BlobError, SignedRequest, signing::Grant, sniff::sniff},
    domain::{ValidationErrors, people::Role, permissions::Action},
    media::{
        self, MediaError, UploadRequest, Variant,
        signature::{Position, SignatureInput, Strokes},
    },
    store::media::{Media, MediaKind, MediaState, Signature},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_media, begin_upload))
        .routes(routes!(complete_upload))
        .routes(routes!(get_media))
        .routes(routes!(get_signature, capture_signature))
        .routes(routes!(verify_signature))
        // The `fs` backend's signed URLs: not bearer API, like S3's.
        .route("/v1/blobs/{*key}", get(get_blob).put(put_blob))
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        match error {
            MediaError::Store(e) => e.into(),
            MediaError::Blob(BlobError::Unavailable(detail)) => ApiError::Unavailable(detail),
            MediaError::Blob(BlobError::NotFound) => {
                ApiError::Conflict("the stored object disappeared; upload it again".into())
            }
            MediaError::Blob(other) => ApiError::Internal(other.to_string()),
            MediaError::Invalid { field, message } => {
                ValidationErrors::single(field, message).into()
            }
            MediaError::NotUploaded(message) => ApiError::Conflict(message),
            MediaError::Rejected(message) => ValidationErrors::single("upload", message).into(),
        }
    }
}

/// Technicians add media to their own tickets; dispatchers and admins to any.
fn require_write(user: &AuthUser) -> ApiResult<()> {
    if user.can(Action::TicketsManage) {
        Ok(())
    } else {
        user.require(Action::TicketsWorkAssigned)
    }
}

/// `scheme://host` the client reached us at, for URLs the server serves.
pub(super) fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let configured = &state.config.media.public_url;
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.config.listen.to_string(), str::to_owned);
    format!("http://{host}")
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UrlBody {
    method: String,
    url: String,
    /// Send these headers exactly.
    headers: BTreeMap<String, String>,
    expires_at: DateTime<Utc>,
}

impl From<SignedRequest> for UrlBody {
    fn from(request: SignedRequest) -> Self {
        UrlBody {
            method: request.method,
            url: request.url,
            headers: request.headers.into_iter().collect(),
            expires_at: request.expires_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BeginBody {
    kind: MediaKind,
    content_type: String,
    size: u64,
    sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct BeginAnswer {
    media: Media,
    /// The object is already in the store: skip the PUT and complete.
    already_stored: bool,
    upload: Option<UrlBody>,
}

#[utoipa::path(post, path = "/v1/tickets/{id}/media", tag = "media", request_body = BeginBody, security(("bearer" = [])),
    responses((status = 201, body = BeginAnswer), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn begin_upload(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BeginBody>,
) -> ApiResult<(StatusCode, Json<BeginAnswer>)> {
    require_write(&user)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let request = UploadRequest {
        kind: body.kind,
        content_type: body.content_type,
        size: body.size,
        sha256: body.sha256,
    };
    let begun = media::begin(
        &state.media(),
        user.actor(),
        ticket.id,
        &request,
        &origin(&state, &headers),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(BeginAnswer {
            media: begun.media,
            already_stored: begun.already_stored,
            upload: begun.upload.map(UrlBody::from),
        }),
    ))
}

/// The media, if this user may see its ticket; another tenant's id is 404.
async fn visible_media(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Media> {
    let media = state.store.get_media(user.tenant_id, id).await?;
    visible_ticket(state, user, media.ticket_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("media"),
            other => other,
        })?;
    Ok(media)
}

#[utoipa::path(post, path = "/v1/media/{id}/complete", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = Media), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(media = %id))]
async fn complete_upload(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Media>> {
    require_write(&user)?;
    let media = visible_media(&state, &user, id).await?;
    Ok(Json(
        media::complete(&state.media(), user.actor(), media).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
struct MediaList {
    items: Vec<Media>,
}

#[utoipa::path(get, path = "/v1/tickets/{id}/media", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = MediaList), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn list_media(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<MediaList>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let items = state
        .store
        .list_ticket_media(user.tenant_id, ticket.id)
        .await?;
    Ok(Json(MediaList { items }))
}

#[derive(Debug, Serialize, ToSchema)]
struct MediaAnswer {
    media: Media,
    /// A short-lived GET for the bytes (absent while the upload is pending).
    download: Option<UrlBody>,
    thumbnail: Option<UrlBody>,
}

#[utoipa::path(get, path = "/v1/media/{id}", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = MediaAnswer), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(media = %id))]
async fn get_media(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Json<MediaAnswer>> {
    let media = visible_media(&state, &user, id).await?;
    let origin = origin(&state, &headers);
    let (download, thumbnail) = if media.state == MediaState::Stored {
        let download = media::download(&state.media(), &media, Variant::Original, &origin).await?;
        let thumbnail = if media.has_thumbnail {
            Some(media::download(&state.media(), &media, Variant::Thumbnail, &origin).await?)
        } else {
            None
        };
        (Some(download.into()), thumbnail.map(UrlBody::from))
    } else {
        (None, None)
    };
    Ok(Json(MediaAnswer {
        media,
        download,
        thumbnail,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignatureBody {
    signer_name: String,
    /// When the customer signed (default: now).
    signed_at: Option<DateTime<Utc>>,
    position: Option<Position>,
    width: u32,
    height: u32,
    strokes: Vec<Vec<media::signature::Point>>,
}

#[utoipa::path(post, path = "/v1/tickets/{id}/signature", tag = "media", request_body = SignatureBody, security(("bearer" = [])),
    responses((status = 201, body = Signature), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn capture_signature(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SignatureBody>,
) -> ApiResult<(StatusCode, Json<Signature>)> {
    require_write(&user)?;
    let governance = &state.config.governance;
    // The customer signs on the technician's phone; an office role only
    // when the operator allowed it (`[governance] signature_roles`).
    if user.role != Role::Technician && !governance.signature_roles.contains(&user.role) {
        return Err(ApiError::Denied(
            "only the technician assigned to the ticket records the customer's signature",
        ));
    }
    let ticket = visible_ticket(&state, &user, id).await?;
    if let Some(signed_at) = body.signed_at {
        let skew = chrono::Duration::seconds(
            i64::try_from(governance.signature_max_skew_secs).unwrap_or(i64::MAX / 1000),
        );
        if signed_at > Utc::now() + skew {
            return Err(ValidationErrors::single("signed_at", "must not lie in the future").into());
        }
    }
    let input = SignatureInput {
        signer_name: body.signer_name,
        signed_at: body.signed_at,
        position: body.position,
        strokes: Strokes {
            width: body.width,
            height: body.height,
            strokes: body.strokes,
        },
    };
    let signature = media::signature::capture(&state.media(), user.actor(), &ticket, input).await?;
    Ok((StatusCode::CREATED, Json(signature)))
}

async fn latest_signature(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Signature> {
    let ticket = visible_ticket(state, user, id).await?;
    state
        .store
        .latest_signature(user.tenant_id, ticket.id)
        .await?
        .ok_or(ApiError::NotFound("signature"))
}

#[utoipa::path(get, path = "/v1/tickets/{id}/signature", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = Signature), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn get_signature(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Signature>> {
    Ok(Json(latest_signature(&state, &user, id).await?))
}

#[utoipa::path(get, path = "/v1/tickets/{id}/signature/verify", tag = "media", security(("bearer" = [])),
    responses((status = 200, body = media::signature::Verification), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn verify_signature(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<media::signature::Verification>> {
    let signature = latest_signature(&state, &user, id).await?;
    Ok(Json(
        media::signature::verify(&state.media(), &signature).await?,
    ))
}

/// The query of a URL the `fs` backend signed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct BlobQuery {
    /// Unix time after which the URL is refused.
    expires: i64,
    /// Uploads: the declared size in bytes, bound by the signature.
    size: Option<u64>,
    /// Uploads: the declared SHA-256 (hex), bound by the signature.
    sha256: Option<String>,
    /// HMAC-SHA256 of the grant, hex.
    sig: String,
}

const BAD_SIGNATURE: &str = "the URL's signature does not match; ask for a new URL";
const EXPIRED: &str = "the URL has expired; ask for a new one";

/// Keys the server hands out are `tenant/…/sha256`-like paths of plain
/// segments; `.`/`..`, empty segments and control characters never are.
fn check_key(key: &str) -> ApiResult<()> {
    let plain = !key.is_empty()
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && !segment.starts_with('.'))
        && !key.chars().any(char::is_control);
    if plain {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "the object key has empty, `.` or `..` segments".into(),
        ))
    }
}

fn fs_backend(state: &AppState) -> ApiResult<&crate::blob::fs::FsBlobs> {
    state.blobs.as_fs().ok_or(ApiError::NotFound("route"))
}

/// The upload a phone sends to a URL from `POST /v1/tickets/{id}/media`
/// (embedded `fs` storage only; with S3 the URL points at the S3 server).
/// Authorised by the URL's signature, not a bearer token.
#[utoipa::path(put, path = "/v1/blobs/{key}", tag = "media", params(("key" = String, Path, description = "The object key the URL was signed for"), BlobQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The object's bytes; the size, SHA-256 and content type must match the declaration"),
    responses((status = 200, description = "Stored"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub(super) async fn put_blob(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<BlobQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    let fs = fs_backend(&state)?.clone();
    let key = key.trim_start_matches('/').to_owned();
    check_key(&key)?;
    let (Some(size), Some(sha256)) = (query.size, query.sha256.as_deref()) else {
        return Err(ApiError::Denied(BAD_SIGNATURE));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let grant = Grant {
        method: "PUT",
        key: &key,
        expires: query.expires,
        content: Some((content_type, size, sha256)),
    };
    if !grant.verify(fs.secret(), &query.sig) {
        return Err(ApiError::Denied(BAD_SIGNATURE));
    }
    if query.expires < Utc::now().timestamp() {
        return Err(ApiError::Denied(EXPIRED));
    }
    let limit = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        ApiError::BadRequest(format!("the body exceeds the {size} bytes this URL is for"))
    })?;
    if bytes.len() as u64 != size {
        return Err(ApiError::BadRequest(format!(
            "the body has {} bytes; this URL is for {size}",
            bytes.len()
        )));
    }
    let expected = sha256.to_owned();
    let stored = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut temp = fs
            .temp_file()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        temp.write_chunk(&bytes)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if temp.sha256() != expected {
            return Err(ApiError::BadRequest(
                "the body's SHA-256 differs from the one this URL is for".into(),
            ));
        }
        fs.commit(&key, temp)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    stored?;
    Ok(StatusCode::OK)
}

/// The bytes behind a download URL from `GET /v1/media/{id}` (embedded `fs`
/// storage only). Authorised by the URL's signature, not a bearer token.
#[utoipa::path(get, path = "/v1/blobs/{key}", tag = "media", params(("key" = String, Path, description = "The object key the URL was signed for"), BlobQuery),
    responses((status = 200, description = "The object's bytes", content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub(super) async fn get_blob(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<BlobQuery>,
) -> ApiResult<Response> {
    let fs = fs_backend(&state)?;
    let key = key.trim_start_matches('/');
    check_key(key)?;
    let grant = Grant {
        method: "GET",
        key,
        expires: query.expires,
        content: None,
    };
    if !grant.verify(fs.secret(), &query.sig) {
        return Err(ApiError::Denied(BAD_SIGNATURE));
    }
    if query.expires < Utc::now().timestamp() {
        return Err(ApiError::Denied(EXPIRED));
    }
    let bytes = match crate::blob::BlobStore::read(fs, key).await {
        Ok(bytes) => bytes,
        Err(BlobError::NotFound) => return Err(ApiError::NotFound("object")),
        Err(e) => return Err(ApiError::Internal(e.to_string())),
    };
    let content_type = sniff(&bytes).map_or("application/octet-stream", |f| f.mime());
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}
