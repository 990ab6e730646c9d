//! Scheduling: a ticket's appointment window, bookable slots and booking
//! one, estimated durations per category, technicians' absences and the
//! tenant's holidays.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    domain::{
        ValidationErrors,
        maintenance::{MaintenancePatch, MaintenancePlan, NewMaintenancePlan},
        permissions::Action,
        schedule::{
            Absence, AppointmentWindow, CategoryDuration, DEFAULT_DURATION_MINUTES, Holiday,
            NewAbsence, TravelModel, WindowRequest, WindowSource, check_duration, local_day,
        },
        ticket::Ticket,
    },
    events::{Event, EventKind},
    schedule::{
        Slot, SlotFinder, SlotGrid, SlotJob,
        day::{DayPlan, DayPlanError, DayPlanner, Insertion},
        plan::SolverBudget,
        travel::TravelNote,
        window_text,
    },
    store::schedule::{AbsenceSet, WindowSet},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_window, put_window, delete_window))
        .routes(routes!(ticket_slots))
        .routes(routes!(book_slot))
        .routes(routes!(site_slots))
        .routes(routes!(list_durations))
        .routes(routes!(put_duration))
        .routes(routes!(list_absences, create_absence))
        .routes(routes!(delete_absence))
        .routes(routes!(list_holidays))
        .routes(routes!(put_holiday, delete_holiday))
        .routes(routes!(create_plan))
        .routes(routes!(get_plan))
        .routes(routes!(apply_plan))
        .routes(routes!(insert_into_plan))
        .routes(routes!(list_maintenance, create_maintenance))
        .routes(routes!(get_maintenance, patch_maintenance))
}

fn travel(state: &AppState) -> TravelModel {
    TravelModel::new(state.config.dispatch.average_speed_kmh)
}

/// Slots driven with the configured travel: the road network when set.
fn slot_finder(state: &AppState) -> SlotFinder<'_> {
    SlotFinder {
        store: &*state.store,
        travel: travel(state),
        roads: state.roads.as_deref(),
    }
}

async fn tenant_zone(state: &AppState, tenant_id: Uuid) -> ApiResult<String> {
    Ok(state.store.tenant_settings(tenant_id).await?.time_zone)
}

/// The category's estimated duration, else the default.
async fn default_duration(state: &AppState, ticket: &Ticket) -> ApiResult<u32> {
    Ok(state
        .store
        .category_duration(ticket.tenant_id, &ticket.category)
        .await?
        .unwrap_or(DEFAULT_DURATION_MINUTES))
}

/// The ticket's appointment window (404 when it has none). Whoever may read
/// the ticket.
#[utoipa::path(get, path = "/v1/tickets/{id}/window", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = AppointmentWindow), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn get_window(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AppointmentWindow>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    state
        .store
        .ticket_window(user.tenant_id, ticket.id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("window"))
}

