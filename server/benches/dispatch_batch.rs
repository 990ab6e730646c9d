//! Batch assignment: 500 tickets × 500 technicians in one city, the exact
//! solver (Kuhn–Munkres on technician slots) against the greedy one-by-one
//! baseline and the local-search heuristic.
//!
//! `cargo bench -p truckroll-server --bench dispatch_batch`
//!
//! Sites and technicians are uniform over a 30 km × 30 km box around Berlin;
//! there are 5 skills, a technician holds each with probability 0.6 at level
//! 1–3, a ticket needs 0–2 of them at level 1–2. Two fleets: `roomy`, where
//! each technician has 1 or 2 free slots (about 750 slots for 500 tickets),
//! and `tight`, one free slot each (as many slots as tickets, so skills
//! leave some tickets over and the augmenting paths get long). Building the
//! instance (all 250 000 pairs: skill check and haversine) is timed too, as
//! the HTTP handler does comparable work through the index.
//!
//! Before the criterion groups, the run prints each plan's total travel and
//! the travel saved against greedy, averaged over a few seeds.
//! `TRUCKROLL_BENCH_LARGE=1` also times one exact solve of larger tight
//! instances, to show where [`EXACT_MAX_CELLS`] puts the switch to the
//! heuristic.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion};
use truckroll_server::{
    dispatch::batch::{
        BatchTechnician, BatchTicket, EXACT_MAX_CELLS, Instance, Method, all_pairs, solve,
        solve_exact, solve_greedy, solve_heuristic,
    },
    domain::{geo::GeoPoint, people::SkillLevel},
};
use uuid::Uuid;

const SKILLS: [&str; 5] = ["hvac", "electrical", "plumbing", "gas", "refrigeration"];
const SIZES: [usize; 2] = [100, 500];
/// (name, most free slots per technician)
const FLEETS: [(&str, u64); 2] = [("roomy", 2), ("tight", 1)];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A point in a 30 km box around central Berlin.
    fn point(&mut self) -> GeoPoint {
        GeoPoint {
            lat: 52.38 + 0.27 * self.unit(),
            lon: 13.18 + 0.44 * self.unit(),
        }
    }
}

/// Each skill with probability 0.6, at level 1–3.
fn skills(rng: &mut Rng) -> Vec<SkillLevel> {
    let mut held = Vec::new();
    for skill in SKILLS {
        if rng.unit() < 0.6 {
            held.push(SkillLevel {
                skill: skill.into(),
                level: 1 + rng.below(3) as u8,
            });
        }
    }
    held
}

fn city(
    seed: u64,
    tickets: usize,
    technicians: usize,
    max_free: u64,
) -> (Vec<BatchTicket>, Vec<BatchTechnician>) {
    let mut rng = Rng(seed);
    let technicians = (0..technicians)
        .map(|i| BatchTechnician {
            id: Uuid::from_u128(i as u128),
            position: rng.point(),
            skills: skills(&mut rng),
            remaining: 1 + rng.below(max_free) as u32,
            available: true,
        })
        .collect();
    let tickets = (0..tickets)
        .map(|i| {
            let site = rng.point();
            let needs = rng.below(3) as usize;
            let first = rng.below(SKILLS.len() as u64) as usize;
            BatchTicket {
                id: Uuid::from_u128(1_000_000 + i as u128),
                site,
                required: (0..needs)
                    .map(|j| SkillLevel {
                        skill: SKILLS[(first + j) % SKILLS.len()].into(),
                        level: 1 + rng.below(2) as u8,
                    })
                    .collect(),
            }
        })
        .collect();
    (tickets, technicians)
}

fn instance(seed: u64, n: usize, max_free: u64) -> Instance {
    let (tickets, technicians) = city(seed, n, n, max_free);
    all_pairs(&tickets, &technicians)
}

