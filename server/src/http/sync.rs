//! `POST /v1/sync` (one-shot exchange) and `GET /v1/sync` (WebSocket): the
//! sync protocol of `sync/PROTOCOL.md`, section 3, over
//! [`crate::device_sync::Session`].

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
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::AuthUser,
};
use crate::device_sync::{Session, SessionError};
use crate::packet::Packets;
use crate::store::StoreResult;

/// How often an idle WebSocket re-checks the device's set and the documents.
const WS_TICK: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    // A one-shot exchange may carry up to MAX_EXCHANGE_BYTES (PROTOCOL.md 3.1),
    // more than the API's general body limit.
    OpenApiRouter::new()
        .route("/v1/sync", get(websocket).post(exchange))
        .layer(DefaultBodyLimit::max(MAX_EXCHANGE_BYTES))
}

/// The envelope of a one-shot exchange, both ways (`sync/PROTOCOL.md` §3.1).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(super) struct SyncExchange {
    /// The device sends `hello` first, then `packet_have` and `sync` frames;
    /// the server answers `hello`, `doc_added`/`doc_removed`, `error`, `sync`
    /// and `packet` frames.
    frames: Vec<SyncFrame>,
}

/// One frame: an object with a `type` tag.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub(super) struct SyncFrame {
    /// `hello`, `sync`, `doc_added`, `doc_removed`, `error`, `packet` or `packet_have`.
    r#type: String,
    /// `hello`: the protocol version (1).
    version: Option<u32>,
    /// `hello`: the registered device (`POST /v1/devices`).
    device_id: Option<String>,
    /// `sync`, `doc_added`, `doc_removed`, `error`: the ticket id.
    doc_id: Option<String>,
    /// `sync`: a standard Automerge sync message, base64 (RFC 4648, padded).
    #[schema(format = Byte)]
    data: Option<String>,
    /// `doc_removed`: reassigned, unassigned, cancelled, closed, deleted, not_in_set.
    reason: Option<String>,
    /// `error`: a machine-readable code (e.g. `not_in_set`, `rejected_change`).
    code: Option<String>,
    /// `error`: what went wrong, for people.
    detail: Option<String>,
    /// `packet`, `packet_have`: the job packet's content hash (PROTOCOL.md §4).
    hash: Option<String>,
    /// `packet`: the job packet (site, customer, asset, ticket, comments,
    /// attachments), replacing the device's copy whole.
    #[schema(value_type = Option<Object>)]
    packet: Option<serde_json::Value>,
}

/// One-shot exchange: `{"frames": [...]}` in, `{"frames": [...]}` out, each
/// Automerge sync message base64 in its frame. The body may be up to 16 MiB.
#[utoipa::path(post, path = "/v1/sync", tag = "sync", request_body = SyncExchange, security(("bearer" = [])),
    responses((status = 200, body = SyncExchange), (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem)))]
pub(super) async fn exchange(
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
            frames.extend(
                session
                    .exchange(
                        state.store.as_ref(),
                        state.events.as_ref(),
                        &request.frames[1..],
                    )
                    .await?,
            );
            let mut packets = Packets::default();
            with_packets(
                &state,
                &session,
                &mut packets,
                &request.frames[1..],
                &mut frames,
            )
            .await?;
            frames
        }
        Err(refusal) => vec![refusal],
    };
    let body = Exchange { frames }.encode();
    Ok(Json(
        serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// The job packets (PROTOCOL.md §4) the device lacks, after the session's
/// answer: `incoming` may carry the device's `packet_have` frames.
async fn with_packets(
    state: &AppState,
    session: &Session,
    packets: &mut Packets,
    incoming: &[Message],
    out: &mut Vec<Message>,
) -> StoreResult<()> {
    for frame in incoming {
        if let Message::PacketHave { doc_id, hash } = frame {
            packets.have(doc_id, hash);
        }
    }
    packets
        .frames(
            state.store.as_ref(),
            session.actor.tenant_id,
            session.actor.user_id,
            session.set(),
            out,
        )
        .await
}

async fn start(
    state: &AppState,
    user: &AuthUser,
    hello: Option<&Message>,
) -> ApiResult<Result<Session, Message>> {
    match Session::start(state.store.as_ref(), user.actor(), hello).await {
        Ok(session) => Ok(Ok(
            session.with_checkin_radius(state.config.dispatch.checkin_radius_m)
        )),
        Err(SessionError::Frame(frame)) => Ok(Err(frame)),
        Err(SessionError::Store(e)) => Err(e.into()),
    }
}

/// The same protocol over a WebSocket: one frame per text message, the
/// server pushes changes as they happen. Authorised by the bearer token of
/// the upgrade request.
#[utoipa::path(get, path = "/v1/sync", tag = "sync", security(("bearer" = [])),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 401, body = Problem)))]
pub(super) async fn websocket(
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
    let mut session = match Session::start(state.store.as_ref(), user.actor(), hello.as_ref()).await
    {
        Ok(s) => s.with_checkin_radius(state.config.dispatch.checkin_radius_m),
        Err(SessionError::Frame(frame)) => return send(&mut socket, vec![frame]).await,
        Err(SessionError::Store(e)) => return send(&mut socket, vec![internal(e)]).await,
    };
    send(&mut socket, vec![session.hello()]).await?;
    let mut packets = Packets::default();
    let mut initial = session
        .exchange(state.store.as_ref(), state.events.as_ref(), &[])
        .await
        .unwrap_or_else(|e| vec![internal(e)]);
    if let Err(e) = with_packets(&state, &session, &mut packets, &[], &mut initial).await {
        initial.push(internal(e));
    }
    send(&mut socket, initial).await?;
    let mut tick = tokio::time::interval(WS_TICK);
    tick.tick().await;
    loop {
        let (mut frames, incoming): (Vec<Message>, Option<Message>) = tokio::select! {
            incoming = next_frame(&mut socket) => match incoming {
                None => return Ok(()),
                Some(Err(err)) => (vec![err], None),
                Some(Ok(frame)) => (session.exchange(state.store.as_ref(), state.events.as_ref(), std::slice::from_ref(&frame)).await.unwrap_or_else(|e| vec![internal(e)]), Some(frame)),
            },
            _ = tick.tick() => (session.exchange(state.store.as_ref(), state.events.as_ref(), &[]).await.unwrap_or_else(|e| vec![internal(e)]), None),
        };
        let incoming = incoming.as_slice();
        if let Err(e) = with_packets(&state, &session, &mut packets, incoming, &mut frames).await {
            frames.push(internal(e));
        }
        send(&mut socket, frames).await?;
    }
}
