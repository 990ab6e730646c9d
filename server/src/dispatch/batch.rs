//! Batch assignment: many open tickets to many technicians at once,
//! minimising the total travel distance subject to skills and capacity.
//!
//! The model: a ticket goes to at most one technician; a technician takes up
//! to their *remaining* capacity (capacity − open jobs) of tickets; a pair is
//! allowed only when the technician qualifies for the ticket (the caller
//! decides: skills, shift, availability, tenant). "Travel" is the
//! great-circle distance from the technician's current position to each site
//! they get — every job is costed from where the technician is now, not as a
//! tour. Among all plans that assign the **most** tickets, the plan with the
//! **least** total travel wins.
//!
//! # Algorithms
//!
//! - [`solve_exact`]: expands each technician into one column per free slot
//!   (at most as many as tickets that may use them) and solves the
//!   rectangular min-cost assignment with the Hungarian (Kuhn–Munkres)
//!   algorithm of the `pathfinding` crate, O(rows² × columns). Infeasible
//!   pairs cost more than any feasible plan. To make "most tickets first"
//!   exact without a huge penalty term, a maximum-cardinality matching
//!   (augmenting paths, capacities kept) counts `M` first and
//!   `rows − M` zero-cost "unassigned" columns are added, so every full row
//!   assignment without an infeasible pair assigns exactly `M` tickets.
//!   Distances are scaled to integers so the longest one is 10⁹ units (about
//!   2 cm at the scale of the Earth), so the optimum is exact to within that
//!   resolution per ticket.
//! - [`solve_heuristic`]: the greedy plan, improved by local search until no
//!   move helps (bounded passes): a ticket moves to a nearer technician with
//!   a free slot, two tickets swap technicians when that shortens the sum,
//!   and an unassigned ticket takes a slot freed by moving its holder to
//!   another free technician. No optimality guarantee; typically within a
//!   few percent of the optimum.
//! - [`solve`] picks the exact solver while the assignment matrix
//!   (tickets × (slots + unassigned columns)) has at most
//!   [`EXACT_MAX_CELLS`] cells — 500 tickets against 500 technicians with up
//!   to 2 500 usable slots — and the heuristic beyond.
//! - [`solve_greedy`]: the one-by-one baseline: each ticket, in order, takes
//!   the nearest allowed technician who still has a free slot.

use std::cmp::Ordering;

use pathfinding::{kuhn_munkres::kuhn_munkres, matrix::Matrix};
use uuid::Uuid;

use super::sphere;
use crate::domain::{geo::GeoPoint, people::SkillLevel};

/// Largest assignment matrix (rows × columns) [`solve`] hands to the exact
/// solver: 1200 tickets × 1200 one-slot technicians take about 0.2 s on one
/// core, 2000 × 2000 (past the limit) about 0.8 s (`dispatch_batch` bench).
pub const EXACT_MAX_CELLS: usize = 1_500_000;

/// Passes of local search the heuristic makes at most.
const HEURISTIC_MAX_PASSES: usize = 50;

/// Integer cost of the longest distance in an instance.
const COST_SCALE: f64 = 1e9;

/// "This technician may take this ticket, at this distance."
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Index into [`Instance::capacity`].
    pub technician: usize,
    pub distance_m: f64,
}

/// A batch to plan: technicians' free slots and, per ticket, who may take it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instance {
    capacity: Vec<u32>,
    /// Per ticket, nearest first (ties by technician index), one per technician.
    edges: Vec<Vec<Edge>>,
}

impl Instance {
    /// An instance with these remaining capacities and no tickets yet.
    pub fn new(capacity: Vec<u32>) -> Self {
        Self {
            capacity,
            edges: Vec::new(),
        }
    }

    /// Adds a ticket with the technicians who may take it; returns its index.
    /// A technician listed twice keeps the shorter distance.
    ///
    /// # Panics
    /// When an edge names a technician outside [`Instance::capacity`] or has
    /// a negative or non-finite distance: both are caller bugs.
    pub fn push_ticket(&mut self, edges: impl IntoIterator<Item = Edge>) -> usize {
        let mut edges: Vec<Edge> = edges.into_iter().collect();
        for edge in &edges {
            assert!(
                edge.technician < self.capacity.len(),
                "edge to unknown technician {}",
                edge.technician
            );
            assert!(
                edge.distance_m.is_finite() && edge.distance_m >= 0.0,
                "bad distance {}",
                edge.distance_m
            );
        }
        edges.sort_by(|a, b| {
            a.technician
                .cmp(&b.technician)
                .then(a.distance_m.total_cmp(&b.distance_m))
        });
        edges.dedup_by_key(|e| e.technician);
        edges.sort_by(by_distance);
        self.edges.push(edges);
        self.edges.len() - 1
    }

