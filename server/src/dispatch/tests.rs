//! The index against a brute-force model, plus targeted cases.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::{
    geo::GeoPoint,
    people::{SkillLevel, TechnicianStatus},
    shifts::{Day, Shift, is_on_shift},
};

// ---------------------------------------------------------------- helpers

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn uuid(&mut self) -> Uuid {
        Uuid::from_u64_pair(self.next(), self.next())
    }
}

fn p(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint { lat, lon }
}

fn fix(point: GeoPoint, at: DateTime<Utc>) -> PositionFix {
    PositionFix { point, at }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn all_week() -> Vec<Shift> {
    [
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
        start: "00:00".into(),
        end: "00:00".into(),
        breaks: Vec::new(),
    })
    .to_vec()
}

fn skill(name: &str, level: u8) -> SkillLevel {
    SkillLevel {
        skill: name.into(),
        level,
    }
}

/// An available, always-on-shift technician with room for work.
fn tech(tenant_id: Uuid, id: Uuid, at: GeoPoint, skills: &[SkillLevel]) -> TechnicianEntry {
    TechnicianEntry {
        id,
        tenant_id,
        position: Some(PositionFix {
            point: at,
            at: t0(),
        }),
        skills: skills.to_vec(),
        status: TechnicianStatus::Available,
        shifts: all_week(),
        time_zone: "UTC".into(),
        capacity: 3,
        load: 0,
    }
}

fn ids(found: &[Candidate]) -> Vec<Uuid> {
    found.iter().map(|c| c.technician_id).collect()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn nearest_ids(index: &TechnicianIndex, query: &NearestQuery<'_>) -> Vec<Uuid> {
    ids(&index.nearest(query).expect("valid query"))
}

// ------------------------------------------------- the brute-force model

/// Haversine written out here, independent of `geo` and of the chord order.
fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    let (la, lb) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lb - la;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().min(1.0).asin()
}

/// Every rule spelled out again, over every technician, sorted by
/// (great-circle distance, id).
fn brute_force(
    model: &HashMap<Uuid, TechnicianEntry>,
    query: &NearestQuery<'_>,
) -> Vec<(Uuid, f64)> {
    let mut found: Vec<(Uuid, f64)> = model
        .values()
        .filter(|e| e.tenant_id == query.tenant_id)
        .filter(|e| e.status == TechnicianStatus::Available)
        .filter(|e| e.load < e.capacity)
        .filter(|e| {
            query.required.iter().all(|r| {
                e.skills
                    .iter()
                    .any(|s| s.skill == r.skill && s.level >= r.level)
            })
        })
        .filter(|e| is_on_shift(&e.shifts, &e.time_zone, query.now))
        .filter(|e| query.filter.is_none_or(|f| f(e)))
        .filter_map(|e| Some((e.id, haversine_m(query.point, e.position?.point))))
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    found.truncate(query.k);
    found
}

const SKILLS: [(&str, f64); 5] = [
    ("electrical", 0.5),
    ("hvac", 0.3),
    ("plumbing", 0.25),
    ("gas", 0.1),
    ("elevator", 0.04),
];

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "America/St_Johns",
    "Not/A_Zone",
];

/// Shared spots (depots): several technicians at exactly the same point,
/// so ties are common. Two near the poles, two at the antimeridian.
const DEPOTS: [(f64, f64); 6] = [
    (52.52, 13.40),
    (89.7, 45.0),
    (-89.4, -120.0),
    (-17.8, 179.95),
    (65.0, -179.9),
    (0.0, 0.0),
];

const CITIES: [(f64, f64); 4] = [
    (40.71, -74.0),
    (-33.87, 151.21),
    (1.29, 103.85),
    (64.14, -21.9),
];

/// Anywhere, with a bias to the hard places: near the poles (|lat| > 89),
/// either side of the antimeridian, dense cities, shared depots.
fn random_point(rng: &mut Rng) -> GeoPoint {
    let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
    match rng.below(6) {
        0 => p(
            rng.range(-1.0, 1.0).asin().to_degrees(),
            rng.range(-180.0, 180.0),
        ),
        1 => p(sign * rng.range(89.0, 89.999_999), rng.range(-180.0, 180.0)),
        2 => p(rng.range(-70.0, 70.0), sign * rng.range(179.0, 179.999_999)),
        3 => {
            let (lat, lon) = *rng.pick(&CITIES);
            p(lat + rng.range(-0.05, 0.05), lon + rng.range(-0.05, 0.05))
        }
        4 => {
            let (lat, lon) = *rng.pick(&DEPOTS);
            p(lat, lon)
        }
        _ => p(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0)),
    }
}