/// Book or move the ticket's appointment window. The duration defaults to
/// the window's current one, else the category's, else 60 minutes. With
/// `technician_id` the window is booked with that technician and refused
/// (409) when it overlaps another window occupying them, when they are absent
/// then, or when the ticket is assigned to someone else. Audited; the
/// customer is told (email/SMS outbox); a `ticket_updated` event follows.
#[utoipa::path(put, path = "/v1/tickets/{id}/window", tag = "schedule", request_body = WindowRequest, security(("bearer" = [])),
    responses((status = 200, body = AppointmentWindow), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn put_window(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<WindowRequest>,
) -> ApiResult<Json<AppointmentWindow>> {
    user.require(Action::TicketsManage)?;
    request.validate(Utc::now())?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    if let Some(technician_id) = request.technician_id {
        super::board::refuse_unavailable(
            &state,
            &ticket,
            technician_id,
            request.starts_at,
            request.ends_at,
        )
        .await?;
    }
    let window = book(&state, &user, &ticket, &request, WindowSource::Manual).await?;
    Ok(Json(window))
}

/// Stores a window whose request was validated.
async fn book(
    state: &AppState,
    user: &AuthUser,
    ticket: &Ticket,
    request: &WindowRequest,
    source: WindowSource,
) -> ApiResult<AppointmentWindow> {
    let duration = match request.duration_minutes {
        Some(minutes) => minutes,
        None => match state.store.ticket_window(user.tenant_id, ticket.id).await? {
            Some(current) => current.duration_minutes,
            None => default_duration(state, ticket).await?,
        },
    };
    if i64::from(duration) > (request.ends_at - request.starts_at).num_minutes() {
        return Err(ValidationErrors::single(
            "ends_at",
            format!("the window is shorter than the job's {duration} minutes"),
        )
        .into());
    }
    let zone = tenant_zone(state, user.tenant_id).await?;
    let set = WindowSet {
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        duration_minutes: duration,
        technician_id: request.technician_id,
        source,
        notice_text: window_text(&zone, request.starts_at, request.ends_at),
    };
    let window = state
        .store
        .set_ticket_window(user.actor(), ticket.id, &set)
        .await?;
    state.events.publish(Event::new(
        user.tenant_id,
        EventKind::TicketUpdated {
            ticket_id: ticket.id,
        },
    ));
    Ok(window)
}

/// Cancel the ticket's appointment window; audited, the customer told.
#[utoipa::path(delete, path = "/v1/tickets/{id}/window", tag = "schedule", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn delete_window(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::TicketsManage)?;
    let current = state
        .store
        .ticket_window(user.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("window"))?;
    let zone = tenant_zone(&state, user.tenant_id).await?;
    let text = window_text(&zone, current.starts_at, current.ends_at);
    state
        .store
        .clear_ticket_window(user.actor(), id, &text)
        .await?;
    state.events.publish(Event::new(
        user.tenant_id,
        EventKind::TicketUpdated { ticket_id: id },
    ));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SlotQuery {
    /// Days searched from today, 1 to 14; default 7.
    days: Option<u32>,
    /// Length of each offered window, 30 to 480 minutes; default 120.
    window_minutes: Option<u32>,
    /// Most slots answered, 1 to 100; default 20.
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SiteSlotQuery {
    site_id: Uuid,
    /// Estimated duration comes from this category unless `duration_minutes` is given.
    category: Option<String>,
    duration_minutes: Option<u32>,
    days: Option<u32>,
    window_minutes: Option<u32>,
    limit: Option<usize>,
}

/// Offered slots, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    pub slots: Vec<Slot>,
    pub duration_minutes: u32,
    pub window_minutes: u32,
    pub days: u32,
    /// Where the driving times that rank the slots came from: the road
    /// network (`osrm`) or the great-circle estimate, and why.
    pub travel: TravelNote,
}

fn grid(
    days: Option<u32>,
    window_minutes: Option<u32>,
    limit: Option<usize>,
    duration: u32,
) -> Result<SlotGrid, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let days = days.unwrap_or(7);
    if !(1..=14).contains(&days) {
        errors.add("days", "must be between 1 and 14");
    }
    let window = window_minutes.unwrap_or(120);
    if !(30..=480).contains(&window) {
        errors.add("window_minutes", "must be between 30 and 480");
    } else if window < duration {
        errors.add(
            "window_minutes",
            format!("must be at least the job's {duration} minutes"),
        );
    }
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        errors.add("limit", "must be between 1 and 100");
    }
    errors.into_result()?;
    Ok(SlotGrid {
        from: Utc::now(),
        days,
        length: Duration::minutes(i64::from(window)),
        limit,
    })
}

