//! `POST /v1/dispatch/batch`: plan (and optionally apply) the assignment of
//! many open tickets at once, minimising total travel.
//!
//! Candidates come from the live index, exactly as for
//! `GET /v1/tickets/{id}/candidates`: same tenant, every required skill at
//! its level, available, on shift now, under capacity, with a position, and
//! inside the territory of the ticket's site when it has one. For `n`
//! tickets each ticket asks the index for its `n` nearest such technicians.
//! That loses nothing: in a plan where a ticket goes to a technician outside
//! its `n` nearest, one of those `n` still has a free slot (the other `n − 1`
//! tickets fill at most `n − 1`), and moving the ticket there is no longer
//! and assigns as many. The same holds for the greedy baseline. Past
//! [`MAX_CANDIDATES_PER_TICKET`] tickets the lists are cut at that many
//! (and the solver is the heuristic anyway).
//!
//! Required parts (issue 23) count as for candidates: under the category's
//! `require` policy a ticket's edges are only to technicians whose van holds
//! every required part (looked up by id among the holders, so they are found
//! however far away); under `prefer` the holders' edges are added to the
//! nearest ones and every non-holder's edge costs [`prefer_bonus_m`] more to
//! the solver (the bonus candidates give, as travel) — reported distances
//! and totals are the real ones. Each step says what the van holds
//! (`van_parts`). Holdings are the vans' current stock per ticket: a batch
//! does not reserve one van's stock between its own tickets.
//!
//! The plan is computed by [`crate::dispatch::batch::solve`]. Applying it
//! goes through `assign_to` — the store's locking transaction — one ticket
//! at a time; a step that conflicts by then (the ticket changed, the
//! technician filled up or lost a skill) is reported in `unassigned` with
//! the reason, never forced.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, PoisonError},
};

use axum::{Json, extract::State};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use truckroll_sync::Status;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    super::{
        AppState,
        error::{ApiError, ApiResult, Problem},
        extract::{ApiJson, AuthUser, MAX_PAGE_SIZE},
    },
    assign_to,
};
use crate::{
    dispatch::{
        NearestQuery, TechnicianEntry,
        batch::{Edge, Instance, Method, Solution, solve, solve_greedy},
        parts::{PartsNeed, prefer_bonus_m},
    },
    domain::{
        ValidationErrors, geo::GeoPoint, permissions::Action, territory::CompiledBoundary,
        ticket::Ticket,
    },
    store::{PageRequest, StoreError, TicketFilter},
};

/// Most tickets one request may name.
pub const MAX_BATCH_TICKETS: usize = 2000;
/// Most `new` tickets taken when the request names none (oldest first).
pub const DEFAULT_BATCH_TICKETS: usize = 500;
/// Most candidates asked of the index per ticket.
pub const MAX_CANDIDATES_PER_TICKET: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Tickets to plan (1 to 2000, no repeats); their order is the greedy
    /// baseline's order. Omit to plan every `new` ticket of the tenant,
    /// oldest first, up to 500.
    pub ticket_ids: Option<Vec<Uuid>>,
    /// `true`: only plan. `false`: plan and assign.
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BatchStep {
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    /// Great-circle distance from the technician's position to the site.
    pub distance_m: f64,
    /// The ticket's required parts in the technician's van, in words
    /// ("has 2 × compressor relay in van"); absent when none are required.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub van_parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BatchUnassigned {
    pub ticket_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BatchPlan {
    /// Planned (dry run) or made (otherwise) assignments, in ticket order.
    pub plan: Vec<BatchStep>,
    /// Tickets left out, and why.
    pub unassigned: Vec<BatchUnassigned>,
    /// Travel of the computed plan. It assigns as many tickets as possible
    /// and, among those plans, travels least (exactly when `method` is
    /// `exact`).
    pub total_distance_m: f64,
    /// Travel of the greedy baseline: each ticket in order takes the nearest
    /// qualified technician with a free slot.
    pub greedy_total_distance_m: f64,
    /// `greedy_total_distance_m − total_distance_m`.
    pub saved_m: f64,
    /// `saved_m` as a percentage of the greedy travel (0 when that is 0).
    pub saved_percent: f64,
    /// Tickets the computed plan assigns (before applying it).
    pub assigned: usize,
    /// Tickets the greedy baseline assigns; may be fewer, which makes its
    /// total not comparable.
    pub greedy_assigned: usize,
    pub method: Method,
    pub dry_run: bool,
}

/// Plan the assignment of many open tickets at once, minimising total
/// travel subject to skills, shifts and capacity; compare with the greedy
/// one-by-one order; assign unless `dry_run`. Only `new` tickets are planned;
/// others are reported in `unassigned`.
#[utoipa::path(post, path = "/v1/dispatch/batch", tag = "dispatch", request_body = BatchRequest, security(("bearer" = [])),
    responses((status = 200, body = BatchPlan), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(dry_run = request.dry_run))]
