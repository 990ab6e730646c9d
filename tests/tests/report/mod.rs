//! The office's corrections of a work record and the signed service report
//! (issue 15): a job done offline through the SDK gets its report PDF from
//! the report job, the PDF's text and images hold the job, the public check
//! tells the issued PDF from a changed one, a correction reaches the phone,
//! the audit log and the timeline, and makes a new report version that
//! supersedes the first.

mod corrections;
mod pdf;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use truckroll_sdk::truckroll_sync::signature::{Point, Strokes};
use truckroll_sdk::truckroll_sync::{Position, StatusAction, TimeEntryKind};
use truckroll_sdk::{Backoff, Client, ClientConfig, Edit, SignatureCapture};
use truckroll_tests::{
    TempGuard,
    app::{PASSWORD, TestApp},
    media::jpeg,
};
use uuid::Uuid;

/// A phone signed in as `email`, synced once.
pub(super) async fn phone(app: &TestApp, dir: &TempGuard, tenant: &str, email: &str) -> Client {
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(tenant, email, PASSWORD)
        .await
        .expect("signs in");
    client.sync_now().await.expect("first sync");
    client
}

pub(super) async fn edit(client: &Client, ticket: &str, edit: Edit) -> Option<String> {
    client.edit(ticket, edit).await.expect("edit applies")
}

async fn status(client: &Client, ticket: &str, action: StatusAction, position: Option<Position>) {
    edit(
        client,
        ticket,
        Edit::Status {
            action,
            position,
            reason: None,
        },
    )
    .await;
}

/// The whole job offline — travel, check-in, notes, checklist, two parts,
/// four time entries (travel 20 min, work 75, waiting 5, break 10), two
/// photos, the customer's signature by "Grace Hopper", work done — then
/// online: sync, upload, sync.
pub(super) async fn do_the_job(client: &Client, ticket: &str) {
    client.set_online(false);
    let site = Position {
        lat: 52.5163,
        lon: 13.3795,
        accuracy_m: Some(8.0),
    };
    status(client, ticket, StatusAction::Accept, None).await;
    status(client, ticket, StatusAction::StartTravel, None).await;
    status(client, ticket, StatusAction::CheckIn, Some(site)).await;
    edit(
        client,
        ticket,
        Edit::NotesAppend {
            text: "Replaced the condenser fan motor.".into(),
        },
    )
    .await;
    let item = edit(
        client,
        ticket,
        Edit::AddChecklistItem {
            label: "Isolate power".into(),
        },
    )
    .await
    .expect("item id");
    edit(
        client,
        ticket,
        Edit::SetChecklistDone {
            item_id: item,
            done: true,
        },
    )
    .await;
    edit(
        client,
        ticket,
        Edit::AddChecklistItem {
            label: "Leak test".into(),
        },
    )
    .await;
    for (number, quantity, serial) in [("FAN-220", 1.0, Some("SN-77")), ("CABLE-M", 2.5, None)] {
        edit(
            client,
            ticket,
            Edit::AddPart {
                part_number: number.into(),
                quantity,
                serial: serial.map(str::to_owned),
            },
        )
        .await;
    }
    let start = 1_700_000_000_000_i64;
    for (kind, from, to) in [
        (TimeEntryKind::Travel, 0, 20 * 60),
        (TimeEntryKind::Work, 20 * 60, 95 * 60),
        (TimeEntryKind::Waiting, 95 * 60, 100 * 60),
        (TimeEntryKind::Break, 100 * 60, 110 * 60),
    ] {
        edit(
            client,
            ticket,
            Edit::AddTimeEntry {
                kind,
                started_at: start + from * 1000,
                ended_at: Some(start + to * 1000),
            },
        )
        .await;
    }
    for seed in [1, 2] {
        client
            .attach_photo(ticket, jpeg(seed), "image/jpeg")
            .await
            .expect("photo queued");
    }
    let p = |x, y| Point { x, y };
    client
        .capture_signature(
            ticket,
            SignatureCapture {
                signer_name: "Grace Hopper".into(),
                strokes: Strokes {
                    width: 200,
                    height: 80,
                    strokes: vec![vec![p(10.0, 60.0), p(90.0, 10.0), p(190.0, 70.0)]],
                },
                position: Some((52.5163, 13.3795)),
            },
        )
        .await
        .expect("signature queued");
    status(client, ticket, StatusAction::CompleteWork, None).await;

    client.set_online(true);
    client.sync_now().await.expect("sync after the job");
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 5,
    };
    let uploaded = client.upload_media(&backoff).await.expect("uploads");
    assert_eq!(uploaded.failed, 0, "{uploaded:?}");
    client.sync_now().await.expect("sync after uploads");
}

/// A downloaded report: its bytes, version and code.
#[derive(Debug, Clone)]
pub(super) struct Pdf {
    pub bytes: Vec<u8>,
    pub version: i64,
    pub code: String,
}

/// `GET /v1/tickets/{ticket}/report.pdf` as `token`: the PDF, or the status.
pub(super) async fn download(app: &TestApp, ticket: Uuid, token: &str) -> Result<Pdf, StatusCode> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/tickets/{ticket}/report.pdf", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request reaches the server");
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/pdf");
    let version = header("x-report-version").parse().expect("version header");
    let code = header("x-report-code");
    let bytes = response.bytes().await.expect("body").to_vec();
    Ok(Pdf {
        bytes,
        version,
        code,
    })
}

/// Waits (polling, bounded) until the report job issued `version` of the
/// ticket's report, and downloads it.
pub(super) async fn wait_for_report(app: &TestApp, ticket: Uuid, token: &str, version: i64) -> Pdf {
    for _ in 0..1200 {
        if let Ok(pdf) = download(app, ticket, token).await
            && pdf.version >= version
        {
            return pdf;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the report job never issued version {version} of {ticket}'s report");
}

fn tool(name: &str, args: &[&str], file: &Path) -> String {
    let output = Command::new(name)
        .args(args)
        .arg(file)
        .args(if name == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{name} did not run ({e}): install Debian's poppler-utils (scripts/test.sh does)"
            )
        });
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The PDF's text as `pdftotext` extracts it.
pub(super) fn pdf_text(pdf: &[u8]) -> String {
    let dir = TempGuard::new("truckroll-report-text-");
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).expect("write the PDF");
    tool("pdftotext", &["-layout"], &file)
}

/// The PDF's images as `pdfimages -list` lists them: (type, width, height, color).
pub(super) fn pdf_images(pdf: &[u8]) -> Vec<(String, u32, u32, String)> {
    let dir = TempGuard::new("truckroll-report-images-");
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).expect("write the PDF");
    tool("pdfimages", &["-list"], &file)
        .lines()
        .skip(2)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            Some((
                cols.get(2)?.to_string(),
                cols.get(3)?.parse().ok()?,
                cols.get(4)?.parse().ok()?,
                cols.get(5)?.to_string(),
            ))
        })
        .collect()
}
