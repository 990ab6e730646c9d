//! SQL behind `WebhookStore`, and the enqueue helpers every write that
//! reports an event calls inside its own transaction.
//!
//! Claiming works like the push outbox: candidates are read, then each is
//! taken by an autocommit conditional update on (seq, state, next_attempt_at).

macro_rules! impl_webhook_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{audit::{AuditEvent, audit_time}, ticket::Ticket};
            use $crate::store::{
                Actor, StoreError, StoreResult,
                sql::{DELIVERY_COLUMNS, audit, now, write_error},
                webhooks::{ClaimedDelivery, DELIVERY_LEASE, DeliveryState, Webhook, WebhookDelivery, WebhookStore},
            };

            type Tx = sqlx::Transaction<'static, $db>;
            type WebhookRow = (Uuid, String, Json<Vec<String>>, bool, DateTime<Utc>, DateTime<Utc>);
            type DeliveryRow = (
                Uuid, Uuid, Uuid, String, Option<Uuid>, String, String, i32, DateTime<Utc>, Option<i32>, Option<String>,
                DateTime<Utc>, Option<DateTime<Utc>>,
            );

            fn webhook_from(row: WebhookRow) -> Webhook {
                let (id, url, events, active, created_at, updated_at) = row;
                Webhook { id, url, events: events.0, active, created_at, updated_at }
            }

            fn delivery_from(row: DeliveryRow) -> StoreResult<WebhookDelivery> {
                let (id, subscription_id, event_id, event_type, ticket_id, body, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at) = row;
                Ok(WebhookDelivery {
                    id,
                    subscription_id,
                    event_id,
                    event_type,
                    ticket_id,
                    body,
                    state: DeliveryState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("webhook_deliveries.state: {state:?}")))?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    next_attempt_at,
                    last_status: last_status.and_then(|s| u16::try_from(s).ok()),
                    last_error,
                    created_at,
                    delivered_at,
                })
            }

            impl $store {
                /// Queues `event_type` with `data` for every active subscription of
                /// the tenant that wants it, inside the caller's transaction.
                pub(crate) async fn enqueue_webhooks_in(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    event_type: &str,
                    ticket_id: Option<Uuid>,
                    data: serde_json::Value,
                ) -> StoreResult<usize> {
                    let subscriptions: Vec<(Uuid, Json<Vec<String>>)> =
                        sqlx::query_as("SELECT id, events FROM webhook_subscriptions WHERE tenant_id = $1 AND active ORDER BY id")
                            .bind(tenant_id)
                            .fetch_all(&mut **tx)
                            .await?;
                    let wanted: Vec<Uuid> = subscriptions
                        .into_iter()
                        .filter(|(_, events)| events.0.iter().any(|e| e == event_type))
                        .map(|(id, _)| id)
                        .collect();
                    if wanted.is_empty() {
                        return Ok(0);
                    }
                    let event_id = Uuid::now_v7();
                    let at = now();
                    let body = serde_json::json!({
                        "id": event_id,
                        "type": event_type,
                        "created_at": at,
                        "tenant_id": tenant_id,
                        "data": data,
                    })
                    .to_string();
                    for subscription_id in &wanted {
                        sqlx::query(
                            "INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_id, event_type, ticket_id, body, state, attempts, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
                        )
                        .bind(Uuid::now_v7())
                        .bind(tenant_id)
                        .bind(subscription_id)
                        .bind(event_id)
                        .bind(event_type)
                        .bind(ticket_id)
                        .bind(&body)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(wanted.len())
                }

                /// Queues the ticket events a write implies: `ticket.created`
                /// (no `before`), `ticket.assigned` (a new assignee),
                /// `ticket.status_changed`, and `ticket.completed` (work done).
                pub(crate) async fn enqueue_ticket_webhooks_in(
                    tx: &mut Tx,
                    before: Option<&Ticket>,
                    after: &Ticket,
                ) -> StoreResult<()> {
                    // The customer's messages ride on the same hook: every ticket write calls it.
                    Self::enqueue_ticket_notices_in(tx, before, after).await?;
                    let tenant_id = after.tenant_id;
                    let ticket = Some(after.id);
                    match before {
                        None => {
                            Self::enqueue_webhooks_in(tx, tenant_id, "ticket.created", ticket, serde_json::json!({"ticket": after})).await?;
                        }
                        Some(before) => {
                            if after.assignee_id.is_some() && after.assignee_id != before.assignee_id {
                                let data = serde_json::json!({"ticket": after, "previous_assignee_id": before.assignee_id});
                                Self::enqueue_webhooks_in(tx, tenant_id, "ticket.assigned", ticket, data).await?;
                            }
                            if after.status != before.status {
                                let data = serde_json::json!({"ticket": after, "previous_status": before.status.as_str()});
                                Self::enqueue_webhooks_in(tx, tenant_id, "ticket.status_changed", ticket, data).await?;
                                if after.status == truckroll_sync::Status::WorkDone {
                                    Self::enqueue_webhooks_in(tx, tenant_id, "ticket.completed", ticket, serde_json::json!({"ticket": after})).await?;
                                }
                            }
                        }
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl WebhookStore for $store {
                async fn queue_tenant_event_webhooks(&self, tenant_id: Uuid, event_type: &str, data: serde_json::Value) -> StoreResult<usize> {
                    let mut tx = self.begin_write().await?;
                    let queued = Self::enqueue_webhooks_in(&mut tx, tenant_id, event_type, None, data).await?;
                    tx.commit().await?;
                    Ok(queued)
                }

                async fn create_webhook(&self, actor: Actor, url: &str, events: &[String], active: bool, secret: &str) -> StoreResult<Webhook> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query(
                        "INSERT INTO webhook_subscriptions (id, tenant_id, url, secret, events, active, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(url)
                    .bind(secret)
                    .bind(Json(events))
                    .bind(active)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "webhook exists", ("tenant", "no such tenant")))?;
                    let webhook = Webhook { id, url: url.to_owned(), events: events.to_vec(), active, created_at: at, updated_at: at };
                    // The secret never enters the audit log.
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "webhook.create", "webhook", Some(id), None, Some(&webhook))).await?;
                    tx.commit().await?;
                    Ok(webhook)
                }

                async fn list_webhooks(&self, tenant_id: Uuid) -> StoreResult<Vec<Webhook>> {
                    let rows: Vec<WebhookRow> = sqlx::query_as(
                        "SELECT id, url, events, active, created_at, updated_at FROM webhook_subscriptions WHERE tenant_id = $1 ORDER BY id",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(webhook_from).collect())
                }

                async fn get_webhook(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Webhook> {
                    let row: Option<WebhookRow> = sqlx::query_as(
                        "SELECT id, url, events, active, created_at, updated_at FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(webhook_from).ok_or(StoreError::NotFound("webhook"))
                }

                async fn update_webhook(&self, actor: Actor, webhook: &Webhook) -> StoreResult<Webhook> {
                    let before = self.get_webhook(actor.tenant_id, webhook.id).await?;
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let changed = sqlx::query(
                        "UPDATE webhook_subscriptions SET url = $3, events = $4, active = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(webhook.id)
                    .bind(&webhook.url)
                    .bind(Json(&webhook.events))
                    .bind(webhook.active)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound("webhook"));
                    }
                    let after = Webhook { updated_at: at, created_at: before.created_at, ..webhook.clone() };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "webhook.update", "webhook", Some(webhook.id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_webhook(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let before = self.get_webhook(actor.tenant_id, id).await?;
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND subscription_id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "webhook.delete", "webhook", Some(id), Some(&before), None::<&Webhook>)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn claim_webhook_deliveries(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<ClaimedDelivery>> {
                    let now = audit_time(now);
                    let candidates: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
                        "SELECT d.seq, d.next_attempt_at FROM webhook_deliveries d \
                         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.subscription_id = d.subscription_id \
                             AND e.ticket_id = d.ticket_id AND e.state = 'pending' AND e.seq < d.seq) \
                         ORDER BY d.seq LIMIT $2",
                    )
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    let lease_until = now + DELIVERY_LEASE;
                    let mut claimed = Vec::with_capacity(candidates.len());
                    for (seq, seen_at) in candidates {
                        let taken = sqlx::query(
                            "UPDATE webhook_deliveries SET next_attempt_at = $3, attempts = attempts + 1 \
                             WHERE seq = $1 AND state = 'pending' AND next_attempt_at = $2",
                        )
                        .bind(seq)
                        .bind(seen_at)
                        .bind(lease_until)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        if taken == 0 {
                            continue;
                        }
                        let row: Option<(DeliveryRow, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {DELIVERY_COLUMNS}, s.url, s.secret FROM webhook_deliveries d \
                             JOIN webhook_subscriptions s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id WHERE d.seq = $1"
                        )))
                        .bind(seq)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(|row: DeliveryFlatRow| row.split());
                        if let Some((row, url, secret)) = row {
                            claimed.push(ClaimedDelivery { delivery: delivery_from(row)?, url, secret });
                        }
                    }
                    Ok(claimed)
                }

                async fn mark_webhook_delivered(&self, id: Uuid, status: u16, at: DateTime<Utc>) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'delivered', last_status = $2, last_error = NULL, delivered_at = $3 \
                         WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(i32::from(status))
                    .bind(audit_time(at))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn retry_webhook_delivery(&self, id: Uuid, at: DateTime<Utc>, status: Option<u16>, error: &str) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE webhook_deliveries SET next_attempt_at = $2, last_status = $3, last_error = $4 WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(audit_time(at))
                    .bind(status.map(i32::from))
                    .bind(error)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn dead_letter_webhook_delivery(&self, id: Uuid, status: Option<u16>, error: &str) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'dead', last_status = $2, last_error = $3 WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(status.map(i32::from))
                    .bind(error)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn list_webhook_deliveries(&self, tenant_id: Uuid, subscription_id: Option<Uuid>, state: Option<DeliveryState>) -> StoreResult<Vec<WebhookDelivery>> {
                    let mut query = sqlx::QueryBuilder::<$db>::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.tenant_id = "));
                    query.push_bind(tenant_id);
                    if let Some(subscription_id) = subscription_id {
                        query.push(" AND d.subscription_id = ").push_bind(subscription_id);
                    }
                    if let Some(state) = state {
                        query.push(" AND d.state = ").push_bind(state.as_str());
                    }
                    query.push(" ORDER BY d.seq DESC LIMIT 500");
                    let rows: Vec<DeliveryRow> = query.build_query_as().fetch_all(&self.pool).await?;
                    rows.into_iter().map(delivery_from).collect()
                }

                async fn list_ticket_webhook_deliveries(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<WebhookDelivery>> {
                    let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.tenant_id = $1 AND d.ticket_id = $2 ORDER BY d.seq LIMIT 500"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(delivery_from).collect()
                }

                async fn redeliver_webhook_delivery(&self, actor: Actor, id: Uuid, now: DateTime<Utc>) -> StoreResult<WebhookDelivery> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, delivered_at = NULL \
                         WHERE tenant_id = $1 AND id = $2 AND state <> 'pending'",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(audit_time(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        let exists: Option<String> = sqlx::query_scalar("SELECT state FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2")
                            .bind(actor.tenant_id)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        return Err(match exists {
                            Some(_) => StoreError::Conflict("the delivery is still pending".into()),
                            None => StoreError::NotFound("webhook delivery"),
                        });
                    }
                    let row: DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.tenant_id = $1 AND d.id = $2"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let delivery = delivery_from(row)?;
                    let after = serde_json::json!({"delivery_id": id, "event_id": delivery.event_id});
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "webhook.redeliver", "webhook", Some(delivery.subscription_id), None, Some(&after))).await?;
                    tx.commit().await?;
                    Ok(delivery)
                }
            }

            /// A delivery row with its subscription's url and secret.
            #[derive(sqlx::FromRow)]
            struct DeliveryFlatRow {
                id: Uuid,
                subscription_id: Uuid,
                event_id: Uuid,
                event_type: String,
                ticket_id: Option<Uuid>,
                body: String,
                state: String,
                attempts: i32,
                next_attempt_at: DateTime<Utc>,
                last_status: Option<i32>,
                last_error: Option<String>,
                created_at: DateTime<Utc>,
                delivered_at: Option<DateTime<Utc>>,
                url: String,
                secret: String,
            }

            impl DeliveryFlatRow {
                fn split(self) -> (DeliveryRow, String, String) {
                    (
                        (self.id, self.subscription_id, self.event_id, self.event_type, self.ticket_id, self.body, self.state,
                         self.attempts, self.next_attempt_at, self.last_status, self.last_error, self.created_at, self.delivered_at),
                        self.url,
                        self.secret,
                    )
                }
            }
        };
    };
}

pub(in crate::store) use impl_webhook_store;
