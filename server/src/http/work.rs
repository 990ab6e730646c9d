//! The work record of a ticket for the office and its technician.

use axum::{Json, extract::State, http::HeaderMap};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiPath, AuthUser},
    media::{UrlBody, origin},
    tickets::visible_ticket,
};
use crate::{
    media::{self, Variant, signature::Verification},
    store::media::{Media, MediaState, Signature},
    work::{self, WorkMedia, WorkRecord},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_work))
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
    let origin = origin(&state, &headers);
    let photos = with_urls(&state, &origin, work.photos, &rows).await?;
    let signatures = with_urls(&state, &origin, work.signatures, &rows).await?;
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
    Ok(Json(WorkBody {
        record: work.record,
        photos,
        signatures,
        signature,
    }))
}
