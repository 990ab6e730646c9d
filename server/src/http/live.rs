//! `GET /v1/live`: the live map as a WebSocket stream.
//!
//! Server → client, JSON text messages:
//! - `{"type":"snapshot","reason":…,"cursor":…,"bounds":…,"technicians":[…],
//!   "tickets":[…],"totals":{…}}` first (`totals`: the tenant's counts, whatever the bounds), again after every change of bounds, and whenever
//!   events were lost; `reason` says which (`initial`, `bounds`, `resync`,
//!   or `resume_gap` when a reconnect could not be served from the buffer);
//! - `{"type":"delta","cursor":…,"technicians":[…],"tickets":[…],
//!   "offers":[…],"sla_notices":[…],"gone_technicians":[…],
//!   "gone_tickets":[…]}` at most every `live.flush_ms`, newest version per
//!   record only; the first message after a successful resume is a delta
//!   with `"replayed":true` holding what was missed;
//! - `{"type":"heartbeat","at":…,"cursor":…}` (and a ping frame) every
//!   `live.heartbeat_ms`.
//!
//! Client → server: `{"type":"bounds","south":…,"west":…,"north":…,"east":…}`
//! at any time.
//!
//! Resuming: a client that reconnects with `?since=<the last cursor it
//! received>` and the same bounds gets only the changes it missed, if this
//! replica still holds them all (`live.resume_changes` per tenant, kept
//! `live.resume_grace_ms` after the tenant's last viewer left); otherwise a
//! snapshot with `"reason":"resume_gap"`. A cursor also names the bus event
//! its newest change came from, so another replica (a load balancer may pick
//! any) resumes from it too when it has followed the tenant since before
//! that event (one of its own viewers watched it); otherwise, and always with
//! the single-process bus after a restart, the answer is a snapshot.
//!
//! Browsers cannot set headers on a WebSocket, so the access token may come
//! as `?access_token=` instead of `Authorization: Bearer`.
//!
//! The viewer's account is re-read while the stream is open (at once after
//! a change made through this replica, else every `auth.principal_cache_ms`
//! but not more often than once a second): a deactivated account's stream
//! ends with an `error` message and close code 4401, a role without the live
//! map's permission with 4403 (the reason says which).

use std::time::{Duration, Instant};

use axum::{
    extract::{
        Query, State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
        },
    },
    http::HeaderMap,
    response::Response,
    routing::get,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa_axum::router::OpenApiRouter;

use super::{
    AppState,
    error::{ApiError, ApiResult},
    extract::AuthUser,
};
use crate::{
    domain::permissions::Action,
    live::{
        feed::{Feed, positions_now},
        hub::{Bounds, Delta, LiveTotals, Viewer},
        snapshots::SnapshotError,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/v1/live", get(websocket))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LiveQuery {
    /// The access token, for browsers that cannot set a header on a WebSocket.
    access_token: Option<String>,
    /// The map's bounds in degrees: all four or none (the whole world).
    south: Option<f64>,
    west: Option<f64>,
    north: Option<f64>,
    east: Option<f64>,
    /// The last cursor received, to resume after a reconnect.
    since: Option<String>,
}

impl LiveQuery {
    fn bounds(&self) -> ApiResult<Bounds> {
        let invalid = || {
            crate::domain::ValidationErrors::single(
                "bounds",
                "give all of south, west, north, east (degrees, south ≤ north) or none",
            )
        };
        match (self.south, self.west, self.north, self.east) {
            (None, None, None, None) => Ok(Bounds::WORLD),
            (Some(south), Some(west), Some(north), Some(east)) => Bounds {
                south,
                west,
                north,
                east,
            }
            .validated()
            .ok_or_else(|| invalid().into()),
            _ => Err(invalid().into()),
        }
    }
}

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Bounds(Bounds),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    Snapshot {
        reason: SnapshotReason,
        cursor: String,
        bounds: Bounds,
        technicians: &'a RawValue,
        tickets: &'a RawValue,
        totals: LiveTotals,
    },
    Delta(&'a Delta),
    Heartbeat {
        at: chrono::DateTime<Utc>,
        cursor: &'a str,
    },
    Error {
        detail: String,
    },
}

/// The live map: a snapshot of the technicians and open tickets in the
/// bounds, then deltas (positions coalesced per technician, ticket and offer
/// changes, SLA notices) and heartbeats, as JSON text messages; the client
/// may send new `bounds`. Dispatchers, managers and admins.
#[utoipa::path(get, path = "/v1/live", tag = "live", params(LiveQuery), security(("bearer" = [])),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 400, body = super::error::Problem), (status = 401, body = super::error::Problem), (status = 403, body = super::error::Problem)))]
pub(super) async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or(query.access_token.as_deref())
        .ok_or(ApiError::Unauthorized(
            "send an access token as `Authorization: Bearer …` or `?access_token=`",
        ))?;
    let user = AuthUser::from_token(&state, token.trim()).await?;
    user.require(Action::LiveView)?;
    let bounds = query.bounds()?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::BadRequest(
            "GET /v1/live is a WebSocket: send an Upgrade: websocket request".into(),
        )
    })?;
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let positions = |tenant_id| positions_now(&state.dispatch, tenant_id);
            let (viewer, start) = match &query.since {
                None => (
                    state.live.join(user.tenant_id, bounds, &positions),
                    Start::Snapshot(SnapshotReason::Initial),
                ),
                Some(cursor) => match state
                    .live
                    .resume(user.tenant_id, bounds, cursor, &positions)
                {
                    (viewer, Some(missed)) => (viewer, Start::Replay(missed)),
                    (viewer, None) => (viewer, Start::Snapshot(SnapshotReason::ResumeGap)),
                },
            };
            let ended = watch(&state, &user, &viewer, socket, start).await;
            state.live.leave(&viewer);
            tracing::debug!(viewer = viewer.id, ?ended, "live viewer left");
        }))
}

