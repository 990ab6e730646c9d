//! Day plans over the store: gather a day's jobs and technicians, plan them
//! (`plan.rs`), keep the plan, and apply it — every assignment and window
//! in one transaction, or nothing.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    active_technicians,
    plan::{
        PlanInput, PlanJob, PlanShift, PlannedRoute, SolverBudget, Unplanned, solve, solve_greedy,
    },
    window_text,
};
use crate::{
    device_sync::{Draft, Step},
    dispatch::AssignmentFlow,
    domain::{
        schedule::{
            DEFAULT_DURATION_MINUTES, TravelModel, WindowSource, day_start, shift_intervals,
            subtract,
        },
        territory::CompiledBoundary,
    },
    events::{Event, EventKind},
    store::{
        Actor, StoreError,
        schedule::{DayPlanRecord, PlanStep, WindowSet},
    },
};

/// Most tickets one plan takes.
pub const MAX_PLAN_TICKETS: u32 = 500;

/// What a day plan holds beside its routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DayPlan {
    pub id: Uuid,
    #[schema(value_type = String, example = "2026-12-08")]
    pub day: NaiveDate,
    pub territory_id: Option<Uuid>,
    /// `proposed` or `applied`.
    pub state: String,
    /// The solver and its version.
    pub solver: String,
    pub routes: Vec<PlannedRoute>,
    pub unassigned: Vec<Unplanned>,
    pub total_distance_m: f64,
    pub total_travel_seconds: i64,
    /// The cheapest-insertion baseline on the same jobs, for comparison.
    pub greedy_total_distance_m: f64,
    pub greedy_unassigned: usize,
    /// Time the solver took.
    pub planning_ms: u64,
    /// Each planned ticket's `updated_at` when planned: applying refuses
    /// tickets changed since.
    pub basis: HashMap<Uuid, DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DayPlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Solver(#[from] super::plan::PlanError),
    #[error("stored plan: {0}")]
    Body(#[from] serde_json::Error),
    #[error("the planner stopped: {0}")]
    Join(String),
}

/// The stored part of a plan.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    solver: String,
    routes: Vec<PlannedRoute>,
    unassigned: Vec<Unplanned>,
    total_distance_m: f64,
    total_travel_seconds: i64,
    greedy_total_distance_m: f64,
    greedy_unassigned: usize,
    planning_ms: u64,
    basis: HashMap<Uuid, DateTime<Utc>>,
}

fn view(record: DayPlanRecord) -> Result<DayPlan, DayPlanError> {
    let body: Body = serde_json::from_str(&record.body)?;
    Ok(DayPlan {
        id: record.id,
        day: record.day,
        territory_id: record.territory_id,
        state: record.state,
        solver: body.solver,
        routes: body.routes,
        unassigned: body.unassigned,
        total_distance_m: body.total_distance_m,
        total_travel_seconds: body.total_travel_seconds,
        greedy_total_distance_m: body.greedy_total_distance_m,
        greedy_unassigned: body.greedy_unassigned,
        planning_ms: body.planning_ms,
        basis: body.basis,
        created_at: record.created_at,
        applied_at: record.applied_at,
    })
}

/// Plans over the assignment flow's handles.
#[derive(Debug, Clone, Copy)]
pub struct DayPlanner<'a> {
    pub flow: AssignmentFlow<'a>,
    pub travel: TravelModel,
}

