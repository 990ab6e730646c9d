//! Runs a script of `tests/browser/` (Playwright driving Debian's headless
//! Chromium) against a running test server, for the pages' end-to-end tests.
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`), `node`, and
//! `tests/browser/node_modules` (`npm ci` there); `scripts/test.sh` installs
//! all three. A missing part fails the test with what to install, never
//! skips it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::Command;

/// `tests/browser/` in this checkout.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where test artifacts (screenshots) go: `<target dir>/artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("artifacts")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Panics with what to install when a part is missing.
pub fn check_prerequisites() {
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "{} not found: install Chromium (apt-get install chromium; scripts/test.sh does) or set CHROMIUM",
        chromium.display()
    );
    let playwright = scripts_dir().join("node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "{} not found: run `npm ci` in tests/browser (scripts/test.sh does)",
        playwright.display()
    );
}

/// A generous cap on one script; Playwright's own waits are 30 s each.
const SCRIPT_CAP: Duration = Duration::from_secs(300);

/// Runs `node tests/browser/<script>` with `env`, echoing its output;
/// panics unless it exits 0.
pub async fn run_script(script: &str, env: &[(&str, String)]) {
    check_prerequisites();
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(scripts_dir())
        .env("CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node (install Node.js ≥ 18): {e}"));
    let output = tokio::time::timeout(SCRIPT_CAP, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} still running after {SCRIPT_CAP:?}"))
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
