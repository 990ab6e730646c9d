//! The SDK's media outbox against a real server and a real S3-compatible
//! server (a private s3s-fs per test, so a test may stop it), on SQLite and
//! PostgreSQL: a photo and a signature captured offline reach the store and
//! the ticket; the SDK as a real process killed with SIGKILL after queueing,
//! after begin and after the PUT; the store stopped during an upload. Each
//! ends with exactly one object and one reference; so does a retry after
//! the server acted but its answer was lost. Also the server's
//! `device_sync::mark_media_stored` on its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use truckroll_sdk::truckroll_sync::signature::{Point, Strokes};
use truckroll_sdk::truckroll_sync::{MediaState, TicketDoc};
use truckroll_sdk::{Backoff, Client, ClientConfig, SignatureCapture};
use truckroll_server::blob::{object_key, tenant_prefix, thumbnail_key};
use truckroll_server::store::Actor;
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, TestTenant},
    fixtures::{CliPhone, Shop, kill_when, phone_cli, phone_cli_output},
    media::{S3sServer, jpeg, use_s3},
};
use uuid::Uuid;

use super::SDK_PHONE;

backend_tests!(
    photo_and_signature_taken_offline_are_stored_after_reconnecting,
    killed_after_queueing_and_after_the_put_stores_once,
    storage_outage_mid_upload_is_a_clear_error_and_a_retry_stores_once,
    answers_lost_after_the_server_acted_are_retried_without_duplicates,
    the_sync_loop_uploads_when_connectivity_returns,
    mark_media_stored_flips_only_pending_references_with_that_content,
);

// ---------------------------------------------------------------------------
// Fixture

struct World {
    app: TestApp,
    s3: S3sServer,
    tenant: TestTenant,
    email: String,
    ticket: Uuid,
}

async fn world(backend: TestBackend, name: &str) -> World {
    let s3 = S3sServer::start().await;
    let config = s3.config();
    let app = TestApp::start_with(backend, |c| use_s3(c, config)).await;
    let duty = Shop::on_duty(&app, name, 1, ("Pump", "P2")).await;
    World {
        tenant: duty.tenant().clone(),
        email: duty.tech().email.clone(),
        ticket: duty.tickets[0],
        app,
        s3,
    }
}

fn strokes() -> Strokes {
    let p = |x, y| Point { x, y };
    Strokes {
        width: 300,
        height: 100,
        strokes: vec![
            vec![p(10.0, 80.0), p(60.0, 20.0), p(110.0, 80.0)],
            vec![p(150.0, 50.0), p(280.0, 50.0)],
        ],
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn fast_backoff(attempts: u32) -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts,
    }
}

/// The tenant's objects as the S3 server lists them.
async fn objects(w: &World) -> Vec<String> {
    let mut keys = w
        .app
        .state
        .blobs
        .list(&tenant_prefix(w.tenant.id))
        .await
        .expect("list objects");
    keys.sort();
    keys
}

