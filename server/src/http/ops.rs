//! Health, readiness, metrics and the OpenAPI document.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{AppState, error::ApiError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ready().await {
        Ok(true) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending"})),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "database unreachable"})),
            )
        }
    }
}

/// Prometheus text, on the API's address only with the configured
/// `[governance] metrics_token`.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let expected = state.config.governance.metrics_token.as_bytes();
    if expected.is_empty() {
        return ApiError::NotFound("route").into_response();
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .as_bytes();
    if !bool::from(presented.ct_eq(expected)) {
        return ApiError::Unauthorized("send the metrics token as `Authorization: Bearer …`")
            .into_response();
    }
    render_metrics(&state).into_response()
}

/// The metrics listener's router (`[governance] metrics_listen`): `/metrics`
/// without a token, nothing else.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { render_metrics(&state) }),
        )
        .with_state(state)
}

fn render_metrics(state: &AppState) -> impl IntoResponse + use<> {
    let (open, idle) = state.store.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(open));
    metrics::gauge!("db_pool_idle_connections").set(f64::from(idle));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::recorder().render(),
    )
}

async fn openapi() -> impl IntoResponse {
    Json(super::openapi_document())
}
