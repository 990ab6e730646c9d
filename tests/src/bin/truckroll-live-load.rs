//! Live-map load: `--technicians` phones each pinging every
//! `--interval-secs`, and `--dispatchers` live-map sockets (`GET /v1/live`,
//! whole world in view, or with `--bounded true` each dispatcher watching
//! its own strip of the city, as a dispatcher watches a territory). Reports the latency from a ping's HTTP request to
//! its arrival on each socket (p50/p99/max), the pings' own HTTP latency,
//! what arrived, the server's CPU and memory (from /proc, with
//! `--server-pid`, repeatable for several replicas) and the event bus's
//! notifications per second (from each server's `/metrics`).
//!
//! `--ws-url` opens the sockets on another replica than the one the pings go
//! to (`--url`): the latency then includes the PostgreSQL bus.
//!
//! ```text
//! truckroll-live-load --url http://127.0.0.1:8099 --database-url postgres://… \
//!     --token-secret "$TRUCKROLL_AUTH__TOKEN_SECRET" --tenant load \
//!     --technicians 10000 --interval-secs 10 --dispatchers 50 --seconds 60 --server-pid $PID
//! ```
//!
//! Users are created straight in the database (one password hash for all),
//! technician profiles through the API, tokens minted with the server's
//! secret: setting up ten thousand phones takes seconds, not an hour of
//! password hashing. The tenant must exist (`truckroll tenant create`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use truckroll_server::{
    auth::{password, tokens::TokenService},
    domain::people::{NewUser, Role},
    store::{self, Actor, PageRequest},
};
use uuid::Uuid;

#[derive(Debug, Clone)]
struct Options {
    url: String,
    database_url: String,
    token_secret: String,
    tenant: String,
    technicians: usize,
    interval_secs: f64,
    dispatchers: usize,
    seconds: u64,
    warmup_secs: u64,
    server_pids: Vec<u32>,
    concurrency: usize,
    ws_url: Option<String>,
    bounded: bool,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        database_url: String::new(),
        token_secret: String::new(),
        tenant: "load".into(),
        technicians: 1000,
        interval_secs: 10.0,
        dispatchers: 10,
        seconds: 30,
        warmup_secs: 5,
        server_pids: Vec::new(),
        concurrency: 256,
        ws_url: None,
        bounded: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.url = value,
            "--database-url" => options.database_url = value,
            "--token-secret" => options.token_secret = value,
            "--tenant" => options.tenant = value,
            "--technicians" => options.technicians = value.parse()?,
            "--interval-secs" => options.interval_secs = value.parse()?,
            "--dispatchers" => options.dispatchers = value.parse()?,
            "--seconds" => options.seconds = value.parse()?,
            "--warmup-secs" => options.warmup_secs = value.parse()?,
            "--server-pid" => options.server_pids.push(value.parse()?),
            "--ws-url" => options.ws_url = Some(value),
            "--concurrency" => options.concurrency = value.parse()?,
            "--bounded" => options.bounded = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    if options.database_url.is_empty() || options.token_secret.len() < 32 {
        bail!("--database-url and --token-secret (the server's, ≥ 32 characters) are required");
    }
    if options.technicians == 0 || options.interval_secs <= 0.0 || options.concurrency == 0 {
        bail!("--technicians, --interval-secs and --concurrency must be positive");
    }
    Ok(options)
}

const PASSWORD: &str = "live-load-password";