    /// Remaining capacity per technician.
    pub fn capacity(&self) -> &[u32] {
        &self.capacity
    }

    pub fn tickets(&self) -> usize {
        self.edges.len()
    }

    /// Who may take ticket `ticket`, nearest first.
    pub fn edges(&self, ticket: usize) -> &[Edge] {
        &self.edges[ticket]
    }

    /// The distance from `technician` to `ticket`, if that pair is allowed.
    pub fn distance(&self, ticket: usize, technician: usize) -> Option<f64> {
        self.edges[ticket]
            .iter()
            .find(|e| e.technician == technician)
            .map(|e| e.distance_m)
    }

    /// Free slots of a technician that can matter: no more than the tickets
    /// that may use them.
    fn usable_slots(&self) -> Vec<u32> {
        let mut wanted = vec![0u32; self.capacity.len()];
        for edge in self.edges.iter().flatten() {
            wanted[edge.technician] = wanted[edge.technician].saturating_add(1);
        }
        self.capacity
            .iter()
            .zip(wanted)
            .map(|(&capacity, wanted)| capacity.min(wanted))
            .collect()
    }
}

fn by_distance(a: &Edge, b: &Edge) -> Ordering {
    a.distance_m
        .total_cmp(&b.distance_m)
        .then(a.technician.cmp(&b.technician))
}

/// How a [`Solution`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Minimum total travel among the plans that assign the most tickets.
    Exact,
    /// Greedy plus local search; no guarantee.
    Heuristic,
    /// Each ticket in order takes the nearest technician with a free slot.
    Greedy,
}

/// A plan: per ticket, the technician it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub method: Method,
    /// Indexed like the instance's tickets; `None` is unassigned.
    pub assignment: Vec<Option<usize>>,
}

impl Solution {
    /// Number of tickets assigned.
    pub fn assigned(&self) -> usize {
        self.assignment.iter().flatten().count()
    }

    /// Sum of the distances of the assigned pairs.
    ///
    /// # Panics
    /// When the solution assigns a pair the instance does not allow.
    pub fn total_distance_m(&self, instance: &Instance) -> f64 {
        self.assignment
            .iter()
            .enumerate()
            .filter_map(|(ticket, technician)| technician.map(|t| (ticket, t)))
            .map(|(ticket, technician)| {
                instance
                    .distance(ticket, technician)
                    .expect("only allowed pairs are assigned")
            })
            .sum()
    }

    /// Whether every assigned pair is allowed and no technician is over
    /// their remaining capacity.
    pub fn is_valid_for(&self, instance: &Instance) -> bool {
        if self.assignment.len() != instance.tickets() {
            return false;
        }
        let mut used = vec![0u32; instance.capacity.len()];
        for (ticket, technician) in self.assignment.iter().enumerate() {
            if let Some(t) = *technician {
                if instance.distance(ticket, t).is_none() {
                    return false;
                }
                used[t] += 1;
            }
        }
        used.iter().zip(&instance.capacity).all(|(u, c)| u <= c)
    }
}

/// The exact solver while the problem is small enough, the heuristic beyond;
/// see the module documentation.
pub fn solve(instance: &Instance) -> Solution {
    match ExactSetup::new(instance) {
        Some(setup) if setup.cells() <= EXACT_MAX_CELLS => setup.run(instance),
        Some(_) => solve_heuristic(instance),
        None => unassigned(instance, Method::Exact),
    }
}

/// Minimum total travel among the plans that assign the most tickets.
/// O(tickets² × slots): use [`solve`] for inputs of unknown size.
pub fn solve_exact(instance: &Instance) -> Solution {
    match ExactSetup::new(instance) {
        Some(setup) => setup.run(instance),
        None => unassigned(instance, Method::Exact),
    }
}

fn unassigned(instance: &Instance, method: Method) -> Solution {
    Solution {
        method,
        assignment: vec![None; instance.tickets()],
    }
}

