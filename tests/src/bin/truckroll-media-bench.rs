//! Media benchmark against a private s3s-fs on loopback, each number beside
//! a peer measured in the same run:
//!
//! 1. begin + complete round trips per second — the server's own cost, the
//!    objects already in the store (no PUT bytes) — for 1 KiB PDF documents
//!    and for small PNG photos (with thumbnail), against raw `HeadObject`
//!    requests to the same store;
//! 2. upload throughput of 50 × 3 MiB JPEG photos through the whole flow
//!    (begin → presigned PUT with a plain HTTP client → complete, thumbnail
//!    included), against bare presigned PUTs of the same bytes;
//! 3. the same through the SDK's media outbox (`truckroll-sdk`: photos
//!    queued in its SQLite store, then `upload_media`: sync, begin, PUT,
//!    complete one at a time, sync), against bare presigned PUTs of the
//!    same bytes one at a time.
//!
//! ```text
//! cargo run --release -p truckroll-tests --bin truckroll-media-bench -- [--postgres] [--round-trips 400] [--concurrency 8]
//! ```
//!
//! Needs `s3s-fs` (on PATH or `TEST_S3S_FS`); `--postgres` needs
//! `TEST_DATABASE_URL` like the tests. Server, store and client share the
//! machine.

use std::{
    io::Cursor,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use truckroll_sdk::{Backoff, Client, ClientConfig};
use truckroll_server::blob::{PutSpec, Validity, object_key};
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, TestTenant, id_of},
    media::{S3sServer, use_s3},
};
use uuid::Uuid;

const PHOTOS: usize = 50;
const PHOTO_BYTES: usize = 3 * 1024 * 1024;

struct Options {
    backend: TestBackend,
    round_trips: usize,
    concurrency: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        backend: TestBackend::Sqlite,
        round_trips: 400,
        concurrency: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> anyhow::Result<usize> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} must be a number"))
        };
        match arg.as_str() {
            "--postgres" => options.backend = TestBackend::Postgres,
            "--round-trips" => options.round_trips = number("--round-trips")?,
            "--concurrency" => options.concurrency = number("--concurrency")?.max(1),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A 1 KiB PDF unique to `i`.
fn pdf(i: usize) -> Vec<u8> {
    let mut bytes = format!("%PDF-1.4\n% truckroll bench {i}\n").into_bytes();
    bytes.resize(1024, b' ');
    bytes
}

/// A small PNG photo unique to `i`.
fn small_photo(i: usize) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([x as u8, y as u8, (i % 251) as u8 ^ (i / 251) as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(bytes)
}

/// A 4000 × 3000 JPEG padded after its end marker to exactly 3 MiB, with a
/// suffix unique to `i` (a phone photo's size and pixel count; decoders stop
/// at the end marker).
fn big_photos(count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let image = image::RgbImage::from_fn(4000, 3000, |x, y| {
        let v = (x / 7) ^ (y / 5);
        image::Rgb([(v % 256) as u8, ((x + y) % 256) as u8, (y % 256) as u8])
    });
    let mut base = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut base), image::ImageFormat::Jpeg)?;
    if base.len() > PHOTO_BYTES - 16 {
        bail!("the JPEG is {} bytes, more than 3 MiB", base.len());
    }
    Ok((0..count)
        .map(|i| {
            let mut bytes = base.clone();
            bytes.resize(PHOTO_BYTES - 8, 0);
            bytes.extend_from_slice(&(i as u64).to_be_bytes());
            bytes
        })
        .collect())
}

async fn begin(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    kind: &str,
    content_type: &str,
    bytes: &[u8],
) -> anyhow::Result<Value> {
    let body = json!({"kind": kind, "content_type": content_type, "size": bytes.len(), "sha256": sha256_hex(bytes)});
    let reply = app
        .post(&format!("/v1/tickets/{ticket}/media"), token, &body)
        .await;
    if reply.status != StatusCode::CREATED {
        bail!("begin answered {}: {}", reply.status, reply.body);
    }
    Ok(reply.body)
}

async fn complete(app: &TestApp, token: &str, media: &Value) -> anyhow::Result<()> {
    let id = id_of(media, "id");
    let reply = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/media/{id}/complete"),
            Some(token),
            None,
        )
        .await;
    if reply.status != StatusCode::OK {
        bail!("complete answered {}: {}", reply.status, reply.body);
    }
    Ok(())
}

async fn put(client: &reqwest::Client, upload: &Value, bytes: Vec<u8>) -> anyhow::Result<()> {
    let mut request = client.put(upload["url"].as_str().context("upload url")?);
    if let Some(headers) = upload["headers"].as_object() {
        for (name, value) in headers {
            if !name.eq_ignore_ascii_case("content-length") {
                request = request.header(name, value.as_str().unwrap_or_default());
            }
        }
    }
    let answer = request.body(bytes).send().await?;
    if !answer.status().is_success() {
        bail!("PUT answered {}", answer.status());
    }
    Ok(())
}

/// Runs `work(i)` for `0..count` with `concurrency` in flight; the elapsed time.
async fn timed<F, Fut>(count: usize, concurrency: usize, work: F) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = stream::iter(0..count)
        .map(work)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for result in results {
        result?;
    }
    Ok(elapsed)
}

