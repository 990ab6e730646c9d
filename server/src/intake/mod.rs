//! Tickets from outside: email (a raw MIME message posted to the inbound
//! endpoint or read from a tenant's IMAP mailbox) and the public web form.
//!
//! A new message becomes a ticket (the sender matched to a customer by
//! email, or a new customer), a reply becomes a public comment on its
//! ticket (threaded by In-Reply-To/References, or the ticket number in the
//! subject) and reopens a closed ticket within the tenant's window. Machine
//! mail (auto-replies, bounces, bulk) and mail from our own addresses is
//! recorded and dropped, never answered; a sender is rate limited. Every
//! message is recorded with its outcome (`IntakeStore`), keyed by its
//! Message-ID, so a redelivery changes nothing.

pub mod admin;
pub mod config;
pub mod form;
pub mod imap;
mod parse;
mod quote;
pub mod secret;

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use truckroll_sync::{Status, StatusAction};
use uuid::Uuid;

pub use config::IntakeConfig;
pub use parse::{Attachment, IncomingMail, Unparseable, parse};
pub use quote::strip_quoted;
pub use secret::{SealError, Sealer};

use crate::{
    blob::{BlobStore, MediaConfig, object_key, sha256_hex, sniff::Format, sniff::sniff},
    device_sync::{Step, take_step},
    dispatch::DispatchHandles,
    domain::{
        ValidationErrors,
        customers::{Customer, CustomerTier, NewCustomer},
        ticket::{NewComment, NewTicket, Ticket, Visibility},
    },
    events::Event,
    media::{self, MediaError, MediaService, UploadRequest},
    store::{
        Actor, Store, StoreError,
        intake::{
            Channel, Claim, Finish, IntakeMessage, IntakeSettings, NewIntakeMessage, Outcome,
        },
        media::MediaKind,
    },
};

/// Where the customer follows a ticket. The progress page itself belongs to
/// the notifications work; this is the one place that builds the link.
pub fn progress_link(ticket: &Ticket) -> String {
    format!("/track?ticket={}", ticket.number)
}

