//! SQL behind `IntakeStore`: intake settings, mailboxes, the intake record
//! and the message ids that thread replies.

macro_rules! impl_intake_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::audit::AuditEvent;
            use $crate::domain::customers::Customer;
            use $crate::domain::people::normalize_email;
            use $crate::domain::ticket::Priority;
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                intake::{
                    Channel, Claim, Finish, IntakeMessage, IntakeMessageFilter,
                    IntakeSettings, IntakeStore, Mailbox, MailboxWrite, NewIntakeMessage,
                    Outcome, SettingsWrite,
                },
                rows::{CustomerRow, into_page},
                sql::{CUSTOMER_COLUMNS, audit, now, write_error},
            };

            const SETTINGS_COLUMNS: &str = "tenant_id, slug, category, priority, site_id, own_addresses, reopen_window_hours, sender_limit_per_hour, form_enabled, form_categories, token_hash, updated_at";
            const MAILBOX_COLUMNS: &str = "id, tenant_id, name, host, port, tls, username, password_sealed, folder, enabled, last_polled_at, last_error, created_at, updated_at";
            const MESSAGE_COLUMNS: &str = "id, channel, mailbox_id, message_id, sender, subject, outcome, reason, ticket_id, comment_id, media_count, received_at, finished_at";

            #[derive(sqlx::FromRow)]
            struct SettingsRow {
                tenant_id: Uuid,
                slug: String,
                category: String,
                priority: String,
                site_id: Uuid,
                own_addresses: Json<Vec<String>>,
                reopen_window_hours: i64,
                sender_limit_per_hour: i64,
                form_enabled: bool,
                form_categories: Json<Vec<String>>,
                token_hash: Option<String>,
                updated_at: DateTime<Utc>,
            }

            impl TryFrom<SettingsRow> for IntakeSettings {
                type Error = StoreError;
                fn try_from(r: SettingsRow) -> StoreResult<Self> {
                    Ok(Self {
                        tenant_id: r.tenant_id,
                        slug: r.slug,
                        category: r.category,
                        priority: Priority::parse(&r.priority).ok_or_else(|| StoreError::Corrupt(format!("intake priority {}", r.priority)))?,
                        site_id: r.site_id,
                        own_addresses: r.own_addresses.0,
                        reopen_window_hours: r.reopen_window_hours,
                        sender_limit_per_hour: r.sender_limit_per_hour,
                        form_enabled: r.form_enabled,
                        form_categories: r.form_categories.0,
                        has_token: r.token_hash.is_some(),
                        updated_at: r.updated_at,
                    })
                }
            }

            #[derive(sqlx::FromRow)]
            struct MailboxRow {
                id: Uuid,
                tenant_id: Uuid,
                name: String,
                host: String,
                port: i64,
                tls: bool,
                username: String,
                password_sealed: String,
                folder: String,
                enabled: bool,
                last_polled_at: Option<DateTime<Utc>>,
                last_error: Option<String>,
                created_at: DateTime<Utc>,
                updated_at: DateTime<Utc>,
            }

            impl TryFrom<MailboxRow> for Mailbox {
                type Error = StoreError;
                fn try_from(r: MailboxRow) -> StoreResult<Self> {
                    Ok(Self {
                        id: r.id,
                        tenant_id: r.tenant_id,
                        name: r.name,
                        host: r.host,
                        port: u16::try_from(r.port).map_err(|_| StoreError::Corrupt(format!("mailbox port {}", r.port)))?,
                        tls: r.tls,
                        username: r.username,
                        password_sealed: r.password_sealed,
                        folder: r.folder,
                        enabled: r.enabled,
                        last_polled_at: r.last_polled_at,
                        last_error: r.last_error,
                        created_at: r.created_at,
                        updated_at: r.updated_at,
                    })
                }
            }

            #[derive(sqlx::FromRow)]
            struct MessageRow {
                id: Uuid,
                channel: String,
                mailbox_id: Option<Uuid>,
                message_id: String,
                sender: String,
                subject: String,
                outcome: String,
                reason: Option<String>,
                ticket_id: Option<Uuid>,
                comment_id: Option<Uuid>,
                media_count: i64,
                received_at: DateTime<Utc>,
                finished_at: Option<DateTime<Utc>>,
            }

            impl TryFrom<MessageRow> for IntakeMessage {
                type Error = StoreError;
                fn try_from(r: MessageRow) -> StoreResult<Self> {
                    Ok(Self {
                        id: r.id,
                        channel: Channel::parse(&r.channel).ok_or_else(|| StoreError::Corrupt(format!("intake channel {}", r.channel)))?,
                        mailbox_id: r.mailbox_id,
                        message_id: r.message_id,
                        sender: r.sender,
                        subject: r.subject,
                        outcome: Outcome::parse(&r.outcome).ok_or_else(|| StoreError::Corrupt(format!("intake outcome {}", r.outcome)))?,
                        reason: r.reason,
                        ticket_id: r.ticket_id,
                        comment_id: r.comment_id,
                        media_count: r.media_count,
                        received_at: r.received_at,
                        finished_at: r.finished_at,
                    })
                }
            }

            #[async_trait]
            impl IntakeStore for $store {
                async fn intake_settings(&self, tenant_id: Uuid) -> StoreResult<Option<IntakeSettings>> {
                    let row: Option<SettingsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SETTINGS_COLUMNS} FROM intake_settings WHERE tenant_id = $1"
                    )))
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(TryInto::try_into).transpose()
                }

                async fn intake_settings_by_slug(&self, slug: &str) -> StoreResult<Option<IntakeSettings>> {
                    let row: Option<SettingsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SETTINGS_COLUMNS} FROM intake_settings WHERE slug = $1"
                    )))
                    .bind(slug)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(TryInto::try_into).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn put_intake_settings(&self, actor: Actor, settings: &SettingsWrite) -> StoreResult<IntakeSettings> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<SettingsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SETTINGS_COLUMNS} FROM intake_settings WHERE tenant_id = $1"
                    )))
                    .bind(actor.tenant_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before: Option<IntakeSettings> = before.map(TryInto::try_into).transpose()?;
                    let row: SettingsRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO intake_settings ({SETTINGS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11) \
                         ON CONFLICT (tenant_id) DO UPDATE SET slug = $2, category = $3, priority = $4, site_id = $5, own_addresses = $6, \
                         reopen_window_hours = $7, sender_limit_per_hour = $8, form_enabled = $9, form_categories = $10, updated_at = $11 \
                         RETURNING {SETTINGS_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(&settings.slug)
                    .bind(&settings.category)
                    .bind(settings.priority.as_str())
                    .bind(settings.site_id)
                    .bind(Json(&settings.own_addresses))
                    .bind(settings.reopen_window_hours)
                    .bind(settings.sender_limit_per_hour)
                    .bind(settings.form_enabled)
                    .bind(Json(&settings.form_categories))
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "this slug is taken by another tenant", ("site_id", "no such site in this tenant")))?;
                    let after: IntakeSettings = row.try_into()?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "intake.settings", "intake_settings", None, before.as_ref(), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn set_intake_token(&self, actor: Actor, token_hash: &str) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("UPDATE intake_settings SET token_hash = $2, updated_at = $3 WHERE tenant_id = $1")
                        .bind(actor.tenant_id)
                        .bind(token_hash)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("intake settings"));
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "intake.token", "intake_settings", None, None::<&()>, None::<&()>)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn tenant_by_intake_token(&self, token_hash: &str) -> StoreResult<Option<Uuid>> {
                    Ok(sqlx::query_scalar("SELECT tenant_id FROM intake_settings WHERE token_hash = $1")
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn create_mailbox(&self, actor: Actor, mailbox: &MailboxWrite) -> StoreResult<Mailbox> {
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let row: MailboxRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO intake_mailboxes ({MAILBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $11) \
                         RETURNING {MAILBOX_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(&mailbox.name)
                    .bind(&mailbox.host)
                    .bind(i64::from(mailbox.port))
                    .bind(mailbox.tls)
                    .bind(&mailbox.username)
                    .bind(&mailbox.password_sealed)
                    .bind(&mailbox.folder)
                    .bind(mailbox.enabled)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                    let created: Mailbox = row.try_into()?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "intake.mailbox.create", "intake_mailbox", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_mailbox(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Mailbox> {
                    let row: Option<MailboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MAILBOX_COLUMNS} FROM intake_mailboxes WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("mailbox"))?.try_into()
                }

                async fn list_mailboxes(&self, tenant_id: Uuid) -> StoreResult<Vec<Mailbox>> {
                    let rows: Vec<MailboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MAILBOX_COLUMNS} FROM intake_mailboxes WHERE tenant_id = $1 ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(TryInto::try_into).collect()
                }

                async fn update_mailbox(&self, actor: Actor, id: Uuid, mailbox: &MailboxWrite) -> StoreResult<Mailbox> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<MailboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE intake_mailboxes SET name = $3, host = $4, port = $5, tls = $6, username = $7, password_sealed = $8, \
                         folder = $9, enabled = $10, last_error = NULL, updated_at = $11 WHERE tenant_id = $1 AND id = $2 \
                         RETURNING {MAILBOX_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(&mailbox.name)
                    .bind(&mailbox.host)
                    .bind(i64::from(mailbox.port))
                    .bind(mailbox.tls)
                    .bind(&mailbox.username)
                    .bind(&mailbox.password_sealed)
                    .bind(&mailbox.folder)
                    .bind(mailbox.enabled)
                    .bind(now())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let updated: Mailbox = row.ok_or(StoreError::NotFound("mailbox"))?.try_into()?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "intake.mailbox.update", "intake_mailbox", Some(updated.id), None, Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn delete_mailbox(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("DELETE FROM intake_mailboxes WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("mailbox"));
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "intake.mailbox.delete", "intake_mailbox", Some(id), None::<&()>, None::<&()>)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn enabled_mailboxes(&self) -> StoreResult<Vec<Mailbox>> {
                    let rows: Vec<MailboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MAILBOX_COLUMNS} FROM intake_mailboxes WHERE enabled = TRUE ORDER BY id"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(TryInto::try_into).collect()
                }

                async fn mailbox_polled(&self, tenant_id: Uuid, id: Uuid, at: DateTime<Utc>, error: Option<&str>) -> StoreResult<()> {
                    sqlx::query("UPDATE intake_mailboxes SET last_polled_at = $3, last_error = $4 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id)
                        .bind(at)
                        .bind(error)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn claim_intake_message(&self, tenant_id: Uuid, message: &NewIntakeMessage) -> StoreResult<Claim> {
                    let id = Uuid::now_v7();
                    let inserted = sqlx::query(
                        "INSERT INTO intake_messages (id, tenant_id, channel, mailbox_id, message_id, sender, subject, outcome, received_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'processing', $8) ON CONFLICT (tenant_id, message_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(message.channel.as_str())
                    .bind(message.mailbox_id)
                    .bind(&message.message_id)
                    .bind(normalize_email(&message.sender))
                    .bind(&message.subject)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        return Ok(Claim::New(id));
                    }
                    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MESSAGE_COLUMNS} FROM intake_messages WHERE tenant_id = $1 AND message_id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(&message.message_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(Claim::Seen(row.ok_or(StoreError::NotFound("intake message"))?.try_into()?))
                }

                async fn release_intake_message(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<()> {
                    sqlx::query("DELETE FROM intake_messages WHERE tenant_id = $1 AND id = $2 AND outcome = 'processing'")
                        .bind(tenant_id)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn finish_intake_message(&self, actor: Actor, id: Uuid, finish: &Finish) -> StoreResult<IntakeMessage> {
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE intake_messages SET outcome = $3, reason = $4, ticket_id = $5, comment_id = $6, media_count = $7, finished_at = $8 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {MESSAGE_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(finish.outcome.as_str())
                    .bind(&finish.reason)
                    .bind(finish.ticket_id)
                    .bind(finish.comment_id)
                    .bind(finish.media_count)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let message: IntakeMessage = row.ok_or(StoreError::NotFound("intake message"))?.try_into()?;
                    if let Some(ticket_id) = message.ticket_id
                        && matches!(message.outcome, Outcome::Ticket | Outcome::Comment)
                    {
                        if let Some(thread) = &finish.thread_message_id {
                            sqlx::query(
                                "INSERT INTO ticket_message_ids (tenant_id, message_id, ticket_id, created_at) VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (tenant_id, message_id) DO NOTHING",
                            )
                            .bind(actor.tenant_id)
                            .bind(thread)
                            .bind(ticket_id)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| write_error(e, "message id already threaded", ("ticket_id", "no such ticket")))?;
                        }
                        let received = serde_json::json!({
                            "channel": message.channel,
                            "sender": message.sender,
                            "subject": message.subject,
                            "message_id": message.message_id,
                            "outcome": message.outcome,
                            "comment_id": message.comment_id,
                            "media_count": message.media_count,
                            "intake_message_id": message.id,
                        });
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.received", "ticket", Some(ticket_id), None, Some(&received))).await?;
                    }
                    tx.commit().await?;
                    Ok(message)
                }

                async fn list_intake_messages(&self, tenant_id: Uuid, filter: &IntakeMessageFilter, page: PageRequest) -> StoreResult<Page<IntakeMessage>> {
                    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {MESSAGE_COLUMNS} FROM intake_messages WHERE tenant_id = $1 AND ($2 IS NULL OR outcome = $2) \
                         AND ($3 IS NULL OR ticket_id = $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
                    )))
                    .bind(tenant_id)
                    .bind(filter.outcome.map(Outcome::as_str))
                    .bind(filter.ticket_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let items = rows.into_iter().map(TryInto::try_into).collect::<StoreResult<Vec<IntakeMessage>>>()?;
                    Ok(into_page(items, page.limit, |m: &IntakeMessage| m.id))
                }

                async fn accepted_from_sender(&self, tenant_id: Uuid, sender: &str, since: DateTime<Utc>) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar(
                        "SELECT COUNT(*) FROM intake_messages WHERE tenant_id = $1 AND sender = $2 AND received_at >= $3 \
                         AND outcome IN ('processing', 'ticket', 'comment')",
                    )
                    .bind(tenant_id)
                    .bind(normalize_email(sender))
                    .bind(since)
                    .fetch_one(&self.pool)
                    .await?)
                }

                async fn ticket_for_message_ids(&self, tenant_id: Uuid, message_ids: &[String]) -> StoreResult<Option<Uuid>> {
                    for message_id in message_ids {
                        let found: Option<Uuid> = sqlx::query_scalar(
                            "SELECT ticket_id FROM ticket_message_ids WHERE tenant_id = $1 AND message_id = $2",
                        )
                        .bind(tenant_id)
                        .bind(message_id)
                        .fetch_optional(&self.pool)
                        .await?;
                        if found.is_some() {
                            return Ok(found);
                        }
                    }
                    Ok(None)
                }

                async fn remember_message_id(&self, tenant_id: Uuid, ticket_id: Uuid, message_id: &str) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO ticket_message_ids (tenant_id, message_id, ticket_id, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, message_id) DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(message_id)
                    .bind(ticket_id)
                    .bind(now())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| write_error(e, "message id already threaded", ("ticket_id", "no such ticket")))?;
                    Ok(())
                }

                async fn ticket_closed_at(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<DateTime<Utc>>> {
                    Ok(sqlx::query_scalar(
                        "SELECT at FROM ticket_status_history WHERE tenant_id = $1 AND ticket_id = $2 AND status = 'closed' \
                         ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?)
                }

                async fn customer_by_email(&self, tenant_id: Uuid, email: &str) -> StoreResult<Option<Customer>> {
                    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND email = $2 ORDER BY id LIMIT 1"
                    )))
                    .bind(tenant_id)
                    .bind(normalize_email(email))
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(TryInto::try_into).transpose()
                }

                async fn first_site_of(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<Option<Uuid>> {
                    Ok(sqlx::query_scalar("SELECT id FROM sites WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id LIMIT 1")
                        .bind(tenant_id)
                        .bind(customer_id)
                        .fetch_optional(&self.pool)
                        .await?)
                }
            }
        };
    };
}

pub(in crate::store) use impl_intake_store;
