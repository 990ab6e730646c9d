//! The `[media]` configuration section: where blobs live and the limits on
//! uploads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A directory on disk; the server signs and serves the upload URLs.
    Fs,
    /// An S3-compatible object store; phones upload to it directly.
    S3,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    pub backend: BlobBackend,
    /// `fs` backend directory; empty means `{data_dir}/blobs`.
    pub fs_dir: PathBuf,
    /// HMAC key for the `fs` backend's URLs. Empty: derived from
    /// `auth.token_secret` (or random per start when that is empty too).
    pub url_secret: String,
    /// Origin put in front of the `fs` backend's URLs (`https://api.example.com`);
    /// empty means the `Host` of the request that asked for the URL.
    pub public_url: String,
    /// Largest accepted object, in bytes.
    pub max_bytes: u64,
    /// Most media (pending or stored) on one ticket.
    pub max_per_ticket: u32,
    /// Lifetime of upload and download URLs.
    pub url_expiry_secs: u64,
    /// Uploads begun but never completed are swept after this age.
    pub orphan_age_secs: u64,
    /// How often the orphan sweep runs.
    pub sweep_interval_secs: u64,
    /// Longest edge of photo thumbnails, in pixels.
    pub thumbnail_px: u32,
    pub s3: S3Config,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host:port` of an S3-compatible store; empty means AWS S3
    /// for `region`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key` (Garage,
    /// MinIO and most self-hosted stores want this).
    pub path_style: bool,
    /// Empty: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` from the environment.
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            backend: BlobBackend::Fs,
            fs_dir: PathBuf::new(),
            url_secret: String::new(),
            public_url: String::new(),
            max_bytes: 25 * 1024 * 1024,
            max_per_ticket: 100,
            url_expiry_secs: 900,
            orphan_age_secs: 24 * 3600,
            sweep_interval_secs: 3600,
            thumbnail_px: 320,
            s3: S3Config {
                region: "us-east-1".into(),
                ..S3Config::default()
            },
        }
    }
}

impl std::fmt::Debug for MediaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConfig")
            .field("backend", &self.backend)
            .field("fs_dir", &self.fs_dir)
            .field("url_secret", &"<redacted>")
            .field("public_url", &self.public_url)
            .field("max_bytes", &self.max_bytes)
            .field("max_per_ticket", &self.max_per_ticket)
            .field("url_expiry_secs", &self.url_expiry_secs)
            .field("orphan_age_secs", &self.orphan_age_secs)
            .field("sweep_interval_secs", &self.sweep_interval_secs)
            .field("thumbnail_px", &self.thumbnail_px)
            .field("s3", &self.s3)
            .finish()
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .finish()
    }
}

impl MediaConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 || self.max_bytes > 5 * 1024 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "media.max_bytes",
                "must be between 1 and 5 GiB",
            ));
        }
        if self.max_per_ticket == 0 {
            return Err(ConfigError::invalid(
                "media.max_per_ticket",
                "must be at least 1",
            ));
        }
        // S3 presigned URLs live at most 7 days.
        if !(1..=7 * 24 * 3600).contains(&self.url_expiry_secs) {
            return Err(ConfigError::invalid(
                "media.url_expiry_secs",
                "must be between 1 and 604800",
            ));
        }
        if self.orphan_age_secs < self.url_expiry_secs {
            return Err(ConfigError::invalid(
                "media.orphan_age_secs",
                "must not be shorter than media.url_expiry_secs (an upload could still arrive)",
            ));
        }
        if self.sweep_interval_secs == 0 {
            return Err(ConfigError::invalid(
                "media.sweep_interval_secs",
                "must be at least 1",
            ));
        }
        if !(16..=4096).contains(&self.thumbnail_px) {
            return Err(ConfigError::invalid(
                "media.thumbnail_px",
                "must be between 16 and 4096",
            ));
        }
        if !self.url_secret.is_empty() && self.url_secret.len() < 32 {
            return Err(ConfigError::invalid(
                "media.url_secret",
                "must be at least 32 characters",
            ));
        }
        if !self.public_url.is_empty() && !is_http_url(&self.public_url) {
            return Err(ConfigError::invalid(
                "media.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.backend == BlobBackend::S3 {
            let s3 = &self.s3;
            if s3.bucket.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "media.s3.bucket",
                    "required with backend = \"s3\"",
                ));
            }
            if s3.region.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "media.s3.region",
                    "required with backend = \"s3\"",
                ));
            }
            if !s3.endpoint.is_empty() && !is_http_url(&s3.endpoint) {
                return Err(ConfigError::invalid(
                    "media.s3.endpoint",
                    "must be an http:// or https:// URL",
                ));
            }
            if s3.access_key_id.is_empty() != s3.secret_access_key.is_empty() {
                return Err(ConfigError::invalid(
                    "media.s3.secret_access_key",
                    "set both access_key_id and secret_access_key, or neither (then the AWS_* environment is used)",
                ));
            }
        }
        Ok(())
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}
