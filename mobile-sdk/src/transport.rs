//! How the sync engine reaches the server: one exchange of protocol frames
//! (`POST /v1/sync`, PROTOCOL.md 3.4). A trait, so tests can put a lossy
//! network in between and a future transport (WebSocket) can slot in.
//!
//! Compression (PROTOCOL.md 3.4, issue 18): the transport asks for gzip
//! answers (`Accept-Encoding: gzip`) and gzips a request body only once the
//! server has said it takes gzip bodies (an `Accept-Encoding: gzip` response
//! header, RFC 7694) and only when that makes it smaller. A server that never
//! says so gets plain bodies; a client that never asks gets plain answers.
//! Likewise a request's `sync` frames travel in one `sync_batch` frame once
//! the server has said it reads them (PROTOCOL.md 3.4, "Batched sync
//! frames").

use std::fmt;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use truckroll_sync::protocol::{Exchange, MAX_EXCHANGE_BYTES, SYNC_BATCH_HEADER};

use crate::error::{SdkError, SdkResult};

/// Carries one request of frames to the server and returns its answer.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    async fn exchange(&self, access_token: &str, request: &Exchange) -> SdkResult<Exchange>;
}

/// The server's base URL, shared by the API client and the transport so an
/// app (or a test whose server moved) can change it in one place.
#[derive(Debug, Clone)]
pub struct BaseUrl(Arc<RwLock<String>>);

impl BaseUrl {
    pub fn new(url: &str) -> Self {
        Self(Arc::new(RwLock::new(url.trim_end_matches('/').to_owned())))
    }

    pub fn get(&self) -> String {
        match self.0.read() {
            Ok(url) => url.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, url: &str) {
        let url = url.trim_end_matches('/').to_owned();
        match self.0.write() {
            Ok(mut guard) => *guard = url,
            Err(poisoned) => *poisoned.into_inner() = url,
        }
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.get())
    }
}

/// `POST /v1/sync` over HTTP.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
    base_url: BaseUrl,
    compression: bool,
    /// The server said it takes gzip request bodies.
    server_takes_gzip: Arc<AtomicBool>,
    /// The server said it reads `sync_batch` frames.
    server_takes_batch: Arc<AtomicBool>,
    wire: Arc<WireCounters>,
}

/// Bytes on the wire (bodies as sent and received, compressed or not).
#[derive(Debug, Default)]
struct WireCounters {
    sent: AtomicUsize,
    received: AtomicUsize,
}

/// Request bodies smaller than this go plain: gzip's header outweighs the gain.
const COMPRESS_FROM_BYTES: usize = 512;

impl HttpTransport {
    pub fn new(base_url: BaseUrl) -> SdkResult<Self> {
        Ok(Self {
            http: http_client()?,
            base_url,
            compression: true,
            server_takes_gzip: Arc::new(AtomicBool::new(false)),
            server_takes_batch: Arc::new(AtomicBool::new(false)),
            wire: Arc::default(),
        })
    }

    /// A transport that neither asks for nor sends compressed bodies (nor
    /// batched sync frames), as clients from before compression do.
    pub fn uncompressed(base_url: BaseUrl) -> SdkResult<Self> {
        Ok(Self {
            compression: false,
            ..Self::new(base_url)?
        })
    }

    /// Body bytes sent and received so far, as they crossed the wire.
    pub fn wire_bytes(&self) -> (usize, usize) {
        (
            self.wire.sent.load(Ordering::Relaxed),
            self.wire.received.load(Ordering::Relaxed),
        )
    }
}

/// `body` gzipped, if that is smaller.
fn gzipped(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < body.len()).then_some(compressed)
}

/// A gzip body, inflated up to the protocol's largest exchange.
fn gunzipped(body: &[u8]) -> SdkResult<Vec<u8>> {
    let limit = u64::try_from(MAX_EXCHANGE_BYTES).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| SdkError::Transport(format!("bad gzip answer: {e}")))?;
    if out.len() > MAX_EXCHANGE_BYTES {
        return Err(SdkError::Transport("answer over the exchange limit".into()));
    }
    Ok(out)
}

/// Whether a header value lists `gzip` (not refused with `q=0`).
fn lists_gzip(value: Option<&reqwest::header::HeaderValue>) -> bool {
    value.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
    })
}

pub(crate) fn http_client() -> SdkResult<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| SdkError::Transport(e.to_string()))
}

/// Turns a non-success response into an error carrying the problem detail.
pub(crate) async fn problem(response: reqwest::Response) -> SdkError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or(body);
    if status == 401 {
        SdkError::Unauthorized(detail)
    } else {
        SdkError::Api { status, detail }
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn exchange(&self, access_token: &str, request: &Exchange) -> SdkResult<Exchange> {
        let batched = self.compression && self.server_takes_batch.load(Ordering::Relaxed);
        let plain = if batched {
            request.encode_batched()
        } else {
            request.encode()
        }
        .into_bytes();
        let mut builder = self
            .http
            .post(self.base_url.join("/v1/sync"))
            .bearer_auth(access_token)
            .header("content-type", "application/json");
        let body = if self.compression {
            builder = builder.header("accept-encoding", "gzip");
            let compressed = (self.server_takes_gzip.load(Ordering::Relaxed)
                && plain.len() >= COMPRESS_FROM_BYTES)
                .then(|| gzipped(&plain))
                .flatten();
            match compressed {
                Some(compressed) => {
                    builder = builder.header("content-encoding", "gzip");
                    compressed
                }
                None => plain,
            }
        } else {
            plain
        };
        self.wire.sent.fetch_add(body.len(), Ordering::Relaxed);
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        if !response.status().is_success() {
            return Err(problem(response).await);
        }
        let headers = response.headers().clone();
        if self.compression && lists_gzip(headers.get("accept-encoding")) {
            self.server_takes_gzip.store(true, Ordering::Relaxed);
        }
        if self.compression && headers.contains_key(SYNC_BATCH_HEADER) {
            self.server_takes_batch.store(true, Ordering::Relaxed);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        self.wire.received.fetch_add(bytes.len(), Ordering::Relaxed);
        let bytes = if lists_gzip(headers.get("content-encoding")) {
            gunzipped(&bytes)?
        } else {
            bytes.to_vec()
        };
        let body = String::from_utf8(bytes)
            .map_err(|_| SdkError::Transport("bad answer: not UTF-8".into()))?;
        Exchange::decode(&body).map_err(|e| SdkError::Transport(format!("bad answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips_and_is_named_in_headers() {
        let body = "{\"frames\": []}".repeat(100);
        let compressed = gzipped(body.as_bytes()).expect("smaller");
        assert!(compressed.len() < body.len());
        assert_eq!(gunzipped(&compressed).expect("inflates"), body.as_bytes());
        assert!(gzipped(b"{}").is_none(), "a tiny body stays plain");
        let value = |v: &'static str| reqwest::header::HeaderValue::from_static(v);
        assert!(lists_gzip(Some(&value("gzip"))));
        assert!(lists_gzip(Some(&value("br, GZIP;q=0.5"))));
        assert!(!lists_gzip(Some(&value("gzip;q=0"))));
        assert!(!lists_gzip(Some(&value("identity"))));
        assert!(!lists_gzip(None));
    }
}
