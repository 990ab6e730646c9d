//! Parts and van stock (issue 23): the catalogue and its CSV import, stock
//! locations and vans, movements, balances, reorder points and suggestions,
//! a technician's own van, required parts per ticket, the parts policy per
//! category, labour rates, and the priced job with its invoicing export.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
    tickets::visible_ticket,
};
use crate::{
    domain::parts::{
        AssetSerial, Balance, LabourRate, Movement, MovementKind, MovementRequest, Part, PartInput,
        PartsPolicy, ReorderPointInput, RequiredPart, RequiredPartInput, StockLocation, Suggestion,
    },
    domain::permissions::Action,
    domain::validation::check_text,
    domain::{ValidationErrors, ticket::Ticket},
    parts::{
        self, PartsError,
        value::{self, JobValue, JobValueLine},
    },
    store::parts::{BalanceFilter, MovementFilter, VanEntry},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_parts, create_part))
        .routes(routes!(get_part, update_part))
        .routes(routes!(import_parts))
        .routes(routes!(list_locations, create_location))
        .routes(routes!(technician_van))
        .routes(routes!(list_movements, create_movement))
        .routes(routes!(list_balances))
        .routes(routes!(set_reorder_point))
        .routes(routes!(list_suggestions))
        .routes(routes!(my_van))
        .routes(routes!(get_required_parts, put_required_parts))
        .routes(routes!(asset_serials))
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(list_rates, put_rate))
        .routes(routes!(ticket_value))
        .routes(routes!(export_values))
        .routes(routes!(export_values_csv))
}

