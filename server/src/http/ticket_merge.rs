//! Merging a duplicate ticket into the ticket it duplicates (issue 22):
//! the duplicate is cancelled through its document (as an office cancel
//! is), its comments move to the other ticket, both get a note, the merge
//! is recorded and audited, and reports count the pair once.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use truckroll_sync::{Status, StatusAction};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    device_sync::{ATTEMPTS, Draft, Step, lost_race},
    domain::{ValidationErrors, duplicates::MergeRecord, permissions::Action},
    store::StoreError,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(merge_ticket))
        .routes(routes!(list_merges))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The ticket this one duplicates; it stays open and receives the comments.
    pub into: Uuid,
}

/// Merge this ticket (a duplicate) into `into`: this one is cancelled as
/// "duplicate of …", its comments move to `into`, both tickets get a note
/// and an audit entry `ticket.merge`, and the SLA report counts only
/// `into`. Photos, documents and the work record stay with the duplicate
/// (linked from the note and `GET /v1/tickets/{id}/merges`). Not undone by
/// the API: reopen the duplicate if the merge was wrong (its comments stay
/// moved).
#[utoipa::path(post, path = "/v1/tickets/{id}/merge", tag = "tickets", request_body = MergeBody, security(("bearer" = [])),
    responses((status = 200, body = MergeRecord), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn merge_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MergeBody>,
) -> ApiResult<Json<MergeRecord>> {
    user.require(Action::TicketsManage)?;
    let mut before = visible_ticket(&state, &user, id).await?;
    if body.into == id {
        return Err(
            ValidationErrors::single("into", "a ticket cannot be merged into itself").into(),
        );
    }
    let target = match state.store.get_ticket(user.tenant_id, body.into).await {
        Ok(target) => target,
        Err(StoreError::NotFound(_)) => {
            return Err(ValidationErrors::single("into", "no such ticket").into());
        }
        Err(e) => return Err(e.into()),
    };
    if target.status == Status::Cancelled {
        return Err(ValidationErrors::single(
            "into",
            "is cancelled; merge into an open or closed ticket",
        )
        .into());
    }
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            before = state.store.get_ticket(user.tenant_id, id).await?;
        }
        let mut draft = Draft::load(state.store.as_ref(), &before).await?;
        let current = draft.current(&before);
        if matches!(
            current.status,
            Status::WorkDone | Status::Closed | Status::Cancelled
        ) {
            return Err(ApiError::Conflict(format!(
                "only an open ticket is merged; this one is {}",
                current.status.as_str()
            )));
        }
        draft
            .step(Step {
                action: StatusAction::Cancel,
                hold_reason: None,
                assignee: None,
                position: None,
            })
            .map_err(|e| ApiError::Conflict(e.to_string()))?;
        let mut after = current.clone();
        draft.project(&mut after);
        match state
            .store
            .merge_ticket(
                user.actor(),
                &before,
                &after,
                draft.change().as_ref(),
                target.id,
            )
            .await
        {
            Ok((updated, record)) => {
                state.assignments().after_change(&before, &updated).await?;
                return Ok(Json(record));
            }
            Err(StoreError::Conflict(why)) => {
                if attempt == ATTEMPTS || !lost_race(state.store.as_ref(), &before, &draft).await? {
                    return Err(ApiError::Conflict(why));
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict("the ticket kept changing; retry".into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Merges {
    /// Oldest first: this ticket as the duplicate (`source_id`) or as the
    /// ticket duplicates were merged into (`target_id`).
    pub merges: Vec<MergeRecord>,
}

/// The merges a ticket took part in.
#[utoipa::path(get, path = "/v1/tickets/{id}/merges", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Merges), (status = 404, body = Problem)))]
async fn list_merges(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Merges>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let merges = state.store.ticket_merges(user.tenant_id, ticket.id).await?;
    Ok(Json(Merges { merges }))
}