/// (technician id, user id) of `n` technicians, created when missing; and the dispatcher's user id.
async fn setup(
    options: &Options,
    tokens: &TokenService,
    http: &reqwest::Client,
) -> anyhow::Result<(Uuid, Vec<(Uuid, Uuid)>, Uuid)> {
    let store = store::connect(&options.database_url, 8).await?;
    let tenant = store
        .tenant_by_name(&options.tenant)
        .await?
        .with_context(|| {
            format!(
                "no tenant `{}`: truckroll tenant create first",
                options.tenant
            )
        })?;
    let mut users = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = store.list_users(tenant.id, page).await?;
        users.extend(found.items);
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let admin = users
        .iter()
        .find(|u| u.role == Role::Admin)
        .context("no admin")?
        .id;
    let actor = Actor {
        tenant_id: tenant.id,
        user_id: Some(admin),
    };
    let hash = password::hash(PASSWORD.into()).await?;
    let dispatcher = match users.iter().find(|u| u.role == Role::Dispatcher) {
        Some(user) => user.id,
        None => {
            let user = NewUser {
                email: "dispatch@live-load.test".into(),
                name: "Load dispatcher".into(),
                role: Role::Dispatcher,
                password: PASSWORD.into(),
            };
            store.create_user(actor, &user, &hash).await?.id
        }
    };
    let mut technicians = Vec::new();
    let mut page = PageRequest {
        limit: 200,
        after: None,
    };
    loop {
        let found = store.list_technicians(tenant.id, page).await?;
        technicians.extend(found.items.into_iter().map(|t| (t.id, t.user_id)));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let missing = options.technicians.saturating_sub(technicians.len());
    if missing > 0 {
        eprintln!("creating {missing} technicians");
        let admin_token = tokens.issue_access(admin, tenant.id, Role::Admin)?;
        let start = technicians.len();
        let mut created = futures_util::stream::iter(start..options.technicians)
            .map(|i| {
                let (store, hash, http, admin_token, url) = (store.clone(), hash.clone(), http.clone(), admin_token.clone(), options.url.clone());
                async move {
                    let user = NewUser { email: format!("live{i}@live-load.test"), name: format!("Live {i}"), role: Role::Technician, password: PASSWORD.into() };
                    let user = store.create_user(actor, &user, &hash).await?;
                    // Spread over greater Berlin.
                    let (lat, lon) = (52.35 + (i % 97) as f64 * 0.0035, 13.10 + (i % 89) as f64 * 0.0065);
                    let reply = http
                        .post(format!("{url}/v1/technicians"))
                        .bearer_auth(&admin_token)
                        .json(&json!({"user_id": user.id, "name": format!("Live {i}"), "time_zone": "UTC",
                                      "home_base": {"lat": lat, "lon": lon}}))
                        .send()
                        .await?;
                    let body: Value = reply.error_for_status()?.json().await?;
                    let id: Uuid = body["id"].as_str().context("technician id")?.parse()?;
                    anyhow::Ok((id, user.id))
                }
            })
            .buffer_unordered(32);
        while let Some(made) = created.next().await {
            technicians.push(made?);
        }
    }
    technicians.truncate(options.technicians);
    Ok((tenant.id, technicians, dispatcher))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn memory_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What the generator reads of a live message.
#[derive(serde::Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, borrow)]
    technicians: Vec<Record<'a>>,
}

#[derive(serde::Deserialize)]
struct Record<'a> {
    id: &'a str,
    lat: f64,
}

