//! VRPTW quality benchmark (issue 20): Solomon instances solved by the day
//! planner's solver (vrp-core, the same crate and features the server's day
//! plans use: unassigned, then tours, then distance; capacity; time
//! windows) and by a cheapest-insertion baseline, in the same run, against
//! the published best-known solutions.
//!
//! Usage: `vrptw-bench [--seconds N] [--objective vehicles|distance] FILE
//! BKS_DISTANCE BKS_VEHICLES [FILE …]` where FILE is Solomon
//! (`C101.100.txt`) or VRPLIB (`RC208.vrp`) format. `vehicles` (the
//! default) ranks fewest vehicles first, then distance, as Solomon did;
//! `distance` minimises distance alone (the DIMACS convention of PyVRP's
//! and CVRPLIB's recent BKS), to compare with a distance-only BKS.
//! `--heuristic static` swaps vrp-core's default (dynamic) operator
//! selection for its static one, for tuning.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use vrp_core::{
    construction::features::create_minimize_tours_feature, models::common::TimeWindow, prelude::*,
    rosomaxa::evolution::TelemetryMode,
};

#[derive(Clone, Copy, PartialEq)]
enum Objective {
    VehiclesThenDistance,
    Distance,
}

struct Customer {
    x: f64,
    y: f64,
    demand: i32,
    ready: f64,
    due: f64,
    service: f64,
}

struct Instance {
    name: String,
    vehicles: usize,
    capacity: i32,
    /// Index 0 is the depot.
    nodes: Vec<Customer>,
}

fn numbers(line: &str) -> Vec<f64> {
    line.split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn parse_solomon(name: &str, text: &str) -> Result<Instance, String> {
    let lines: Vec<&str> = text.lines().collect();
    let vehicle_line = lines
        .iter()
        .position(|l| l.trim_start().starts_with("NUMBER"))
        .ok_or("no VEHICLE section")?;
    let fleet = numbers(lines.get(vehicle_line + 1).ok_or("no fleet line")?);
    let nodes = lines
        .iter()
        .skip(vehicle_line + 2)
        .map(|l| numbers(l))
        .filter(|n| n.len() == 7)
        .map(|n| Customer {
            x: n[1],
            y: n[2],
            demand: n[3] as i32,
            ready: n[4],
            due: n[5],
            service: n[6],
        })
        .collect();
    Ok(Instance {
        name: name.into(),
        vehicles: fleet[0] as usize,
        capacity: fleet[1] as i32,
        nodes,
    })
}

fn parse_vrplib(name: &str, text: &str) -> Result<Instance, String> {
    let header = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let size = header("DIMENSION").ok_or("no DIMENSION")? as usize;
    let section = |title: &str| -> Vec<Vec<f64>> {
        text.lines()
            .skip_while(|l| !l.starts_with(title))
            .skip(1)
            .take(size)
            .map(numbers)
            .collect()
    };
    let coords = section("NODE_COORD_SECTION");
    let demands = section("DEMAND_SECTION");
    let windows = section("TIME_WINDOW_SECTION");
    let service = header("SERVICE_TIME").unwrap_or(0.0);
    let nodes = (0..size)
        .map(|i| Customer {
            x: coords[i][1],
            y: coords[i][2],
            demand: demands[i][1] as i32,
            ready: windows[i][1],
            due: windows[i][2],
            service: if i == 0 { 0.0 } else { service },
        })
        .collect();
    Ok(Instance {
        name: name.into(),
        vehicles: header("VEHICLES").ok_or("no VEHICLES")? as usize,
        capacity: header("CAPACITY").ok_or("no CAPACITY")? as i32,
        nodes,
    })
}

fn distance(a: &Customer, b: &Customer) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// (vehicles, distance) of routes over customer indices, or why they are invalid.
fn evaluate(instance: &Instance, routes: &[Vec<usize>]) -> Result<(usize, f64), String> {
    let depot = &instance.nodes[0];
    let mut total = 0.0;
    let mut seen = vec![false; instance.nodes.len()];
    for route in routes.iter().filter(|r| !r.is_empty()) {
        let (mut at, mut here, mut load) = (0.0f64, 0usize, 0);
        for &c in route {
            let node = &instance.nodes[c];
            if std::mem::replace(&mut seen[c], true) {
                return Err(format!("customer {c} twice"));
            }
            let leg = distance(&instance.nodes[here], node);
            total += leg;
            at = (at + leg).max(node.ready);
            if at > node.due + 1e-6 {
                return Err(format!("customer {c} late"));
            }
            at += node.service;
            load += node.demand;
            here = c;
        }
        let back = distance(&instance.nodes[here], depot);
        total += back;
        if at + back > depot.due + 1e-6 || load > instance.capacity {
            return Err("route over time or capacity".into());
        }
    }
    if seen.iter().skip(1).any(|s| !s) {
        return Err("a customer is not served".into());
    }
    Ok((routes.iter().filter(|r| !r.is_empty()).count(), total))
}

/// Cheapest insertion: customers by due time, each where it adds least
/// distance in an open route, else in a new route.
fn greedy(instance: &Instance) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (1..instance.nodes.len()).collect();
    order.sort_by(|a, b| instance.nodes[*a].due.total_cmp(&instance.nodes[*b].due));
    let mut routes: Vec<Vec<usize>> = Vec::new();
    for c in order {
        let mut best: Option<(f64, usize, usize)> = None;
        for (r, route) in routes.iter().enumerate() {
            let before = evaluate_route(instance, route);
            for position in 0..=route.len() {
                let mut candidate = route.clone();
                candidate.insert(position, c);
                if let (Some(after), Some(before)) = (evaluate_route(instance, &candidate), before)
                    && best.is_none_or(|(cost, _, _)| after - before < cost)
                {
                    best = Some((after - before, r, position));
                }
            }
        }
        match best {
            Some((_, r, position)) => routes[r].insert(position, c),
            None => routes.push(vec![c]),
        }
    }
    routes
}

