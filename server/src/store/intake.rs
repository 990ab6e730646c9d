//! Email and web intake: a tenant's intake settings, its IMAP mailboxes,
//! the record of every message taken in (what became of it), and the
//! message ids that thread a reply into its ticket.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::{customers::Customer, ticket::Priority};

/// A tenant's intake settings.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IntakeSettings {
    pub tenant_id: Uuid,
    /// The public form is at `/request/{slug}`.
    pub slug: String,
    /// Category of tickets taken in by email (and the form's default).
    pub category: String,
    pub priority: Priority,
    /// The ticket's site when the customer has none of their own.
    pub site_id: Uuid,
    /// Our own addresses: mail from them is a loop and is dropped.
    pub own_addresses: Vec<String>,
    /// A reply reopens a closed ticket within this many hours of its closing.
    pub reopen_window_hours: i64,
    /// Accepted messages per sender address and hour; more are dropped.
    pub sender_limit_per_hour: i64,
    pub form_enabled: bool,
    /// Categories offered on the public form; empty offers `category` only.
    pub form_categories: Vec<String>,
    /// Whether an intake token for `POST /v1/intake/email` was issued.
    pub has_token: bool,
    pub updated_at: DateTime<Utc>,
}

/// What an admin sets (everything but the token).
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsWrite {
    pub slug: String,
    pub category: String,
    pub priority: Priority,
    pub site_id: Uuid,
    pub own_addresses: Vec<String>,
    pub reopen_window_hours: i64,
    pub sender_limit_per_hour: i64,
    pub form_enabled: bool,
    pub form_categories: Vec<String>,
}

/// An IMAP mailbox; the password is kept sealed and never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mailbox {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Implicit TLS (IMAPS, usually port 993); otherwise plain TCP.
    pub tls: bool,
    pub username: String,
    #[serde(skip)]
    pub password_sealed: String,
    pub folder: String,
    pub enabled: bool,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxWrite {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub password_sealed: String,
    pub folder: String,
    pub enabled: bool,
}

/// Where a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Posted raw to `POST /v1/intake/email`.
    Email,
    /// Read from an IMAP mailbox.
    Imap,
    /// The public web form.
    Form,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Imap => "imap",
            Self::Form => "form",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Email, Self::Imap, Self::Form]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Claimed and still being turned into a ticket or comment.
    Processing,
    /// A new ticket.
    Ticket,
    /// A public comment on an existing ticket.
    Comment,
    /// Recorded and nothing else: `reason` says why.
    Dropped,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ticket => "ticket",
            Self::Comment => "comment",
            Self::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Processing, Self::Ticket, Self::Comment, Self::Dropped]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One message taken in, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IntakeMessage {
    pub id: Uuid,
    pub channel: Channel,
    pub mailbox_id: Option<Uuid>,
    pub message_id: String,
    pub sender: String,
    pub subject: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub ticket_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub media_count: i64,
    pub received_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntakeMessage {
    pub channel: Channel,
    pub mailbox_id: Option<Uuid>,
    pub message_id: String,
    pub sender: String,
    pub subject: String,
}

/// A claim on a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time seen: recorded as `processing` under this id.
    New(Uuid),
    /// Seen before (a redelivery): its record.
    Seen(IntakeMessage),
}

/// How a claimed message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub ticket_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub media_count: i64,
    /// For a ticket or comment: the timeline's "received by …" line
    /// (an audit entry on the ticket) and the message id to thread by.
    pub thread_message_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeMessageFilter {
    pub outcome: Option<Outcome>,
    pub ticket_id: Option<Uuid>,
}

#[async_trait]
pub trait IntakeStore {
    async fn intake_settings(&self, tenant_id: Uuid) -> StoreResult<Option<IntakeSettings>>;
    /// The settings of the tenant whose form is at `slug`.
    async fn intake_settings_by_slug(&self, slug: &str) -> StoreResult<Option<IntakeSettings>>;
    /// Creates or replaces the settings (the token is kept).
    async fn put_intake_settings(
        &self,
        actor: Actor,
        settings: &SettingsWrite,
    ) -> StoreResult<IntakeSettings>;
    /// Stores the hash of a new intake token (the old one stops working).
    async fn set_intake_token(&self, actor: Actor, token_hash: &str) -> StoreResult<()>;
    /// The tenant whose intake token hashes to `token_hash`.
    async fn tenant_by_intake_token(&self, token_hash: &str) -> StoreResult<Option<Uuid>>;

    async fn create_mailbox(&self, actor: Actor, mailbox: &MailboxWrite) -> StoreResult<Mailbox>;
    async fn get_mailbox(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Mailbox>;
    async fn list_mailboxes(&self, tenant_id: Uuid) -> StoreResult<Vec<Mailbox>>;
    async fn update_mailbox(
        &self,
        actor: Actor,
        id: Uuid,
        mailbox: &MailboxWrite,
    ) -> StoreResult<Mailbox>;
    async fn delete_mailbox(&self, actor: Actor, id: Uuid) -> StoreResult<()>;
    /// Every enabled mailbox of every tenant, for the poller.
    async fn enabled_mailboxes(&self) -> StoreResult<Vec<Mailbox>>;
    async fn mailbox_polled(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()>;

    /// Records `message` as `processing` unless its message id was seen.
    async fn claim_intake_message(
        &self,
        tenant_id: Uuid,
        message: &NewIntakeMessage,
    ) -> StoreResult<Claim>;
    /// Forgets a `processing` claim whose handling failed, so a redelivery
    /// is handled afresh.
    async fn release_intake_message(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<()>;
    /// Sets the outcome; for a ticket or comment also remembers the message
    /// id for threading and writes the ticket's "received" audit entry, in
    /// one transaction.
    async fn finish_intake_message(
        &self,
        actor: Actor,
        id: Uuid,
        finish: &Finish,
    ) -> StoreResult<IntakeMessage>;
    async fn list_intake_messages(
        &self,
        tenant_id: Uuid,
        filter: &IntakeMessageFilter,
        page: PageRequest,
    ) -> StoreResult<Page<IntakeMessage>>;
    /// Messages from `sender` accepted (ticket or comment) since `since`.
    async fn accepted_from_sender(
        &self,
        tenant_id: Uuid,
        sender: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<i64>;

    /// The ticket of the first of `message_ids` that names one.
    async fn ticket_for_message_ids(
        &self,
        tenant_id: Uuid,
        message_ids: &[String],
    ) -> StoreResult<Option<Uuid>>;
    /// Remembers a message id we sent about `ticket_id`, so replies to it
    /// thread into the ticket (for the outgoing mail).
    async fn remember_message_id(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        message_id: &str,
    ) -> StoreResult<()>;
    /// When the ticket last became closed (its status history).
    async fn ticket_closed_at(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<DateTime<Utc>>>;

    /// The oldest customer with this email (case-insensitive).
    async fn customer_by_email(
        &self,
        tenant_id: Uuid,
        email: &str,
    ) -> StoreResult<Option<Customer>>;
    /// The customer's oldest site.
    async fn first_site_of(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<Option<Uuid>>;
}
