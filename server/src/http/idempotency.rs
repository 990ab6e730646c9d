//! `Idempotency-Key` on POST: a retried request gets the first answer back
//! instead of running twice. Keys are scoped to the signed-in user.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{AppState, error::ApiError, extract::bearer_token};
use crate::store::{
    IdempotencyBegin, StoredResponse,
    idempotency::{IDEMPOTENT_REQUEST, IdempotencyWindow, IdempotentRequest},
};

pub const HEADER: &str = "idempotency-key";

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(HEADER) {
        return next.run(request).await;
    }
    match run(state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(state: AppState, request: Request, next: Next) -> Result<Response, Response> {
    let key = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1-255 visible ASCII characters".into())
                .into_response()
        })?;
    let (parts, body) = request.into_parts();
    // Without a valid token the handler answers 401 itself; nothing to remember.
    let Some(claims) = bearer_token(&parts).and_then(|token| state.tokens.verify_access(token))
    else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let bytes = to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge.into_response())?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());

    let store = &state.store;
    let governance = &state.config.governance;
    let now = Utc::now();
    let ago =
        |secs: u64| now - chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000));
    let window = IdempotencyWindow {
        now,
        abandoned_before: ago(governance.idempotency_abandoned_after_secs),
        expired_before: ago(governance.idempotency_key_ttl_secs),
    };
    let begun = store
        .idempotency_begin(claims.tid, claims.sub, &key, &request_hash, window)
        .await;
    match begun.map_err(|e| ApiError::from(e).into_response())? {
        IdempotencyBegin::Replay(stored) => return Ok(replay(stored)),
        IdempotencyBegin::InProgress => return Err(ApiError::IdempotencyInProgress.into_response()),
        IdempotencyBegin::Mismatch => return Err(ApiError::IdempotencyMismatch.into_response()),
        IdempotencyBegin::CommittedUnanswered => {
            return Err(ApiError::IdempotencyCommitted.into_response());
        }
        IdempotencyBegin::Started => {}
    }
    sweep_now_and_then(&state, window.expired_before);

    let serving = IdempotentRequest {
        tenant_id: claims.tid,
        user_id: claims.sub,
        key: key.clone(),
    };
    let response = IDEMPOTENT_REQUEST
        .scope(
            serving,
            next.run(Request::from_parts(parts, Body::from(bytes))),
        )
        .await;
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        let _ = store.idempotency_abort(claims.tid, claims.sub, &key).await;
        return Err(ApiError::Internal("response body could not be read".into()).into_response());
    };
    if parts.status.is_server_error() {
        // Not an answer worth repeating: let a retry run again.
        if let Err(error) = store.idempotency_abort(claims.tid, claims.sub, &key).await {
            tracing::warn!(%error, "could not release idempotency key");
        }
    } else {
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned(),
            body: bytes.to_vec(),
        };
        if let Err(error) = store
            .idempotency_complete(claims.tid, claims.sub, &key, &stored)
            .await
        {
            tracing::error!(%error, "could not record idempotent response");
        }
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Deletes expired keys at most once a minute per process, off the request's path.
fn sweep_now_and_then(state: &AppState, expired_before: chrono::DateTime<Utc>) {
    static LAST_SWEEP: AtomicI64 = AtomicI64::new(0);
    let minute = expired_before.timestamp() / 60;
    if LAST_SWEEP.swap(minute, Ordering::Relaxed) == minute {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        match store.idempotency_sweep(expired_before).await {
            Ok(0) => {}
            Ok(swept) => tracing::debug!(swept, "expired idempotency keys deleted"),
            Err(error) => tracing::warn!(%error, "could not sweep idempotency keys"),
        }
    });
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() =
        axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
