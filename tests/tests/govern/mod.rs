//! Governance and hardening (issue 19): each defect the outside probe found,
//! with the request that showed it. Every scenario runs on SQLite and on
//! PostgreSQL, and answers the same on both.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use truckroll_tests::app::{Reply, TestApp};

mod anchor_webhook;
mod audit;
mod backup;
mod egress;
mod export;
mod idempotency;
mod metrics;
mod openapi;
mod pages;
mod passwords;
mod principals;
mod privacy;
mod proxies;
mod retention;
mod signatures;
mod sync_caps;
mod text;

/// `POST /v1/auth/login` with this body.
async fn login_with(app: &TestApp, body: &Value) -> Reply {
    app.send(Method::POST, "/v1/auth/login", None, Some(body))
        .await
}

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn assert_problem(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert_eq!(
        content_type(reply),
        "application/problem+json",
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.body["status"], json!(status.as_u16()), "{what}");
}

/// Runs a `truckroll` subcommand as the binary does (`cli::run`), with a
/// configuration file holding `config`'s database, blob directory, token
/// secret and audit key.
async fn run_cli(
    config: &truckroll_server::config::Config,
    command: truckroll_server::cli::Command,
) -> anyhow::Result<()> {
    let dir = truckroll_tests::TempGuard::new("truckroll-cli-");
    let mut toml = format!(
        "database_url = {:?}\n[media]\nfs_dir = {:?}\n[auth]\ntoken_secret = {:?}\n[governance]\naudit_key = {:?}\n",
        config.database_url,
        config.media.fs_dir.display().to_string(),
        config.auth.token_secret,
        config.governance.audit_key,
    );
    if config.media.backend == truckroll_server::blob::BlobBackend::S3 {
        let s3 = &config.media.s3;
        toml.push_str(&format!(
            "[media.s3]\nendpoint = {:?}\nregion = {:?}\nbucket = {:?}\npath_style = {}\naccess_key_id = {:?}\nsecret_access_key = {:?}\n",
            s3.endpoint, s3.region, s3.bucket, s3.path_style, s3.access_key_id, s3.secret_access_key,
        ));
        toml = toml.replacen("[media]\n", "[media]\nbackend = \"s3\"\n", 1);
    }
    let path = dir.path().join("truckroll.toml");
    std::fs::write(&path, toml).expect("config file");
    truckroll_server::cli::run(truckroll_server::cli::Cli {
        config: Some(path),
        command,
    })
    .await
}
