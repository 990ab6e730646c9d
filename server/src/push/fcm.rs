//! Firebase Cloud Messaging, HTTP v1 API.
//!
//! `POST {base}/v1/projects/{project}/messages:send` with a bearer token got
//! from a service-account key through the OAuth2 JWT bearer grant (RFC 7523):
//! an RS256 JWT (`iss` = the account's email, `scope` = FCM, `aud` = the
//! key's `token_uri`, valid one hour) is exchanged at the token endpoint for
//! an access token, cached until shortly before it expires. (The published
//! `fcm` crate speaks the legacy API Google shut down in 2024.)

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::{sync::Mutex, time::Instant};

use super::{Notifier, PushConfig, PushError, PushMessage, PushOutcome};

/// OAuth2 scope for sending FCM messages.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// `grant_type` of the JWT bearer grant.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's token endpoint, when the key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Life of a grant assertion; Google accepts at most one hour.
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// A cached access token is replaced this long before it expires (or at half
/// its life, when that is shorter).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error body goes into `last_error`.
const ERROR_DETAIL_CHARS: usize = 300;

/// The fields of a Google service-account JSON key that the grant needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    /// PEM (PKCS#8 or PKCS#1) RSA private key.
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.to_owned()
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

impl ServiceAccount {
    pub fn from_json(text: &str) -> Result<Self, PushError> {
        let account: Self = serde_json::from_str(text)
            .map_err(|e| PushError::Config(format!("not a service-account key: {e}")))?;
        if account.client_email.trim().is_empty() {
            return Err(PushError::Config("client_email is empty".into()));
        }
        if account.token_uri.trim().is_empty() {
            return Err(PushError::Config("token_uri is empty".into()));
        }
        Ok(account)
    }

    pub fn load(path: &Path) -> Result<Self, PushError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PushError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| PushError::Config(format!("{}: {e}", path.display())))
    }

    pub fn encoding_key(&self) -> Result<EncodingKey, PushError> {
        EncodingKey::from_rsa_pem(self.private_key.as_bytes())
            .map_err(|e| PushError::Config(format!("private_key is not an RSA PEM key: {e}")))
    }
}

/// Claims of the grant assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// Sends through FCM HTTP v1.
pub struct FcmNotifier {
    client: reqwest::Client,
    send_url: String,
    token_url: String,
    account: ServiceAccount,
    key: EncodingKey,
    /// Held while a token is fetched, so concurrent sends share one request.
    token: Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for FcmNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmNotifier")
            .field("send_url", &self.send_url)
            .field("token_url", &self.token_url)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl FcmNotifier {
    /// `base_url` is the FCM API base (`https://fcm.googleapis.com`);
    /// `token_url_override` replaces the account's `token_uri` as the place
    /// tokens are requested (the JWT audience stays `token_uri`).
    pub fn new(
        project_id: &str,
        base_url: &str,
        token_url_override: Option<&str>,
        account: ServiceAccount,
    ) -> Result<Self, PushError> {
        let key = account.encoding_key()?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("truckroll/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PushError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                base_url.trim_end_matches('/'),
                project_id.trim()
            ),
            token_url: token_url_override.unwrap_or(&account.token_uri).to_owned(),
            account,
            key,
            token: Mutex::new(None),
        })
    }

    pub fn from_config(config: &PushConfig) -> Result<Self, PushError> {
        let project = config
            .fcm_project_id
            .as_deref()
            .ok_or_else(|| PushError::Config("push.fcm_project_id is not set".into()))?;
        let path = config
            .fcm_service_account_file
            .as_deref()
            .ok_or_else(|| PushError::Config("push.fcm_service_account_file is not set".into()))?;
        Self::new(
            project,
            &config.fcm_base_url,
            config.token_url_override.as_deref(),
            ServiceAccount::load(path)?,
        )
    }

    /// The signed grant assertion, issued at `now` (Unix seconds).
    pub fn grant_assertion(&self, now: u64) -> Result<String, PushError> {
        let claims = GrantClaims {
            iss: self.account.client_email.clone(),
            scope: FCM_SCOPE.to_owned(),
            aud: self.account.token_uri.clone(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| PushError::Credentials(format!("cannot sign the grant: {e}")))
    }

    /// A valid access token: the cached one, or a new one from the grant.
    async fn access_token(&self) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let assertion = self.grant_assertion(jsonwebtoken::get_current_timestamp())?;
        let response = self
            .client
            .post(&self.token_url)
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|e| PushError::Credentials(format!("token endpoint unreachable: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| PushError::Credentials(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            return Err(PushError::Credentials(format!(
                "token endpoint answered {status}: {}",
                truncate(&body)
            )));
        }
        let token: TokenResponse = serde_json::from_str(&body)
            .map_err(|e| PushError::Credentials(format!("token endpoint answer: {e}")))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
        let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 2);
        *cached = Some(AccessToken {
            value: token.access_token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        Ok(token.access_token)
    }

    async fn forget_access_token(&self) {
        *self.token.lock().await = None;
    }
}

