//! Parts benchmark (issue 23) on a throwaway database: T technicians, each
//! with a van, one warehouse, 500 parts and N ledger movements bulk-loaded
//! with SQL (receipts into the warehouse, transfers to the vans, consumption
//! from the vans), and the balances the server keeps beside them. Then, in
//! the same run, through the store API in process (no HTTP):
//!
//! - **one van's balance** (`PartStore::balances` by location) against the
//!   peer, summing that van's movements in the ledger;
//! - **the warehouse's balance** (every receipt and transfer touches it)
//!   against summing its movements;
//! - **one part in all vans** (`PartStore::van_holdings`, what dispatch
//!   reads) against grouping the ledger's movements of that part by van;
//! - **candidates** at T technicians: without required parts against with
//!   one required part under `prefer` and under `require`
//!   (`dispatch::parts::ranked`), for a part about a hundred vans hold and
//!   for a part no van holds.
//!
//! p50 / p95 in milliseconds. The ledger is loaded with its foreign-key
//! checks off (PostgreSQL: the table's triggers; SQLite: the pragma on the
//! one raw connection) and its secondary indexes built after the load (the
//! rows are valid by construction); the measured queries see the same
//! tables and indexes as the server's.
//!
//! `target/debug/parts-bench postgres 10000000 100000`
//! `target/debug/parts-bench sqlite 1000000 100000`

use std::time::Instant;

use truckroll_server::{
    dispatch::{DispatchConfig, parts::ranked, service::DispatchService},
    domain::{geo::GeoPoint, parts::PartsPolicy},
    store::{Actor, parts::BalanceFilter},
};
use truckroll_tests::{
    RawDb, TestBackend,
    bench::{Bench, Lcg, backend_arg, ids, percentile},
};
use uuid::Uuid;

const ROUNDS: usize = 200;
const PARTS: u64 = 500;

struct Timings {
    name: &'static str,
    millis: Vec<f64>,
    rows: usize,
}

impl Timings {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            millis: Vec::new(),
            rows: 0,
        }
    }

    fn time(&mut self, started: Instant, rows: usize) {
        self.millis.push(started.elapsed().as_secs_f64() * 1000.0);
        self.rows += rows;
    }

    fn report(&mut self) {
        self.millis.sort_by(f64::total_cmp);
        println!(
            "| {:<40} | {:>9.2} | {:>9.2} | {:>9.2} | {:>9.1} |",
            self.name,
            percentile(&self.millis, 50.0),
            percentile(&self.millis, 95.0),
            self.millis.last().copied().unwrap_or_default(),
            self.rows as f64 / self.millis.len().max(1) as f64,
        );
    }
}

struct Seeded {
    warehouse: Uuid,
    vans: Vec<Uuid>,
    parts: Vec<Uuid>,
    ticket_plain: Uuid,
    /// Needs a part about a hundred vans hold.
    ticket_parts: Uuid,
    /// Needs a part no van holds.
    ticket_nobody: Uuid,
}

/// The ledger's secondary indexes, dropped for the bulk load on PostgreSQL
/// and built again after it (as in `0025_parts.sql`).
const LEDGER_INDEXES: [(&str, &str); 4] = [
    ("stock_movements_tenant", "(tenant_id, created_at, id)"),
    ("stock_movements_from", "(from_location_id, part_id)"),
    ("stock_movements_to", "(to_location_id, part_id)"),
    ("stock_movements_ticket", "(ticket_id, entry_id)"),
];

