//! The schedule board's read (`GET /v1/schedule/board`), and the checks a
//! window booked with a technician passes besides the store's overlap guard:
//! the technician is not absent then, and the ticket is not assigned to
//! someone else.

use axum::{Json, extract::State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiQuery, AuthUser},
};
use crate::{
    domain::{
        ValidationErrors,
        permissions::Action,
        schedule::{TravelModel, local_day},
        ticket::Ticket,
    },
    schedule::{
        board::{Board, BoardReader, MAX_BOARD_DAYS},
        window_text,
    },
    store::StoreError,
};

/// How far from today a board may be read.
const BOARD_REACH_DAYS: i64 = 3660;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_board))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct BoardQuery {
    /// First local day (the tenant's time zone); default today.
    #[param(value_type = Option<String>, example = "2026-12-08")]
    day: Option<NaiveDate>,
    /// Days shown, 1 (a day) to 7 (a week); default 1.
    days: Option<u32>,
}

/// The schedule board: per active technician, working hours (shifts less
/// absences, none on the tenant's holidays), absences, and the jobs whose
/// windows occupy them (booked with them, or on tickets assigned to them) in
/// driving order, each with the driving from the previous stop or from home
/// (the road network's time when one is configured); and `unassigned`, the
/// windows promised with no technician yet.
#[utoipa::path(get, path = "/v1/schedule/board", tag = "schedule", params(BoardQuery), security(("bearer" = [])),
    responses((status = 200, body = Board), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn get_board(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<BoardQuery>,
) -> ApiResult<Json<Board>> {
    user.require(Action::DispatchCandidates)?;
    let days = query.days.unwrap_or(1);
    if !(1..=MAX_BOARD_DAYS).contains(&days) {
        return Err(ValidationErrors::single("days", "must be between 1 and 7").into());
    }
    let zone = state.store.tenant_settings(user.tenant_id).await?.time_zone;
    let today = local_day(&zone, Utc::now());
    let day = query.day.unwrap_or(today);
    if (day - today).num_days().abs() > BOARD_REACH_DAYS {
        return Err(ValidationErrors::single("day", "must be within ten years of today").into());
    }
    let reader = BoardReader {
        store: &*state.store,
        travel: TravelModel::new(state.config.dispatch.average_speed_kmh),
        roads: state.roads.as_deref(),
    };
    Ok(Json(reader.read(user.tenant_id, day, days).await?))
}

/// Refuses (409, in words) a window booked with `technician_id` while they
/// are absent, or on a ticket assigned to another technician (reassign it
/// first: the assignment carries the phone's document and push). An unknown
/// technician is a validation error.
pub(super) async fn refuse_unavailable(
    state: &AppState,
    ticket: &Ticket,
    technician_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> ApiResult<()> {
    let technician = match state
        .store
        .get_technician(ticket.tenant_id, technician_id)
        .await
    {
        Ok(technician) => technician,
        Err(StoreError::NotFound(_)) => {
            return Err(ValidationErrors::single("technician_id", "no such technician").into());
        }
        Err(other) => return Err(other.into()),
    };
    if ticket
        .assignee_id
        .is_some_and(|assignee| assignee != technician.id)
    {
        return Err(ApiError::Conflict(format!(
            "{} is assigned to another technician: reassign it before booking it with {}",
            ticket.number, technician.name
        )));
    }
    let absences = state
        .store
        .list_absences(ticket.tenant_id, Some(technician.id), starts_at, ends_at)
        .await?;
    if let Some(absence) = absences.first() {
        let zone = state
            .store
            .tenant_settings(ticket.tenant_id)
            .await?
            .time_zone;
        return Err(ApiError::Conflict(format!(
            "{} is absent ({}) {}",
            technician.name,
            absence.kind.as_str(),
            window_text(&zone, absence.starts_at, absence.ends_at)
        )));
    }
    Ok(())
}
