//! Email intake throughput: raw MIME messages (built by Python's `email`
//! package, `tests/fixtures/intake/make_mail.py`) posted to
//! `POST /v1/intake/email`, each parsed, recorded, matched to its customer
//! and turned into a ticket — without and with a 2 MB attachment (a PDF:
//! decoded from base64, hashed, written to the blob store and checked like
//! an upload; a photo would add the thumbnail, measured by
//! truckroll-media-bench). The peer, in the same run: `POST /v1/tickets`
//! with the same title and text (ticket creation without the mail).
//! Also the parse alone (`truckroll_server::intake::parse`) in process.
//!
//! ```text
//! cargo run --release -p truckroll-tests --bin truckroll-intake-bench -- [--postgres] [--messages 300] [--concurrency 4]
//! ```
//!
//! `--postgres` needs `TEST_DATABASE_URL` like the tests. Server, database
//! and client share the machine; blobs are the embedded directory store.

use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_tests::{
    TestBackend,
    app::{TestApp, id_of},
    intake::{Mail, intake_token, set_up},
};

const ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;

struct Options {
    backend: TestBackend,
    messages: usize,
    concurrency: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        backend: TestBackend::Sqlite,
        messages: 300,
        concurrency: 4,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => options.backend = TestBackend::Postgres,
            "--messages" => options.messages = args.next().context("--messages N")?.parse()?,
            "--concurrency" => {
                options.concurrency = args.next().context("--concurrency N")?.parse()?
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

/// A 2 MB PDF: a real header and trailer around incompressible filler.
fn pdf(bytes: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut x: u32 = 0x1234_5678;
    while out.len() < bytes - 16 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x & 0xff) as u8);
    }
    out.extend_from_slice(b"\n%%EOF\n");
    out
}

/// `template` with its Message-ID made unique for message `i`.
fn numbered(template: &[u8], marker: &str, i: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(template);
    text.replacen(marker, &format!("{marker}-{i}"), 1)
        .into_bytes()
}

async fn post_all(
    app: &TestApp,
    token: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let url = format!("{}/v1/intake/email", app.base_url);
    let results: Vec<anyhow::Result<()>> = stream::iter(bodies)
        .map(|raw| {
            let request = app
                .client
                .post(&url)
                .bearer_auth(token)
                .header("content-type", "message/rfc822")
                .body(raw);
            async move {
                let response = request.send().await?;
                let status = response.status();
                let body: Value = response.json().await?;
                if status != StatusCode::OK || body["outcome"] != "ticket" {
                    bail!("{status}: {body}");
                }
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    for r in results {
        r?;
    }
    Ok(elapsed)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let n = options.messages;
    let app = TestApp::start_with(options.backend, |c| {
        c.intake.imap_enabled = false;
        c.intake.max_message_bytes = 8 * 1024 * 1024;
    })
    .await;
    let tenant = app.create_tenant("bench").await;
    let site = app.berlin_site(&tenant, "standard").await;
    set_up(
        &app,
        &tenant,
        id_of(&site, "id"),
        json!({"sender_limit_per_hour": 10000}),
    )
    .await;
    let token = intake_token(&app, &tenant).await;

    let text = "The boiler in the basement leaks since this morning; water is on the floor.\n\
                Please send someone today.\n\nOn Mon, Desk wrote:\n> earlier text";
    let plain = Mail::new("Ann Lee <ann@example.com>", "Boiler leaking")
        .message_id("bench-plain@example.com")
        .text(text)
        .html("<p>The boiler in the basement leaks since this morning; water is on the floor.</p>")
        .build();
    let heavy = Mail::new("Ann Lee <ann@example.com>", "Boiler leaking")
        .message_id("bench-heavy@example.com")
        .text(text)
        .attach("application/pdf", "report.pdf", &pdf(ATTACHMENT_BYTES))
        .build();

    // Parse alone, in process.
    let started = Instant::now();
    for _ in 0..n {
        let parsed = truckroll_server::intake::parse(&heavy).context("parses")?;
        anyhow::ensure!(parsed.attachments.len() == 1);
    }
    let parse_heavy = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..n {
        truckroll_server::intake::parse(&plain).context("parses")?;
    }
    let parse_plain = n as f64 / started.elapsed().as_secs_f64();

    // Each attachment differs by one byte so every message stores new content.
    let plain_bodies: Vec<Vec<u8>> = (0..n).map(|i| numbered(&plain, "bench-plain", i)).collect();
    let heavy_bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut body = numbered(&heavy, "bench-heavy", i);
            // Vary the PDF's content (a base64 character inside its body part).
            if let Some(at) = find(&body, b"JVBERi0xLjQK") {
                let digit = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let p = at + 40;
                body[p] = digit[i % 64];
                body[p + 1] = digit[(i / 64) % 64];
            }
            body
        })
        .collect();

    let plain_secs = post_all(&app, &token, plain_bodies, options.concurrency).await?;
    let heavy_secs = post_all(&app, &token, heavy_bodies, options.concurrency).await?;

    // The peer: the same tickets through the REST API.
    let started = Instant::now();
    let url = format!("{}/v1/tickets", app.base_url);
    let body = json!({"title": "Boiler leaking", "description": text, "category": "repair",
                      "priority": "P3", "site_id": site["id"]});
    let results: Vec<anyhow::Result<()>> = stream::iter(0..n)
        .map(|_| {
            let request = app
                .client
                .post(&url)
                .bearer_auth(&tenant.admin_token)
                .json(&body);
            async move {
                let status = request.send().await?.status();
                anyhow::ensure!(status == StatusCode::CREATED, "{status}");
                Ok(())
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let rest_secs = started.elapsed().as_secs_f64();
    for r in results {
        r?;
    }

    let rest = n as f64 / rest_secs;
    let plain_rate = n as f64 / plain_secs;
    let heavy_rate = n as f64 / heavy_secs;
    println!(
        "backend {:?}, {n} messages each, {} in flight",
        options.backend, options.concurrency
    );
    println!("| measurement | per second | peer: POST /v1/tickets | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| email → ticket, {} bytes of text + HTML | {plain_rate:.1} | {rest:.1} | {:.2} |",
        plain.len(),
        plain_rate / rest
    );
    println!(
        "| email → ticket with a 2 MB PDF attachment ({} bytes raw) | {heavy_rate:.1} ({:.1} MiB/s of mail) | {rest:.1} | {:.2} |",
        heavy.len(),
        heavy_rate * heavy.len() as f64 / 1_048_576.0,
        heavy_rate / rest
    );
    println!("| parse only (in process), plain | {parse_plain:.0} | | |");
    println!("| parse only (in process), with 2 MB attachment | {parse_heavy:.0} | | |");
    app.stop().await;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
