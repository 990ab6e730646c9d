//! Object storage for photos, signatures and documents: one [`BlobStore`]
//! trait, two backends (a directory on disk with URLs the server signs,
//! and S3-compatible stores through `aws-sdk-s3`).
//!
//! Objects are addressed by content: `tenants/{tenant}/sha256/{hex}`, so a
//! retried or duplicated upload lands on the same key.

pub mod config;
pub mod fs;
pub mod s3;
pub mod signing;
pub mod sniff;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use config::{BlobBackend, MediaConfig, S3Config};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object not found")]
    NotFound,
    /// The store could not be reached or answered with a server error.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("object store configuration: {0}")]
    Config(String),
    #[error("object store: {0}")]
    Other(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// An object's bytes as they arrive, for copies that must not hold a whole
/// object in memory (the tenant export).
pub type BlobReader = std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// What an upload URL is signed for: the client must send exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutSpec {
    pub content_type: String,
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// A request the client sends as given: method, URL and headers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What the store knows of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    /// Lowercase hex SHA-256 that the store itself checked when the object
    /// was written (`None`: the store does not vouch, read and hash it).
    pub verified_sha256: Option<String>,
}

/// How long a URL lives and from when (an explicit `signed_at` lets tests
/// sign URLs that are already expired instead of waiting).
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub signed_at: SystemTime,
    pub expires_in: Duration,
}

impl Validity {
    pub fn from_now(expires_in: Duration) -> Self {
        Self {
            signed_at: SystemTime::now(),
            expires_in,
        }
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.signed_at + self.expires_in)
    }
}

#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> BlobBackend;
    /// The `fs` backend itself, for the routes that serve its URLs.
    fn as_fs(&self) -> Option<&fs::FsBlobs> {
        None
    }
    /// `None` when there is no object at `key`.
    async fn head(&self, key: &str) -> BlobResult<Option<ObjectHead>>;
    /// The whole object.
    async fn read(&self, key: &str) -> BlobResult<Vec<u8>>;
    /// The whole object as a stream.
    async fn read_stream(&self, key: &str) -> BlobResult<BlobReader>;
    /// The first `len` bytes (fewer if the object is shorter).
    async fn read_prefix(&self, key: &str, len: u64) -> BlobResult<Vec<u8>>;
    /// Writes an object from the server itself (thumbnails, signatures).
    async fn write(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> BlobResult<()>;
    async fn delete(&self, key: &str) -> BlobResult<()>;
    /// Keys under `prefix`.
    async fn list(&self, prefix: &str) -> BlobResult<Vec<String>>;
    /// A PUT the client sends the bytes with. `origin` is the server's own
    /// `scheme://host` (used by the `fs` backend, whose URLs the server serves).
    async fn presign_put(
        &self,
        key: &str,
        spec: &PutSpec,
        origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest>;
    /// A GET for the object's bytes.
    async fn presign_get(
        &self,
        key: &str,
        origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest>;
}

/// The key of the object with this content in this tenant.
pub fn object_key(tenant_id: Uuid, sha256: &str) -> String {
    format!("tenants/{tenant_id}/sha256/{sha256}")
}

/// The thumbnail stored beside an original.
pub fn thumbnail_key(tenant_id: Uuid, sha256: &str) -> String {
    format!("{}.thumb.jpg", object_key(tenant_id, sha256))
}

/// Everything one tenant's objects start with.
pub fn tenant_prefix(tenant_id: Uuid) -> String {
    format!("tenants/{tenant_id}/")
}

/// The content hash a content-addressed key names, if it is one.
pub fn key_sha256(key: &str) -> Option<&str> {
    let (_, last) = key.rsplit_once("/sha256/")?;
    is_sha256_hex(last).then_some(last)
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The `fs` backend's directory: `media.fs_dir`, or `blobs` in `data_dir`.
pub fn fs_directory(config: &MediaConfig, data_dir: &std::path::Path) -> std::path::PathBuf {
    if config.fs_dir.as_os_str().is_empty() {
        data_dir.join("blobs")
    } else {
        config.fs_dir.clone()
    }
}

/// Opens the backend the configuration names. `data_dir` holds the `fs`
/// backend's directory when `media.fs_dir` is empty; `fallback_secret` keys
/// its URLs when `media.url_secret` is empty.
pub fn open(
    config: &MediaConfig,
    data_dir: &std::path::Path,
    fallback_secret: &str,
) -> BlobResult<Arc<dyn BlobStore>> {
    Ok(match config.backend {
        BlobBackend::Fs => {
            let dir = fs_directory(config, data_dir);
            let secret = if config.url_secret.is_empty() {
                signing::derive_secret(fallback_secret)
            } else {
                config.url_secret.as_bytes().to_vec()
            };
            Arc::new(fs::FsBlobs::open(dir, secret)?)
        }
        BlobBackend::S3 => Arc::new(s3::S3Blobs::new(&config.s3)?),
    })
}