/// The v1 request body for one message.
pub fn message_body(message: &PushMessage) -> Value {
    json!({
        "message": {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
            "data": message.data,
            "android": {"priority": "high"},
        }
    })
}

/// Classifies FCM's answer: 2xx delivered; 404, or `UNREGISTERED` /
/// `NOT_FOUND` in the error, the token is gone; 429 and 5xx retry (after
/// `Retry-After` seconds when given); any other status is permanent.
pub fn classify(status: StatusCode, retry_after: Option<&str>, body: &str) -> PushOutcome {
    if status.is_success() {
        return PushOutcome::Delivered;
    }
    let error: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &error["error"];
    let mut codes: Vec<&str> = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|detail| detail["errorCode"].as_str())
        .collect();
    if let Some(status) = error["status"].as_str() {
        codes.push(status);
    }
    let message = error["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| truncate(body));
    let reason = if codes.is_empty() {
        format!("FCM {status}: {message}")
    } else {
        format!("FCM {status} {}: {message}", codes.join("/"))
    };
    if status == StatusCode::NOT_FOUND
        || codes
            .iter()
            .any(|c| *c == "UNREGISTERED" || *c == "NOT_FOUND")
    {
        return PushOutcome::TokenUnregistered { reason };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return PushOutcome::Retry {
            after: retry_after.and_then(parse_retry_after),
            reason,
        };
    }
    PushOutcome::Permanent { reason }
}

/// `Retry-After` in delta-seconds (the form FCM sends).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(ERROR_DETAIL_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[async_trait]
impl Notifier for FcmNotifier {
    #[tracing::instrument(skip_all, fields(push = %message.id))]
    async fn send(&self, message: &PushMessage) -> Result<PushOutcome, PushError> {
        let token = self.access_token().await?;
        let response = self
            .client
            .post(&self.send_url)
            .bearer_auth(token)
            .json(&message_body(message))
            .send()
            .await
            .map_err(|e| PushError::Transport(format!("FCM unreachable: {e}")))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| PushError::Transport(format!("FCM answer: {e}")))?;
        if status == StatusCode::UNAUTHORIZED {
            // Our access token was refused (revoked or expired early): get a
            // new one and try again rather than dropping the message.
            self.forget_access_token().await;
            return Ok(PushOutcome::Retry {
                after: None,
                reason: format!("FCM {status}: access token refused"),
            });
        }
        Ok(classify(status, retry_after.as_deref(), &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(StatusCode::OK, None, r#"{"name":"projects/p/messages/1"}"#),
            PushOutcome::Delivered
        );
        let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None, unregistered),
            PushOutcome::TokenUnregistered { reason } if reason.contains("UNREGISTERED")
        ));
        let in_body_only = r#"{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"errorCode":"UNREGISTERED"}]}}"#;
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, in_body_only),
            PushOutcome::TokenUnregistered { .. }
        ));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some("2"), "{}"),
            PushOutcome::Retry {
                after: Some(Duration::from_secs(2)),
                reason: "FCM 429 Too Many Requests: {}".into()
            }
        );
        assert!(matches!(
            classify(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                ""
            ),
            PushOutcome::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, r#"{"error":{"status":"INVALID_ARGUMENT","message":"bad"}}"#),
            PushOutcome::Permanent { reason } if reason.contains("INVALID_ARGUMENT") && reason.contains("bad")
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, None, "nope"),
            PushOutcome::Permanent { .. }
        ));
    }

    #[test]
    fn message_body_is_the_v1_schema() {
        let message = PushMessage {
            id: uuid::Uuid::nil(),
            token: "tok".into(),
            title: "T".into(),
            body: "B".into(),
            data: [("ticket_id".to_owned(), "42".to_owned())].into(),
        };
        assert_eq!(
            message_body(&message),
            json!({"message": {"token": "tok", "notification": {"title": "T", "body": "B"},
                "data": {"ticket_id": "42"}, "android": {"priority": "high"}}})
        );
    }

    #[test]
    fn service_account_needs_its_fields() {
        assert!(ServiceAccount::from_json("{}").is_err());
        let account = ServiceAccount::from_json(
            r#"{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"x"}"#,
        )
        .expect("minimal key file");
        assert_eq!(account.token_uri, DEFAULT_TOKEN_URI);
        assert!(account.encoding_key().is_err(), "not a PEM key");
        assert!(!format!("{account:?}").contains("\"x\""));
    }
}
