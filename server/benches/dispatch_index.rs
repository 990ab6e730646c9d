//! Nearest-10-with-skill: the technician index against a linear scan.
//!
//! `cargo bench -p truckroll-server --bench dispatch_index` runs 1k, 10k and
//! 100k technicians; `TRUCKROLL_BENCH_1M=1` adds 1M (building it takes a
//! while and a few GiB). Every technician is available, on shift and under
//! capacity, so the skill alone decides: 1 in 2 or 1 in 50 technicians have
//! it. Positions are uniform over a Europe-sized box, as one tenant's fleet.
//!
//! After the criterion groups, the run prints per-query latency percentiles
//! of the index (criterion reports the time of batches, not of single
//! queries).

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion};
use truckroll_server::{
    dispatch::{NearestQuery, PositionFix, TechnicianEntry, TechnicianIndex, nearest_by_scan},
    domain::{
        geo::GeoPoint,
        people::{SkillLevel, TechnicianStatus},
        shifts::{Day, Shift},
    },
};
use uuid::Uuid;

const K: usize = 10;
const TENANT: Uuid = Uuid::from_u128(1);
const RARITIES: [(&str, u64); 2] = [("1_in_2", 2), ("1_in_50", 50)];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn now() -> DateTime<Utc> {
    // A Wednesday noon.
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn point(rng: &mut Rng) -> GeoPoint {
    GeoPoint {
        lat: rng.range(36.0, 60.0),
        lon: rng.range(-9.0, 30.0),
    }
}

fn fleet(n: usize) -> Vec<TechnicianEntry> {
    let mut rng = Rng(n as u64);
    let shifts: Vec<Shift> = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ]
    .map(|day| Shift {
        day,
        start: "06:00".into(),
        end: "22:00".into(),
        breaks: Vec::new(),
    })
    .to_vec();
    (0..n)
        .map(|_| {
            let mut skills = Vec::new();
            for (name, one_in) in RARITIES {
                if rng.below(one_in) == 0 {
                    skills.push(SkillLevel {
                        skill: name.into(),
                        level: rng.below(5) as u8 + 1,
                    });
                }
            }
            // Two everyday skills each, so every technician sits in a few trees.
            for _ in 0..2 {
                skills.push(SkillLevel {
                    skill: format!("everyday{}", rng.below(8)),
                    level: 3,
                });
            }
            skills.dedup_by(|a, b| a.skill == b.skill);
            TechnicianEntry {
                id: Uuid::from_u64_pair(rng.next(), rng.next()),
                tenant_id: TENANT,
                position: Some(PositionFix {
                    point: point(&mut rng),
                    at: now() - chrono::Duration::minutes(5),
                }),
                skills,
                status: TechnicianStatus::Available,
                shifts: shifts.clone(),
                time_zone: "Europe/Berlin".into(),
                capacity: 5,
                load: rng.below(5) as u32,
            }
        })
        .collect()
}

fn sizes() -> Vec<usize> {
    let mut sizes = vec![1_000, 10_000, 100_000];
    if std::env::var_os("TRUCKROLL_BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    sizes
}

fn queries() -> Vec<GeoPoint> {
    let mut rng = Rng(0xD15_A7C4);
    (0..1024).map(|_| point(&mut rng)).collect()
}

fn bench_nearest(c: &mut Criterion, fleets: &[(Vec<TechnicianEntry>, TechnicianIndex)]) {
    let points = queries();
    for (rarity, _) in RARITIES {
        let required = [SkillLevel {
            skill: rarity.into(),
            level: 1,
        }];
        let mut group = c.benchmark_group(format!("nearest10_skill_{rarity}"));
        for (entries, index) in fleets {
            let n = entries.len();
            let mut i = 0;
            group.bench_with_input(BenchmarkId::new("index", n), index, |b, index| {
                b.iter(|| {
                    i = (i + 1) % points.len();
                    let query =
                        NearestQuery::new(TENANT, points[i], K, now()).with_skills(&required);
                    black_box(index.nearest(&query).expect("valid query"))
                });
            });
            let mut i = 0;
            group.bench_with_input(BenchmarkId::new("linear", n), entries, |b, entries| {
                b.iter(|| {
                    i = (i + 1) % points.len();
                    let query =
                        NearestQuery::new(TENANT, points[i], K, now()).with_skills(&required);
                    black_box(nearest_by_scan(entries, &query).expect("valid query"))
                });
            });
        }
        group.finish();
    }
}

fn bench_update_position(c: &mut Criterion, fleets: &[(Vec<TechnicianEntry>, TechnicianIndex)]) {
    let mut group = c.benchmark_group("update_position");
    for (entries, index) in fleets {
        let mut rng = Rng(7);
        let mut at = now();
        group.bench_with_input(
            BenchmarkId::new("index", entries.len()),
            index,
            |b, index| {
                b.iter(|| {
                    let entry = &entries[rng.below(entries.len() as u64) as usize];
                    at += chrono::Duration::milliseconds(1);
                    let fix = PositionFix {
                        point: point(&mut rng),
                        at,
                    };
                    black_box(index.update_position(TENANT, entry.id, fix).expect("valid"))
                });
            },
        );
    }
    group.finish();
}

/// Single-query latency of the index, for the percentiles criterion does
/// not report.
fn latency_percentiles(fleets: &[(Vec<TechnicianEntry>, TechnicianIndex)]) {
    let points = queries();
    println!("\nindex latency per query (20 000 queries each, k = {K})");
    println!(
        "{:>10} {:>8} {:>10} {:>10} {:>10}",
        "n", "rarity", "p50 µs", "p99 µs", "max µs"
    );
    for (entries, index) in fleets {
        for (rarity, _) in RARITIES {
            let required = [SkillLevel {
                skill: rarity.into(),
                level: 1,
            }];
            let mut times: Vec<Duration> = (0..20_000)
                .map(|i| {
                    let query = NearestQuery::new(TENANT, points[i % points.len()], K, now())
                        .with_skills(&required);
                    let start = Instant::now();
                    black_box(index.nearest(&query).expect("valid query"));
                    start.elapsed()
                })
                .collect();
            times.sort();
            let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
            println!(
                "{:>10} {:>8} {:>10.2} {:>10.2} {:>10.2}",
                entries.len(),
                rarity,
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let fleets: Vec<(Vec<TechnicianEntry>, TechnicianIndex)> = sizes()
        .into_iter()
        .map(|n| {
            let entries = fleet(n);
            let start = Instant::now();
            let index = TechnicianIndex::from_entries(entries.iter().cloned()).expect("valid");
            eprintln!(
                "built the index of {n} technicians in {:?}",
                start.elapsed()
            );
            (entries, index)
        })
        .collect();
    bench_nearest(&mut criterion, &fleets);
    bench_update_position(&mut criterion, &fleets);
    criterion.final_summary();
    // Only in a real benchmark run, not when `cargo test --benches` smoke-runs this.
    if std::env::args().any(|arg| arg == "--bench") {
        latency_percentiles(&fleets);
    }
}
