//! `POST /v1/sync` (one-shot exchange) and `GET /v1/sync` (WebSocket): the
//! sync protocol of `sync/PROTOCOL.md`, section 3, over
//! [`crate::doc_sync::Session`].

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::DefaultBodyLimit,
    extract::{
        State,
        ws::{Message as WsMessage, WebSocket, WebSocketUpgrade},
    },
    response::Response,
    routing::get,
};
use truckroll_sync::protocol::{ErrorCode, Exchange, MAX_EXCHANGE_BYTES, MAX_FRAME_BYTES, Message};
use utoipa_axum::router::OpenApiRouter;

use super::{
    AppState,
    error::{ApiError, ApiResult},
    extract::AuthUser,
};
use crate::doc_sync::{Session, SessionError};

/// How often an idle WebSocket re-checks the device's set and the documents.
const WS_TICK: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    // A one-shot exchange may carry up to MAX_EXCHANGE_BYTES (PROTOCOL.md 3.1),
    // more than the API's general body limit.
    OpenApiRouter::new()
        .route("/v1/sync", get(websocket).post(exchange))
        .layer(DefaultBodyLimit::max(MAX_EXCHANGE_BYTES))
}

/// One-shot exchange: `{"frames": [...]}` in, `{"frames": [...]}` out.
async fn exchange(
    user: AuthUser,
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
    let request = Exchange::decode(text).map_err(|e| match e.code() {
        ErrorCode::FrameTooLarge => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest(e.to_string()),
    })?;
    let frames = match start(&state, &user, request.frames.first()).await? {
        Ok(mut session) => {
            let mut frames = vec![session.hello()];
            frames.extend(session.exchange(&state, &request.frames[1..]).await?);
            frames
        }
        Err(refusal) => vec![refusal],
    };
    let body = Exchange { frames }.encode();
    Ok(Json(
        serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

async fn start(
    state: &AppState,
    user: &AuthUser,
    hello: Option<&Message>,
) -> ApiResult<Result<Session, Message>> {
    match Session::start(state, user.actor(), hello).await {
        Ok(session) => Ok(Ok(session)),
        Err(SessionError::Frame(frame)) => Ok(Err(frame)),
        Err(SessionError::Store(e)) => Err(e.into()),
    }
}

async fn websocket(
    user: AuthUser,
    State(state): State<AppState>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            if let Err(e) = run(state, user, socket).await {
                tracing::info!(error = %e, "sync WebSocket ended");
            }
        })
}

async fn send(socket: &mut WebSocket, frames: Vec<Message>) -> Result<(), axum::Error> {
    for frame in frames {
        socket.send(WsMessage::Text(frame.encode().into())).await?;
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> Message {
    tracing::warn!(error = %e, "sync session failed");
    Message::Error {
        doc_id: None,
        code: ErrorCode::Internal,
        detail: "server fault; retry later".into(),
    }
}

async fn next_frame(socket: &mut WebSocket) -> Option<Result<Message, Message>> {
    loop {
        match socket.recv().await? {
            Ok(WsMessage::Text(text)) => {
                return Some(Message::decode(text.as_str()).map_err(|e| Message::Error {
                    doc_id: None,
                    code: e.code(),
                    detail: e.to_string(),
                }));
            }
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn run(state: AppState, user: AuthUser, mut socket: WebSocket) -> Result<(), axum::Error> {
    let hello = match next_frame(&mut socket).await {
        Some(Ok(frame)) => Some(frame),
        Some(Err(err)) => return send(&mut socket, vec![err]).await,
        None => return Ok(()),
    };
    let mut session = match Session::start(&state, user.actor(), hello.as_ref()).await {
        Ok(s) => s,
        Err(SessionError::Frame(frame)) => return send(&mut socket, vec![frame]).await,
        Err(SessionError::Store(e)) => return send(&mut socket, vec![internal(e)]).await,
    };
    send(&mut socket, vec![session.hello()]).await?;
    let initial = session
        .exchange(&state, &[])
        .await
        .unwrap_or_else(|e| vec![internal(e)]);
    send(&mut socket, initial).await?;
    let mut tick = tokio::time::interval(WS_TICK);
    tick.tick().await;
    loop {
        let frames: Vec<Message> = tokio::select! {
            incoming = next_frame(&mut socket) => match incoming {
                None => return Ok(()),
                Some(Err(err)) => vec![err],
                Some(Ok(frame)) => session.exchange(&state, std::slice::from_ref(&frame)).await.unwrap_or_else(|e| vec![internal(e)]),
            },
            _ = tick.tick() => session.exchange(&state, &[]).await.unwrap_or_else(|e| vec![internal(e)]),
        };
        send(&mut socket, frames).await?;
    }
}