fn random_shifts(rng: &mut Rng) -> Vec<Shift> {
    let days = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];
    let clock = |rng: &mut Rng| format!("{:02}:{:02}", rng.below(24), rng.below(2) * 30);
    match rng.below(5) {
        0 | 1 => all_week(),
        2 => days[..5]
            .iter()
            .map(|&day| Shift {
                day,
                start: "08:00".into(),
                end: "17:00".into(),
                breaks: Vec::new(),
            })
            .collect(),
        3 => (0..rng.below(4) + 1)
            .map(|_| Shift {
                day: *rng.pick(&days),
                start: clock(rng),
                end: clock(rng),
                breaks: Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn random_skills(rng: &mut Rng) -> Vec<SkillLevel> {
    let mut skills = Vec::new();
    for (name, share) in SKILLS {
        if rng.chance(share) {
            skills.push(skill(name, rng.below(5) as u8 + 1));
        }
    }
    skills
}

fn random_entry(rng: &mut Rng, id: Uuid, tenants: &[Uuid]) -> TechnicianEntry {
    let capacity = rng.below(5) as u32;
    TechnicianEntry {
        id,
        tenant_id: *rng.pick(tenants),
        position: (!rng.chance(0.05)).then(|| PositionFix {
            point: random_point(rng),
            at: t0() + Duration::seconds(rng.below(3600) as i64),
        }),
        skills: random_skills(rng),
        status: *rng.pick(&[
            TechnicianStatus::Available,
            TechnicianStatus::Available,
            TechnicianStatus::Available,
            TechnicianStatus::Available,
            TechnicianStatus::Busy,
            TechnicianStatus::OffDuty,
        ]),
        shifts: random_shifts(rng),
        time_zone: (*rng.pick(&ZONES)).to_string(),
        capacity,
        load: rng.below(u64::from(capacity) + 2) as u32,
    }
}

/// What the index should do with an upsert, per its contract.
fn model_upsert(model: &mut HashMap<Uuid, TechnicianEntry>, mut entry: TechnicianEntry) {
    if let Some(held) = model.get(&entry.id).and_then(|old| old.position)
        && entry.position.is_none_or(|new| new.at < held.at)
    {
        entry.position = Some(held);
    }
    model.insert(entry.id, entry);
}

/// Runs random queries on both and compares; returns how many queries had
/// a non-empty answer (so the test can check it tested something).
fn compare(
    rng: &mut Rng,
    seed: u64,
    round: usize,
    index: &TechnicianIndex,
    model: &HashMap<Uuid, TechnicianEntry>,
    tenants: &[Uuid],
) -> usize {
    let mut non_empty = 0;
    for q in 0..150 {
        let required: Vec<SkillLevel> = (0..rng.below(3))
            .map(|_| skill(rng.pick(&SKILLS).0, *rng.pick(&[1, 1, 2, 3, 5])))
            .collect();
        let odd_ids_only = |e: &TechnicianEntry| e.id.as_u128() % 2 == 1;
        let mut query = NearestQuery::new(
            *rng.pick(tenants),
            random_point(rng),
            rng.below(12) as usize + 1,
            t0() + Duration::minutes(rng.below(14 * 24 * 60) as i64),
        )
        .with_skills(&required);
        if rng.chance(0.2) {
            query = query.with_filter(&odd_ids_only);
        }
        let expected = brute_force(model, &query);
        let got = index.nearest(&query).expect("valid query");
        let context = format!("seed {seed} round {round} query {q}: {query:?}");
        assert_eq!(
            ids(&got),
            expected.iter().map(|e| e.0).collect::<Vec<_>>(),
            "{context}"
        );
        for (candidate, (_, distance)) in got.iter().zip(&expected) {
            assert!(
                (candidate.distance_m - distance).abs() < 1e-3,
                "{context}: {} vs {distance}",
                candidate.distance_m
            );
            let entry = &model[&candidate.technician_id];
            assert_eq!(Some(candidate.position), entry.position, "{context}");
            assert_eq!(candidate.load, entry.load, "{context}");
            for (have, want) in candidate.skills.iter().zip(&required) {
                assert_eq!(have.skill, want.skill);
                assert!(have.level >= want.level, "{context}");
            }
        }
        let scanned = nearest_by_scan(model.values(), &query).expect("valid query");
        assert_eq!(scanned, got, "scan disagrees: {context}");
        if !got.is_empty() {
            non_empty += 1;
        }
    }
    non_empty
}

fn seeds() -> Vec<u64> {
    match std::env::var("TRUCKROLL_DISPATCH_SEED") {
        Ok(seed) => vec![seed.parse().expect("TRUCKROLL_DISPATCH_SEED is a u64")],
        Err(_) => vec![1, 2, 3, 0x5EED, 20_261_125],
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn differential_against_brute_force() {
    for seed in seeds() {
        let mut rng = Rng(seed);
        let tenants: Vec<Uuid> = (0..3).map(|_| rng.uuid()).collect();
        let mut ids: Vec<Uuid> = (0..400).map(|_| rng.uuid()).collect();
        let mut model: HashMap<Uuid, TechnicianEntry> = HashMap::new();
        for &id in &ids {
            let entry = random_entry(&mut rng, id, &tenants);
            model.insert(id, entry);
        }
        // Odd seeds build in bulk, even ones one upsert at a time.
        let index = if seed % 2 == 1 {
            TechnicianIndex::from_entries(model.values().cloned()).expect("valid entries")
        } else {
            let index = TechnicianIndex::new();
            for entry in model.values() {
                index.upsert(entry.clone()).expect("valid entry");
            }
            index
        };
        let mut non_empty = 0;
        for round in 0..6 {
            assert_eq!(index.len(), model.len(), "seed {seed} round {round}");
            non_empty += compare(&mut rng, seed, round, &index, &model, &tenants);
            for _ in 0..200 {
                let id = *rng.pick(&ids);
                match rng.below(6) {
                    // A ping: newer, older or exactly as old as the held one.
                    0 | 1 => {
                        let tenant = if rng.chance(0.9) {
                            model.get(&id).map_or(tenants[0], |e| e.tenant_id)
                        } else {
                            *rng.pick(&tenants)
                        };
                        let point = random_point(&mut rng);
                        let held = model.get(&id).and_then(|e| e.position);
                        let at = match held {
                            // A replayed ping: the very same device time.
                            Some(held) if rng.chance(0.2) => held.at,
                            _ => t0() + Duration::seconds(rng.below(7200) as i64),
                        };
                        let outcome = index
                            .update_position(tenant, id, PositionFix { point, at })
                            .expect("valid point");
                        let expected = match model.get_mut(&id) {
                            Some(e) if e.tenant_id == tenant => {
                                if e.position.is_some_and(|held| at <= held.at) {
                                    PositionUpdate::Stale
                                } else {
                                    e.position = Some(PositionFix { point, at });
                                    PositionUpdate::Applied
                                }
                            }
                            _ => PositionUpdate::Unknown,
                        };
                        assert_eq!(outcome, expected, "seed {seed}");
                    }
                    2 => {
                        let load = rng.below(5) as u32;
                        let known = index.update_load(id, load);
                        assert_eq!(known, model.contains_key(&id));
                        if let Some(e) = model.get_mut(&id) {
                            e.load = load;
                        }
                    }
                    3 => {
                        let removed = index.remove(id);
                        assert_eq!(removed, model.remove(&id), "seed {seed}");
                    }
                    // Re-read from the database: new skills, status, shifts,
                    // maybe another tenant, maybe an older position.
                    4 => {
                        let entry = random_entry(&mut rng, id, &tenants);
                        index.upsert(entry.clone()).expect("valid entry");
                        model_upsert(&mut model, entry);
                    }
                    _ => {
                        let id = rng.uuid();
                        ids.push(id);
                        let entry = random_entry(&mut rng, id, &tenants);
                        index.upsert(entry.clone()).expect("valid entry");
                        model_upsert(&mut model, entry);
                    }
                }
                if let Some(entry) = model.get(&id) {
                    assert_eq!(index.get(id).as_ref(), Some(entry), "seed {seed}");
                }
            }
        }
        assert!(
            non_empty > 200,
            "seed {seed}: only {non_empty} queries found anyone"
        );
    }
}

#[test]
fn moving_a_technician_changes_the_answer() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let berlin = p(52.52, 13.40);
    let hamburg = p(53.55, 9.99);
    index
        .upsert(tech(tenant, id(10), berlin, &[]))
        .expect("valid");
    index
        .upsert(tech(tenant, id(20), hamburg, &[]))
        .expect("valid");
    let query = NearestQuery::new(tenant, p(52.4, 13.1), 1, t0());
    assert_eq!(nearest_ids(&index, &query), [id(10)]);

    let later = t0() + Duration::minutes(5);
    let moved = index
        .update_position(tenant, id(10), fix(p(48.14, 11.58), later))
        .expect("valid");
    assert_eq!(moved, PositionUpdate::Applied);
    assert_eq!(nearest_ids(&index, &query), [id(20)]);
    let found = index
        .nearest(&NearestQuery::new(tenant, p(48.1, 11.6), 2, t0()))
        .expect("valid");
    assert_eq!(ids(&found), [id(10), id(20)]);
    assert_eq!(found[0].position.at, later);
    assert!(found[0].distance_m < 10_000.0);
}

#[test]
fn stale_and_duplicate_pings_are_ignored() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    index
        .upsert(tech(tenant, id(10), p(10.0, 10.0), &[]))
        .expect("valid");
    let far = p(-40.0, -70.0);
    for at in [t0() - Duration::seconds(1), t0()] {
        let outcome = index
            .update_position(tenant, id(10), fix(far, at))
            .expect("valid");
        assert_eq!(outcome, PositionUpdate::Stale);
    }
    let held = index.get(id(10)).and_then(|e| e.position).expect("held");
    assert_eq!(held.point, p(10.0, 10.0));

    // A reload from the database with an older position keeps the newer one.
    let newer = t0() + Duration::hours(1);
    let outcome = index
        .update_position(tenant, id(10), fix(p(11.0, 11.0), newer))
        .expect("valid");
    assert_eq!(outcome, PositionUpdate::Applied);
    let mut reloaded = tech(tenant, id(10), far, &[skill("gas", 2)]);
    reloaded.capacity = 9;
    index.upsert(reloaded).expect("valid");
    let held = index.get(id(10)).expect("indexed");
    assert_eq!(
        held.position.map(|f| (f.point, f.at)),
        Some((p(11.0, 11.0), newer))
    );
    assert_eq!(held.capacity, 9);
    // ... and the trees agree with the entry.
    let gas = [skill("gas", 1)];
    let found = index
        .nearest(&NearestQuery::new(tenant, far, 1, t0()).with_skills(&gas))
        .expect("valid");
    assert_eq!(found[0].position.point, p(11.0, 11.0));
}

#[test]
fn removal_forgets_everything() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let here = p(0.0, 0.0);
    index
        .upsert(tech(tenant, id(10), here, &[skill("hvac", 3)]))
        .expect("valid");
    index
        .upsert(tech(tenant, id(20), here, &[]))
        .expect("valid");
    assert_eq!(index.len(), 2);
    assert!(index.remove(id(10)).is_some());
    assert_eq!(index.len(), 1);
    assert!(index.remove(id(10)).is_none());
    assert!(index.get(id(10)).is_none());
    assert!(!index.update_load(id(10), 1));
    let outcome = index
        .update_position(tenant, id(10), fix(here, t0() + Duration::hours(1)))
        .expect("valid");
    assert_eq!(outcome, PositionUpdate::Unknown);
    let hvac = [skill("hvac", 1)];
    let query = NearestQuery::new(tenant, here, 5, t0());
    assert!(nearest_ids(&index, &query.with_skills(&hvac)).is_empty());
    assert_eq!(
        nearest_ids(&index, &NearestQuery::new(tenant, here, 5, t0())),
        [id(20)]
    );
    assert!(index.remove(id(20)).is_some());
    assert!(index.is_empty());
}

#[test]
fn tenants_are_isolated() {
    let (a, b) = (id(1), id(2));
    let index = TechnicianIndex::new();
    let here = p(45.0, 7.0);
    index
        .upsert(tech(a, id(10), here, &[skill("hvac", 5)]))
        .expect("valid");
    index
        .upsert(tech(b, id(20), p(45.1, 7.1), &[skill("hvac", 5)]))
        .expect("valid");
    let hvac = [skill("hvac", 1)];
    assert_eq!(
        nearest_ids(
            &index,
            &NearestQuery::new(a, here, 5, t0()).with_skills(&hvac)
        ),
        [id(10)]
    );
    assert_eq!(
        nearest_ids(&index, &NearestQuery::new(b, here, 5, t0())),
        [id(20)]
    );
    assert!(nearest_ids(&index, &NearestQuery::new(id(3), here, 5, t0())).is_empty());
    // Another tenant cannot move a's technician.
    let outcome = index
        .update_position(b, id(10), fix(p(0.0, 0.0), t0() + Duration::hours(1)))
        .expect("valid");
    assert_eq!(outcome, PositionUpdate::Unknown);
    assert_eq!(
        index.get(id(10)).and_then(|e| e.position).map(|f| f.point),
        Some(here)
    );
    // Moving a technician to another tenant takes them out of the first.
    index
        .upsert(tech(b, id(10), here, &[skill("hvac", 5)]))
        .expect("valid");
    assert!(nearest_ids(&index, &NearestQuery::new(a, here, 5, t0())).is_empty());
    assert_eq!(
        nearest_ids(
            &index,
            &NearestQuery::new(b, here, 5, t0()).with_skills(&hvac)
        ),
        [id(10), id(20)]
    );
    assert_eq!(index.len(), 2);
}

#[test]
fn load_status_shift_and_levels_filter() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let here = p(-23.55, -46.63);
    let skills = [skill("hvac", 3), skill("gas", 1)];
    index
        .upsert(tech(tenant, id(1), here, &skills))
        .expect("valid");
    let mut busy = tech(tenant, id(2), here, &skills);
    busy.status = TechnicianStatus::Busy;
    let mut off_shift = tech(tenant, id(3), here, &skills);
    off_shift.shifts.clear();
    let mut full = tech(tenant, id(4), here, &skills);
    full.load = full.capacity;
    let mut junior = tech(tenant, id(5), here, &[skill("hvac", 2), skill("gas", 1)]);
    junior.time_zone = "America/Sao_Paulo".into();
    let unplaced = TechnicianEntry {
        position: None,
        ..tech(tenant, id(6), here, &skills)
    };
    for entry in [busy, off_shift, full, junior, unplaced] {
        index.upsert(entry).expect("valid");
    }
    assert_eq!(index.len(), 6);

    let want = [skill("gas", 1), skill("hvac", 3)];
    let query = NearestQuery::new(tenant, here, 10, t0()).with_skills(&want);
    let found = index.nearest(&query).expect("valid");
    assert_eq!(ids(&found), [id(1)]);
    assert_eq!(found[0].skills, [skill("gas", 1), skill("hvac", 3)]);
    let any_level = [skill("hvac", 1)];
    assert_eq!(
        nearest_ids(&index, &query.with_skills(&any_level)),
        [id(1), id(5)]
    );
    assert!(index.update_load(id(4), 0));
    assert_eq!(
        nearest_ids(
            &index,
            &NearestQuery::new(tenant, here, 10, t0()).with_skills(&want)
        ),
        [id(1), id(4)]
    );
    let nobody = [skill("welding", 1)];
    assert!(nearest_ids(&index, &query.with_skills(&nobody)).is_empty());
    let not_four = |e: &TechnicianEntry| e.id != id(4);
    let query = NearestQuery::new(tenant, here, 10, t0())
        .with_skills(&want)
        .with_filter(&not_four);
    assert_eq!(nearest_ids(&index, &query), [id(1)]);
    assert!(nearest_ids(&index, &NearestQuery::new(tenant, here, 0, t0())).is_empty());
}

#[test]
fn ties_are_broken_by_id() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let depot = p(51.5, -0.12);
    for n in [7, 3, 9, 1, 5] {
        index
            .upsert(tech(tenant, id(n), depot, &[]))
            .expect("valid");
    }
    index
        .upsert(tech(tenant, id(100), p(51.5001, -0.12), &[]))
        .expect("valid");
    let at = |k| NearestQuery::new(tenant, p(51.4, -0.12), k, t0());
    assert_eq!(nearest_ids(&index, &at(3)), [id(1), id(3), id(5)]);
    assert_eq!(
        nearest_ids(&index, &at(6)),
        [id(1), id(3), id(5), id(7), id(9), id(100)]
    );
    // The lone nearer technician first, then the tie in id order.
    let from_north = |k| NearestQuery::new(tenant, p(51.6, -0.12), k, t0());
    assert_eq!(nearest_ids(&index, &from_north(2)), [id(100), id(1)]);
}