/// Travel of each plan over a few seeds, printed for BENCHMARKS.md.
fn report_savings() {
    const SEEDS: u64 = 5;
    for (fleet, max_free) in FLEETS {
        for n in SIZES {
            let (mut exact_km, mut greedy_km, mut heuristic_km) = (0.0, 0.0, 0.0);
            let (mut exact_n, mut greedy_n, mut heuristic_n) = (0, 0, 0);
            for seed in 0..SEEDS {
                let instance = instance(seed, n, max_free);
                let exact = solve_exact(&instance);
                let greedy = solve_greedy(&instance);
                let heuristic = solve_heuristic(&instance);
                exact_km += exact.total_distance_m(&instance) / 1000.0;
                greedy_km += greedy.total_distance_m(&instance) / 1000.0;
                heuristic_km += heuristic.total_distance_m(&instance) / 1000.0;
                exact_n += exact.assigned();
                greedy_n += greedy.assigned();
                heuristic_n += heuristic.assigned();
            }
            let runs = SEEDS as f64;
            eprintln!(
                "{fleet} {n} tickets × {n} technicians, mean of {SEEDS} seeds: \
                 exact {:.1} km ({:.1} assigned), greedy {:.1} km ({:.1} assigned), \
                 heuristic {:.1} km ({:.1} assigned); exact saves {:.1} km = {:.1} % \
                 against greedy, heuristic saves {:.1} %",
                exact_km / runs,
                exact_n as f64 / runs,
                greedy_km / runs,
                greedy_n as f64 / runs,
                heuristic_km / runs,
                heuristic_n as f64 / runs,
                (greedy_km - exact_km) / runs,
                (greedy_km - exact_km) / greedy_km * 100.0,
                (greedy_km - heuristic_km) / greedy_km * 100.0,
            );
        }
    }
}

/// One exact solve of larger tight instances (cells of the assignment matrix
/// against `EXACT_MAX_CELLS`), and the heuristic on the same.
fn report_large() {
    for n in [800, 1200, 2000] {
        let instance = instance(7, n, 1);
        let start = Instant::now();
        let heuristic = solve_heuristic(&instance);
        let heuristic_time = start.elapsed();
        let start = Instant::now();
        let exact = solve_exact(&instance);
        let exact_time = start.elapsed();
        eprintln!(
            "tight {n}×{n}: exact {exact_time:?} ({:.1} km), heuristic {heuristic_time:?} \
             ({:.1} km); solve() picks {:?} (limit {EXACT_MAX_CELLS} cells)",
            exact.total_distance_m(&instance) / 1000.0,
            heuristic.total_distance_m(&instance) / 1000.0,
            solve(&instance).method,
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    // Only in a real benchmark run, not when `cargo test --benches` smoke-runs this.
    if std::env::args().any(|arg| arg == "--bench") {
        report_savings();
        if std::env::var_os("TRUCKROLL_BENCH_LARGE").is_some() {
            report_large();
        }
    }
    let mut group = criterion.benchmark_group("batch_assignment");
    for (fleet, max_free) in FLEETS {
        for n in SIZES {
            let (tickets, technicians) = city(42, n, n, max_free);
            let instance = all_pairs(&tickets, &technicians);
            assert_eq!(solve(&instance).method, Method::Exact, "exact at {n}×{n}");
            let label = format!("{fleet}/{n}x{n}");
            if max_free == 2 {
                group.bench_with_input(BenchmarkId::new("build_instance", &label), &n, |b, _| {
                    b.iter(|| all_pairs(black_box(&tickets), black_box(&technicians)))
                });
            }
            group.bench_with_input(BenchmarkId::new("exact", &label), &instance, |b, i| {
                b.iter(|| solve_exact(black_box(i)))
            });
            group.bench_with_input(BenchmarkId::new("greedy", &label), &instance, |b, i| {
                b.iter(|| solve_greedy(black_box(i)))
            });
            group.bench_with_input(BenchmarkId::new("heuristic", &label), &instance, |b, i| {
                b.iter(|| solve_heuristic(black_box(i)))
            });
        }
    }
    group.finish();
    criterion.final_summary();
}
