//! The tenant's retention policy (`/v1/retention`, admins): how long
//! location trails, comments and photos of closed tickets are kept and when
//! closed tickets are anonymised; the housekeeping sweeper
//! (`governance::retention`) applies it.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiJson, AuthUser},
};
use crate::{
    domain::permissions::Action, governance::retention::check_policy,
    store::retention::RetentionPolicy,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_retention, put_retention))
}

/// A tenant's retention policy; `null` keeps the data (locations: the
/// server's `[dispatch] location_retention_days`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Months after a ticket is closed or cancelled before its description,
    /// custom fields and comment bodies are blanked (1–120).
    #[serde(default)]
    pub closed_ticket_anonymise_months: Option<u32>,
    /// Days after a ticket is closed before its photos are deleted; signatures stay (1–3653).
    #[serde(default)]
    pub media_days: Option<u32>,
    /// Days technicians' location pings are kept (1–3653).
    #[serde(default)]
    pub location_days: Option<u32>,
    /// Days after a ticket is closed before its comments are deleted (1–3653).
    #[serde(default)]
    pub comment_days: Option<u32>,
}

impl From<RetentionPolicy> for RetentionBody {
    fn from(p: RetentionPolicy) -> Self {
        Self {
            closed_ticket_anonymise_months: p.closed_ticket_anonymise_months,
            media_days: p.media_days,
            location_days: p.location_days,
            comment_days: p.comment_days,
        }
    }
}

impl From<RetentionBody> for RetentionPolicy {
    fn from(b: RetentionBody) -> Self {
        Self {
            closed_ticket_anonymise_months: b.closed_ticket_anonymise_months,
            media_days: b.media_days,
            location_days: b.location_days,
            comment_days: b.comment_days,
        }
    }
}

/// The tenant's retention policy. Admins.
#[utoipa::path(get, path = "/v1/retention", tag = "governance", security(("bearer" = [])),
    responses((status = 200, body = RetentionBody), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn get_retention(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<RetentionBody>> {
    user.require(Action::TenantWrite)?;
    Ok(Json(
        state.store.retention_policy(user.tenant_id).await?.into(),
    ))
}

/// Replaces the tenant's retention policy (audited). Admins.
#[utoipa::path(put, path = "/v1/retention", tag = "governance", security(("bearer" = [])),
    request_body = RetentionBody,
    responses((status = 200, body = RetentionBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_retention(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RetentionBody>,
) -> ApiResult<Json<RetentionBody>> {
    user.require(Action::TenantWrite)?;
    let policy = RetentionPolicy::from(body);
    check_policy(&policy)?;
    let stored = state
        .store
        .set_retention_policy(user.actor(), &policy)
        .await?;
    Ok(Json(stored.into()))
}
