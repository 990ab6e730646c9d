//! `POST /v1/sync` (one-shot exchange) and `GET /v1/sync` (WebSocket): the
//! sync protocol of `sync/PROTOCOL.md`, section 3, over
//! [`crate::device_sync::Session`].

use std::io::{Read, Write};
use std::time::Duration;

use axum::{
    body::Bytes,
    extract::DefaultBodyLimit,
    extract::rejection::BytesRejection,
    extract::{
        State,
        ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use truckroll_sync::protocol::{
    ErrorCode, Exchange, Incoming, MAX_EXCHANGE_BYTES, MAX_FRAME_BYTES, Message, SYNC_BATCH_HEADER,
    close,
};
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
    /// `hello`, `sync`, `doc_added`, `doc_removed`, `error`, `packet` or
    /// `packet_have`. A receiver skips a frame whose type it does not know.
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
    /// `doc_removed`: reassigned, unassigned, cancelled, closed, deleted
    /// (for documents the device held), not_in_set (any other id).
    reason: Option<String>,
    /// `error`: a machine-readable code (`sync/PROTOCOL.md` §3.1), e.g.
    /// `not_in_set`, `malformed_frame`, `schema_violation`.
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
/// Frames of unknown type are skipped; a bad frame is answered with an
/// `error` frame for its document (or the session) and fails nothing else.
#[utoipa::path(post, path = "/v1/sync", tag = "sync", request_body = SyncExchange, security(("bearer" = [])),
    responses((status = 200, body = SyncExchange), (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem)))]
pub(super) async fn exchange(
    user: AuthUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest(rejection.body_text()),
    })?;
    let body = inflated(&headers, body)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
    let request = Exchange::decode_frames(text).map_err(|e| match e.code() {
        ErrorCode::FrameTooLarge => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest(e.to_string()),
    })?;
    let max_frames = state.config.governance.sync_max_frames;
    if request.len() > max_frames {
        return Err(ApiError::TooMany(format!(
            "one exchange carries at most {max_frames} frames; this one has {}: send the rest in another",
            request.len()
        )));
    }
    // Unknown frames are skipped before `hello` too.
    let first = request
        .iter()
        .position(|f| !matches!(f, Incoming::Unknown(_)));
    let hello = first.map(|i| &request[i]);
    let rest = first.map_or(&[][..], |i| &request[i + 1..]);
    let frames = match hello {
        Some(bad @ Incoming::Bad { .. }) => bad.error_frame().into_iter().collect(),
        Some(Incoming::Frame(hello)) => {
            start_and_exchange(&state, &user, Some(hello), rest).await?
        }
        _ => start_and_exchange(&state, &user, None, rest).await?,
    };
    let body = Exchange { frames }.encode();
    Ok(answer(&headers, body))
}

/// Answers smaller than this go plain: gzip's header outweighs the gain.
const COMPRESS_FROM_BYTES: usize = 512;

/// The request body, inflated when it came gzipped (`Content-Encoding:
/// gzip`, PROTOCOL.md 3.4) up to the exchange limit; other codings are refused.
fn inflated(headers: &HeaderMap, body: Bytes) -> ApiResult<Bytes> {
    let Some(coding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let coding = coding.to_str().unwrap_or_default().trim();
    if coding.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !coding.eq_ignore_ascii_case("gzip") {
        return Err(ApiError::UnsupportedMediaType(
            "a sync body is plain or gzip (Content-Encoding: gzip)".into(),
        ));
    }
    let limit = u64::try_from(MAX_EXCHANGE_BYTES).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|_| ApiError::BadRequest("the gzip body does not inflate".into()))?;
    if out.len() > MAX_EXCHANGE_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(out.into())
}

/// Whether `Accept-Encoding` lists gzip (not refused with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

