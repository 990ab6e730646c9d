//! What the back-office console needs besides tickets and master data: the
//! signed-in user with their language and the tenant's settings
//! (`GET/PATCH /v1/me`), the tenant's settings (`/v1/tenant`), saved queue
//! views per user (`/v1/me/views`) and ticket templates
//! (`/v1/ticket-templates`).

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
};
use crate::{
    domain::{people::User, permissions::Action},
    store::console::{
        Locale, NewSavedView, SavedView, TemplateInput, TemplatePatch, TenantSettings,
        TenantSettingsPatch, TicketTemplate,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_me))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(list_views, create_view))
        .routes(routes!(delete_view))
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
}

/// The signed-in user, their language and their tenant's settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    /// The language the user chose; `null`: follow the browser, then the tenant's default.
    pub locale: Option<Locale>,
    /// Id of the user's technician profile, when they have one.
    pub technician_id: Option<Uuid>,
    pub tenant: TenantSettings,
}

/// `GET /v1/me` (routed in `users.rs`).
pub(super) async fn me(state: &AppState, user: &AuthUser) -> ApiResult<Me> {
    let account = state.store.get_user(user.tenant_id, user.user_id).await?;
    let locale = state
        .store
        .user_locale(user.tenant_id, user.user_id)
        .await?;
    let technician_id = state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
        .map(|t| t.id);
    let tenant = state.store.tenant_settings(user.tenant_id).await?;
    Ok(Me {
        user: account,
        locale,
        technician_id,
        tenant,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// `en`, `zh-CN`, or `null` to follow the browser again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "zh-CN")]
    pub locale: Option<Option<Locale>>,
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Change one's own preferences (every role): the console's language.
#[utoipa::path(patch, path = "/v1/me", tag = "people", request_body = MePatch, security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_me(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<MePatch>,
) -> ApiResult<Json<Me>> {
    if let Some(locale) = patch.locale {
        state
            .store
            .set_user_locale(user.actor(), user.user_id, locale)
            .await?;
    }
    Ok(Json(me(&state, &user).await?))
}

/// The tenant's settings (every signed-in user: the pages show times in its zone).
#[utoipa::path(get, path = "/v1/tenant", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = TenantSettings)))]
async fn get_tenant(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<TenantSettings>> {
    Ok(Json(state.store.tenant_settings(user.tenant_id).await?))
}

/// Change the tenant's time zone, default language, or whether customers
/// pick their visit window on the progress page (admins).
#[utoipa::path(patch, path = "/v1/tenant", tag = "people", request_body = TenantSettingsPatch, security(("bearer" = [])),
    responses((status = 200, body = TenantSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_tenant(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<TenantSettingsPatch>,
) -> ApiResult<Json<TenantSettings>> {
    user.require(Action::TenantWrite)?;
    patch.validate()?;
    Ok(Json(
        state
            .store
            .update_tenant_settings(user.actor(), &patch)
            .await?,
    ))
}

/// The signed-in user's saved queue views, by name.
#[utoipa::path(get, path = "/v1/me/views", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Vec<SavedView>)))]
async fn list_views(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<SavedView>>> {
    Ok(Json(
        state
            .store
            .list_saved_views(user.tenant_id, user.user_id)
            .await?,
    ))
}

/// Save the queue's current parameters under a name (unique per user).
#[utoipa::path(post, path = "/v1/me/views", tag = "tickets", request_body = NewSavedView, security(("bearer" = [])),
    responses((status = 201, body = SavedView), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_view(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(view): ApiJson<NewSavedView>,
) -> ApiResult<(StatusCode, Json<SavedView>)> {
    user.require(Action::TicketsReadAll)?;
    view.validate()?;
    let saved = state
        .store
        .create_saved_view(user.actor(), user.user_id, &view)
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Delete one of one's own saved views.
#[utoipa::path(delete, path = "/v1/me/views/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn delete_view(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_saved_view(user.actor(), user.user_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ticket templates, by name (whoever may create tickets).
#[utoipa::path(get, path = "/v1/ticket-templates", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Vec<TicketTemplate>), (status = 403, body = Problem)))]
async fn list_templates(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<TicketTemplate>>> {
    user.require(Action::TicketsCreate)?;
    Ok(Json(
        state.store.list_ticket_templates(user.tenant_id).await?,
    ))
}

#[utoipa::path(get, path = "/v1/ticket-templates/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = TicketTemplate), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TicketTemplate>> {
    user.require(Action::TicketsCreate)?;
    Ok(Json(
        state.store.get_ticket_template(user.tenant_id, id).await?,
    ))
}

/// Save a prefilled create form (admins).
#[utoipa::path(post, path = "/v1/ticket-templates", tag = "tickets", request_body = TemplateInput, security(("bearer" = [])),
    responses((status = 201, body = TicketTemplate), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TemplateInput>,
) -> ApiResult<(StatusCode, Json<TicketTemplate>)> {
    user.require(Action::TemplatesWrite)?;
    input.validate()?;
    let template = state
        .store
        .create_ticket_template(user.actor(), &input)
        .await?;
    Ok((StatusCode::CREATED, Json(template)))
}

/// Rename a template or replace its fields (admins).
#[utoipa::path(patch, path = "/v1/ticket-templates/{id}", tag = "tickets", request_body = TemplatePatch, security(("bearer" = [])),
    responses((status = 200, body = TicketTemplate), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<TemplatePatch>,
) -> ApiResult<Json<TicketTemplate>> {
    user.require(Action::TemplatesWrite)?;
    patch.validate()?;
    Ok(Json(
        state
            .store
            .update_ticket_template(user.actor(), id, &patch)
            .await?,
    ))
}

/// Delete a template (admins); tickets made from it keep their fields.
#[utoipa::path(delete, path = "/v1/ticket-templates/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn delete_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::TemplatesWrite)?;
    state.store.delete_ticket_template(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
