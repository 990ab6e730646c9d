//! `truckroll export --tenant NAME --out DIR`: every table holding the
//! tenant's data is in the archive with every row of the tenant and no row
//! of another, its media files are there byte for byte, and an export
//! interrupted part-way (a torn last line included) resumes to exactly what
//! an uninterrupted run writes. A large object (30 MiB) is streamed into
//! the archive byte for byte from either blob store.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde_json::Value;
use truckroll_server::{
    blob::{object_key, sha256_hex},
    cli::Command,
    config::Config,
};
use truckroll_tests::{
    RawDb, TempGuard, TestBackend,
    app::{TestApp, TestTenant},
    fixtures::Shop,
    media::{Blobs, use_blobs},
};

use super::run_cli;

backend_tests!(an_interrupted_export_resumes_to_the_tenants_whole_data);
backend_tests!(blobs: a_large_object_is_exported_byte_for_byte);

/// Tables with a `tenant_id` column, read from the database's catalogue.
async fn tenant_tables(raw: &RawDb, backend: TestBackend) -> Vec<String> {
    let sql = match backend {
        TestBackend::Sqlite => {
            "SELECT group_concat(m.name, ',') FROM sqlite_master m \
             WHERE m.type = 'table' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'tenant_id')"
        }
        TestBackend::Postgres => {
            "SELECT string_agg(c.table_name::text, ',') FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'"
        }
    };
    let names = raw.scalar_text(sql, &[]).await.expect("tables");
    let mut names: Vec<String> = names.split(',').map(str::to_owned).collect();
    names.sort();
    names
}

/// A tenant with technicians, a site, tickets (assigned: documents, offers,
/// history), customers and media objects.
async fn populate(app: &TestApp, name: &str) -> TestTenant {
    let shop = Shop::builder(app, name).technicians(2).build().await;
    for _ in 0..3 {
        shop.assigned_ticket(app, shop.tech().id).await;
    }
    for i in 0..12 {
        app.post(
            "/v1/customers",
            &shop.tenant.admin_token,
            &serde_json::json!({"name": format!("{name} customer {i}")}),
        )
        .await
        .expect(reqwest::StatusCode::CREATED);
    }
    for i in 0..5 {
        let bytes = format!("{name} photo {i}").repeat(100).into_bytes();
        app.state
            .blobs
            .write(
                &object_key(shop.tenant.id, &sha256_hex(&bytes)),
                bytes,
                "image/png",
            )
            .await
            .expect("object");
    }
    shop.tenant
}

/// file → content of every file under `dir`, `progress.json` aside.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                found.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    found
}

async fn export(
    config: &Config,
    tenant: &str,
    out: &Path,
    stop: Option<u64>,
) -> anyhow::Result<()> {
    run_cli(
        config,
        Command::Export {
            tenant: tenant.to_owned(),
            out: out.to_owned(),
            checkpoint_rows: 7,
            stop_after_rows: stop,
        },
    )
    .await
}

