//! The customer's progress page API (public, no account) under
//! `/v1/public/track`, and the survey report for the office.
//!
//! A code (or a direct link) buys a short-lived bearer scoped to one
//! ticket; every public endpoint is rate limited per client address.

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiQuery, AuthUser, ClientAddress},
};
use crate::{
    domain::{ValidationErrors, permissions::Action},
    notify::ProgressKey,
    progress::{
        CODE_POLICY, ProgressError, ProgressService, ProgressSession, ProgressView, PublicComment,
        csat_csv,
    },
    schedule::customer::{CustomerScheduling, CustomerSlot, CustomerSlotError, CustomerSlots},
    store::progress::{CsatAnswer, CsatGroup, CsatGroupBy},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(open_session))
        .routes(routes!(get_progress))
        .routes(routes!(post_reply))
        .routes(routes!(post_survey))
        .routes(routes!(csat_report))
        .routes(routes!(customer_slots, book_customer_slot))
}

impl From<ProgressError> for ApiError {
    fn from(error: ProgressError) -> Self {
        match error {
            ProgressError::Refused(detail) => ApiError::Unauthorized(detail),
            ProgressError::Locked => ApiError::RateLimited {
                retry_after_secs: u64::try_from(CODE_POLICY.lock_for.num_seconds()).unwrap_or(900),
            },
            ProgressError::NotNow(detail) => ApiError::Conflict(detail.to_owned()),
            ProgressError::Invalid(errors) => errors.into(),
            ProgressError::Store(store) => store.into(),
        }
    }
}

