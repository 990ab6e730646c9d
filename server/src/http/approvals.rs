//! Approvals over HTTP (issue 21): the tenant's approval policies
//! (`/v1/approval-policies`), a ticket's requests and which policies apply
//! to it (`/v1/tickets/{id}/approvals`), the approver's inbox
//! (`/v1/approvals`) and the decision (`/v1/approvals/{id}/decision`).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    automation::automation,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    automation::approvals::{ApprovalCheck, ApprovalError, PolicyCheck, decide},
    domain::{
        ValidationErrors,
        approvals::{
            ApprovalPolicy, ApprovalPolicyInput, ApprovalRequest, ApprovalState, Decision,
        },
        people::Role,
        permissions::Action,
    },
    store::StoreError,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy))
        .routes(routes!(ticket_approvals, request_approval))
        .routes(routes!(check_ticket))
        .routes(routes!(inbox))
        .routes(routes!(get_request))
        .routes(routes!(decide_request))
}

impl From<ApprovalError> for ApiError {
    fn from(error: ApprovalError) -> Self {
        match error {
            ApprovalError::Store(e) => e.into(),
            ApprovalError::Invalid(errors) => errors.into(),
            ApprovalError::NotApprover => ApiError::Forbidden,
        }
    }
}

/// The approvers a policy names must be active staff users of the tenant.
async fn check_approvers(
    state: &AppState,
    user: &AuthUser,
    input: &ApprovalPolicyInput,
) -> ApiResult<()> {
    input.validate()?;
    let mut errors = ValidationErrors::new();
    for (i, id) in input.approvers.user_ids.iter().enumerate() {
        match state.store.get_user(user.tenant_id, *id).await {
            Ok(u) if u.active && u.role != Role::Technician => {}
            Ok(_) => errors.add(
                format!("approvers.user_ids[{i}]"),
                "must be an active staff user (not a technician)",
            ),
            Err(StoreError::NotFound(_)) => {
                errors.add(format!("approvers.user_ids[{i}]"), "no such user")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(errors.into_result()?)
}

#[utoipa::path(get, path = "/v1/approval-policies", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApprovalPolicy>)))]
async fn list_policies(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<ApprovalPolicy>>> {
    user.require(Action::ApprovalsRequest)?;
    Ok(Json(
        state.store.list_approval_policies(user.tenant_id).await?,
    ))
}

/// A policy: a condition in the trigger rules' language (`GET
/// /v1/rules/schema`, `conditions`), optional thresholds on the priced job
/// (cents), the approvers (users or roles) and whether a pending request
/// pauses the SLA clocks.
#[utoipa::path(post, path = "/v1/approval-policies", tag = "approvals", request_body = ApprovalPolicyInput, security(("bearer" = [])),
    responses((status = 201, body = ApprovalPolicy), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ApprovalPolicyInput>,
) -> ApiResult<(StatusCode, Json<ApprovalPolicy>)> {
    user.require(Action::ApprovalPoliciesManage)?;
    check_approvers(&state, &user, &input).await?;
    let policy = state
        .store
        .create_approval_policy(user.actor(), &input)
        .await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

#[utoipa::path(get, path = "/v1/approval-policies/{id}", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = ApprovalPolicy), (status = 404, body = Problem)))]
async fn get_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApprovalPolicy>> {
    user.require(Action::ApprovalsRequest)?;
    Ok(Json(
        state.store.get_approval_policy(user.tenant_id, id).await?,
    ))
}

/// Replace a policy whole (requests already made keep their approvers).
#[utoipa::path(put, path = "/v1/approval-policies/{id}", tag = "approvals", request_body = ApprovalPolicyInput, security(("bearer" = [])),
    responses((status = 200, body = ApprovalPolicy), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ApprovalPolicyInput>,
) -> ApiResult<Json<ApprovalPolicy>> {
    user.require(Action::ApprovalPoliciesManage)?;
    check_approvers(&state, &user, &input).await?;
    Ok(Json(
        state
            .store
            .update_approval_policy(user.actor(), id, &input)
            .await?,
    ))
}

/// A ticket's approval requests, oldest first (a technician: their own tickets).
#[utoipa::path(get, path = "/v1/tickets/{id}/approvals", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApprovalRequest>), (status = 404, body = Problem)))]
async fn ticket_approvals(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ApprovalRequest>>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(
        state
            .store
            .ticket_approval_requests(user.tenant_id, ticket.id)
            .await?,
    ))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// Absent: the first active policy (by name) that applies.
    #[serde(default)]
    pub policy_id: Option<Uuid>,
    #[serde(default)]
    pub reason: String,
}

/// Ask for an approval: the ticket awaits it (at most one pending per
/// ticket) and the approvers are notified. The policy must apply to the
/// ticket (its condition and the priced job's value).
#[utoipa::path(post, path = "/v1/tickets/{id}/approvals", tag = "approvals", request_body = RequestInput, security(("bearer" = [])),
    responses((status = 201, body = ApprovalRequest), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn request_approval(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RequestInput>,
) -> ApiResult<(StatusCode, Json<ApprovalRequest>)> {
    user.require(Action::ApprovalsRequest)?;
    if input.reason.chars().count() > 2000 {
        return Err(ValidationErrors::single("reason", "must be at most 2000 characters").into());
    }
    let ticket = visible_ticket(&state, &user, id).await?;
    let request = automation(&state)
        .request_approval(user.actor(), &ticket, input.policy_id, &input.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// Which active policies apply to the ticket now, with the priced job.
#[utoipa::path(get, path = "/v1/tickets/{id}/approvals/check", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = ApprovalCheck), (status = 404, body = Problem)))]
async fn check_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApprovalCheck>> {
    user.require(Action::ApprovalsRequest)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let (checked, cost) = automation(&state).check_policies(&ticket).await?;
    Ok(Json(ApprovalCheck {
        parts_cents: cost.parts_cents,
        total_cents: cost.total_cents,
        policies: checked
            .into_iter()
            .map(|(p, applies)| PolicyCheck {
                policy_id: p.id,
                name: p.name,
                applies,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    /// Default `pending`.
    state: Option<ApprovalState>,
    /// Only requests the caller may decide (default true).
    mine: Option<bool>,
    /// At most this many (1-500, default 100).
    limit: Option<u32>,
}

/// The approvals inbox: requests in a state, oldest first; by default the
/// pending ones the caller may decide.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", params(InboxQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<ApprovalRequest>), (status = 422, body = Problem)))]
async fn inbox(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> ApiResult<Json<Vec<ApprovalRequest>>> {
    user.require(Action::ApprovalsDecide)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be 1-500").into());
    }
    let requests = state
        .store
        .approval_requests_in_state(
            user.tenant_id,
            query.state.unwrap_or(ApprovalState::Pending),
            limit,
        )
        .await?;
    let mine = query.mine.unwrap_or(true);
    Ok(Json(
        requests
            .into_iter()
            .filter(|r| !mine || r.approvers.includes(user.user_id, user.role))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, body = ApprovalRequest), (status = 404, body = Problem)))]
async fn get_request(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApprovalRequest>> {
    let request = state.store.get_approval_request(user.tenant_id, id).await?;
    // Whoever may see the ticket may see its requests.
    visible_ticket(&state, &user, request.ticket_id).await?;
    Ok(Json(request))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub decision: Decision,
    /// Required to reject.
    #[serde(default)]
    pub comment: String,
}

/// Approve or reject a pending request: only its approvers (the users and
/// roles its policy named when it was made) may.
#[utoipa::path(post, path = "/v1/approvals/{id}/decision", tag = "approvals", request_body = DecisionInput, security(("bearer" = [])),
    responses((status = 200, body = ApprovalRequest), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn decide_request(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> ApiResult<Json<ApprovalRequest>> {
    user.require(Action::ApprovalsDecide)?;
    let decided = decide(
        state.store.as_ref(),
        user.actor(),
        user.role,
        id,
        input.decision,
        &input.comment,
    )
    .await?;
    Ok(Json(decided))
}
