//! The technician's morning sync with job packets, against fetching the same
//! data by REST, in the same run, on a real server on loopback.
//!
//! 20 tickets assigned to one technician, each at its own site of its own
//! customer, on an asset with two earlier tickets, with two office comments.
//! Measured (median of `RUNS` fresh phones):
//!
//! - **first sync**: a phone with an empty database syncs (documents and
//!   packets); bytes of the response bodies and wall time of the sync;
//! - **next day, unchanged**: the same phone syncs again with nothing changed;
//! - **next day, 3 changed**: the office edited 3 sites' access notes; the
//!   phone syncs (3 packets come down);
//! - **REST**: the technician fetches the same data the naive way — one
//!   `GET` per ticket, site, customer and asset (80 calls) — which costs the
//!   same every day, changed or not.
//!
//! `cargo run --release -p truckroll-tests --bin packet-bench [sqlite|postgres]`

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::{Client, ClientConfig};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, TestTenant, id_of},
};
use uuid::Uuid;

const TICKETS: usize = 20;
const RUNS: usize = 5;

struct Job {
    ticket: Uuid,
    site: Uuid,
    customer: Uuid,
    asset: Uuid,
}

async fn ok(app: &TestApp, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let reply = app.post(path, token, &body).await;
    anyhow::ensure!(
        reply.status == StatusCode::CREATED || reply.status == StatusCode::OK,
        "{path}: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.body)
}

async fn seed(app: &TestApp, tenant: &TestTenant, technician: Uuid) -> anyhow::Result<Vec<Job>> {
    let admin = &tenant.admin_token;
    let mut jobs = Vec::with_capacity(TICKETS);
    for i in 0..TICKETS {
        let customer = ok(
            app,
            "/v1/customers",
            admin,
            json!({"name": format!("Customer {i}"), "phone": "+49 30 1234567",
                   "email": format!("facilities{i}@example.com"), "contact_person": format!("Contact {i}")}),
        )
        .await?;
        let site = ok(
            app,
            "/v1/sites",
            admin,
            json!({"customer_id": customer["id"], "name": format!("Site {i}"),
                   "address": format!("Karl-Marx-Allee {i}, 10243 Berlin"),
                   "location": {"lat": 52.5 + i as f64 * 0.01, "lon": 13.4},
                   "access_notes": "Ring at the loading dock; hard hats on the roof; dog on site",
                   "opening_hours": "Mo–Fr 07:00–17:00"}),
        )
        .await?;
        let asset = ok(
            app,
            "/v1/assets",
            admin,
            json!({"site_id": site["id"], "serial": format!("SN-{i:04}"), "model": "Carrier 30XA",
                   "warranty_end": "2030-12-31", "installed_on": "2019-05-02"}),
        )
        .await?;
        let body = |title: &str| {
            json!({"title": title, "category": "hvac", "priority": "P2", "site_id": site["id"],
                   "asset_id": asset["id"],
                   "description": "The unit trips at noon; the customer reports a burning smell."})
        };
        for earlier in ["Filter change", "Annual inspection"] {
            ok(app, "/v1/tickets", admin, body(earlier)).await?;
        }
        let ticket = id_of(
            &ok(app, "/v1/tickets", admin, body("Chiller trips")).await?,
            "id",
        );
        ok(
            app,
            &format!("/v1/tickets/{ticket}/assign"),
            admin,
            json!({"technician_id": technician}),
        )
        .await?;
        for text in [
            "Customer asks you to call 30 minutes before arriving.",
            "Spare compressor is in the van; bring the leak detector.",
        ] {
            ok(
                app,
                &format!("/v1/tickets/{ticket}/comments"),
                admin,
                json!({"body": text, "visibility": "internal"}),
            )
            .await?;
        }
        jobs.push(Job {
            ticket,
            site: id_of(&site, "id"),
            customer: id_of(&customer, "id"),
            asset: id_of(&asset, "id"),
        });
    }
    Ok(jobs)
}

/// Bytes of the response bodies and seconds for one SDK sync.
async fn sdk_sync(client: &Client) -> anyhow::Result<(usize, f64, usize)> {
    let started = Instant::now();
    let report = client.sync_now().await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.converged, "sync did not converge: {report:?}");
    Ok((
        report.bytes_received,
        seconds,
        report.packets_received.len(),
    ))
}