/// The assignment matrix of an instance, sized before it is built.
struct ExactSetup {
    /// Tickets with at least one technician who has a usable slot.
    rows: Vec<usize>,
    /// Per technician, its first column and number of slot columns.
    slots: Vec<(usize, u32)>,
    /// Column → technician, for the slot columns.
    column_technician: Vec<usize>,
    /// Zero-cost "unassigned" columns: rows − maximum matching.
    unassigned_columns: usize,
}

impl ExactSetup {
    /// `None` when no ticket can be assigned at all.
    fn new(instance: &Instance) -> Option<Self> {
        let usable = instance.usable_slots();
        let rows: Vec<usize> = (0..instance.tickets())
            .filter(|&ticket| {
                instance.edges[ticket]
                    .iter()
                    .any(|e| usable[e.technician] > 0)
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut slots = Vec::with_capacity(usable.len());
        let mut column_technician = Vec::new();
        for (technician, &count) in usable.iter().enumerate() {
            slots.push((column_technician.len(), count));
            column_technician.extend(std::iter::repeat_n(technician, count as usize));
        }
        let matched = max_matching(instance, &rows, &usable);
        Some(Self {
            unassigned_columns: rows.len() - matched,
            rows,
            slots,
            column_technician,
        })
    }

    fn columns(&self) -> usize {
        self.column_technician.len() + self.unassigned_columns
    }

    fn cells(&self) -> usize {
        self.rows.len().saturating_mul(self.columns())
    }

    fn run(&self, instance: &Instance) -> Solution {
        let max_distance = self
            .rows
            .iter()
            .flat_map(|&ticket| instance.edges[ticket].iter())
            .map(|e| e.distance_m)
            .fold(0.0_f64, f64::max);
        let scale = if max_distance > 0.0 {
            COST_SCALE / max_distance
        } else {
            1.0
        };
        // Costs are at most 10⁹, so any plan that uses an infeasible pair
        // costs more than every plan that does not.
        let infeasible = (COST_SCALE as i64 + 1).saturating_mul(self.rows.len() as i64 + 1);
        let slot_columns = self.column_technician.len();
        // Kuhn–Munkres maximises: weights are negated costs.
        let mut weights = Matrix::new(self.rows.len(), self.columns(), -infeasible);
        for (row, &ticket) in self.rows.iter().enumerate() {
            for edge in &instance.edges[ticket] {
                let (first, count) = self.slots[edge.technician];
                let cost = (edge.distance_m * scale).round() as i64;
                for column in first..first + count as usize {
                    weights[(row, column)] = -cost;
                }
            }
            for column in slot_columns..self.columns() {
                weights[(row, column)] = 0;
            }
        }
        let (_, columns) = kuhn_munkres(&weights);
        let mut assignment = vec![None; instance.tickets()];
        for (row, column) in columns.into_iter().enumerate() {
            if column < slot_columns && weights[(row, column)] > -infeasible {
                assignment[self.rows[row]] = Some(self.column_technician[column]);
            }
        }
        Solution {
            method: Method::Exact,
            assignment,
        }
    }
}

/// The largest number of `rows` that can be assigned at once (augmenting
/// paths over technicians with capacities).
fn max_matching(instance: &Instance, rows: &[usize], capacity: &[u32]) -> usize {
    struct Search<'a> {
        instance: &'a Instance,
        capacity: &'a [u32],
        holders: Vec<Vec<usize>>,
        visited: Vec<usize>,
        round: usize,
    }
    impl Search<'_> {
        /// Finds room for `ticket`, moving other tickets along if needed.
        fn place(&mut self, ticket: usize) -> bool {
            let instance = self.instance;
            for edge in &instance.edges[ticket] {
                let t = edge.technician;
                if self.capacity[t] == 0 || self.visited[t] == self.round {
                    continue;
                }
                self.visited[t] = self.round;
                if self.holders[t].len() < self.capacity[t] as usize {
                    self.holders[t].push(ticket);
                    return true;
                }
                for i in 0..self.holders[t].len() {
                    let holder = self.holders[t][i];
                    if self.place(holder) {
                        self.holders[t][i] = ticket;
                        return true;
                    }
                }
            }
            false
        }
    }
    let mut search = Search {
        instance,
        capacity,
        holders: vec![Vec::new(); capacity.len()],
        visited: vec![0; capacity.len()],
        round: 0,
    };
    let mut matched = 0;
    for &ticket in rows {
        search.round += 1;
        if search.place(ticket) {
            matched += 1;
        }
    }
    matched
}