/// The newest ping sent per technician: its latitude and when it was sent.
type Sent = Arc<Mutex<HashMap<Uuid, (f64, Instant)>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let tokens = TokenService::new(
        &options.token_secret,
        Duration::from_secs(900),
        Duration::from_secs(3600),
    )?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let (tenant_id, technicians, dispatcher) = setup(&options, &tokens, &http).await?;
    eprintln!(
        "{} technicians, {} dispatcher sockets",
        technicians.len(),
        options.dispatchers
    );

    let sent: Sent = Arc::default();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher_token = tokens.issue_access(dispatcher, tenant_id, Role::Dispatcher)?;
    let ws_url = format!(
        "{}/v1/live?access_token={dispatcher_token}",
        options
            .ws_url
            .as_deref()
            .unwrap_or(&options.url)
            .replacen("http://", "ws://", 1)
    );
    let mut sockets = Vec::new();
    for k in 0..options.dispatchers {
        // The pings cover lon 13.20–13.60; bounded viewers split it into strips.
        let url = if options.bounded {
            let width = 0.40 / options.dispatchers as f64;
            let west = 13.20 + k as f64 * width;
            format!(
                "{ws_url}&south=52.39&north=52.61&west={west:.6}&east={:.6}",
                west + width
            )
        } else {
            ws_url.clone()
        };
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        let (sent, measuring, stop) = (sent.clone(), measuring.clone(), stop.clone());
        sockets.push(tokio::spawn(async move {
            let mut latencies: Vec<f64> = Vec::new();
            let mut records = 0u64;
            let mut messages = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(Ok(message))) =
                    tokio::time::timeout(Duration::from_secs(1), socket.next()).await
                else {
                    continue;
                };
                let Message::Text(text) = message else {
                    continue;
                };
                let arrived = Instant::now();
                // Typed and borrowed: the generator shares the machine, so
                // reading fifty sockets must stay cheap.
                let Ok(delta) = serde_json::from_str::<Delta<'_>>(text.as_str()) else {
                    continue;
                };
                if delta.kind != "delta" {
                    continue;
                }
                messages += 1;
                let Ok(map) = sent.lock() else { continue };
                for technician in delta.technicians {
                    records += 1;
                    let Ok(id) = technician.id.parse::<Uuid>() else {
                        continue;
                    };
                    if let Some((sent_lat, at)) = map.get(&id)
                        && *sent_lat == technician.lat
                        && measuring.load(Ordering::Relaxed)
                    {
                        latencies.push(arrived.duration_since(*at).as_secs_f64() * 1000.0);
                    }
                }
            }
            (latencies, records, messages)
        }));
    }

    // Minted once per phone, as a phone holds its token between pings.
    let technicians: Vec<(Uuid, String)> = technicians
        .into_iter()
        .map(|(technician_id, user_id)| {
            tokens
                .issue_access(user_id, tenant_id, Role::Technician)
                .map(|token| (technician_id, token))
        })
        .collect::<Result<_, _>>()?;
    let technicians = Arc::new(technicians);
    let limiter = Arc::new(Semaphore::new(options.concurrency));
    let (pings, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let ingest: Arc<Mutex<Vec<f64>>> = Arc::default();
    let interval = Duration::from_secs_f64(options.interval_secs);
    let started = Instant::now();
    let total = Duration::from_secs(options.warmup_secs + options.seconds);
    let n = technicians.len();
    let mut next = 0usize; // pings scheduled so far
    let mut cpu_start = Vec::new();
    let mut notify_start = 0.0;
    let mut pings_start = 0;
    let mut measure_start = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    let metric_urls: Vec<String> = std::iter::once(options.url.clone())
        .chain(options.ws_url.clone())
        .collect();
    while started.elapsed() < total {
        ticks.tick().await;
        if measure_start.is_none() && started.elapsed() >= Duration::from_secs(options.warmup_secs)
        {
            measuring.store(true, Ordering::Relaxed);
            measure_start = Some(Instant::now());
            pings_start = pings.load(Ordering::Relaxed);
            cpu_start = options.server_pids.iter().map(|p| cpu_ticks(*p)).collect();
            notify_start = notifications(&http, &metric_urls).await;
        }
        // Technician i pings at (i / n + k) · interval: evenly spread.
        let due = (started.elapsed().as_secs_f64() / interval.as_secs_f64() * n as f64) as usize;
        while next < due {
            let (technician_id, token) = technicians[next % n].clone();
            let round = next / n;
            next += 1;
            let lat = 52.40 + ((round * 7919 + next) % 20_000) as f64 * 1e-5;
            let lon = 13.20 + (next % 40_000) as f64 * 1e-5;
            let (http, url, sent, pings, errors, limiter, ingest, measuring) = (
                http.clone(),
                options.url.clone(),
                sent.clone(),
                pings.clone(),
                errors.clone(),
                limiter.clone(),
                ingest.clone(),
                measuring.clone(),
            );
            tokio::spawn(async move {
                let Ok(_permit) = limiter.acquire_owned().await else {
                    return;
                };
                let body = json!({"pings": [{"device_time": chrono::Utc::now(), "lat": lat, "lon": lon, "accuracy_m": 8.0}]});
                let asked = Instant::now();
                if let Ok(mut map) = sent.lock() {
                    map.insert(technician_id, (lat, asked));
                }
                let reply = http
                    .post(format!("{url}/v1/me/locations"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await;
                match reply {
                    Ok(response) if response.status().is_success() => {
                        if measuring.load(Ordering::Relaxed)
                            && let Ok(mut ingest) = ingest.lock()
                        {
                            ingest.push(asked.elapsed().as_secs_f64() * 1000.0);
                        }
                        pings.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            });
        }
    }
    let measured = measure_start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let cpu_end: Vec<Option<u64>> = options.server_pids.iter().map(|p| cpu_ticks(*p)).collect();
    let pings_measured = pings.load(Ordering::Relaxed) - pings_start;
    let notify_end = notifications(&http, &metric_urls).await;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Let the last flushes arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let (mut records, mut messages) = (0, 0);
    for socket in sockets {
        let (mut l, r, m) = socket.await?;
        latencies.append(&mut l);
        records += r;
        messages += m;
    }
    let mut ingest = ingest.lock().map(|l| l.clone()).unwrap_or_default();
    let cpu: Vec<String> = cpu_start
        .iter()
        .zip(&cpu_end)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if measured > 0.0 => {
                format!("{:.0} %", (b - a) as f64 / 100.0 / measured * 100.0)
            }
            _ => "n/a".into(),
        })
        .collect();
    let mib = |pid: u32, key: &str| {
        memory_kb(pid, key).map_or("n/a".into(), |kb| format!("{:.0} MiB", kb as f64 / 1024.0))
    };
    let rss: Vec<String> = options
        .server_pids
        .iter()
        .map(|p| format!("rss {} peak {}", mib(*p, "VmRSS:"), mib(*p, "VmHWM:")))
        .collect();
    println!(
        "technicians {} every {} s, {} sockets{}{}: pings {:.0}/s measured ({} in {:.0} s), errors {}, delta messages {}, records received {}, measured arrivals {}",
        n,
        options.interval_secs,
        options.dispatchers,
        if options.bounded {
            " (each its own strip)"
        } else {
            " (whole world)"
        },
        if options.ws_url.is_some() {
            " (on the other replica)"
        } else {
            ""
        },
        pings_measured as f64 / measured.max(1e-9),
        pings_measured,
        measured,
        errors.load(Ordering::Relaxed),
        messages,
        records,
        latencies.len(),
    );
    println!(
        "ping -> socket latency ms: p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} | ping HTTP ms: p50 {:.1} p99 {:.1}",
        percentile(&mut latencies, 0.50),
        percentile(&mut latencies, 0.90),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0),
        percentile(&mut ingest, 0.50),
        percentile(&mut ingest, 0.99),
    );
    println!(
        "server cpu {} (of one core) | {} | bus notifications {:.1}/s | loadavg {}",
        cpu.join(" + "),
        rss.join(" ; "),
        (notify_end - notify_start) / measured.max(1e-9),
        loadavg.trim(),
    );
    Ok(())
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

/// `truckroll_event_notifications_total` summed over the servers.
async fn notifications(http: &reqwest::Client, urls: &[String]) -> f64 {
    let mut total = 0.0;
    for url in urls {
        let Ok(reply) = http.get(format!("{url}/metrics")).send().await else {
            continue;
        };
        let Ok(text) = reply.text().await else {
            continue;
        };
        total += text
            .lines()
            .filter(|l| l.starts_with("truckroll_event_notifications_total"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}