/// `TR-000123` in a subject line.
pub fn ticket_number_in(subject: &str) -> Option<String> {
    let bytes = subject.as_bytes();
    let mut i = 0;
    while let Some(found) = subject[i..].find("TR-") {
        let start = i + found;
        let digits: String = subject[start + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if before_ok && digits.len() >= 6 {
            return Some(format!("TR-{digits}"));
        }
        i = start + 3;
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The tenant has no intake settings (or the form is switched off).
    #[error("intake is not set up for this tenant")]
    NotConfigured,
    #[error("the message is larger than {0} bytes")]
    TooLarge(usize),
    #[error("request validation failed: {0}")]
    Invalid(ValidationErrors),
    /// The web form's honeypot was filled in.
    #[error("the request was refused")]
    Bot,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl From<ValidationErrors> for IntakeError {
    fn from(errors: ValidationErrors) -> Self {
        IntakeError::Invalid(errors)
    }
}

pub type IntakeResult<T> = Result<T, IntakeError>;

/// What became of one message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message: IntakeMessage,
    /// The message id was seen before: nothing was done this time.
    pub duplicate: bool,
}

/// The handles intake acts through (owned: the IMAP poller outlives requests).
#[derive(Debug, Clone)]
pub struct Intake {
    pub dispatch: DispatchHandles,
    pub blobs: Arc<dyn BlobStore>,
    pub media: MediaConfig,
    pub config: IntakeConfig,
    pub sealer: Sealer,
    /// Which IMAP hosts may be reached (`[egress]`).
    pub egress: crate::egress::EgressPolicy,
}

/// The intake record's note on a message kept without its control characters.
const CLEANED: &str = "control characters (such as NUL) were removed from the message";

/// Texts longer than the ticket allows are cut, not refused: mail is what
/// it is.
fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl Intake {
    fn store(&self) -> &dyn Store {
        self.dispatch.store.as_ref()
    }

    fn media_service(&self) -> MediaService<'_> {
        MediaService {
            store: self.dispatch.store.as_ref(),
            blobs: self.blobs.as_ref(),
            config: &self.media,
        }
    }

    /// Takes in one raw message for `tenant_id`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, channel = channel.as_str()))]
    pub async fn receive_email(
        &self,
        tenant_id: Uuid,
        channel: Channel,
        mailbox_id: Option<Uuid>,
        raw: &[u8],
    ) -> IntakeResult<Received> {
        if raw.len() > self.config.max_message_bytes {
            return Err(IntakeError::TooLarge(self.config.max_message_bytes));
        }
        let settings = self
            .store()
            .intake_settings(tenant_id)
            .await?
            .ok_or(IntakeError::NotConfigured)?;
        let parsed = parse(raw);
        let (mail, unparseable) = match parsed {
            Ok(mail) => (mail, false),
            Err(Unparseable) => (
                IncomingMail {
                    message_id: None,
                    from: String::new(),
                    from_name: None,
                    subject: String::new(),
                    text: String::new(),
                    references: Vec::new(),
                    attachments: Vec::new(),
                    automated: None,
                    cleaned: false,
                },
                true,
            ),
        };
        // Without a Message-ID the content names the message, so a
        // redelivery is still recognised.
        let message_id = mail
            .message_id
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", sha256_hex(raw)));
        let claim = self
            .store()
            .claim_intake_message(
                tenant_id,
                &NewIntakeMessage {
                    channel,
                    mailbox_id,
                    message_id,
                    sender: mail.from.clone(),
                    subject: cut(&mail.subject, 500),
                },
            )
            .await?;
        let id = match claim {
            Claim::Seen(message) => {
                return Ok(Received {
                    message,
                    duplicate: true,
                });
            }
            Claim::New(id) => id,
        };
        let system = Actor {
            tenant_id,
            user_id: None,
        };
        let drop = |reason: String| Finish {
            outcome: Outcome::Dropped,
            reason: Some(reason),
            ticket_id: None,
            comment_id: None,
            media_count: 0,
            thread_message_id: None,
        };
        if let Some(reason) = self
            .drop_reason(&settings, &mail, unparseable, mailbox_id)
            .await?
        {
            let message = self
                .store()
                .finish_intake_message(system, id, &drop(reason))
                .await?;
            return Ok(Received {
                message,
                duplicate: false,
            });
        }
        match self.accept(&settings, &mail).await {
            Ok(mut finish) => {
                if mail.cleaned && finish.0.reason.is_none() {
                    finish.0.reason = Some(CLEANED.into());
                }
                let customer_actor = finish.1;
                let message = self
                    .store()
                    .finish_intake_message(customer_actor, id, &finish.0)
                    .await?;
                Ok(Received {
                    message,
                    duplicate: false,
                })
            }
            Err(IntakeError::Invalid(errors)) => {
                let message = self
                    .store()
                    .finish_intake_message(system, id, &drop(format!("invalid: {errors}")))
                    .await?;
                Ok(Received {
                    message,
                    duplicate: false,
                })
            }
            Err(error) => {
                // Nothing was decided: a redelivery (or the next poll) tries again.
                if let Err(release) = self.store().release_intake_message(tenant_id, id).await {
                    tracing::warn!(%release, "could not release the intake claim");
                }
                Err(error)
            }
        }
    }

    async fn drop_reason(
        &self,
        settings: &IntakeSettings,
        mail: &IncomingMail,
        unparseable: bool,
        mailbox_id: Option<Uuid>,
    ) -> IntakeResult<Option<String>> {
        if unparseable {
            return Ok(Some("not a MIME message".into()));
        }
        if mail.from.is_empty() || !mail.from.contains('@') {
            return Ok(Some("no sender address".into()));
        }
        if let Some(why) = &mail.automated {
            return Ok(Some(format!("automated mail ({why})")));
        }
        let mut own = settings
            .own_addresses
            .iter()
            .map(|a| a.trim().to_lowercase())
            .collect::<Vec<_>>();
        if let Some(mailbox_id) = mailbox_id
            && let Ok(mailbox) = self
                .store()
                .get_mailbox(settings.tenant_id, mailbox_id)
                .await
            && mailbox.username.contains('@')
        {
            own.push(mailbox.username.to_lowercase());
        }
        if own.contains(&mail.from) {
            return Ok(Some("sent from our own address (a loop)".into()));
        }
        let since = Utc::now() - Duration::hours(1);
        let recent = self
            .store()
            .accepted_from_sender(settings.tenant_id, &mail.from, since)
            .await?;
        // `recent` counts this message's own claim.
        if recent > settings.sender_limit_per_hour {
            return Ok(Some(format!(
                "rate limited: more than {} messages from this sender in an hour",
                settings.sender_limit_per_hour
            )));
        }
        Ok(None)
    }

    /// The customer with this email, or a new one.
    pub async fn customer_for(
        &self,
        tenant_id: Uuid,
        email: &str,
        name: Option<&str>,
        phone: Option<&str>,
    ) -> IntakeResult<Customer> {
        if let Some(customer) = self.store().customer_by_email(tenant_id, email).await? {
            return Ok(customer);
        }
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
        let new = NewCustomer {
            name: cut(&name, 200),
            tier: CustomerTier::Standard,
            email: Some(email.to_owned()),
            phone: phone.map(str::to_owned).filter(|p| !p.trim().is_empty()),
            contact_person: None,
        };
        new.validate()?;
        Ok(self
            .store()
            .create_customer(
                Actor {
                    tenant_id,
                    user_id: None,
                },
                &new,
            )
            .await?)
    }

    /// The ticket a reply belongs to: by the message ids it answers, or by
    /// the number in its subject when the sender is that ticket's customer.
    async fn thread_of(
        &self,
        tenant_id: Uuid,
        mail: &IncomingMail,
        customer: &Customer,
    ) -> IntakeResult<Option<Ticket>> {
        if let Some(id) = self
            .store()
            .ticket_for_message_ids(tenant_id, &mail.references)
            .await?
        {
            return Ok(Some(self.store().get_ticket(tenant_id, id).await?));
        }
        let Some(number) = ticket_number_in(&mail.subject) else {
            return Ok(None);
        };
        let Some(id) = self.store().ticket_id_by_number(tenant_id, &number).await? else {
            return Ok(None);
        };
        let ticket = self.store().get_ticket(tenant_id, id).await?;
        // A number is easy to guess: only the customer who opened the
        // ticket, or the customer of its site, may write into it by number.
        if ticket.created_by == customer.id {
            return Ok(Some(ticket));
        }
        let site = self.store().get_site(tenant_id, ticket.site_id).await?;
        Ok((site.customer_id == customer.id).then_some(ticket))
    }

    /// A ticket or a comment from an accepted message; the actor is the customer.
    async fn accept(
        &self,
        settings: &IntakeSettings,
        mail: &IncomingMail,
    ) -> IntakeResult<(Finish, Actor)> {
        let tenant_id = settings.tenant_id;
        let customer = self
            .customer_for(tenant_id, &mail.from, mail.from_name.as_deref(), None)
            .await?;
        let actor = Actor {
            tenant_id,
            user_id: Some(customer.id),
        };
        let thread = self.thread_of(tenant_id, mail, &customer).await?;
        let reopen_window = Duration::hours(settings.reopen_window_hours);
        let mut follow_up_of = None;
        if let Some(ticket) = thread {
            let closed_long_ago = if ticket.status == Status::Closed {
                let closed_at = self
                    .store()
                    .ticket_closed_at(tenant_id, ticket.id)
                    .await?
                    .unwrap_or(ticket.updated_at);
                Utc::now() - closed_at > reopen_window
            } else {
                false
            };
            if closed_long_ago {
                follow_up_of = Some(ticket.number.clone());
            } else {
                let body = if mail.text.trim().is_empty() {
                    "(no text)".to_owned()
                } else {
                    cut(&mail.text, 10_000)
                };
                let comment = NewComment {
                    body,
                    visibility: Visibility::Public,
                };
                comment.validate()?;
                let created = self.store().add_comment(actor, ticket.id, &comment).await?;
                if ticket.status == Status::Closed {
                    self.reopen(actor, &ticket).await?;
                }
                let media_count = self.attach(actor, ticket.id, &mail.attachments).await?;
                return Ok((
                    Finish {
                        outcome: Outcome::Comment,
                        reason: None,
                        ticket_id: Some(ticket.id),
                        comment_id: Some(created.id),
                        media_count,
                        thread_message_id: mail.message_id.clone(),
                    },
                    actor,
                ));
            }
        }
        let mut description = if mail.text.trim().is_empty() {
            "(no text)".to_owned()
        } else {
            mail.text.clone()
        };
        if let Some(number) = follow_up_of {
            description = format!("Follow-up to {number}.\n\n{description}");
        }
        let title = if mail.subject.trim().is_empty() {
            "(no subject)".to_owned()
        } else {
            mail.subject.clone()
        };
        let ticket = self
            .open_ticket(
                settings,
                &customer,
                actor,
                OpenTicket {
                    title,
                    description,
                    category: settings.category.clone(),
                    custom_fields: json!({}),
                    tag: "email",
                },
            )
            .await?;
        let media_count = self.attach(actor, ticket.id, &mail.attachments).await?;
        Ok((
            Finish {
                outcome: Outcome::Ticket,
                reason: None,
                ticket_id: Some(ticket.id),
                comment_id: None,
                media_count,
                thread_message_id: mail.message_id.clone(),
            },
            actor,
        ))
    }

    /// Reopens a closed ticket as the office's reopen does: a `reopen`
    /// event in its document, the row projected from it.
    async fn reopen(&self, actor: Actor, ticket: &Ticket) -> IntakeResult<()> {
        if let Some((before, after)) =
            take_step(self.store(), actor, ticket, Step::new(StatusAction::Reopen)).await?
        {
            self.dispatch
                .assignments()
                .after_change(&before, &after)
                .await?;
        }
        Ok(())
    }

    /// Creates the ticket at the customer's site (or the intake site),
    /// publishes it and offers it as the REST create does.
    async fn open_ticket(
        &self,
        settings: &IntakeSettings,
        customer: &Customer,
        actor: Actor,
        open: OpenTicket,
    ) -> IntakeResult<Ticket> {
        let site_id = self
            .store()
            .first_site_of(settings.tenant_id, customer.id)
            .await?
            .unwrap_or(settings.site_id);
        let new = NewTicket {
            title: cut(open.title.trim(), 200),
            description: cut(&open.description, 20_000),
            category: open.category,
            priority: settings.priority,
            required_skills: Vec::new(),
            site_id,
            asset_id: None,
            tags: vec![open.tag.to_owned()],
            custom_fields: open.custom_fields,
        };
        new.validate()?;
        let created = self.store().create_ticket(actor, &new).await?;
        if let Some(event) = Event::for_ticket(None, &created) {
            self.dispatch.events.publish(event);
        }
        // Best effort, as for a ticket opened in the office.
        if let Err(error) = self
            .dispatch
            .offers()
            .offer_next(&created, Utc::now())
            .await
        {
            tracing::warn!(%error, ticket = %created.id, "auto-dispatch failed");
        }
        Ok(created)
    }

    /// Stores the files the media checks accept (photos, PDFs) on the
    /// ticket, through the same begin/complete as a phone's upload; others
    /// are skipped. Returns how many are on the ticket.
    async fn attach(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        attachments: &[Attachment],
    ) -> IntakeResult<i64> {
        let service = self.media_service();
        let mut stored = 0;
        for attachment in attachments {
            let Some(format) = sniff(&attachment.bytes) else {
                tracing::info!(content_type = %attachment.content_type, "attachment skipped: not a photo or PDF");
                continue;
            };
            let kind = match format {
                Format::Pdf => MediaKind::Document,
                _ => MediaKind::Photo,
            };
            let sha256 = sha256_hex(&attachment.bytes);
            let request = UploadRequest {
                kind,
                content_type: format.mime().to_owned(),
                size: attachment.bytes.len() as u64,
                sha256: sha256.clone(),
            };
            let begun = match media::begin(&service, actor, ticket_id, &request, "").await {
                Ok(begun) => begun,
                Err(MediaError::Invalid { field, message }) => {
                    tracing::info!(field, %message, "attachment skipped");
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            if !begun.already_stored {
                self.blobs
                    .write(
                        &object_key(actor.tenant_id, &sha256),
                        attachment.bytes.clone(),
                        format.mime(),
                    )
                    .await
                    .map_err(MediaError::from)?;
            }
            match media::complete(&service, actor, begun.media).await {
                Ok(_) => stored += 1,
                Err(MediaError::Rejected(reason)) => {
                    tracing::info!(%reason, "attachment rejected by the media checks");
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok(stored)
    }
}

/// A ticket intake opens.
#[derive(Debug, Clone)]
struct OpenTicket {
    title: String,
    description: String,
    category: String,
    custom_fields: serde_json::Value,
    tag: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ticket_numbers_in_subjects() {
        assert_eq!(
            ticket_number_in("Re: [TR-000123] Boiler").as_deref(),
            Some("TR-000123")
        );
        assert_eq!(
            ticket_number_in("AW: TR-0001234 again").as_deref(),
            Some("TR-0001234")
        );
        assert_eq!(ticket_number_in("XTR-000123"), None);
        assert_eq!(ticket_number_in("TR-12 short"), None);
        assert_eq!(ticket_number_in("no number"), None);
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
