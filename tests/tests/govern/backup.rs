//! `truckroll backup` / `truckroll restore` of the embedded default
//! (SQLite and the blob directory) while the server is busy writing: the
//! restored copy starts, holds every write acknowledged before the backup
//! began, passes SQLite's integrity check and the audit verification (its
//! anchors agree with its chain); a backup of the quiet database restores
//! to an identical copy, table by table and object by object.

use std::{
    collections::BTreeMap,
    path::Path,
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Row, sqlite::SqliteConnectOptions};
use truckroll_server::{
    blob::{object_key, sha256_hex},
    cli::Command,
    config::Config,
};
use truckroll_tests::{
    TempGuard, TestBackend, TestDb,
    app::{TestApp, id_of},
};
use uuid::Uuid;

use super::run_cli;

/// (customer id, object key, object bytes) of each acknowledged write.
type Acknowledged = Arc<Mutex<Vec<(Uuid, String, Vec<u8>)>>>;

const AUDIT_KEY: &str = "k1:backup-test-audit-key-0123456789abcdef";

fn configure(blob_dir: &Path) -> impl FnOnce(&mut Config) + use<> {
    let blob_dir = blob_dir.to_owned();
    move |config| {
        config.media.fs_dir = blob_dir;
        config.governance.audit_key = AUDIT_KEY.into();
        // The sealer runs (and moves anchors) while the backup is taken.
        config.governance.audit_seal_interval_ms = 50;
        config.sla.timers_enabled = false;
    }
}

/// `config` pointed at a database and blob directory inside `dir`.
fn config_in(config: &Config, dir: &Path) -> Config {
    let mut restored = config.clone();
    restored.database_url = format!("sqlite://{}", dir.join("truckroll.db").display());
    restored.media.fs_dir = dir.join("blobs");
    restored
}

/// Every row of every table (virtual tables' own rows included), as text.
async fn tables(database_url: &str) -> BTreeMap<String, Vec<String>> {
    let options = SqliteConnectOptions::from_str(database_url)
        .expect("url")
        .create_if_missing(false);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("open copy");
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut all = BTreeMap::new();
    for name in names {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&pool)
                .await
                .expect("columns");
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {row} AS r FROM \"{name}\""
        )))
        .fetch_all(&pool)
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get::<String, _>("r"))
        .collect();
        rows.sort();
        all.insert(name, rows);
    }
    pool.close().await;
    all
}

/// Every file under `dir` but the blob store's temporary directory: key → SHA-256.
fn objects(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let key = path
                .strip_prefix(dir)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            if key.starts_with(".tmp") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(key, sha256_hex(&std::fs::read(&path).expect("read")));
            }
        }
    }
    found
}

