//! A real SMTP server for the notification tests and benchmark: aiosmtpd
//! (PyPI) run by `scripts/smtp_sink.py` on a loopback port, writing every
//! accepted message to a directory as `.eml` plus a decoded `.json`. A test
//! may stop it and start it again on the same port and directory.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde::Deserialize;
use truckroll_server::notify::{SmtpConfig, SmtpTls};

use crate::TempGuard;

/// Path of `smtp_sink.py` (scripts/test.sh exports it).
const SINK_VAR: &str = "TEST_SMTP_SINK";

/// One message the server accepted, as Python's `email` package decoded it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug)]
pub struct SmtpSink {
    script: PathBuf,
    address: SocketAddr,
    dir: TempGuard,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts the sink; panics with directions when aiosmtpd is missing.
    pub async fn start() -> Self {
        let script = std::env::var(SINK_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp_sink.py"),
                PathBuf::from,
            );
        let address = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("port")
        };
        let mut sink = Self {
            script,
            address,
            dir: TempGuard::new("truckroll-smtp-"),
            child: None,
        };
        sink.resume().await;
        sink
    }

    /// `[smtp]` pointing at this server (plain SMTP on loopback).
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: self.address.ip().to_string(),
            port: self.address.port(),
            tls: SmtpTls::None,
            from: "Acme Service <service@acme.test>".into(),
            timeout_ms: 5_000,
            ..SmtpConfig::default()
        }
    }

    /// Kills the server; the port stops answering.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.address).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP sink at {} still answers after being killed",
            self.address
        );
    }

    /// Starts the server again on the same port and directory.
    pub async fn resume(&mut self) {
        let child = Command::new("python3")
            .arg(&self.script)
            .arg("--port")
            .arg(self.address.port().to_string())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run python3 {} ({e}): install aiosmtpd with `python3 -m pip install aiosmtpd` \
                     (scripts/test.sh does) or set {SINK_VAR}",
                    self.script.display()
                )
            });
        self.child = Some(child);
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(self.address).await.is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the SMTP sink exited ({status}); is aiosmtpd installed? `python3 -m pip install aiosmtpd`"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SMTP sink did not start listening on {}", self.address);
    }

    /// Every message accepted so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort_by_key(|p| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let (time, n) = stem.split_once('-').unwrap_or((&stem, "0"));
            (
                time.parse::<u128>().unwrap_or(0),
                n.parse::<u64>().unwrap_or(0),
            )
        });
        names
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("message file");
                serde_json::from_str(&text).expect("message JSON")
            })
            .collect()
    }

    /// Waits (bounded) until at least `count` messages arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        for _ in 0..600 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP sink got {} messages, expected {count}",
            self.received().len()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
