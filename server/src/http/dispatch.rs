//! Position pings, ping trails and ranked candidates for a ticket.

use axum::{Json, extract::State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
    ticket_view::TicketView,
};
use crate::{
    dispatch::{ingest::IngestError, service::RankedCandidate},
    domain::{
        ValidationErrors,
        location::{LocationPing, validate_batch},
        permissions::Action,
        ticket::Ticket,
    },
};

mod batch;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_locations))
        .routes(routes!(technician_locations))
        .routes(routes!(ticket_candidates))
        .routes(routes!(assign_ticket))
        .routes(routes!(unassign_ticket))
        .routes(routes!(batch::batch_assign))
}

/// Assigns through the dispatch flow; an unknown technician or missing
/// skills are reported on `field`.
pub(super) async fn assign_to(
    state: &AppState,
    user: &AuthUser,
    ticket: &Ticket,
    technician_id: Uuid,
    field: &'static str,
) -> ApiResult<Ticket> {
    let assigned = state
        .assignments()
        .assign(user.actor(), ticket, technician_id)
        .await
        .map_err(|e| ApiError::from_assign(e, field))?;
    // Issue 21: rules on `ticket_assigned` (an assignment is not a
    // `ticket_updated` for the rules, as before).
    let trigger =
        crate::automation::Trigger::event(crate::domain::automation::TriggerEvent::TicketAssigned);
    Ok(super::automation::after_write(state, assigned, trigger).await)
}