fn evaluate_route(instance: &Instance, route: &[usize]) -> Option<f64> {
    let depot = &instance.nodes[0];
    let (mut at, mut here, mut load, mut total) = (0.0f64, 0usize, 0, 0.0);
    for &c in route {
        let node = &instance.nodes[c];
        let leg = distance(&instance.nodes[here], node);
        total += leg;
        at = (at + leg).max(node.ready);
        if at > node.due + 1e-6 {
            return None;
        }
        at += node.service;
        load += node.demand;
        here = c;
    }
    let back = distance(&instance.nodes[here], depot);
    (at + back <= depot.due + 1e-6 && load <= instance.capacity).then_some(total + back)
}

/// The routes, and the seconds after which the solver first held the best
/// solution it returned.
fn solve(
    instance: &Instance,
    seconds: usize,
    objective: Objective,
    static_heuristic: bool,
) -> GenericResult<(Vec<Vec<usize>>, f64)> {
    let size = instance.nodes.len();
    let mut matrix = Vec::with_capacity(size * size);
    for a in &instance.nodes {
        for b in &instance.nodes {
            matrix.push(distance(a, b));
        }
    }
    let transport: Arc<dyn TransportCost> =
        Arc::new(SimpleTransportCost::new(matrix.clone(), matrix)?);
    let jobs = (1..size)
        .map(|i| {
            let node = &instance.nodes[i];
            SingleBuilder::default()
                .id(&i.to_string())
                .demand(Demand::delivery(node.demand))
                .location(i)?
                .duration(node.service)?
                .times(vec![TimeWindow::new(node.ready, node.due)])?
                .build_as_job()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vehicles = (0..instance.vehicles)
        .map(|i| {
            VehicleBuilder::default()
                .id(&format!("v{i}"))
                .add_detail(
                    VehicleDetailBuilder::default()
                        .set_start_location(0)
                        .set_start_time(0.0)
                        .set_end_location(0)
                        .set_end_time(instance.nodes[0].due)
                        .build()?,
                )
                .capacity(SingleDimLoad::new(instance.capacity))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut features = vec![MinimizeUnassignedBuilder::new("min-unassigned").build()?];
    if objective == Objective::VehiclesThenDistance {
        features.push(create_minimize_tours_feature("min-tours")?);
    }
    features.push(
        TransportFeatureBuilder::new("min-distance")
            .set_transport_cost(transport.clone())
            .set_time_constrained(true)
            .build_minimize_distance()?,
    );
    features.push(CapacityFeatureBuilder::<SingleDimLoad>::new("capacity").build()?);
    let goal = GoalContextBuilder::with_features(&features)?.build()?;
    let problem = Arc::new(
        ProblemBuilder::default()
            .add_jobs(jobs.into_iter())
            .add_vehicles(vehicles.into_iter())
            .with_goal(goal)
            .with_transport_cost(transport)
            .build()?,
    );
    // The best solution's fitness after every generation, timed here.
    let started = Instant::now();
    let best: Arc<Mutex<Vec<(f64, String)>>> = Arc::default();
    let logger: InfoLogger = {
        let best = best.clone();
        Arc::new(move |line: &str| {
            if let Some((_, fitness)) = line.split_once("fitness: ")
                && line.contains("generation")
                && let Ok(mut best) = best.lock()
            {
                best.push((started.elapsed().as_secs_f64(), fitness.to_owned()));
            }
        })
    };
    let environment = Arc::new(Environment::default());
    let mut builder = VrpConfigBuilder::new(problem.clone()).set_environment(environment.clone());
    if static_heuristic {
        builder = builder.set_heuristic(Box::new(vrp_core::solver::get_static_heuristic(
            problem.clone(),
            environment,
        )));
    }
    let config = builder
        .set_telemetry_mode(TelemetryMode::OnlyLogging {
            logger,
            log_best: 1,
            log_population: usize::MAX,
        })
        .prebuild()?
        .with_max_time(Some(seconds))
        .with_max_generations(Some(usize::MAX / 2))
        .build()?;
    let solution = Solver::new(problem, config).solve()?;
    if !solution.unassigned.is_empty() {
        return Err(format!("{} customers unassigned", solution.unassigned.len()).into());
    }
    let routes = solution
        .get_locations()
        .map(|route| route.filter(|&l| l != 0).collect())
        .collect();
    let found = best
        .lock()
        .ok()
        .and_then(|log| {
            let last = &log.last()?.1;
            log.iter().find(|(_, f)| f == last).map(|(t, _)| *t)
        })
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    Ok((routes, found))
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 30;
    let mut objective = Objective::VehiclesThenDistance;
    let mut static_heuristic = false;
    loop {
        match args.first().map(String::as_str) {
            Some("--seconds") => {
                seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
                args.drain(..2.min(args.len()));
            }
            Some("--objective") => {
                objective = match args.get(1).map(String::as_str) {
                    Some("distance") => Objective::Distance,
                    Some("vehicles") => Objective::VehiclesThenDistance,
                    other => {
                        eprintln!("--objective vehicles|distance, not {other:?}");
                        std::process::exit(2);
                    }
                };
                args.drain(..2.min(args.len()));
            }
            Some("--heuristic") => {
                static_heuristic = args.get(1).map(String::as_str) == Some("static");
                args.drain(..2.min(args.len()));
            }
            _ => break,
        }
    }
    let label = match objective {
        Objective::VehiclesThenDistance => "vehicles, then distance",
        Objective::Distance => "distance only",
    };
    let heuristic = if static_heuristic {
        "static"
    } else {
        "default (dynamic)"
    };
    println!("objective: {label}; vrp-core budget {seconds} s; heuristic {heuristic}");
    println!(
        "| instance | BKS vehicles / distance | solver | vehicles | distance | gap % | best found at s | time s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for chunk in args.chunks(3) {
        let [file, bks_distance, bks_vehicles] = chunk else {
            eprintln!("usage: vrptw-bench [--seconds N] FILE BKS_DISTANCE BKS_VEHICLES …");
            std::process::exit(2);
        };
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(file)
            .to_owned();
        let instance = if text.contains("NODE_COORD_SECTION") {
            parse_vrplib(&name, &text)
        } else {
            parse_solomon(&name, &text)
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let bks: f64 = bks_distance.parse().expect("BKS distance");
        let report = |solver: &str, routes: &[Vec<usize>], found: f64, secs: f64| match evaluate(
            &instance, routes,
        ) {
            Ok((vehicles, total)) => {
                // A distance gap says little when the vehicle counts differ.
                let fleet = match bks_vehicles.parse::<usize>() {
                    Ok(best) if best != vehicles => {
                        format!(" ({:+} vehicles)", vehicles as i64 - best as i64)
                    }
                    _ => String::new(),
                };
                println!(
                    "| {} | {bks_vehicles} / {bks} | {solver} | {vehicles} | {total:.2} | {:.2}{fleet} | {found:.2} | {secs:.2} |",
                    instance.name,
                    (total - bks) / bks * 100.0
                )
            }
            Err(why) => println!(
                "| {} | {bks_vehicles} / {bks} | {solver} | invalid: {why} | | | | {secs:.2} |",
                instance.name
            ),
        };
        let started = Instant::now();
        let routes = greedy(&instance);
        let secs = started.elapsed().as_secs_f64();
        report("greedy insertion", &routes, secs, secs);
        let started = Instant::now();
        match solve(&instance, seconds, objective, static_heuristic) {
            Ok((routes, found)) => report(
                &format!("vrp-core {seconds} s"),
                &routes,
                found,
                started.elapsed().as_secs_f64(),
            ),
            Err(e) => println!("| {} | | vrp-core | failed: {e} | | | | |", instance.name),
        }
    }
}