impl From<PartsError> for ApiError {
    fn from(error: PartsError) -> Self {
        match error {
            PartsError::Invalid(errors) => errors.into(),
            PartsError::Store(store) => store.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PartsQuery {
    /// Number, name or barcode containing this text.
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The catalogue, in creation order. Office roles.
#[utoipa::path(get, path = "/v1/parts", tag = "parts", params(PartsQuery), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Part>), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_parts(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PartsQuery>,
) -> ApiResult<Json<PageBody<Part>>> {
    user.require(Action::PartsRead)?;
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    Ok(Json(
        state
            .store
            .list_parts(user.tenant_id, query.q.as_deref(), page)
            .await?
            .into(),
    ))
}

/// Adds a part; the number is unique in the tenant (409). Admins and dispatchers.
#[utoipa::path(post, path = "/v1/parts", tag = "parts", request_body = PartInput, security(("bearer" = [])),
    responses((status = 201, body = Part), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_part(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<PartInput>,
) -> ApiResult<(StatusCode, Json<Part>)> {
    user.require(Action::PartsWrite)?;
    let part = parts::create_part(state.store.as_ref(), user.actor(), &input).await?;
    Ok((StatusCode::CREATED, Json(part)))
}

#[utoipa::path(get, path = "/v1/parts/{id}", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Part), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn get_part(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Part>> {
    user.require(Action::PartsRead)?;
    Ok(Json(state.store.get_part(user.tenant_id, id).await?))
}

/// Replaces a part's fields. Admins and dispatchers.
#[utoipa::path(put, path = "/v1/parts/{id}", tag = "parts", request_body = PartInput, security(("bearer" = [])),
    responses((status = 200, body = Part), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_part(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<PartInput>,
) -> ApiResult<Json<Part>> {
    user.require(Action::PartsWrite)?;
    Ok(Json(
        parts::update_part(state.store.as_ref(), user.actor(), id, &input).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
struct ImportBody {
    created: u64,
    updated: u64,
}

/// Imports a catalogue CSV (`Content-Type: text/csv`): the header
/// `number,name,unit,price,cost,barcode,serial_tracked`, prices in currency
/// units (`18.90`); a known number is updated. Every line is checked first:
/// any bad line answers 422 with each error named `line N: field`, and
/// nothing is written. Admins and dispatchers.
#[utoipa::path(post, path = "/v1/parts/import", tag = "parts",
    request_body(content = String, content_type = "text/csv"), security(("bearer" = [])),
    responses((status = 200, body = ImportBody), (status = 415, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn import_parts(
    user: AuthUser,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportBody>> {
    user.require(Action::PartsWrite)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("text/csv") {
        return Err(ApiError::UnsupportedMediaType(
            "send the catalogue as text/csv".into(),
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ValidationErrors::single("body", "must be UTF-8 text"))?;
    let outcome = parts::import_csv(state.store.as_ref(), user.actor(), text).await?;
    Ok(Json(ImportBody {
        created: outcome.created,
        updated: outcome.updated,
    }))
}

/// Warehouses and vans. Office roles.
#[utoipa::path(get, path = "/v1/stock/locations", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Vec<StockLocation>), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_locations(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<StockLocation>>> {
    user.require(Action::PartsRead)?;
    Ok(Json(state.store.list_locations(user.tenant_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWarehouse {
    name: String,
}

/// Adds a warehouse (vans are made per technician:
/// `PUT /v1/technicians/{id}/van`). Admins and dispatchers.
#[utoipa::path(post, path = "/v1/stock/locations", tag = "parts", request_body = NewWarehouse, security(("bearer" = [])),
    responses((status = 201, body = StockLocation), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_location(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewWarehouse>,
) -> ApiResult<(StatusCode, Json<StockLocation>)> {
    user.require(Action::PartsWrite)?;
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "name", &input.name, 200);
    errors.into_result()?;
    let location = state
        .store
        .create_warehouse(user.actor(), input.name.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(location)))
}

/// The technician's van, created on first use (idempotent). Admins and dispatchers.
#[utoipa::path(put, path = "/v1/technicians/{id}/van", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = StockLocation), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn technician_van(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StockLocation>> {
    user.require(Action::PartsWrite)?;
    Ok(Json(
        state.store.van_for_technician(user.actor(), id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MovementsQuery {
    /// Into or out of this location.
    location_id: Option<Uuid>,
    part_id: Option<Uuid>,
    ticket_id: Option<Uuid>,
    #[param(value_type = Option<String>, example = "consumption")]
    kind: Option<MovementKind>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The ledger, newest first. Office roles.
#[utoipa::path(get, path = "/v1/stock/movements", tag = "parts", params(MovementsQuery), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Movement>), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_movements(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MovementsQuery>,
) -> ApiResult<Json<PageBody<Movement>>> {
    user.require(Action::PartsRead)?;
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let filter = MovementFilter {
        location_id: query.location_id,
        part_id: query.part_id,
        ticket_id: query.ticket_id,
        kind: query.kind,
    };
    Ok(Json(
        state
            .store
            .list_movements(user.tenant_id, &filter, page)
            .await?
            .into(),
    ))
}

/// Records a receipt, transfer, return or adjustment (with a reason);
/// consumption comes from the tickets' part entries. A balance may go
/// below zero (it is flagged). Admins and dispatchers.
#[utoipa::path(post, path = "/v1/stock/movements", tag = "parts", request_body = MovementRequest, security(("bearer" = [])),
    responses((status = 201, body = Movement), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_movement(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<MovementRequest>,
) -> ApiResult<(StatusCode, Json<Movement>)> {
    user.require(Action::PartsWrite)?;
    let movement = parts::record_movement(state.store.as_ref(), user.actor(), &request).await?;
    Ok((StatusCode::CREATED, Json(movement)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct BalancesQuery {
    location_id: Option<Uuid>,
    part_id: Option<Uuid>,
    /// Only vans.
    #[serde(default)]
    vans: bool,
    /// Only balances below zero.
    #[serde(default)]
    negative: bool,
}

/// Balances per location and part (non-zero, or with a reorder point);
/// `negative` flags more taken out than the ledger knew was there. Office roles.
#[utoipa::path(get, path = "/v1/stock/balances", tag = "parts", params(BalancesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Balance>), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_balances(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<BalancesQuery>,
) -> ApiResult<Json<Vec<Balance>>> {
    user.require(Action::PartsRead)?;
    let filter = BalanceFilter {
        location_id: query.location_id,
        part_id: query.part_id,
        vans: query.vans,
        negative: query.negative,
    };
    Ok(Json(state.store.balances(user.tenant_id, &filter).await?))
}

/// Sets a location's reorder point for a part: below `min`, replenish up
/// to `target`. Admins and dispatchers.
#[utoipa::path(put, path = "/v1/stock/reorder-points", tag = "parts", request_body = ReorderPointInput, security(("bearer" = [])),
    responses((status = 204), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn set_reorder_point(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(point): ApiJson<ReorderPointInput>,
) -> ApiResult<StatusCode> {
    user.require(Action::PartsWrite)?;
    let mut errors = ValidationErrors::new();
    let min = crate::domain::parts::to_milli(point.min).filter(|m| *m >= 0);
    let target = crate::domain::parts::to_milli(point.target).filter(|t| *t >= 0);
    if min.is_none() {
        errors.add("min", "must be a number at least 0");
    }
    if target.is_none() || target < min {
        errors.add("target", "must be a number at least `min`");
    }
    errors.into_result()?;
    state
        .store
        .get_location(user.tenant_id, point.location_id)
        .await
        .map_err(|_| {
            ValidationErrors::single("location_id", "no such stock location in this tenant")
        })?;
    state
        .store
        .get_part(user.tenant_id, point.part_id)
        .await
        .map_err(|_| ValidationErrors::single("part_id", "no such part in this tenant"))?;
    state.store.set_reorder_point(user.actor(), &point).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Locations below a reorder point, with the quantity that brings them to
/// target. Office roles.
#[utoipa::path(get, path = "/v1/stock/suggestions", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Vec<Suggestion>), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_suggestions(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Suggestion>>> {
    user.require(Action::PartsRead)?;
    Ok(Json(state.store.suggestions(user.tenant_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
struct VanBody {
    location: StockLocation,
    balances: Vec<Balance>,
    /// What the balances already include of the part entries of the
    /// technician's open tickets, per entry (the SDK subtracts only the rest).
    entries: Vec<VanEntry>,
}

/// The signed-in technician's van and what it holds. Technicians.
#[utoipa::path(get, path = "/v1/me/van", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = VanBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn my_van(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<VanBody>> {
    user.require(Action::OwnVanRead)?;
    let technician = state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
        .ok_or(ApiError::NotFound("technician"))?;
    let location = state
        .store
        .van_for_technician(user.actor(), technician.id)
        .await?;
    let balances = state
        .store
        .balances(
            user.tenant_id,
            &BalanceFilter {
                location_id: Some(location.id),
                ..BalanceFilter::default()
            },
        )
        .await?;
    let entries = state.store.van_entries(user.tenant_id, location.id).await?;
    Ok(Json(VanBody {
        location,
        balances,
        entries,
    }))
}

/// The parts a ticket needs (dispatch prefers or requires technicians whose
/// van holds them). Office roles and the assigned technician.
#[utoipa::path(get, path = "/v1/tickets/{id}/required-parts", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Vec<RequiredPart>), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn get_required_parts(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<RequiredPart>>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(
        state
            .store
            .required_parts(user.tenant_id, ticket.id)
            .await?,
    ))
}

/// The serials of serial-tracked parts used on the asset's tickets (from
/// the part entries of each ticket's document, one per entry, corrected with
/// it), oldest first. Office roles.
#[utoipa::path(get, path = "/v1/assets/{id}/parts", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Vec<AssetSerial>), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn asset_serials(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<AssetSerial>>> {
    user.require(Action::AssetsRead)?;
    user.require(Action::PartsRead)?;
    Ok(Json(state.store.asset_serials(user.tenant_id, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RequiredPartsBody {
    parts: Vec<RequiredPartInput>,
}

/// Replaces the parts a ticket needs. Admins and dispatchers.
#[utoipa::path(put, path = "/v1/tickets/{id}/required-parts", tag = "parts", request_body = RequiredPartsBody, security(("bearer" = [])),
    responses((status = 200, body = Vec<RequiredPart>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_required_parts(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RequiredPartsBody>,
) -> ApiResult<Json<Vec<RequiredPart>>> {
    user.require(Action::PartsWrite)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    Ok(Json(
        parts::set_required_parts(state.store.as_ref(), user.actor(), ticket.id, &body.parts)
            .await?,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    #[schema(value_type = String, example = "require")]
    policy: PartsPolicy,
}

/// How dispatch treats required parts for a category (`prefer` by default).
#[utoipa::path(get, path = "/v1/parts/policies/{category}", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = PolicyBody)))]
#[tracing::instrument(skip_all)]
async fn get_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(category): ApiPath<String>,
) -> ApiResult<Json<PolicyBody>> {
    user.require(Action::PartsRead)?;
    Ok(Json(PolicyBody {
        policy: state.store.parts_policy(user.tenant_id, &category).await?,
    }))
}

/// Sets the category's parts policy: `prefer` (holders rank higher) or
/// `require` (only holders are candidates). Admins and dispatchers.
#[utoipa::path(put, path = "/v1/parts/policies/{category}", tag = "parts", request_body = PolicyBody, security(("bearer" = [])),
    responses((status = 200, body = PolicyBody), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(category): ApiPath<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> ApiResult<Json<PolicyBody>> {
    user.require(Action::PartsWrite)?;
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "category", &category, 64);
    errors.into_result()?;
    state
        .store
        .set_parts_policy(user.actor(), &category, body.policy)
        .await?;
    Ok(Json(body))
}

/// Labour rates: the tenant's default, per category, per technician. Office roles.
#[utoipa::path(get, path = "/v1/parts/labour-rates", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = Vec<LabourRate>)))]
#[tracing::instrument(skip_all)]
async fn list_rates(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<LabourRate>>> {
    user.require(Action::PartsRead)?;
    Ok(Json(state.store.labour_rates(user.tenant_id).await?))
}

/// Sets one labour rate (cents per hour). Admins and dispatchers.
#[utoipa::path(put, path = "/v1/parts/labour-rates", tag = "parts", request_body = LabourRate, security(("bearer" = [])),
    responses((status = 200, body = Vec<LabourRate>), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn put_rate(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(rate): ApiJson<LabourRate>,
) -> ApiResult<Json<Vec<LabourRate>>> {
    user.require(Action::PartsWrite)?;
    rate.validate()?;
    state.store.set_labour_rate(user.actor(), &rate).await?;
    Ok(Json(state.store.labour_rates(user.tenant_id).await?))
}

/// The job's value now for `ticket` (shared with the work record).
pub(super) async fn value_of(state: &AppState, ticket: &Ticket) -> ApiResult<JobValue> {
    Ok(value::ticket_value(state.store.as_ref(), ticket.tenant_id, ticket.id).await?)
}

/// What the job is worth: its parts × catalogue prices plus billable time
/// × the labour rate. Office roles and the assigned technician.
#[utoipa::path(get, path = "/v1/tickets/{id}/value", tag = "parts", security(("bearer" = [])),
    responses((status = 200, body = JobValue), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn ticket_value(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<JobValue>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(value_of(&state, &ticket).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// Work completed at or after (RFC 3339).
    from: DateTime<Utc>,
    /// Work completed before (RFC 3339); at most 366 days after `from`.
    to: DateTime<Utc>,
}

/// The value of every job completed in `[from, to)`, for invoicing.
/// Office roles with report access.
#[utoipa::path(get, path = "/v1/jobs/value", tag = "parts", params(PeriodQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<JobValueLine>), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export_values(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<Vec<JobValueLine>>> {
    user.require(Action::ReportsRead)?;
    Ok(Json(
        value::export(state.store.as_ref(), user.tenant_id, query.from, query.to).await?,
    ))
}

/// [`export_values`] as CSV, one line per job, amounts in currency units.
#[utoipa::path(get, path = "/v1/jobs/value.csv", tag = "parts", params(PeriodQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn export_values_csv(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> ApiResult<axum::response::Response> {
    user.require(Action::ReportsRead)?;
    let lines = value::export(state.store.as_ref(), user.tenant_id, query.from, query.to).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        value::export_csv(&lines),
    )
        .into_response())
}
