//! Extractors whose rejections are the API's own problem details.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;
use uuid::Uuid;

use super::{AppState, error::ApiError};
use crate::{
    domain::{
        ValidationErrors,
        people::Role,
        permissions::{Action, allows},
        validation::NUL_MESSAGE,
    },
    store::{Actor, Page, PageRequest},
};

/// `Json<T>` whose rejections (syntax, types, unknown fields, size, content
/// type) answer as problem details.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Syntax, size and content type first (400/413/415), then the shape,
        // so a wrong type is a 422 naming its field.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ValidationErrors::single("body", "must be a JSON object").into());
        }
        if let Some(field) = storable_text(&value, "") {
            return Err(ValidationErrors::single(field, NUL_MESSAGE).into());
        }
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = match path.as_str() {
                    "." => missing_field(&message).unwrap_or("body").to_owned(),
                    _ => path,
                };
                ValidationErrors::single(field, message).into()
            })
    }
}

/// The path of the first string (or object key) the databases cannot store
/// as text: one with a NUL character (PostgreSQL refuses it; SQLite would
/// keep it). Checked here, for every JSON body, so both backends answer the
/// same 422 and no handler has to remember.
fn storable_text(value: &serde_json::Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(here),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| storable_text(item, &format!("{}[{i}]", here()))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let key_name = key.replace('\0', "");
            let field = if path.is_empty() {
                key_name
            } else {
                format!("{path}.{key_name}")
            };
            if key.contains('\0') {
                Some(field)
            } else {
                storable_text(item, &field)
            }
        }),
        _ => None,
    }
}

/// Refuses a query string or path whose decoded text holds a NUL.
fn storable_query(parts: &Parts) -> Result<(), ApiError> {
    let Some(query) = parts.uri.query() else {
        return Ok(());
    };
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query);
    match pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        Some((name, _)) => {
            Err(ValidationErrors::single(name.replace('\0', ""), NUL_MESSAGE).into())
        }
        None => Ok(()),
    }
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The field serde names in "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `Path<T>` answering bad ids as problem details.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state).await;
        if let Ok(params) = raw
            && let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0'))
        {
            return Err(ValidationErrors::single(name, NUL_MESSAGE).into());
        }
        Ok(ApiPath(value))
    }
}

/// `Query<T>` answering bad parameters as problem details.
#[derive(Debug, Clone, Copy)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        storable_query(parts)?;
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// The signed-in user, from a `Bearer` access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
}

impl AuthUser {
    /// Refuses with 403 unless the permission table lets this role do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn can(&self, action: Action) -> bool {
        allows(self.role, action)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            tenant_id: self.tenant_id,
            user_id: Some(self.user_id),
        }
    }
}

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized(
            "send an access token as `Authorization: Bearer …`",
        ))?;
        AuthUser::from_token(state, token).await
    }
}

impl AuthUser {
    /// The user an access token names, with their role and active flag as
    /// the store has them now.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let claims = state
            .tokens
            .verify_access(token)
            .ok_or(ApiError::Unauthorized(
                "the access token is invalid or expired; refresh it or sign in",
            ))?;
        // The token says who; the store says what they may do now.
        Self::as_stored(state, claims.tid, claims.sub).await
    }

    /// This user as the store has them now, for a connection opened
    /// earlier: 401 when deactivated or gone, else the current role.
    pub async fn current(&self, state: &AppState) -> Result<Self, ApiError> {
        Self::as_stored(state, self.tenant_id, self.user_id).await
    }

    /// The user with the role the store (through the principals cache)
    /// holds now: 401 when deactivated or gone.
    async fn as_stored(state: &AppState, tenant_id: Uuid, user_id: Uuid) -> Result<Self, ApiError> {
        let principal = state
            .principals
            .get(state.store.as_ref(), tenant_id, user_id)
            .await?
            .filter(|principal| principal.active)
            .ok_or(ApiError::Unauthorized(
                "this account is deactivated or no longer exists",
            ))?;
        Ok(AuthUser {
            user_id,
            tenant_id,
            role: principal.role,
        })
    }
}

/// Cursor pagination: `?limit=50&cursor=…` (the cursor comes from `next_cursor`).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

impl Pagination {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(crate::domain::ValidationErrors::single(
                "limit",
                "must be between 1 and 200",
            )
            .into());
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            crate::domain::ValidationErrors::single("cursor", "is not a cursor this API issued")
                .into()
        })
}

/// One page of a list.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for PageBody<T> {
    fn from(page: Page<T>) -> Self {
        PageBody {
            items: page.items,
            next_cursor: page.next_after.map(encode_cursor),
        }
    }
}

impl ClientAddress {
    /// The public pages' reads (form definition, knowledge suggestions and
    /// articles) per client address: `[auth] public_reads_per_address_per_minute`.
    pub fn limit_public_reads(self, state: &AppState) -> Result<(), ApiError> {
        state
            .public_read_limiter
            .check(self.0)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
    }
}

/// The client's address for rate limits: the peer, or what a configured
/// proxy forwarded for (`[proxy] trusted`, `auth::client_address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or_else(|| ApiError::Internal("the connection's peer address is unknown".into()))?;
        let header_text = |name: &str| {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        let forwarded = header_text("forwarded");
        let x_forwarded_for = header_text("x-forwarded-for");
        Ok(Self(state.trusted_proxies.client(
            peer,
            forwarded.as_deref(),
            x_forwarded_for.as_deref(),
        )))
    }
}