/// The live feed over this state's handles.
fn feed(state: &AppState) -> Feed<'_> {
    Feed {
        store: state.store.as_ref(),
        dispatch: &state.dispatch,
        directory: &state.live_directory,
    }
}

/// Why a viewer's stream ended.
#[derive(Debug)]
enum Ended {
    Closed,
    /// Nothing heard within `live.idle_timeout_ms`.
    Idle,
    /// A message not taken within `live.send_timeout_ms`.
    SendTimeout,
    Socket(axum::Error),
    Load(ApiError),
    /// The viewer's account was deactivated or lost the permission.
    Revoked,
}

/// Close code for a deactivated account (as the sync socket's `unauthorized`).
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code for a role that no longer includes the live map.
const CLOSE_FORBIDDEN: u16 = 4403;

async fn send(state: &AppState, socket: &mut WebSocket, message: Message) -> Result<(), Ended> {
    let limit = Duration::from_millis(state.config.live.send_timeout_ms);
    match tokio::time::timeout(limit, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Ended::Socket(error)),
        Err(_) => {
            metrics::counter!("truckroll_live_dropped_slow_total").increment(1);
            Err(Ended::SendTimeout)
        }
    }
}

async fn send_json(
    state: &AppState,
    socket: &mut WebSocket,
    message: &ServerMessage<'_>,
) -> Result<(), Ended> {
    let text = serde_json::to_string(message)
        .map_err(|e| Ended::Load(ApiError::Internal(e.to_string())))?;
    send(state, socket, Message::Text(text.into())).await
}

/// Why a snapshot is sent.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum SnapshotReason {
    /// The stream's first message.
    Initial,
    /// The client changed its bounds.
    Bounds,
    /// Events were lost on the way to this replica.
    Resync,
    /// The client asked to resume, but the changes since its cursor are not
    /// all held any more (or the cursor is another process's).
    ResumeGap,
}

/// How a stream begins.
#[derive(Debug)]
enum Start {
    Snapshot(SnapshotReason),
    /// Resumed: the changes the client missed.
    Replay(Delta),
}

/// Sends a snapshot (shared with the other viewers of the same view);
/// returns its cursor.
async fn send_snapshot(
    state: &AppState,
    viewer: &Viewer,
    socket: &mut WebSocket,
    reason: SnapshotReason,
) -> Result<String, Ended> {
    let bounds = viewer.bounds();
    // The snapshot shows at least every change up to here; the viewer's
    // pending changes carry the rest.
    let seq = viewer.seq();
    let snapshot = state
        .live
        .snapshots()
        .get(
            viewer.tenant_id,
            bounds,
            seq,
            || state.live.sequence(),
            || async move {
                feed(state)
                    .snapshot(
                        viewer.tenant_id,
                        bounds,
                        state.config.live.max_snapshot_tickets,
                    )
                    .await
            },
        )
        .await
        .map_err(|error| match error {
            SnapshotError::Read(error) => Ended::Load(error.into()),
            SnapshotError::Render(error) => Ended::Load(ApiError::Internal(error.to_string())),
        })?;
    viewer.shown(&snapshot.technicians, &snapshot.tickets);
    let cursor = state.live.cursor(viewer.tenant_id, seq);
    send_json(
        state,
        socket,
        &ServerMessage::Snapshot {
            reason,
            cursor: cursor.clone(),
            bounds,
            technicians: &snapshot.technicians_json,
            tickets: &snapshot.tickets_json,
            totals: snapshot.totals,
        },
    )
    .await?;
    Ok(cursor)
}