#[test]
fn poles_and_the_antimeridian() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let fiji_east = id(1); // just across the antimeridian
    let fiji_west = id(2); // same side, but farther
    index
        .upsert(tech(tenant, fiji_east, p(-17.0, -179.99), &[]))
        .expect("valid");
    index
        .upsert(tech(tenant, fiji_west, p(-17.0, 179.5), &[]))
        .expect("valid");
    let query = NearestQuery::new(tenant, p(-17.0, 179.99), 2, t0());
    let found = index.nearest(&query).expect("valid");
    assert_eq!(ids(&found), [fiji_east, fiji_west]);
    assert!(found[0].distance_m < 2_200.0, "{}", found[0].distance_m);
    // Longitude 180 and -180 are the same meridian.
    let found = index
        .nearest(&NearestQuery::new(tenant, p(-17.0, 180.0), 1, t0()))
        .expect("valid");
    assert_eq!(ids(&found), [fiji_east]);
    let found = index
        .nearest(&NearestQuery::new(tenant, p(-17.0, -180.0), 1, t0()))
        .expect("valid");
    assert_eq!(ids(&found), [fiji_east]);

    // At the pole every longitude is close; latitude decides.
    let across_pole = id(3);
    let same_meridian = id(4);
    index
        .upsert(tech(tenant, across_pole, p(89.99, -170.0), &[]))
        .expect("valid");
    index
        .upsert(tech(tenant, same_meridian, p(89.9, 10.0), &[]))
        .expect("valid");
    for from in [p(90.0, 0.0), p(89.995, 10.0)] {
        let found = index
            .nearest(&NearestQuery::new(tenant, from, 2, t0()))
            .expect("valid");
        assert_eq!(ids(&found), [across_pole, same_meridian], "from {from:?}");
    }
}