async fn seed(bench: &Bench, n: u64, t: u64) -> Seeded {
    let (db, backend, tenant, user) = (&bench.raw, bench.backend, bench.tenant_id, bench.user_id);
    let now = bench.sql.now;
    let rows = |count: u64| bench.sql.rows(count);
    let id = |prefix: &str| bench.sql.id(prefix);
    let started = Instant::now();
    // Technicians spread over about 600 × 600 km around Kassel, all on
    // shift, hvac level 3, each with a van.
    db.execute(
        &format!(
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, active, created_at) \
             SELECT {}, $1, 'tech' || g || '@bench.test', 'Tech ' || g, 'technician', 'x', TRUE, {now} FROM {}",
            id("u"),
            rows(t)
        ),
        &[tenant],
    )
    .await;
    let shifts = r#"[{"day":"mon","start":"00:00","end":"00:00"},{"day":"tue","start":"00:00","end":"00:00"},{"day":"wed","start":"00:00","end":"00:00"},{"day":"thu","start":"00:00","end":"00:00"},{"day":"fri","start":"00:00","end":"00:00"},{"day":"sat","start":"00:00","end":"00:00"},{"day":"sun","start":"00:00","end":"00:00"}]"#;
    db.execute(
        &format!(
            "INSERT INTO technicians (id, tenant_id, user_id, name, skills, shifts, time_zone, home_lat, home_lon, capacity, status, created_at, updated_at) \
             SELECT {}, u.tenant_id, u.id, u.name, '[{{\"skill\":\"hvac\",\"level\":3}}]', '{shifts}', 'UTC', \
             48.5 + ((u.k * 7919) % 10007) / 1800.0, 6.5 + ((u.k * 104729) % 10009) / 1200.0, 5, 'available', {now}, {now} \
             FROM (SELECT id, tenant_id, name, ROW_NUMBER() OVER (ORDER BY id) AS k FROM users WHERE tenant_id = $1 AND role = 'technician') u",
            id("t").replace("g", "u.k"),
        ),
        &[tenant],
    )
    .await;
    db.execute(
        &format!(
            "INSERT INTO stock_locations (id, tenant_id, kind, name, technician_id, created_at) \
             SELECT {}, tenant_id, 'van', 'Van · ' || name, id, {now} FROM \
             (SELECT tenant_id, name, id, ROW_NUMBER() OVER (ORDER BY id) AS k FROM technicians WHERE tenant_id = $1) t",
            id("v").replace("g", "t.k"),
        ),
        &[tenant],
    )
    .await;
    db.execute(
        &format!("INSERT INTO stock_locations (id, tenant_id, kind, name, created_at) VALUES ({}, $1, 'warehouse', 'Central', {now})", id("w").replace("g", "0")),
        &[tenant],
    )
    .await;
    db.execute(
        &format!(
            "INSERT INTO parts (id, tenant_id, number, name, unit, price_cents, cost_cents, serial_tracked, created_at, updated_at) \
             SELECT {}, $1, 'P-' || g, 'part ' || g, 'pcs', 100 * g, 50 * g, FALSE, {now}, {now} FROM {}",
            id("p"),
            rows(PARTS)
        ),
        &[tenant],
    )
    .await;
    db.execute(
        "CREATE TABLE bench_vans AS SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM stock_locations WHERE kind = 'van'",
        &[],
    )
    .await;
    db.execute("CREATE UNIQUE INDEX bench_vans_k ON bench_vans (k)", &[])
        .await;
    db.execute(
        "CREATE TABLE bench_parts AS SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM parts",
        &[],
    )
    .await;
    db.execute("CREATE UNIQUE INDEX bench_parts_k ON bench_parts (k)", &[])
        .await;
    let warehouse = ids(
        db,
        "SELECT id FROM stock_locations WHERE kind = 'warehouse'",
    )
    .await[0];
    println!(
        "seeded {t} technicians and vans in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The ledger: g % 10 = 0 a receipt of 20 into the warehouse, 1..5 a
    // transfer of 2 to van (g·7919 mod T), 6..9 a consumption of 1 from it.
    let started = Instant::now();
    let van = format!("(SELECT id FROM bench_vans WHERE k = (g * 7919) % {t})");
    let part = format!("(SELECT id FROM bench_parts WHERE k = ((g / 10) * 104729) % {PARTS})");
    match backend {
        TestBackend::Postgres => {
            db.execute("ALTER TABLE stock_movements DISABLE TRIGGER ALL", &[])
                .await
        }
        // The raw connection is the only one: the pragma holds for the load.
        TestBackend::Sqlite => db.execute("PRAGMA foreign_keys = OFF", &[]).await,
    };
    for (name, _) in LEDGER_INDEXES {
        db.execute(&format!("DROP INDEX {name}"), &[]).await;
    }
    let chunk = 1_000_000;
    let mut done = 0;
    while done < n {
        let count = chunk.min(n - done);
        let g = format!("(g + {done})");
        db.execute(
            &format!(
                "INSERT INTO stock_movements (id, tenant_id, kind, part_id, from_location_id, to_location_id, quantity, created_at) \
                 SELECT {}, $1, CASE WHEN g % 10 = 0 THEN 'receipt' WHEN g % 10 < 6 THEN 'transfer' ELSE 'consumption' END, \
                 {part}, CASE WHEN g % 10 = 0 THEN NULL WHEN g % 10 < 6 THEN $2 ELSE {van} END, \
                 CASE WHEN g % 10 = 0 THEN $2 WHEN g % 10 < 6 THEN {van} ELSE NULL END, \
                 CASE WHEN g % 10 = 0 THEN 20000 WHEN g % 10 < 6 THEN 2000 ELSE 1000 END, {now} \
                 FROM (SELECT {g} AS g FROM {}) AS x",
                id("m").replace("g", "x.g"),
                rows(count)
            )
            .replace("(g * 7919)", "(x.g * 7919)")
            .replace("((g / 10) * 104729)", "((x.g / 10) * 104729)")
            .replace("WHEN g % 10", "WHEN x.g % 10"),
            &[tenant, warehouse],
        )
        .await;
        done += count;
        println!(
            "  {done} movements ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    let indexing = Instant::now();
    for (name, columns) in LEDGER_INDEXES {
        db.execute(
            &format!("CREATE INDEX {name} ON stock_movements {columns}"),
            &[],
        )
        .await;
    }
    match backend {
        TestBackend::Postgres => {
            db.execute("ALTER TABLE stock_movements ENABLE TRIGGER ALL", &[])
                .await
        }
        TestBackend::Sqlite => db.execute("PRAGMA foreign_keys = ON", &[]).await,
    };
    println!(
        "  ledger indexes built in {:.1} s",
        indexing.elapsed().as_secs_f64()
    );
    // The balances the server keeps in each movement's transaction.
    db.execute(
        "INSERT INTO stock_balances (tenant_id, location_id, part_id, quantity) \
         SELECT $1, location_id, part_id, SUM(delta) FROM ( \
           SELECT to_location_id AS location_id, part_id, quantity AS delta FROM stock_movements WHERE tenant_id = $1 AND to_location_id IS NOT NULL \
           UNION ALL \
           SELECT from_location_id, part_id, -quantity FROM stock_movements WHERE tenant_id = $1 AND from_location_id IS NOT NULL \
         ) d GROUP BY location_id, part_id",
        &[tenant],
    )
    .await;
    bench.analyze().await;
    println!(
        "seeded {n} movements and their balances in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Two tickets in the middle of the area: one needing part 0, one not.
    db.execute(
        &format!("INSERT INTO customers (id, tenant_id, name, tier, created_at) VALUES ({}, $1, 'Hotel', 'standard', {now})", id("c").replace("g", "0")),
        &[tenant],
    )
    .await;
    let customer = ids(db, "SELECT id FROM customers").await[0];
    db.execute(
        &format!(
            "INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at) VALUES ({}, $1, $2, 'Main', 'Main St 1', 51.3, 9.5, {now})",
            id("s").replace("g", "0")
        ),
        &[tenant, customer],
    )
    .await;
    let site = ids(db, "SELECT id FROM sites").await[0];
    for (number, prefix) in [
        ("TR-000001", "x1"),
        ("TR-000002", "x2"),
        ("TR-000003", "x3"),
    ] {
        db.execute(
            &format!(
                "INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id, \
                 tags, custom_fields, status, created_by, created_at, updated_at, search_text) \
                 VALUES ({}, $1, '{number}', 'Chiller', '', 'hvac', 'P2', '[{{\"skill\":\"hvac\",\"level\":2}}]', $2, '[]', '{{}}', 'new', $3, {now}, {now}, '')",
                id(prefix).replace("g", "0")
            ),
            &[tenant, site, user],
        )
        .await;
    }
    let tickets = ids(db, "SELECT id FROM tickets ORDER BY number").await;
    let parts = ids(db, "SELECT id FROM bench_parts ORDER BY k").await;
    db.execute(
        "INSERT INTO ticket_required_parts (tenant_id, ticket_id, part_id, quantity) VALUES ($1, $2, $3, 1000)",
        &[tenant, tickets[1], parts[0]],
    )
    .await;
    // A catalogue part never moved: no van holds it.
    db.execute(
        &format!(
            "INSERT INTO parts (id, tenant_id, number, name, unit, price_cents, cost_cents, serial_tracked, created_at, updated_at) \
             VALUES ({}, $1, 'P-NONE', 'part nobody has', 'pcs', 100, 50, FALSE, {now}, {now})",
            id("none").replace("g", "0")
        ),
        &[tenant],
    )
    .await;
    let nobody = ids(db, "SELECT id FROM parts WHERE number = 'P-NONE'").await[0];
    db.execute(
        "INSERT INTO ticket_required_parts (tenant_id, ticket_id, part_id, quantity) VALUES ($1, $2, $3, 1000)",
        &[tenant, tickets[2], nobody],
    )
    .await;
    Seeded {
        warehouse,
        vans: ids(db, "SELECT id FROM bench_vans ORDER BY k").await,
        parts,
        ticket_plain: tickets[0],
        ticket_parts: tickets[1],
        ticket_nobody: tickets[2],
    }
}

/// The peer of a kept balance: summing one location's movements.
async fn summed_location(db: &RawDb, tenant: Uuid, location: Uuid) -> usize {
    let sql = "SELECT part_id, CAST(SUM(CASE WHEN to_location_id = $2 THEN quantity ELSE -quantity END) AS BIGINT) FROM stock_movements \
               WHERE tenant_id = $1 AND (from_location_id = $2 OR to_location_id = $2) GROUP BY part_id";
    match db {
        RawDb::Postgres(pool) => sqlx::query_as::<_, (Uuid, i64)>(sql)
            .bind(tenant)
            .bind(location)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
        RawDb::Sqlite(pool) => sqlx::query_as::<_, (Uuid, i64)>(sql)
            .bind(tenant)
            .bind(location)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
    }
    .expect("sum")
}

/// The peer of van holdings: one part's movements grouped by van.
async fn summed_part_in_vans(db: &RawDb, tenant: Uuid, part: Uuid) -> usize {
    let sql = "SELECT l.technician_id, CAST(SUM(d.delta) AS BIGINT) FROM ( \
                 SELECT to_location_id AS location_id, quantity AS delta FROM stock_movements WHERE tenant_id = $1 AND part_id = $2 AND to_location_id IS NOT NULL \
                 UNION ALL \
                 SELECT from_location_id, -quantity FROM stock_movements WHERE tenant_id = $1 AND part_id = $2 AND from_location_id IS NOT NULL \
               ) d JOIN stock_locations l ON l.id = d.location_id WHERE l.kind = 'van' GROUP BY l.technician_id HAVING SUM(d.delta) > 0";
    match db {
        RawDb::Postgres(pool) => sqlx::query_as::<_, (Option<Uuid>, i64)>(sql)
            .bind(tenant)
            .bind(part)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
        RawDb::Sqlite(pool) => sqlx::query_as::<_, (Option<Uuid>, i64)>(sql)
            .bind(tenant)
            .bind(part)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
    }
    .expect("sum")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let backend = backend_arg(args.next().as_deref())?;
    let n: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let t: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let bench = Bench::open(backend).await?;
    let store = bench.db.store.clone();
    let (tenant_id, user_id) = (bench.tenant_id, bench.user_id);
    let seeding = Instant::now();
    let seeded = seed(&bench, n, t).await;
    println!(
        "seeding took {:.1} s in all",
        seeding.elapsed().as_secs_f64()
    );
    let raw = bench.raw.clone();
    let actor = Actor {
        tenant_id,
        user_id: Some(user_id),
    };
    let mut rng = Lcg(23);

    println!(
        "\n{backend:?}, {n} movements, {t} technicians (milliseconds; rows = rows answered per query)\n"
    );
    println!(
        "| {:<40} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "query", "p50", "p95", "max", "rows"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");

    let mut kept = Timings::new("one van: kept balance");
    let mut summed = Timings::new("one van: sum of its movements (peer)");
    for _ in 0..ROUNDS {
        let van = seeded.vans[rng.next(seeded.vans.len() as u64) as usize];
        let started = Instant::now();
        let rows = store
            .balances(
                tenant_id,
                &BalanceFilter {
                    location_id: Some(van),
                    ..BalanceFilter::default()
                },
            )
            .await?
            .len();
        kept.time(started, rows);
        let started = Instant::now();
        let rows = summed_location(&raw, tenant_id, van).await;
        summed.time(started, rows);
    }
    kept.report();
    summed.report();

    let mut kept = Timings::new("warehouse: kept balance");
    let mut summed = Timings::new("warehouse: sum of its movements (peer)");
    for _ in 0..10 {
        let started = Instant::now();
        let rows = store
            .balances(
                tenant_id,
                &BalanceFilter {
                    location_id: Some(seeded.warehouse),
                    ..BalanceFilter::default()
                },
            )
            .await?
            .len();
        kept.time(started, rows);
        let started = Instant::now();
        let rows = summed_location(&raw, tenant_id, seeded.warehouse).await;
        summed.time(started, rows);
    }
    kept.report();
    summed.report();

    let mut kept = Timings::new("one part in all vans: kept (dispatch)");
    let mut listed = Timings::new("one part in all vans: balance list");
    let mut summed = Timings::new("one part in all vans: sum (peer)");
    for _ in 0..40 {
        let part = seeded.parts[rng.next(PARTS) as usize];
        let started = Instant::now();
        let rows = store.van_holdings(tenant_id, &[part]).await?.len();
        kept.time(started, rows);
        let started = Instant::now();
        let rows = store
            .balances(
                tenant_id,
                &BalanceFilter {
                    part_id: Some(part),
                    vans: true,
                    ..BalanceFilter::default()
                },
            )
            .await?
            .len();
        listed.time(started, rows);
        let started = Instant::now();
        let rows = summed_part_in_vans(&raw, tenant_id, part).await;
        summed.time(started, rows);
    }
    kept.report();
    listed.report();
    summed.report();

    let started = Instant::now();
    let dispatch = DispatchService::load(store.as_ref(), DispatchConfig::default()).await?;
    println!(
        "\n(index of {t} technicians loaded in {:.1} s)\n",
        started.elapsed().as_secs_f64()
    );
    let site = GeoPoint {
        lat: 51.3,
        lon: 9.5,
    };
    let plain = store.get_ticket(tenant_id, seeded.ticket_plain).await?;
    let needing = store.get_ticket(tenant_id, seeded.ticket_parts).await?;
    let nobody = store.get_ticket(tenant_id, seeded.ticket_nobody).await?;
    let holders = store
        .van_holdings(tenant_id, &[seeded.parts[0]])
        .await?
        .len();
    println!("(the required part is in {holders} vans)\n");
    let mut timings = [
        Timings::new("candidates k=5, no required part"),
        Timings::new("candidates k=5, part in vans, prefer"),
        Timings::new("candidates k=5, part in vans, require"),
        Timings::new("candidates k=5, part in no van, prefer"),
        Timings::new("candidates k=5, part in no van, require"),
    ];
    for round in 0..ROUNDS * 5 {
        let which = round % 5;
        let policy = if which % 2 == 0 {
            PartsPolicy::Require
        } else {
            PartsPolicy::Prefer
        };
        let ticket = match which {
            0 => &plain,
            1 | 2 => &needing,
            _ => &nobody,
        };
        if which != 0 {
            store.set_parts_policy(actor, "hvac", policy).await?;
        }
        let started = Instant::now();
        let found = ranked(
            &dispatch,
            store.as_ref(),
            ticket,
            site,
            None,
            5,
            chrono::Utc::now(),
        )
        .await?;
        timings[which].time(started, found.len());
    }
    for t in &mut timings {
        t.report();
    }
    drop(raw);
    bench.close().await;
    Ok(())
}
