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
        OpenRoute, PlanInput, PlanJob, PlanShift, PlannedRoute, PlannedVisit, SolverBudget,
        Unplanned, cheapest_insertion, job_weight, solve, solve_greedy,
    },
    travel::{RoadNetwork, TravelNote},
    window_text,
};
use truckroll_sync::Status;

use crate::{
    device_sync::{Draft, Step},
    dispatch::AssignmentFlow,
    domain::{
        schedule::{
            DEFAULT_DURATION_MINUTES, Interval, RoadTravel, TravelModel, WindowSource,
            breaks_within, day_start, shift_breaks, shift_intervals, subtract,
        },
        territory::CompiledBoundary,
        ticket::Ticket,
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
    /// Where the driving times came from (the road network, or the
    /// great-circle estimate and why).
    pub travel: TravelNote,
    /// The plan this one re-planned (an urgent job inserted), if any.
    pub replaces: Option<Uuid>,
    /// Each planned ticket's `updated_at` when planned: applying refuses
    /// tickets changed since.
    pub basis: HashMap<Uuid, DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

/// The urgent job's place in a re-planned day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InsertedVisit {
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
}

/// A visit that starts at another time after re-planning (same
/// technician: re-planning moves no job to someone else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MovedVisit {
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    pub from_start: DateTime<Utc>,
    pub to_start: DateTime<Utc>,
}

/// `POST /v1/schedule/plans/{id}/insert`: the new plan and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Insertion {
    /// The new proposed plan (its `replaces` names the old one); apply it
    /// as any plan.
    pub plan: DayPlan,
    pub inserted: Option<InsertedVisit>,
    /// Every other visit whose start changed; all keep their technician.
    pub moved: Vec<MovedVisit>,
    /// Driving the insertion adds to its route.
    pub added_travel_seconds: i64,
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
    #[serde(default)]
    travel: TravelNote,
    #[serde(default)]
    replaces: Option<Uuid>,
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
        travel: body.travel,
        replaces: body.replaces,
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
    /// The OSRM-compatible road network, when configured.
    pub roads: Option<&'a RoadNetwork>,
    /// Metres a non-holder costs more under the `prefer` parts policy
    /// (`dispatch::parts::prefer_bonus_m`, as batch assignment).
    pub prefer_penalty_m: f64,
}