async fn an_interrupted_export_resumes_to_the_tenants_whole_data(backend: TestBackend) {
    let blob_dir = TempGuard::new("truckroll-export-blobs-");
    let blobs = blob_dir.path().to_owned();
    let app = TestApp::start_with(backend, move |config| {
        config.media.fs_dir = blobs;
        config.sla.timers_enabled = false;
    })
    .await;
    let acme = populate(&app, "acme").await;
    let other = populate(&app, "other").await;
    // The SLA outcomes maintainer would otherwise compute the new tickets'
    // outcomes between the exports compared below.
    truckroll_server::sla::outcomes::drain(app.state.store.as_ref())
        .await
        .expect("outcomes computed");
    let archives = TempGuard::new("truckroll-exports-");

    // Interrupted twice part-way, the last line torn, then resumed.
    let resumed = archives.path().join("resumed");
    for stop in [25, 20] {
        let stopped = export(&app.config, "acme", &resumed, Some(stop)).await;
        assert!(stopped.is_err(), "stops after {stop} rows");
    }
    assert!(resumed.join("progress.json").exists());
    assert!(!resumed.join("manifest.json").exists());
    let progress: Value =
        serde_json::from_slice(&std::fs::read(resumed.join("progress.json")).expect("progress"))
            .expect("json");
    let done: BTreeSet<String> = progress["done"]
        .as_array()
        .expect("done")
        .iter()
        .map(|t| format!("{}.jsonl", t["name"].as_str().expect("name")))
        .collect();
    let started: Vec<String> = std::fs::read_dir(resumed.join("tables"))
        .expect("tables")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !done.contains(name))
        .collect();
    assert_eq!(started.len(), 1, "one table in progress: {started:?}");
    let torn = resumed.join("tables").join(&started[0]);
    let mut text = std::fs::read(&torn).expect("table file");
    text.extend_from_slice(br#"{"id":"torn"#);
    std::fs::write(&torn, text).expect("tear");
    export(&app.config, "acme", &resumed, None)
        .await
        .expect("resumed export");
    assert!(!resumed.join("progress.json").exists());
    // A finished archive is not written over.
    assert!(export(&app.config, "acme", &resumed, None).await.is_err());

    let whole = archives.path().join("whole");
    export(&app.config, "acme", &whole, None)
        .await
        .expect("export");
    let (resumed_files, whole_files) = (files(&resumed), files(&whole));
    let names = |files: &BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(names(&resumed_files), names(&whole_files));
    for (name, content) in &whole_files {
        if name != "manifest.json" {
            assert!(
                resumed_files.get(name) == Some(content),
                "{name} differs between the resumed and the whole export"
            );
        }
    }

    // Every table with tenant data is there with every row of the tenant,
    // and nothing of the other tenant is anywhere.
    let manifest: Value = serde_json::from_slice(&whole_files["manifest.json"]).expect("manifest");
    assert_eq!(manifest["tenant"]["id"], acme.id.to_string());
    let raw = app.db.raw().await;
    let exported: BTreeMap<String, u64> = manifest["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["rows"].as_u64().expect("rows"),
            )
        })
        .collect();
    let tables = tenant_tables(&raw, backend).await;
    assert!(tables.len() > 50, "{tables:?}");
    let mut non_empty = 0;
    for table in &tables {
        let rows = exported
            .get(table)
            .unwrap_or_else(|| panic!("table {table} is missing from the export"));
        let expected = raw
            .scalar_i64(
                &format!("SELECT COUNT(*) FROM \"{table}\" WHERE tenant_id = $1"),
                &[acme.id],
            )
            .await;
        assert_eq!(*rows, u64::try_from(expected).expect("count"), "{table}");
        let lines = String::from_utf8(whole_files[&format!("tables/{table}.jsonl")].clone())
            .expect("utf-8");
        assert_eq!(lines.lines().count() as u64, *rows, "{table}");
        for line in lines.lines() {
            let row: Value = serde_json::from_str(line).expect("one JSON object per line");
            assert_eq!(row["tenant_id"], acme.id.to_string(), "{table}: {line}");
        }
        non_empty += usize::from(*rows > 0);
    }
    assert!(non_empty >= 10, "only {non_empty} tables hold rows");
    for ticket_table in ["ticket_documents", "tickets", "audit_log", "technicians"] {
        assert!(exported[ticket_table] > 0, "{ticket_table} is empty");
    }
    let tenants = String::from_utf8(whole_files["tables/tenants.jsonl"].clone()).expect("utf-8");
    assert_eq!(tenants.lines().count(), 1);
    let other_id = other.id.to_string();
    for (name, content) in &whole_files {
        let text = String::from_utf8_lossy(content);
        assert!(
            !text.contains(&other_id) && !text.contains("other customer"),
            "{name} holds data of the other tenant"
        );
    }
    raw.close().await;

    // Media: exactly the tenant's objects, byte for byte.
    let prefix = truckroll_server::blob::tenant_prefix(acme.id);
    let keys = app.state.blobs.list(&prefix).await.expect("objects");
    assert_eq!(
        keys.len() as u64,
        manifest["media"].as_u64().expect("media")
    );
    assert!(keys.len() >= 5);
    for key in keys {
        let relative = key.strip_prefix(&prefix).expect("prefix");
        assert_eq!(
            whole_files.get(&format!("media/{relative}")),
            Some(&app.state.blobs.read(&key).await.expect("object")),
            "{key}"
        );
    }
    let media_files = whole_files
        .keys()
        .filter(|k| k.starts_with("media/"))
        .count();
    assert_eq!(
        media_files as u64,
        manifest["media"].as_u64().expect("media")
    );
}

/// 30 MiB that never repeat (xorshift), so a shifted, truncated or
/// re-ordered copy cannot hash the same.
fn large_object() -> Vec<u8> {
    let mut bytes = vec![0_u8; 30 * 1024 * 1024];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    bytes
}

async fn a_large_object_is_exported_byte_for_byte(backend: TestBackend, blobs: Blobs) {
    let app = TestApp::start_with(backend, |config| {
        use_blobs(config, blobs);
        config.sla.timers_enabled = false;
    })
    .await;
    let shop = Shop::builder(&app, "large-export").build().await;
    let bytes = large_object();
    let sha256 = sha256_hex(&bytes);
    let key = object_key(shop.tenant.id, &sha256);
    app.state
        .blobs
        .write(&key, bytes, "application/octet-stream")
        .await
        .expect("object");
    let prefix = truckroll_server::blob::tenant_prefix(shop.tenant.id);
    let listed = app.state.blobs.list(&prefix).await.expect("list");
    assert_eq!(
        listed,
        std::slice::from_ref(&key),
        "the store lists the object"
    );
    let archives = TempGuard::new("truckroll-export-large-");
    let out = archives.path().join("archive");
    export(&app.config, &shop.tenant.name, &out, None)
        .await
        .expect("export");
    let relative = key
        .strip_prefix(&truckroll_server::blob::tenant_prefix(shop.tenant.id))
        .expect("prefix");
    let copy = std::fs::read(out.join("media").join(relative)).expect("the object's file");
    assert_eq!(copy.len(), 30 * 1024 * 1024);
    assert_eq!(sha256_hex(&copy), sha256, "the copy differs");
    let list = std::fs::read_to_string(out.join("media.sha256")).expect("media list");
    assert!(
        list.lines()
            .any(|line| line == format!("{sha256}  {relative}")),
        "{list}"
    );
    app.stop().await;
}
