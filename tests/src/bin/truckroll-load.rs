//! Load generator: technicians' phones sending batches of location pings to
//! a running Truckroll server, as fast as the server takes them.
//!
//! ```text
//! truckroll-load --url http://127.0.0.1:8080 --tenant load \
//!     --admin-email admin@load.test --admin-password 'change-me-please' \
//!     --technicians 200 --batch 100 --concurrency 32 --seconds 20
//! ```
//!
//! It signs in as the admin, creates the technicians (users + profiles) on
//! the first run, then reports pings/s, requests/s and latency percentiles.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::Utc;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Options {
    url: String,
    tenant: String,
    admin_email: String,
    admin_password: String,
    technicians: usize,
    batch: usize,
    concurrency: usize,
    seconds: u64,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        tenant: "load".into(),
        admin_email: "admin@load.test".into(),
        admin_password: "change-me-please".into(),
        technicians: 200,
        batch: 100,
        concurrency: 32,
        seconds: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.url = value,
            "--tenant" => options.tenant = value,
            "--admin-email" => options.admin_email = value,
            "--admin-password" => options.admin_password = value,
            "--technicians" => options.technicians = value.parse()?,
            "--batch" => options.batch = value.parse()?,
            "--concurrency" => options.concurrency = value.parse()?,
            "--seconds" => options.seconds = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    if options.technicians == 0 || options.batch == 0 || options.concurrency == 0 {
        bail!("--technicians, --batch and --concurrency must be at least 1");
    }
    Ok(options)
}

async fn call(client: &reqwest::Client, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = client.execute(request.build()?).await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

async fn login(
    client: &reqwest::Client,
    options: &Options,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = json!({"tenant": options.tenant, "email": email, "password": password});
    let reply = call(
        client,
        client
            .post(format!("{}/v1/auth/login", options.url))
            .json(&body),
    )
    .await?;
    reply["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

/// Signs in (creating them if needed) `n` technicians; returns their tokens.
async fn technicians(client: &reqwest::Client, options: &Options) -> anyhow::Result<Vec<String>> {
    let admin = login(
        client,
        options,
        &options.admin_email,
        &options.admin_password,
    )
    .await?;
    let password = "load-test-password";
    let mut tokens = Vec::with_capacity(options.technicians);
    for i in 0..options.technicians {
        let email = format!("tech{i}@load.test");
        if let Ok(token) = login(client, options, &email, password).await {
            tokens.push(token);
            continue;
        }
        let user = call(
            client,
            client
                .post(format!("{}/v1/users", options.url))
                .bearer_auth(&admin)
                .json(&json!({"email": email, "name": format!("Load {i}"), "role": "technician", "password": password})),
        )
        .await?;
        call(
            client,
            client
                .post(format!("{}/v1/technicians", options.url))
                .bearer_auth(&admin)
                .json(&json!({
                    "user_id": user["id"], "name": format!("Load {i}"), "time_zone": "UTC",
                    "skills": [{"skill": "hvac", "level": 3}],
                    "home_base": {"lat": 52.52, "lon": 13.40}
                })),
        )
        .await?;
        tokens.push(login(client, options, &email, password).await?);
    }
    Ok(tokens)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let tokens = Arc::new(technicians(&client, &options).await?);
    eprintln!(
        "{} technicians signed in; sending for {} s",
        tokens.len(),
        options.seconds
    );

    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    // Device times only move forward, so no ping is a duplicate.
    let clock = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..options.concurrency {
        let (client, options, tokens, clock, errors) = (
            client.clone(),
            options.clone(),
            tokens.clone(),
            clock.clone(),
            errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut round = worker;
            let base = Utc::now() - chrono::Duration::hours(6);
            while Instant::now() < deadline {
                let token = &tokens[round % tokens.len()];
                round += options.concurrency;
                let pings: Vec<Value> = (0..options.batch)
                    .map(|i| {
                        let tick = clock.fetch_add(1, Ordering::Relaxed);
                        let at = base + chrono::Duration::milliseconds(tick as i64);
                        json!({"device_time": at, "lat": 52.4 + (tick % 1000) as f64 * 1e-4,
                               "lon": 13.3 + (i % 100) as f64 * 1e-4, "accuracy_m": 8.0, "speed_mps": 11.0})
                    })
                    .collect();
                let started = Instant::now();
                let sent = client
                    .post(format!("{}/v1/me/locations", options.url))
                    .bearer_auth(token)
                    .json(&json!({ "pings": pings }))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => latencies.push(started.elapsed()),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let requests = latencies.len() as f64;
    println!(
        "requests {:.0}  errors {}  pings/s {:.0}  requests/s {:.0}  latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        requests,
        errors.load(Ordering::Relaxed),
        requests * options.batch as f64 / elapsed,
        requests / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0),
    );
    Ok(())
}
