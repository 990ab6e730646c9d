//! SQL behind `NotifyStore`, and the enqueue helpers the ticket and comment
//! writes call inside their own transaction (so a change and the message it
//! causes commit together; the unique `(ticket, channel, event_key)` keeps
//! one message per event even if a write is replayed).
//!
//! Claiming works like the push outbox: candidates are read, then each is
//! taken by an autocommit conditional update on `next_attempt_at`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::store::{
    StoreError, StoreResult,
    notify::{Locale, Notice, NoticeChannel, NoticeContext, NoticeEvent, NoticeState},
};

pub(crate) const NOTICE_COLUMNS: &str = "id, tenant_id, ticket_id, customer_id, event, channel, recipient, locale, context, attempts, \
     next_attempt_at, state, last_status, last_error, subject, body, created_at, sent_at";

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeRow {
    id: Uuid,
    tenant_id: Uuid,
    ticket_id: Uuid,
    customer_id: Uuid,
    event: String,
    channel: String,
    recipient: String,
    locale: String,
    context: Json<NoticeContext>,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    state: String,
    last_status: Option<i32>,
    last_error: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("notify_messages.{column}: {value:?}"))
}

impl TryFrom<NoticeRow> for Notice {
    type Error = StoreError;
    fn try_from(row: NoticeRow) -> StoreResult<Self> {
        Ok(Notice {
            event: NoticeEvent::parse(&row.event).ok_or_else(|| corrupt("event", &row.event))?,
            channel: NoticeChannel::parse(&row.channel)
                .ok_or_else(|| corrupt("channel", &row.channel))?,
            locale: Locale::parse(&row.locale).unwrap_or_default(),
            state: NoticeState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
            id: row.id,
            tenant_id: row.tenant_id,
            ticket_id: row.ticket_id,
            customer_id: row.customer_id,
            recipient: row.recipient,
            context: row.context.0,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: row.next_attempt_at,
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            subject: row.subject,
            body: row.body,
            created_at: row.created_at,
            sent_at: row.sent_at,
        })
    }
}

/// The first word of a name (a technician's first name for customers).
pub(crate) fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The messages a ticket write implies: created → received; a new assignee →
/// assigned; status en route → on the way; work done; closed → survey.
/// Keys make each one unique per ticket and channel.
pub(crate) fn ticket_events(
    before: Option<&crate::domain::ticket::Ticket>,
    after: &crate::domain::ticket::Ticket,
) -> Vec<(NoticeEvent, String)> {
    use truckroll_sync::Status;
    let Some(before) = before else {
        return vec![(NoticeEvent::TicketReceived, "received".into())];
    };
    let mut events = Vec::new();
    let technician = after.assignee_id.map(|t| t.to_string()).unwrap_or_default();
    if after.assignee_id.is_some() && after.assignee_id != before.assignee_id {
        events.push((
            NoticeEvent::TechnicianAssigned,
            format!("assigned:{technician}"),
        ));
    }
    if after.status != before.status {
        match after.status {
            Status::EnRoute => events.push((
                NoticeEvent::TechnicianEnRoute,
                format!("en_route:{technician}"),
            )),
            Status::WorkDone => events.push((NoticeEvent::WorkDone, "work_done".into())),
            Status::Closed => events.push((NoticeEvent::Survey, "survey".into())),
            _ => {}
        }
    }
    events
}

