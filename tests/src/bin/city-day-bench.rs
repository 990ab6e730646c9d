//! A city day (issue 20): 500 jobs with windows, durations, skills and
//! priorities, 50 technicians with shifts, a 30-minute lunch and home bases in a 25 × 25 km
//! city, planned by the day planner's solver (`schedule::plan::solve`, the
//! code behind `POST /v1/schedule/plans`) and its cheapest-insertion
//! baseline, against today's batch assignment in the same run: waves in
//! which every technician still on shift gets one job from where they are
//! (`dispatch::batch::solve`, capacity 1, cost = road metres from the
//! current position), drives, waits for the window, works, and is free for
//! the next wave; then home. Every plan is checked by simulation
//! (`plan::check`).
//!
//! Usage: `city-day-bench [--seconds N] [--jobs N] [--technicians N] [--seed N]`

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use truckroll_server::{
    dispatch::batch,
    domain::{
        geo::GeoPoint,
        people::SkillLevel,
        schedule::{BreakWindow, TravelModel, TravelTimes},
        ticket::Priority,
    },
    schedule::plan::{
        PlanInput, PlanJob, PlanOutcome, PlanShift, SolverBudget, check, job_weight, solve,
        solve_greedy,
    },
};
use truckroll_tests::bench::Lcg;
use uuid::Uuid;

struct Rng(Lcg);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next(n.max(1))
    }

    fn unit(&mut self) -> f64 {
        self.0.next(1 << 30) as f64 / (1u64 << 30) as f64
    }
}

const SKILLS: [&str; 4] = ["gas", "electric", "hvac", "plumbing"];

fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

fn point(rng: &mut Rng) -> GeoPoint {
    // 52.40–52.62 N, 13.22–13.58 E: about 25 × 25 km.
    GeoPoint {
        lat: 52.40 + rng.unit() * 0.22,
        lon: 13.22 + rng.unit() * 0.36,
    }
}

fn city(jobs: usize, technicians: usize, seed: u64) -> PlanInput {
    let mut rng = Rng(Lcg(seed));
    let day = day_start();
    let shifts = (0..technicians)
        .map(|i| {
            let start = if i % 5 < 3 { 8 } else { 10 };
            let mut skills: Vec<SkillLevel> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let skill = SKILLS[rng.below(4) as usize].to_owned();
                if !skills.iter().any(|s| s.skill == skill) {
                    skills.push(SkillLevel {
                        skill,
                        level: 1 + rng.below(3) as u8,
                    });
                }
            }
            PlanShift {
                technician_id: Uuid::from_u128(i as u128 + 1),
                home: point(&mut rng),
                shift: (
                    day + Duration::hours(start),
                    day + Duration::hours(start + 9),
                ),
                skills,
                // A 30-minute lunch between 12:00 and 14:00.
                breaks: vec![BreakWindow {
                    earliest: day + Duration::hours(12),
                    latest_end: day + Duration::hours(14),
                    length: Duration::minutes(30),
                }],
            }
        })
        .collect();
    let jobs = (0..jobs)
        .map(|i| {
            let window = match rng.below(10) {
                // Morning, midday, afternoon promises; the rest any time.
                0..=1 => Some((8, 12)),
                2 => Some((10, 12)),
                3 => Some((12, 14)),
                4..=5 => Some((13, 17)),
                _ => None,
            }
            .map(|(from, to)| (day + Duration::hours(from), day + Duration::hours(to)));
            let required_skills = if rng.below(10) < 7 {
                vec![SkillLevel {
                    skill: SKILLS[rng.below(4) as usize].to_owned(),
                    level: 1 + rng.below(2) as u8,
                }]
            } else {
                vec![]
            };
            let priority = match rng.below(20) {
                0 => Priority::P1,
                1..=4 => Priority::P2,
                5..=14 => Priority::P3,
                _ => Priority::P4,
            };
            PlanJob {
                ticket_id: Uuid::from_u128(1_000_000 + i as u128),
                point: point(&mut rng),
                window,
                duration: Duration::minutes(20 + 5 * rng.below(9) as i64),
                required_skills,
                fixed_to: None,
                only: None,
                preferred: None,
                weight: job_weight(priority, false),
            }
        })
        .collect();
    PlanInput {
        jobs,
        shifts,
        travel: TravelModel::new(30.0).into(),
        prefer_penalty_m: 0.0,
    }
}

fn qualified(shift: &PlanShift, job: &PlanJob) -> bool {
    job.required_skills.iter().all(|need| {
        shift
            .skills
            .iter()
            .any(|h| h.skill == need.skill && h.level >= need.level)
    })
}

struct BatchDay {
    served: usize,
    travel_m: f64,
    travel_s: i64,
    waves: usize,
}

