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
    ) -> SdkResult<String> {
        let body = json!({"platform": platform, "push_token": null, "actor_id": actor_hex});
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