pub(super) async fn batch_assign(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchPlan>> {
    user.require(Action::TicketsManage)?;
    // Real runs of one tenant take turns on this server, so a second batch
    // plans with the first one's assignments already made.
    let turn = tenant_turn(user.tenant_id);
    let _turn = if request.dry_run {
        None
    } else {
        Some(turn.lock().await)
    };
    let mut unassigned = Vec::new();
    let tickets = match &request.ticket_ids {
        Some(ids) => named_tickets(&state, &user, ids, &mut unassigned).await?,
        None => new_tickets(&state, &user).await?,
    };
    // Where each ticket is, and the territory its technicians must be in.
    type Place = (GeoPoint, Option<Arc<CompiledBoundary>>);
    let mut places: HashMap<Uuid, Place> = HashMap::new();
    let mut territories: HashMap<Uuid, Option<Arc<CompiledBoundary>>> = HashMap::new();
    let mut planned = Vec::with_capacity(tickets.len());
    for ticket in tickets {
        let place = match places.get(&ticket.site_id) {
            Some(place) => place.clone(),
            None => {
                let site = state.store.get_site(user.tenant_id, ticket.site_id).await?;
                let territory = match site.territory_id {
                    Some(id) => match territories.get(&id) {
                        Some(boundary) => boundary.clone(),
                        None => {
                            let boundary =
                                state.store.territory_boundary(user.tenant_id, id).await?;
                            territories.insert(id, boundary.clone());
                            boundary
                        }
                    },
                    None => None,
                };
                let place = (site.location, territory);
                places.insert(ticket.site_id, place.clone());
                place
            }
        };
        let need = PartsNeed::load(state.store.as_ref(), &ticket).await?;
        planned.push((ticket, place, need));
    }

    let away =
        crate::dispatch::calendar::Away::at(&*state.store, user.tenant_id, Utc::now()).await?;
    // Index queries and the solver are CPU work: off the async workers.
    let dispatch = state.dispatch.clone();
    let tenant_id = user.tenant_id;
    let bonus_m = prefer_bonus_m(&state.dispatch);
    let (planned, technicians, instance, optimal, greedy, penalties) =
        tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            let k = planned.len().clamp(1, MAX_CANDIDATES_PER_TICKET);
            let mut technicians: Vec<Uuid> = Vec::new();
            let mut capacity: Vec<u32> = Vec::new();
            let mut position: HashMap<Uuid, usize> = HashMap::new();
            let mut per_ticket = Vec::with_capacity(planned.len());
            // (ticket, technician) → metres the solver's cost adds (prefer).
            let mut penalties: HashMap<(usize, usize), f64> = HashMap::new();
            for (t, (ticket, (site, territory), need)) in planned.iter().enumerate() {
                let inside = |entry: &TechnicianEntry| {
                    away.allows(entry.id)
                        && entry.position.is_some_and(|fix| {
                            territory.as_ref().is_none_or(|t| t.covers(fix.point))
                        })
                };
                let query = NearestQuery::new(tenant_id, *site, k, now)
                    .with_skills(&ticket.required_skills)
                    .with_filter(&inside);
                let index = dispatch.index();
                let found = match need {
                    None => index.nearest(&query),
                    Some(need) => {
                        let holders = need.holders();
                        let among = index.nearest_among(&query, &holders);
                        if need.required_in_van() {
                            among
                        } else {
                            among.and_then(|mut found| {
                                for other in index.nearest(&query)? {
                                    if !found.iter().any(|c| c.technician_id == other.technician_id)
                                    {
                                        found.push(other);
                                    }
                                }
                                Ok(found)
                            })
                        }
                    }
                };
                let found = found.unwrap_or_else(|error| {
                    // Stored sites are validated; never expected.
                    tracing::warn!(%error, ticket = %ticket.id, "no candidates for the site");
                    Vec::new()
                });
                let edges: Vec<Edge> = found
                    .into_iter()
                    .map(|candidate| {
                        let technician =
                            *position.entry(candidate.technician_id).or_insert_with(|| {
                                technicians.push(candidate.technician_id);
                                capacity.push(candidate.capacity.saturating_sub(candidate.load));
                                technicians.len() - 1
                            });
                        let penalty = match need {
                            Some(need) if !need.holds_all(candidate.technician_id) => bonus_m,
                            _ => 0.0,
                        };
                        if penalty > 0.0 {
                            penalties.insert((t, technician), penalty);
                        }
                        Edge {
                            technician,
                            distance_m: candidate.distance_m + penalty,
                        }
                    })
                    .collect();
                per_ticket.push(edges);
            }
            let mut instance = Instance::new(capacity);
            for edges in per_ticket {
                instance.push_ticket(edges);
            }
            let optimal = solve(&instance);
            let greedy = solve_greedy(&instance);
            (planned, technicians, instance, optimal, greedy, penalties)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("batch planner: {e}")))?;

    // Real distances: the solver's preference costs left out.
    let real = |ticket: usize, technician: usize| {
        instance.distance(ticket, technician).unwrap_or_default()
            - penalties
                .get(&(ticket, technician))
                .copied()
                .unwrap_or_default()
    };
    let travelled = |solution: &Solution| -> f64 {
        solution
            .assignment
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| real(i, t)))
            .sum()
    };
    let total = travelled(&optimal);
    let greedy_total = travelled(&greedy);
    let saved = greedy_total - total;
    let mut plan = Vec::new();
    for (index, (ticket, _, need)) in planned.iter().enumerate() {
        match optimal.assignment[index] {
            Some(technician) => {
                let technician_id = technicians[technician];
                let step = BatchStep {
                    ticket_id: ticket.id,
                    technician_id,
                    distance_m: real(index, technician),
                    van_parts: need
                        .as_ref()
                        .map(|need| need.reasons(technician_id))
                        .unwrap_or_default(),
                };
                if request.dry_run {
                    plan.push(step);
                } else {
                    match apply(&state, &user, ticket, &step).await? {
                        None => plan.push(step),
                        Some(reason) => unassigned.push(BatchUnassigned {
                            ticket_id: ticket.id,
                            reason,
                        }),
                    }
                }
            }
            None => unassigned.push(BatchUnassigned {
                ticket_id: ticket.id,
                reason: why_unplanned(
                    &instance,
                    index,
                    need.as_ref().is_some_and(PartsNeed::required_in_van),
                ),
            }),
        }
    }
    Ok(Json(BatchPlan {
        plan,
        unassigned,
        total_distance_m: total,
        greedy_total_distance_m: greedy_total,
        saved_m: saved,
        saved_percent: if greedy_total > 0.0 {
            saved / greedy_total * 100.0
        } else {
            0.0
        },
        assigned: optimal.assigned(),
        greedy_assigned: greedy.assigned(),
        method: optimal.method,
        dry_run: request.dry_run,
    }))
}

