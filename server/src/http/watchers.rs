//! Watching a ticket over HTTP (`/v1/tickets/{id}/watch`, `/watchers`) and
//! the hook the comment handler calls so mentions and watchers hear of a new
//! comment. Whoever may see a ticket may watch it: staff any ticket of their
//! tenant, a technician the tickets assigned to them.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiPath, AuthUser},
    tickets::visible_ticket,
};
use crate::domain::ticket::{Comment, Ticket};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(watch_ticket, unwatch_ticket))
        .routes(routes!(ticket_watchers))
}

/// Who watches a ticket, and whether the signed-in user does.
#[derive(Debug, Serialize, ToSchema)]
pub struct Watchers {
    pub watching: bool,
    /// User ids.
    pub watchers: Vec<Uuid>,
}

async fn watchers_of(state: &AppState, user: &AuthUser, ticket_id: Uuid) -> ApiResult<Watchers> {
    let watchers = state
        .store
        .ticket_watchers(user.tenant_id, ticket_id)
        .await?;
    Ok(Watchers {
        watching: watchers.contains(&user.user_id),
        watchers,
    })
}

#[utoipa::path(get, path = "/v1/tickets/{id}/watchers", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Watchers), (status = 404, body = Problem)))]
async fn ticket_watchers(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Watchers>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(watchers_of(&state, &user, ticket.id).await?))
}

/// Watch a ticket: its status and assignee changes and its comments become
/// the signed-in user's notifications. Idempotent.
#[utoipa::path(put, path = "/v1/tickets/{id}/watch", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Watchers), (status = 404, body = Problem)))]
async fn watch_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Watchers>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    state
        .store
        .watch_ticket(user.tenant_id, ticket.id, user.user_id)
        .await?;
    Ok(Json(watchers_of(&state, &user, ticket.id).await?))
}

/// Stop watching a ticket. Idempotent.
#[utoipa::path(delete, path = "/v1/tickets/{id}/watch", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Watchers), (status = 404, body = Problem)))]
async fn unwatch_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Watchers>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    state
        .store
        .unwatch_ticket(user.tenant_id, ticket.id, user.user_id)
        .await?;
    Ok(Json(watchers_of(&state, &user, ticket.id).await?))
}

/// After a comment committed: mentions and watchers. Best effort: the
/// comment stands either way; a failure is logged.
pub(super) async fn after_comment(
    state: &AppState,
    user: &AuthUser,
    ticket: &Ticket,
    comment: &Comment,
) {
    if let Err(error) = crate::automation::watch::after_comment(
        state.store.as_ref(),
        user.user_id,
        ticket,
        &comment.body,
        comment.visibility,
    )
    .await
    {
        tracing::warn!(%error, ticket = %ticket.id, "mentions and watchers not told of a comment");
    }
}
