//! Search and queue benchmark (issue 16) on a throwaway database: N tickets
//! of one tenant, bulk-loaded with SQL (titles and descriptions from a
//! 240-word vocabulary with a skewed, Zipf-like frequency, so some words are
//! in a third of the tickets and others in a handful), their search
//! entries, 1 000 customers and 2 000 sites. Then, in the same run, 200
//! varied queries each of:
//!
//! - **queue**: the queue's filtered (status, priority or category),
//!   newest-first first page of 50 (`TicketStore::list_tickets`);
//! - **queue + q**: the same with a search word (`?q=` on the queue);
//! - **search**: the full-text search (`SearchStore::search`, 20 best
//!   tickets, ranked): single words, two words, 4-letter prefixes, ticket
//!   numbers, customer names;
//! - **ILIKE scan**: the peer, a plain `ILIKE '%word%'` (SQLite: `LIKE`) over
//!   title and description, newest 20, for the same queries' first word.
//!
//! p50 / p95 in milliseconds, through the store API in process (no HTTP).
//!
//! `cargo run --release -p truckroll-tests --bin search-bench -- postgres 1000000`
//! `cargo run --release -p truckroll-tests --bin search-bench -- sqlite 100000`

use std::time::Instant;

use truckroll_server::{
    domain::{
        search::{SearchKind, query_terms},
        ticket::Priority,
    },
    store::{PageRequest, TicketFilter, search::SearchQuery, tickets::TicketOrder},
};
use truckroll_sync::Status;
use truckroll_tests::{
    RawDb, TestBackend,
    bench::{Bench, Dialect, Lcg, backend_arg, percentile},
};
use uuid::Uuid;

const QUERIES: usize = 200;

const VOCABULARY: &str = "leak boiler pump valve compressor fan filter motor belt gasket pressure noise \
    heating cooling refrigerant thermostat sensor alarm door lock gate barrier elevator lift cable \
    switch breaker fuse socket light lamp ballast panel inverter battery charger generator tank pipe \
    drain sink toilet shower heater radiator chiller condenser evaporator coil duct vent damper \
    humidifier freezer fridge oven fryer grill dishwasher espresso grinder mixer scale printer \
    scanner terminal router modem camera intercom sprinkler hydrant extinguisher smoke detector \
    window shutter blind roof gutter floor tile wall ceiling stair ramp rail fence paint crack \
    rust corrosion vibration overheating tripping flicker smell water oil gas steam ice frost \
    dust mould bearing shaft seal coupling gearbox spindle nozzle burner igniter flame pilot \
    exhaust chimney flue meter gauge display keypad remote timer relay contactor capacitor \
    resistor transformer wiring earth leakage insulation compressor2 hose clamp bracket bolt \
    hinge handle spring lever pedal wheel castor tyre axle brake clutch chain sprocket pulley \
    blower impeller volute casing housing cover lid hatch panel2 frame base mount foundation \
    anchor weld joint flange elbow tee reducer union nipple coupling2 fitting manifold header \
    accumulator regulator actuator positioner solenoid diaphragm piston cylinder ram jack hoist \
    crane winch trolley track guide roller conveyor chute hopper silo bin skip container pallet \
    rack shelf cabinet locker drawer counter desk chair cafe creme kuhlung uberhitzung \
    antenna aerial beacon buzzer chime siren strobe tracker badge reader turnstile bollard \
    barrier2 kiosk vending locker2 safe vault till drawer2 trolley2 cart basket crate tote";

fn vocabulary() -> Vec<&'static str> {
    let words: Vec<&str> = VOCABULARY.split_whitespace().take(240).collect();
    assert_eq!(words.len(), 240, "the vocabulary has 240 words");
    words
}

struct Timings {
    name: &'static str,
    millis: Vec<f64>,
    hits: usize,
}

impl Timings {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            millis: Vec::new(),
            hits: 0,
        }
    }

    fn report(&mut self) {
        self.millis.sort_by(f64::total_cmp);
        println!(
            "| {:<12} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8} |",
            self.name,
            percentile(&self.millis, 50.0),
            percentile(&self.millis, 95.0),
            self.millis.last().copied().unwrap_or_default(),
            self.hits
        );
    }
}

/// The SQL for a skewed word of the vocabulary for row `g` and slot `slot`:
/// index 240·x² (mod 240) for a pseudo-random x in [0, 1).
fn word_sql(slot: u64) -> String {
    format!(
        "(SELECT w FROM bench_words WHERE i = CAST(240 * ((((g * 2654435761 + {a}) % 1000003) / 1000003.0) * (((g * 2654435761 + {a}) % 1000003) / 1000003.0)) AS INTEGER) % 240)",
        a = slot * 7919 + 13
    )
}

