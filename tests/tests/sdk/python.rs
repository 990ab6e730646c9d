//! The SDK's UniFFI bindings, generated for Python from the built library
//! and driven by `tests/python/sdk_bindings_test.py` against a real server:
//! sign in, receive the ticket, edit offline, take a photo and a signature
//! offline, sync and upload, then the server's side (media in a real S3
//! server, s3s-fs, started here) is checked here; then the day's calls
//! (push token, offers answered offline, location pings, a comment, a
//! break, one flush, sign-out), checked on the server too; and the van's
//! stock read online, offline after a part is used, and after the sync. Needs `python3` and the built `truckroll-sdk-ffi`
//! library and `uniffi-bindgen` (`cargo build -p truckroll-sdk-ffi`, which
//! `scripts/test.sh` runs first); fails with what to do if either is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use truckroll_server::blob::{object_key, tenant_prefix};
use truckroll_sync::MediaState;
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, all_week_shifts, id_of},
    fixtures::Shop,
    media::{S3sServer, use_s3},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    python_bindings_sign_in_edit_offline_and_sync(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    python_bindings_sign_in_edit_offline_and_sync(TestBackend::Postgres).await;
}

/// `target/debug` (or whichever profile directory this test runs from).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

fn generate_bindings(out: &Path) {
    let dir = profile_dir();
    let library = dir.join(if cfg!(target_os = "macos") {
        "libtruckroll_sdk_ffi.dylib"
    } else {
        "libtruckroll_sdk_ffi.so"
    });
    let bindgen = dir.join("uniffi-bindgen");
    assert!(
        library.exists() && bindgen.exists(),
        "{} or {} is missing: run `cargo build -p truckroll-sdk-ffi` (scripts/test.sh does) before this test",
        library.display(),
        bindgen.display()
    );
    let python = Command::new("python3").arg("--version").output();
    assert!(
        python.is_ok_and(|o| o.status.success()),
        "python3 is missing: install it (Debian/Ubuntu: apt-get install python3)"
    );
    let generated = Command::new(&bindgen)
        .args(["generate", "--library"])
        .arg(&library)
        .args(["--language", "python", "--out-dir"])
        .arg(out)
        .output()
        .expect("uniffi-bindgen runs");
    assert!(
        generated.status.success(),
        "uniffi-bindgen failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    std::fs::copy(&library, out.join(library.file_name().expect("name"))).expect("copy library");
}

async fn python_bindings_sign_in_edit_offline_and_sync(backend: TestBackend) {
    let out = TempGuard::new("truckroll-py-bindings-");
    generate_bindings(out.path());

    let s3 = S3sServer::start().await;
    let s3_config = s3.config();
    let app = TestApp::start_with(backend, |c| use_s3(c, s3_config)).await;
    let duty = Shop::on_duty(&app, "pyshop", 1, ("Python ticket", "P2")).await;
    let (tenant, ticket) = (duty.tenant(), duty.tickets[0]);
    // The job packet the script reads offline (PROTOCOL.md §4).
    app.patch(
        &format!("/v1/sites/{}", duty.shop.site),
        &tenant.admin_token,
        &serde_json::json!({"access_notes": "Side door, code 1234"}),
    )
    .await
    .expect(StatusCode::OK);

    // Two offers for the technician (made skilled and on shift): the script
    // accepts the first and declines the second offline.
    let tech = duty.tech().clone();
    let admin = tenant.admin_token.clone();
    app.patch(
        &format!("/v1/technicians/{}", tech.id),
        &admin,
        &serde_json::json!({"skills": [{"skill": "hvac", "level": 3}], "shifts": all_week_shifts()}),
    )
    .await
    .expect(StatusCode::OK);
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&serde_json::json!({"mode": "offer_best"})),
    )
    .await
    .expect(StatusCode::OK);
    let mut offered = Vec::new();
    for title in ["Python offer A", "Python offer B"] {
        let body = serde_json::json!({"title": title, "category": "hvac", "priority": "P3",
                                      "site_id": duty.shop.site,
                                      "required_skills": [{"skill": "hvac", "level": 2}]});
        let created = id_of(
            &app.post("/v1/tickets", &admin, &body)
                .await
                .expect(StatusCode::CREATED),
            "id",
        );
        let offers = app
            .get(&format!("/v1/tickets/{created}/offers"), &admin)
            .await
            .expect(StatusCode::OK);
        offered.push((created, id_of(&offers[0], "id")));
    }
    let offer_ids = format!("{},{}", offered[0].1, offered[1].1);
    // The van (issue 23): 5 × PY-1, the part the script uses offline.
    let relay = id_of(
        &app.post(
            "/v1/parts",
            &admin,
            &serde_json::json!({"number": "PY-1", "name": "Python relay", "price_cents": 1200, "cost_cents": 600}),
        )
        .await
        .expect(StatusCode::CREATED),
        "id",
    );
    let van = id_of(
        &app.send(
            reqwest::Method::PUT,
            &format!("/v1/technicians/{}/van", tech.id),
            Some(&admin),
            Some(&serde_json::json!({})),
        )
        .await
        .expect(StatusCode::OK),
        "id",
    );
    app.post(
        "/v1/stock/movements",
        &admin,
        &serde_json::json!({"kind": "receipt", "part_id": relay, "to_location_id": van, "quantity": 5}),
    )
    .await
    .expect(StatusCode::CREATED);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk_bindings_test.py");
    let db = out.path().join("phone.db");
    let photo_path = out.path().join("photo.jpg");
    let photo = {
        let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 77]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Jpeg,
            )
            .expect("encode JPEG");
        bytes
    };
    std::fs::write(&photo_path, &photo).expect("photo file");
    let (server, bindings) = (app.base_url.clone(), out.path().to_path_buf());
    let t = ticket.to_string();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&script)
            .env("TRUCKROLL_BINDINGS", &bindings)
            .env("TRUCKROLL_SERVER", &server)
            .env("TRUCKROLL_TENANT", "pyshop")
            .env("TRUCKROLL_EMAIL", "tech@pyshop.test")
            .env("TRUCKROLL_PASSWORD", PASSWORD)
            .env("TRUCKROLL_TICKET", &t)
            .env("TRUCKROLL_DB", &db)
            .env("TRUCKROLL_PHOTO", &photo_path)
            .env("TRUCKROLL_OFFERS", &offer_ids)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("python");
    assert!(
        run.status.success(),
        "the Python binding test failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("python bindings: ok"));

    let doc = app.ticket_doc(tenant.id, ticket).await.expect("document");
    assert_eq!(doc.doc.notes(), "Fixed from Python.\n");
    assert_eq!(doc.doc.parts()[0].part_number, "PY-1");
    let balances = app
        .get(
            &format!("/v1/stock/balances?location_id={van}&part_id={relay}"),
            &tenant.admin_token,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        balances[0]["quantity"], 3.0,
        "the van drops once: {balances}"
    );
    let row = app
        .get(&format!("/v1/tickets/{ticket}"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["status"], "on_site");

    // The photo and the signature: stored in the S3 server, listed on the
    // ticket, their references stored in the document.
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let hashes: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("python media: "))
        .expect("media line")
        .split(' ')
        .collect();
    let (photo_sha, signature_sha) = (hashes[0], hashes[1]);
    assert_eq!(
        photo_sha,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo))
    );
    let objects = app
        .state
        .blobs
        .list(&tenant_prefix(tenant.id))
        .await
        .expect("list S3 objects");
    assert!(
        objects.contains(&object_key(tenant.id, photo_sha)),
        "{objects:?}"
    );
    assert!(
        objects.contains(&object_key(tenant.id, signature_sha)),
        "{objects:?}"
    );
    let media = app
        .get(&format!("/v1/tickets/{ticket}/media"), &tenant.admin_token)
        .await
        .expect(StatusCode::OK);
    let mut kinds: Vec<&str> = media["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["photo", "signature"]);
    assert_eq!(doc.doc.photos()[0].state, MediaState::Stored);
    assert_eq!(doc.doc.signatures()[0].state, MediaState::Stored);

    // The day's calls, as the server saw them.
    assert!(stdout.contains(&format!("python day: {}", offered[0].0)));
    let accepted = app
        .get(&format!("/v1/tickets/{}", offered[0].0), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(id_of(&accepted, "assignee_id"), tech.id);
    let declined = app
        .get(&format!("/v1/tickets/{}/offers", offered[1].0), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(declined[0]["state"], "declined");
    assert_eq!(declined[0]["reason"], "no ladder for that roof");
    let technician = app
        .get(&format!("/v1/technicians/{}", tech.id), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(technician["status"], "on_break");
    let comments = app
        .get(&format!("/v1/tickets/{ticket}/comments"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(comments["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(id_of(&comments["items"][0], "author_id"), tech.user_id);
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM technician_locations WHERE technician_id = $1",
            &[tech.id]
        )
        .await,
        2
    );
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM devices WHERE user_id = $1 AND push_token IS NOT NULL",
            &[tech.user_id]
        )
        .await,
        0,
        "sign-out cleared the push token"
    );
    raw.close().await;
    app.stop().await;
    drop(s3);
}
