//! Service report generation for a ticket with 10 photos of 4000×3000 and a
//! signature, on a real server on loopback (SQLite, the `fs` blob store).
//!
//! A phone does the job through the SDK (10 photos, a signature, work
//! done) and uploads; the server makes the thumbnails on upload, as it
//! always does. Then, each run, the office corrects the record (so the
//! report changes) and asks for the report (`POST /v1/tickets/{id}/report`):
//!
//! - **latency**: median wall time of one generation (HTTP included), and
//!   the process's peak RSS during the runs (`VmHWM`, reset before them
//!   through `/proc/self/clear_refs`), beside the RSS before them;
//! - **throughput**: `TICKETS` tickets generated concurrently, rounds of
//!   one report each: reports per second on this machine's cores.
//!
//! `cargo run --release -p truckroll-tests --bin report-bench`

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_sdk::truckroll_sync::StatusAction;
use truckroll_sdk::truckroll_sync::signature::{Point, Strokes};
use truckroll_sdk::{Backoff, Client, ClientConfig, Edit, SignatureCapture};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp},
    fixtures::Shop,
};
use uuid::Uuid;

const PHOTOS: usize = 10;
const RUNS: usize = 9;
const TICKETS: usize = 4;
const ROUNDS: usize = 3;

fn photo(seed: u32) -> anyhow::Result<Vec<u8>> {
    // Gradients with fine texture, so the JPEG is camera-sized (a few MB).
    let image = image::RgbImage::from_fn(4000, 3000, |x, y| {
        let texture = ((x ^ y).wrapping_mul(seed + 3) & 0x1f) as u8;
        image::Rgb([
            (x / 16) as u8 ^ texture,
            (y / 12) as u8,
            texture.wrapping_mul(5),
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85).encode_image(&image)?;
    Ok(bytes)
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn ok(reply: truckroll_tests::app::Reply, what: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(
        reply.status == StatusCode::OK || reply.status == StatusCode::CREATED,
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.body)
}

async fn job(client: &Client, ticket: &str, photos: &[Vec<u8>]) -> anyhow::Result<()> {
    for action in [
        StatusAction::Accept,
        StatusAction::StartTravel,
        StatusAction::CheckIn,
    ] {
        client
            .edit(
                ticket,
                Edit::Status {
                    action,
                    position: None,
                    reason: None,
                },
            )
            .await?;
    }
    client
        .edit(
            ticket,
            Edit::NotesAppend {
                text: "Replaced the condenser fan motor.".into(),
            },
        )
        .await?;
    for p in photos {
        client.attach_photo(ticket, p.clone(), "image/jpeg").await?;
    }
    let point = |x, y| Point { x, y };
    client
        .capture_signature(
            ticket,
            SignatureCapture {
                signer_name: "Grace Hopper".into(),
                strokes: Strokes {
                    width: 400,
                    height: 160,
                    strokes: vec![vec![
                        point(10.0, 120.0),
                        point(180.0, 20.0),
                        point(390.0, 140.0),
                    ]],
                },
                position: Some((52.52, 13.40)),
            },
        )
        .await?;
    client
        .edit(
            ticket,
            Edit::Status {
                action: StatusAction::CompleteWork,
                position: None,
                reason: None,
            },
        )
        .await?;
    Ok(())
}

async fn correct(app: &TestApp, token: &str, ticket: Uuid, n: usize) -> anyhow::Result<()> {
    let work = ok(
        app.get(&format!("/v1/tickets/{ticket}/work"), token).await,
        "work",
    )
    .await?;
    ok(
        app.post(
            &format!("/v1/tickets/{ticket}/work/corrections"),
            token,
            &json!({"version": work["version"], "operations": [{"op": "append_note", "text": format!("Office note {n}")}]}),
        )
        .await,
        "correction",
    )
    .await?;
    Ok(())
}

async fn generate(app: &TestApp, token: &str, ticket: Uuid) -> anyhow::Result<Value> {
    let reply = app
        .post(&format!("/v1/tickets/{ticket}/report"), token, &json!({}))
        .await;
    anyhow::ensure!(
        reply.status == StatusCode::CREATED,
        "report: {} {}",
        reply.status,
        reply.body
    );
    Ok(reply.body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = TestApp::start_with(TestBackend::Sqlite, |c| {
        c.report.poll_ms = 3_600_000;
        c.media.max_bytes = 64 * 1024 * 1024;
    })
    .await;
    let duty = Shop::on_duty(&app, "reportbench", TICKETS, ("Chiller", "P2")).await;
    let tenant = duty.tenant().clone();
    let admin = tenant.admin_token.clone();
    eprintln!("encoding {PHOTOS} photos of 4000×3000 …");
    let photos: Vec<Vec<u8>> = (0..PHOTOS as u32)
        .map(photo)
        .collect::<anyhow::Result<_>>()?;
    let photo_mb = photos.iter().map(Vec::len).sum::<usize>() as f64 / PHOTOS as f64 / 1e6;
    let dir = TempGuard::new("truckroll-report-bench-");
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await?;
    client
        .sign_in(&tenant.name, &duty.tech().email, PASSWORD)
        .await?;
    client.sync_now().await?;
    for ticket in &duty.tickets {
        job(&client, &ticket.to_string(), &photos).await?;
    }
    client.sync_now().await?;
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(500),
        attempts: 8,
    };
    let uploaded = client.upload_media(&backoff).await?;
    anyhow::ensure!(uploaded.failed == 0, "uploads failed: {uploaded:?}");
    client.sync_now().await?;
    let ticket = duty.tickets[0];
    let work = ok(
        app.get(&format!("/v1/tickets/{ticket}/work"), &admin).await,
        "work",
    )
    .await?;
    let stored = work["photos"]
        .as_array()
        .map_or(0, |p| p.iter().filter(|p| p["state"] == "stored").count());
    anyhow::ensure!(stored == PHOTOS, "{stored} of {PHOTOS} photos stored");

    // Warm-up (first use of the font, the code paths).
    let first = generate(&app, &admin, ticket).await?;
    let rss_before = status_kb("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut times = Vec::with_capacity(RUNS);
    for n in 0..RUNS {
        correct(&app, &admin, ticket, n).await?;
        let start = Instant::now();
        generate(&app, &admin, ticket).await?;
        times.push(start.elapsed());
    }
    let peak = status_kb("VmHWM:");
    times.sort();
    let median = times[RUNS / 2];

    let mut generated = 0;
    let mut busy = Duration::ZERO;
    for round in 0..ROUNDS {
        for t in &duty.tickets {
            correct(&app, &admin, *t, 100 + round).await?;
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in duty.tickets.clone() {
            let base = app.base_url.clone();
            let token = admin.clone();
            tasks.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/v1/tickets/{t}/report"))
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .await
                    .map(|r| r.status())
            }));
        }
        for task in tasks {
            anyhow::ensure!(
                task.await?? == StatusCode::CREATED,
                "a concurrent report was not issued"
            );
            generated += 1;
        }
        busy += start.elapsed();
    }
    let size_kb = first["size"].as_i64().unwrap_or(0) / 1024;
    println!(
        "report generation: {PHOTOS} photos of 4000×3000 (JPEG, {photo_mb:.1} MB each on average) and a signature"
    );
    println!("  PDF size: {size_kb} KiB");
    println!(
        "  median of {RUNS}: {:.1} ms (min {:.1}, max {:.1})",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3
    );
    println!(
        "  process RSS before the runs: {:.1} MiB; peak RSS during them: {:.1} MiB",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "  throughput: {generated} reports ({TICKETS} concurrent × {ROUNDS} rounds) in {:.2} s = {:.1} reports/s on {} cores",
        busy.as_secs_f64(),
        generated as f64 / busy.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    app.stop().await;
    Ok(())
}
