//! Offers: technicians accept or decline; dispatchers see them and set the
//! auto-dispatch policy per category.

use axum::{Json, extract::State};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
};
use truckroll_sync::{Status, StatusAction};

use crate::{
    device_sync::{ATTEMPTS, Draft, Step, lost_race},
    dispatch::offers::OfferError,
    domain::{
        offer::{DeclineInput, DispatchPolicy, DispatchPolicyInput, Offer, OfferState},
        permissions::Action,
    },
    store::StoreError,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies))
        .routes(routes!(put_policy))
        .routes(routes!(my_offers))
        .routes(routes!(ticket_offers))
        .routes(routes!(accept_offer))
        .routes(routes!(decline_offer))
}

impl From<OfferError> for ApiError {
    fn from(error: OfferError) -> Self {
        match error {
            OfferError::Store(store) => store.into(),
            OfferError::Index(index) => ApiError::Internal(index.to_string()),
        }
    }
}

/// Auto-dispatch policies, one per category (categories without one are not auto-dispatched).
#[utoipa::path(get, path = "/v1/dispatch/policies", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Vec<DispatchPolicy>), (status = 403, body = Problem)))]
async fn list_policies(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<DispatchPolicy>>> {
    user.require(Action::CategoriesRead)?;
    Ok(Json(
        state.store.list_dispatch_policies(user.tenant_id).await?,
    ))
}

/// Set how new tickets of a category are dispatched: `off`, `offer_best`, or `offer_in_turn` to the top N.
#[utoipa::path(put, path = "/v1/dispatch/policies/{category}", tag = "dispatch", request_body = DispatchPolicyInput,
    security(("bearer" = [])), responses((status = 200, body = DispatchPolicy), (status = 422, body = Problem)))]
async fn put_policy(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(category): ApiPath<String>,
    ApiJson(input): ApiJson<DispatchPolicyInput>,
) -> ApiResult<Json<DispatchPolicy>> {
    user.require(Action::CategoriesWrite)?;
    let policy = input.into_policy(&category)?;
    Ok(Json(
        state
            .store
            .put_dispatch_policy(user.actor(), &policy)
            .await?,
    ))
}

async fn own_technician(state: &AppState, user: &AuthUser) -> ApiResult<Uuid> {
    state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
        .map(|t| t.id)
        .ok_or_else(|| ApiError::Conflict("your user has no technician profile".into()))
}

/// The signed-in technician's open offers.
#[utoipa::path(get, path = "/v1/me/offers", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Vec<Offer>), (status = 403, body = Problem)))]
async fn my_offers(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<Vec<Offer>>> {
    user.require(Action::OffersRespond)?;
    let technician = own_technician(&state, &user).await?;
    Ok(Json(
        state
            .store
            .pending_offers_for_technician(user.tenant_id, technician)
            .await?,
    ))
}

/// Every offer made for a ticket, oldest first.
#[utoipa::path(get, path = "/v1/tickets/{id}/offers", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Vec<Offer>), (status = 404, body = Problem)))]
async fn ticket_offers(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Offer>>> {
    user.require(Action::OffersRead)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    Ok(Json(
        state
            .store
            .offers_for_ticket(user.tenant_id, ticket.id)
            .await?,
    ))
}

/// The technician's own offer, or 404 (another's offer does not exist for them).
async fn own_offer(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<(Uuid, Offer)> {
    user.require(Action::OffersRespond)?;
    let technician = own_technician(state, user).await?;
    let offer = state.store.get_offer(user.tenant_id, id).await?;
    if offer.technician_id != technician {
        return Err(ApiError::NotFound("offer"));
    }
    Ok((technician, offer))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOffer {
    pub offer: Offer,
    /// The ticket as every ticket response shows it, with its SLA state.
    pub ticket: super::ticket_view::TicketView,
}

/// Accept an open offer: the ticket is assigned to and accepted by you.
#[utoipa::path(post, path = "/v1/offers/{id}/accept", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = AcceptedOffer), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(offer = %id))]
async fn accept_offer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AcceptedOffer>> {
    let (technician, offer) = own_offer(&state, &user, id).await?;
    let mut attempt = 0;
    let (before, offer, ticket) = loop {
        attempt += 1;
        let before = state
            .store
            .get_ticket(user.tenant_id, offer.ticket_id)
            .await?;
        // Taking an offer is assignment and acceptance: both are events in
        // the ticket's document, written with the row and the offer.
        let mut draft = Draft::load(state.store.as_ref(), &before).await?;
        let planned = draft
            .step(Step {
                assignee: Some(technician),
                ..Step::new(StatusAction::Assign)
            })
            .and_then(|()| draft.step(Step::new(StatusAction::Accept)));
        let write = match planned {
            Ok(()) => draft.server_write(&before),
            // The store answers why (offer closed, ticket taken) when the row
            // says so too; a row that still looks new is not written alone.
            Err(_) if before.status != Status::New => None,
            Err(e) => return Err(ApiError::Conflict(e.to_string())),
        };
        match state
            .store
            .accept_offer(
                user.actor(),
                offer.id,
                technician,
                Utc::now(),
                write.as_ref(),
            )
            .await
        {
            Ok((offer, ticket)) => break (before, offer, ticket),
            Err(StoreError::NotFound(_)) => return Err(ApiError::NotFound("offer")),
            Err(StoreError::Conflict(why)) => {
                if attempt == ATTEMPTS || !lost_race(state.store.as_ref(), &before, &draft).await? {
                    return Err(offer_conflict(&state, &user, id, why).await);
                }
            }
            Err(other) => return Err(other.into()),
        }
    };
    state.assignments().after_change(&before, &ticket).await?;
    state
        .events
        .publish(crate::dispatch::offers::offer_event(&offer));
    let ticket = super::ticket_view::view(&state, user.tenant_id, ticket).await?;
    Ok(Json(AcceptedOffer { offer, ticket }))
}

/// Decline an open offer with a reason; the next technician is offered the ticket.
#[utoipa::path(post, path = "/v1/offers/{id}/decline", tag = "dispatch", request_body = DeclineInput, security(("bearer" = [])),
    responses((status = 200, body = Offer), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(offer = %id))]
async fn decline_offer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<DeclineInput>,
) -> ApiResult<Json<Offer>> {
    let (_, offer) = own_offer(&state, &user, id).await?;
    input.validate()?;
    let declined = state
        .offer_flow()
        .decline(user.actor(), &offer, input.reason.trim(), Utc::now())
        .await?;
    match declined {
        Some(offer) => Ok(Json(offer)),
        None => Err(offer_conflict(&state, &user, id, "the offer is no longer open".into()).await),
    }
}

/// A conflict answering offer `id`: typed (`offer_state`) when the offer
/// itself is closed, plain when something else stood in the way (capacity,
/// the ticket changed meanwhile).
async fn offer_conflict(state: &AppState, user: &AuthUser, id: Uuid, detail: String) -> ApiError {
    match state.store.get_offer(user.tenant_id, id).await {
        Ok(offer) => match offer.state_at(Utc::now()) {
            OfferState::Pending => ApiError::Conflict(detail),
            closed => ApiError::OfferClosed {
                state: closed,
                detail: format!("the offer is no longer open: it is {}", closed.as_str()),
            },
        },
        Err(error) => error.into(),
    }
}
