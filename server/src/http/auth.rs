//! Sign-in, token refresh and device registration.

use axum::{Json, extract::State, http::StatusCode};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, AuthUser, ClientAddress},
};
use crate::{
    auth::{
        password,
        tokens::{hash_refresh_token, random_token},
    },
    domain::{
        people::{Device, DevicePatch, NewDevice, User},
        permissions::Action,
    },
    store::{RefreshOutcome, RefreshTokenRecord},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(register_device))
        .routes(routes!(update_device))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant's name, e.g. `acme`.
    pub tenant: String,
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub token_type: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

const BAD_CREDENTIALS: &str = "unknown tenant, email or password";

/// Sign in with a password; returns an access token and a refresh token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    if let Some(retry_after_secs) = state
        .login_limiter
        .check(&request.tenant, &request.email, client)
        .await?
    {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let tenant = state.store.tenant_by_name(&request.tenant).await?;
    let credentials = match &tenant {
        Some(tenant) => {
            state
                .store
                .user_credentials(tenant.id, &request.email)
                .await?
        }
        None => None,
    };
    let (user, stored_hash) = match credentials {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = password::verify(request.password, stored_hash).await;
    let limiter = &state.login_limiter;
    match user {
        Some(user) if password_ok && user.active => {
            limiter
                .succeeded(&request.tenant, &request.email, client)
                .await?;
            Ok(Json(issue_tokens(&state, &user, Uuid::now_v7()).await?))
        }
        _ => {
            limiter
                .failed(&request.tenant, &request.email, client)
                .await?;
            Err(ApiError::Unauthorized(BAD_CREDENTIALS))
        }
    }
}

async fn issue_tokens(state: &AppState, user: &User, family_id: Uuid) -> ApiResult<TokenResponse> {
    let refresh_token = random_token().map_err(|e| ApiError::Internal(e.to_string()))?;
    let record = RefreshTokenRecord {
        token_hash: hash_refresh_token(&refresh_token),
        family_id,
        tenant_id: user.tenant_id,
        user_id: user.id,
        expires_at: refresh_expiry(state)?,
    };
    state.store.insert_refresh_token(&record).await?;
    token_response(state, user, refresh_token)
}

fn refresh_expiry(state: &AppState) -> ApiResult<chrono::DateTime<Utc>> {
    let ttl = chrono::Duration::from_std(state.tokens.refresh_ttl())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Utc::now() + ttl)
}

/// A fresh access token for `user`, sent with the refresh token already stored.
fn token_response(
    state: &AppState,
    user: &User,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let access_token = state
        .tokens
        .issue_access(user.id, user.tenant_id, user.role)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        expires_in: state.tokens.access_ttl().as_secs(),
        token_type: "Bearer".into(),
    })
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a spent one revokes the whole session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn refresh(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    state
        .refresh_limiter
        .check(client)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let refresh_token = random_token().map_err(|e| ApiError::Internal(e.to_string()))?;
    let old_hash = hash_refresh_token(&request.refresh_token);
    let new_hash = hash_refresh_token(&refresh_token);
    match state
        .store
        .rotate_refresh_token(&old_hash, &new_hash, refresh_expiry(&state)?)
        .await?
    {
        RefreshOutcome::Rotated(user) => Ok(Json(token_response(&state, &user, refresh_token)?)),
        RefreshOutcome::Reused => Err(ApiError::RefreshTokenReused),
        RefreshOutcome::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is unknown, expired or revoked",
        )),
    }
}

/// Register the calling user's device: platform, push token and the CRDT actor id it writes with.
#[utoipa::path(post, path = "/v1/devices", tag = "auth", request_body = NewDevice, security(("bearer" = [])),
    responses((status = 201, body = Device), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn register_device(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(device): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<Device>)> {
    user.require(Action::DevicesRegister)?;
    device.validate()?;
    let created = state
        .store
        .register_device(user.actor(), user.user_id, &device)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Set (rotate) or clear (`null`, on sign-out) the push token of one of the
/// caller's devices. Notifications still queued for the device go to the new
/// token; clearing drops them. Another user's device answers 404.
#[utoipa::path(patch, path = "/v1/devices/{id}", tag = "auth", request_body = DevicePatch, security(("bearer" = [])),
    responses((status = 200, body = Device), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(device = %id))]
async fn update_device(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<DevicePatch>,
) -> ApiResult<Json<Device>> {
    user.require(Action::DevicesRegister)?;
    let token = patch.validate()?;
    let updated = state
        .store
        .set_device_push_token(user.actor(), user.user_id, id, token.as_deref())
        .await?;
    Ok(Json(updated))
}
