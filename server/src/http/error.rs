//! The one place where errors become HTTP responses: RFC 9457 problem details
//! with a stable `type` per kind of error.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dispatch::AssignError;
use crate::{
    domain::{FieldError, ValidationErrors, offer::OfferState},
    store::StoreError,
};

const PROBLEM_BASE: &str = "https://truckroll.dev/problems/";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request validation failed: {0}")]
    Validation(ValidationErrors),
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("forbidden")]
    Forbidden,
    /// Refused for a stated reason other than the role (e.g. an expired URL).
    #[error("forbidden: {0}")]
    Denied(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The client sent the version it read and the record changed since:
    /// a 409 `version_conflict` whose detail says what it is now.
    #[error("stale version: {0}")]
    StaleVersion(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// An offer answered after it closed: a 409 `conflict` whose problem
    /// names the offer's state (`offer_state`), so a phone can tell an
    /// expired offer from one taken back.
    #[error("conflict: {detail}")]
    OfferClosed { state: OfferState, detail: String },
    /// Refused because other records refer to this one: a 409 `in_use`
    /// whose detail says why ("site has 3 open tickets").
    #[error("in use: {0}")]
    InUse(String),
    /// Erasure refused because a customer or ticket is under legal hold:
    /// a 409 `legal-hold` naming which.
    #[error("legal hold: {0}")]
    LegalHold(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// A request within the size limit that carries more items than allowed.
    #[error("too many items: {0}")]
    TooMany(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("a request with this idempotency key is still in progress")]
    IdempotencyInProgress,
    #[error("the request with this idempotency key wrote but its answer was lost")]
    IdempotencyCommitted,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// RFC 9457 problem details, plus `errors` for field-level problems.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With a 409 about an offer that is no longer open: its state now
    /// (`expired`, `accepted`, `declined` or `withdrawn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_state: Option<OfferState>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "The request is not valid",
            ),
            ApiError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "The request is malformed",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::RefreshTokenReused => (
                StatusCode::UNAUTHORIZED,
                "refresh-token-reused",
                "Refresh token already used; session revoked",
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this role",
            ),
            ApiError::Denied(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::StaleVersion(_) => (
                StatusCode::CONFLICT,
                "version_conflict",
                "Changed since you read it",
            ),
            ApiError::Conflict(_) | ApiError::OfferClosed { .. } => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflicts with the current state",
            ),
            ApiError::InUse(_) => (
                StatusCode::CONFLICT,
                "in_use",
                "Other records refer to this one",
            ),
            ApiError::LegalHold(_) => (StatusCode::CONFLICT, "legal-hold", "Under legal hold"),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::TooMany(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request carries too many items",
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many attempts",
            ),
            ApiError::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-mismatch",
                "Idempotency key reused with a different request",
            ),
            ApiError::IdempotencyInProgress => (
                StatusCode::CONFLICT,
                "idempotency-key-in-progress",
                "The first request with this key is still running",
            ),
            ApiError::IdempotencyCommitted => (
                StatusCode::CONFLICT,
                "idempotency-key-committed",
                "The first request with this key wrote; its answer was lost",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => errors.to_string(),
            ApiError::BadRequest(detail)
            | ApiError::StaleVersion(detail)
            | ApiError::Conflict(detail)
            | ApiError::OfferClosed { detail, .. }
            | ApiError::InUse(detail)
            | ApiError::LegalHold(detail)
            | ApiError::TooMany(detail)
            | ApiError::UnsupportedMediaType(detail) => {
                detail.clone()
            }
            ApiError::Unauthorized(detail) | ApiError::Denied(detail) => (*detail).to_owned(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::Forbidden => "your role may not do this".into(),
            ApiError::MethodNotAllowed => "this path does not take that method; see the `Allow` header".into(),
            ApiError::RefreshTokenReused => {
                "this refresh token was already exchanged; every token of the session is revoked, sign in again".into()
            }
            ApiError::PayloadTooLarge => "the request body exceeds the configured limit".into(),
            ApiError::RateLimited { retry_after_secs } => format!("try again in {retry_after_secs} s"),
            ApiError::IdempotencyMismatch => "this Idempotency-Key was used with a different request body".into(),
            ApiError::IdempotencyInProgress => "retry when the first request has finished".into(),
            ApiError::IdempotencyCommitted => "the first request with this Idempotency-Key committed its change before the server stopped; do not send it again: read the resource to see the result".into(),
            // Internal details go to the log, never to the client.
            ApiError::Unavailable(_) => "a dependency is unavailable; retry later".into(),
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        Problem {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => errors.0.clone(),
                _ => Vec::new(),
            },
            offer_state: match self {
                ApiError::OfferClosed { state, .. } => Some(*state),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Unauthorized(_) | ApiError::RefreshTokenReused => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::InUse(detail) => ApiError::InUse(detail),
            StoreError::Reference { field, message } => {
                ApiError::Validation(ValidationErrors::single(field, message))
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                ApiError::Unavailable("database pool timed out".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// An assignment refused; `field` names the input that was wrong.
    pub fn from_assign(error: AssignError, field: &'static str) -> Self {
        match error {
            AssignError::UnknownTechnician | AssignError::MissingSkills(_) => {
                ApiError::Validation(ValidationErrors::single(field, error.to_string()))
            }
            AssignError::Transition(message) => {
                ApiError::Validation(ValidationErrors::single("status", message))
            }
            AssignError::Store(error) => error.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let text = rejection.body_text();
                // axum reports `…target type: <path>: <message>`; keep the path as the field.
                let detail = text
                    .split_once("target type: ")
                    .map_or(text.as_str(), |(_, rest)| rest);
                let (field, message) = match detail.split_once(": ") {
                    Some((path, message)) if !path.contains(' ') => (path, message),
                    _ => ("body", detail),
                };
                ApiError::Validation(ValidationErrors::single(field, message))
            }
            _ => ApiError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("invalid path parameter: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Makes every error answer a problem: axum's own rejections (a body over a
/// route's limit, a method the route lacks, a malformed upgrade) come as
/// plain text or empty; they are rewritten here, once, with their status
/// and text kept as the detail.
pub async fn problems_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::NOT_FOUND => ApiError::NotFound("route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(text),
        status if status.is_server_error() => ApiError::Internal(text),
        _ if text.trim().is_empty() => ApiError::BadRequest(
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_owned(),
        ),
        _ => ApiError::BadRequest(text),
    };
    if status.is_server_error() {
        tracing::error!(error = %error, "request failed");
    }
    // The original status stays (e.g. 426 for a missing WebSocket upgrade),
    // and so do headers such as `Allow`.
    let mut problem = error.problem();
    problem.status = status.as_u16();
    let mut rewritten = (status, Json(problem)).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    rewritten
}