async fn world(app: &TestApp) -> anyhow::Result<(TestTenant, Uuid)> {
    let tenant = app.create_tenant("bench").await;
    let site = id_of(&app.berlin_site(&tenant, "standard").await, "id");
    let body = json!({"title": "Bench", "category": "hvac", "priority": "P3", "site_id": site});
    let reply = app.post("/v1/tickets", &tenant.admin_token, &body).await;
    if reply.status != StatusCode::CREATED {
        bail!("ticket: {}", reply.body);
    }
    let ticket = id_of(&reply.body, "id");
    Ok((tenant, ticket))
}

/// Objects written straight into the store (setup, not timed).
async fn preload(
    app: &TestApp,
    tenant: Uuid,
    items: &[Vec<u8>],
    content_type: &str,
) -> anyhow::Result<()> {
    for bytes in items {
        app.state
            .blobs
            .write(
                &object_key(tenant, &sha256_hex(bytes)),
                bytes.clone(),
                content_type,
            )
            .await?;
    }
    Ok(())
}

async fn round_trips(
    app: &TestApp,
    token: &str,
    ticket: Uuid,
    items: &[Vec<u8>],
    kind: &str,
    content_type: &str,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let elapsed = timed(items.len(), concurrency, |i| async move {
        let begun = begin(app, token, ticket, kind, content_type, &items[i]).await?;
        if begun["already_stored"] != json!(true) {
            bail!("expected the preloaded object to be found: {begun}");
        }
        complete(app, token, &begun["media"]).await
    })
    .await?;
    Ok(items.len() as f64 / elapsed.as_secs_f64())
}

