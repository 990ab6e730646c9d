//! Knowledge-base benchmark (issue 22) on a throwaway database: N tickets
//! of one tenant and A articles, bulk-loaded with SQL (titles, descriptions
//! and article bodies from the 240-word skewed vocabulary of
//! `search-bench`), with their search entries as the server writes them.
//! Then, in the same run, 200 measured rounds (after 20 warm-up rounds) of:
//!
//! - **suggest**: `knowledge::suggest` for a draft ticket of a 3-word title
//!   and an 8-word description (what `POST /v1/knowledge/suggest` runs),
//!   the 5 best articles;
//! - **LIKE scan** (the peer): the articles whose title or body contains any
//!   of the draft's words (`ILIKE`/`LIKE '%word%'` OR'ed), newest 5 — what a
//!   knowledge base without an index does;
//! - **duplicate check**: the customer's open tickets of the last 14 days
//!   (`duplicate_pool`, at most 500) ranked by `domain::duplicates::rank`,
//!   what `POST /v1/tickets/duplicates` adds to a creation;
//! - **create**: `TicketStore::create_ticket` itself, for scale.
//!
//! p50 / p95 in milliseconds, through the store API in process (no HTTP).
//!
//! `cargo build -p truckroll-tests --bin kb-bench`
//! `target/debug/kb-bench postgres 1000000 10000`   (TEST_DATABASE_URL)
//! `target/debug/kb-bench sqlite 100000 10000`

use std::time::Instant;

use chrono::Utc;
use truckroll_server::{
    domain::{
        duplicates::{DuplicateProbe, rank},
        ticket::{NewTicket, Priority},
    },
    knowledge::{Draft, suggest},
    store::Actor,
};
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