async fn watch(
    state: &AppState,
    user: &AuthUser,
    viewer: &Viewer,
    mut socket: WebSocket,
    start: Start,
) -> Ended {
    match watch_inner(state, user, viewer, &mut socket, start).await {
        Ok(()) => Ended::Closed,
        Err(ended) => {
            match &ended {
                Ended::Idle | Ended::SendTimeout => {
                    tracing::info!(
                        viewer = viewer.id,
                        ?ended,
                        "dropping a live viewer that stopped reading"
                    )
                }
                Ended::Socket(error) => {
                    tracing::debug!(viewer = viewer.id, %error, "live socket failed")
                }
                Ended::Load(error) => {
                    tracing::warn!(viewer = viewer.id, %error, "cannot load the live map")
                }
                Ended::Closed => {}
                Ended::Revoked => {
                    tracing::info!(viewer = viewer.id, "live viewer's access was revoked")
                }
            }
            ended
        }
    }
}

/// Says why in an `error` message and a close frame.
async fn revoke(
    state: &AppState,
    socket: &mut WebSocket,
    code: u16,
    detail: &str,
) -> Result<(), Ended> {
    send_json(
        state,
        socket,
        &ServerMessage::Error {
            detail: detail.to_owned(),
        },
    )
    .await?;
    send(
        state,
        socket,
        Message::Close(Some(CloseFrame {
            code,
            reason: detail.into(),
        })),
    )
    .await?;
    Err(Ended::Revoked)
}

async fn watch_inner(
    state: &AppState,
    user: &AuthUser,
    viewer: &Viewer,
    socket: &mut WebSocket,
    start: Start,
) -> Result<(), Ended> {
    let config = &state.config.live;
    let mut follower = state.principals.follow(user.tenant_id, user.user_id);
    let mut cursor = match start {
        Start::Snapshot(reason) => send_snapshot(state, viewer, socket, reason).await?,
        Start::Replay(mut missed) => {
            missed.cursor = state.live.cursor(viewer.tenant_id, viewer.seq());
            send_json(state, socket, &ServerMessage::Delta(&missed)).await?;
            missed.cursor
        }
    };
    let mut flush = tokio::time::interval(Duration::from_millis(config.flush_ms));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let heartbeat_every = Duration::from_millis(config.heartbeat_ms);
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + heartbeat_every,
        heartbeat_every,
    );
    let idle_limit = Duration::from_millis(config.idle_timeout_ms);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = follower.changed() => match user.current(state).await {
                Ok(now) if now.can(Action::LiveView) => {}
                Ok(_) => {
                    return revoke(state, socket, CLOSE_FORBIDDEN, "your role no longer includes the live map").await;
                }
                Err(ApiError::Unauthorized(detail)) => {
                    return revoke(state, socket, CLOSE_UNAUTHORIZED, detail).await;
                }
                // A passing store fault: keep the stream, ask again next time.
                Err(error) => tracing::warn!(viewer = viewer.id, %error, "cannot re-check a live viewer"),
            },
            _ = flush.tick() => match viewer.take() {
                // Nothing new for this viewer: its cursor still moves on.
                Ok((seq, delta)) if delta.is_empty() => cursor = state.live.cursor(viewer.tenant_id, seq),
                Ok((seq, mut delta)) => {
                    delta.cursor = state.live.cursor(viewer.tenant_id, seq);
                    send_json(state, socket, &ServerMessage::Delta(&delta)).await?;
                    cursor = delta.cursor;
                }
                Err(_) => {
                    cursor = send_snapshot(state, viewer, socket, SnapshotReason::Resync).await?;
                }
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > idle_limit {
                    return Err(Ended::Idle);
                }
                send(state, socket, Message::Ping(Default::default())).await?;
                send_json(state, socket, &ServerMessage::Heartbeat { at: Utc::now(), cursor: &cursor }).await?;
            }
            received = socket.recv() => {
                last_heard = Instant::now();
                match received {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(error)) => return Err(Ended::Socket(error)),
                    Some(Ok(Message::Text(text))) => {
                        match serde_json::from_str::<ClientMessage>(text.as_str()) {
                            Ok(ClientMessage::Bounds(bounds)) => match bounds.validated() {
                                Some(bounds) => {
                                    viewer.set_bounds(bounds);
                                    cursor = send_snapshot(state, viewer, socket, SnapshotReason::Bounds).await?;
                                }
                                None => send_json(state, socket, &ServerMessage::Error {
                                    detail: "bounds: degrees in range, south ≤ north".into(),
                                }).await?,
                            },
                            Err(error) => send_json(state, socket, &ServerMessage::Error {
                                detail: format!("unreadable message: {error}"),
                            }).await?,
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}