async fn seed(db: &RawDb, backend: TestBackend, tenant: Uuid, user: Uuid, n: u64) {
    let sql = Dialect::of(backend);
    db.execute(
        "CREATE TABLE bench_words (i INTEGER PRIMARY KEY, w TEXT NOT NULL)",
        &[],
    )
    .await;
    let values: Vec<String> = vocabulary()
        .iter()
        .enumerate()
        .map(|(i, w)| format!("({i}, '{w}')"))
        .collect();
    db.execute(
        &format!(
            "INSERT INTO bench_words (i, w) VALUES {}",
            values.join(", ")
        ),
        &[],
    )
    .await;
    let (number, created) = match backend {
        TestBackend::Postgres => (
            "'TR-' || lpad(g::text, greatest(6, length(g::text)), '0')",
            "now() - (g % 525600) * interval '1 minute'",
        ),
        TestBackend::Sqlite => (
            "'TR-' || printf('%06d', g)",
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (g % 525600) || ' minutes')",
        ),
    };
    let rows = |count: u64| sql.rows(count);
    let uuid = |prefix: &str| sql.id(prefix);
    // 1 000 customers, 2 000 sites.
    db.execute(
        &format!(
            "INSERT INTO customers (id, tenant_id, name, tier, created_at) \
             SELECT {}, $1, 'Customer ' || {} || ' ' || g, 'standard', {created} FROM {}",
            uuid("c"),
            word_sql(9),
            rows(1000)
        ),
        &[tenant],
    )
    .await;
    db.execute(
        "CREATE TABLE bench_customers AS SELECT id, name, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM customers WHERE tenant_id = $1",
        &[tenant],
    )
    .await;
    db.execute(
        &format!(
            "INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at) \
             SELECT {}, $1, (SELECT id FROM bench_customers WHERE k = g % 1000), 'Site ' || g, g || ' Main Street', \
             52.5 + (g % 100) / 1000.0, 13.4 + (g % 77) / 1000.0, {created} FROM {}",
            uuid("s"),
            rows(2000)
        ),
        &[tenant],
    )
    .await;
    db.execute(
        "CREATE TABLE bench_sites AS SELECT s.id, s.name, s.address, c.name AS customer, ROW_NUMBER() OVER (ORDER BY s.id) - 1 AS k \
         FROM sites s JOIN customers c ON c.id = s.customer_id WHERE s.tenant_id = $1",
        &[tenant],
    )
    .await;
    db.execute("CREATE INDEX bench_sites_k ON bench_sites (k)", &[])
        .await;
    let title = format!(
        "{} || ' ' || {} || ' ' || {}",
        word_sql(1),
        word_sql(2),
        word_sql(3)
    );
    let description = (4..12)
        .map(word_sql)
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    let started = Instant::now();
    db.execute(
        &format!(
            "INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id, \
             tags, custom_fields, status, created_by, created_at, updated_at, search_text) \
             SELECT {}, $1, {number}, {title}, {description}, \
             CASE g % 4 WHEN 0 THEN 'hvac' WHEN 1 THEN 'plumbing' WHEN 2 THEN 'electrical' ELSE 'lifts' END, \
             'P' || (1 + (g / 4) % 4), '[]', (SELECT id FROM bench_sites WHERE k = g % 2000), '[]', '{{}}', \
             CASE g % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'assigned' WHEN 2 THEN 'accepted' WHEN 3 THEN 'work_done' WHEN 4 THEN 'closed' ELSE 'cancelled' END, \
             $2, {created}, {created}, '' FROM {}",
            uuid("t"),
            rows(n)
        ),
        &[tenant, user],
    )
    .await;
    // The search entries as the server writes them: the vocabulary is
    // lowercase ASCII, so folding is `lower` here.
    db.execute(
        "INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body) \
         SELECT t.tenant_id, 'ticket', t.id, t.title, b.customer || ' · ' || b.name, t.number, \
         'tr ' || substr(t.number, 4) || ' ' || ltrim(substr(t.number, 4), '0') || ' ' || t.title, \
         lower(t.description || ' ' || b.customer || ' ' || b.name || ' ' || b.address) \
         FROM tickets t JOIN bench_sites b ON b.id = t.site_id WHERE t.tenant_id = $1",
        &[tenant],
    )
    .await;
    match backend {
        TestBackend::Postgres => {
            db.execute("VACUUM ANALYZE", &[]).await;
        }
        TestBackend::Sqlite => {
            db.execute("ANALYZE", &[]).await;
        }
    }
    println!(
        "seeded {n} tickets and their search entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The newest 20 tickets whose title or description contains `word`
/// anywhere, case-insensitively: the plain scan a search index replaces.
async fn ilike(db: &RawDb, tenant: Uuid, word: &str) -> usize {
    let pattern = format!("%{word}%");
    match db {
        RawDb::Postgres(pool) => sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM tickets WHERE tenant_id = $1 AND (title ILIKE $2 OR description ILIKE $2) \
             ORDER BY id DESC LIMIT 20",
        )
        .bind(tenant)
        .bind(pattern)
        .fetch_all(pool)
        .await
        .map(|rows| rows.len()),
        RawDb::Sqlite(pool) => sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM tickets WHERE tenant_id = $1 AND (title LIKE $2 OR description LIKE $2) \
             ORDER BY id DESC LIMIT 20",
        )
        .bind(tenant)
        .bind(pattern)
        .fetch_all(pool)
        .await
        .map(|rows| rows.len()),
    }
    .unwrap_or_else(|e| panic!("ILIKE scan failed: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let backend = backend_arg(args.next().as_deref())?;
    let n: u64 = match args.next() {
        Some(n) => n.parse()?,
        None if backend == TestBackend::Postgres => 1_000_000,
        None => 100_000,
    };
    let bench = Bench::open(backend).await?;
    let store = bench.db.store.clone();
    let (tenant_id, user_id) = (bench.tenant_id, bench.user_id);
    let raw = bench.raw.clone();
    seed(&raw, backend, tenant_id, user_id, n).await;

    let words = vocabulary();
    let mut rng = Lcg(42);
    let statuses = [
        Status::New,
        Status::Assigned,
        Status::Accepted,
        Status::WorkDone,
        Status::Closed,
    ];
    let priorities = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];
    let categories = ["hvac", "plumbing", "electrical", "lifts"];
    let mut queue = Timings::new("queue");
    let mut queue_q = Timings::new("queue + q");
    let mut search = Timings::new("search");
    let mut scan = Timings::new("ILIKE scan");
    // The slowest searches, to say which kind of query sets the p95.
    let mut slowest: Vec<(f64, String, usize)> = Vec::new();
    for round in 0..(QUERIES + 20) {
        let measured = round >= 20;
        // The query of this round.
        let word = words[rng.index(words.len())];
        let text = match round % 10 {
            0..=3 => word.to_owned(),
            4 | 5 => format!("{word} {}", words[rng.index(words.len())]),
            6 | 7 => word.chars().take(4).collect(),
            8 => format!("TR-{:06}", 1 + rng.index(n as usize)),
            _ => format!("customer {word}"),
        };
        let first_word = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut filter = TicketFilter {
            order: TicketOrder::CreatedDesc,
            ..TicketFilter::default()
        };
        match round % 3 {
            0 => filter.status = Some(statuses[rng.index(statuses.len())]),
            1 => {
                filter.status = Some(statuses[rng.index(statuses.len())]);
                filter.priority = Some(priorities[rng.index(priorities.len())]);
            }
            _ => filter.category = Some(categories[rng.index(categories.len())].to_owned()),
        }
        let page = PageRequest {
            limit: 50,
            after: None,
        };

        let started = Instant::now();
        let listed = store.list_tickets(tenant_id, &filter, page).await?;
        let queue_ms = started.elapsed().as_secs_f64() * 1000.0;

        filter.search = Some(word.to_owned());
        let started = Instant::now();
        let listed_q = store.list_tickets(tenant_id, &filter, page).await?;
        let queue_q_ms = started.elapsed().as_secs_f64() * 1000.0;

        let query = SearchQuery {
            terms: query_terms(&text),
            kind: Some(SearchKind::Ticket),
            assignee_id: None,
            limit: 20,
        };
        let started = Instant::now();
        let hits = store.search(tenant_id, &query).await?;
        let search_ms = started.elapsed().as_secs_f64() * 1000.0;

        let started = Instant::now();
        let scanned = ilike(&raw, tenant_id, &first_word).await;
        let scan_ms = started.elapsed().as_secs_f64() * 1000.0;

        if measured {
            queue.millis.push(queue_ms);
            queue.hits += listed.items.len();
            queue_q.millis.push(queue_q_ms);
            queue_q.hits += listed_q.items.len();
            search.millis.push(search_ms);
            search.hits += hits.len();
            slowest.push((search_ms, text.clone(), hits.len()));
            scan.millis.push(scan_ms);
            scan.hits += scanned;
        }
    }
    println!(
        "{n} tickets on {backend:?}, {QUERIES} queries each (after 20 warm-up rounds), milliseconds:"
    );
    println!("| what         |      p50 |      p95 |      max |     rows |");
    println!("| ---          |      --- |      --- |      --- |      --- |");
    for timings in [&mut queue, &mut queue_q, &mut search, &mut scan] {
        timings.report();
    }
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("slowest searches (ms, query, hits):");
    for (ms, text, hits) in slowest.iter().take(12) {
        println!("  {ms:>9.2}  {text:<28} {hits}");
    }
    raw.close().await;
    bench.close().await;
    Ok(())
}
