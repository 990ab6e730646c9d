//! Webhook subscriptions (admins), their deliveries, dead letters and redelivery.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
};
use crate::{
    domain::{ValidationErrors, permissions::Action},
    sla::webhooks::{new_secret, validate_subscription},
    store::webhooks::{DeliveryState, Webhook, WebhookDelivery},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Event types: ticket.created, ticket.assigned, ticket.status_changed,
    /// ticket.completed, sla.warning, sla.breached, rule.fired (a trigger rule's webhook action), audit.anchored (the
    /// audit log's newest sealed entry, a signed checkpoint).
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A new subscription, with its signing secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// HMAC-SHA256 key of the `Truckroll-Signature` header. Store it: it is not shown again.
    pub secret: String,
}

/// The tenant's webhook subscriptions (admins).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = Problem)))]
async fn list_webhooks(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Webhook>>> {
    user.require(Action::WebhooksManage)?;
    Ok(Json(state.store.list_webhooks(user.tenant_id).await?))
}

/// The receiver's address must be public (or allowed by `[egress] allow`);
/// the worker checks again at every send.
async fn reachable(state: &AppState, url: &str) -> ApiResult<()> {
    state
        .egress
        .check_url(url)
        .await
        .map_err(|refused| ValidationErrors::single("url", refused.to_string()).into())
}

/// Subscribe a URL to events (admins). The answer carries the signing secret once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = NewWebhook, security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_webhook(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    user.require(Action::WebhooksManage)?;
    let url = new.url.trim().to_owned();
    let mut errors = ValidationErrors::new();
    validate_subscription(&mut errors, &url, &new.events);
    errors.into_result()?;
    reachable(&state, &url).await?;
    let secret = new_secret().map_err(|e| ApiError::Internal(format!("random secret: {e}")))?;
    let webhook = state
        .store
        .create_webhook(user.actor(), &url, &new.events, new.active, &secret)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    ))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Webhook), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_webhook(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Webhook>> {
    user.require(Action::WebhooksManage)?;
    Ok(Json(state.store.get_webhook(user.tenant_id, id).await?))
}

/// Change a subscription's URL, events or active flag (admins).
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch, security(("bearer" = [])),
    responses((status = 200, body = Webhook), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn update_webhook(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> ApiResult<Json<Webhook>> {
    user.require(Action::WebhooksManage)?;
    let mut webhook = state.store.get_webhook(user.tenant_id, id).await?;
    if let Some(url) = patch.url {
        webhook.url = url.trim().to_owned();
    }
    if let Some(events) = patch.events {
        webhook.events = events;
    }
    if let Some(active) = patch.active {
        webhook.active = active;
    }
    let mut errors = ValidationErrors::new();
    validate_subscription(&mut errors, &webhook.url, &webhook.events);
    errors.into_result()?;
    reachable(&state, &webhook.url).await?;
    Ok(Json(
        state.store.update_webhook(user.actor(), &webhook).await?,
    ))
}

/// Delete a subscription and its deliveries (admins).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_webhook(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::WebhooksManage)?;
    state.store.delete_webhook(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub subscription_id: Option<Uuid>,
    /// pending, delivered or dead (dead letters).
    #[param(value_type = Option<String>, example = "dead")]
    pub state: Option<DeliveryState>,
}

/// Deliveries, newest first (at most 500); `?state=dead` lists the dead letters.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookDelivery>), (status = 403, body = Problem)))]
async fn list_deliveries(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    user.require(Action::WebhooksManage)?;
    Ok(Json(
        state
            .store
            .list_webhook_deliveries(user.tenant_id, query.subscription_id, query.state)
            .await?,
    ))
}

/// Queue a dead (or delivered) delivery again, with a fresh retry budget.
/// It keeps its event id, so receivers can deduplicate.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookDelivery), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn redeliver(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WebhookDelivery>> {
    user.require(Action::WebhooksManage)?;
    Ok(Json(
        state
            .store
            .redeliver_webhook_delivery(user.actor(), id, chrono::Utc::now())
            .await?,
    ))
}