impl DayPlanner<'_> {
    pub async fn get(&self, tenant_id: Uuid, id: Uuid) -> Result<DayPlan, DayPlanError> {
        view(self.flow.store.get_day_plan(tenant_id, id).await?)
    }

    /// The first instants of local `day` and of the next in the tenant's zone.
    async fn day_bounds(&self, tenant_id: Uuid, day: NaiveDate) -> Result<Interval, DayPlanError> {
        let zone = self.flow.store.tenant_settings(tenant_id).await?.time_zone;
        match (
            day_start(&zone, day),
            day.succ_opt().and_then(|next| day_start(&zone, next)),
        ) {
            (Some(from), Some(to)) => Ok((from, to)),
            _ => Err(StoreError::Corrupt(format!("tenant time zone {zone}")).into()),
        }
    }

    /// The jobs of `tickets` for a day ending at `day_end`, and each
    /// ticket's `updated_at` (the plan's basis).
    async fn jobs_of(
        &self,
        tenant_id: Uuid,
        tickets: Vec<Ticket>,
        day_end: DateTime<Utc>,
    ) -> Result<(Vec<PlanJob>, HashMap<Uuid, DateTime<Utc>>), DayPlanError> {
        let store = self.flow.store;
        // An SLA arrival deadline before the day ends weighs the job more.
        let slas = crate::sla::view::evaluate(store, tenant_id, &tickets, Utc::now()).await?;
        let mut jobs = Vec::with_capacity(tickets.len());
        let mut basis = HashMap::new();
        let mut sites = HashMap::new();
        for (ticket, sla) in tickets.into_iter().zip(slas) {
            let id = ticket.id;
            let deadline_in_day = sla
                .and_then(|sla| sla.arrival)
                .is_some_and(|clock| clock.stopped_at.is_none() && clock.deadline < day_end);
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
            // ticket's required parts qualify, under `prefer` the others
            // cost more (an assigned job stays put).
            let need = match fixed_to {
                Some(_) => None,
                None => crate::dispatch::parts::PartsNeed::load(store, &ticket).await?,
            };
            let (only, preferred) = match need {
                Some(need) if need.required_in_van() => (Some(need.holders()), None),
                Some(need) => (None, Some(need.holders())),
                None => (None, None),
            };
            jobs.push(PlanJob {
                ticket_id: ticket.id,
                point,
                window: window.as_ref().map(|w| (w.starts_at, w.ends_at)),
                duration: Duration::minutes(i64::from(minutes)),
                required_skills: ticket.required_skills.clone(),
                fixed_to,
                only,
                preferred,
                weight: job_weight(ticket.priority, deadline_in_day),
            });
        }
        Ok((jobs, basis))
    }

    /// Every working interval of local `day` (`[from, to)`): shifts less
    /// absences, nobody on a holiday, only technicians based inside the
    /// territory when one is given.
    async fn shifts_of(
        &self,
        tenant_id: Uuid,
        day: NaiveDate,
        (from, to): Interval,
        territory: Option<&(Uuid, Option<std::sync::Arc<CompiledBoundary>>)>,
    ) -> Result<Vec<PlanShift>, DayPlanError> {
        let store = self.flow.store;
        let mut shifts = Vec::new();
        if !store.list_holidays(tenant_id, day, day).await?.is_empty() {
            return Ok(shifts);
        }
        let boundary = territory.and_then(|(_, b)| b.clone());
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
            let breaks = shift_breaks(&technician.shifts, &technician.time_zone, day);
            for interval in subtract(&worked, &away) {
                shifts.push(PlanShift {
                    technician_id: technician.id,
                    home,
                    shift: interval,
                    skills: technician.skills.clone(),
                    breaks: breaks_within(&breaks, interval),
                });
            }
        }
        Ok(shifts)
    }

    /// Driving times between the homes and the jobs: the road network's
    /// when configured and answering, else the great-circle estimate.
    async fn travel_for(&self, jobs: &[PlanJob], shifts: &[PlanShift]) -> (RoadTravel, TravelNote) {
        let estimated = |detail: &str| TravelNote {
            source: "great_circle".into(),
            detail: detail.into(),
            legs_from_network: 0,
            legs_cached: 0,
        };
        match self.roads {
            Some(roads) if !jobs.is_empty() && !shifts.is_empty() => {
                let points: Vec<_> = shifts
                    .iter()
                    .map(|s| s.home)
                    .chain(jobs.iter().map(|j| j.point))
                    .collect();
                roads.travel(&points, self.travel).await
            }
            Some(_) => (self.travel.into(), estimated("nothing to route")),
            None => (
                self.travel.into(),
                estimated("no road network configured ([schedule] osrm_url)"),
            ),
        }
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
        let (from, to) = self.day_bounds(tenant_id, day).await?;
        let territory_id = territory.as_ref().map(|(id, _)| *id);
        let ids = store
            .plan_ticket_ids(tenant_id, from, to, territory_id, MAX_PLAN_TICKETS)
            .await?;
        let mut tickets = Vec::with_capacity(ids.len());
        for id in ids {
            tickets.push(store.get_ticket(tenant_id, id).await?);
        }
        let (jobs, basis) = self.jobs_of(tenant_id, tickets, to).await?;
        let shifts = self
            .shifts_of(tenant_id, day, (from, to), territory.as_ref())
            .await?;
        let (travel, travel_note) = self.travel_for(&jobs, &shifts).await;
        let input = PlanInput {
            jobs,
            shifts,
            travel,
            prefer_penalty_m: self.prefer_penalty_m,
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
            travel: travel_note,
            replaces: None,
        };
        let record = store
            .create_day_plan(actor, day, territory_id, &serde_json::to_string(&body)?)
            .await?;
        view(record)
    }

    /// Re-planning: puts `ticket_id` (an urgent job) into plan `id`
    /// (proposed or applied) with the least disruption — every other job
    /// keeps its technician and its place in the order; the job goes where
    /// it adds the least driving among the positions every route can still
    /// drive (windows, shifts, skills), never before a visit already started
    /// or due to have started. Stored as a new proposed plan that replaces
    /// `id`; the answer lists what moved. `Conflict` when nowhere fits.
    pub async fn insert(
        &self,
        actor: Actor,
        id: Uuid,
        ticket_id: Uuid,
        territory: Option<(Uuid, Option<std::sync::Arc<CompiledBoundary>>)>,
    ) -> Result<Insertion, DayPlanError> {
        let store = self.flow.store;
        let tenant_id = actor.tenant_id;
        let plan = self.get(tenant_id, id).await?;
        let urgent = store.get_ticket(tenant_id, ticket_id).await?;
        if plan
            .routes
            .iter()
            .flat_map(|r| &r.visits)
            .any(|v| v.ticket_id == ticket_id)
        {
            return Err(
                StoreError::Conflict(format!("{} is already in the plan", urgent.number)).into(),
            );
        }
        if !matches!(
            urgent.status,
            Status::New | Status::Assigned | Status::Accepted
        ) {
            return Err(StoreError::Conflict(format!(
                "{} is {} and cannot be planned",
                urgent.number,
                urgent.status.as_str()
            ))
            .into());
        }
        let (from, to) = self.day_bounds(tenant_id, plan.day).await?;
        let mut tickets = vec![urgent];
        for visit in plan.routes.iter().flat_map(|r| &r.visits) {
            tickets.push(store.get_ticket(tenant_id, visit.ticket_id).await?);
        }
        let started: std::collections::HashSet<Uuid> = tickets
            .iter()
            .filter(|t| !matches!(t.status, Status::New | Status::Assigned | Status::Accepted))
            .map(|t| t.id)
            .collect();
        let (jobs, basis) = self.jobs_of(tenant_id, tickets, to).await?;
        let shifts = self
            .shifts_of(tenant_id, plan.day, (from, to), territory.as_ref())
            .await?;
        let (travel, travel_note) = self.travel_for(&jobs, &shifts).await;
        let input = PlanInput {
            jobs,
            shifts,
            travel,
            prefer_penalty_m: self.prefer_penalty_m,
        };
        let now = Utc::now();
        let index: HashMap<Uuid, usize> = input
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.ticket_id, i))
            .collect();
        // Each stored route on its shift; a route whose shift is no longer
        // worked keeps its jobs and takes nothing more.
        let mut open = Vec::new();
        let mut kept: Vec<PlannedRoute> = Vec::new();
        for route in &plan.routes {
            let shift = input.shifts.iter().position(|s| {
                s.technician_id == route.technician_id && s.shift.0 == route.shift_start
            });
            let order: Vec<usize> = route
                .visits
                .iter()
                .filter_map(|v| index.get(&v.ticket_id).copied())
                .collect();
            // Nothing goes before a visit begun or due to have begun.
            let earliest = route
                .visits
                .iter()
                .rposition(|v| started.contains(&v.ticket_id) || v.start_at <= now)
                .map_or(0, |i| i + 1);
            match shift {
                Some(shift) if order.len() == route.visits.len() => open.push(OpenRoute {
                    shift,
                    order,
                    earliest,
                }),
                _ => {}
            }
            kept.push(route.clone());
        }
        for (s, shift) in input.shifts.iter().enumerate() {
            if !open.iter().any(|r| r.shift == s)
                && !kept.iter().any(|r| {
                    r.technician_id == shift.technician_id && r.shift_start == shift.shift.0
                })
            {
                open.push(OpenRoute {
                    shift: s,
                    order: Vec::new(),
                    earliest: 0,
                });
            }
        }
        let Some((new_route, added_travel_seconds)) = cheapest_insertion(&input, 0, &open) else {
            return Err(StoreError::Conflict(format!(
                "no technician can fit {} into the day without moving another job to someone else; plan the day again",
                input.jobs[0].ticket_id
            ))
            .into());
        };
        let old_visits: Vec<PlannedVisit> = kept
            .iter()
            .find(|k| {
                k.technician_id == new_route.technician_id && k.shift_start == new_route.shift_start
            })
            .map(|k| k.visits.clone())
            .unwrap_or_default();
        let moved: Vec<MovedVisit> = old_visits
            .iter()
            .filter_map(|old| {
                let new = new_route
                    .visits
                    .iter()
                    .find(|v| v.ticket_id == old.ticket_id)?;
                (new.start_at != old.start_at).then_some(MovedVisit {
                    ticket_id: old.ticket_id,
                    technician_id: new_route.technician_id,
                    from_start: old.start_at,
                    to_start: new.start_at,
                })
            })
            .collect();
        let inserted = new_route
            .visits
            .iter()
            .find(|v| v.ticket_id == ticket_id)
            .map(|v| InsertedVisit {
                ticket_id,
                technician_id: new_route.technician_id,
                start_at: v.start_at,
                end_at: v.end_at,
            });
        let mut new_routes: Vec<PlannedRoute> = kept
            .into_iter()
            .filter(|k| {
                !(k.technician_id == new_route.technician_id
                    && k.shift_start == new_route.shift_start)
            })
            .collect();
        new_routes.push(new_route);
        new_routes.sort_by_key(|r| (r.technician_id, r.shift_start));
        let total_distance_m = new_routes.iter().map(|r| r.distance_m).sum();
        let total_travel_seconds = new_routes.iter().map(|r| r.travel_seconds).sum();
        let body = Body {
            solver: format!("{}; urgent job inserted", plan.solver),
            routes: new_routes,
            unassigned: plan.unassigned.clone(),
            total_distance_m,
            total_travel_seconds,
            greedy_total_distance_m: plan.greedy_total_distance_m,
            greedy_unassigned: plan.greedy_unassigned,
            planning_ms: 0,
            basis,
            travel: travel_note,
            replaces: Some(plan.id),
        };
        let record = store
            .create_day_plan(
                actor,
                plan.day,
                plan.territory_id,
                &serde_json::to_string(&body)?,
            )
            .await?;
        Ok(Insertion {
            added_travel_seconds,
            plan: view(record)?,
            inserted,
            moved,
        })
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
