//! How the sync engine reaches the server: one exchange of protocol frames
//! (`POST /v1/sync`, PROTOCOL.md 3.4). A trait, so tests can put a lossy
//! network in between and a future transport (WebSocket) can slot in.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use truckroll_sync::protocol::Exchange;

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
}

impl HttpTransport {
    pub fn new(base_url: BaseUrl) -> SdkResult<Self> {
        Ok(Self {
            http: http_client()?,
            base_url,
        })
    }
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
        let response = self
            .http
            .post(self.base_url.join("/v1/sync"))
            .bearer_auth(access_token)
            .header("content-type", "application/json")
            .body(request.encode())
            .send()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        if !response.status().is_success() {
            return Err(problem(response).await);
        }
        let body = response
            .text()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        Exchange::decode(&body).map_err(|e| SdkError::Transport(format!("bad answer: {e}")))
    }
}
