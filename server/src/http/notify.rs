//! Customer notifications: a customer's language and opt-outs, and the
//! tenant's message templates (admins).

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
};
use crate::{
    domain::{ValidationErrors, permissions::Action},
    notify::{check, default_template},
    store::notify::{Locale, NoticeChannel, NoticeEvent, NoticeTemplate, NotifyPreferences},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(list_templates))
        .routes(routes!(put_template, delete_template))
}

/// A customer's language (`en`, `zh-CN`) and per-channel opt-outs.
#[utoipa::path(get, path = "/v1/customers/{id}/notify-preferences", tag = "notify", security(("bearer" = [])),
    responses((status = 200, body = NotifyPreferences), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_preferences(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<NotifyPreferences>> {
    user.require(Action::CustomersRead)?;
    Ok(Json(
        state.store.notify_preferences(user.tenant_id, id).await?,
    ))
}

/// Set a customer's language and opt-outs; messages queued from now on follow them.
#[utoipa::path(put, path = "/v1/customers/{id}/notify-preferences", tag = "notify", request_body = NotifyPreferences,
    security(("bearer" = [])),
    responses((status = 200, body = NotifyPreferences), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn put_preferences(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(preferences): ApiJson<NotifyPreferences>,
) -> ApiResult<Json<NotifyPreferences>> {
    user.require(Action::CustomersWrite)?;
    Ok(Json(
        state
            .store
            .set_notify_preferences(user.actor(), id, &preferences)
            .await?,
    ))
}

/// One template as in effect: the tenant's override or the embedded default.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveTemplate {
    #[serde(flatten)]
    pub template: NoticeTemplate,
    /// True when the tenant overrides the default.
    pub custom: bool,
}

/// Every event × language × channel with the wording in effect (admins).
#[utoipa::path(get, path = "/v1/notify/templates", tag = "notify", security(("bearer" = [])),
    responses((status = 200, body = Vec<EffectiveTemplate>), (status = 403, body = Problem)))]
async fn list_templates(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<EffectiveTemplate>>> {
    user.require(Action::NotifyTemplatesManage)?;
    let custom = state.store.list_notice_templates(user.tenant_id).await?;
    let mut out = Vec::new();
    for event in NoticeEvent::ALL {
        for locale in Locale::ALL {
            for channel in NoticeChannel::ALL {
                let found = custom
                    .iter()
                    .find(|t| t.event == event && t.locale == locale && t.channel == channel);
                out.push(match found {
                    Some(template) => EffectiveTemplate {
                        template: template.clone(),
                        custom: true,
                    },
                    None => EffectiveTemplate {
                        template: default_template(event, locale, channel),
                        custom: false,
                    },
                });
            }
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    /// Email subject (unused for SMS, may be empty there); minijinja.
    #[serde(default)]
    pub subject: String,
    /// The message; minijinja. Variables: ticket_number, ticket_title,
    /// customer_name, technician_first_name, appointment_window, comment,
    /// progress_url, report_url, survey_url.
    pub body: String,
}

/// Override one event's wording in one language and channel (admins).
#[utoipa::path(put, path = "/v1/notify/templates/{event}/{locale}/{channel}", tag = "notify", request_body = TemplateText,
    security(("bearer" = [])),
    responses((status = 200, body = NoticeTemplate), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((event, locale, channel)): ApiPath<(NoticeEvent, Locale, NoticeChannel)>,
    ApiJson(text): ApiJson<TemplateText>,
) -> ApiResult<Json<NoticeTemplate>> {
    user.require(Action::NotifyTemplatesManage)?;
    let mut errors = ValidationErrors::new();
    if let Err(error) = check(&text.subject) {
        errors.add("subject", error.to_string());
    }
    if text.body.trim().is_empty() {
        errors.add("body", "must not be empty");
    } else if let Err(error) = check(&text.body) {
        errors.add("body", error.to_string());
    }
    if channel == NoticeChannel::Email && text.subject.trim().is_empty() {
        errors.add("subject", "an email needs a subject");
    }
    errors.into_result()?;
    let template = NoticeTemplate {
        event,
        locale,
        channel,
        subject: text.subject,
        body: text.body,
    };
    state
        .store
        .put_notice_template(user.actor(), &template)
        .await?;
    Ok(Json(template))
}

/// Go back to the embedded default (admins).
#[utoipa::path(delete, path = "/v1/notify/templates/{event}/{locale}/{channel}", tag = "notify", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_template(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((event, locale, channel)): ApiPath<(NoticeEvent, Locale, NoticeChannel)>,
) -> ApiResult<StatusCode> {
    user.require(Action::NotifyTemplatesManage)?;
    if state
        .store
        .delete_notice_template(user.actor(), event, locale, channel)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("template override"))
    }
}
