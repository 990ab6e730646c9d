//! Day plans: which technician does which jobs of a day, in which order.
//!
//! The solver is `vrp-core` (reinterpretcat/vrp): jobs with time windows,
//! durations and required skills; one vehicle per technician's working
//! interval (shift less absences) from and back to the home base, with
//! its breaks as vrp-core break jobs (taken between two jobs, where the
//! first one was done). Driving times come from the same [`TravelModel`]
//! as slots, as whole seconds, so every route the solver returns is checked
//! again by [`simulate`] — a route that fails the check is never kept as
//! it is (its lightest jobs go until it drives, and are offered to every
//! route again while the budget lasts). [`solve_greedy`] is the cheapest-insertion baseline the
//! solver is compared with.

use std::{collections::HashSet, sync::Arc, time::Instant};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vrp_core::{
    construction::features::{
        BreakFeatureBuilder, JobSkills, JobSkillsDimension, VehicleSkillsDimension,
        create_skills_feature,
    },
    models::{
        GoalBuilder,
        common::TimeWindow,
        problem::{JobIdDimension, Single, VehicleIdDimension},
        solution::Route,
    },
    prelude::*,
};

use crate::domain::{
    geo::GeoPoint,
    people::SkillLevel,
    schedule::{BreakWindow, Depot, Interval, RoadTravel, Stop, TravelTimes, Visit, simulate},
    ticket::Priority,
};

/// One job to place.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanJob {
    pub ticket_id: Uuid,
    pub point: GeoPoint,
    /// Its appointment window; `None`: any time of the shift.
    pub window: Option<Interval>,
    pub duration: Duration,
    pub required_skills: Vec<SkillLevel>,
    /// Only this technician may do it (already assigned to them).
    pub fixed_to: Option<Uuid>,
    /// Only these technicians may do it: those whose van holds the ticket's
    /// required parts, under its category's `require` parts policy (issue
    /// 23); `None`: anyone qualified.
    pub only: Option<Vec<Uuid>>,
    /// Technicians whose van holds its required parts under the `prefer`
    /// policy: anyone else costs [`PlanInput::prefer_penalty_m`] more.
    pub preferred: Option<Vec<Uuid>>,
    /// What leaving it unplanned costs ([`job_weight`]: priority, and an
    /// SLA deadline before the day's end).
    pub weight: f64,
}

/// What leaving a job unplanned costs in the plan's first objective: 1 for
/// P4, 4 for P3, 16 for P2, 64 for P1, times 4 when its SLA arrival deadline
/// falls before the planned day ends. So one P1 job outweighs fifteen P3
/// ones when capacity is short, and a job about to breach its SLA outweighs
/// three of its priority that are not.
pub fn job_weight(priority: Priority, deadline_in_day: bool) -> f64 {
    let base = match priority {
        Priority::P1 => 64.0,
        Priority::P2 => 16.0,
        Priority::P3 => 4.0,
        Priority::P4 => 1.0,
    };
    if deadline_in_day { base * 4.0 } else { base }
}

/// One working interval of a technician.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanShift {
    pub technician_id: Uuid,
    pub home: GeoPoint,
    pub shift: Interval,
    pub skills: Vec<SkillLevel>,
    /// Breaks inside the interval.
    pub breaks: Vec<BreakWindow>,
}

#[derive(Debug, Clone)]
pub struct PlanInput {
    pub jobs: Vec<PlanJob>,
    pub shifts: Vec<PlanShift>,
    pub travel: RoadTravel,
    /// Metres a job under the `prefer` parts policy costs more when done by
    /// a technician whose van lacks its parts (batch assignment's bonus).
    pub prefer_penalty_m: f64,
}

impl PlanInput {
    /// The penalty `job` costs on `shift` ([`PlanJob::preferred`]).
    fn penalty(&self, job: &PlanJob, shift: &PlanShift) -> f64 {
        match &job.preferred {
            Some(holders) if !holders.contains(&shift.technician_id) => self.prefer_penalty_m,
            _ => 0.0,
        }
    }
}