impl DayPlanner<'_> {
    pub async fn get(&self, tenant_id: Uuid, id: Uuid) -> Result<DayPlan, DayPlanError> {
        view(self.flow.store.get_day_plan(tenant_id, id).await?)
    }

    /// Plans local `day` (the tenant's time zone) for the tenant, or for the
    /// sites of a territory and the technicians whose home base is inside it.
    pub async fn propose(
        &self,
        actor: Actor,
        day: NaiveDate,
        territory: Option<(Uuid, Option<std::sync::Arc<CompiledBoundary>>)>,
        budget: SolverBudget,
    ) -> Result<DayPlan, DayPlanError> {
        let store = self.flow.store;
        let tenant_id = actor.tenant_id;
        let zone = store.tenant_settings(tenant_id).await?.time_zone;
        let (Some(from), Some(to)) = (
            day_start(&zone, day),
            day.succ_opt().and_then(|next| day_start(&zone, next)),
        ) else {
            return Err(StoreError::Corrupt(format!("tenant time zone {zone}")).into());
        };
        let territory_id = territory.as_ref().map(|(id, _)| *id);
        let ids = store
            .plan_ticket_ids(tenant_id, from, to, territory_id, MAX_PLAN_TICKETS)
            .await?;
        let mut jobs = Vec::with_capacity(ids.len());
        let mut basis = HashMap::new();
        let mut sites = HashMap::new();
        for id in ids {
            let ticket = store.get_ticket(tenant_id, id).await?;
            let point = match sites.get(&ticket.site_id) {
                Some(point) => *point,
                None => {
                    let point = store.get_site(tenant_id, ticket.site_id).await?.location;
                    sites.insert(ticket.site_id, point);
                    point
                }
            };
            let window = store.ticket_window(tenant_id, id).await?;
            let minutes = match &window {
                Some(w) => w.duration_minutes,
                None => store
                    .category_duration(tenant_id, &ticket.category)
                    .await?
                    .unwrap_or(DEFAULT_DURATION_MINUTES),
            };
            basis.insert(ticket.id, ticket.updated_at);
            let fixed_to = ticket
                .assignee_id
                .or(window.as_ref().and_then(|w| w.technician_id));
            // Under the `require` parts policy only vans holding the
            // ticket's required parts qualify (an assigned job stays put).
            let only = match fixed_to {
                Some(_) => None,
                None => crate::dispatch::parts::PartsNeed::load(store, &ticket)
                    .await?
                    .filter(crate::dispatch::parts::PartsNeed::required_in_van)
                    .map(|need| need.holders()),
            };
            jobs.push(PlanJob {
                ticket_id: ticket.id,
                point,
                window: window.as_ref().map(|w| (w.starts_at, w.ends_at)),
                duration: Duration::minutes(i64::from(minutes)),
                required_skills: ticket.required_skills.clone(),
                fixed_to,
                only,
            });
        }
        let holiday = !store.list_holidays(tenant_id, day, day).await?.is_empty();
        let mut shifts = Vec::new();
        if !holiday {
            let boundary = territory.as_ref().and_then(|(_, b)| b.clone());
            let absences = store
                .list_absences(
                    tenant_id,
                    None,
                    from - Duration::days(1),
                    to + Duration::days(1),
                )
                .await?;
            for technician in active_technicians(store, tenant_id).await? {
                let Some(home) = technician.home_base else {
                    continue;
                };
                if territory.is_some() && !boundary.as_ref().is_some_and(|b| b.covers(home)) {
                    continue;
                }
                let away: Vec<_> = absences
                    .iter()
                    .filter(|a| a.technician_id == technician.id)
                    .map(|a| (a.starts_at, a.ends_at))
                    .collect();
                let worked = shift_intervals(&technician.shifts, &technician.time_zone, day);
                for interval in subtract(&worked, &away) {
                    shifts.push(PlanShift {
                        technician_id: technician.id,
                        home,
                        shift: interval,
                        skills: technician.skills.clone(),
                    });
                }
            }
        }
        let input = PlanInput {
            jobs,
            shifts,
            travel: self.travel,
        };
        let (solved, greedy, planning_ms) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let solved = solve(&input, budget);
            let planning_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            (solved, solve_greedy(&input), planning_ms)
        })
        .await
        .map_err(|e| DayPlanError::Join(e.to_string()))?;
        let solved = solved?;
        let body = Body {
            solver: "vrp-core 1.25".into(),
            routes: solved.routes,
            unassigned: solved.unassigned,
            total_distance_m: solved.total_distance_m,
            total_travel_seconds: solved.total_travel_seconds,
            greedy_total_distance_m: greedy.total_distance_m,
            greedy_unassigned: greedy.unassigned.len(),
            planning_ms,
            basis,
        };
        let record = store
            .create_day_plan(actor, day, territory_id, &serde_json::to_string(&body)?)
            .await?;
        view(record)
    }

    /// Applies a proposed plan: assigns its `new` tickets to their planned
    /// technicians and books a window (the planned visit) on tickets without
    /// one, all in one transaction; a ticket changed since planning refuses
    /// the whole plan (`Conflict`).
    pub async fn apply(&self, actor: Actor, id: Uuid) -> Result<DayPlan, DayPlanError> {
        let store = self.flow.store;
        let plan = self.get(actor.tenant_id, id).await?;
        if plan.state != "proposed" {
            return Err(StoreError::Conflict("the plan was already applied".into()).into());
        }
        let zone = store.tenant_settings(actor.tenant_id).await?.time_zone;
        let mut steps = Vec::new();
        for route in &plan.routes {
            for visit in &route.visits {
                let ticket = store.get_ticket(actor.tenant_id, visit.ticket_id).await?;
                let based_on = plan
                    .basis
                    .get(&ticket.id)
                    .copied()
                    .unwrap_or(ticket.updated_at);
                if ticket.updated_at != based_on {
                    return Err(StoreError::Conflict(format!(
                        "{} was changed since the plan was made; plan again",
                        ticket.number
                    ))
                    .into());
                }
                let assign = if ticket.assignee_id.is_none() {
                    let mut draft = Draft::load(store, &ticket).await?;
                    let current = draft.current(&ticket);
                    draft
                        .step(Step::assign(current.status, route.technician_id))
                        .map_err(|e| {
                            StoreError::Conflict(format!(
                                "{} cannot be assigned now: {e}",
                                ticket.number
                            ))
                        })?;
                    Some(draft.server_write(&ticket).ok_or_else(|| {
                        StoreError::Conflict(format!("{} needs no assignment", ticket.number))
                    })?)
                } else {
                    None
                };
                let minutes = (visit.end_at - visit.start_at).num_minutes().max(5);
                steps.push(PlanStep {
                    ticket_id: ticket.id,
                    technician_id: route.technician_id,
                    based_on,
                    assign,
                    window: WindowSet {
                        starts_at: visit.start_at,
                        ends_at: visit.end_at,
                        duration_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
                        // The assignee does it; a plan's visits may sit inside
                        // another job's promised window.
                        technician_id: None,
                        source: WindowSource::Plan,
                        notice_text: window_text(&zone, visit.start_at, visit.end_at),
                    },
                    planned_start: visit.start_at,
                });
            }
        }
        let assigned = store.apply_day_plan(actor, id, &steps).await?;
        for (before, after) in &assigned {
            self.flow.after_change(before, after).await?;
            if let Some(technician) = after.assignee_id
                && let Ok(technician) = store.get_technician(actor.tenant_id, technician).await
            {
                crate::push::notify_assigned(store, after, technician.user_id).await;
            }
        }
        for step in &steps {
            self.flow.events.publish(Event::new(
                actor.tenant_id,
                EventKind::TicketUpdated {
                    ticket_id: step.ticket_id,
                },
            ));
        }
        self.get(actor.tenant_id, id).await
    }
}