/// The lock real runs of `tenant_id` take turns on.
fn tenant_turn(tenant_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
    type Turns = HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>;
    static TURNS: LazyLock<Mutex<Turns>> = LazyLock::new(Mutex::default);
    let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
    // Forget the locks nobody holds or waits for.
    turns.retain(|_, turn| Arc::strong_count(turn) > 1);
    Arc::clone(turns.entry(tenant_id).or_default())
}

fn why_unplanned(instance: &Instance, ticket: usize, parts_required: bool) -> String {
    if instance.edges(ticket).is_empty() && parts_required {
        "no qualified technician available now has the required parts in their van".into()
    } else if instance.edges(ticket).is_empty() {
        "no qualified technician is available now".into()
    } else {
        "every qualified technician's free slots went to other tickets of this batch".into()
    }
}

/// Whether `ticket` can be planned: `new` and unassigned.
fn not_open(ticket: &Ticket) -> Option<String> {
    if ticket.status != Status::New || ticket.assignee_id.is_some() {
        Some(format!("the ticket is {}, not new", ticket.status))
    } else {
        None
    }
}

/// The named tickets that can be planned, in request order; the others go
/// to `unassigned` with the reason.
async fn named_tickets(
    state: &AppState,
    user: &AuthUser,
    ids: &[Uuid],
    unassigned: &mut Vec<BatchUnassigned>,
) -> ApiResult<Vec<Ticket>> {
    if ids.is_empty() || ids.len() > MAX_BATCH_TICKETS {
        return Err(ValidationErrors::single(
            "ticket_ids",
            format!("give 1 to {MAX_BATCH_TICKETS} tickets, or omit for every new ticket"),
        )
        .into());
    }
    let mut seen = HashMap::new();
    let mut errors = ValidationErrors::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(*id, i) {
            errors.add(
                format!("ticket_ids[{i}]"),
                format!("repeats ticket_ids[{first}]"),
            );
        }
    }
    errors.into_result()?;
    let mut tickets = Vec::with_capacity(ids.len());
    for id in ids {
        match state.store.get_ticket(user.tenant_id, *id).await {
            Ok(ticket) => match not_open(&ticket) {
                None => tickets.push(ticket),
                Some(reason) => unassigned.push(BatchUnassigned {
                    ticket_id: *id,
                    reason,
                }),
            },
            Err(StoreError::NotFound(_)) => unassigned.push(BatchUnassigned {
                ticket_id: *id,
                reason: "no such ticket".into(),
            }),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(tickets)
}

/// Every `new` ticket of the tenant, oldest first, up to the default limit.
async fn new_tickets(state: &AppState, user: &AuthUser) -> ApiResult<Vec<Ticket>> {
    let filter = TicketFilter {
        status: Some(Status::New),
        ..TicketFilter::default()
    };
    let mut tickets = Vec::new();
    let mut after = None;
    while tickets.len() < DEFAULT_BATCH_TICKETS {
        let want = (DEFAULT_BATCH_TICKETS - tickets.len()).min(MAX_PAGE_SIZE as usize);
        let page = state
            .store
            .list_tickets(
                user.tenant_id,
                &filter,
                PageRequest {
                    limit: u32::try_from(want).unwrap_or(u32::MAX),
                    after,
                },
            )
            .await?;
        tickets.extend(
            page.items
                .into_iter()
                .filter(|ticket| not_open(ticket).is_none()),
        );
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tickets.truncate(DEFAULT_BATCH_TICKETS);
    Ok(tickets)
}

/// Makes one planned assignment; `Some(reason)` when it conflicts now.
async fn apply(
    state: &AppState,
    user: &AuthUser,
    planned: &Ticket,
    step: &BatchStep,
) -> ApiResult<Option<String>> {
    // Re-read just before the locking transaction, so a ticket someone else
    // assigned or changed since it was planned is left alone.
    let current = match state.store.get_ticket(user.tenant_id, planned.id).await {
        Ok(current) => current,
        Err(StoreError::NotFound(_)) => return Ok(Some("the ticket no longer exists".into())),
        Err(other) => return Err(other.into()),
    };
    if let Some(reason) = not_open(&current) {
        return Ok(Some(format!("changed since planned: {reason}")));
    }
    if current.updated_at != planned.updated_at {
        return Ok(Some(
            "the ticket was changed by someone else since it was planned".into(),
        ));
    }
    match assign_to(state, user, &current, step.technician_id, "technician_id").await {
        Ok(_) => Ok(None),
        Err(ApiError::Conflict(reason)) => {
            // The index thought there was room (another server booked the
            // technician): tell it the load the database counts.
            let load = state
                .store
                .technician_load(user.tenant_id, step.technician_id)
                .await?;
            state.dispatch.load_changed(step.technician_id, load);
            Ok(Some(reason))
        }
        Err(ApiError::Validation(errors)) => Ok(Some(
            errors
                .0
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(ApiError::NotFound(what)) => Ok(Some(format!("{what} not found"))),
        Err(other) => Err(other),
    }
}
