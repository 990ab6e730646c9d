//! SLA endpoints: policies per tenant, the notices that fired, and the
//! SLA report (JSON or CSV).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    directory::{archive_record, delete_record, restore_record},
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
};
use crate::{
    domain::{
        lifecycle::{ArchivedFilter, MasterKind},
        permissions::Action,
        sla::{
            BusinessCalendar, Escalation, PauseMatcher, PolicyMatch, SlaPolicy, SlaTargets,
            default_pause_on, default_warning_thresholds,
        },
    },
    sla::report::{GroupBy, ReportEngine, ReportError, ReportRequest, SlaReport},
};
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(archive_policy))
        .routes(routes!(restore_policy))
        .routes(routes!(sla_report))
        .routes(routes!(list_notices))
}

// ---------------------------------------------------------------------------
// Policies

fn always_open() -> BusinessCalendar {
    BusinessCalendar::AlwaysOpen
}

/// A new SLA policy. `match` fields left out match anything; the calendar
/// defaults to 24×7, pauses to on hold (waiting for customer or parts),
/// warnings to 75 % and 90 %.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matches: PolicyMatch,
    pub targets: SlaTargets,
    #[serde(default = "always_open")]
    pub calendar: BusinessCalendar,
    #[serde(default = "default_pause_on")]
    pub pause_on: Vec<PauseMatcher>,
    #[serde(default = "default_warning_thresholds")]
    pub warning_thresholds: Vec<u8>,
    /// Default: notify dispatchers at a warning, dispatchers and managers at a breach.
    #[serde(default)]
    pub escalation: Escalation,
}

/// A change to an SLA policy: each field given replaces the stored one whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyPatch {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<PolicyMatch>,
    pub targets: Option<SlaTargets>,
    pub calendar: Option<BusinessCalendar>,
    pub pause_on: Option<Vec<PauseMatcher>>,
    pub warning_thresholds: Option<Vec<u8>>,
    pub escalation: Option<Escalation>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PolicyListQuery {
    /// `false` (default): active only; `true`: archived only; `all`.
    #[param(value_type = Option<String>, example = "false")]
    pub archived: Option<ArchivedFilter>,
}

/// SLA policies of the tenant, oldest first; active ones unless `archived` says otherwise.
#[utoipa::path(get, path = "/v1/sla/policies", tag = "sla", params(PolicyListQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<SlaPolicy>), (status = 403, body = Problem)))]
async fn list_policies(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PolicyListQuery>,
) -> ApiResult<Json<Vec<SlaPolicy>>> {
    user.require(Action::SlaPoliciesRead)?;
    Ok(Json(
        state
            .store
            .list_sla_policies_where(user.tenant_id, query.archived.unwrap_or_default())
            .await?,
    ))
}

/// Archive a policy (admins): it stops covering tickets (open ones fall to
/// the next matching policy on their next read) and leaves the list; restorable.
#[utoipa::path(post, path = "/v1/sla/policies/{id}/archive", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn archive_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SlaPolicy>> {
    archive_record(
        &state,
        &user,
        Action::SlaPoliciesWrite,
        MasterKind::SlaPolicy,
        id,
    )
    .await?;
    Ok(Json(state.store.get_sla_policy(user.tenant_id, id).await?))
}

/// Restore an archived policy (admins).
#[utoipa::path(post, path = "/v1/sla/policies/{id}/restore", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn restore_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SlaPolicy>> {
    restore_record(
        &state,
        &user,
        Action::SlaPoliciesWrite,
        MasterKind::SlaPolicy,
        id,
    )
    .await?;
    Ok(Json(state.store.get_sla_policy(user.tenant_id, id).await?))
}

/// Delete a policy for good (admins); refused (409 `in_use`) once it has
/// fired SLA notices, which name it. Archive it instead.
#[utoipa::path(delete, path = "/v1/sla/policies/{id}", tag = "sla", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_record(
        &state,
        &user,
        Action::SlaPoliciesWrite,
        MasterKind::SlaPolicy,
        id,
    )
    .await
}

