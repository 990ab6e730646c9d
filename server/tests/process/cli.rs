//! The `truckroll` binary end to end: migrate, tenant create, audit verify,
//! configuration errors, and `serve` answering on its port.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("truckroll-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn truckroll(data: &DataDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_truckroll"));
    command
        .args(args)
        .current_dir(&data.0)
        .env_remove("TRUCKROLL_CONFIG")
        .env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run truckroll")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn migrate_create_tenant_and_verify_audit_on_the_embedded_default() {
    let data = DataDir::new();
    let migrated = truckroll(&data, &["migrate"], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(
        data.0.join("data/truckroll.db").exists(),
        "embedded database under ./data"
    );

    let args = [
        "tenant",
        "create",
        "--name",
        "acme",
        "--admin-email",
        "admin@acme.test",
        "--admin-password",
        "change-me-please",
    ];
    let created = truckroll(&data, &args, &[]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("tenant `acme` created"));

    let again = truckroll(&data, &args, &[]);
    assert!(
        !again.status.success(),
        "a second tenant with the same name must fail"
    );
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let verified = truckroll(&data, &["audit", "verify", "--tenant", "acme"], &[]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).contains("\"valid\": true"));
}

#[test]
fn bad_input_is_refused_with_a_message_naming_it() {
    let data = DataDir::new();
    let weak = truckroll(
        &data,
        &[
            "tenant",
            "create",
            "--name",
            "Bad Name",
            "--admin-email",
            "nope",
            "--admin-password",
            "short",
        ],
        &[],
    );
    assert!(!weak.status.success());
    assert!(
        text(&weak.stderr).contains("name"),
        "{}",
        text(&weak.stderr)
    );

    let bad_env = truckroll(&data, &["migrate"], &[("TRUCKROLL_MAX_BODY_BYTES", "lots")]);
    assert!(!bad_env.status.success());
    assert!(
        text(&bad_env.stderr)
            .to_lowercase()
            .contains("max_body_bytes"),
        "{}",
        text(&bad_env.stderr)
    );

    let bad_ttl = truckroll(
        &data,
        &["migrate"],
        &[("TRUCKROLL_AUTH__ACCESS_TOKEN_TTL_SECS", "3600")],
    );
    assert!(!bad_ttl.status.success());
    assert!(
        text(&bad_ttl.stderr).contains("auth.access_token_ttl_secs"),
        "{}",
        text(&bad_ttl.stderr)
    );

    let config = data.0.join("bad.toml");
    std::fs::write(&config, "lissen = \"127.0.0.1:1\"\n").expect("write config");
    let bad_file = truckroll(
        &data,
        &["--config", config.to_str().expect("utf-8 path"), "migrate"],
        &[],
    );
    assert!(!bad_file.status.success());
    assert!(
        text(&bad_file.stderr).contains("lissen"),
        "{}",
        text(&bad_file.stderr)
    );
}

#[test]
fn serve_answers_health_and_prints_first_steps() {
    let data = DataDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_truckroll"))
        .arg("serve")
        .current_dir(&data.0)
        .env_remove("TRUCKROLL_CONFIG")
        .env("TRUCKROLL_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let address = first
        .rsplit("http://")
        .next()
        .expect("address")
        .trim()
        .to_owned();
    let second = lines.next().expect("a line").expect("utf-8");
    assert!(second.contains("Embedded database"), "{second}");
    let hint: Vec<String> = lines.by_ref().take(2).map(|l| l.expect("utf-8")).collect();
    assert!(
        hint.iter().any(|l| l.contains("truckroll tenant create")),
        "{hint:?}"
    );

    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");
    child.kill().expect("stop serve");
    let _ = child.wait();
}
