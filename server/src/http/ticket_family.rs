//! Parent and child tickets (issue 22): a job split into sub-tickets, the
//! parent's view of its children's progress, and the rule that a parent
//! does not close while children are open (unless
//! `knowledge.close_parent_with_open_children`).

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
    tickets::visible_ticket,
};
use crate::domain::{
    permissions::Action,
    subtickets::{ChildProgress, FamilyMember, is_open, progress},
    ticket::Ticket,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_family, add_child))
        .routes(routes!(remove_child))
}

/// A ticket's parent and sub-tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Family {
    /// The ticket this one is a sub-ticket of.
    pub parent: Option<FamilyMember>,
    /// Oldest first.
    pub children: Vec<FamilyMember>,
    pub progress: ChildProgress,
}

async fn family(state: &AppState, tenant_id: Uuid, id: Uuid) -> ApiResult<Family> {
    let (parent, children) = state.store.ticket_family(tenant_id, id).await?;
    Ok(Family {
        parent,
        progress: progress(&children),
        children,
    })
}

/// The ticket's parent, its sub-tickets and how far they are.
#[utoipa::path(get, path = "/v1/tickets/{id}/children", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Family), (status = 404, body = Problem)))]
async fn get_family(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Family>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(family(&state, user.tenant_id, ticket.id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildBody {
    /// A ticket of the same customer (create it with `POST /v1/tickets`
    /// first to split a job).
    pub ticket_id: Uuid,
}

/// Make a ticket a sub-ticket of this one (one level deep, one parent).
#[utoipa::path(post, path = "/v1/tickets/{id}/children", tag = "tickets", request_body = ChildBody, security(("bearer" = [])),
    responses((status = 201, body = Family), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn add_child(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChildBody>,
) -> ApiResult<(StatusCode, Json<Family>)> {
    user.require(Action::TicketsManage)?;
    let parent = visible_ticket(&state, &user, id).await?;
    state
        .store
        .link_child(user.actor(), parent.id, body.ticket_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(family(&state, user.tenant_id, parent.id).await?),
    ))
}

/// Detach a sub-ticket (it stays a ticket of its own).
#[utoipa::path(delete, path = "/v1/tickets/{id}/children/{child_id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_child(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, child_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::TicketsManage)?;
    let parent = visible_ticket(&state, &user, id).await?;
    state
        .store
        .unlink_child(user.actor(), parent.id, child_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses to close `parent` while a sub-ticket is open, unless the
/// `[knowledge]` policy allows it.
pub(super) async fn refuse_close_with_open_children(
    state: &AppState,
    parent: &Ticket,
) -> ApiResult<()> {
    if state.config.knowledge.close_parent_with_open_children {
        return Ok(());
    }
    let (_, children) = state
        .store
        .ticket_family(parent.tenant_id, parent.id)
        .await?;
    let open: Vec<&str> = children
        .iter()
        .filter(|c| is_open(&c.status))
        .map(|c| c.number.as_str())
        .collect();
    if open.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "sub-tickets are still open: {}; finish or cancel them first",
            open.join(", ")
        )))
    }
}
