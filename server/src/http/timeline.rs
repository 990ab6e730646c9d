//! A ticket's timeline.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiPath, ApiQuery, AuthUser, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    tickets::visible_ticket,
};
use crate::{
    domain::ValidationErrors,
    timeline::{self, TimelineEntry, TimelineKind},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_timeline))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    /// Only these kinds, comma-separated: created, changed, assignment,
    /// status, field, sync, comment, offer, media, sla, webhook,
    /// notification, correction, report, other, automation.
    kind: Option<String>,
    /// 1 to 200; default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct TimelinePage {
    items: Vec<TimelineEntry>,
    next_cursor: Option<String>,
}

fn kinds(query: &TimelineQuery) -> Result<Option<Vec<TimelineKind>>, ValidationErrors> {
    let Some(list) = query.kind.as_deref() else {
        return Ok(None);
    };
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.parse()
                .map_err(|e: String| ValidationErrors::single("kind", e))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Everything that happened to the ticket, oldest first: creation, changes,
/// assignments, status steps (office and server) and phone events (with
/// device times), merges, comments, offers, media, SLA warnings and
/// breaches, webhooks sent; each with who did it. Whoever may read the
/// ticket (office roles and its technician), as for its comments.
#[utoipa::path(get, path = "/v1/tickets/{id}/timeline", tag = "tickets", params(TimelineQuery), security(("bearer" = [])),
    responses((status = 200, body = TimelinePage), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn get_timeline(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<TimelinePage>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be between 1 and 200").into());
    }
    let offset = match query.cursor.as_deref() {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ValidationErrors::single("cursor", "not a cursor from this list"))?,
        None => 0,
    };
    let wanted = kinds(&query)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let all = timeline::timeline(state.store.as_ref(), &ticket).await?;
    let filtered: Vec<TimelineEntry> = all
        .into_iter()
        .filter(|e| wanted.as_ref().is_none_or(|w| w.contains(&e.kind)))
        .collect();
    let limit = limit as usize;
    let end = (offset + limit).min(filtered.len());
    let next_cursor = (end < filtered.len()).then(|| end.to_string());
    let items = filtered.into_iter().skip(offset).take(limit).collect();
    Ok(Json(TimelinePage { items, next_cursor }))
}
