//! Files attached to knowledge-base articles (issue 22): a wiring diagram,
//! a manufacturer's manual. Uploaded through the server (the request body
//! is the file), checked as the media flow checks uploads (size, type by
//! magic bytes: JPEG, PNG, HEIC, WebP, PDF), stored in the blob store by
//! content under `tenants/{tenant}/articles/sha256/{sha256}`, downloaded
//! through a short-lived signed URL of the blob store (fs or S3).

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiPath, ApiQuery, AuthUser},
    media::{UrlBody, origin},
};
use crate::{
    blob::{
        BlobError, Validity, sha256_hex,
        sniff::{Format, sniff},
        tenant_prefix,
    },
    domain::{
        ValidationErrors,
        knowledge::{ArticleAttachment, NewAttachment},
        permissions::Action,
    },
};

/// The largest attachment (also bounded by `media.max_bytes`).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Attachments per article.
pub const MAX_PER_ARTICLE: u32 = 20;
const MAX_NAME_CHARS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attachments, upload_attachment))
        .routes(routes!(get_attachment, delete_attachment))
        .layer(DefaultBodyLimit::max(MAX_ATTACHMENT_BYTES))
}

/// Where an attachment's bytes are: by content, apart from ticket media.
pub fn attachment_key(tenant_id: Uuid, sha256: &str) -> String {
    format!("{}articles/sha256/{sha256}", tenant_prefix(tenant_id))
}

fn blob_error(error: BlobError) -> ApiError {
    match error {
        BlobError::Unavailable(detail) => ApiError::Unavailable(detail),
        BlobError::NotFound => ApiError::NotFound("attachment"),
        other => ApiError::Internal(other.to_string()),
    }
}

/// An attachment with a download URL valid for `media.url_expiry_secs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    #[serde(flatten)]
    pub attachment: ArticleAttachment,
    pub download: UrlBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attachments {
    /// Oldest first.
    pub attachments: Vec<AttachmentView>,
}

async fn view(
    state: &AppState,
    tenant_id: Uuid,
    origin: &str,
    attachment: ArticleAttachment,
) -> ApiResult<AttachmentView> {
    let validity = Validity::from_now(Duration::from_secs(state.config.media.url_expiry_secs));
    let download = state
        .blobs
        .presign_get(
            &attachment_key(tenant_id, &attachment.sha256),
            origin,
            validity,
        )
        .await
        .map_err(blob_error)?;
    Ok(AttachmentView {
        attachment,
        download: download.into(),
    })
}

/// An article's attachments with download URLs. Everyone who reads articles.
#[utoipa::path(get, path = "/v1/knowledge/articles/{id}/attachments", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = Attachments), (status = 404, body = Problem)))]
async fn list_attachments(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Json<Attachments>> {
    user.require(Action::KnowledgeRead)?;
    state.store.get_article(user.tenant_id, id).await?;
    let origin = origin(&state, &headers);
    let mut attachments = Vec::new();
    for attachment in state.store.article_attachments(user.tenant_id, id).await? {
        attachments.push(view(&state, user.tenant_id, &origin, attachment).await?);
    }
    Ok(Json(Attachments { attachments }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file name shown (1 to 200 characters, no path).
    pub name: String,
}

fn check_name(name: &str) -> Result<String, ValidationErrors> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(ValidationErrors::single(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == ".."
    {
        return Err(ValidationErrors::single(
            "name",
            "must be a file name without a path or control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Attach a file (the request body) to an article: JPEG, PNG, HEIC, WebP
/// or PDF, named by `Content-Type` and checked by its first bytes, at most
/// 10 MiB (and `media.max_bytes`), 20 per article. Office roles who write
/// articles; audited `article.attachment_add`.
#[utoipa::path(post, path = "/v1/knowledge/articles/{id}/attachments", tag = "knowledge", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/pdf"), security(("bearer" = [])),
    responses((status = 201, body = AttachmentView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(article = %id))]
async fn upload_attachment(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    user.require(Action::KnowledgeWrite)?;
    let name = check_name(&query.name)?;
    state.store.get_article(user.tenant_id, id).await?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let Some(format) = Format::from_mime(&declared) else {
        return Err(ApiError::UnsupportedMediaType(
            "an attachment is image/jpeg, image/png, image/heic, image/webp or application/pdf"
                .into(),
        ));
    };
    let limit = usize::try_from(state.config.media.max_bytes)
        .unwrap_or(usize::MAX)
        .min(MAX_ATTACHMENT_BYTES);
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge);
    }
    if body.is_empty() {
        return Err(ValidationErrors::single("body", "the file is empty").into());
    }
    match sniff(&body) {
        Some(found) if found == format => {}
        found => {
            return Err(ValidationErrors::single(
                "body",
                format!(
                    "the bytes are {}, {} was declared",
                    found.map_or("of no accepted type", Format::mime),
                    format.mime()
                ),
            )
            .into());
        }
    }
    let sha256 = sha256_hex(&body);
    let key = attachment_key(user.tenant_id, &sha256);
    // Content-addressed: the same file attached twice is stored once.
    if state.blobs.head(&key).await.map_err(blob_error)?.is_none() {
        state
            .blobs
            .write(&key, body.to_vec(), format.mime())
            .await
            .map_err(blob_error)?;
    }
    let new = NewAttachment {
        name,
        content_type: format.mime().to_owned(),
        size: i64::try_from(body.len()).unwrap_or(i64::MAX),
        sha256,
    };
    let attachment = state
        .store
        .add_article_attachment(user.actor(), id, &new, MAX_PER_ARTICLE)
        .await?;
    let origin = origin(&state, &headers);
    Ok((
        StatusCode::CREATED,
        Json(view(&state, user.tenant_id, &origin, attachment).await?),
    ))
}

/// One attachment with its download URL.
#[utoipa::path(get, path = "/v1/knowledge/articles/{id}/attachments/{attachment_id}", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = AttachmentView), (status = 404, body = Problem)))]
async fn get_attachment(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, attachment_id)): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> ApiResult<Json<AttachmentView>> {
    user.require(Action::KnowledgeRead)?;
    let attachment = state
        .store
        .article_attachment(user.tenant_id, id, attachment_id)
        .await?;
    let origin = origin(&state, &headers);
    Ok(Json(
        view(&state, user.tenant_id, &origin, attachment).await?,
    ))
}

/// Remove an attachment; its bytes go from the blob store unless another
/// attachment of the tenant has the same content. Audited
/// `article.attachment_delete`.
#[utoipa::path(delete, path = "/v1/knowledge/articles/{id}/attachments/{attachment_id}", tag = "knowledge", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(article = %id))]
async fn delete_attachment(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, attachment_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::KnowledgeWrite)?;
    let (gone, still_used) = state
        .store
        .delete_article_attachment(user.actor(), id, attachment_id)
        .await?;
    if !still_used {
        // After the row's commit: a failure here leaves an unreferenced
        // object (harmless; an upload of the same file reuses it).
        if let Err(error) = state
            .blobs
            .delete(&attachment_key(user.tenant_id, &gone.sha256))
            .await
        {
            tracing::warn!(%error, "attachment object not deleted");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