/// Each ticket in order takes the nearest allowed technician who still has a
/// free slot.
pub fn solve_greedy(instance: &Instance) -> Solution {
    let mut free = instance.capacity.clone();
    let assignment = instance
        .edges
        .iter()
        .map(|edges| {
            let edge = edges.iter().find(|e| free[e.technician] > 0)?;
            free[edge.technician] -= 1;
            Some(edge.technician)
        })
        .collect();
    Solution {
        method: Method::Greedy,
        assignment,
    }
}

/// The greedy plan improved by local search; see the module documentation.
pub fn solve_heuristic(instance: &Instance) -> Solution {
    let mut search = LocalSearch::new(instance);
    for _ in 0..HEURISTIC_MAX_PASSES {
        if !search.pass() {
            break;
        }
    }
    Solution {
        method: Method::Heuristic,
        assignment: search.assignment,
    }
}

struct LocalSearch<'a> {
    instance: &'a Instance,
    assignment: Vec<Option<usize>>,
    free: Vec<u32>,
    /// Per technician, the tickets it holds.
    holders: Vec<Vec<usize>>,
    /// Per ticket, its edges sorted by technician for look-ups.
    lookup: Vec<Vec<Edge>>,
}

/// Improvements smaller than this (metres) are not worth a move; keeps the
/// search from cycling on rounding.
const MIN_GAIN_M: f64 = 1e-6;

impl<'a> LocalSearch<'a> {
    fn new(instance: &'a Instance) -> Self {
        let greedy = solve_greedy(instance);
        let mut free = instance.capacity.clone();
        let mut holders = vec![Vec::new(); instance.capacity.len()];
        for (ticket, technician) in greedy.assignment.iter().enumerate() {
            if let Some(t) = *technician {
                free[t] -= 1;
                holders[t].push(ticket);
            }
        }
        let lookup = instance
            .edges
            .iter()
            .map(|edges| {
                let mut sorted = edges.clone();
                sorted.sort_by_key(|e| e.technician);
                sorted
            })
            .collect();
        Self {
            instance,
            assignment: greedy.assignment,
            free,
            holders,
            lookup,
        }
    }

    fn distance(&self, ticket: usize, technician: usize) -> Option<f64> {
        let edges = &self.lookup[ticket];
        edges
            .binary_search_by_key(&technician, |e| e.technician)
            .ok()
            .map(|i| edges[i].distance_m)
    }

    fn assign(&mut self, ticket: usize, technician: Option<usize>) {
        if let Some(old) = self.assignment[ticket] {
            self.free[old] += 1;
            self.holders[old].retain(|&t| t != ticket);
        }
        if let Some(new) = technician {
            self.free[new] -= 1;
            self.holders[new].push(ticket);
        }
        self.assignment[ticket] = technician;
    }

    /// One pass over every ticket; whether anything improved.
    fn pass(&mut self) -> bool {
        let mut improved = false;
        for ticket in 0..self.instance.tickets() {
            improved |= match self.assignment[ticket] {
                Some(current) => self.improve(ticket, current),
                None => self.place(ticket),
            };
        }
        improved
    }

    /// An assigned ticket moves to a nearer free technician, or swaps with a
    /// ticket of a nearer technician when the pair's total shrinks.
    fn improve(&mut self, a: usize, ta: usize) -> bool {
        let Some(da) = self.distance(a, ta) else {
            return false;
        };
        let instance = self.instance;
        for edge in &instance.edges[a] {
            if edge.distance_m + MIN_GAIN_M >= da {
                break;
            }
            let t = edge.technician;
            if self.free[t] > 0 {
                self.assign(a, Some(t));
                return true;
            }
            for i in 0..self.holders[t].len() {
                let b = self.holders[t][i];
                let (Some(db), Some(db_to_ta)) = (self.distance(b, t), self.distance(b, ta)) else {
                    continue;
                };
                if edge.distance_m + db_to_ta + MIN_GAIN_M < da + db {
                    self.assign(b, None);
                    self.assign(a, Some(t));
                    self.assign(b, Some(ta));
                    return true;
                }
            }
        }
        false
    }

