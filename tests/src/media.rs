//! Support for the media tests: which blob backend a test runs on, the
//! S3-compatible server `scripts/test.sh` starts (found through
//! `TEST_S3_*`), and a private `s3s-fs` process for fault tests
//! that stop and restart the store.
//!
//! An unset S3 endpoint makes the S3 tests fail with a message saying how
//! to provide one; they are never skipped.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use truckroll_server::{
    blob::{BlobBackend, S3Config},
    config::Config,
};

use crate::TempGuard;

pub const S3_ENDPOINT_VAR: &str = "TEST_S3_ENDPOINT";
pub const S3_BUCKET_VAR: &str = "TEST_S3_BUCKET";
pub const S3_ACCESS_KEY_VAR: &str = "TEST_S3_ACCESS_KEY";
pub const S3_SECRET_KEY_VAR: &str = "TEST_S3_SECRET_KEY";
/// The `s3s-fs` binary for tests that run their own server (default: `s3s-fs` on PATH).
pub const S3S_FS_VAR: &str = "TEST_S3S_FS";

/// The blob backend a media test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    Fs,
    S3,
}

fn required(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{var} is not set: the S3 media tests need a real S3-compatible server. \
                 Run scripts/test.sh (it installs and starts s3s-fs on loopback), or set \
                 {S3_ENDPOINT_VAR}, {S3_BUCKET_VAR}, {S3_ACCESS_KEY_VAR} and {S3_SECRET_KEY_VAR} \
                 for a server and bucket of your own"
            )
        })
}

/// The shared test S3 server from the environment; panics with directions
/// when it is not configured.
pub fn shared_s3() -> S3Config {
    S3Config {
        endpoint: required(S3_ENDPOINT_VAR),
        region: "us-east-1".into(),
        bucket: required(S3_BUCKET_VAR),
        path_style: true,
        access_key_id: required(S3_ACCESS_KEY_VAR),
        secret_access_key: required(S3_SECRET_KEY_VAR),
        session_token: String::new(),
    }
}

/// Points `config` at `blobs` (the shared S3 server for [`Blobs::S3`]).
pub fn use_blobs(config: &mut Config, blobs: Blobs) {
    match blobs {
        Blobs::Fs => config.media.backend = BlobBackend::Fs,
        Blobs::S3 => use_s3(config, shared_s3()),
    }
}

pub fn use_s3(config: &mut Config, s3: S3Config) {
    config.media.backend = BlobBackend::S3;
    config.media.s3 = s3;
}

const S3S_ACCESS_KEY: &str = "truckroll-fault-test";
const S3S_SECRET_KEY: &str = "truckroll-fault-test-secret";
const S3S_BUCKET: &str = "media";

/// A private `s3s-fs` on a loopback port, which a test may stop and start
/// again on the same port and directory.
#[derive(Debug)]
pub struct S3sServer {
    binary: PathBuf,
    address: SocketAddr,
    root: TempGuard,
    child: Option<Child>,
}

impl S3sServer {
    /// Starts `s3s-fs` with one bucket; panics with directions when the
    /// binary is missing.
    pub async fn start() -> Self {
        let binary = std::env::var(S3S_FS_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map_or_else(|| PathBuf::from("s3s-fs"), PathBuf::from);
        let root = TempGuard::new("truckroll-s3s-");
        std::fs::create_dir_all(root.path().join(S3S_BUCKET)).expect("bucket directory");
        let address = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("port")
        };
        let mut server = Self {
            binary,
            address,
            root,
            child: None,
        };
        server.resume().await;
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: self.endpoint(),
            region: "us-east-1".into(),
            bucket: S3S_BUCKET.into(),
            path_style: true,
            access_key_id: S3S_ACCESS_KEY.into(),
            secret_access_key: S3S_SECRET_KEY.into(),
            session_token: String::new(),
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
            "s3s-fs at {} still answers after being killed",
            self.address
        );
    }

    /// Starts the server again on the same port and directory.
    pub async fn resume(&mut self) {
        let child = Command::new(&self.binary)
            .arg("--host")
            .arg(self.address.ip().to_string())
            .arg("--port")
            .arg(self.address.port().to_string())
            .arg("--access-key")
            .arg(S3S_ACCESS_KEY)
            .arg("--secret-key")
            .arg(S3S_SECRET_KEY)
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): install it with `cargo install s3s-fs --version 0.14.1 \
                     --locked --features binary` (scripts/test.sh does) or set {S3S_FS_VAR}",
                    self.binary.display()
                )
            });
        self.child = Some(child);
        // Generous cap, polled: the process needs a moment to bind.
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(self.address).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("s3s-fs did not start listening on {}", self.address);
    }

    /// Files the server holds under `prefix` of its bucket (its own view).
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(S3S_BUCKET)
    }
}

impl Drop for S3sServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A real JPEG photo (120×90), different per `seed`.
pub fn jpeg(seed: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(120, 90, |x, y| {
        image::Rgb([x as u8 ^ seed, y as u8, seed.wrapping_mul(7)])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .expect("encode JPEG");
    bytes
}
