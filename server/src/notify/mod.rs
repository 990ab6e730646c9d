//! Customer notifications: email over SMTP and SMS over an HTTP provider.
//!
//! The ticket and comment writes queue messages into `notify_messages` in
//! their own transaction (`store::notify`); here one outbox worker per
//! channel (`crate::outbox`) claims due rows, renders them in the
//! customer's language with the tenant's template (else the embedded
//! default), sends, and records the words as sent — which the ticket's
//! timeline shows. With no SMTP host or SMS URL configured, messages are
//! written to the log instead (the embedded default).

mod config;
mod progress_key;
mod senders;
mod templates;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use config::{NotifyConfig, SmsConfig, SmtpConfig, SmtpTls};
pub use progress_key::ProgressKey;
pub use senders::{HttpSmsSender, LogSender, Sender, SmtpSender};
pub use templates::{TemplateError, TemplateVars, check, default_template, render};

use crate::{
    outbox::{Attempt, Backoff, Channel, OutboxHandle, RetryPolicy, Worker},
    store::{
        Store, StoreResult,
        notify::{Notice, NoticeChannel, NoticeTemplate},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify configuration: {0}")]
    Config(String),
}

/// A claimed message with its words.
#[derive(Debug, Clone)]
pub struct RenderedNotice {
    pub notice: Notice,
    pub subject: String,
    pub body: String,
}

/// The links a message carries.
#[derive(Debug, Clone)]
pub struct Links {
    base: String,
    key: ProgressKey,
}

impl Links {
    pub fn new(public_base_url: &str, key: ProgressKey) -> Self {
        Self {
            base: public_base_url.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The progress page for a ticket by its signed direct link (opens
    /// without a code).
    pub fn progress(&self, tenant_id: uuid::Uuid, ticket_id: uuid::Uuid) -> String {
        format!(
            "{}/track/{}",
            self.base,
            self.key.link_token(tenant_id, ticket_id)
        )
    }

    /// The ticket's page in the console (staff messages).
    pub fn console(&self, ticket_id: uuid::Uuid) -> String {
        format!("{}/ticket?id={ticket_id}", self.base)
    }

    /// The progress page's code form for a ticket number.
    pub fn progress_by_number(&self, ticket_number: &str) -> String {
        format!("{}/track?ticket={}", self.base, urlencode(ticket_number))
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The words of `notice`: the tenant's override of its event, language and
/// channel when there is one that renders, else the embedded default.
pub async fn render_notice(
    store: &dyn Store,
    links: &Links,
    notice: &Notice,
) -> StoreResult<(String, String)> {
    let progress = links.progress(notice.tenant_id, notice.ticket_id);
    let vars = TemplateVars {
        ticket_number: notice.context.ticket_number.clone(),
        ticket_title: notice.context.ticket_title.clone(),
        customer_name: notice.context.customer_name.clone(),
        technician_first_name: notice.context.technician_first_name.clone(),
        appointment_window: notice.context.appointment_window.clone(),
        comment: notice.context.comment.clone(),
        report_url: progress.clone(),
        survey_url: format!("{progress}#survey"),
        progress_url: progress,
        access_code: notice.context.access_code.clone(),
        merged_into: notice.context.merged_into.clone(),
        merged_into_url: notice
            .context
            .merged_into_id
            .map(|id| links.progress(notice.tenant_id, id)),
        staff_title: notice.context.staff_title.clone(),
        staff_body: notice.context.staff_body.clone(),
        console_url: links.console(notice.ticket_id),
    };
    let render_with = |template: &NoticeTemplate| {
        Ok::<_, TemplateError>((
            render(&template.subject, &vars)?,
            render(&template.body, &vars)?,
        ))
    };
    if let Some(custom) = store
        .notice_template(
            notice.tenant_id,
            notice.event,
            notice.locale,
            notice.channel,
        )
        .await?
    {
        match render_with(&custom) {
            Ok(words) => return Ok(words),
            Err(error) => {
                tracing::warn!(notice = %notice.id, %error, "tenant template failed; using the default")
            }
        }
    }
    let default = default_template(notice.event, notice.locale, notice.channel);
    Ok(render_with(&default).unwrap_or_else(|error| {
        tracing::error!(notice = %notice.id, %error, "default template failed");
        (default.subject, default.body)
    }))
}

/// One channel of `notify_messages` as an outbox channel.
#[derive(Debug)]
pub struct NoticeOutbox {
    store: Arc<dyn Store>,
    channel: NoticeChannel,
    sender: Arc<dyn Sender>,
    links: Links,
}

impl NoticeOutbox {
    pub fn new(
        store: Arc<dyn Store>,
        channel: NoticeChannel,
        sender: Arc<dyn Sender>,
        links: Links,
    ) -> Self {
        Self {
            store,
            channel,
            sender,
            links,
        }
    }
}

#[async_trait]
impl Channel for NoticeOutbox {
    type Message = RenderedNotice;

    fn name(&self) -> &'static str {
        self.channel.as_str()
    }

    fn id(&self, message: &RenderedNotice) -> String {
        message.notice.id.to_string()
    }

    fn attempts(&self, message: &RenderedNotice) -> u32 {
        message.notice.attempts
    }

    async fn claim(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<RenderedNotice>> {
        let claimed = self.store.claim_notices(self.channel, now, limit).await?;
        let mut rendered = Vec::with_capacity(claimed.len());
        for notice in claimed {
            let (subject, body) = render_notice(self.store.as_ref(), &self.links, &notice).await?;
            rendered.push(RenderedNotice {
                notice,
                subject,
                body,
            });
        }
        Ok(rendered)
    }

    async fn send(&self, message: &RenderedNotice, _now: DateTime<Utc>) -> Attempt {
        self.sender
            .send(&message.notice.recipient, &message.subject, &message.body)
            .await
    }

    async fn delivered(
        &self,
        message: &RenderedNotice,
        status: Option<u16>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        metrics::counter!("notify_sent_total", "channel" => self.channel.as_str(), "event" => message.notice.event.as_str()).increment(1);
        self.store
            .mark_notice_sent(
                message.notice.id,
                message.notice.next_attempt_at,
                &message.subject,
                &message.body,
                status,
                now,
            )
            .await
            .map(drop)
    }

    async fn retry_at(
        &self,
        message: &RenderedNotice,
        at: DateTime<Utc>,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()> {
        self.store
            .retry_notice(message.notice.id, at, reason, status)
            .await
            .map(drop)
    }

    async fn dead_letter(
        &self,
        message: &RenderedNotice,
        reason: &str,
        status: Option<u16>,
    ) -> StoreResult<()> {
        self.store
            .fail_notice(message.notice.id, reason, status)
            .await
            .map(drop)
    }
}

/// A channel's way out.
pub type SharedSender = Arc<dyn Sender>;

/// The email and SMS senders the configuration selects (the log when a
/// channel has no provider).
pub fn senders(
    smtp: &SmtpConfig,
    sms: &SmsConfig,
    egress: &crate::egress::EgressPolicy,
) -> Result<(SharedSender, SharedSender), NotifyError> {
    let email: Arc<dyn Sender> = if smtp.host.trim().is_empty() {
        Arc::new(LogSender { channel: "email" })
    } else {
        Arc::new(SmtpSender::new(smtp)?)
    };
    let text: Arc<dyn Sender> = if sms.url.trim().is_empty() {
        Arc::new(LogSender { channel: "sms" })
    } else {
        Arc::new(HttpSmsSender::new(sms, egress)?)
    };
    Ok((email, text))
}

/// A worker for one channel with `[notify]`'s retry policy.
pub fn worker(
    store: Arc<dyn Store>,
    channel: NoticeChannel,
    sender: Arc<dyn Sender>,
    config: &NotifyConfig,
) -> Worker<NoticeOutbox> {
    let backoff = Backoff {
        base: Duration::from_millis(config.backoff_base_ms),
        cap: Duration::from_millis(config.backoff_cap_ms),
    };
    let policy = RetryPolicy {
        backoff,
        max_attempts: config.max_attempts,
        max_retry_after: backoff.cap,
    };
    let links = Links::new(
        &config.public_base_url,
        ProgressKey::new(&config.link_secret),
    );
    Worker::new(
        Arc::new(NoticeOutbox::new(store, channel, sender, links)),
        policy,
    )
}

/// The running email and SMS workers.
#[derive(Debug)]
pub struct NotifyWorkers {
    email: OutboxHandle,
    sms: OutboxHandle,
}

impl NotifyWorkers {
    pub fn spawn(
        store: Arc<dyn Store>,
        notify: &NotifyConfig,
        smtp: &SmtpConfig,
        sms: &SmsConfig,
        egress: &crate::egress::EgressPolicy,
    ) -> Result<Self, NotifyError> {
        let (email_sender, sms_sender) = senders(smtp, sms, egress)?;
        if !notify.worker_enabled {
            return Ok(Self {
                email: OutboxHandle::idle(),
                sms: OutboxHandle::idle(),
            });
        }
        let poll = Duration::from_millis(notify.poll_interval_ms);
        let email = worker(store.clone(), NoticeChannel::Email, email_sender, notify);
        let sms = worker(store, NoticeChannel::Sms, sms_sender, notify);
        Ok(Self {
            email: OutboxHandle::spawn(email, poll),
            sms: OutboxHandle::spawn(sms, poll),
        })
    }

    pub async fn stop(self) {
        self.email.stop().await;
        self.sms.stop().await;
    }
}