#[test]
fn invalid_points_are_refused() {
    let tenant = id(1);
    let index = TechnicianIndex::new();
    let bad = p(f64::NAN, 0.0);
    assert_eq!(
        index.upsert(tech(tenant, id(1), bad, &[])),
        Err(IndexError::InvalidPoint)
    );
    assert!(index.is_empty());
    index
        .upsert(tech(tenant, id(1), p(1.0, 1.0), &[]))
        .expect("valid");
    assert_eq!(
        index.update_position(tenant, id(1), fix(p(0.0, 181.0), t0() + Duration::hours(1))),
        Err(IndexError::InvalidPoint)
    );
    assert_eq!(
        index.nearest(&NearestQuery::new(tenant, p(0.0, f64::INFINITY), 1, t0())),
        Err(IndexError::InvalidPoint)
    );
    assert_eq!(
        TechnicianIndex::from_entries([tech(tenant, id(2), p(-91.0, 0.0), &[])]).map(|_| ()),
        Err(IndexError::InvalidPoint)
    );
}

#[test]
fn the_index_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TechnicianIndex>();
    shareable::<Candidate>();
}

/// Writers replace technicians whole (position and load together) while
/// readers query: no answer may hold a technician twice, or a position from
/// one version with the load of another.
#[test]
fn readers_never_see_duplicates_or_torn_entries() {
    let tenant = id(1);
    let count = 64u32;
    let index = Arc::new(TechnicianIndex::new());
    // Version v of technician n sits at latitude n/10 + v/1000 with load v.
    let version = |n: u32, v: u32| TechnicianEntry {
        load: v,
        capacity: u32::MAX,
        position: Some(PositionFix {
            point: p(f64::from(n) / 10.0 + f64::from(v) / 1000.0, 0.0),
            // One device time for all: an upsert then always replaces the
            // position (a newer held one would be kept, by contract).
            at: t0(),
        }),
        ..tech(tenant, id(u128::from(n)), p(0.0, 0.0), &[skill("hvac", 1)])
    };
    for n in 0..count {
        index.upsert(version(n, 0)).expect("valid");
    }
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2u32)
            .map(|writer| {
                let index = Arc::clone(&index);
                scope.spawn(move || {
                    for v in 1..=1500u32 {
                        let n = (v * 7 + writer) % count;
                        index.upsert(version(n, v * 2 + writer)).expect("valid");
                        if v % 50 == 0 {
                            // Out and back in: readers must not see it twice.
                            let entry = index.remove(id(u128::from(n))).expect("present");
                            index.upsert(entry).expect("valid");
                        }
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2u32)
            .map(|reader| {
                let index = Arc::clone(&index);
                let done = Arc::clone(&done);
                scope.spawn(move || {
                    let hvac = [skill("hvac", 1)];
                    let mut queries = 0u32;
                    // At least a few queries even if the writers are quick.
                    while (queries < 100 || !done.load(Ordering::Relaxed)) && queries < 200_000 {
                        let lat = f64::from((queries + reader) % 70) / 10.0;
                        let query = NearestQuery::new(tenant, p(lat, 0.0), 10, t0());
                        let query = if queries.is_multiple_of(2) {
                            query.with_skills(&hvac)
                        } else {
                            query
                        };
                        let found = index.nearest(&query).expect("valid");
                        let unique: HashSet<Uuid> = found.iter().map(|c| c.technician_id).collect();
                        assert_eq!(unique.len(), found.len(), "a technician twice");
                        // Nearest first. Mathematically equal distances
                        // (mirror-image positions) may round either way.
                        for pair in found.windows(2) {
                            assert!(pair[0].distance_m <= pair[1].distance_m + 1e-6);
                        }
                        for c in &found {
                            let n = c.technician_id.as_u128() as f64;
                            let expected_lat = n / 10.0 + f64::from(c.load) / 1000.0;
                            assert_eq!(c.position.point.lat, expected_lat, "torn entry");
                        }
                        queries += 1;
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().expect("reader");
        }
    });
    assert_eq!(index.len(), count as usize);
}

/// rstar before 0.14 bulk-loaded some sizes (49–54 points in 3-D) into trees
/// with leaves on different levels, and the next insert panicked.
#[test]
fn bulk_built_index_takes_inserts_at_every_size() {
    let tenant = id(1);
    let mut rng = Rng(7);
    for size in 1..=130u128 {
        let entries: Vec<TechnicianEntry> = (0..size)
            .map(|n| tech(tenant, id(n), random_point(&mut rng), &[skill("hvac", 1)]))
            .collect();
        let index = TechnicianIndex::from_entries(entries).expect("valid");
        for n in 0..20 {
            index
                .upsert(tech(
                    tenant,
                    id(1000 + n),
                    random_point(&mut rng),
                    &[skill("hvac", 1)],
                ))
                .expect("valid");
            let moved = index
                .update_position(
                    tenant,
                    id(n % size),
                    fix(
                        random_point(&mut rng),
                        t0() + Duration::seconds(n as i64 + 1),
                    ),
                )
                .expect("valid");
            assert_eq!(moved, PositionUpdate::Applied);
        }
        assert_eq!(index.len(), size as usize + 20);
    }
}

#[test]
fn in_box_finds_exactly_the_technicians_a_scan_finds() {
    let mut rng = Rng(0x11FE_11FE);
    let tenant = rng.uuid();
    let other = rng.uuid();
    let mut entries = Vec::new();
    for _ in 0..3000 {
        let id = rng.uuid();
        entries.push(tech(tenant, id, random_point(&mut rng), &[]));
    }
    // Another tenant's technicians are never found.
    for _ in 0..200 {
        let id = rng.uuid();
        entries.push(tech(other, id, random_point(&mut rng), &[]));
    }
    let index = TechnicianIndex::from_entries(entries.clone()).expect("valid");
    let mut boxes = vec![
        (52.3, 13.0, 52.7, 13.8),
        (-90.0, -180.0, 90.0, 180.0),
        // Across the antimeridian.
        (-40.0, 170.0, 10.0, -170.0),
        (60.0, -10.0, 90.0, 10.0),
    ];
    for _ in 0..200 {
        let (a, b) = (rng.range(-90.0, 90.0), rng.range(-90.0, 90.0));
        let (w, e) = (rng.range(-180.0, 180.0), rng.range(-180.0, 180.0));
        boxes.push((a.min(b), w, a.max(b), e));
    }
    for (south, west, north, east) in boxes {
        let inside = |at: GeoPoint| {
            at.lat >= south
                && at.lat <= north
                && if west <= east {
                    at.lon >= west && at.lon <= east
                } else {
                    at.lon >= west || at.lon <= east
                }
        };
        let mut expected: Vec<Uuid> = entries
            .iter()
            .filter(|e| e.tenant_id == tenant && e.position.is_some_and(|p| inside(p.point)))
            .map(|e| e.id)
            .collect();
        let mut found: Vec<Uuid> = index
            .in_box(tenant, south, west, north, east)
            .iter()
            .map(|e| e.id)
            .collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected, "box {south},{west},{north},{east}");
    }
}
