//! Users of a tenant and their roles.

use axum::{Json, extract::State, http::StatusCode};
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
        people::{NewUser, User, UserPatch},
        permissions::Action,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
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
    let hash = match &patch.password {
        Some(new_password) => Some(
            password::hash(new_password.clone())
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    Ok(Json(
        state
            .store
            .update_user(user.actor(), id, &patch, hash.as_deref())
            .await?,
    ))
}
