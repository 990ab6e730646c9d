//! The keyed audit chain: seals (HMAC under `[governance] audit_key`) and
//! anchors in the blob store catch what an unkeyed hash chain cannot — a
//! database administrator rewriting history and recomputing the hashes, or
//! cutting entries off the end — and `truckroll audit verify` says so.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use truckroll_server::{
    cli::{AuditCommand, Cli, Command},
    domain::audit::{AuditEvent, entry_hash},
    governance::audit_key::seal_once,
};
use truckroll_tests::{TestBackend, app::TestApp};

backend_tests!(
    a_rewritten_and_rehashed_history_fails_verification,
    entries_cut_off_the_end_fail_against_the_anchor,
    a_rotated_key_keeps_old_seals_verifiable,
);

const K1: &str = "k1:first-audit-key-0123456789abcdef";
const K2: &str = "k2:second-audit-key-0123456789abcdef";
const WINDOW: Duration = Duration::from_secs(600);

async fn start(backend: TestBackend, key: &str, retired: &[&str]) -> TestApp {
    let key = key.to_owned();
    let retired: Vec<String> = retired.iter().map(|k| (*k).to_owned()).collect();
    TestApp::start_with(backend, move |config| {
        config.governance.audit_key = key;
        config.governance.audit_retired_keys = retired;
        // The test seals when it wants to (`seal_once`).
        config.governance.audit_seal_interval_ms = 3_600_000;
    })
    .await
}

async fn seal(app: &TestApp) -> usize {
    let keyring = app.config.governance.keyring().expect("keyring");
    seal_once(
        app.state.store.as_ref(),
        app.state.blobs.as_ref(),
        &keyring,
        WINDOW,
        Utc::now(),
    )
    .await
    .expect("sealed")
}

async fn some_writes(app: &TestApp, token: &str, names: &[&str]) {
    for name in names {
        app.post("/v1/customers", token, &json!({"name": name}))
            .await
            .expect(StatusCode::CREATED);
    }
}

async fn verify(app: &TestApp, token: &str) -> Value {
    app.get("/v1/audit/verify", token)
        .await
        .expect(StatusCode::OK)
}

