//! Runs `tests/js-client/run.mjs` — a sync client on the official
//! `@automerge/automerge` npm package, written from `sync/PROTOCOL.md` alone —
//! against a running test server.
//!
//! Needs `node` (≥ 20) and `tests/js-client/node_modules` (`npm ci` there);
//! `scripts/test.sh` checks for node and runs `npm ci`. A missing part fails
//! the test with what to install, never skips it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::Command;

/// `tests/js-client/` in this checkout.
pub fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js-client")
}

/// A generous cap on one run, so a hung client fails the test instead of
/// hanging the suite (not a performance bound: the run takes about a second).
const RUN_CAP: Duration = Duration::from_secs(120);

/// Runs `node run.mjs` with `env`, echoing its output; panics unless it exits
/// 0. Returns the JSON the script prints after `RESULT `.
pub async fn run(env: &[(&str, String)]) -> serde_json::Value {
    let automerge = client_dir().join("node_modules/@automerge/automerge");
    assert!(
        automerge.exists(),
        "{} not found: run `npm ci` in tests/js-client (scripts/test.sh does)",
        automerge.display()
    );
    let mut command = Command::new("node");
    command
        .arg("run.mjs")
        .current_dir(client_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node (install Node.js ≥ 20): {e}"));
    let output = tokio::time::timeout(RUN_CAP, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("tests/js-client/run.mjs still running after {RUN_CAP:?}"))
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "tests/js-client/run.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad RESULT {line}: {e}"))
}