/// The answer, gzipped when the client asked for it and it is large enough
/// to gain; always saying that gzip request bodies (RFC 7694) and
/// `sync_batch` frames (PROTOCOL.md 3.4) are welcome.
fn answer(headers: &HeaderMap, body: String) -> Response {
    let mut compressed = None;
    if accepts_gzip(headers) && body.len() >= COMPRESS_FROM_BYTES {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        if encoder.write_all(body.as_bytes()).is_ok()
            && let Ok(bytes) = encoder.finish()
            && bytes.len() < body.len()
        {
            compressed = Some(bytes);
        }
    }
    let mut response = match compressed {
        Some(bytes) => {
            let mut response = bytes.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        None => body.into_response(),
    };
    let answer_headers = response.headers_mut();
    answer_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer_headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    answer_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Requests may carry their `sync` frames in one `sync_batch` frame.
    answer_headers.insert(SYNC_BATCH_HEADER, HeaderValue::from_static("1"));
    response
}

/// The job packets (PROTOCOL.md §4) the device lacks, after the session's
/// answer: `incoming` may carry the device's `packet_have` frames.
async fn with_packets(
    state: &AppState,
    session: &Session,
    packets: &mut Packets,
    incoming: &[Incoming],
    out: &mut Vec<Message>,
) -> StoreResult<()> {
    for frame in incoming {
        if let Incoming::Frame(Message::PacketHave { doc_id, hash }) = frame {
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

/// The trigger rules on what the phone's syncs changed (`field_work_synced`),
/// after the document writes committed: the sync layer knows no rules, the
/// edge runs them as it does after the office's writes. The tenant's rules
/// are read (their version checked) once for the exchange, not per ticket.
async fn run_rules_on_synced(state: &AppState, session: &mut Session) {
    let synced = session.take_synced();
    if synced.is_empty() {
        return;
    }
    let automation = super::automation::automation(state);
    let rules = match state
        .rules
        .rules(state.store.as_ref(), session.actor.tenant_id)
        .await
    {
        Ok(rules) => rules,
        Err(error) => {
            tracing::warn!(%error, "trigger rules not run on synced tickets: cannot read them");
            return;
        }
    };
    for (before, after) in synced {
        let id = after.id;
        let trigger = crate::automation::Trigger::field_synced(&before, &after);
        if let Err(error) = automation.run_rules(&rules, after, &trigger).await {
            tracing::warn!(%error, ticket = %id, "trigger rules failed");
        }
    }
}

async fn start_and_exchange(
    state: &AppState,
    user: &AuthUser,
    hello: Option<&Message>,
    rest: &[Incoming],
) -> ApiResult<Vec<Message>> {
    match Session::start(state.store.as_ref(), user.actor(), hello).await {
        Ok(session) => {
            let mut session = session
                .one_shot()
                .with_checkin_radius(state.config.dispatch.checkin_radius_m)
                .with_max_documents(state.config.governance.sync_max_documents);
            let mut frames = vec![session.hello()];
            frames.extend(
                session
                    .exchange(state.store.as_ref(), state.events.as_ref(), rest)
                    .await?,
            );
            run_rules_on_synced(state, &mut session).await;
            let mut packets = Packets::default();
            with_packets(state, &session, &mut packets, rest, &mut frames).await?;
            Ok(frames)
        }
        Err(SessionError::Frame(frame)) => Ok(vec![frame]),
        Err(SessionError::Store(e)) => Err(e.into()),
    }
}

/// The same protocol over a WebSocket: one frame per text message, the
/// server pushes changes as they happen. Authorised by the bearer token of
/// the upgrade request. The server ends a session with an `error` frame and
/// an RFC 6455 close frame whose code says why (PROTOCOL.md §3.3).
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

/// Sends `frame` (an `error`), then a close frame with the code for its
/// error code and the code's name as the reason.
async fn refuse(socket: &mut WebSocket, frame: Message) -> Result<(), axum::Error> {
    let code = match &frame {
        Message::Error { code, .. } => *code,
        _ => ErrorCode::Internal,
    };
    send(socket, vec![frame]).await?;
    close_with(socket, close::for_code(code), code_name(code)).await
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: String) -> Result<(), axum::Error> {
    socket
        .send(WsMessage::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn internal(e: impl std::fmt::Display) -> Message {
    tracing::warn!(error = %e, "sync session failed");
    Message::Error {
        doc_id: None,
        code: ErrorCode::Internal,
        detail: "server fault; retry later".into(),
    }
}

/// What the socket delivered.
enum Received {
    Frame(Incoming),
    /// The device closed the connection, or it broke.
    Closed,
    /// A text message over [`MAX_FRAME_BYTES`]: the session ends.
    TooLarge,
}

async fn next_frame(socket: &mut WebSocket) -> Received {
    loop {
        match socket.recv().await {
            Some(Ok(WsMessage::Text(text))) => {
                return Received::Frame(Incoming::decode(text.as_str()));
            }
            Some(Ok(WsMessage::Binary(_))) => {
                return Received::Frame(Incoming::Bad {
                    doc_id: None,
                    code: ErrorCode::MalformedFrame,
                    detail: "binary messages are not used; send each frame as a text message"
                        .into(),
                });
            }
            // tungstenite refuses an oversized message before reading it
            // whole; its error is the only sign (axum does not re-export the type).
            Some(Err(e)) if e.to_string().contains("Message too long") => {
                return Received::TooLarge;
            }
            Some(Ok(WsMessage::Close(_))) => {
                // Reading on sends tungstenite's queued echo of the device's
                // close frame (RFC 6455 §5.5.1) before the socket goes.
                while let Some(Ok(_)) = socket.recv().await {}
                return Received::Closed;
            }
            Some(Err(_)) | None => return Received::Closed,
            Some(Ok(_)) => {}
        }
    }
}

async fn run(state: AppState, user: AuthUser, mut socket: WebSocket) -> Result<(), axum::Error> {
    let too_large = || Message::Error {
        doc_id: None,
        code: ErrorCode::FrameTooLarge,
        detail: format!("a frame is at most {MAX_FRAME_BYTES} bytes"),
    };
    // Unknown frames are skipped before `hello` too.
    let hello = loop {
        match next_frame(&mut socket).await {
            Received::Frame(Incoming::Frame(frame)) => break frame,
            Received::Frame(Incoming::Unknown(_)) => {}
            Received::Frame(bad @ Incoming::Bad { .. }) => {
                let frame = bad.error_frame().unwrap_or_else(|| internal("bad frame"));
                return refuse(&mut socket, frame).await;
            }
            Received::TooLarge => return refuse(&mut socket, too_large()).await,
            Received::Closed => return Ok(()),
        }
    };
    let mut session = match Session::start(state.store.as_ref(), user.actor(), Some(&hello)).await {
        Ok(s) => s
            .with_checkin_radius(state.config.dispatch.checkin_radius_m)
            .with_max_documents(state.config.governance.sync_max_documents),
        Err(SessionError::Frame(frame)) => return refuse(&mut socket, frame).await,
        Err(SessionError::Store(e)) => return refuse(&mut socket, internal(e)).await,
    };
    send(&mut socket, vec![session.hello()]).await?;
    let mut packets = Packets::default();
    let mut initial = session
        .exchange(state.store.as_ref(), state.events.as_ref(), &[])
        .await
        .unwrap_or_else(|e| vec![internal(e)]);
    run_rules_on_synced(&state, &mut session).await;
    if let Err(e) = with_packets(&state, &session, &mut packets, &[], &mut initial).await {
        initial.push(internal(e));
    }
    send(&mut socket, initial).await?;
    let mut tick = tokio::time::interval(WS_TICK);
    tick.tick().await;
    let mut closing = state.closing.subscribe();
    if *closing.borrow_and_update() {
        return close_with(&mut socket, close::GOING_AWAY, "going_away".into()).await;
    }
    // A deactivated account's session ends (`unauthorized`, 4401) without
    // waiting for the device to reconnect.
    let mut follower = state.principals.follow(user.tenant_id, user.user_id);
    loop {
        let (mut frames, incoming): (Vec<Message>, Option<Incoming>) = tokio::select! {
            _ = follower.changed() => match user.current(&state).await {
                Ok(_) => continue,
                Err(ApiError::Unauthorized(detail)) => {
                    let frame = Message::Error { doc_id: None, code: ErrorCode::Unauthorized, detail: detail.into() };
                    return refuse(&mut socket, frame).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot re-check a sync session's account");
                    continue;
                }
            },
            // Only ever set to true (or the sender is gone): shutting down.
            _ = closing.changed() => return close_with(&mut socket, close::GOING_AWAY, "going_away".into()).await,
            incoming = next_frame(&mut socket) => match incoming {
                Received::Closed => return Ok(()),
                Received::TooLarge => return refuse(&mut socket, too_large()).await,
                Received::Frame(frame) => (session.exchange(state.store.as_ref(), state.events.as_ref(), std::slice::from_ref(&frame)).await.unwrap_or_else(|e| vec![internal(e)]), Some(frame)),
            },
            _ = tick.tick() => (session.exchange(state.store.as_ref(), state.events.as_ref(), &[]).await.unwrap_or_else(|e| vec![internal(e)]), None),
        };
        run_rules_on_synced(&state, &mut session).await;
        let incoming = incoming.as_slice();
        if let Err(e) = with_packets(&state, &session, &mut packets, incoming, &mut frames).await {
            frames.push(internal(e));
        }
        send(&mut socket, frames).await?;
    }
}