    /// An unassigned ticket takes a free technician, or the slot of a holder
    /// who can move to another free technician.
    fn place(&mut self, ticket: usize) -> bool {
        let instance = self.instance;
        if let Some(edge) = instance.edges[ticket]
            .iter()
            .find(|e| self.free[e.technician] > 0)
        {
            self.assign(ticket, Some(edge.technician));
            return true;
        }
        for edge in &instance.edges[ticket] {
            let t = edge.technician;
            for i in 0..self.holders[t].len() {
                let holder = self.holders[t][i];
                if let Some(elsewhere) = instance.edges[holder]
                    .iter()
                    .find(|e| e.technician != t && self.free[e.technician] > 0)
                {
                    self.assign(holder, Some(elsewhere.technician));
                    self.assign(ticket, Some(t));
                    return true;
                }
            }
        }
        false
    }
}

/// A ticket to plan, for [`all_pairs`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTicket {
    pub id: Uuid,
    pub site: GeoPoint,
    /// Every skill at or above its level.
    pub required: Vec<SkillLevel>,
}

/// A technician to plan with, for [`all_pairs`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTechnician {
    pub id: Uuid,
    pub position: GeoPoint,
    pub skills: Vec<SkillLevel>,
    /// Capacity − open jobs.
    pub remaining: u32,
    /// Available and on shift now.
    pub available: bool,
}

impl BatchTechnician {
    /// Whether this technician may take `ticket`.
    pub fn qualifies_for(&self, ticket: &BatchTicket) -> bool {
        self.available
            && self.remaining > 0
            && ticket.required.iter().all(|need| {
                self.skills
                    .iter()
                    .any(|has| has.skill == need.skill && has.level >= need.level)
            })
    }
}