/// One technician's ordered interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedRoute {
    pub technician_id: Uuid,
    pub shift_start: DateTime<Utc>,
    pub shift_end: DateTime<Utc>,
    pub visits: Vec<PlannedVisit>,
    pub travel_seconds: i64,
    pub distance_m: f64,
    pub back_at: DateTime<Utc>,
    /// The breaks the technician takes on this route.
    #[serde(default)]
    pub breaks: Vec<PlannedBreak>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedBreak {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedVisit {
    pub ticket_id: Uuid,
    pub arrive_at: DateTime<Utc>,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub travel_seconds: i64,
}

impl From<Visit> for PlannedVisit {
    fn from(visit: Visit) -> Self {
        Self {
            ticket_id: visit.ticket_id,
            arrive_at: visit.arrive_at,
            start_at: visit.start_at,
            end_at: visit.end_at,
            travel_seconds: visit.travel_seconds,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unplanned {
    pub ticket_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanOutcome {
    pub routes: Vec<PlannedRoute>,
    pub unassigned: Vec<Unplanned>,
    pub total_distance_m: f64,
    pub total_travel_seconds: i64,
    /// How [`solve`] spent its budget (for benchmarks; not stored).
    #[serde(skip)]
    pub stats: SolveStats,
}

/// Where [`solve`]'s time went, and what its safety net changed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SolveStats {
    /// vrp-core's search.
    pub search_ms: u64,
    /// The check, the repair and the re-insertion after it.
    pub post_pass_ms: u64,
    /// Jobs the repair took out of routes the simulation rejected.
    pub repaired: usize,
    /// Jobs the re-insertion placed (repaired ones, or left by vrp-core).
    pub reinserted: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("day planner: {0}")]
pub struct PlanError(String);

/// How long [`solve`] may take, the checks after the search included.
#[derive(Debug, Clone, Copy)]
pub struct SolverBudget {
    /// The whole call: vrp-core searches for all of it but a tenth (at
    /// least a second when there are two), which the simulation's check,
    /// the repair and the re-insertion use; re-insertion stops at the end.
    pub max_seconds: usize,
    pub max_generations: usize,
}

fn qualified(held: &[SkillLevel], required: &[SkillLevel]) -> bool {
    required.iter().all(|need| {
        held.iter()
            .any(|h| h.skill == need.skill && h.level >= need.level)
    })
}

fn may_do(shift: &PlanShift, job: &PlanJob) -> bool {
    job.fixed_to.is_none_or(|t| t == shift.technician_id)
        && job
            .only
            .as_ref()
            .is_none_or(|only| only.contains(&shift.technician_id))
        && qualified(&shift.skills, &job.required_skills)
}

fn stop_of(job: &PlanJob, shift: &PlanShift) -> Stop {
    Stop {
        ticket_id: job.ticket_id,
        point: job.point,
        window: job.window.unwrap_or(shift.shift),
        duration: job.duration,
    }
}

fn depot_of(shift: &PlanShift) -> Depot {
    Depot {
        start: shift.home,
        end: shift.home,
        shift: shift.shift,
        breaks: shift.breaks.clone(),
    }
}

/// Simulates `order` (indices into `input.jobs`) on `shift`.
fn drive(input: &PlanInput, shift: &PlanShift, order: &[usize]) -> Option<PlannedRoute> {
    let stops: Vec<Stop> = order
        .iter()
        .map(|&j| stop_of(&input.jobs[j], shift))
        .collect();
    let refs: Vec<&Stop> = stops.iter().collect();
    let outcome = simulate(&input.travel, &depot_of(shift), &refs).ok()?;
    Some(PlannedRoute {
        technician_id: shift.technician_id,
        shift_start: shift.shift.0,
        shift_end: shift.shift.1,
        visits: outcome.visits.into_iter().map(PlannedVisit::from).collect(),
        travel_seconds: outcome.travel_seconds,
        distance_m: outcome.distance_m,
        back_at: outcome.back_at,
        breaks: outcome
            .breaks
            .into_iter()
            .map(|(start_at, end_at)| PlannedBreak { start_at, end_at })
            .collect(),
    })
}

/// For each position of `order` (0: before the first job), where the
/// technician is and the earliest they can leave from there: the route
/// driven without its breaks, so a lower bound of every timing with them.
fn earliest_departures(
    input: &PlanInput,
    shift: &PlanShift,
    order: &[usize],
) -> Vec<(GeoPoint, DateTime<Utc>)> {
    let mut at = shift.shift.0;
    let mut here = shift.home;
    let mut departures = Vec::with_capacity(order.len() + 1);
    departures.push((here, at));
    for &j in order {
        let stop = stop_of(&input.jobs[j], shift);
        at = (at + Duration::seconds(input.travel.seconds(here, stop.point))).max(stop.window.0)
            + stop.duration;
        here = stop.point;
        departures.push((here, at));
    }
    departures
}

/// Whether `job` could still start in time when inserted after a stop left
/// at `departure` at the earliest: a cheap test that spares the simulation
/// of positions that cannot work.
fn reachable(
    input: &PlanInput,
    shift: &PlanShift,
    job: usize,
    departure: (GeoPoint, DateTime<Utc>),
) -> bool {
    let stop = stop_of(&input.jobs[job], shift);
    departure.1 + Duration::seconds(input.travel.seconds(departure.0, stop.point))
        <= stop.latest_start()
}

fn outcome(routes: Vec<PlannedRoute>, unassigned: Vec<Unplanned>) -> PlanOutcome {
    PlanOutcome {
        total_distance_m: routes.iter().map(|r| r.distance_m).sum(),
        total_travel_seconds: routes.iter().map(|r| r.travel_seconds).sum(),
        routes: routes
            .into_iter()
            .filter(|r| !r.visits.is_empty())
            .collect(),
        unassigned,
        stats: SolveStats::default(),
    }
}

fn why_not(input: &PlanInput, job: &PlanJob) -> String {
    let skilled = |s: &&PlanShift| {
        job.fixed_to.is_none_or(|t| t == s.technician_id)
            && qualified(&s.skills, &job.required_skills)
    };
    if job.only.is_some()
        && input.shifts.iter().any(|s| skilled(&s))
        && !input.shifts.iter().any(|s| may_do(s, job))
    {
        "no technician working that day has the required parts in their van".into()
    } else if !input.shifts.iter().any(|s| may_do(s, job)) {
        "no technician with the skills works that day".into()
    } else {
        "no qualified technician can reach it inside its window and shift".into()
    }
}

/// The cheapest-insertion baseline: jobs by window end, each inserted where
/// it adds the least driving among every feasible position of every route.
pub fn solve_greedy(input: &PlanInput) -> PlanOutcome {
    let mut orders: Vec<Vec<usize>> = vec![Vec::new(); input.shifts.len()];
    let mut costs: Vec<i64> = input
        .shifts
        .iter()
        .map(|s| drive(input, s, &[]).map(|r| r.travel_seconds).unwrap_or(0))
        .collect();
    let mut jobs: Vec<usize> = (0..input.jobs.len()).collect();
    // Heaviest first (priority, SLA), so capacity goes to them.
    jobs.sort_by(|&a, &b| {
        let (a, b) = (&input.jobs[a], &input.jobs[b]);
        b.weight.total_cmp(&a.weight).then_with(|| {
            (a.window.map(|w| w.1), a.ticket_id).cmp(&(b.window.map(|w| w.1), b.ticket_id))
        })
    });
    let mut unassigned = Vec::new();
    for j in jobs {
        // (added driving + the prefer penalty as driving, added driving, route, position)
        let mut best: Option<(i64, i64, usize, usize)> = None;
        for (s, shift) in input.shifts.iter().enumerate() {
            if !may_do(shift, &input.jobs[j]) {
                continue;
            }
            let departures = earliest_departures(input, shift, &orders[s]);
            for (position, &departure) in departures.iter().enumerate().take(orders[s].len() + 1) {
                if !reachable(input, shift, j, departure) {
                    continue;
                }
                let mut order = orders[s].clone();
                order.insert(position, j);
                if let Some(route) = drive(input, shift, &order) {
                    let added = route.travel_seconds - costs[s];
                    let penalty = input.penalty(&input.jobs[j], shift)
                        / (input.travel.model.speed_kmh / 3.6).max(0.1);
                    let score = added + penalty.round() as i64;
                    if best.is_none_or(|(cost, _, _, _)| score < cost) {
                        best = Some((score, added, s, position));
                    }
                }
            }
        }
        match best {
            Some((_, added, s, position)) => {
                orders[s].insert(position, j);
                costs[s] += added;
            }
            None => unassigned.push(Unplanned {
                ticket_id: input.jobs[j].ticket_id,
                reason: why_not(input, &input.jobs[j]),
            }),
        }
    }
    let routes = input
        .shifts
        .iter()
        .zip(&orders)
        .filter_map(|(shift, order)| drive(input, shift, order))
        .collect();
    outcome(routes, unassigned)
}

/// A stored route open to an insertion: its shift (into
/// [`PlanInput::shifts`]), its jobs in order (into [`PlanInput::jobs`]), and
/// the first position an insertion may take (after visits already begun).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRoute {
    pub shift: usize,
    pub order: Vec<usize>,
    pub earliest: usize,
}

/// Re-planning with the least disruption: `job` goes into the route and
/// position (at or after its `earliest`) where it adds the least driving
/// (plus the `prefer` penalty), every route's other jobs kept in their
/// order. The route driven with it and the driving it adds; `None` when
/// no route can take it.
pub fn cheapest_insertion(
    input: &PlanInput,
    job: usize,
    routes: &[OpenRoute],
) -> Option<(PlannedRoute, i64)> {
    let speed_ms = (input.travel.model.speed_kmh / 3.6).max(0.1);
    let mut best: Option<(i64, PlannedRoute, i64)> = None;
    for route in routes {
        let Some(shift) = input.shifts.get(route.shift) else {
            continue;
        };
        if !may_do(shift, &input.jobs[job]) {
            continue;
        }
        let Some(before) = drive(input, shift, &route.order) else {
            continue;
        };
        let penalty = (input.penalty(&input.jobs[job], shift) / speed_ms).round() as i64;
        let departures = earliest_departures(input, shift, &route.order);
        let first = route.earliest.min(route.order.len());
        for (position, &departure) in departures
            .iter()
            .enumerate()
            .take(route.order.len() + 1)
            .skip(first)
        {
            if !reachable(input, shift, job, departure) {
                continue;
            }
            let mut order = route.order.clone();
            order.insert(position, job);
            if let Some(after) = drive(input, shift, &order) {
                let added = after.travel_seconds - before.travel_seconds;
                if best
                    .as_ref()
                    .is_none_or(|(score, _, _)| added + penalty < *score)
                {
                    best = Some((added + penalty, after, added));
                }
            }
        }
    }
    best.map(|(_, route, added)| (route, added))
}

/// Skills as strings for vrp-core: a held level `n` is every `skill>=1..n`,
/// a required level `l` is `skill>=l`; a job fixed to a technician needs
/// their own `technician:{id}`; a job only some may do (their vans hold its
/// parts) needs `job:{index}`, which only they hold.
fn held_skills(shift: &PlanShift, jobs: &[PlanJob]) -> HashSet<String> {
    let mut held: HashSet<String> = shift
        .skills
        .iter()
        .flat_map(|s| (1..=s.level).map(move |l| format!("{}>={l}", s.skill)))
        .collect();
    held.insert(format!("technician:{}", shift.technician_id));
    for (i, job) in jobs.iter().enumerate() {
        if job
            .only
            .as_ref()
            .is_some_and(|only| only.contains(&shift.technician_id))
        {
            held.insert(format!("job:{i}"));
        }
    }
    held
}

fn required_skills(job: &PlanJob, index: usize) -> Vec<String> {
    let mut all: Vec<String> = job
        .required_skills
        .iter()
        .map(|s| format!("{}>={}", s.skill, s.level))
        .collect();
    if let Some(technician) = job.fixed_to {
        all.push(format!("technician:{technician}"));
    }
    if job.only.is_some() {
        all.push(format!("job:{index}"));
    }
    all
}

/// Break jobs are named `break:{shift}:{n}`; job ids of work are indices.
const BREAK_ID: &str = "break:";

fn is_break(single: &Single) -> bool {
    single
        .dimens
        .get_job_id()
        .is_some_and(|id| id.starts_with(BREAK_ID))
}

/// The shift (vehicle) index a break job belongs to.
fn break_shift(single: &Single) -> Option<usize> {
    single
        .dimens
        .get_job_id()?
        .strip_prefix(BREAK_ID)?
        .split(':')
        .next()?
        .parse()
        .ok()
}

fn route_shift(route: &Route) -> Option<usize> {
    route
        .actor
        .vehicle
        .dimens
        .get_vehicle_id()
        .and_then(|id| id.parse().ok())
}

fn job_index(dimens: &Dimensions) -> Option<usize> {
    dimens.get_job_id().and_then(|id| id.parse().ok())
}

fn vehicle_index(route: &RouteContext) -> Option<usize> {
    route_shift(route.route())
}

/// The `prefer` parts policy as metres: `penalties[job][shift]`.
struct PreferObjective {
    penalties: Vec<Vec<f64>>,
}

impl PreferObjective {
    fn of(&self, job: Option<usize>, shift: Option<usize>) -> Float {
        job.zip(shift)
            .and_then(|(j, s)| self.penalties.get(j)?.get(s).copied())
            .unwrap_or(0.0)
    }
}

impl FeatureObjective for PreferObjective {
    fn fitness(&self, solution: &InsertionContext) -> Cost {
        solution
            .solution
            .routes
            .iter()
            .map(|route| {
                let shift = vehicle_index(route);
                route
                    .route()
                    .tour
                    .all_activities()
                    .filter_map(|a| a.job.as_ref())
                    .map(|single| self.of(job_index(&single.dimens), shift))
                    .sum::<Float>()
            })
            .sum()
    }

    fn estimate(&self, move_ctx: &MoveContext<'_>) -> Cost {
        match move_ctx {
            MoveContext::Route { route_ctx, job, .. } => {
                self.of(job_index(job.dimens()), vehicle_index(route_ctx))
            }
            MoveContext::Activity { .. } => Cost::default(),
        }
    }
}

/// Whether a break (times in solver seconds) fits before the route's first
/// job: taken at home from the shift start, the technician still starts
/// that job when the solver has them start it.
fn break_fits_at_home(route: &Route, earliest: Float, latest_end: Float, length: Float) -> bool {
    let (Some(start), Some(first)) = (route.tour.start(), route.tour.get(1)) else {
        return true;
    };
    if first.job.is_none() {
        return true;
    }
    let drive = first.schedule.arrival - start.schedule.departure;
    let begins = start.schedule.departure.max(earliest);
    let work_starts = first.schedule.departure - first.place.duration;
    begins + length <= latest_end && begins + length + drive <= work_starts
}

/// vrp-core's routes for `input`: per route, its shift and its jobs in
/// order (skills checked again; breaks are not listed).
fn search(
    input: &PlanInput,
    search_seconds: usize,
    max_generations: usize,
) -> Result<Vec<(usize, Vec<usize>)>, PlanError> {
    let err = |e: GenericError| PlanError(e.to_string());
    // Time is seconds since the earliest shift start.
    let origin = input
        .shifts
        .iter()
        .map(|s| s.shift.0)
        .chain(input.jobs.iter().filter_map(|j| j.window.map(|w| w.0)))
        .min()
        .unwrap_or_else(Utc::now);
    let at = |t: DateTime<Utc>| (t - origin).num_seconds() as Float;
    // Locations: homes first, then jobs.
    let mut points: Vec<GeoPoint> = input.shifts.iter().map(|s| s.home).collect();
    let home_count = points.len();
    points.extend(input.jobs.iter().map(|j| j.point));
    let size = points.len();
    let mut durations = Vec::with_capacity(size * size);
    let mut distances = Vec::with_capacity(size * size);
    for from in &points {
        for to in &points {
            durations.push(input.travel.seconds(*from, *to) as Float);
            distances.push(input.travel.meters(*from, *to).round());
        }
    }
    let transport: Arc<dyn TransportCost> =
        Arc::new(SimpleTransportCost::new(durations, distances).map_err(err)?);

    let jobs = input
        .jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let mut builder = SingleBuilder::default()
                .id(&i.to_string())
                .location(home_count + i)?
                .duration(job.duration.num_seconds() as Float)?;
            if let Some((start, end)) = job.window {
                let latest = end - job.duration;
                builder = builder.times(vec![TimeWindow::new(at(start), at(latest))])?;
            }
            let skills = required_skills(job, i);
            if !skills.is_empty() {
                builder = builder.dimension(|d| {
                    d.set_job_skills(JobSkills::new(Some(skills), None, None));
                });
            }
            builder.build_as_job()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    // Each break is a job of its shift's vehicle, without a location (taken
    // where the technician is), started inside its window.
    let mut breaks = Vec::new();
    for (s, shift) in input.shifts.iter().enumerate() {
        for (b, brk) in shift.breaks.iter().enumerate() {
            let latest = brk.latest_end - brk.length;
            breaks.push(
                SingleBuilder::default()
                    .id(&format!("{BREAK_ID}{s}:{b}"))
                    .duration(brk.length.num_seconds() as Float)
                    .and_then(|b| b.times(vec![TimeWindow::new(at(brk.earliest), at(latest))]))
                    .and_then(|b| b.build_as_job())
                    .map_err(err)?,
            );
        }
    }
    let vehicles = input
        .shifts
        .iter()
        .enumerate()
        .map(|(i, shift)| {
            VehicleBuilder::default()
                .id(&i.to_string())
                .add_detail(
                    VehicleDetailBuilder::default()
                        .set_start_location(i)
                        .set_start_time(at(shift.shift.0))
                        .set_end_location(i)
                        .set_end_time(at(shift.shift.1))
                        .build()?,
                )
                .dimension(|d| {
                    d.set_vehicle_skills(held_skills(shift, &input.jobs));
                })
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    // Objectives, in order: the weight of what is left unplanned (priority
    // and SLA, `job_weight`), then road metres plus the `prefer` penalties.
    // A break left out weighs more than all the work, unless it can be taken
    // at home before the first job (vrp-core places a break only after a
    // job; the simulation also takes it before leaving).
    let weights: Vec<f64> = input.jobs.iter().map(|j| j.weight).collect();
    let break_weight = weights.iter().sum::<f64>() + 1.0;
    let home_breaks: Vec<Vec<(Float, Float, Float)>> = input
        .shifts
        .iter()
        .map(|shift| {
            shift
                .breaks
                .iter()
                .map(|b| {
                    (
                        at(b.earliest),
                        at(b.latest_end),
                        b.length.num_seconds() as Float,
                    )
                })
                .collect()
        })
        .collect();
    let unassigned = MinimizeUnassignedBuilder::new("min-unassigned")
        .set_job_estimator(move |solution, job| {
            let Some(single) = job.as_single().filter(|s| is_break(s)) else {
                return job_index(job.dimens())
                    .and_then(|j| weights.get(j).copied())
                    .unwrap_or(1.0);
            };
            let Some(s) = break_shift(single) else {
                return break_weight;
            };
            let index = single
                .dimens
                .get_job_id()
                .and_then(|id| id.rsplit(':').next()?.parse::<usize>().ok());
            let at_home = solution
                .routes
                .iter()
                .find(|r| vehicle_index(r) == Some(s))
                .zip(index.and_then(|b| home_breaks.get(s)?.get(b)))
                .is_some_and(|(route, &(earliest, latest_end, length))| {
                    break_fits_at_home(route.route(), earliest, latest_end, length)
                });
            if at_home { 0.0 } else { break_weight }
        })
        .build()
        .map_err(err)?;
    let break_feature = BreakFeatureBuilder::new("breaks")
        .set_violation_code(ViolationCode::from(2))
        .set_is_break_single(is_break)
        .set_belongs_to_route(|route, job| {
            job.as_single()
                .filter(|single| is_break(single))
                .and_then(|single| break_shift(single))
                .is_some_and(|s| route_shift(route) == Some(s))
        })
        .build()
        .map_err(err)?;
    let distance = TransportFeatureBuilder::new("min-distance")
        .set_transport_cost(transport.clone())
        .set_time_constrained(true)
        .build_minimize_distance()
        .map_err(err)?;
    let penalties: Vec<Vec<f64>> = input
        .jobs
        .iter()
        .map(|job| input.shifts.iter().map(|s| input.penalty(job, s)).collect())
        .collect();
    let prefer = FeatureBuilder::default()
        .with_name("prefer-parts")
        .with_objective(PreferObjective { penalties })
        .build()
        .map_err(err)?;
    let (Some(unassigned_objective), Some(distance_objective), Some(prefer_objective)) = (
        unassigned.objective.clone(),
        distance.objective.clone(),
        prefer.objective.clone(),
    ) else {
        return Err(PlanError("a feature without its objective".into()));
    };
    let main_goal = GoalBuilder::default()
        .add_single(unassigned_objective)
        .add_multi(
            &[distance_objective, prefer_objective],
            |objectives, a, b| {
                let sum = |x| objectives.iter().map(|o| o.fitness(x)).sum::<Float>();
                sum(a).total_cmp(&sum(b))
            },
            |objectives, move_ctx| objectives.iter().map(|o| o.estimate(move_ctx)).sum(),
        )
        .build()
        .map_err(err)?;
    let goal = GoalContextBuilder::with_features(&[
        unassigned,
        create_skills_feature("skills", ViolationCode::from(1)).map_err(err)?,
        break_feature,
        distance,
        prefer,
    ])
    .map_err(err)?
    .set_main_goal(main_goal)
    .build()
    .map_err(err)?;
    let problem = Arc::new(
        ProblemBuilder::default()
            .add_jobs(jobs.into_iter().chain(breaks))
            .add_vehicles(vehicles.into_iter())
            .with_goal(goal)
            .with_transport_cost(transport)
            .build()
            .map_err(err)?,
    );
    let config = VrpConfigBuilder::new(problem.clone())
        .prebuild()
        .map_err(err)?
        .with_max_time(Some(search_seconds))
        .with_max_generations(Some(max_generations))
        .build()
        .map_err(err)?;
    let solution = Solver::new(problem, config).solve().map_err(err)?;
    let mut routes = Vec::with_capacity(solution.routes.len());
    for route in &solution.routes {
        let Some(s) = route_shift(route) else {
            continue;
        };
        let order: Vec<usize> = route
            .tour
            .all_activities()
            .filter_map(|a| a.job.as_ref())
            .filter_map(|single| single.dimens.get_job_id())
            .filter_map(|id| id.parse::<usize>().ok())
            .filter(|&j| j < input.jobs.len())
            .collect();
        let Some(shift) = input.shifts.get(s) else {
            continue;
        };
        let order: Vec<usize> = order
            .into_iter()
            .filter(|&j| may_do(shift, &input.jobs[j]))
            .collect();
        routes.push((s, order));
    }
    Ok(routes)
}

/// Plans with vrp-core, then checks every route by simulation.
pub fn solve(input: &PlanInput, budget: SolverBudget) -> Result<PlanOutcome, PlanError> {
    let deadline = Instant::now() + std::time::Duration::from_secs(budget.max_seconds as u64);
    let reserve = (budget.max_seconds / 10).max(usize::from(budget.max_seconds > 1));
    let search_seconds = budget.max_seconds.saturating_sub(reserve).max(1);
    if input.jobs.is_empty() || input.shifts.is_empty() {
        let unassigned = input
            .jobs
            .iter()
            .map(|job| Unplanned {
                ticket_id: job.ticket_id,
                reason: why_not(input, job),
            })
            .collect();
        return Ok(outcome(Vec::new(), unassigned));
    }
    let searching = Instant::now();
    let raw = search(input, search_seconds, budget.max_generations)?;
    let post_pass = Instant::now();
    let mut stats = SolveStats {
        search_ms: millis(post_pass - searching),
        ..SolveStats::default()
    };

    let mut placed = vec![false; input.jobs.len()];
    let mut routes = Vec::new();
    // (shift, order) of every route kept.
    let mut orders: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut unassigned = Vec::new();
    let mut repaired = Vec::new();
    for (s, mut order) in raw {
        let Some(shift) = input.shifts.get(s) else {
            continue;
        };
        // A route the simulation rejects (a break that does not fit where
        // the solver left room) loses its lightest jobs, latest first,
        // until it drives; they are offered to every route below.
        let mut planned = drive(input, shift, &order);
        while planned.is_none() && !order.is_empty() {
            let lightest = order
                .iter()
                .enumerate()
                .rev()
                .min_by(|a, b| input.jobs[*a.1].weight.total_cmp(&input.jobs[*b.1].weight))
                .map(|(i, _)| i)
                .unwrap_or(0);
            repaired.push(order.remove(lightest));
            planned = drive(input, shift, &order);
        }
        if let Some(planned) = planned {
            for &j in &order {
                placed[j] = true;
            }
            orders.push((s, order));
            routes.push(planned);
        }
    }
    // Jobs the repair took out, then those the solver left, into the
    // cheapest place left.
    let repaired_count = repaired.len();
    let rest: Vec<usize> = (0..input.jobs.len())
        .filter(|&j| !placed[j] && !repaired.contains(&j))
        .collect();
    let mut left: Vec<usize> = repaired;
    left.extend(rest);
    for (n, j) in left.into_iter().enumerate() {
        // What the repair took out is always offered again (vrp-core had
        // it planned); what vrp-core left, only while the budget lasts.
        if n >= repaired_count && Instant::now() >= deadline {
            break;
        }
        let open: Vec<OpenRoute> = (0..input.shifts.len())
            .map(|s| OpenRoute {
                shift: s,
                order: orders
                    .iter()
                    .find(|(o, _)| *o == s)
                    .map(|(_, order)| order.clone())
                    .unwrap_or_default(),
                earliest: 0,
            })
            .collect();
        if let Some((route, _)) = cheapest_insertion(input, j, &open) {
            let s = input
                .shifts
                .iter()
                .position(|sh| {
                    sh.technician_id == route.technician_id && sh.shift.0 == route.shift_start
                })
                .unwrap_or(0);
            let order: Vec<usize> = route
                .visits
                .iter()
                .filter_map(|v| {
                    input
                        .jobs
                        .iter()
                        .position(|job| job.ticket_id == v.ticket_id)
                })
                .collect();
            match orders.iter_mut().find(|(o, _)| *o == s) {
                Some(entry) => entry.1 = order,
                None => orders.push((s, order)),
            }
            routes.retain(|r| {
                !(r.technician_id == route.technician_id && r.shift_start == route.shift_start)
            });
            routes.push(route);
            placed[j] = true;
            stats.reinserted += 1;
        }
    }
    for (j, job) in input.jobs.iter().enumerate() {
        if !placed[j] {
            unassigned.push(Unplanned {
                ticket_id: job.ticket_id,
                reason: why_not(input, job),
            });
        }
    }
    stats.repaired = repaired_count;
    stats.post_pass_ms = millis(post_pass.elapsed());
    Ok(PlanOutcome {
        stats,
        ..outcome(routes, unassigned)
    })
}

fn millis(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Whether `outcome` is a valid plan of `input`: every route drives in its
/// shift and windows (by simulation), every job is done by a technician with
/// its skills (and its fixed technician), and no job is planned twice.
pub fn check(input: &PlanInput, outcome: &PlanOutcome) -> Result<(), String> {
    let mut seen = HashSet::new();
    for route in &outcome.routes {
        let shift = input
            .shifts
            .iter()
            .find(|s| s.technician_id == route.technician_id && s.shift.0 == route.shift_start)
            .ok_or("a route without its shift")?;
        let mut order = Vec::new();
        for visit in &route.visits {
            let j = input
                .jobs
                .iter()
                .position(|job| job.ticket_id == visit.ticket_id)
                .ok_or("a visit to an unknown job")?;
            if !seen.insert(visit.ticket_id) {
                return Err(format!("{} planned twice", visit.ticket_id));
            }
            if !may_do(shift, &input.jobs[j]) {
                return Err(format!(
                    "{} lacks skills for {}",
                    shift.technician_id, visit.ticket_id
                ));
            }
            order.push(j);
        }
        let driven = drive(input, shift, &order).ok_or("a route breaks a window or its shift")?;
        if driven.visits != route.visits {
            return Err("the route's times are not the simulation's".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::schedule::TravelModel;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, 8, 0, 0)
            .single()
            .expect("time")
    }

    prop_compose! {
        fn job_strategy()(lat in 52.40f64..52.60, lon in 13.20f64..13.60, open in 0i64..7, width in 1i64..5,
                          minutes in 15i64..90, skilled in any::<bool>(), windowed in any::<bool>()) -> PlanJob {
            let from = start() + Duration::hours(open);
            PlanJob {
                ticket_id: Uuid::new_v4(),
                point: GeoPoint { lat, lon },
                window: windowed.then(|| (from, from + Duration::hours(width).max(Duration::minutes(minutes)))),
                duration: Duration::minutes(minutes),
                required_skills: if skilled { vec![SkillLevel { skill: "gas".into(), level: 2 }] } else { vec![] },
                fixed_to: None,
                only: None,
                preferred: None,
                weight: 1.0,
            }
        }
    }

    prop_compose! {
        fn shift_strategy()(lat in 52.40f64..52.60, lon in 13.20f64..13.60, length in 4i64..10, gas in 0u8..4,
                            lunch in any::<bool>()) -> PlanShift {
            PlanShift {
                technician_id: Uuid::new_v4(),
                home: GeoPoint { lat, lon },
                shift: (start(), start() + Duration::hours(length)),
                skills: if gas > 0 { vec![SkillLevel { skill: "gas".into(), level: gas }] } else { vec![] },
                breaks: if lunch {
                    vec![BreakWindow { earliest: start() + Duration::hours(3), latest_end: start() + Duration::hours(4),
                                       length: Duration::minutes(30) }]
                } else { vec![] },
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Every route of every plan respects windows, skills, shifts and
        /// breaks, checked by simulation, for the solver and the baseline.
        #[test]
        fn every_route_respects_windows_skills_and_shifts(
            jobs in prop::collection::vec(job_strategy(), 1..14),
            shifts in prop::collection::vec(shift_strategy(), 1..4),
        ) {
            let input = PlanInput { jobs, shifts, travel: TravelModel::new(40.0).into(), prefer_penalty_m: 0.0 };
            let greedy = solve_greedy(&input);
            prop_assert_eq!(check(&input, &greedy), Ok(()));
            let solved = solve(&input, SolverBudget { max_seconds: 2, max_generations: 40 }).expect("solves");
            prop_assert_eq!(check(&input, &solved), Ok(()));
            let planned: usize = solved.routes.iter().map(|r| r.visits.len()).sum();
            prop_assert_eq!(planned + solved.unassigned.len(), input.jobs.len());
        }
    }

    #[test]
    fn a_fixed_job_stays_with_its_technician() {
        let shifts: Vec<PlanShift> = (0..2)
            .map(|i| PlanShift {
                technician_id: Uuid::new_v4(),
                home: GeoPoint {
                    lat: 52.5 + f64::from(i) * 0.05,
                    lon: 13.4,
                },
                shift: (start(), start() + Duration::hours(8)),
                skills: vec![],
                breaks: vec![],
            })
            .collect();
        let job = PlanJob {
            ticket_id: Uuid::new_v4(),
            point: GeoPoint {
                lat: 52.5,
                lon: 13.4,
            },
            window: None,
            duration: Duration::minutes(30),
            required_skills: vec![],
            fixed_to: Some(shifts[1].technician_id),
            only: None,
            preferred: None,
            weight: 1.0,
        };
        let input = PlanInput {
            jobs: vec![job],
            shifts,
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        let solved = solve(
            &input,
            SolverBudget {
                max_seconds: 2,
                max_generations: 20,
            },
        )
        .expect("solves");
        assert_eq!(solved.routes.len(), 1);
        assert_eq!(
            solved.routes[0].technician_id,
            input.shifts[1].technician_id
        );
        assert_eq!(check(&input, &solved), Ok(()));
    }

    /// A job only the farther technician may do (their van holds its parts)
    /// goes to them, in the solver and the baseline; with nobody able, it is
    /// unplanned with the reason.
    #[test]
    fn a_job_needing_parts_goes_to_a_van_holding_them() {
        let shifts: Vec<PlanShift> = (0..2)
            .map(|i| PlanShift {
                technician_id: Uuid::new_v4(),
                home: GeoPoint {
                    lat: 52.5 + f64::from(i) * 0.05,
                    lon: 13.4,
                },
                shift: (start(), start() + Duration::hours(8)),
                skills: vec![],
                breaks: vec![],
            })
            .collect();
        let job = |only: Vec<Uuid>| PlanJob {
            ticket_id: Uuid::new_v4(),
            point: GeoPoint {
                lat: 52.5,
                lon: 13.4,
            },
            window: None,
            duration: Duration::minutes(30),
            required_skills: vec![],
            fixed_to: None,
            only: Some(only),
            preferred: None,
            weight: 1.0,
        };
        let input = PlanInput {
            jobs: vec![job(vec![shifts[1].technician_id])],
            shifts: shifts.clone(),
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        let budget = SolverBudget {
            max_seconds: 2,
            max_generations: 20,
        };
        for solved in [solve(&input, budget).expect("solves"), solve_greedy(&input)] {
            assert_eq!(solved.routes.len(), 1, "{solved:?}");
            assert_eq!(solved.routes[0].technician_id, shifts[1].technician_id);
            assert_eq!(check(&input, &solved), Ok(()));
        }
        let nobody = PlanInput {
            jobs: vec![job(vec![Uuid::new_v4()])],
            shifts,
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        for solved in [
            solve(&nobody, budget).expect("solves"),
            solve_greedy(&nobody),
        ] {
            assert!(solved.routes.is_empty());
            assert_eq!(
                solved.unassigned[0].reason,
                "no technician working that day has the required parts in their van"
            );
        }
    }

    fn two_shifts(hours: i64) -> Vec<PlanShift> {
        (0..2)
            .map(|i| PlanShift {
                technician_id: Uuid::new_v4(),
                home: GeoPoint {
                    lat: 52.5 + f64::from(i) * 0.05,
                    lon: 13.4,
                },
                shift: (start(), start() + Duration::hours(hours)),
                skills: vec![],
                breaks: vec![],
            })
            .collect()
    }

    fn job_at(lat: f64, minutes: i64, weight: f64) -> PlanJob {
        PlanJob {
            ticket_id: Uuid::new_v4(),
            point: GeoPoint { lat, lon: 13.4 },
            window: None,
            duration: Duration::minutes(minutes),
            required_skills: vec![],
            fixed_to: None,
            only: None,
            preferred: None,
            weight,
        }
    }

    /// Capacity for one job: the P1 one (farther away) is planned and the
    /// nearer P4 one is left, in the solver and the baseline.
    #[test]
    fn a_p1_job_is_not_dropped_when_capacity_is_short() {
        let mut shifts = two_shifts(2);
        shifts.truncate(1);
        let near_p4 = job_at(52.5, 90, job_weight(Priority::P4, false));
        let far_p1 = job_at(52.53, 90, job_weight(Priority::P1, false));
        let input = PlanInput {
            jobs: vec![near_p4.clone(), far_p1.clone()],
            shifts,
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        let budget = SolverBudget {
            max_seconds: 2,
            max_generations: 40,
        };
        for solved in [solve(&input, budget).expect("solves"), solve_greedy(&input)] {
            assert_eq!(check(&input, &solved), Ok(()));
            assert_eq!(solved.routes.len(), 1, "{solved:?}");
            assert_eq!(solved.routes[0].visits[0].ticket_id, far_p1.ticket_id);
            assert_eq!(solved.unassigned[0].ticket_id, near_p4.ticket_id);
        }
        assert_eq!(
            job_weight(Priority::P3, true),
            job_weight(Priority::P2, false)
        );
        assert!(job_weight(Priority::P1, false) > 15.0 * job_weight(Priority::P3, false));
    }

    /// Under `prefer`, the job goes to the van holding its parts although
    /// the other technician lives next door; without the penalty it does not.
    #[test]
    fn prefer_sends_a_job_to_the_van_with_its_parts() {
        let shifts = two_shifts(8);
        let mut job = job_at(52.5, 30, 1.0);
        job.preferred = Some(vec![shifts[1].technician_id]);
        let budget = SolverBudget {
            max_seconds: 2,
            max_generations: 40,
        };
        for (penalty, expected) in [(20_000.0, 1), (0.0, 0)] {
            let input = PlanInput {
                jobs: vec![job.clone()],
                shifts: shifts.clone(),
                travel: TravelModel::new(40.0).into(),
                prefer_penalty_m: penalty,
            };
            for solved in [solve(&input, budget).expect("solves"), solve_greedy(&input)] {
                assert_eq!(check(&input, &solved), Ok(()));
                assert_eq!(
                    solved.routes[0].technician_id, shifts[expected].technician_id,
                    "penalty {penalty}: {solved:?}"
                );
            }
        }
    }

    /// The insertion goes where it adds least, never before a begun visit;
    /// with no room it is refused.
    #[test]
    fn an_insertion_keeps_begun_visits_first_and_adds_least() {
        let shifts = two_shifts(8);
        let mut jobs = vec![
            job_at(52.5, 60, 4.0),
            job_at(52.5, 60, 4.0),
            job_at(52.5, 60, 4.0),
        ];
        jobs.insert(0, job_at(52.5, 60, 64.0));
        let input = PlanInput {
            jobs,
            shifts,
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        let routes = vec![
            OpenRoute {
                shift: 0,
                order: vec![1, 2, 3],
                earliest: 2,
            },
            OpenRoute {
                shift: 1,
                order: vec![],
                earliest: 0,
            },
        ];
        let (route, added) = cheapest_insertion(&input, 0, &routes).expect("fits");
        assert_eq!(route.technician_id, input.shifts[0].technician_id);
        assert_eq!(added, 0, "same site: no driving added");
        let order: Vec<Uuid> = route.visits.iter().map(|v| v.ticket_id).collect();
        let id = |j: usize| input.jobs[j].ticket_id;
        assert_eq!(order, vec![id(1), id(2), id(0), id(3)]);
        let full = PlanInput {
            shifts: two_shifts(3),
            ..input.clone()
        };
        let routes = vec![OpenRoute {
            shift: 0,
            order: vec![1, 2, 3],
            earliest: 0,
        }];
        assert!(cheapest_insertion(&full, 0, &routes).is_none());
    }

    /// A day that only fits with the lunch right after the morning's work
    /// (two morning jobs, two afternoon ones of two hours, an hour's break
    /// begun between 11:30 and 12:00, back by 17:00): vrp-core's own routes,
    /// before any repair, hold all four jobs and drive with the break, and
    /// the plan serves them around it. (With the breaks' time cut from the
    /// shift end instead, vrp-core could not fit the fourth job.)
    #[test]
    fn the_solver_places_a_mid_day_break_itself() {
        let mut shifts = two_shifts(9);
        shifts.truncate(1);
        shifts[0].breaks = vec![BreakWindow {
            earliest: start() + Duration::minutes(210),
            latest_end: start() + Duration::hours(5),
            length: Duration::minutes(60),
        }];
        let jobs = [(0, 4, 120), (0, 4, 90), (4, 9, 120), (5, 9, 120)]
            .iter()
            .map(|&(from, to, minutes)| PlanJob {
                window: Some((
                    start() + Duration::hours(from),
                    start() + Duration::hours(to),
                )),
                ..job_at(52.52, minutes, 4.0)
            })
            .collect();
        let input = PlanInput {
            jobs,
            shifts,
            travel: TravelModel::new(40.0).into(),
            prefer_penalty_m: 0.0,
        };
        let raw = search(&input, 2, 200).expect("solves");
        assert_eq!(
            raw.iter().map(|(_, order)| order.len()).sum::<usize>(),
            4,
            "{raw:?}"
        );
        for (s, order) in &raw {
            assert!(
                drive(&input, &input.shifts[*s], order).is_some(),
                "{order:?}"
            );
        }
        let solved = solve(
            &input,
            SolverBudget {
                max_seconds: 2,
                max_generations: 200,
            },
        )
        .expect("solves");
        assert_eq!(check(&input, &solved), Ok(()));
        assert!(solved.unassigned.is_empty(), "{solved:?}");
        let lunch = &solved.routes[0].breaks[0];
        assert!(lunch.start_at >= start() + Duration::minutes(210));
        assert!(lunch.end_at <= start() + Duration::hours(5));
        for visit in &solved.routes[0].visits {
            assert!(visit.end_at <= lunch.start_at || visit.start_at >= lunch.end_at);
        }
    }
}
