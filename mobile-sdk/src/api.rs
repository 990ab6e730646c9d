//! The REST calls the SDK makes besides sync: sign-in, token refresh, device
//! registration, and ticket headers.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{SdkError, SdkResult};
use crate::transport::{BaseUrl, http_client, problem};

#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base_url: BaseUrl,
}

impl Api {
    pub fn new(base_url: BaseUrl) -> SdkResult<Self> {
        Ok(Self {
            http: http_client()?,
            base_url,
        })
    }

    /// The HTTP client, for the day's calls (`crate::day`).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        expect: reqwest::StatusCode,
    ) -> SdkResult<Value> {
        let response = request
            .send()
            .await
            .map_err(|e| SdkError::Transport(e.to_string()))?;
        if response.status() != expect {
            return Err(problem(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| SdkError::Transport(format!("bad answer: {e}")))
    }

    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> SdkResult<Tokens> {
        let body = json!({"tenant": tenant, "email": email, "password": password});
        let value = self
            .send(
                self.http
                    .post(self.base_url.join("/v1/auth/login"))
                    .json(&body),
                reqwest::StatusCode::OK,
            )
            .await?;
        serde_json::from_value(value).map_err(|e| SdkError::Transport(format!("bad tokens: {e}")))
    }

    pub async fn refresh(&self, refresh_token: &str) -> SdkResult<Tokens> {
        let body = json!({"refresh_token": refresh_token});
        let value = self
            .send(
                self.http
                    .post(self.base_url.join("/v1/auth/refresh"))
                    .json(&body),
                reqwest::StatusCode::OK,
            )
            .await?;
        serde_json::from_value(value).map_err(|e| SdkError::Transport(format!("bad tokens: {e}")))
    }

    /// Registers this installation; returns the device id.
    pub async fn register_device(
        &self,
        access_token: &str,
        platform: &str,
        actor_hex: &str,
        push_token: Option<&str>,
    ) -> SdkResult<String> {
        let body = json!({"platform": platform, "push_token": push_token, "actor_id": actor_hex});
        let value = self
            .send(
                self.http
                    .post(self.base_url.join("/v1/devices"))
                    .bearer_auth(access_token)
                    .json(&body),
                reqwest::StatusCode::CREATED,
            )
            .await?;
        value["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SdkError::Transport("device registration without id".into()))
    }

    /// The ticket's header as the server has it (`GET /v1/tickets/{id}`).
    pub async fn ticket(&self, access_token: &str, ticket_id: &str) -> SdkResult<Value> {
        self.send(
            self.http
                .get(self.base_url.join(&format!("/v1/tickets/{ticket_id}")))
                .bearer_auth(access_token),
            reqwest::StatusCode::OK,
        )
        .await
    }
}

/// The answer to `POST /v1/tickets/{id}/media`.
#[derive(Debug, Clone, Deserialize)]
pub struct Begun {
    pub media: MediaRow,
    pub already_stored: bool,
    /// The presigned PUT (absent when the store already has the bytes).
    pub upload: Option<Value>,
}

/// The parts of the server's media record the SDK reads.
#[derive(Debug, Clone, Deserialize)]
pub struct MediaRow {
    pub id: String,
    pub state: String,
    pub sha256: String,
}

impl Api {
    /// `POST /v1/tickets/{id}/media`: declares an upload.
    pub async fn begin_media(
        &self,
        access_token: &str,
        ticket_id: &str,
        body: &Value,
    ) -> SdkResult<Begun> {
        let value = self
            .send(
                self.http
                    .post(
                        self.base_url
                            .join(&format!("/v1/tickets/{ticket_id}/media")),
                    )
                    .bearer_auth(access_token)
                    .json(body),
                reqwest::StatusCode::CREATED,
            )
            .await?;
        serde_json::from_value(value)
            .map_err(|e| SdkError::Transport(format!("bad begin answer: {e}")))
    }

    /// `POST /v1/media/{id}/complete`: asks the server to check the upload.
    pub async fn complete_media(&self, access_token: &str, media_id: &str) -> SdkResult<MediaRow> {
        let value = self
            .send(
                self.http
                    .post(
                        self.base_url
                            .join(&format!("/v1/media/{media_id}/complete")),
                    )
                    .bearer_auth(access_token),
                reqwest::StatusCode::OK,
            )
            .await?;
        serde_json::from_value(value)
            .map_err(|e| SdkError::Transport(format!("bad complete answer: {e}")))
    }

    /// `POST /v1/tickets/{id}/signature` with an `Idempotency-Key`, so a
    /// retry after a lost answer gets the first signature back.
    pub async fn capture_signature(
        &self,
        access_token: &str,
        ticket_id: &str,
        idempotency_key: &str,
        body: &str,
    ) -> SdkResult<Value> {
        self.send(
            self.http
                .post(
                    self.base_url
                        .join(&format!("/v1/tickets/{ticket_id}/signature")),
                )
                .bearer_auth(access_token)
                .header("idempotency-key", idempotency_key)
                .header("content-type", "application/json")
                .body(body.to_owned()),
            reqwest::StatusCode::CREATED,
        )
        .await
    }

    /// Sends `bytes` with a presigned request (`method`, `url`, `headers`
    /// exactly as the server gave them) straight to the storage server.
    pub async fn put_presigned(&self, upload: &Value, bytes: Vec<u8>) -> SdkResult<()> {
        let url = upload["url"]
            .as_str()
            .ok_or_else(|| SdkError::Transport("upload without url".into()))?;
        let method = upload["method"].as_str().unwrap_or("PUT");
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SdkError::Transport(format!("upload method: {e}")))?;
        let mut request = self.http.request(method, url).body(bytes);
        if let Some(headers) = upload["headers"].as_object() {
            // Content-Length comes from the body itself.
            for (name, value) in headers {
                if name.eq_ignore_ascii_case("content-length") {
                    continue;
                }
                if let Some(value) = value.as_str() {
                    request = request.header(name.as_str(), value);
                }
            }
        }
        let response = request.send().await.map_err(|e| {
            SdkError::Storage(format!("the storage server did not take the upload: {e}"))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        Err(SdkError::StorageRefused {
            status: status.as_u16(),
            detail: body,
        })
    }
}

impl Api {
    /// The bytes of stored media: `GET /v1/media/{id}`, then its short-lived
    /// download URL, with exactly the headers the server signed.
    pub async fn media_bytes(&self, access_token: &str, media_id: &str) -> SdkResult<Vec<u8>> {
        self.download_bytes(access_token, &format!("/v1/media/{media_id}"))
            .await
    }

    /// The bytes of a knowledge-base article's attachment (issue 22).
    pub async fn article_attachment_bytes(
        &self,
        access_token: &str,
        article_id: &str,
        attachment_id: &str,
    ) -> SdkResult<Vec<u8>> {
        self.download_bytes(
            access_token,
            &format!("/v1/knowledge/articles/{article_id}/attachments/{attachment_id}"),
        )
        .await
    }

    /// Reads `path` (an answer with a signed `download`) and fetches its bytes.
    async fn download_bytes(&self, access_token: &str, path: &str) -> SdkResult<Vec<u8>> {
        let answer = self
            .send(
                self.http
                    .get(self.base_url.join(path))
                    .bearer_auth(access_token),
                reqwest::StatusCode::OK,
            )
            .await?;
        let download = &answer["download"];
        let url = download["url"]
            .as_str()
            .ok_or_else(|| SdkError::Transport(format!("{path} is not stored")))?;
        let method = download["method"].as_str().unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SdkError::Transport(format!("download method: {e}")))?;
        let mut request = self.http.request(method, url);
        if let Some(headers) = download["headers"].as_object() {
            for (name, value) in headers {
                if let Some(value) = value.as_str() {
                    request = request.header(name.as_str(), value);
                }
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| SdkError::Storage(format!("download: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SdkError::StorageRefused {
                status: status.as_u16(),
                detail: response.text().await.unwrap_or_default(),
            });
        }
        Ok(response
            .bytes()
            .await
            .map_err(|e| SdkError::Storage(format!("download: {e}")))?
            .to_vec())
    }
}