/// The instance where every qualified pair is allowed, at great-circle
/// distance. O(tickets × technicians).
pub fn all_pairs(tickets: &[BatchTicket], technicians: &[BatchTechnician]) -> Instance {
    let mut instance = Instance::new(
        technicians
            .iter()
            .map(|t| if t.available { t.remaining } else { 0 })
            .collect(),
    );
    for ticket in tickets {
        instance.push_ticket(
            technicians
                .iter()
                .enumerate()
                .filter(|(_, technician)| technician.qualifies_for(ticket))
                .map(|(i, technician)| Edge {
                    technician: i,
                    distance_m: sphere::great_circle_m(technician.position, ticket.site),
                }),
        );
    }
    instance
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: small, seeded, good enough for test instances.
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

        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Random instance: `tickets` tickets, `technicians` technicians with
    /// capacity 0..=max_capacity, each pair allowed with probability `density`.
    fn random_instance(
        rng: &mut Rng,
        tickets: usize,
        technicians: usize,
        max_capacity: u64,
        density: f64,
    ) -> Instance {
        let capacity = (0..technicians)
            .map(|_| rng.below(max_capacity + 1) as u32)
            .collect();
        let mut instance = Instance::new(capacity);
        for _ in 0..tickets {
            let mut edges = Vec::new();
            for technician in 0..technicians {
                if rng.unit() >= density {
                    continue;
                }
                // Whole metres make ties common: ties must not matter.
                let distance_m = if rng.below(4) == 0 {
                    rng.below(20) as f64
                } else {
                    rng.unit() * 10_000.0
                };
                edges.push(Edge {
                    technician,
                    distance_m,
                });
            }
            instance.push_ticket(edges);
        }
        instance
    }

    /// (most tickets assigned, least total travel among those), by trying
    /// every way to give each ticket one of its technicians or nobody.
    fn brute_force(instance: &Instance) -> (usize, f64) {
        fn go(
            instance: &Instance,
            ticket: usize,
            free: &mut [u32],
            assigned: usize,
            total: f64,
            best: &mut (usize, f64),
        ) {
            if ticket == instance.tickets() {
                if assigned > best.0 || (assigned == best.0 && total < best.1) {
                    *best = (assigned, total);
                }
                return;
            }
            go(instance, ticket + 1, free, assigned, total, best);
            for edge in instance.edges(ticket) {
                if free[edge.technician] > 0 {
                    free[edge.technician] -= 1;
                    go(
                        instance,
                        ticket + 1,
                        free,
                        assigned + 1,
                        total + edge.distance_m,
                        best,
                    );
                    free[edge.technician] += 1;
                }
            }
        }
        let mut best = (0, 0.0);
        let mut free = instance.capacity().to_vec();
        go(instance, 0, &mut free, 0, 0.0, &mut best);
        best
    }

    /// Integer costs are exact to 10⁻⁹ of the longest distance per ticket.
    fn tolerance(instance: &Instance) -> f64 {
        let longest = (0..instance.tickets())
            .flat_map(|t| instance.edges(t).iter().map(|e| e.distance_m))
            .fold(0.0, f64::max);
        (instance.tickets() as f64 + 1.0) * longest / COST_SCALE + 1e-6
    }

    fn check_exact_against_brute_force(
        seed: u64,
        cases: usize,
        shape: impl Fn(&mut Rng) -> Instance,
    ) {
        let mut rng = Rng(seed);
        for case in 0..cases {
            let instance = shape(&mut rng);
            let exact = solve_exact(&instance);
            assert!(exact.is_valid_for(&instance), "case {case}: {instance:?}");
            let (most, least) = brute_force(&instance);
            let total = exact.total_distance_m(&instance);
            assert_eq!(
                exact.assigned(),
                most,
                "case {case}: assigned count; {instance:?} → {exact:?}"
            );
            assert!(
                (total - least).abs() <= tolerance(&instance),
                "case {case}: total {total} vs brute force {least}; {instance:?} → {exact:?}"
            );
            // The baseline and the heuristic are valid and never beat the optimum.
            for other in [solve_greedy(&instance), solve_heuristic(&instance)] {
                assert!(other.is_valid_for(&instance), "case {case}: {other:?}");
                assert!(other.assigned() <= most);
                if other.assigned() == most {
                    assert!(other.total_distance_m(&instance) + tolerance(&instance) >= least);
                }
            }
        }
    }

    #[test]
    fn exact_matches_brute_force_one_slot_each() {
        check_exact_against_brute_force(1, 300, |rng| {
            let tickets = 1 + rng.below(6) as usize;
            let technicians = 1 + rng.below(6) as usize;
            let mut instance = random_instance(rng, tickets, technicians, 1, 1.0);
            instance.capacity = vec![1; technicians];
            instance
        });
    }

    #[test]
    fn exact_matches_brute_force_with_capacities() {
        check_exact_against_brute_force(2, 300, |rng| {
            let tickets = 1 + rng.below(6) as usize;
            let technicians = 1 + rng.below(4) as usize;
            random_instance(rng, tickets, technicians, 3, 1.0)
        });
    }

    #[test]
    fn exact_matches_brute_force_with_infeasible_pairs() {
        check_exact_against_brute_force(3, 400, |rng| {
            let tickets = 1 + rng.below(7) as usize;
            let technicians = 1 + rng.below(5) as usize;
            random_instance(rng, tickets, technicians, 2, 0.45)
        });
    }

    #[test]
    fn exact_matches_brute_force_with_more_tickets_than_slots() {
        check_exact_against_brute_force(4, 300, |rng| {
            let tickets = 4 + rng.below(4) as usize;
            let technicians = 1 + rng.below(3) as usize;
            random_instance(rng, tickets, technicians, 2, 0.7)
        });
    }

    #[test]
    fn most_tickets_first_then_least_travel() {
        // A is 1 m from X only; B is 5 m from X and 1000 m from Y. Greedy
        // (A first) is optimal here; with B first, greedy takes X for B and
        // leaves A with nobody.
        let mut instance = Instance::new(vec![1, 1]);
        let b = instance.push_ticket([
            Edge {
                technician: 0,
                distance_m: 5.0,
            },
            Edge {
                technician: 1,
                distance_m: 1000.0,
            },
        ]);
        let a = instance.push_ticket([Edge {
            technician: 0,
            distance_m: 1.0,
        }]);
        let greedy = solve_greedy(&instance);
        assert_eq!(greedy.assignment, vec![Some(0), None]);
        let exact = solve_exact(&instance);
        assert_eq!(exact.assignment[a], Some(0));
        assert_eq!(exact.assignment[b], Some(1));
        assert_eq!(exact.total_distance_m(&instance), 1001.0);
        let heuristic = solve_heuristic(&instance);
        assert_eq!(heuristic.assigned(), 2);
    }

    #[test]
    fn greedy_takes_the_shared_nearest_and_loses() {
        // Both tickets are nearest to X; the second is much nearer to Y than
        // the first is.
        let mut instance = Instance::new(vec![1, 1]);
        instance.push_ticket([
            Edge {
                technician: 0,
                distance_m: 1.0,
            },
            Edge {
                technician: 1,
                distance_m: 2.0,
            },
        ]);
        instance.push_ticket([
            Edge {
                technician: 0,
                distance_m: 1.5,
            },
            Edge {
                technician: 1,
                distance_m: 100.0,
            },
        ]);
        assert_eq!(solve_greedy(&instance).total_distance_m(&instance), 101.0);
        let exact = solve(&instance);
        assert_eq!(exact.method, Method::Exact);
        assert_eq!(exact.assignment, vec![Some(1), Some(0)]);
        assert_eq!(exact.total_distance_m(&instance), 3.5);
        assert_eq!(solve_heuristic(&instance).total_distance_m(&instance), 3.5);
    }

    #[test]
    fn empty_and_hopeless_instances() {
        let empty = Instance::new(vec![]);
        assert_eq!(solve(&empty).assignment, Vec::<Option<usize>>::new());
        let mut hopeless = Instance::new(vec![0, 3]);
        hopeless.push_ticket([Edge {
            technician: 0,
            distance_m: 1.0,
        }]);
        hopeless.push_ticket([]);
        for solution in [
            solve(&hopeless),
            solve_exact(&hopeless),
            solve_greedy(&hopeless),
            solve_heuristic(&hopeless),
        ] {
            assert_eq!(solution.assignment, vec![None, None]);
        }
    }

    #[test]
    fn duplicate_edges_keep_the_shorter() {
        let mut instance = Instance::new(vec![1]);
        instance.push_ticket([
            Edge {
                technician: 0,
                distance_m: 7.0,
            },
            Edge {
                technician: 0,
                distance_m: 3.0,
            },
        ]);
        assert_eq!(instance.edges(0).len(), 1);
        assert_eq!(instance.distance(0, 0), Some(3.0));
    }

    #[test]
    fn all_pairs_checks_skills_capacity_and_availability() {
        let hvac = |level| SkillLevel {
            skill: "hvac".into(),
            level,
        };
        let berlin = GeoPoint {
            lat: 52.52,
            lon: 13.40,
        };
        let ticket = BatchTicket {
            id: Uuid::nil(),
            site: berlin,
            required: vec![hvac(2)],
        };
        let technician = |skills: Vec<SkillLevel>, remaining, available| BatchTechnician {
            id: Uuid::nil(),
            position: berlin,
            skills,
            remaining,
            available,
        };
        let technicians = [
            technician(vec![hvac(3)], 1, true),
            technician(vec![hvac(1)], 1, true),
            technician(vec![], 1, true),
            technician(vec![hvac(2)], 0, true),
            technician(vec![hvac(2)], 2, false),
        ];
        let instance = all_pairs(&[ticket], &technicians);
        assert_eq!(instance.capacity(), &[1, 1, 1, 0, 0]);
        assert_eq!(
            instance.edges(0),
            &[Edge {
                technician: 0,
                distance_m: 0.0
            }]
        );
    }

    #[test]
    fn larger_instances_exact_beats_or_ties_heuristic_and_greedy() {
        let mut rng = Rng(5);
        for _ in 0..5 {
            let instance = random_instance(&mut rng, 120, 80, 2, 0.3);
            let exact = solve_exact(&instance);
            let heuristic = solve_heuristic(&instance);
            let greedy = solve_greedy(&instance);
            for plan in [&exact, &heuristic, &greedy] {
                assert!(plan.is_valid_for(&instance));
            }
            assert!(exact.assigned() >= heuristic.assigned());
            assert!(heuristic.assigned() >= greedy.assigned());
            if exact.assigned() == heuristic.assigned() {
                assert!(
                    exact.total_distance_m(&instance)
                        <= heuristic.total_distance_m(&instance) + tolerance(&instance)
                );
            }
            if heuristic.assigned() == greedy.assigned() {
                assert!(
                    heuristic.total_distance_m(&instance)
                        <= greedy.total_distance_m(&instance) + 1e-6
                );
            }
        }
    }

    #[test]
    fn solve_switches_to_the_heuristic_past_the_limit() {
        let mut rng = Rng(6);
        // 1300 tickets × ≥ 1300 columns > EXACT_MAX_CELLS.
        let instance = random_instance(&mut rng, 1300, 700, 2, 0.02);
        let plan = solve(&instance);
        assert_eq!(plan.method, Method::Heuristic);
        assert!(plan.is_valid_for(&instance));
        assert!(plan.assigned() >= solve_greedy(&instance).assigned());
    }
}