/// Today's batch assignment, wave by wave, one job per technician per wave.
fn batch_day(input: &PlanInput) -> BatchDay {
    let travel = &input.travel;
    let mut at: Vec<GeoPoint> = input.shifts.iter().map(|s| s.home).collect();
    let mut free: Vec<DateTime<Utc>> = input.shifts.iter().map(|s| s.shift.0).collect();
    let mut open: Vec<usize> = (0..input.jobs.len()).collect();
    let (mut served, mut travel_m, mut travel_s, mut waves) = (0, 0.0, 0, 0);
    loop {
        let mut instance = batch::Instance::new(vec![1; input.shifts.len()]);
        for &j in &open {
            let job = &input.jobs[j];
            let edges: Vec<batch::Edge> = input
                .shifts
                .iter()
                .enumerate()
                .filter(|(t, shift)| {
                    if !qualified(shift, job) {
                        return false;
                    }
                    let (from, to) = job.window.unwrap_or(shift.shift);
                    let arrive = free[*t] + Duration::seconds(travel.seconds(at[*t], job.point));
                    let start = arrive.max(from);
                    let end = start + job.duration;
                    let home = end + Duration::seconds(travel.seconds(job.point, shift.home));
                    end <= to && home <= shift.shift.1
                })
                .map(|(t, _)| batch::Edge {
                    technician: t,
                    distance_m: travel.meters(at[t], job.point),
                })
                .collect();
            instance.push_ticket(edges);
        }
        let solution = batch::solve(&instance);
        if solution.assigned() == 0 {
            break;
        }
        waves += 1;
        let mut taken = Vec::new();
        for (row, technician) in solution.assignment.iter().enumerate() {
            let Some(t) = *technician else { continue };
            let j = open[row];
            let job = &input.jobs[j];
            let from = job.window.map_or(input.shifts[t].shift.0, |w| w.0);
            let drive = travel.seconds(at[t], job.point);
            travel_m += travel.meters(at[t], job.point);
            travel_s += drive;
            free[t] = (free[t] + Duration::seconds(drive)).max(from) + job.duration;
            at[t] = job.point;
            served += 1;
            taken.push(j);
        }
        open.retain(|j| !taken.contains(j));
    }
    for (t, shift) in input.shifts.iter().enumerate() {
        travel_m += travel.meters(at[t], shift.home);
        travel_s += travel.seconds(at[t], shift.home);
    }
    BatchDay {
        served,
        travel_m,
        travel_s,
        waves,
    }
}

fn weight_left(input: &PlanInput, outcome: &PlanOutcome) -> f64 {
    outcome
        .unassigned
        .iter()
        .filter_map(|u| input.jobs.iter().find(|j| j.ticket_id == u.ticket_id))
        .map(|j| j.weight)
        .sum()
}

fn row(name: &str, input: &PlanInput, outcome: &PlanOutcome, seconds: f64) {
    let served: usize = outcome.routes.iter().map(|r| r.visits.len()).sum();
    let valid = match check(input, outcome) {
        Ok(()) => "yes".to_owned(),
        Err(e) => format!("NO: {e}"),
    };
    println!(
        "| {name} | {served} | {} | {:.0} | {:.1} | {:.1} | {seconds:.2} | {valid} |",
        outcome.unassigned.len(),
        weight_left(input, outcome),
        outcome.total_distance_m / 1000.0,
        outcome.total_travel_seconds as f64 / 3600.0,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut jobs, mut technicians, mut seed) = (25usize, 500usize, 50usize, 20u64);
    while let Some(flag) = args.next() {
        let value: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!(
                "usage: city-day-bench [--seconds N] [--jobs N] [--technicians N] [--seed N]"
            );
            std::process::exit(2)
        });
        match flag.as_str() {
            "--seconds" => seconds = value as usize,
            "--jobs" => jobs = value as usize,
            "--technicians" => technicians = value as usize,
            "--seed" => seed = value,
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2)
            }
        }
    }
    let input = city(jobs, technicians, seed);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "city day: {jobs} jobs, {technicians} technicians, seed {seed}, plan budget {seconds} s (search, check, repair and re-insertion), load average at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| planner | jobs planned | unplanned | unplanned weight | travel km | travel h | time s | checked by simulation |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let started = Instant::now();
    let batch = batch_day(&input);
    println!(
        "| batch assignment, one job per technician per wave ({} waves) | {} | {} | | {:.1} | {:.1} | {:.2} | (simulated as dispatched) |",
        batch.waves,
        batch.served,
        jobs - batch.served,
        batch.travel_m / 1000.0,
        batch.travel_s as f64 / 3600.0,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let greedy = solve_greedy(&input);
    row(
        "cheapest insertion (plan baseline)",
        &input,
        &greedy,
        started.elapsed().as_secs_f64(),
    );
    let started = Instant::now();
    match solve(
        &input,
        SolverBudget {
            max_seconds: seconds,
            max_generations: usize::MAX / 2,
        },
    ) {
        Ok(solved) => {
            row(
                &format!("vrp-core day plan ({seconds} s budget for the whole call)"),
                &input,
                &solved,
                started.elapsed().as_secs_f64(),
            );
            let stats = solved.stats;
            println!(
                "vrp-core search {:.2} s; check, repair and re-insertion {:.2} s; the repair took out {} jobs; re-insertion placed {}",
                stats.search_ms as f64 / 1000.0,
                stats.post_pass_ms as f64 / 1000.0,
                stats.repaired,
                stats.reinserted
            );
        }
        Err(e) => println!("| vrp-core | failed: {e} | | | | | | |"),
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at end {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
