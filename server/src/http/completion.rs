//! Requests run to completion even when their client hangs up.
//!
//! hyper drops a request's future when its connection closes. A handler is
//! a sequence of awaits — a transaction's `BEGIN`, its statements, its
//! `COMMIT`, then the dispatch index, the event bus, the outbox — and
//! dropping it between two of them leaves the work half done: a `COMMIT`
//! on the wire whose transaction guard then queues a `ROLLBACK` ("there is
//! no transaction in progress"), a committed write whose event is never
//! published, an index that missed a move. Running each request on a task
//! of its own makes a hang-up cost only the answer: the work finishes, the
//! response is dropped.

use axum::{extract::Request, middleware::Next, response::IntoResponse, response::Response};
use tracing::Instrument;

use super::error::ApiError;

pub async fn run_to_completion(request: Request, next: Next) -> Response {
    let work = tokio::spawn(next.run(request).in_current_span());
    match work.await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "request handler failed");
            ApiError::Internal(format!("request handler failed: {error}")).into_response()
        }
    }
}