fn limit(state: &AppState, scope: &str, client: std::net::IpAddr) -> ApiResult<()> {
    state
        .progress_limiter
        .check("progress", scope, client)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

fn key(state: &AppState) -> ProgressKey {
    ProgressKey::new(&state.config.notify.link_secret)
}

fn service<'a>(state: &'a AppState, key: &'a ProgressKey) -> ProgressService<'a> {
    ProgressService {
        store: state.store.as_ref(),
        key,
        technicians: state.dispatch.index(),
        average_speed_kmh: state.config.dispatch.average_speed_kmh,
    }
}

/// The progress bearer of a request: (tenant, ticket).
struct ProgressBearer {
    tenant_id: Uuid,
    ticket_id: Uuid,
}

impl FromRequestParts<AppState> for ProgressBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized("missing progress token"))?;
        let key = key(state);
        let (tenant_id, ticket_id) = service(state, &key).bearer(token, Utc::now())?;
        Ok(Self {
            tenant_id,
            ticket_id,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    /// The tenant (service company) name, as in the link's `tenant` query.
    tenant: String,
    /// The ticket number.
    ticket: String,
}

/// Ask for a one-time code, sent to the email (and phone) on file. The
/// answer is the same whether or not the number exists.
#[utoipa::path(post, path = "/v1/public/track/codes", tag = "progress", request_body = CodeRequest,
    responses((status = 202, description = "A code is on its way if the number exists"), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn request_code(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    limit(
        &state,
        &format!("{}\u{0}{}", request.tenant, request.ticket),
        client,
    )?;
    let key = key(&state);
    service(&state, &key)
        .request_code(&request.tenant, &request.ticket, Utc::now())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Either a code for a ticket number or a direct link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    tenant: Option<String>,
    ticket: Option<String>,
    code: Option<String>,
    /// The token of a `/track/{token}` link.
    link: Option<String>,
}

/// Trade a code (or a direct link) for a bearer for this ticket's page.
/// Wrong codes count; after five the number is locked for 15 minutes (429).
#[utoipa::path(post, path = "/v1/public/track/sessions", tag = "progress", request_body = SessionRequest,
    responses((status = 200, body = ProgressSession), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn open_session(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<SessionRequest>,
) -> ApiResult<Json<ProgressSession>> {
    let key = key(&state);
    let service = service(&state, &key);
    let now = Utc::now();
    let session = match request {
        SessionRequest {
            link: Some(link), ..
        } => {
            limit(&state, "link", client)?;
            service.open_with_link(&link, now).await?
        }
        SessionRequest {
            tenant: Some(tenant),
            ticket: Some(ticket),
            code: Some(code),
            link: None,
        } => {
            limit(&state, &format!("{tenant}\u{0}{ticket}"), client)?;
            service.open_with_code(&tenant, &ticket, &code, now).await?
        }
        _ => {
            return Err(
                ValidationErrors::single("code", "send tenant, ticket and code, or link").into(),
            );
        }
    };
    Ok(Json(session))
}

/// The ticket's progress: status, technician's first name, public comments,
/// the survey, and only while the technician is on the way, the map data.
#[utoipa::path(get, path = "/v1/public/track", tag = "progress", security(("bearer" = [])),
    responses((status = 200, body = ProgressView), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn get_progress(
    bearer: ProgressBearer,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
) -> ApiResult<Json<ProgressView>> {
    limit(&state, &bearer.ticket_id.to_string(), client)?;
    let key = key(&state);
    let service = service(&state, &key);
    Ok(Json(
        service.view(bearer.tenant_id, bearer.ticket_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplyRequest {
    body: String,
}

/// The customer's reply: a public comment on the ticket (not emailed back).
#[utoipa::path(post, path = "/v1/public/track/comments", tag = "progress", request_body = ReplyRequest,
    security(("bearer" = [])),
    responses((status = 201, body = PublicComment), (status = 401, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn post_reply(
    bearer: ProgressBearer,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<ReplyRequest>,
) -> ApiResult<(StatusCode, Json<PublicComment>)> {
    limit(&state, &bearer.ticket_id.to_string(), client)?;
    let key = key(&state);
    let service = service(&state, &key);
    let comment = service
        .reply(bearer.tenant_id, bearer.ticket_id, &request.body)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PublicComment {
            body: comment.body,
            from_customer: true,
            created_at: comment.created_at,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SurveyRequest {
    /// 1 (poor) to 5 (excellent).
    score: u8,
    #[serde(default)]
    comment: String,
}

/// The satisfaction survey, once per ticket after close (a second answer is 409).
#[utoipa::path(post, path = "/v1/public/track/survey", tag = "progress", request_body = SurveyRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CsatAnswer), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn post_survey(
    bearer: ProgressBearer,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<SurveyRequest>,
) -> ApiResult<(StatusCode, Json<CsatAnswer>)> {
    limit(&state, &bearer.ticket_id.to_string(), client)?;
    let key = key(&state);
    let service = service(&state, &key);
    let answer = service
        .answer_survey(
            bearer.tenant_id,
            bearer.ticket_id,
            request.score,
            &request.comment,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CsatQuery {
    /// Answers given at or after (RFC 3339).
    from: DateTime<Utc>,
    /// Answers given before (RFC 3339).
    to: DateTime<Utc>,
    /// category (default), technician or territory.
    #[param(value_type = Option<String>, example = "category")]
    group_by: Option<CsatGroupBy>,
}

/// Customer satisfaction answers in `[from, to)`, grouped. JSON, or CSV
/// with `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/reports/csat", tag = "progress", params(CsatQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<CsatGroup>), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn csat_report(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CsatQuery>,
) -> ApiResult<Response> {
    user.require(Action::ReportsRead)?;
    if query.from >= query.to {
        return Err(ValidationErrors::single("to", "must be after from").into());
    }
    let group_by = query.group_by.unwrap_or(CsatGroupBy::Category);
    let groups = state
        .store
        .csat_report(user.tenant_id, query.from, query.to, group_by)
        .await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            csat_csv(group_by, &groups),
        )
            .into_response())
    } else {
        Ok(Json(groups).into_response())
    }
}

impl From<CustomerSlotError> for ApiError {
    fn from(error: CustomerSlotError) -> Self {
        match error {
            CustomerSlotError::NotAllowed => {
                ApiError::Denied("the service company books visit times itself")
            }
            CustomerSlotError::NotNow(detail) => ApiError::Conflict(detail.to_owned()),
            taken @ CustomerSlotError::Taken => ApiError::Conflict(taken.to_string()),
            CustomerSlotError::Invalid(errors) => errors.into(),
            CustomerSlotError::Store(store) => store.into(),
        }
    }
}

fn customer_scheduling(state: &AppState) -> CustomerScheduling<'_> {
    CustomerScheduling {
        store: state.store.as_ref(),
        travel: crate::domain::schedule::TravelModel::new(state.config.dispatch.average_speed_kmh),
        roads: state.roads.as_deref(),
    }
}

/// Visit windows this ticket's customer may pick from (where the service
/// company allows it, before the technician sets off): times only, soonest
/// first, and the window booked now.
#[utoipa::path(get, path = "/v1/public/track/slots", tag = "progress", security(("bearer" = [])),
    responses((status = 200, body = CustomerSlots), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn customer_slots(
    bearer: ProgressBearer,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
) -> ApiResult<Json<CustomerSlots>> {
    limit(&state, &bearer.ticket_id.to_string(), client)?;
    Ok(Json(
        customer_scheduling(&state)
            .view(bearer.tenant_id, bearer.ticket_id, Utc::now())
            .await?,
    ))
}

/// Book one of the offered windows for this ticket. It is checked again:
/// a window no longer free is 409; where the service company does not let
/// customers pick, 403. The customer is told through the usual message.
#[utoipa::path(post, path = "/v1/public/track/slots", tag = "progress", request_body = CustomerSlot,
    security(("bearer" = [])),
    responses((status = 200, body = CustomerSlot), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn book_customer_slot(
    bearer: ProgressBearer,
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(choice): ApiJson<CustomerSlot>,
) -> ApiResult<Json<CustomerSlot>> {
    limit(&state, &bearer.ticket_id.to_string(), client)?;
    let facts = state
        .store
        .progress_facts(bearer.tenant_id, bearer.ticket_id)
        .await?;
    let window = customer_scheduling(&state)
        .book(
            bearer.tenant_id,
            bearer.ticket_id,
            facts.customer_id,
            &choice,
            Utc::now(),
        )
        .await?;
    state.events.publish(crate::events::Event::new(
        bearer.tenant_id,
        crate::events::EventKind::TicketUpdated {
            ticket_id: bearer.ticket_id,
        },
    ));
    Ok(Json(CustomerSlot {
        starts_at: window.starts_at,
        ends_at: window.ends_at,
    }))
}