/// What `truckroll audit verify --tenant NAME` says, with the app's database,
/// blob directory and audit keys in a configuration file.
async fn cli_verify(app: &TestApp, tenant: &str) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("truckroll-audit-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let governance = &app.config.governance;
    let retired: Vec<String> = governance
        .audit_retired_keys
        .iter()
        .map(|k| format!("{k:?}"))
        .collect();
    let toml = format!(
        "database_url = {:?}\n[media]\nfs_dir = {:?}\n[auth]\ntoken_secret = {:?}\n[governance]\naudit_key = {:?}\naudit_retired_keys = [{}]\n",
        app.config.database_url,
        app.config.media.fs_dir.display().to_string(),
        app.config.auth.token_secret,
        governance.audit_key,
        retired.join(", "),
    );
    let path = dir.join("truckroll.toml");
    std::fs::write(&path, toml).expect("config file");
    let result = truckroll_server::cli::run(Cli {
        config: Some(path),
        command: Command::Audit {
            command: AuditCommand::Verify {
                tenant: tenant.to_owned(),
            },
        },
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Rewrites entry `seq`'s `after` and recomputes every hash from there on,
/// as someone with write access to the database (but not the key) can.
async fn rewrite_and_rehash(app: &TestApp, tenant_id: uuid::Uuid, seq: i64) {
    let entries = app
        .state
        .store
        .list_audit(tenant_id, 0, 1000)
        .await
        .expect("entries");
    let raw = app.db.raw().await;
    let mut prev = entries[usize::try_from(seq - 2).expect("seq > 1")]
        .hash
        .clone();
    for entry in entries.iter().filter(|e| e.seq >= seq) {
        let after = if entry.seq == seq {
            Some(r#"{"name":"Rewritten"}"#.to_owned())
        } else {
            entry.after.clone()
        };
        let event = AuditEvent {
            actor_id: entry.actor_id,
            action: entry.action.clone(),
            entity_type: entry.entity_type.clone(),
            entity_id: entry.entity_id,
            before: entry.before.clone(),
            after: after.clone(),
            payload_salt: entry.payload_salt.clone(),
        };
        let hash = entry_hash(tenant_id, entry.seq, &prev, entry.at, &event);
        let after_sql = after.map_or("NULL".to_owned(), |a| format!("'{a}'"));
        raw.execute(
            &format!(
                "UPDATE audit_log SET after = {after_sql}, prev_hash = '{prev}', hash = '{hash}' \
                 WHERE tenant_id = $1 AND seq = {}",
                entry.seq
            ),
            &[tenant_id],
        )
        .await;
        prev = hash;
    }
    raw.execute(
        &format!("UPDATE tenants SET audit_head = '{prev}' WHERE id = $1"),
        &[tenant_id],
    )
    .await;
    raw.close().await;
}

async fn a_rewritten_and_rehashed_history_fails_verification(backend: TestBackend) {
    let app = start(backend, K1, &[]).await;
    let tenant = app.create_tenant("keyed").await;
    some_writes(&app, &tenant.admin_token, &["Alpha", "Beta", "Gamma"]).await;
    seal(&app).await;
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["seals"]["sealed"], report["entries"], "{report}");
    cli_verify(&app, "keyed").await.expect("the CLI agrees");

    rewrite_and_rehash(&app, tenant.id, 2).await;
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(
        report["chain"]["valid"], true,
        "the unkeyed chain is fooled: {report}"
    );
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["broken_at_seq"], 2, "{report}");
    assert!(cli_verify(&app, "keyed").await.is_err(), "the CLI fails");

    // Stripping the seals as well does not help: a hole in the sealed part.
    let raw = app.db.raw().await;
    raw.execute(
        "UPDATE audit_log SET mac = NULL, key_id = NULL WHERE tenant_id = $1 AND seq >= 2",
        &[tenant.id],
    )
    .await;
    raw.close().await;
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(report["valid"], false, "{report}");
    app.stop().await;
}

async fn entries_cut_off_the_end_fail_against_the_anchor(backend: TestBackend) {
    let app = start(backend, K1, &[]).await;
    let tenant = app.create_tenant("cut").await;
    some_writes(&app, &tenant.admin_token, &["Alpha", "Beta", "Gamma"]).await;
    seal(&app).await;
    let entries = app
        .state
        .store
        .list_audit(tenant.id, 0, 1000)
        .await
        .expect("entries");
    let keep = &entries[entries.len() - 3];
    let raw = app.db.raw().await;
    raw.execute(
        &format!(
            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq > {}",
            keep.seq
        ),
        &[tenant.id],
    )
    .await;
    raw.execute(
        &format!(
            "UPDATE tenants SET audit_seq = {}, audit_head = '{}' WHERE id = $1",
            keep.seq, keep.hash
        ),
        &[tenant.id],
    )
    .await;
    raw.close().await;
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(report["chain"]["valid"], true, "{report}");
    assert_eq!(report["valid"], false, "{report}");
    assert!(
        report["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("anchor"),
        "{report}"
    );
    app.stop().await;
}

async fn a_rotated_key_keeps_old_seals_verifiable(backend: TestBackend) {
    let mut app = start(backend, K1, &[]).await;
    let tenant = app.create_tenant("rotate").await;
    some_writes(&app, &tenant.admin_token, &["Alpha"]).await;
    seal(&app).await;
    app.config.governance.audit_key = K2.into();
    app.config.governance.audit_retired_keys = vec![K1.into()];
    let mut app = app.restart().await;
    some_writes(&app, &tenant.admin_token, &["Beta"]).await;
    assert!(seal(&app).await >= 1);
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(report["valid"], true, "{report}");
    let raw = app.db.raw().await;
    for key in ["k1", "k2"] {
        let count = raw
            .scalar_i64(
                &format!(
                    "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND key_id = '{key}'"
                ),
                &[tenant.id],
            )
            .await;
        assert!(count >= 1, "no entry sealed with {key}");
    }
    raw.close().await;
    // Without the retired key, the old seals cannot be checked.
    app.config.governance.audit_retired_keys = Vec::new();
    let app = app.restart().await;
    let report = verify(&app, &tenant.admin_token).await;
    assert_eq!(report["valid"], false, "{report}");
    assert!(
        report["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("k1"),
        "{report}"
    );
    app.stop().await;
}