/// Define an SLA policy (admins). The most specific matching policy covers a ticket.
#[utoipa::path(post, path = "/v1/sla/policies", tag = "sla", request_body = SlaPolicyInput, security(("bearer" = [])),
    responses((status = 201, body = SlaPolicy), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SlaPolicyInput>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    user.require(Action::SlaPoliciesWrite)?;
    let policy = SlaPolicy {
        id: Uuid::now_v7(),
        name: input.name.trim().to_owned(),
        matches: input.matches,
        targets: input.targets,
        calendar: input.calendar,
        pause_on: input.pause_on,
        warning_thresholds: input.warning_thresholds,
        escalation: input.escalation,
        archived_at: None,
    };
    policy.validate()?;
    let created = state.store.create_sla_policy(user.actor(), &policy).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/sla/policies/{id}", tag = "sla", security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 404, body = Problem)))]
async fn get_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SlaPolicy>> {
    user.require(Action::SlaPoliciesRead)?;
    Ok(Json(state.store.get_sla_policy(user.tenant_id, id).await?))
}

/// Change an SLA policy (admins). Tickets it covers are re-evaluated on their
/// next read, from their history: paused time is kept.
#[utoipa::path(patch, path = "/v1/sla/policies/{id}", tag = "sla", request_body = SlaPolicyPatch, security(("bearer" = [])),
    responses((status = 200, body = SlaPolicy), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn update_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<SlaPolicyPatch>,
) -> ApiResult<Json<SlaPolicy>> {
    user.require(Action::SlaPoliciesWrite)?;
    let mut policy = state.store.get_sla_policy(user.tenant_id, id).await?;
    if let Some(name) = patch.name {
        policy.name = name.trim().to_owned();
    }
    if let Some(matches) = patch.matches {
        policy.matches = matches;
    }
    if let Some(targets) = patch.targets {
        policy.targets = targets;
    }
    if let Some(calendar) = patch.calendar {
        policy.calendar = calendar;
    }
    if let Some(pause_on) = patch.pause_on {
        policy.pause_on = pause_on;
    }
    if let Some(thresholds) = patch.warning_thresholds {
        policy.warning_thresholds = thresholds;
    }
    if let Some(escalation) = patch.escalation {
        policy.escalation = escalation;
    }
    policy.validate()?;
    Ok(Json(
        state.store.update_sla_policy(user.actor(), &policy).await?,
    ))
}

// ---------------------------------------------------------------------------
// Notices

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// Only this ticket's notices.
    pub ticket_id: Option<Uuid>,
}

/// SLA warnings and breaches that fired (each once per ticket, target and
/// threshold), with what their escalation did. At most 1000.
#[utoipa::path(get, path = "/v1/sla/notices", tag = "sla", params(NoticeQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<crate::store::sla_timers::SlaNotice>), (status = 403, body = Problem)))]
async fn list_notices(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<NoticeQuery>,
) -> ApiResult<Json<Vec<crate::store::sla_timers::SlaNotice>>> {
    user.require(Action::ReportsRead)?;
    Ok(Json(
        state
            .store
            .list_sla_notices(user.tenant_id, query.ticket_id)
            .await?,
    ))
}

// ---------------------------------------------------------------------------
// The report

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Tickets created at or after (RFC 3339).
    pub from: DateTime<Utc>,
    /// Tickets created before (RFC 3339).
    pub to: DateTime<Utc>,
    /// category, priority, technician, customer, territory, day, week or month (UTC); default category.
    #[param(value_type = Option<String>, example = "category")]
    pub group_by: Option<GroupBy>,
    /// `sql` (default): aggregated by the database from per-ticket SLA
    /// outcomes; `app`: every clock evaluated in the application (the
    /// reference path, at most 100 000 tickets). Both give the same numbers.
    #[param(value_type = Option<String>, example = "sql")]
    pub engine: Option<ReportEngine>,
}

impl From<ReportError> for ApiError {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Invalid(errors) => errors.into(),
            ReportError::Store(store) => store.into(),
        }
    }
}

/// SLA attainment of the tickets created in `[from, to)`, grouped. JSON, or
/// CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/reports/sla", tag = "sla", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, body = SlaReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn sla_report(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    user.require(Action::ReportsRead)?;
    let request = ReportRequest {
        from: query.from,
        to: query.to,
        group_by: query.group_by.unwrap_or_default(),
        engine: query.engine.unwrap_or_default(),
    };
    let report =
        crate::sla::report::build(state.store.as_ref(), user.tenant_id, request, Utc::now())
            .await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            crate::sla::report::csv::to_csv(&report),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}