macro_rules! impl_notify_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{audit::{AuditEvent, audit_time}, ticket::{Comment, Ticket, Visibility}};
            use $crate::store::{
                Actor, StoreError, StoreResult,
                notify::{Locale, NOTICE_LEASE, Notice, NoticeChannel, NoticeContext, NoticeEvent, NoticeTemplate, NotifyPreferences, NotifyStore},
                sql::{audit, now, notify::{NOTICE_COLUMNS, NoticeRow, first_name, ticket_events}},
            };

            type Tx = sqlx::Transaction<'static, $db>;
            /// id, name, email, phone, locale, email_opt_out, sms_opt_out
            type ContactRow = (Uuid, String, Option<String>, Option<String>, String, bool, bool);

            impl $store {
                /// Queues the customer messages a ticket write implies, in its transaction.
                pub(crate) async fn enqueue_ticket_notices_in(tx: &mut Tx, before: Option<&Ticket>, after: &Ticket) -> StoreResult<()> {
                    let events = ticket_events(before, after);
                    if events.is_empty() {
                        return Ok(());
                    }
                    let technician: Option<String> = match after.assignee_id {
                        Some(id) => sqlx::query_scalar("SELECT name FROM technicians WHERE tenant_id = $1 AND id = $2")
                            .bind(after.tenant_id)
                            .bind(id)
                            .fetch_optional(&mut **tx)
                            .await?,
                        None => None,
                    };
                    let context = |contact_name: &str| NoticeContext {
                        ticket_number: after.number.clone(),
                        ticket_title: after.title.clone(),
                        customer_name: contact_name.to_owned(),
                        technician_first_name: technician.as_deref().map(first_name),
                        comment: None,
                        access_code: None,
                        appointment_window: None,
                        merged_into: None,
                        merged_into_id: None,
                        staff_title: None,
                        staff_body: None,
                    };
                    for (event, key) in events {
                        Self::enqueue_notices_in(tx, (after.tenant_id, after.id, after.site_id), event, &key, &context).await?;
                    }
                    Ok(())
                }

                /// Queues "a staff reply" for a public comment by a user of the tenant.
                pub(crate) async fn enqueue_comment_notice_in(tx: &mut Tx, comment: &Comment) -> StoreResult<()> {
                    if comment.visibility != Visibility::Public {
                        return Ok(());
                    }
                    let staff: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE tenant_id = $1 AND id = $2")
                        .bind(comment.tenant_id)
                        .bind(comment.author_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let ticket: Option<(String, String, Uuid)> = sqlx::query_as("SELECT number, title, site_id FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(comment.tenant_id)
                        .bind(comment.ticket_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let (Some(_), Some((number, title, site_id))) = (staff, ticket) else {
                        return Ok(());
                    };
                    let context = |contact_name: &str| NoticeContext {
                        ticket_number: number.clone(),
                        ticket_title: title.clone(),
                        customer_name: contact_name.to_owned(),
                        technician_first_name: None,
                        comment: Some(comment.body.clone()),
                        access_code: None,
                        appointment_window: None,
                        merged_into: None,
                        merged_into_id: None,
                        staff_title: None,
                        staff_body: None,
                    };
                    let key = format!("reply:{}", comment.id);
                    let target = (comment.tenant_id, comment.ticket_id, site_id);
                    Self::enqueue_notices_in(tx, target, NoticeEvent::StaffReply, &key, &context).await
                }

                /// One row per channel the customer can be reached on and has not opted out of.
                pub(crate) async fn enqueue_notices_in(
                    tx: &mut Tx,
                    (tenant_id, ticket_id, site_id): (Uuid, Uuid, Uuid),
                    event: NoticeEvent,
                    key: &str,
                    context: &(dyn Fn(&str) -> NoticeContext + Sync),
                ) -> StoreResult<()> {
                    let contact: Option<ContactRow> = sqlx::query_as(
                        // The customer who asked (a ticket opened by email or the web form is
                        // created by that customer), else the customer of the ticket's site.
                        "SELECT c.id, c.name, c.email, c.phone, c.locale, c.email_opt_out, c.sms_opt_out FROM sites s \
                         JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = COALESCE( \
                             (SELECT r.id FROM tickets t JOIN customers r ON r.tenant_id = t.tenant_id AND r.id = t.created_by \
                              WHERE t.tenant_id = $1 AND t.id = $3), \
                             s.customer_id) \
                         WHERE s.tenant_id = $1 AND s.id = $2",
                    )
                    .bind(tenant_id)
                    .bind(site_id)
                    .bind(ticket_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let Some((customer_id, name, email, phone, locale, email_opt_out, sms_opt_out)) = contact else {
                        return Ok(());
                    };
                    let reachable = [
                        (NoticeChannel::Email, email.filter(|e| !e.trim().is_empty() && !email_opt_out)),
                        (NoticeChannel::Sms, phone.filter(|p| !p.trim().is_empty() && !sms_opt_out)),
                    ];
                    let context = context(&name);
                    let at = now();
                    for (channel, recipient) in reachable {
                        let Some(recipient) = recipient else { continue };
                        sqlx::query(
                            "INSERT INTO notify_messages (id, tenant_id, ticket_id, customer_id, event, event_key, channel, recipient, locale, context, \
                             attempts, next_attempt_at, state, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 'pending', $11) \
                             ON CONFLICT (tenant_id, ticket_id, channel, event_key) DO NOTHING",
                        )
                        .bind(Uuid::now_v7())
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(customer_id)
                        .bind(event.as_str())
                        .bind(key)
                        .bind(channel.as_str())
                        .bind(recipient.trim())
                        .bind(&locale)
                        .bind(Json(&context))
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl NotifyStore for $store {
                async fn notify_preferences(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<NotifyPreferences> {
                    let row: Option<(String, bool, bool)> = sqlx::query_as(
                        "SELECT locale, email_opt_out, sms_opt_out FROM customers WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let (locale, email_opt_out, sms_opt_out) = row.ok_or(StoreError::NotFound("customer"))?;
                    Ok(NotifyPreferences { locale: Locale::parse(&locale).unwrap_or_default(), email_opt_out, sms_opt_out })
                }

                #[tracing::instrument(skip_all, fields(customer = %customer_id))]
                async fn set_notify_preferences(&self, actor: Actor, customer_id: Uuid, preferences: &NotifyPreferences) -> StoreResult<NotifyPreferences> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<(String, bool, bool)> = sqlx::query_as(
                        "SELECT locale, email_opt_out, sms_opt_out FROM customers WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(customer_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let (locale, email_opt_out, sms_opt_out) = before.ok_or(StoreError::NotFound("customer"))?;
                    let before = NotifyPreferences { locale: Locale::parse(&locale).unwrap_or_default(), email_opt_out, sms_opt_out };
                    sqlx::query("UPDATE customers SET locale = $3, email_opt_out = $4, sms_opt_out = $5 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(customer_id)
                        .bind(preferences.locale.as_str())
                        .bind(preferences.email_opt_out)
                        .bind(preferences.sms_opt_out)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "customer.notify_preferences", "customer", Some(customer_id), Some(&before), Some(preferences))).await?;
                    tx.commit().await?;
                    Ok(*preferences)
                }

                #[tracing::instrument(skip_all)]
                async fn claim_notices(&self, channel: NoticeChannel, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Notice>> {
                    let now = audit_time(now);
                    let candidates: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
                        "SELECT id, next_attempt_at FROM notify_messages WHERE channel = $1 AND state = 'pending' AND next_attempt_at <= $2 \
                         ORDER BY next_attempt_at, id LIMIT $3",
                    )
                    .bind(channel.as_str())
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    let lease_until = now + NOTICE_LEASE;
                    let mut claimed = Vec::with_capacity(candidates.len());
                    for (id, seen_at) in candidates {
                        let row: Option<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "UPDATE notify_messages SET next_attempt_at = $3, attempts = attempts + 1 \
                             WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2 RETURNING {NOTICE_COLUMNS}"
                        )))
                        .bind(id)
                        .bind(seen_at)
                        .bind(lease_until)
                        .fetch_optional(&self.pool)
                        .await?;
                        if let Some(row) = row {
                            claimed.push(Notice::try_from(row)?);
                        }
                    }
                    Ok(claimed)
                }

                async fn mark_notice_sent(&self, id: Uuid, claimed_until: DateTime<Utc>, subject: &str, body: &str, status: Option<u16>, at: DateTime<Utc>) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE notify_messages SET state = 'sent', subject = $2, body = $3, last_status = $4, last_error = NULL, sent_at = $5 \
                         WHERE id = $1 AND state = 'pending' AND next_attempt_at = $6",
                    )
                    .bind(id)
                    .bind(subject)
                    .bind(body)
                    .bind(status.map(i32::from))
                    .bind(audit_time(at))
                    .bind(audit_time(claimed_until))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn retry_notice(&self, id: Uuid, at: DateTime<Utc>, error: &str, status: Option<u16>) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE notify_messages SET next_attempt_at = $2, last_error = $3, last_status = $4 WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(audit_time(at))
                    .bind(error)
                    .bind(status.map(i32::from))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn fail_notice(&self, id: Uuid, error: &str, status: Option<u16>) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE notify_messages SET state = 'failed', last_error = $2, last_status = $3 WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(status.map(i32::from))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn list_ticket_notices(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Notice>> {
                    let rows: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {NOTICE_COLUMNS} FROM notify_messages WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY created_at, id LIMIT 1000"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(Notice::try_from).collect()
                }

                async fn notice_template(&self, tenant_id: Uuid, event: NoticeEvent, locale: Locale, channel: NoticeChannel) -> StoreResult<Option<NoticeTemplate>> {
                    let row: Option<(String, String)> = sqlx::query_as(
                        "SELECT subject, body FROM notify_templates WHERE tenant_id = $1 AND event = $2 AND locale = $3 AND channel = $4",
                    )
                    .bind(tenant_id)
                    .bind(event.as_str())
                    .bind(locale.as_str())
                    .bind(channel.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(|(subject, body)| NoticeTemplate { event, locale, channel, subject, body }))
                }

                async fn list_notice_templates(&self, tenant_id: Uuid) -> StoreResult<Vec<NoticeTemplate>> {
                    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
                        "SELECT event, locale, channel, subject, body FROM notify_templates WHERE tenant_id = $1 ORDER BY event, locale, channel",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(event, locale, channel, subject, body)| {
                            Ok(NoticeTemplate {
                                event: NoticeEvent::parse(&event).ok_or_else(|| StoreError::Corrupt(format!("notify_templates.event: {event:?}")))?,
                                locale: Locale::parse(&locale).ok_or_else(|| StoreError::Corrupt(format!("notify_templates.locale: {locale:?}")))?,
                                channel: NoticeChannel::parse(&channel).ok_or_else(|| StoreError::Corrupt(format!("notify_templates.channel: {channel:?}")))?,
                                subject,
                                body,
                            })
                        })
                        .collect()
                }

                async fn put_notice_template(&self, actor: Actor, template: &NoticeTemplate) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO notify_templates (tenant_id, event, locale, channel, subject, body, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (tenant_id, event, locale, channel) DO UPDATE SET subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at",
                    )
                    .bind(actor.tenant_id)
                    .bind(template.event.as_str())
                    .bind(template.locale.as_str())
                    .bind(template.channel.as_str())
                    .bind(&template.subject)
                    .bind(&template.body)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "notify_template.put", "notify_template", None, None, Some(template))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn delete_notice_template(&self, actor: Actor, event: NoticeEvent, locale: Locale, channel: NoticeChannel) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query("DELETE FROM notify_templates WHERE tenant_id = $1 AND event = $2 AND locale = $3 AND channel = $4")
                        .bind(actor.tenant_id)
                        .bind(event.as_str())
                        .bind(locale.as_str())
                        .bind(channel.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if deleted > 0 {
                        let key = serde_json::json!({"event": event, "locale": locale, "channel": channel});
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "notify_template.delete", "notify_template", None, Some(&key), None)).await?;
                    }
                    tx.commit().await?;
                    Ok(deleted > 0)
                }
            }
        };
    };
}

pub(crate) use impl_notify_store;
