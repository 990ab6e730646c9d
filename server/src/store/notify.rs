//! Customer notifications: each customer's language and opt-outs, the
//! notification outbox (`notify_messages`) and tenants' template overrides.
//!
//! Rows are written by the ticket writes themselves, in their transaction
//! (`enqueue_ticket_notices_in`), so a change and its message commit or
//! vanish together; the notify workers claim, render, send and record.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult};

/// How long a claimed message stays invisible to other claimers.
pub const NOTICE_LEASE: chrono::Duration = chrono::Duration::seconds(120);

/// What happened that the customer hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    /// The ticket exists: its number and the progress link.
    TicketReceived,
    /// A technician was assigned (with the appointment window once tickets have one).
    TechnicianAssigned,
    /// The technician set off: the live tracking link.
    TechnicianEnRoute,
    /// The work is done: the service report (or the progress page).
    WorkDone,
    /// A staff member wrote a public comment.
    StaffReply,
    /// The ticket was closed: the satisfaction survey.
    Survey,
    /// A one-time code for the progress page, asked for by ticket number.
    AccessCode,
    /// An appointment window was booked or moved (issue 20).
    AppointmentBooked,
    /// The appointment window was cancelled (issue 20).
    AppointmentCancelled,
    /// The ticket was merged into another as a duplicate (issue 22): told
    /// once, with the ticket that goes on.
    TicketMerged,
    /// A trigger rule's notification to a staff member by email (issue 21):
    /// the one outbox serves staff too; the recipient is the user's address.
    StaffAlert,
}

impl NoticeEvent {
    pub const ALL: [NoticeEvent; 11] = [
        Self::TicketReceived,
        Self::TechnicianAssigned,
        Self::TechnicianEnRoute,
        Self::WorkDone,
        Self::StaffReply,
        Self::Survey,
        Self::AccessCode,
        Self::AppointmentBooked,
        Self::AppointmentCancelled,
        Self::TicketMerged,
        Self::StaffAlert,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TicketReceived => "ticket_received",
            Self::TechnicianAssigned => "technician_assigned",
            Self::TechnicianEnRoute => "technician_en_route",
            Self::WorkDone => "work_done",
            Self::StaffReply => "staff_reply",
            Self::Survey => "survey",
            Self::AccessCode => "access_code",
            Self::AppointmentBooked => "appointment_booked",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::TicketMerged => "ticket_merged",
            Self::StaffAlert => "staff_alert",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeChannel {
    Email,
    Sms,
}

impl NoticeChannel {
    pub const ALL: [NoticeChannel; 2] = [Self::Email, Self::Sms];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

/// The languages messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Self::En, Self::ZhCn];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == value)
    }
}

/// A customer's language and per-channel opt-outs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyPreferences {
    pub locale: Locale,
    pub email_opt_out: bool,
    pub sms_opt_out: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Pending,
    Sent,
    Failed,
}

impl NoticeState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What a message says, gathered when the event happened; templates render it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoticeContext {
    pub ticket_number: String,
    pub ticket_title: String,
    pub customer_name: String,
    /// The technician's first name, when one is assigned.
    pub technician_first_name: Option<String>,
    /// The staff reply's text.
    pub comment: Option<String>,
    /// The progress page's one-time code (`access_code` messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
    /// The appointment window in the tenant's time (`appointment_*` messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_window: Option<String>,
    /// The number of the ticket this one was merged into (`ticket_merged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// Its id, for its progress link (`ticket_merged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into_id: Option<Uuid>,
    /// A rule's notification title and text (`staff_alert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_body: Option<String>,
}

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Notice {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub customer_id: Uuid,
    pub event: NoticeEvent,
    pub channel: NoticeChannel,
    pub recipient: String,
    pub locale: Locale,
    pub context: NoticeContext,
    /// Send attempts started (a claim counts as one).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub state: NoticeState,
    /// The provider's last answer code (SMTP reply, HTTP status).
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// As sent (filled in by the first attempt that rendered it).
    pub subject: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A tenant's wording for one event, language and channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoticeTemplate {
    pub event: NoticeEvent,
    pub locale: Locale,
    pub channel: NoticeChannel,
    /// Email subject (ignored for SMS); a minijinja template.
    pub subject: String,
    /// The message; a minijinja template.
    pub body: String,
}

#[async_trait]
pub trait NotifyStore {
    /// The customer's language and opt-outs.
    async fn notify_preferences(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
    ) -> StoreResult<NotifyPreferences>;
    async fn set_notify_preferences(
        &self,
        actor: Actor,
        customer_id: Uuid,
        preferences: &NotifyPreferences,
    ) -> StoreResult<NotifyPreferences>;

    /// Claims up to `limit` pending messages of `channel` due at `now`, for
    /// `NOTICE_LEASE`, counting an attempt.
    async fn claim_notices(
        &self,
        channel: NoticeChannel,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Notice>>;
    /// Delivered, with the words as sent. False when it was not pending.
    /// Records the rendered notice as sent, if the claim that rendered it
    /// (`claimed_until`, the lease [`Self::claim_notices`] set) still stands:
    /// an erasure releases the claims on the notices it redacts, so a body
    /// rendered from the context before the erasure is not stored after it.
    async fn mark_notice_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        subject: &str,
        body: &str,
        status: Option<u16>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn retry_notice(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        error: &str,
        status: Option<u16>,
    ) -> StoreResult<bool>;
    /// Dead letter. False when it was not pending.
    async fn fail_notice(&self, id: Uuid, error: &str, status: Option<u16>) -> StoreResult<bool>;
    /// The ticket's messages, oldest first.
    async fn list_ticket_notices(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<Notice>>;

    /// The tenant's override, if any.
    async fn notice_template(
        &self,
        tenant_id: Uuid,
        event: NoticeEvent,
        locale: Locale,
        channel: NoticeChannel,
    ) -> StoreResult<Option<NoticeTemplate>>;
    async fn list_notice_templates(&self, tenant_id: Uuid) -> StoreResult<Vec<NoticeTemplate>>;
    async fn put_notice_template(&self, actor: Actor, template: &NoticeTemplate)
    -> StoreResult<()>;
    /// False when there was no override.
    async fn delete_notice_template(
        &self,
        actor: Actor,
        event: NoticeEvent,
        locale: Locale,
        channel: NoticeChannel,
    ) -> StoreResult<bool>;
}