/// Bookable windows for the ticket over the next days: a qualified
/// technician reaches the site and does the work inside the window while
/// every job already booked with them keeps its window and they are home by
/// the end of the shift; absences and holidays count. Ranked by the
/// driving the visit adds, with the reason for each.
#[utoipa::path(get, path = "/v1/tickets/{id}/slots", tag = "schedule", params(SlotQuery), security(("bearer" = [])),
    responses((status = 200, body = SlotList), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn ticket_slots(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<SlotQuery>,
) -> ApiResult<Json<SlotList>> {
    user.require(Action::DispatchCandidates)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    let (job, duration) = ticket_job(&state, &ticket).await?;
    let grid = grid(query.days, query.window_minutes, query.limit, duration)?;
    let finder = slot_finder(&state);
    let (slots, travel) = finder.slots(user.tenant_id, &job, &grid, None).await?;
    Ok(Json(SlotList {
        slots,
        duration_minutes: duration,
        window_minutes: grid.length.num_minutes() as u32,
        days: grid.days,
        travel,
    }))
}

async fn ticket_job(state: &AppState, ticket: &Ticket) -> ApiResult<(SlotJob, u32)> {
    let site = state
        .store
        .get_site(ticket.tenant_id, ticket.site_id)
        .await?;
    let duration = match state
        .store
        .ticket_window(ticket.tenant_id, ticket.id)
        .await?
    {
        Some(window) => window.duration_minutes,
        None => default_duration(state, ticket).await?,
    };
    Ok((
        SlotJob {
            ticket_id: Some(ticket.id),
            site: site.location,
            duration: Duration::minutes(i64::from(duration)),
            required_skills: ticket.required_skills.clone(),
        },
        duration,
    ))
}

/// Bookable windows for a job not yet a ticket: a site, and a duration
/// (given, or the category's).
#[utoipa::path(get, path = "/v1/schedule/slots", tag = "schedule", params(SiteSlotQuery), security(("bearer" = [])),
    responses((status = 200, body = SlotList), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn site_slots(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SiteSlotQuery>,
) -> ApiResult<Json<SlotList>> {
    user.require(Action::DispatchCandidates)?;
    let duration = match (query.duration_minutes, &query.category) {
        (Some(minutes), _) => {
            let mut errors = ValidationErrors::new();
            check_duration(&mut errors, "duration_minutes", minutes);
            errors.into_result()?;
            minutes
        }
        (None, Some(category)) => state
            .store
            .category_duration(user.tenant_id, category)
            .await?
            .unwrap_or(DEFAULT_DURATION_MINUTES),
        (None, None) => DEFAULT_DURATION_MINUTES,
    };
    let site = state.store.get_site(user.tenant_id, query.site_id).await?;
    let grid = grid(query.days, query.window_minutes, query.limit, duration)?;
    let job = SlotJob {
        ticket_id: None,
        site: site.location,
        duration: Duration::minutes(i64::from(duration)),
        required_skills: Vec::new(),
    };
    let finder = slot_finder(&state);
    let (slots, travel) = finder.slots(user.tenant_id, &job, &grid, None).await?;
    Ok(Json(SlotList {
        slots,
        duration_minutes: duration,
        window_minutes: grid.length.num_minutes() as u32,
        days: grid.days,
        travel,
    }))
}

/// `POST /v1/tickets/{id}/slots/book`: one of the offered slots.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub technician_id: Uuid,
}

/// Book an offered slot: checked again against the calendar now (409 when
/// it is no longer free), then set as the ticket's window booked with that
/// technician, as `PUT /v1/tickets/{id}/window` does.
#[utoipa::path(post, path = "/v1/tickets/{id}/slots/book", tag = "schedule", request_body = BookSlot, security(("bearer" = [])),
    responses((status = 200, body = AppointmentWindow), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn book_slot(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<BookSlot>,
) -> ApiResult<Json<AppointmentWindow>> {
    user.require(Action::TicketsManage)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    let (job, duration) = ticket_job(&state, &ticket).await?;
    let window = WindowRequest {
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        duration_minutes: Some(duration),
        technician_id: Some(request.technician_id),
    };
    let now = Utc::now();
    window.validate(now)?;
    let length = request.ends_at - request.starts_at;
    // Every slot of this technician from the slot's day on, this length.
    let grid = SlotGrid {
        from: now,
        days: u32::try_from((request.ends_at - now).num_days() + 2).unwrap_or(1),
        length,
        limit: usize::MAX,
    };
    let finder = slot_finder(&state);
    let (offered, _) = finder
        .slots(user.tenant_id, &job, &grid, Some(request.technician_id))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => ApiError::Validation(
                ValidationErrors::single("technician_id", "no such technician"),
            ),
            other => other.into(),
        })?;
    if !offered.iter().any(|slot| {
        slot.starts_at == request.starts_at
            && slot.ends_at == request.ends_at
            && slot.technician_id == request.technician_id
    }) {
        return Err(ApiError::Conflict(
            "that slot is not offered (any more): ask for the slots again".into(),
        ));
    }
    Ok(Json(
        book(&state, &user, &ticket, &window, WindowSource::Slot).await?,
    ))
}