fn photo(tag: &str) -> Vec<u8> {
    format!("photo bytes of {tag}").repeat(200).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_is_backed_up_and_restored_with_every_acknowledged_write() {
    let blob_dir = TempGuard::new("truckroll-backup-blobs-");
    let app = TestApp::start_with(TestBackend::Sqlite, configure(blob_dir.path())).await;
    let tenant = app.create_tenant("acme").await;
    for i in 0..40 {
        app.post(
            "/v1/customers",
            &tenant.admin_token,
            &json!({"name": format!("Seeded {i}")}),
        )
        .await
        .expect(StatusCode::CREATED);
        let bytes = photo(&format!("seed {i}"));
        app.state
            .blobs
            .write(
                &object_key(tenant.id, &sha256_hex(&bytes)),
                bytes,
                "image/png",
            )
            .await
            .expect("object written");
    }

    // Writers keep creating customers and objects during the backup; each
    // write counts once it is acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Acknowledged = Arc::default();
    let writer = {
        let (stop, acknowledged, tenant_id) = (stop.clone(), acknowledged.clone(), tenant.id);
        let (client, base, token, blobs) = (
            app.client.clone(),
            app.base_url.clone(),
            tenant.admin_token.clone(),
            app.state.blobs.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let bytes = photo(&format!("busy {i}"));
                let key = object_key(tenant_id, &sha256_hex(&bytes));
                blobs
                    .write(&key, bytes.clone(), "image/png")
                    .await
                    .expect("object written");
                let created: serde_json::Value = client
                    .post(format!("{base}/v1/customers"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("Busy {i}")}))
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                acknowledged
                    .lock()
                    .expect("lock")
                    .push((id_of(&created, "id"), key, bytes));
            }
        })
    };
    while acknowledged.lock().expect("lock").len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let backups = TempGuard::new("truckroll-backups-");
    let busy_backup = backups.path().join("busy");
    let before = acknowledged.lock().expect("lock").clone();
    run_cli(
        &app.config,
        Command::Backup {
            out: busy_backup.clone(),
        },
    )
    .await
    .expect("backup while writing");
    let during = acknowledged.lock().expect("lock").len() - before.len();
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    eprintln!(
        "{} writes acknowledged before the backup, {during} while it ran",
        before.len()
    );

    // A second backup into the same directory is refused.
    assert!(
        run_cli(
            &app.config,
            Command::Backup {
                out: busy_backup.clone()
            }
        )
        .await
        .is_err()
    );

    // Restore into a fresh directory and serve from it.
    let restored_dir = TempGuard::new("truckroll-restored-");
    let restored_config = config_in(&app.config, restored_dir.path());
    run_cli(
        &restored_config,
        Command::Restore {
            from: busy_backup.clone(),
        },
    )
    .await
    .expect("restore");
    // Restoring over it again is refused: nothing is overwritten.
    assert!(
        run_cli(
            &restored_config,
            Command::Restore {
                from: busy_backup.clone()
            }
        )
        .await
        .is_err()
    );
    let restored_blobs = restored_config.media.fs_dir.clone();
    let restored = TestApp::start_on(TestDb::existing_sqlite(restored_dir).await, move |c| {
        configure(&restored_blobs)(c);
    })
    .await;
    let raw = restored.db.raw().await;
    assert_eq!(
        raw.scalar_text("PRAGMA integrity_check", &[])
            .await
            .as_deref(),
        Some("ok")
    );
    raw.close().await;
    let token = restored.login("acme", "admin@acme.test").await;
    for (customer, key, bytes) in &before {
        restored
            .get(&format!("/v1/customers/{customer}"), &token)
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            &restored
                .state
                .blobs
                .read(key)
                .await
                .expect("object restored"),
            bytes,
            "{key}"
        );
    }
    let verified = restored
        .get("/v1/audit/verify", &token)
        .await
        .expect(StatusCode::OK);
    assert_eq!(verified["valid"], json!(true), "{verified}");
    restored.stop().await;

    // Quiet: a backup of the stopped server restores to an identical copy.
    let config = app.config.clone();
    let _quiet_db = app.stop_keeping_db().await;
    let quiet_backup = backups.path().join("quiet");
    run_cli(
        &config,
        Command::Backup {
            out: quiet_backup.clone(),
        },
    )
    .await
    .expect("backup");
    let copy_dir = TempGuard::new("truckroll-restored-");
    let copy_config = config_in(&config, copy_dir.path());
    run_cli(
        &copy_config,
        Command::Restore {
            from: quiet_backup.clone(),
        },
    )
    .await
    .expect("restore");
    let (original, copy) = (
        tables(&config.database_url).await,
        tables(&copy_config.database_url).await,
    );
    assert!(original.len() > 50, "{} tables", original.len());
    for (table, rows) in &original {
        assert_eq!(copy.get(table), Some(rows), "table {table} differs");
    }
    assert_eq!(original.len(), copy.len());
    let (original, copy) = (
        objects(&config.media.fs_dir),
        objects(&copy_config.media.fs_dir),
    );
    assert!(original.len() >= 60, "{} objects", original.len());
    assert_eq!(original, copy, "the blob directories differ");

    // A damaged backup is refused before anything is written.
    let damaged_dir = TempGuard::new("truckroll-restored-");
    let damaged_config = config_in(&config, damaged_dir.path());
    let (first, _) = original.iter().next().expect("an object");
    std::fs::write(quiet_backup.join("blobs").join(first), b"tampered").expect("tamper");
    assert!(
        run_cli(
            &damaged_config,
            Command::Restore {
                from: quiet_backup.clone()
            }
        )
        .await
        .is_err()
    );
    assert!(!damaged_dir.path().join("truckroll.db").exists());
}