/// A client that sent the `updated_at` it read (`version`) is refused when
/// the ticket changed since, with what it is now, instead of overwriting.
pub(super) fn refuse_stale(ticket: &Ticket, version: Option<DateTime<Utc>>) -> ApiResult<()> {
    match version {
        Some(read) if read != ticket.updated_at => Err(ApiError::StaleVersion(format!(
            "{} changed since you read it: it is now {}{} (changed at {}); reload it and try again.",
            ticket.number,
            ticket.status.as_str(),
            if ticket.assignee_id.is_some() {
                ", with a technician"
            } else {
                ""
            },
            ticket
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The technician to assign; omit and send `best: true` to take the best candidate.
    pub technician_id: Option<Uuid>,
    #[serde(default)]
    pub best: bool,
    /// The ticket's `updated_at` as the client showed it: a ticket changed
    /// since (accepted, assigned by someone else) is refused with 409.
    pub version: Option<DateTime<Utc>>,
}

/// Assign or reassign a ticket: to a named technician, or to the best
/// candidate now. Skills are checked (422 names what is missing); a ticket
/// no longer assignable or a technician at capacity is a 409 with the reason.
#[utoipa::path(post, path = "/v1/tickets/{id}/assign", tag = "dispatch", request_body = AssignRequest, security(("bearer" = [])),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn assign_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> ApiResult<Json<TicketView>> {
    user.require(Action::TicketsManage)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    refuse_stale(&ticket, request.version)?;
    match (request.technician_id, request.best) {
        (Some(technician_id), false) => {
            let assigned =
                assign_to(&state, &user, &ticket, technician_id, "technician_id").await?;
            Ok(Json(
                super::ticket_view::view(&state, user.tenant_id, assigned).await?,
            ))
        }
        (None, true) => {
            let ranked = super::territories::ranked_candidates(&state, &ticket, 5).await?;
            // The index only proposes: a candidate that filled up meanwhile is skipped.
            let mut last_conflict = None;
            for candidate in ranked {
                match assign_to(
                    &state,
                    &user,
                    &ticket,
                    candidate.technician_id,
                    "technician_id",
                )
                .await
                {
                    Ok(assigned) => {
                        return Ok(Json(
                            super::ticket_view::view(&state, user.tenant_id, assigned).await?,
                        ));
                    }
                    Err(ApiError::Conflict(reason)) if reason.contains("capacity") => {
                        last_conflict = Some(reason)
                    }
                    Err(other) => return Err(other),
                }
            }
            Err(ApiError::Conflict(match last_conflict {
                Some(reason) => format!("every candidate is busy; last: {reason}"),
                None => "no qualified technician is available now".into(),
            }))
        }
        _ => Err(ValidationErrors::single(
            "technician_id",
            "give either technician_id or best: true",
        )
        .into()),
    }
}

/// Take the ticket back from its technician; it returns to `new`.
#[utoipa::path(post, path = "/v1/tickets/{id}/unassign", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = TicketView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn unassign_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TicketView>> {
    user.require(Action::TicketsManage)?;
    let before = state.store.get_ticket(user.tenant_id, id).await?;
    let updated = state
        .assignments()
        .unassign(user.actor(), &before)
        .await
        .map_err(|e| ApiError::from_assign(e, "status"))?;
    Ok(Json(
        super::ticket_view::view(&state, user.tenant_id, updated).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBatch {
    /// Up to 5000 pings, in any order; a ping already stored (same device time) is ignored.
    pub pings: Vec<LocationPing>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationReceipt {
    pub stored: usize,
    pub duplicates: usize,
    /// The live position after this batch, when the batch moved it.
    pub position: Option<LocationPing>,
}

/// A technician's phone reports positions, live or buffered while offline.
#[utoipa::path(post, path = "/v1/me/locations", tag = "dispatch", request_body = LocationBatch, security(("bearer" = [])),
    responses((status = 200, body = LocationReceipt), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn report_locations(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(batch): ApiJson<LocationBatch>,
) -> ApiResult<Json<LocationReceipt>> {
    user.require(Action::LocationsReport)?;
    let max_future = Duration::seconds(
        i64::try_from(state.config.dispatch.ping_max_future_secs).unwrap_or(i64::MAX),
    );
    validate_batch(&batch.pings, Utc::now(), max_future)?;
    let ingest = state
        .pings
        .record(user.tenant_id, user.user_id, batch.pings)
        .await
        .map_err(|e| match e {
            IngestError::NoTechnician => {
                ApiError::Conflict("your user has no technician profile".into())
            }
            IngestError::Store(e) => e.into(),
            IngestError::Stopped => ApiError::Unavailable(e.to_string()),
        })?;
    Ok(Json(LocationReceipt {
        stored: ingest.stored,
        duplicates: ingest.duplicates,
        position: ingest.new_position,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrailQuery {
    /// Start of the window (RFC 3339), inclusive.
    pub from: DateTime<Utc>,
    /// End of the window (RFC 3339), exclusive.
    pub to: DateTime<Utc>,
    /// At most this many pings, oldest first (1 to 10000; default 1000).
    pub limit: Option<u32>,
}

/// A technician's ping trail in a time window, e.g. the window of a ticket.
#[utoipa::path(get, path = "/v1/technicians/{id}/locations", tag = "dispatch", params(TrailQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<LocationPing>), (status = 404, body = Problem)))]
async fn technician_locations(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<TrailQuery>,
) -> ApiResult<Json<Vec<LocationPing>>> {
    user.require(Action::LocationsRead)?;
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be between 1 and 10000").into());
    }
    if query.to <= query.from {
        return Err(ValidationErrors::single("to", "must be after from").into());
    }
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    Ok(Json(
        state
            .store
            .locations(user.tenant_id, technician.id, query.from, query.to, limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandidatesQuery {
    /// How many candidates (1 to 50; default 5).
    pub k: Option<usize>,
}

/// The best technicians for a ticket now: every required skill at or above
/// its level, on shift, available, under capacity, inside the territory of
/// the ticket's site when it has one; ranked with reasons.
#[utoipa::path(get, path = "/v1/tickets/{id}/candidates", tag = "dispatch", params(CandidatesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<RankedCandidate>), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn ticket_candidates(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<CandidatesQuery>,
) -> ApiResult<Json<Vec<RankedCandidate>>> {
    user.require(Action::DispatchCandidates)?;
    let k = query.k.unwrap_or(5);
    if !(1..=50).contains(&k) {
        return Err(ValidationErrors::single("k", "must be between 1 and 50").into());
    }
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    if ticket.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "the ticket is {}; reopen it first",
            ticket.status
        )));
    }
    Ok(Json(
        super::territories::ranked_candidates(&state, &ticket, k).await?,
    ))
}
