//! The ways a rendered message leaves: SMTP, an HTTP SMS provider, or the
//! log (the embedded default when neither is configured).

use std::time::Duration;

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{NotifyError, SmsConfig, SmtpConfig, SmtpTls};
use crate::{
    egress::{EgressPolicy, refused_by_policy},
    outbox::Attempt,
};

/// Sends one rendered message to one recipient and says how it went.
#[async_trait]
pub trait Sender: Send + Sync + std::fmt::Debug {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Attempt;
}

/// Writes each message to the log and reports it delivered.
#[derive(Debug, Clone, Copy)]
pub struct LogSender {
    pub channel: &'static str,
}

#[async_trait]
impl Sender for LogSender {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Attempt {
        tracing::info!(channel = self.channel, %to, %subject, %body, "customer notification (no provider configured: logged)");
        Attempt::Delivered { status: None }
    }
}

/// Email over SMTP (pooled connections; TLS as configured).
#[derive(Debug, Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    pub fn new(config: &SmtpConfig) -> Result<Self, NotifyError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| NotifyError::Config(format!("smtp.from: {e}")))?;
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(config.host.clone())
                    .map_err(|e| NotifyError::Config(format!("smtp tls: {e}")))?;
                if config.tls == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(config.timeout_ms)));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Attempt {
        let to: Mailbox = match to.parse() {
            Ok(to) => to,
            Err(error) => {
                return Attempt::Failed {
                    reason: format!("recipient address: {error}"),
                    status: None,
                };
            }
        };
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned());
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                return Attempt::Failed {
                    reason: format!("message: {error}"),
                    status: None,
                };
            }
        };
        match self.transport.send(message).await {
            Ok(response) => Attempt::Delivered {
                status: Some(u16::from(response.code())),
            },
            Err(error) => {
                let status = error.status().map(u16::from);
                if error.is_permanent() {
                    Attempt::Failed {
                        reason: format!("smtp: {error}"),
                        status,
                    }
                } else {
                    Attempt::Retry {
                        after: None,
                        reason: format!("smtp: {error}"),
                        status,
                    }
                }
            }
        }
    }
}

/// SMS through an HTTP provider: `POST {url}` with `{"to","from","body"}`
/// and a bearer token. 2xx is delivered; 408, 429 and 5xx are retried
/// (honouring `Retry-After` in seconds); other answers are final.
#[derive(Debug, Clone)]
pub struct HttpSmsSender {
    egress: EgressPolicy,
    client: reqwest::Client,
    url: String,
    token: String,
    from: String,
}

impl HttpSmsSender {
    /// The provider is reached only at addresses `egress` permits.
    pub fn new(config: &SmsConfig, egress: &EgressPolicy) -> Result<Self, NotifyError> {
        let client = egress
            .client(Duration::from_millis(config.timeout_ms))
            .map_err(|e| NotifyError::Config(format!("sms client: {e}")))?;
        Ok(Self {
            egress: egress.clone(),
            client,
            url: config.url.clone(),
            token: config.token.clone(),
            from: config.from.clone(),
        })
    }
}

#[async_trait]
impl Sender for HttpSmsSender {
    async fn send(&self, to: &str, _subject: &str, body: &str) -> Attempt {
        if let Err(refused) = self.egress.check_literal(&self.url) {
            return Attempt::Failed {
                reason: format!("sms provider refused: {refused}"),
                status: None,
            };
        }
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"to": to, "from": self.from, "body": body}))
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                if let Some(refused) = refused_by_policy(&error) {
                    return Attempt::Failed {
                        reason: format!("sms provider refused: {refused}"),
                        status: None,
                    };
                }
                return Attempt::retry(format!("sms transport: {error}"));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered {
                status: Some(status.as_u16()),
            };
        }
        let reason = format!("sms provider answered {status}");
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Retry {
                after,
                reason,
                status: Some(status.as_u16()),
            }
        } else {
            Attempt::Failed {
                reason,
                status: Some(status.as_u16()),
            }
        }
    }
}