/// The same data by REST: one GET per ticket, site, customer and asset.
async fn rest_fetch(app: &TestApp, token: &str, jobs: &[Job]) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    let mut bytes = 0;
    for job in jobs {
        for path in [
            format!("/v1/tickets/{}", job.ticket),
            format!("/v1/sites/{}", job.site),
            format!("/v1/customers/{}", job.customer),
            format!("/v1/assets/{}", job.asset),
        ] {
            let response = app
                .client
                .get(format!("{}{path}", app.base_url))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            bytes += response.bytes().await?.len();
        }
    }
    Ok((bytes, started.elapsed().as_secs_f64()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let backend = match std::env::args().nth(1).as_deref() {
        None | Some("sqlite") => TestBackend::Sqlite,
        Some("postgres") => TestBackend::Postgres,
        Some(other) => anyhow::bail!("unknown backend `{other}` (sqlite or postgres)"),
    };
    let app = TestApp::start(backend).await;
    let tenant = app.create_tenant("packetbench").await;
    let (user, token) = app
        .create_user(&tenant, "tech@packetbench.test", "technician")
        .await;
    let technician = id_of(
        &ok(
            &app,
            "/v1/technicians",
            &tenant.admin_token,
            json!({"user_id": user, "name": "Tech", "time_zone": "UTC", "capacity": 50,
                   "home_base": {"lat": 52.52, "lon": 13.40}}),
        )
        .await?,
        "id",
    );
    let jobs = seed(&app, &tenant, technician).await?;

    let mut rows: Vec<(&str, Vec<f64>, Vec<f64>, usize)> = vec![
        ("SDK first sync (documents + packets)", vec![], vec![], 0),
        ("SDK next day, nothing changed", vec![], vec![], 0),
        ("SDK next day, 3 sites changed", vec![], vec![], 0),
        (
            "REST: 80 GETs (ticket, site, customer, asset)",
            vec![],
            vec![],
            0,
        ),
    ];
    for run in 0..RUNS {
        let dir = TempGuard::new("truckroll-packet-bench-");
        let client = Client::open(
            &dir.path().join("phone.db"),
            ClientConfig::new(&app.base_url),
        )
        .await?;
        client
            .sign_in(&tenant.name, "tech@packetbench.test", PASSWORD)
            .await?;
        let (bytes, seconds, packets) = sdk_sync(&client).await?;
        anyhow::ensure!(packets == TICKETS, "first sync brought {packets} packets");
        rows[0].1.push(bytes as f64);
        rows[0].2.push(seconds);
        rows[0].3 = packets;
        let (bytes, seconds, packets) = sdk_sync(&client).await?;
        rows[1].1.push(bytes as f64);
        rows[1].2.push(seconds);
        rows[1].3 = packets;
        for job in &jobs[..3] {
            let reply = app
                .patch(
                    &format!("/v1/sites/{}", job.site),
                    &tenant.admin_token,
                    &json!({"access_notes": format!("Gate code changed (run {run})")}),
                )
                .await;
            anyhow::ensure!(reply.status == StatusCode::OK, "patch: {}", reply.body);
        }
        let (bytes, seconds, packets) = sdk_sync(&client).await?;
        anyhow::ensure!(packets == 3, "changed sync brought {packets} packets");
        rows[2].1.push(bytes as f64);
        rows[2].2.push(seconds);
        rows[2].3 = packets;
        let (bytes, seconds) = rest_fetch(&app, &token, &jobs).await?;
        rows[3].1.push(bytes as f64);
        rows[3].2.push(seconds);
        rows[3].3 = 0;
    }
    println!(
        "backend {backend:?}, {TICKETS} tickets, median of {RUNS} runs\n| what | bytes down | wall time | packets |\n| --- | ---: | ---: | ---: |"
    );
    for (label, bytes, seconds, packets) in rows {
        println!(
            "| {label} | {:.0} | {:.1} ms | {packets} |",
            median(bytes),
            median(seconds) * 1000.0
        );
    }
    app.stop().await;
    Ok(())
}
