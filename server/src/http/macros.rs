//! Macros over HTTP (issue 21): one's own and one's teams' macros
//! (`/v1/macros`), and a macro previewed or applied to a ticket in one step
//! (`/v1/tickets/{id}/macros/{macro_id}/preview` and `/apply`).

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    automation::automation,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    automation::macros::{MacroError, MacroOutcome, checked},
    domain::{
        macros::{Macro, MacroInput},
        people::Role,
        permissions::Action,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_macros, create_macro))
        .routes(routes!(get_macro, update_macro, delete_macro))
        .routes(routes!(preview_macro))
        .routes(routes!(apply_macro))
}

impl From<MacroError> for ApiError {
    fn from(error: MacroError) -> Self {
        match error {
            MacroError::Automation(e) => e.into(),
            MacroError::Invalid(errors) => errors.into(),
        }
    }
}

/// The teams the user is a member of.
async fn teams_of(state: &AppState, user: &AuthUser) -> ApiResult<Vec<Uuid>> {
    Ok(state
        .store
        .list_teams(user.tenant_id)
        .await?
        .into_iter()
        .filter(|t| t.members.contains(&user.user_id))
        .map(|t| t.id)
        .collect())
}

/// The macro if the user may use it; others' are not found.
async fn usable(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Macro> {
    let found = state.store.get_macro(user.tenant_id, id).await?;
    let teams = teams_of(state, user).await?;
    if found.usable_by(user.user_id, user.role == Role::Admin, &teams) {
        Ok(found)
    } else {
        Err(ApiError::NotFound("macro"))
    }
}

/// A team macro is written by the team's members (and admins).
async fn check_team(state: &AppState, user: &AuthUser, input: &MacroInput) -> ApiResult<()> {
    if let Some(team) = input.team_id {
        let teams = teams_of(state, user).await?;
        // An unknown team is a 422 from the store's reference check.
        if user.role != Role::Admin
            && !teams.contains(&team)
            && state.store.get_team(user.tenant_id, team).await.is_ok()
        {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(())
}

/// The macros the caller may use: their own and their teams' (an admin:
/// every team's), by name.
#[utoipa::path(get, path = "/v1/macros", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Vec<Macro>)))]
async fn list_macros(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<Vec<Macro>>> {
    user.require(Action::MacrosUse)?;
    let teams = teams_of(&state, &user).await?;
    let admin = user.role == Role::Admin;
    Ok(Json(
        state
            .store
            .list_macros(user.tenant_id)
            .await?
            .into_iter()
            .filter(|m| m.usable_by(user.user_id, admin, &teams))
            .collect(),
    ))
}

/// A macro: trigger-rule actions (checked against the rule schema) and/or
/// a reply template; with `team_id` shared with that team, else personal.
#[utoipa::path(post, path = "/v1/macros", tag = "automation", request_body = MacroInput, security(("bearer" = [])),
    responses((status = 201, body = Macro), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<MacroInput>,
) -> ApiResult<(StatusCode, Json<Macro>)> {
    user.require(Action::MacrosUse)?;
    check_team(&state, &user, &input).await?;
    let save = checked(&automation(&state), user.tenant_id, &input).await?;
    let created = state.store.create_macro(user.actor(), &save).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/macros/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Macro), (status = 404, body = Problem)))]
async fn get_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Macro>> {
    user.require(Action::MacrosUse)?;
    Ok(Json(usable(&state, &user, id).await?))
}

/// Replace a macro one may use (name, team, actions, reply).
#[utoipa::path(put, path = "/v1/macros/{id}", tag = "automation", request_body = MacroInput, security(("bearer" = [])),
    responses((status = 200, body = Macro), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<MacroInput>,
) -> ApiResult<Json<Macro>> {
    user.require(Action::MacrosUse)?;
    usable(&state, &user, id).await?;
    check_team(&state, &user, &input).await?;
    let save = checked(&automation(&state), user.tenant_id, &input).await?;
    Ok(Json(
        state.store.update_macro(user.actor(), id, &save).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/macros/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::MacrosUse)?;
    usable(&state, &user, id).await?;
    state.store.delete_macro(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What applying the macro to the ticket would change, and its reply as
/// rendered for this ticket. Writes nothing.
#[utoipa::path(post, path = "/v1/tickets/{id}/macros/{macro_id}/preview", tag = "automation", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("macro_id" = Uuid, Path)),
    responses((status = 200, body = MacroOutcome), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn preview_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, macro_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<MacroOutcome>> {
    user.require(Action::MacrosUse)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let found = usable(&state, &user, macro_id).await?;
    let agent = state.store.get_user(user.tenant_id, user.user_id).await?;
    Ok(Json(
        automation(&state)
            .preview_macro(&found, &ticket, &agent)
            .await?,
    ))
}

/// Apply the macro in one step: its actions (in the caller's name), its
/// reply as a comment, a `macro.applied` entry in the timeline; then the
/// tenant's rules run on the change.
#[utoipa::path(post, path = "/v1/tickets/{id}/macros/{macro_id}/apply", tag = "automation", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("macro_id" = Uuid, Path)),
    responses((status = 200, body = MacroOutcome), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn apply_macro(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath((id, macro_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<MacroOutcome>> {
    user.require(Action::MacrosUse)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let found = usable(&state, &user, macro_id).await?;
    let agent = state.store.get_user(user.tenant_id, user.user_id).await?;
    Ok(Json(
        automation(&state)
            .apply_macro(&found, &ticket, &agent)
            .await?,
    ))
}
