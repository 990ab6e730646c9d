//! `GET /v1/live`: the live map as a WebSocket stream.
//!
//! Server → client, JSON text messages:
//! - `{"type":"snapshot","reason":…,"cursor":…,"bounds":…,"technicians":[…],
//!   "tickets":[…]}` first, again after every change of bounds, and whenever
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
//! snapshot with `"reason":"resume_gap"`. Cursors are per process: after a
//! restart or on another replica the answer is a snapshot.
//!
//! Browsers cannot set headers on a WebSocket, so the access token may come
//! as `?access_token=` instead of `Authorization: Bearer`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::HeaderMap,
    response::Response,
    routing::get,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use truckroll_sync::Status;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult},
    extract::AuthUser,
};
use crate::{
    dispatch::TechnicianEntry,
    domain::{geo::GeoPoint, permissions::Action, ticket::Ticket},
    events::{
        BusMessage, EventKind,
        live::{
            Bounds, Delta, LiveHub, LiveOffer, LiveSlaNotice, LiveTechnician, LiveTicket, Viewer,
        },
    },
    store::{PageRequest, StoreError, TicketFilter},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/v1/live", get(websocket))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    access_token: Option<String>,
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
        technicians: &'a [LiveTechnician],
        tickets: &'a [LiveTicket],
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

async fn websocket(
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
    let claims = state
        .tokens
        .verify_access(token.trim())
        .ok_or(ApiError::Unauthorized(
            "the access token is invalid or expired; refresh it or sign in",
        ))?;
    let user = AuthUser {
        user_id: claims.sub,
        tenant_id: claims.tid,
        role: claims.role,
    };
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
            let positions = |tenant_id| positions_now(&state, tenant_id);
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
            let ended = watch(&state, &viewer, socket, start).await;
            state.live.leave(&viewer);
            tracing::debug!(viewer = viewer.id, ?ended, "live viewer left");
        }))
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
}

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

/// Sends a snapshot; returns its cursor.
async fn send_snapshot(
    state: &AppState,
    viewer: &Viewer,
    socket: &mut WebSocket,
    reason: SnapshotReason,
) -> Result<String, Ended> {
    let bounds = viewer.bounds();
    // What the snapshot reads is at least as new as this.
    let cursor = state.live.cursor(viewer.seq());
    let (technicians, tickets) = snapshot(state, viewer.tenant_id, bounds)
        .await
        .map_err(Ended::Load)?;
    viewer.shown(&technicians, &tickets);
    send_json(
        state,
        socket,
        &ServerMessage::Snapshot {
            reason,
            cursor: cursor.clone(),
            bounds,
            technicians: &technicians,
            tickets: &tickets,
        },
    )
    .await?;
    Ok(cursor)
}

async fn watch(state: &AppState, viewer: &Viewer, mut socket: WebSocket, start: Start) -> Ended {
    match watch_inner(state, viewer, &mut socket, start).await {
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
            }
            ended
        }
    }
}