async fn seed(db: &RawDb, backend: TestBackend, tenant: Uuid, user: Uuid, n: u64, articles: u64) {
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
            "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || (g % 525600) || ' minutes')",
        ),
    };
    let rows = |count: u64| sql.rows(count);
    let uuid = |prefix: &str| sql.id(prefix);
    let started = Instant::now();
    db.execute(
        &format!(
            "INSERT INTO customers (id, tenant_id, name, tier, created_at) \
             SELECT {}, $1, 'Customer ' || g, 'standard', {created} FROM {}",
            uuid("c"),
            rows(1000)
        ),
        &[tenant],
    )
    .await;
    db.execute(
        "CREATE TABLE bench_customers AS SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM customers WHERE tenant_id = $1",
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
        "CREATE TABLE bench_sites AS SELECT s.id, ROW_NUMBER() OVER (ORDER BY s.id) - 1 AS k FROM sites s WHERE s.tenant_id = $1",
        &[tenant],
    )
    .await;
    db.execute("CREATE INDEX bench_sites_k ON bench_sites (k)", &[])
        .await;
    let words = |from: u64, to: u64| {
        (from..to)
            .map(word_sql)
            .collect::<Vec<_>>()
            .join(" || ' ' || ")
    };
    db.execute(
        &format!(
            "INSERT INTO tickets (id, tenant_id, number, title, description, category, priority, required_skills, site_id, \
             tags, custom_fields, status, created_by, created_at, updated_at, search_text) \
             SELECT {}, $1, {number}, {}, {}, \
             CASE g % 4 WHEN 0 THEN 'hvac' WHEN 1 THEN 'plumbing' WHEN 2 THEN 'electrical' ELSE 'lifts' END, \
             'P' || (1 + (g / 4) % 4), '[]', (SELECT id FROM bench_sites WHERE k = g % 2000), '[]', '{{}}', \
             CASE g % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'assigned' WHEN 2 THEN 'accepted' WHEN 3 THEN 'work_done' WHEN 4 THEN 'closed' ELSE 'cancelled' END, \
             $2, {created}, {created}, '' FROM {}",
            uuid("t"),
            words(1, 4),
            words(4, 12),
            rows(n)
        ),
        &[tenant, user],
    )
    .await;
    db.execute(
        "INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body) \
         SELECT t.tenant_id, 'ticket', t.id, t.title, '', t.number, lower(t.title), lower(t.description) \
         FROM tickets t WHERE t.tenant_id = $1",
        &[tenant],
    )
    .await;
    let tickets_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // Articles: a 4-word title, a 40-word body, one ticket category each
    // (a CASE is text: PostgreSQL needs it cast to the column's jsonb).
    let json = match backend {
        TestBackend::Postgres => "jsonb",
        TestBackend::Sqlite => "TEXT",
    };
    db.execute(
        &format!(
            "INSERT INTO articles (id, tenant_id, title, body, category, tags, asset_models, ticket_categories, visibility, \
             version, created_by, created_at, updated_by, updated_at) \
             SELECT {}, $1, {}, {}, 'General', '[]', '[]', \
             CAST(CASE g % 4 WHEN 0 THEN '[\"hvac\"]' WHEN 1 THEN '[\"plumbing\"]' WHEN 2 THEN '[\"electrical\"]' ELSE '[\"lifts\"]' END AS {json}), \
             CASE g % 3 WHEN 0 THEN 'public' ELSE 'internal' END, 1, $2, {created}, $2, {created} FROM {}",
            uuid("a"),
            words(20, 24),
            words(30, 70),
            rows(articles)
        ),
        &[tenant, user],
    )
    .await;
    db.execute(
        "INSERT INTO article_links (tenant_id, article_id, kind, value) \
         SELECT tenant_id, id, 'ticket_category', CASE WHEN CAST(ticket_categories AS TEXT) LIKE '%hvac%' THEN 'hvac' \
         WHEN CAST(ticket_categories AS TEXT) LIKE '%plumbing%' THEN 'plumbing' WHEN CAST(ticket_categories AS TEXT) LIKE '%electrical%' THEN 'electrical' ELSE 'lifts' END \
         FROM articles WHERE tenant_id = $1",
        &[tenant],
    )
    .await;
    db.execute(
        "INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body) \
         SELECT a.tenant_id, 'article', a.id, a.title, a.category, NULL, lower(a.title), lower(a.body || ' ' || a.category) \
         FROM articles a WHERE a.tenant_id = $1",
        &[tenant],
    )
    .await;
    match backend {
        TestBackend::Postgres => db.execute("VACUUM ANALYZE", &[]).await,
        TestBackend::Sqlite => db.execute("ANALYZE", &[]).await,
    };
    println!(
        "seeded {n} tickets in {tickets_s:.1} s and {articles} articles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The newest 5 articles whose title or body contains any of `words`.
async fn like_scan(db: &RawDb, tenant: Uuid, words: &[&str]) -> usize {
    let operator = match db {
        RawDb::Postgres(_) => "ILIKE",
        RawDb::Sqlite(_) => "LIKE",
    };
    let condition = words
        .iter()
        .map(|w| format!("title {operator} '%{w}%' OR body {operator} '%{w}%'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "SELECT id FROM articles WHERE tenant_id = $1 AND ({condition}) ORDER BY updated_at DESC LIMIT 5"
    );
    match db {
        RawDb::Postgres(pool) => sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
        RawDb::Sqlite(pool) => sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_all(pool)
            .await
            .map(|r| r.len()),
    }
    .unwrap_or_else(|e| panic!("LIKE scan failed: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let backend = backend_arg(args.next().as_deref())?;
    let n: u64 = match args.next() {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let article_count: u64 = match args.next() {
        Some(a) => a.parse()?,
        None => 10_000,
    };
    let bench = Bench::open(backend).await?;
    let store = bench.db.store.clone();
    let (tenant_id, user_id) = (bench.tenant_id, bench.user_id);
    let raw = bench.raw.clone();
    seed(&raw, backend, tenant_id, user_id, n, article_count).await;
    // New tickets are numbered after the seeded ones.
    raw.execute(
        &format!("UPDATE tenants SET ticket_seq = {n} WHERE id = $1"),
        &[tenant_id],
    )
    .await;
    raw.execute("INSERT INTO categories (id, tenant_id, name, description, custom_fields_schema, created_at) \
        SELECT $2, $1, 'hvac', '', '{}', created_at FROM customers WHERE tenant_id = $1 LIMIT 1", &[tenant_id, Uuid::now_v7()]).await;
    let sites: Vec<(Uuid, Uuid)> = match &raw {
        RawDb::Postgres(pool) => {
            sqlx::query_as("SELECT id, customer_id FROM sites WHERE tenant_id = $1 ORDER BY id")
                .bind(tenant_id)
                .fetch_all(pool)
                .await?
        }
        RawDb::Sqlite(pool) => {
            sqlx::query_as("SELECT id, customer_id FROM sites WHERE tenant_id = $1 ORDER BY id")
                .bind(tenant_id)
                .fetch_all(pool)
                .await?
        }
    };

    let words = vocabulary();
    let mut rng = Lcg(42);
    let mut suggest_t = Timings::new("suggest");
    let mut scan_t = Timings::new("LIKE scan");
    let mut dup_t = Timings::new("duplicates");
    let mut create_t = Timings::new("create");
    let actor = Actor {
        tenant_id,
        user_id: Some(user_id),
    };
    for round in 0..(QUERIES + 20) {
        let measured = round >= 20;
        let pick = |rng: &mut Lcg| words[rng.index(words.len())];
        let title: Vec<&str> = (0..3).map(|_| pick(&mut rng)).collect();
        let description: Vec<&str> = (0..8).map(|_| pick(&mut rng)).collect();
        let (title, description) = (title.join(" "), description.join(" "));
        let draft = Draft {
            title: &title,
            description: &description,
            ticket_category: Some("hvac"),
            asset_model: None,
        };

        let started = Instant::now();
        let found = suggest(store.as_ref(), tenant_id, &draft, false, 5).await?;
        let suggest_ms = started.elapsed().as_secs_f64() * 1000.0;

        let all: Vec<&str> = title.split(' ').chain(description.split(' ')).collect();
        let started = Instant::now();
        let scanned = like_scan(&raw, tenant_id, &all).await;
        let scan_ms = started.elapsed().as_secs_f64() * 1000.0;

        let (site, customer) = sites[rng.index(sites.len())];
        let started = Instant::now();
        let pool = store
            .duplicate_pool(
                tenant_id,
                customer,
                Utc::now() - chrono::Duration::days(14),
                None,
                500,
            )
            .await?;
        let probe = DuplicateProbe {
            customer_id: customer,
            site_id: site,
            asset_id: None,
            title: &title,
            description: &description,
        };
        let dups = rank(&probe, &pool, 5);
        let dup_ms = started.elapsed().as_secs_f64() * 1000.0;

        let new = NewTicket {
            title: title.clone(),
            description: description.clone(),
            category: "hvac".into(),
            priority: Priority::P3,
            required_skills: Vec::new(),
            site_id: site,
            asset_id: None,
            tags: Vec::new(),
            custom_fields: serde_json::json!({}),
        };
        let started = Instant::now();
        store.create_ticket(actor, &new).await?;
        let create_ms = started.elapsed().as_secs_f64() * 1000.0;

        if measured {
            suggest_t.millis.push(suggest_ms);
            suggest_t.hits += found.len();
            scan_t.millis.push(scan_ms);
            scan_t.hits += scanned;
            dup_t.millis.push(dup_ms);
            dup_t.hits += dups.len();
            create_t.millis.push(create_ms);
            create_t.hits += 1;
        }
    }
    println!(
        "{n} tickets and {article_count} articles on {backend:?}, {QUERIES} rounds (after 20 warm-up rounds), milliseconds:"
    );
    println!("| what         |      p50 |      p95 |      max |     rows |");
    println!("| ---          |      --- |      --- |      --- |      --- |");
    for timings in [&mut suggest_t, &mut scan_t, &mut dup_t, &mut create_t] {
        timings.report();
    }
    raw.close().await;
    bench.close().await;
    Ok(())
}