async fn listed(w: &World) -> Vec<Value> {
    w.app
        .get(
            &format!("/v1/tickets/{}/media", w.ticket),
            &w.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK)["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn server_doc(w: &World) -> TicketDoc {
    w.app
        .ticket_doc(w.tenant.id, w.ticket)
        .await
        .expect("server holds the document")
        .doc
}

/// GETs the bytes behind the media's short-lived download URL.
async fn download(w: &World, media_id: &str) -> Vec<u8> {
    let answer = w
        .app
        .get(&format!("/v1/media/{media_id}"), &w.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let url = answer["download"]["url"].as_str().expect("download url");
    let mut request = reqwest::Client::new().get(url);
    if let Some(headers) = answer["download"]["headers"].as_object() {
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    let response = request.send().await.expect("GET reaches the store");
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("body").to_vec()
}

async fn phone(w: &World, dir: &TempGuard) -> Client {
    let client = Client::open(
        &dir.path().join("phone.db"),
        ClientConfig::new(&w.app.base_url),
    )
    .await
    .expect("SDK opens");
    client
        .sign_in(&w.tenant.name, &w.email, PASSWORD)
        .await
        .expect("signs in");
    let report = client.sync_now().await.expect("sync");
    assert!(report.docs_added.contains(&w.ticket.to_string()));
    client
}

// ---------------------------------------------------------------------------
// In process

async fn photo_and_signature_taken_offline_are_stored_after_reconnecting(backend: TestBackend) {
    let w = world(backend, "sdkmedia").await;
    let dir = TempGuard::new("truckroll-media-phone-");
    let client = phone(&w, &dir).await;
    let t = w.ticket.to_string();
    let photo = jpeg(1);

    // Offline: the references are in the ticket at once, as pending.
    client.set_online(false);
    let shot = client
        .attach_photo(&t, photo.clone(), "image/jpeg")
        .await
        .expect("photo queued");
    // The same photo attached twice: one object, one media, two references.
    let again = client
        .attach_photo(&t, photo.clone(), "image/jpeg")
        .await
        .expect("photo queued again");
    let signed = client
        .capture_signature(
            &t,
            SignatureCapture {
                signer_name: "Ada Lovelace".into(),
                strokes: strokes(),
                position: Some((52.5163, 13.3777)),
            },
        )
        .await
        .expect("signature queued");
    assert_eq!(shot.sha256, sha256_hex(&photo));
    assert_eq!(again.sha256, shot.sha256);
    assert_ne!(again.ref_id, shot.ref_id);
    let view = client.ticket(&t).await.expect("view");
    assert_eq!(view.photos.len(), 2);
    assert!(view.photos.iter().all(|p| p.state == MediaState::Pending));
    assert_eq!(view.signatures.len(), 1);
    assert_eq!(view.signatures[0].state, MediaState::Pending);
    assert_eq!(view.signatures[0].sha256, signed.sha256);
    // A wrong content type is refused before anything is queued.
    let refused = client.attach_photo(&t, photo.clone(), "image/png").await;
    assert!(refused.is_err(), "a JPEG declared as PNG was queued");
    let offline = client.upload_media(&fast_backoff(2)).await;
    assert!(
        offline.as_ref().is_err_and(|e| e.is_retryable()),
        "offline upload: {offline:?}"
    );
    assert_eq!(client.media_queue(true).await.expect("queue").len(), 3);
    assert!(listed(&w).await.is_empty(), "nothing reached the server");

    // Reconnected.
    client.set_online(true);
    let report = client
        .upload_media(&fast_backoff(4))
        .await
        .expect("uploads");
    assert_eq!(report.uploaded, 3, "{report:?}");
    assert_eq!(report.remaining, 0, "{report:?}");
    assert_eq!(report.deduplicated, 1, "the second photo needed no PUT");
    let queue = client.media_queue(false).await.expect("queue");
    assert!(queue.iter().all(|r| r.step == "done"), "{queue:?}");

    // The server: one photo and one signature, stored, identical bytes.
    let items = listed(&w).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let photo_row = items
        .iter()
        .find(|m| m["kind"] == "photo")
        .expect("photo listed");
    assert_eq!(photo_row["sha256"], json!(shot.sha256));
    let photo_id = photo_row["id"].as_str().expect("id");
    assert_eq!(download(&w, photo_id).await, photo, "identical bytes");
    let signature_row = items
        .iter()
        .find(|m| m["kind"] == "signature")
        .expect("signature listed");
    assert_eq!(
        signature_row["sha256"],
        json!(signed.sha256),
        "the phone's rendering is the server's"
    );
    let signature = w
        .app
        .get(
            &format!("/v1/tickets/{}/signature", w.ticket),
            &w.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(signature["signer_name"], "Ada Lovelace");
    assert_eq!(signature["lat"], json!(52.5163));
    let verified = w
        .app
        .get(
            &format!("/v1/tickets/{}/signature/verify", w.ticket),
            &w.tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["intact"], true, "{verified}");

    // In the S3 server: the photo, its thumbnail and the signature image.
    let mut expected = vec![
        object_key(w.tenant.id, &shot.sha256),
        thumbnail_key(w.tenant.id, &shot.sha256),
        object_key(w.tenant.id, &signed.sha256),
    ];
    expected.sort();
    assert_eq!(objects(&w).await, expected);

    // Every reference is stored, on the server and back on the phone.
    let doc = server_doc(&w).await;
    assert_eq!(doc.photos().len(), 2);
    assert!(doc.photos().iter().all(|p| p.state == MediaState::Stored));
    assert_eq!(doc.signatures().len(), 1);
    assert_eq!(doc.signatures()[0].state, MediaState::Stored);
    let view = client.ticket(&t).await.expect("view");
    assert!(view.photos.iter().all(|p| p.state == MediaState::Stored));
    assert_eq!(view.signatures[0].state, MediaState::Stored);

    // Nothing left to do; another run changes nothing.
    let report = client.upload_media(&fast_backoff(2)).await.expect("no-op");
    assert_eq!(report.uploaded, 0);
    assert_eq!(listed(&w).await.len(), 2);

    // The same photo once more, after its media is stored: no PUT, no new
    // object or media, and the new reference still turns stored.
    let late = client
        .attach_photo(&t, photo.clone(), "image/jpeg")
        .await
        .expect("queued");
    let report = client
        .upload_media(&fast_backoff(4))
        .await
        .expect("uploads");
    assert_eq!((report.uploaded, report.deduplicated), (1, 1), "{report:?}");
    assert_eq!(listed(&w).await.len(), 2);
    assert_eq!(objects(&w).await, expected);
    let view = client.ticket(&t).await.expect("view");
    let late_ref = view
        .photos
        .iter()
        .find(|p| p.id == late.ref_id)
        .expect("reference");
    assert_eq!(late_ref.state, MediaState::Stored);
    w.app.stop().await;
}

/// The server completed the photo and sealed the signature, but the phone
/// died before recording it: its rows are exactly as they were before the
/// last step (set back here in its database). The retry must not create a
/// second object, media, reference or signature.
async fn answers_lost_after_the_server_acted_are_retried_without_duplicates(backend: TestBackend) {
    let w = world(backend, "sdkmedialost").await;
    let dir = TempGuard::new("truckroll-media-phone-");
    let client = phone(&w, &dir).await;
    let t = w.ticket.to_string();
    let photo = jpeg(5);
    client
        .attach_photo(&t, photo.clone(), "image/jpeg")
        .await
        .expect("photo queued");
    client
        .capture_signature(
            &t,
            SignatureCapture {
                signer_name: "Ada Lovelace".into(),
                strokes: strokes(),
                position: None,
            },
        )
        .await
        .expect("signature queued");
    let report = client
        .upload_media(&fast_backoff(3))
        .await
        .expect("uploads");
    assert_eq!(report.uploaded, 2, "{report:?}");
    let signature_path = format!("/v1/tickets/{}/signature", w.ticket);
    let first = w
        .app
        .get(&signature_path, &w.tenant.admin_token)
        .await
        .expect(StatusCode::OK);

    // The answers "never arrived": photo back to `uploaded`, signature to `queued`.
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&format!(
            "sqlite://{}",
            dir.path().join("phone.db").display()
        ))
        .await
        .expect("phone database");
        sqlx::query(
            "UPDATE media_outbox SET step = CASE kind WHEN 'photo' THEN 'uploaded' ELSE 'queued' END",
        )
        .execute(&mut db)
        .await
        .expect("rows set back");
    }
    let report = client
        .upload_media(&fast_backoff(3))
        .await
        .expect("retries");
    assert_eq!(report.uploaded, 2, "{report:?}");
    let again = w
        .app
        .get(&signature_path, &w.tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        again["id"], first["id"],
        "the retried signature replayed the first one instead of sealing a second"
    );
    assert_eq!(
        listed(&w).await.len(),
        2,
        "one photo and one signature media"
    );
    let sha = sha256_hex(&photo);
    let mut expected = vec![
        object_key(w.tenant.id, &sha),
        thumbnail_key(w.tenant.id, &sha),
        object_key(w.tenant.id, first["image_sha256"].as_str().expect("hash")),
    ];
    expected.sort();
    assert_eq!(objects(&w).await, expected);
    let doc = server_doc(&w).await;
    assert_eq!(doc.photos().len(), 1);
    assert_eq!(doc.signatures().len(), 1);
    assert_eq!(doc.photos()[0].state, MediaState::Stored);
    assert_eq!(doc.signatures()[0].state, MediaState::Stored);
    w.app.stop().await;
}

/// The app's background loop (`run_sync_loop`) does the upload by itself
/// once the device reports connectivity again.
async fn the_sync_loop_uploads_when_connectivity_returns(backend: TestBackend) {
    let w = world(backend, "sdkmedialoop").await;
    let dir = TempGuard::new("truckroll-media-phone-");
    let client = std::sync::Arc::new(phone(&w, &dir).await);
    let t = w.ticket.to_string();
    client.set_online(false);
    // The interval is an hour: the upload below is caused by the wake-up.
    let looping = tokio::spawn(
        client
            .clone()
            .run_sync_loop(fast_backoff(5), Duration::from_secs(3600)),
    );
    let photo = jpeg(6);
    let shot = client
        .attach_photo(&t, photo.clone(), "image/jpeg")
        .await
        .expect("photo queued");
    assert_eq!(client.media_queue(true).await.expect("queue").len(), 1);

    client.set_online(true);
    let mut stored = false;
    for _ in 0..600 {
        let view = client.ticket(&t).await.expect("view");
        if view.photos.iter().all(|p| p.state == MediaState::Stored) {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the loop did not upload the photo");
    looping.abort();
    assert!(client.media_queue(true).await.expect("queue").is_empty());
    let items = listed(&w).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sha256"], json!(shot.sha256));
    w.app.stop().await;
}

// ---------------------------------------------------------------------------
// Process death and storage outage: the SDK as a real process

/// A signed-in command-line phone holding the ticket, and a photo file.
async fn cli_phone(w: &World) -> (TempGuard, PathBuf, PathBuf) {
    let phone = CliPhone::sign_in(SDK_PHONE, &w.app.base_url, &w.tenant.name, &w.email).await;
    let photo = phone.dir.path().join("pump.jpg");
    std::fs::write(&photo, jpeg(9)).expect("photo file");
    (phone.dir, phone.db, photo)
}

fn queue(db: &Path, server: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(&phone_cli(SDK_PHONE, db, server, &["media"]))
        .expect("json")
        .as_array()
        .expect("rows")
        .clone()
}

/// Exactly one object (with its thumbnail), one media, one stored reference.
async fn exactly_one_photo(w: &World, bytes: &[u8]) {
    let sha = sha256_hex(bytes);
    assert_eq!(
        objects(w).await,
        vec![
            object_key(w.tenant.id, &sha),
            thumbnail_key(w.tenant.id, &sha)
        ],
        "one object"
    );
    let items = listed(w).await;
    assert_eq!(items.len(), 1, "one media: {items:?}");
    assert_eq!(
        download(w, items[0]["id"].as_str().expect("id")).await,
        bytes
    );
    let doc = server_doc(w).await;
    assert_eq!(doc.photos().len(), 1, "one reference");
    assert_eq!(doc.photos()[0].sha256, sha);
    assert_eq!(doc.photos()[0].state, MediaState::Stored);
}

async fn killed_after_queueing_and_after_the_put_stores_once(backend: TestBackend) {
    let w = world(backend, "sdkmediakill").await;
    let (_dir, db, photo) = cli_phone(&w).await;
    let server = w.app.base_url.clone();
    let t = w.ticket.to_string();
    let rows = tokio::task::spawn_blocking(move || {
        let file = photo.to_str().expect("path");
        // Killed right after the photo was queued.
        kill_when(
            SDK_PHONE,
            &db,
            &server,
            &["photo", &t, file, "--then-stall"],
            |l| l == "queued",
        );
        let rows = queue(&db, &server);
        assert_eq!(rows.len(), 1, "the queued photo survived: {rows:?}");
        assert_eq!(rows[0]["step"], "queued");
        // Killed after the PUT reached the store, before complete.
        kill_when(
            SDK_PHONE,
            &db,
            &server,
            &["upload", "--stall-after", "uploaded"],
            |l| l.ends_with("photo uploaded"),
        );
        let rows = queue(&db, &server);
        assert_eq!(rows[0]["step"], "uploaded", "{rows:?}");
        assert!(rows[0]["media_id"].is_string());
        // Restarted: finishes, and a second run has nothing to do.
        let report: Value = serde_json::from_str(
            phone_cli(SDK_PHONE, &db, &server, &["upload"])
                .lines()
                .skip_while(|l| !l.starts_with('{'))
                .collect::<Vec<_>>()
                .join("\n")
                .as_str(),
        )
        .expect("report");
        assert_eq!(report["uploaded"], 1, "{report}");
        let again = phone_cli(SDK_PHONE, &db, &server, &["upload"]);
        assert!(again.contains("\"uploaded\": 0"), "{again}");
        let shown: Value =
            serde_json::from_str(&phone_cli(SDK_PHONE, &db, &server, &["show", &t])).expect("json");
        assert_eq!(shown["photos"][0]["state"], "stored", "{shown}");
        queue(&db, &server)
    })
    .await
    .expect("cli");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["step"], "done");
    exactly_one_photo(&w, &jpeg(9)).await;
    w.app.stop().await;
}

async fn storage_outage_mid_upload_is_a_clear_error_and_a_retry_stores_once(backend: TestBackend) {
    let mut w = world(backend, "sdkmediaoutage").await;
    let (_dir, db, photo) = cli_phone(&w).await;
    let server = w.app.base_url.clone();
    let t = w.ticket.to_string();
    {
        let (db, server) = (db.clone(), server.clone());
        tokio::task::spawn_blocking(move || {
            let file = photo.to_str().expect("path");
            phone_cli(SDK_PHONE, &db, &server, &["photo", &t, file]);
            // Killed between begin and the PUT: the presigned URL is kept.
            kill_when(
                SDK_PHONE,
                &db,
                &server,
                &["upload", "--stall-after", "begun"],
                |l| l.ends_with("photo begun"),
            );
        })
        .await
        .expect("cli");
    }
    w.s3.stop().await;
    let (db2, server2) = (db.clone(), server.clone());
    let failed = tokio::task::spawn_blocking(move || {
        phone_cli_output(
            SDK_PHONE,
            &db2,
            &server2,
            &["upload", "--attempts", "3", "--initial-backoff-ms", "20"],
        )
    })
    .await
    .expect("cli");
    assert!(!failed.status.success(), "the upload cannot succeed");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("storage: the storage server did not take the upload"),
        "a clear error: {stderr}"
    );
    let (db2, server2) = (db.clone(), server.clone());
    let rows = tokio::task::spawn_blocking(move || queue(&db2, &server2))
        .await
        .expect("cli");
    assert_eq!(rows[0]["step"], "begun", "still waiting: {rows:?}");
    assert_eq!(rows[0]["attempts"], 3);
    assert!(
        rows[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("storage")),
        "{rows:?}"
    );
    assert!(listed(&w).await.is_empty(), "nothing visible yet");

    // The store is back: the same queued row finishes.
    w.s3.resume().await;
    let (db2, server2) = (db.clone(), server.clone());
    let out = tokio::task::spawn_blocking(move || {
        phone_cli(
            SDK_PHONE,
            &db2,
            &server2,
            &["upload", "--initial-backoff-ms", "20"],
        )
    })
    .await
    .expect("cli");
    assert!(out.contains("\"uploaded\": 1"), "{out}");
    exactly_one_photo(&w, &jpeg(9)).await;
    w.app.stop().await;
}

// ---------------------------------------------------------------------------
// The server's half: device_sync::mark_media_stored

async fn mark_media_stored_flips_only_pending_references_with_that_content(backend: TestBackend) {
    let w = world(backend, "sdkmediamark").await;
    let dir = TempGuard::new("truckroll-media-phone-");
    let client = phone(&w, &dir).await;
    let t = w.ticket.to_string();
    let (one, other) = (jpeg(3), jpeg(4));
    let first = client
        .attach_photo(&t, one.clone(), "image/jpeg")
        .await
        .expect("queued");
    let second = client
        .attach_photo(&t, other.clone(), "image/jpeg")
        .await
        .expect("queued");
    let report = client.sync_now().await.expect("sync");
    assert!(report.converged && report.pending_edits == 0, "{report:?}");
    let admin = Actor {
        tenant_id: w.tenant.id,
        user_id: Some(w.tenant.admin_id),
    };

    // Content no reference names, and a ticket without a document: no-ops.
    let heads = server_doc(&w).await.heads();
    truckroll_server::device_sync::mark_media_stored(
        w.app.state.store.as_ref(),
        admin,
        w.ticket,
        &"0".repeat(64),
    )
    .await;
    assert_eq!(server_doc(&w).await.heads(), heads, "nothing changed");
    truckroll_server::device_sync::mark_media_stored(
        w.app.state.store.as_ref(),
        admin,
        Uuid::now_v7(),
        &first.sha256,
    )
    .await;

    truckroll_server::device_sync::mark_media_stored(
        w.app.state.store.as_ref(),
        admin,
        w.ticket,
        &first.sha256,
    )
    .await;
    let doc = server_doc(&w).await;
    let state_of = |sha: &str| {
        doc.photos()
            .into_iter()
            .find(|p| p.sha256 == sha)
            .map(|p| p.state)
    };
    assert_eq!(state_of(&first.sha256), Some(MediaState::Stored));
    assert_eq!(state_of(&second.sha256), Some(MediaState::Pending));
    // Again: already stored, nothing to write.
    let heads = doc.heads();
    truckroll_server::device_sync::mark_media_stored(
        w.app.state.store.as_ref(),
        admin,
        w.ticket,
        &first.sha256,
    )
    .await;
    assert_eq!(server_doc(&w).await.heads(), heads, "idempotent");

    // The phone learns it through sync; its own reference is untouched otherwise.
    client.sync_now().await.expect("sync");
    let view = client.ticket(&t).await.expect("view");
    let local = |id: &str| {
        view.photos
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.state)
            .expect("reference")
    };
    assert_eq!(local(&first.ref_id), MediaState::Stored);
    assert_eq!(local(&second.ref_id), MediaState::Pending);
    w.app.stop().await;
}