/// A technician with a ticket assigned, and a signed-in SDK that holds it.
async fn sdk_phone(
    app: &TestApp,
    tenant: &TestTenant,
    dir: &TempGuard,
) -> anyhow::Result<(Client, Uuid)> {
    let email = "tech@bench.test";
    let (user, _) = app.create_user(tenant, email, "technician").await;
    let tech = app
        .post(
            "/v1/technicians",
            &tenant.admin_token,
            &json!({"user_id": user, "name": "Bench", "skills": [], "time_zone": "UTC",
                    "capacity": 5, "home_base": {"lat": 52.52, "lon": 13.40}}),
        )
        .await;
    if tech.status != StatusCode::CREATED {
        bail!("technician: {}", tech.body);
    }
    let site = id_of(&app.berlin_site(tenant, "standard").await, "id");
    let body = json!({"title": "SDK bench", "category": "hvac", "priority": "P3", "site_id": site});
    let reply = app.post("/v1/tickets", &tenant.admin_token, &body).await;
    if reply.status != StatusCode::CREATED {
        bail!("ticket: {}", reply.body);
    }
    let ticket = id_of(&reply.body, "id");
    let assigned = app
        .post(
            &format!("/v1/tickets/{ticket}/assign"),
            &tenant.admin_token,
            &json!({"technician_id": id_of(&tech.body, "id")}),
        )
        .await;
    if assigned.status != StatusCode::OK {
        bail!("assign: {}", assigned.body);
    }
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await?;
    client.sign_in(&tenant.name, email, PASSWORD).await?;
    client.sync_now().await?;
    Ok((client, ticket))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let s3 = S3sServer::start().await;
    let s3_config = s3.config();
    let app = TestApp::start_with(options.backend, |c| {
        use_s3(c, s3_config);
        c.media.max_per_ticket = 1_000_000;
        c.database_max_connections = 16;
    })
    .await;
    let (tenant, ticket) = world(&app).await?;
    let token = tenant.admin_token.clone();
    let n = options.round_trips;
    let c = options.concurrency;
    println!(
        "backend {:?}, s3s-fs at {}, {n} round trips at concurrency {c}",
        options.backend,
        s3.endpoint()
    );

    // 1. Round trips, objects already stored.
    let pdfs: Vec<Vec<u8>> = (0..n).map(pdf).collect();
    preload(&app, tenant.id, &pdfs, "application/pdf").await?;
    let documents = round_trips(
        &app,
        &token,
        ticket,
        &pdfs,
        "document",
        "application/pdf",
        c,
    )
    .await?;
    let photos: Vec<Vec<u8>> = (0..n)
        .map(|i| small_photo(n + i))
        .collect::<anyhow::Result<_>>()?;
    preload(&app, tenant.id, &photos, "image/png").await?;
    let small = round_trips(&app, &token, ticket, &photos, "photo", "image/png", c).await?;
    let keys: Arc<Vec<String>> = Arc::new(
        pdfs.iter()
            .map(|b| object_key(tenant.id, &sha256_hex(b)))
            .collect(),
    );
    let heads = timed(n, c, |i| {
        let (app, keys) = (&app, keys.clone());
        async move {
            app.state
                .blobs
                .head(&keys[i])
                .await?
                .context("object present")?;
            Ok(())
        }
    })
    .await?;
    let head_rate = n as f64 / heads.as_secs_f64();

    // 2. 50 × 3 MiB photos through the flow, then as bare PUTs.
    let big = Arc::new(big_photos(PHOTOS * 3)?);
    let client = reqwest::Client::new();
    let upload_concurrency = 4;
    let flow = timed(PHOTOS, upload_concurrency, |i| {
        let (app, token, big, client) = (&app, &token, big.clone(), &client);
        async move {
            let begun = begin(app, token, ticket, "photo", "image/jpeg", &big[i]).await?;
            put(client, &begun["upload"], big[i].clone()).await?;
            complete(app, token, &begun["media"]).await
        }
    })
    .await?;
    let bare = timed(PHOTOS, upload_concurrency, |i| {
        let (app, big, client) = (&app, big.clone(), &client);
        async move {
            let bytes = &big[PHOTOS + i];
            let spec = PutSpec {
                content_type: "image/jpeg".into(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            };
            let signed = app
                .state
                .blobs
                .presign_put(&format!("bench/raw/{i}"), &spec, "", Validity::from_now(Duration::from_secs(900)))
                .await?;
            let upload = json!({
                "url": signed.url,
                "headers": signed.headers.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<serde_json::Map<_, _>>(),
            });
            put(client, &upload, bytes.clone()).await
        }
    })
    .await?;
    let mib = (PHOTOS * PHOTO_BYTES) as f64 / (1024.0 * 1024.0);

    // 3. The same size of photos through the SDK's outbox, one at a time,
    //    against bare PUTs of the same bytes one at a time.
    let sdk_bytes = &big[PHOTOS * 2..];
    let bare_sequential = timed(PHOTOS, 1, |i| {
        let (app, client) = (&app, &client);
        async move {
            let bytes = &sdk_bytes[i];
            let spec = PutSpec {
                content_type: "image/jpeg".into(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            };
            let signed = app
                .state
                .blobs
                .presign_put(&format!("bench/raw-sequential/{i}"), &spec, "", Validity::from_now(Duration::from_secs(900)))
                .await?;
            let upload = json!({
                "url": signed.url,
                "headers": signed.headers.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<serde_json::Map<_, _>>(),
            });
            put(client, &upload, bytes.clone()).await
        }
    })
    .await?;
    let phone_dir = TempGuard::new("truckroll-media-bench-phone-");
    let (phone, sdk_ticket) = sdk_phone(&app, &tenant, &phone_dir).await?;
    let queue_started = Instant::now();
    for bytes in sdk_bytes {
        phone
            .attach_photo(&sdk_ticket.to_string(), bytes.clone(), "image/jpeg")
            .await?;
    }
    let queued = queue_started.elapsed();
    let upload_started = Instant::now();
    let report = phone
        .upload_media(&Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: 5,
        })
        .await?;
    let outbox = upload_started.elapsed();
    if report.uploaded != PHOTOS || report.remaining != 0 {
        bail!("the outbox did not upload everything: {report:?}");
    }
    let stored = phone
        .ticket(&sdk_ticket.to_string())
        .await?
        .photos
        .iter()
        .filter(|p| p.state == truckroll_sdk::truckroll_sync::MediaState::Stored)
        .count();
    if stored != PHOTOS {
        bail!("{stored} of {PHOTOS} references are stored on the phone");
    }

    println!();
    println!("| measurement | rate | peer (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| begin+complete, 1 KiB PDF already stored | {documents:.0} /s | S3 HeadObject {head_rate:.0} /s | {:.2} |",
        documents / head_rate
    );
    println!(
        "| begin+complete, 96×64 PNG photo already stored (thumbnail made) | {small:.0} /s | S3 HeadObject {head_rate:.0} /s | {:.2} |",
        small / head_rate
    );
    println!(
        "| 50 × 3 MiB JPEG: begin → PUT → complete (thumbnail of 4000×3000), {upload_concurrency} at a time | {:.1} MiB/s ({:.1} photos/s, {:.2} s) | bare presigned PUTs {:.1} MiB/s ({:.2} s) | {:.2} |",
        mib / flow.as_secs_f64(),
        PHOTOS as f64 / flow.as_secs_f64(),
        flow.as_secs_f64(),
        mib / bare.as_secs_f64(),
        bare.as_secs_f64(),
        bare.as_secs_f64() / flow.as_secs_f64()
    );
    println!(
        "| 50 × 3 MiB JPEG through the SDK outbox (`upload_media`: sync, begin → PUT → complete one at a time, sync; thumbnail of 4000×3000) | {:.1} MiB/s ({:.1} photos/s, {:.2} s; queueing them offline took {:.2} s more) | bare presigned PUTs one at a time {:.1} MiB/s ({:.2} s) | {:.2} |",
        mib / outbox.as_secs_f64(),
        PHOTOS as f64 / outbox.as_secs_f64(),
        outbox.as_secs_f64(),
        queued.as_secs_f64(),
        mib / bare_sequential.as_secs_f64(),
        bare_sequential.as_secs_f64(),
        bare_sequential.as_secs_f64() / outbox.as_secs_f64()
    );
    drop(phone);
    app.stop().await;
    drop(s3);
    Ok(())
}
