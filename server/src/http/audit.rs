//! The tenant's audit log and its chain verification (admins only).

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiQuery, AuthUser, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
};
use crate::{
    domain::{ValidationErrors, audit::AuditEntry, permissions::Action},
    governance::audit_key::{AuditVerification, SealError, verify_tenant},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this sequence number; default 0 (the start).
    pub after_seq: Option<i64>,
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<i64>,
}

/// Audit entries in chain order.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem)))]
async fn list_audit(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    user.require(Action::AuditRead)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be between 1 and 200").into());
    }
    let items = state
        .store
        .list_audit(user.tenant_id, query.after_seq.unwrap_or(0), limit)
        .await?;
    let next_after_seq = if items.len() == limit as usize {
        items.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items,
        next_after_seq,
    }))
}

/// Recomputes the whole hash chain and, with an audit key configured,
/// checks every seal and the anchor; `valid: false` names the first broken
/// entry.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = AuditVerification), (status = 403, body = Problem)))]
async fn verify_audit(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<AuditVerification>> {
    user.require(Action::AuditRead)?;
    let governance = &state.config.governance;
    let keyring = governance.keyring().unwrap_or_default();
    let verification = verify_tenant(
        state.store.as_ref(),
        state.blobs.as_ref(),
        &keyring,
        std::time::Duration::from_secs(governance.audit_seal_window_secs),
        user.tenant_id,
    )
    .await
    .map_err(|error| match error {
        SealError::Store(error) => ApiError::from(error),
        other => ApiError::Internal(other.to_string()),
    })?;
    Ok(Json(verification))
}