/// Estimated durations set per category (others take 60 minutes).
#[utoipa::path(get, path = "/v1/schedule/durations", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = Vec<CategoryDuration>), (status = 403, body = Problem)))]
async fn list_durations(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<CategoryDuration>>> {
    user.require(Action::CategoriesRead)?;
    Ok(Json(
        state.store.list_category_durations(user.tenant_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DurationInput {
    pub minutes: u32,
}

/// Set a category's estimated duration (5 to 1440 minutes); audited.
#[utoipa::path(put, path = "/v1/schedule/durations/{category}", tag = "schedule", request_body = DurationInput, security(("bearer" = [])),
    responses((status = 200, body = CategoryDuration), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_duration(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(category): ApiPath<String>,
    ApiJson(input): ApiJson<DurationInput>,
) -> ApiResult<Json<CategoryDuration>> {
    user.require(Action::CategoriesWrite)?;
    let mut errors = ValidationErrors::new();
    check_duration(&mut errors, "minutes", input.minutes);
    if category.trim().is_empty() || category.chars().count() > 100 {
        errors.add("category", "must be 1 to 100 characters");
    }
    errors.into_result()?;
    Ok(Json(
        state
            .store
            .set_category_duration(user.actor(), &category, input.minutes)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    /// Start of the range (default: now).
    from: Option<DateTime<Utc>>,
    /// End of the range (default: 90 days after `from`).
    to: Option<DateTime<Utc>>,
}

/// The technician's absences overlapping the range.
#[utoipa::path(get, path = "/v1/technicians/{id}/absences", tag = "schedule", params(RangeQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Absence>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_absences(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Vec<Absence>>> {
    user.require(Action::TechniciansRead)?;
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    let from = query.from.unwrap_or_else(Utc::now);
    let to = query.to.unwrap_or(from + Duration::days(90));
    if to <= from {
        return Err(ValidationErrors::single("to", "must be after from").into());
    }
    Ok(Json(
        state
            .store
            .list_absences(user.tenant_id, Some(technician.id), from, to)
            .await?,
    ))
}

/// Record an absence (holiday, sickness, training, other): part of a day
/// (`starts_at`, `ends_at`) or whole days in the technician's time zone
/// (`from_day`, `to_day`). The technician is then not proposed, offered,
/// batch-assigned, given slots or planned while absent. Audited.
#[utoipa::path(post, path = "/v1/technicians/{id}/absences", tag = "schedule", request_body = NewAbsence, security(("bearer" = [])),
    responses((status = 201, body = Absence), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(technician = %id))]
async fn create_absence(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<NewAbsence>,
) -> ApiResult<(StatusCode, Json<Absence>)> {
    user.require(Action::TechniciansWrite)?;
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    let (starts_at, ends_at) = input.resolve(&technician.time_zone)?;
    let absence = state
        .store
        .create_absence(
            user.actor(),
            &AbsenceSet {
                technician_id: technician.id,
                kind: input.kind,
                starts_at,
                ends_at,
                note: input.note.trim(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(absence)))
}

/// Remove an absence; audited.
#[utoipa::path(delete, path = "/v1/technicians/{id}/absences/{absence_id}", tag = "schedule", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(technician = %id))]
async fn delete_absence(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, absence_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::TechniciansWrite)?;
    state
        .store
        .delete_absence(user.actor(), id, absence_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DayRangeQuery {
    /// First day (default: today in the tenant's zone).
    #[param(value_type = Option<String>)]
    from: Option<NaiveDate>,
    /// Last day, included (default: a year after `from`).
    #[param(value_type = Option<String>)]
    to: Option<NaiveDate>,
}

/// The tenant's holidays in the range.
#[utoipa::path(get, path = "/v1/holidays", tag = "schedule", params(DayRangeQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Holiday>), (status = 403, body = Problem)))]
async fn list_holidays(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DayRangeQuery>,
) -> ApiResult<Json<Vec<Holiday>>> {
    user.require(Action::TechniciansRead)?;
    let from = match query.from {
        Some(day) => day,
        None => local_day(&tenant_zone(&state, user.tenant_id).await?, Utc::now()),
    };
    let to = query.to.unwrap_or_else(|| from + chrono::Days::new(366));
    Ok(Json(
        state.store.list_holidays(user.tenant_id, from, to).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayInput {
    pub name: String,
}

/// Declare a day (the tenant's time zone) a holiday: nobody is proposed,
/// offered, given slots or planned on it. Audited.
#[utoipa::path(put, path = "/v1/holidays/{day}", tag = "schedule", request_body = HolidayInput, security(("bearer" = [])),
    responses((status = 200, body = Holiday), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_holiday(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(day): ApiPath<NaiveDate>,
    ApiJson(input): ApiJson<HolidayInput>,
) -> ApiResult<Json<Holiday>> {
    user.require(Action::TenantWrite)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ValidationErrors::single("name", "must be 1 to 100 characters").into());
    }
    let holiday = Holiday {
        day,
        name: name.to_owned(),
    };
    Ok(Json(state.store.put_holiday(user.actor(), &holiday).await?))
}

/// Remove a holiday; audited.
#[utoipa::path(delete, path = "/v1/holidays/{day}", tag = "schedule", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn delete_holiday(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(day): ApiPath<NaiveDate>,
) -> ApiResult<StatusCode> {
    user.require(Action::TenantWrite)?;
    state.store.delete_holiday(user.actor(), day).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<DayPlanError> for ApiError {
    fn from(error: DayPlanError) -> Self {
        match error {
            DayPlanError::Store(store) => store.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn planner(state: &AppState) -> DayPlanner<'_> {
    DayPlanner {
        flow: state.assignments(),
        travel: travel(state),
        roads: state.roads.as_deref(),
        prefer_penalty_m: crate::dispatch::parts::prefer_bonus_m(&state.dispatch),
    }
}

/// `POST /v1/schedule/plans`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The local day (the tenant's time zone) to plan.
    #[schema(value_type = String, example = "2026-12-08")]
    pub day: NaiveDate,
    /// Only this territory's sites and the technicians based inside it.
    pub territory_id: Option<Uuid>,
    /// The time budget of the plan: the solver's search and the check of
    /// its routes together, 1 to 30 seconds; default 5.
    pub max_seconds: Option<u32>,
}

/// Plan a day: the tenant's (or a territory's) `new` tickets without a
/// window and every `new`, `assigned` or `accepted` ticket with a window
/// that day, over the technicians working that day (shifts less absences;
/// nobody on a holiday), each route from and back to the home base, windows,
/// skills and durations respected; tickets already assigned stay with their
/// technician and are ordered into the day. Solved by vrp-core, each route
/// checked by simulation, and compared with a cheapest-insertion baseline.
/// The plan is stored, not applied.
#[utoipa::path(post, path = "/v1/schedule/plans", tag = "schedule", request_body = PlanRequest, security(("bearer" = [])),
    responses((status = 201, body = DayPlan), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_plan(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PlanRequest>,
) -> ApiResult<(StatusCode, Json<DayPlan>)> {
    user.require(Action::TicketsManage)?;
    let seconds = request.max_seconds.unwrap_or(5);
    if !(1..=30).contains(&seconds) {
        return Err(ValidationErrors::single("max_seconds", "must be between 1 and 30").into());
    }
    let territory = match request.territory_id {
        Some(id) => {
            state.store.get_territory(user.tenant_id, id).await?;
            Some((
                id,
                state.store.territory_boundary(user.tenant_id, id).await?,
            ))
        }
        None => None,
    };
    let budget = SolverBudget {
        max_seconds: seconds as usize,
        max_generations: 3000,
    };
    let plan = planner(&state)
        .propose(user.actor(), request.day, territory, budget)
        .await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// A day plan: routes per technician in order with arrival, start and end
/// of each visit, what could not be planned and why, the totals beside the
/// baseline's.
#[utoipa::path(get, path = "/v1/schedule/plans/{id}", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = DayPlan), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_plan(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DayPlan>> {
    user.require(Action::DispatchCandidates)?;
    Ok(Json(planner(&state).get(user.tenant_id, id).await?))
}

/// Apply a proposed plan in one transaction: its `new` tickets assigned to
/// the planned technicians, windows (the planned visits) booked on tickets
/// without one, every visit's planned start kept for the phones. A ticket
/// changed or assigned since planning, or a technician at capacity, refuses
/// the whole plan (409): nothing is half applied; plan again.
#[utoipa::path(post, path = "/v1/schedule/plans/{id}/apply", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = DayPlan), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(plan = %id))]
async fn apply_plan(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DayPlan>> {
    user.require(Action::TicketsManage)?;
    Ok(Json(planner(&state).apply(user.actor(), id).await?))
}

/// `POST /v1/schedule/plans/{id}/insert`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsertRequest {
    /// The urgent ticket to fit into the plan's day.
    pub ticket_id: Uuid,
}

/// Re-plan around an urgent job with the least disruption: the ticket goes
/// where it adds the least driving into a route of the plan (proposed or
/// applied), every other job keeping its technician and order, nothing
/// placed before a visit already begun (or due to have begun). The result
/// is a new proposed plan (`replaces` names this one) to apply as any
/// plan, with the urgent visit and every visit whose start moved. 409 when
/// the ticket is already in the plan, closed, or fits nowhere.
#[utoipa::path(post, path = "/v1/schedule/plans/{id}/insert", tag = "schedule", request_body = InsertRequest, security(("bearer" = [])),
    responses((status = 201, body = Insertion), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(plan = %id))]
async fn insert_into_plan(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<InsertRequest>,
) -> ApiResult<(StatusCode, Json<Insertion>)> {
    user.require(Action::TicketsManage)?;
    let planner = planner(&state);
    let plan = planner.get(user.tenant_id, id).await?;
    let territory = match plan.territory_id {
        Some(territory) => Some((
            territory,
            state
                .store
                .territory_boundary(user.tenant_id, territory)
                .await?,
        )),
        None => None,
    };
    let insertion = planner
        .insert(user.actor(), id, request.ticket_id, territory)
        .await?;
    Ok((StatusCode::CREATED, Json(insertion)))
}

/// A maintenance plan with the occurrences made from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    #[serde(flatten)]
    pub plan: MaintenancePlan,
    pub occurrences: Vec<MaintenanceOccurrence>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceOccurrence {
    #[schema(value_type = String)]
    pub due_on: NaiveDate,
    pub ticket_id: Uuid,
}

async fn maintenance_view(
    state: &AppState,
    plan: MaintenancePlan,
    tenant_id: Uuid,
) -> ApiResult<MaintenanceView> {
    let occurrences = state
        .store
        .maintenance_occurrences(tenant_id, plan.id)
        .await?
        .into_iter()
        .map(|(due_on, ticket_id)| MaintenanceOccurrence { due_on, ticket_id })
        .collect();
    Ok(MaintenanceView { plan, occurrences })
}

/// Create a preventive maintenance plan: a ticket template for a site (and
/// asset), a recurrence (every N days, weeks or months, or the nth weekday
/// of every N months) from `start_on`, the visit's local window, and how
/// many days ahead each occurrence's ticket is made (the leading replica
/// makes it once, with its window).
#[utoipa::path(post, path = "/v1/maintenance/plans", tag = "schedule", request_body = NewMaintenancePlan, security(("bearer" = [])),
    responses((status = 201, body = MaintenancePlan), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_maintenance(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(plan): ApiJson<NewMaintenancePlan>,
) -> ApiResult<(StatusCode, Json<MaintenancePlan>)> {
    user.require(Action::TicketsManage)?;
    plan.validate()?;
    let created = state
        .store
        .create_maintenance_plan(user.actor(), &plan)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The tenant's maintenance plans.
#[utoipa::path(get, path = "/v1/maintenance/plans", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = Vec<MaintenancePlan>), (status = 403, body = Problem)))]
async fn list_maintenance(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<MaintenancePlan>>> {
    user.require(Action::TicketsReadAll)?;
    Ok(Json(
        state.store.list_maintenance_plans(user.tenant_id).await?,
    ))
}

/// A maintenance plan and the tickets made from it, by day.
#[utoipa::path(get, path = "/v1/maintenance/plans/{id}", tag = "schedule", security(("bearer" = [])),
    responses((status = 200, body = MaintenanceView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_maintenance(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<MaintenanceView>> {
    user.require(Action::TicketsReadAll)?;
    let plan = state.store.get_maintenance_plan(user.tenant_id, id).await?;
    Ok(Json(maintenance_view(&state, plan, user.tenant_id).await?))
}

/// Pause, resume or end a plan (an ended plan stays ended: 409). While
/// paused no tickets are made; visits that fell due meanwhile are skipped.
#[utoipa::path(patch, path = "/v1/maintenance/plans/{id}", tag = "schedule", request_body = MaintenancePatch, security(("bearer" = [])),
    responses((status = 200, body = MaintenancePlan), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn patch_maintenance(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<MaintenancePatch>,
) -> ApiResult<Json<MaintenancePlan>> {
    user.require(Action::TicketsManage)?;
    Ok(Json(
        state
            .store
            .set_maintenance_state(user.actor(), id, patch.state)
            .await?,
    ))
}
