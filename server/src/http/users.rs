//! Users of a tenant and their roles.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
};
use crate::{
    auth::password,
    domain::{
        ValidationErrors,
        people::{NewUser, User, UserPatch, validate_password},
        permissions::Action,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(activate_user))
        .routes(routes!(reset_password))
        .routes(routes!(me))
}

/// The signed-in user, their language and their tenant's settings (`console.rs`).
#[utoipa::path(get, path = "/v1/me", tag = "people", security(("bearer" = [])), responses((status = 200, body = super::console::Me)))]
async fn me(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<super::console::Me>> {
    Ok(Json(super::console::me(&state, &user).await?))
}

#[utoipa::path(get, path = "/v1/users", tag = "people", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<User>), (status = 403, body = Problem)))]
async fn list_users(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<User>>> {
    user.require(Action::UsersRead)?;
    Ok(Json(
        state
            .store
            .list_users(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/v1/users", tag = "people", request_body = NewUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    user.require(Action::UsersWrite)?;
    new.validate()?;
    let hash = password::hash(new.password.clone())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let created = state.store.create_user(user.actor(), &new, &hash).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
async fn get_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    user.require(Action::UsersRead)?;
    Ok(Json(state.store.get_user(user.tenant_id, id).await?))
}

/// Change name, role, password or deactivate. A new password or a
/// deactivation revokes the user's refresh tokens.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "people", request_body = UserPatch, security(("bearer" = [])),
    responses((status = 200, body = User), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    user.require(Action::UsersWrite)?;
    patch.validate()?;
    if id == user.user_id
        && (patch.active == Some(false) || patch.role.is_some_and(|r| r != user.role))
    {
        return Err(ApiError::Conflict(
            "you cannot deactivate yourself or change your own role".into(),
        ));
    }
    if patch.password.is_some() && id == user.user_id {
        require_current_password(&state, &user, patch.current_password.as_deref()).await?;
    }
    let hash = match &patch.password {
        Some(new_password) => Some(
            password::hash(new_password.clone())
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    let updated = state
        .store
        .update_user(user.actor(), id, &patch, hash.as_deref())
        .await?;
    state.principals.invalidate(user.tenant_id, id);
    Ok(Json(updated))
}

/// Sets `active` through the one user write (audited; a deactivation
/// revokes the user's refresh tokens).
async fn set_active(state: &AppState, user: &AuthUser, id: Uuid, active: bool) -> ApiResult<User> {
    user.require(Action::UsersWrite)?;
    if id == user.user_id && !active {
        return Err(ApiError::Conflict("you cannot deactivate yourself".into()));
    }
    let patch = UserPatch {
        active: Some(active),
        ..UserPatch::default()
    };
    let updated = state
        .store
        .update_user(user.actor(), id, &patch, None)
        .await?;
    state.principals.invalidate(user.tenant_id, id);
    Ok(updated)
}

/// Deactivate a user (admins): they can no longer sign in, and every
/// refresh token of theirs is revoked, so their sessions end when the
/// current short-lived access token expires.
#[utoipa::path(post, path = "/v1/users/{id}/deactivate", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %id))]
async fn deactivate_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(set_active(&state, &user, id, false).await?))
}

/// Let a deactivated user sign in again (admins).
#[utoipa::path(post, path = "/v1/users/{id}/activate", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %id))]
async fn activate_user(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(set_active(&state, &user, id, true).await?))
}

/// An administrator's password reset.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// At least 10 characters, not only whitespace, not a common password.
    #[schema(format = Password)]
    pub new_password: String,
    /// Required when the admin sets their own password.
    #[schema(format = Password)]
    pub current_password: Option<String>,
}

/// Changing one's own password needs the current one: a stolen session
/// alone cannot take the account over.
async fn require_current_password(
    state: &AppState,
    user: &AuthUser,
    current: Option<&str>,
) -> ApiResult<()> {
    let Some(current) = current else {
        return Err(ValidationErrors::single(
            "current_password",
            "is required to change your own password",
        )
        .into());
    };
    let me = state.store.get_user(user.tenant_id, user.user_id).await?;
    let stored = state
        .store
        .user_credentials(user.tenant_id, &me.email)
        .await?
        .map(|(_, hash)| hash);
    if password::verify(current.to_owned(), stored).await {
        Ok(())
    } else {
        Err(ValidationErrors::single("current_password", "is not your current password").into())
    }
}

/// Set a user's password (admins). Every refresh token of the user is
/// revoked, so they sign in again with the new password. Audited (without
/// the password).
#[utoipa::path(post, path = "/v1/users/{id}/password", tag = "people", request_body = PasswordReset, security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %id))]
async fn reset_password(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> ApiResult<StatusCode> {
    user.require(Action::UsersWrite)?;
    if id == user.user_id {
        require_current_password(&state, &user, reset.current_password.as_deref()).await?;
    }
    let mut errors = ValidationErrors::new();
    validate_password(&mut errors, &reset.new_password);
    errors.into_result().map_err(|mut errors| {
        for error in &mut errors.0 {
            error.field = "new_password".into();
        }
        ApiError::Validation(errors)
    })?;
    let hash = password::hash(reset.new_password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .store
        .update_user(user.actor(), id, &UserPatch::default(), Some(&hash))
        .await?;
    state.principals.invalidate(user.tenant_id, id);
    Ok(StatusCode::NO_CONTENT)
}