async fn watch_inner(
    state: &AppState,
    viewer: &Viewer,
    socket: &mut WebSocket,
    start: Start,
) -> Result<(), Ended> {
    let config = &state.config.live;
    let mut cursor = match start {
        Start::Snapshot(reason) => send_snapshot(state, viewer, socket, reason).await?,
        Start::Replay(mut missed) => {
            missed.cursor = state.live.cursor(viewer.seq());
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
            _ = flush.tick() => match viewer.take() {
                // Nothing new for this viewer: its cursor still moves on.
                Ok((seq, delta)) if delta.is_empty() => cursor = state.live.cursor(seq),
                Ok((seq, mut delta)) => {
                    delta.cursor = state.live.cursor(seq);
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

// ---------------------------------------------------------------------------
// Records as the map shows them

/// Names of technicians and positions of sites, which rarely change, kept
/// per replica so that following positions and tickets costs no query.
#[derive(Debug, Default)]
pub struct LiveDirectory {
    names: Mutex<HashMap<Uuid, String>>,
    sites: Mutex<HashMap<Uuid, GeoPoint>>,
}

fn directory(state: &AppState) -> &LiveDirectory {
    &state.live_directory
}

impl LiveDirectory {
    fn name(&self, id: Uuid) -> Option<String> {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn set_name(&self, id: Uuid, name: String) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, name);
    }

    fn site(&self, id: Uuid) -> Option<GeoPoint> {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    fn set_site(&self, id: Uuid, point: GeoPoint) {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, point);
    }
}

fn live_technician(entry: &TechnicianEntry, name: Option<String>) -> Option<LiveTechnician> {
    let position = entry.position?;
    Some(LiveTechnician {
        id: entry.id,
        name,
        status: entry.status.as_str().to_owned(),
        lat: position.point.lat,
        lon: position.point.lon,
        at: (position.at != chrono::DateTime::<Utc>::MIN_UTC).then_some(position.at),
        load: entry.load,
        capacity: entry.capacity,
    })
}

async fn load_names(state: &AppState, tenant_id: Uuid) -> Result<(), StoreError> {
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let technicians = state.store.list_technicians(tenant_id, page).await?;
        for technician in technicians.items {
            directory(state).set_name(technician.id, technician.name);
        }
        match technicians.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(()),
        }
    }
}

async fn site_point(
    state: &AppState,
    tenant_id: Uuid,
    site_id: Uuid,
) -> Result<GeoPoint, StoreError> {
    if let Some(point) = directory(state).site(site_id) {
        return Ok(point);
    }
    let site = state.store.get_site(tenant_id, site_id).await?;
    directory(state).set_site(site_id, site.location);
    Ok(site.location)
}

/// Tickets with their SLA state and site position, for the map.
async fn live_tickets(
    state: &AppState,
    tenant_id: Uuid,
    tickets: Vec<Ticket>,
) -> ApiResult<Vec<LiveTicket>> {
    let missing: HashSet<Uuid> = tickets
        .iter()
        .map(|t| t.site_id)
        .filter(|site| directory(state).site(*site).is_none())
        .collect();
    if missing.len() > 20 {
        let mut page = PageRequest {
            limit: 200,
            after: None,
        };
        loop {
            let sites = state.store.list_sites(tenant_id, page).await?;
            for site in sites.items {
                directory(state).set_site(site.id, site.location);
            }
            match sites.next_after {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
    }
    let views = super::ticket_view::views(state, tenant_id, tickets).await?;
    let mut live = Vec::with_capacity(views.len());
    for view in views {
        let point = site_point(state, tenant_id, view.ticket.site_id).await?;
        let ticket = view.ticket;
        live.push(LiveTicket {
            id: ticket.id,
            number: ticket.number,
            title: ticket.title,
            category: ticket.category,
            priority: ticket.priority.as_str().to_owned(),
            status: ticket.status.as_str().to_owned(),
            assignee_id: ticket.assignee_id,
            lat: point.lat,
            lon: point.lon,
            created_at: ticket.created_at,
            sla: view.sla.and_then(|sla| serde_json::to_value(sla).ok()),
            closed: ticket.status.is_terminal(),
        });
    }
    Ok(live)
}

/// Technicians and open tickets inside `bounds`.
async fn snapshot(
    state: &AppState,
    tenant_id: Uuid,
    bounds: Bounds,
) -> ApiResult<(Vec<LiveTechnician>, Vec<LiveTicket>)> {
    // Through the tenant's R-tree: a small view of a large fleet reads only
    // the technicians in it.
    let entries = state.dispatch.index().in_box(
        tenant_id,
        bounds.south,
        bounds.west,
        bounds.north,
        bounds.east,
    );
    if entries
        .iter()
        .any(|e| directory(state).name(e.id).is_none())
    {
        load_names(state, tenant_id).await?;
    }
    let mut technicians: Vec<LiveTechnician> = entries
        .iter()
        .filter_map(|entry| live_technician(entry, directory(state).name(entry.id)))
        .filter(|t| {
            bounds.contains(GeoPoint {
                lat: t.lat,
                lon: t.lon,
            })
        })
        .collect();
    technicians.sort_by_key(|t| t.id);

    let limit = state.config.live.max_snapshot_tickets;
    let mut open = Vec::new();
    'statuses: for status in Status::ALL.into_iter().filter(|s| !s.is_terminal()) {
        let filter = TicketFilter {
            status: Some(status),
            ..TicketFilter::default()
        };
        let mut page = PageRequest {
            limit: 200,
            after: None,
        };
        loop {
            let tickets = state.store.list_tickets(tenant_id, &filter, page).await?;
            open.extend(tickets.items);
            if open.len() >= limit {
                open.truncate(limit);
                break 'statuses;
            }
            match tickets.next_after {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
    }
    let tickets = live_tickets(state, tenant_id, open)
        .await?
        .into_iter()
        .filter(|t| {
            bounds.contains(GeoPoint {
                lat: t.lat,
                lon: t.lon,
            })
        })
        .collect();
    Ok((technicians, tickets))
}

// ---------------------------------------------------------------------------
// Following the bus

/// Runs for the life of the server: applies other replicas' events to the
/// dispatch index and hands every event to this replica's viewers.
pub async fn follow_events(state: AppState) {
    let mut events = state.events.subscribe();
    let own = state.events.replica_id();
    while let Some(message) = events.recv().await {
        let delivery = match message {
            BusMessage::Resync => {
                state
                    .live
                    .resync_all(&|tenant_id| positions_now(&state, tenant_id));
                continue;
            }
            BusMessage::Event(delivery) => delivery,
        };
        if delivery.origin != own
            && let Err(error) = state
                .dispatch
                .apply(state.store.as_ref(), &delivery.event)
                .await
        {
            tracing::warn!(%error, "cannot apply another replica's event");
        }
        if !state.live.watched(delivery.event.tenant_id) {
            continue;
        }
        if let Err(error) = fan_out(&state, &state.live, &delivery.event).await {
            tracing::warn!(%error, "cannot show an event on the live map");
        }
    }
}

/// Where the index has a tenant's technicians now.
fn positions_now(state: &AppState, tenant_id: Uuid) -> Vec<(Uuid, GeoPoint)> {
    state
        .dispatch
        .index()
        .tenant_entries(tenant_id)
        .iter()
        .filter_map(|entry| Some((entry.id, entry.position?.point)))
        .collect()
}

fn technicians_now(state: &AppState, tenant_id: Uuid, ids: &[Uuid]) -> Vec<LiveTechnician> {
    ids.iter()
        .filter_map(|id| state.dispatch.index().get(*id))
        // Never another tenant's technician, whatever an event claims.
        .filter(|entry| entry.tenant_id == tenant_id)
        .filter_map(|entry| live_technician(&entry, directory(state).name(entry.id)))
        .collect()
}

async fn fan_out(state: &AppState, hub: &LiveHub, event: &crate::events::Event) -> ApiResult<()> {
    let tenant_id = event.tenant_id;
    match &event.kind {
        EventKind::Positions { fixes } => {
            let ids: Vec<Uuid> = fixes.iter().map(|f| f.technician_id).collect();
            hub.technicians(tenant_id, technicians_now(state, tenant_id, &ids));
        }
        EventKind::TechnicianChanged { technician_id, .. } => {
            if let Ok(technician) = state.store.get_technician(tenant_id, *technician_id).await {
                directory(state).set_name(technician.id, technician.name);
            }
            hub.technicians(
                tenant_id,
                technicians_now(state, tenant_id, &[*technician_id]),
            );
        }
        EventKind::TicketCreated { ticket_id }
        | EventKind::TicketUpdated { ticket_id }
        | EventKind::TicketStatus { ticket_id, .. }
        | EventKind::TicketAssigned { ticket_id, .. } => {
            let ticket = match state.store.get_ticket(tenant_id, *ticket_id).await {
                Ok(ticket) => ticket,
                Err(StoreError::NotFound(_)) => return Ok(()),
                Err(other) => return Err(other.into()),
            };
            let mut loads: Vec<Uuid> = ticket.assignee_id.into_iter().collect();
            if let EventKind::TicketAssigned {
                previous: Some(previous),
                ..
            } = &event.kind
            {
                loads.push(*previous);
            }
            for live in live_tickets(state, tenant_id, vec![ticket]).await? {
                hub.ticket(tenant_id, live);
            }
            // Their open-job counts changed.
            hub.technicians(tenant_id, technicians_now(state, tenant_id, &loads));
        }
        EventKind::Offer {
            offer_id,
            ticket_id,
            technician_id,
            state: offer_state,
        } => hub.offer(
            tenant_id,
            LiveOffer {
                offer_id: *offer_id,
                ticket_id: *ticket_id,
                technician_id: *technician_id,
                state: offer_state.as_str().to_owned(),
            },
        ),
        EventKind::SlaNotice {
            ticket_id,
            target,
            kind,
            threshold,
            due_at,
        } => {
            // The ticket as it is now: its SLA state, maybe a raised priority.
            match state.store.get_ticket(tenant_id, *ticket_id).await {
                Ok(ticket) => {
                    for live in live_tickets(state, tenant_id, vec![ticket]).await? {
                        hub.ticket(tenant_id, live);
                    }
                }
                Err(StoreError::NotFound(_)) => return Ok(()),
                Err(other) => return Err(other.into()),
            }
            hub.sla_notice(
                tenant_id,
                LiveSlaNotice {
                    ticket_id: *ticket_id,
                    target: target.as_str().to_owned(),
                    kind: kind.as_str().to_owned(),
                    threshold: *threshold,
                    due_at: *due_at,
                },
            );
        }
    }
    Ok(())
}
