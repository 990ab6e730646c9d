//! The work record of a ticket for the office and its technician, and the
//! parts-and-time export for invoicing.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, header},
    response::IntoResponse,
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
    media::{UrlBody, origin},
    tickets::visible_ticket,
};
use crate::{
    domain::permissions::Action,
    domain::ticket::Ticket,
    media::{self, Variant, signature::Verification},
    store::media::{Media, MediaState, Signature},
    work::{
        self, WorkMedia, WorkRecord,
        corrections::{self, CorrectionError, Corrections},
        export::{self, ExportError, WorkExport},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_work))
        .routes(routes!(correct_work))
        .routes(routes!(export_work))
        .routes(routes!(export_parts_csv))
        .routes(routes!(export_time_csv))
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::Invalid(errors) => errors.into(),
            ExportError::Store(store) => store.into(),
        }
    }
}

impl From<CorrectionError> for ApiError {
    fn from(error: CorrectionError) -> Self {
        match error {
            CorrectionError::Invalid(errors) => errors.into(),
            stale @ CorrectionError::Stale { .. } => ApiError::Conflict(stale.to_string()),
            CorrectionError::Store(store) => store.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// Work completed at or after (RFC 3339).
    from: DateTime<Utc>,
    /// Work completed before (RFC 3339); at most 366 days after `from`.
    to: DateTime<Utc>,
}

async fn build_export(
    state: &AppState,
    user: &AuthUser,
    query: &ExportQuery,
) -> ApiResult<WorkExport> {
    user.require(Action::ReportsRead)?;
    Ok(export::export(state.store.as_ref(), user.tenant_id, query.from, query.to).await?)
}

/// Parts and finished time entries of the tickets whose work was completed
/// in `[from, to)`, for invoicing. Office roles with report access.
#[utoipa::path(get, path = "/v1/work/export", tag = "tickets", params(ExportQuery), security(("bearer" = [])),
    responses((status = 200, body = WorkExport), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export_work(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Json<WorkExport>> {
    Ok(Json(build_export(&state, &user, &query).await?))
}

fn csv(body: String) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// The parts of [`export_work`] as CSV, one line per part.
#[utoipa::path(get, path = "/v1/work/export/parts.csv", tag = "tickets", params(ExportQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export_parts_csv(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    let export = build_export(&state, &user, &query).await?;
    Ok(csv(export::parts_csv(&export.parts)))
}

/// The time entries of [`export_work`] as CSV, one line per entry.
#[utoipa::path(get, path = "/v1/work/export/time.csv", tag = "tickets", params(ExportQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export_time_csv(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    let export = build_export(&state, &user, &query).await?;
    Ok(csv(export::time_csv(&export.time)))
}

/// A photo or signature image with short-lived GETs once it is stored.
#[derive(Debug, Serialize, ToSchema)]
struct WorkMediaBody {
    #[serde(flatten)]
    media: WorkMedia,
    download: Option<UrlBody>,
    thumbnail: Option<UrlBody>,
}

/// The customer's signature as captured, and what verifying it found now.
#[derive(Debug, Serialize, ToSchema)]
struct SignedBody {
    signature: Signature,
    verification: Verification,
}

#[derive(Debug, Serialize, ToSchema)]
struct WorkBody {
    #[serde(flatten)]
    record: WorkRecord,
    photos: Vec<WorkMediaBody>,
    /// The signature images the document references.
    signatures: Vec<WorkMediaBody>,
    /// The latest signature captured for the ticket, verified on reading.
    signature: Option<SignedBody>,
    /// What the job is worth: parts × catalogue prices plus labour (issue 23).
    value: Option<crate::parts::value::JobValue>,
}

async fn with_urls(
    state: &AppState,
    origin: &str,
    lines: Vec<WorkMedia>,
    rows: &[Media],
) -> ApiResult<Vec<WorkMediaBody>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let row = rows
            .iter()
            .find(|m| Some(m.id) == line.media_id && m.state == MediaState::Stored);
        let (download, thumbnail) = match row {
            Some(row) => {
                let download =
                    media::download(&state.media(), row, Variant::Original, origin).await?;
                let thumbnail = if row.has_thumbnail {
                    Some(media::download(&state.media(), row, Variant::Thumbnail, origin).await?)
                } else {
                    None
                };
                (Some(download.into()), thumbnail.map(UrlBody::from))
            }
            None => (None, None),
        };
        out.push(WorkMediaBody {
            media: line,
            download,
            thumbnail,
        });
    }
    Ok(out)
}

/// What was done on the ticket, from its document: notes, checklist, parts,
/// time entries with totals, photos and signatures (with download URLs
/// once stored), the signature's verification, and every status event with
/// its device time and whether it was applied. Office roles and the
/// assigned technician; anyone else gets 404.
#[utoipa::path(get, path = "/v1/tickets/{id}/work", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = WorkBody), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn get_work(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Json<WorkBody>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(work_body(&state, &user, &ticket, &headers).await?))
}

/// Corrects the work record as the office: each operation (fix a part's
/// quantity, remove or replace a part, add a part, add a note line or edit
/// the notes, fix or add a time entry, tick a checklist item or add one) is
/// written into the ticket's document as the server, so the phone sees it
/// on its next sync; the technician's original stays in the document's
/// history, the audit log and the timeline name the office user. All
/// operations apply or none. `version` is the record's `version` as read:
/// a record changed since answers 409. Admins, dispatchers and managers.
#[utoipa::path(post, path = "/v1/tickets/{id}/work/corrections", tag = "tickets", request_body = Corrections,
    security(("bearer" = [])),
    responses((status = 200, body = WorkBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn correct_work(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<Corrections>,
) -> ApiResult<Json<WorkBody>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    user.require(Action::WorkCorrect)?;
    corrections::correct(state.store.as_ref(), user.actor(), &ticket, &request).await?;
    let ticket = state.store.get_ticket(user.tenant_id, ticket.id).await?;
    Ok(Json(work_body(&state, &user, &ticket, &headers).await?))
}

async fn work_body(
    state: &AppState,
    user: &AuthUser,
    ticket: &Ticket,
    headers: &HeaderMap,
) -> ApiResult<WorkBody> {
    let rows = state
        .store
        .list_ticket_media(user.tenant_id, ticket.id)
        .await?;
    let work = work::record(
        state.store.as_ref(),
        user.tenant_id,
        ticket.id,
        ticket.status,
        &rows,
    )
    .await?;
    let origin = origin(state, headers);
    let photos = with_urls(state, &origin, work.photos, &rows).await?;
    let signatures = with_urls(state, &origin, work.signatures, &rows).await?;
    let signature = match state
        .store
        .latest_signature(user.tenant_id, ticket.id)
        .await?
    {
        Some(signature) => {
            let verification = media::signature::verify(&state.media(), &signature).await?;
            Some(SignedBody {
                signature,
                verification,
            })
        }
        None => None,
    };
    let value =
        Some(crate::parts::value::job_value(state.store.as_ref(), ticket, &work.record).await?);
    Ok(WorkBody {
        record: work.record,
        photos,
        signatures,
        signature,
        value,
    })
}
