//! The SDK's UniFFI bindings, generated for Kotlin from the built library,
//! compiled with `tests/kotlin/SdkBindingsTest.kt` by a Kotlin 2 compiler
//! and run on the JVM (JNA) against a real server: sign in with a push
//! token, receive the ticket, edit, answer an offer, record pings, write a
//! comment and take a break offline, then one flush and a sync; the
//! server's side is checked here.
//!
//! Needs `TEST_KOTLINC` (a Kotlin 2.x `kotlinc`; Debian's `kotlin`
//! 1.3 cannot compile UniFFI's output — `scripts/test.sh` unpacks the npm
//! package `kotlin-compiler`), a JNA jar (`TEST_JNA_JAR`, default
//! Debian's `libjna-java` at `/usr/share/java/jna.jar`), `java`, and the
//! built `truckroll-sdk-ffi` library and `uniffi-bindgen`; fails with what
//! to do if one is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static BUILT: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();

use reqwest::StatusCode;
use serde_json::json;
use truckroll_tests::{
    TempGuard, TestBackend,
    app::{PASSWORD, TestApp, id_of},
    fixtures::Shop,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    kotlin_bindings_run_a_day_on_the_jvm(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    kotlin_bindings_run_a_day_on_the_jvm(TestBackend::Postgres).await;
}

/// `target/debug` (or whichever profile directory this test runs from).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Generates the Kotlin bindings and compiles them with the test program
/// into `out/sdk-test.jar` (Kotlin runtime included); returns the jar,
/// the JNA jar and the directory holding the library.
fn build_jar(out: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = profile_dir();
    let library = dir.join("libtruckroll_sdk_ffi.so");
    let bindgen = dir.join("uniffi-bindgen");
    assert!(
        library.exists() && bindgen.exists(),
        "{} or {} is missing: run `cargo build -p truckroll-sdk-ffi` (scripts/test.sh does) before this test",
        library.display(),
        bindgen.display()
    );
    let kotlinc = std::env::var_os("TEST_KOTLINC").map(PathBuf::from).expect(
        "TEST_KOTLINC is not set: point it at a Kotlin 2.x kotlinc, e.g. \
         `npm pack kotlin-compiler@2.4.20 && tar xzf kotlin-compiler-2.4.20.tgz` gives package/bin/kotlinc \
         (scripts/test.sh does this)",
    );
    let jna = std::env::var_os("TEST_JNA_JAR")
        .map_or_else(|| PathBuf::from("/usr/share/java/jna.jar"), PathBuf::from);
    assert!(
        jna.exists(),
        "{} is missing: apt-get install libjna-java, or set TEST_JNA_JAR",
        jna.display()
    );
    let generated = Command::new(&bindgen)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["generate", "--no-format", "--library"])
        .arg(&library)
        .args(["--language", "kotlin", "--out-dir"])
        .arg(out.join("gen"))
        .output()
        .expect("uniffi-bindgen runs");
    assert!(
        generated.status.success(),
        "uniffi-bindgen failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let jar = out.join("sdk-test.jar");
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("kotlin/SdkBindingsTest.kt");
    let compiled = Command::new(&kotlinc)
        .args(["-nowarn", "-include-runtime", "-cp"])
        .arg(&jna)
        .arg(out.join("gen/uniffi/truckroll_sdk_ffi/truckroll_sdk_ffi.kt"))
        .arg(&program)
        .arg("-d")
        .arg(&jar)
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", kotlinc.display()));
    assert!(
        compiled.status.success(),
        "kotlinc failed:\n{}\n{}",
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
    (jar, jna, dir)
}

async fn kotlin_bindings_run_a_day_on_the_jvm(backend: TestBackend) {
    let out = TempGuard::new("truckroll-kt-phone-");
    // Compiled once per test process (kotlinc takes a while), into the
    // target dir beside the library.
    let (jar, jna, library_dir) = tokio::task::spawn_blocking(|| {
        BUILT
            .get_or_init(|| {
                let dir = profile_dir().join("kotlin-binding-test");
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).expect("build dir");
                build_jar(&dir)
            })
            .clone()
    })
    .await
    .expect("build");

    let app = TestApp::start(backend).await;
    let shop = Shop::builder(&app, "ktshop").skilled().build().await;
    let tech = shop.tech().clone();
    let admin = shop.tenant.admin_token.clone();
    let ticket = shop.assigned_ticket(&app, tech.id).await;
    app.send(
        reqwest::Method::PUT,
        "/v1/dispatch/policies/hvac",
        Some(&admin),
        Some(&json!({"mode": "offer_best"})),
    )
    .await
    .expect(StatusCode::OK);
    let body = json!({"title": "Kotlin offer", "category": "hvac", "priority": "P3", "site_id": shop.site,
                      "required_skills": [{"skill": "hvac", "level": 2}]});
    let offered = id_of(
        &app.post("/v1/tickets", &admin, &body)
            .await
            .expect(StatusCode::CREATED),
        "id",
    );
    let offers = app
        .get(&format!("/v1/tickets/{offered}/offers"), &admin)
        .await
        .expect(StatusCode::OK);
    let offer = id_of(&offers[0], "id");

    let db = out.path().join("phone.db");
    let (server, tenant, email) = (
        app.base_url.clone(),
        shop.tenant.name.clone(),
        tech.email.clone(),
    );
    let (t, o) = (ticket.to_string(), offer.to_string());
    let run = tokio::task::spawn_blocking(move || {
        let classpath = format!("{}:{}", jar.display(), jna.display());
        Command::new("java")
            .arg(format!("-Djna.library.path={}", library_dir.display()))
            .args(["-cp", &classpath, "SdkBindingsTestKt"])
            .env("TRUCKROLL_SERVER", &server)
            .env("TRUCKROLL_TENANT", &tenant)
            .env("TRUCKROLL_EMAIL", &email)
            .env("TRUCKROLL_PASSWORD", PASSWORD)
            .env("TRUCKROLL_TICKET", &t)
            .env("TRUCKROLL_OFFER", &o)
            .env("TRUCKROLL_DB", &db)
            .output()
            .expect("java runs")
    })
    .await
    .expect("java");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "the Kotlin binding test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!("kotlin bindings: ok {offered}")),
        "{stdout}"
    );

    // The server's side.
    let doc = app
        .ticket_doc(shop.tenant.id, ticket)
        .await
        .expect("document");
    assert_eq!(doc.doc.notes(), "Fixed from Kotlin.\n");
    let row = app
        .get(&format!("/v1/tickets/{offered}"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(row["status"], "accepted");
    assert_eq!(id_of(&row, "assignee_id"), tech.id);
    let technician = app
        .get(&format!("/v1/technicians/{}", tech.id), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(technician["status"], "on_break");
    let comments = app
        .get(&format!("/v1/tickets/{ticket}/comments"), &admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(comments["items"][0]["body"], "Written offline in Kotlin.");
    assert_eq!(comments["items"][0]["visibility"], "public");
    let raw = app.db.raw().await;
    assert_eq!(
        raw.scalar_i64(
            "SELECT COUNT(*) FROM technician_locations WHERE technician_id = $1",
            &[tech.id]
        )
        .await,
        1
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
}
