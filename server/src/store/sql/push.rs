//! SQL behind `PushStore`: the push outbox, and the enqueue helpers a write
//! calls to make its notification durable in its own transaction.
//!
//! Claiming is a conditional `UPDATE … WHERE id = $ AND next_attempt_at = $old`
//! per candidate rather than `FOR UPDATE SKIP LOCKED` (PostgreSQL only): the
//! first claimer moves `next_attempt_at` to the end of its lease, so a
//! concurrent claimer's update matches no row and it skips the message.

macro_rules! impl_push_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::audit::{AuditEvent, audit_time};
            use $crate::store::{
                StoreError, StoreResult,
                push::{CLAIM_LEASE, NewPush, OutboxPush, PushContent, PushStore},
                rows::PushRow,
                sql::{PUSH_COLUMNS, audit, now, write_error},
            };

            impl $store {
                /// Queues one message inside a caller's write transaction, so a
                /// flow can make its change and its notification durable together.
                pub(crate) async fn enqueue_push_in(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    tenant_id: Uuid,
                    push: &NewPush,
                ) -> StoreResult<Uuid> {
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query(
                        "INSERT INTO push_outbox (id, tenant_id, user_id, device_id, token, title, body, data, attempts, next_attempt_at, state, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 'pending', $9)",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(push.user_id)
                    .bind(push.device_id)
                    .bind(&push.token)
                    .bind(&push.content.title)
                    .bind(&push.content.body)
                    .bind(Json(&push.content.data))
                    .bind(at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, "duplicate push", ("user_id", "no such user")))?;
                    Ok(id)
                }

                /// Queues `content` for every device of `user_id` with a push
                /// token, inside a caller's write transaction.
                pub(crate) async fn enqueue_user_pushes_in(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    tenant_id: Uuid,
                    user_id: Uuid,
                    content: &PushContent,
                ) -> StoreResult<Vec<Uuid>> {
                    let devices: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT id, push_token FROM devices \
                         WHERE tenant_id = $1 AND user_id = $2 AND push_token IS NOT NULL AND push_token <> '' \
                         ORDER BY id",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    let mut seen = std::collections::HashSet::new();
                    let mut ids = Vec::with_capacity(devices.len());
                    for (device_id, token) in devices {
                        // Two registrations of one phone share a token: one message.
                        if !seen.insert(token.clone()) {
                            continue;
                        }
                        let push = NewPush { user_id: Some(user_id), device_id: Some(device_id), token, content: content.clone() };
                        ids.push(Self::enqueue_push_in(tx, tenant_id, &push).await?);
                    }
                    Ok(ids)
                }
            }

            #[async_trait]
            impl PushStore for $store {
                async fn enqueue_push(&self, tenant_id: Uuid, push: &NewPush) -> StoreResult<Uuid> {
                    let mut tx = self.begin_write().await?;
                    let id = Self::enqueue_push_in(&mut tx, tenant_id, push).await?;
                    tx.commit().await?;
                    Ok(id)
                }

                #[tracing::instrument(skip_all, fields(user = %user_id))]
                async fn enqueue_push_for_user(&self, tenant_id: Uuid, user_id: Uuid, content: &PushContent) -> StoreResult<Vec<Uuid>> {
                    let mut tx = self.begin_write().await?;
                    let ids = Self::enqueue_user_pushes_in(&mut tx, tenant_id, user_id, content).await?;
                    tx.commit().await?;
                    Ok(ids)
                }

                #[tracing::instrument(skip_all)]
                async fn due_pushes(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<OutboxPush>> {
                    let now = audit_time(now);
                    let candidates: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
                        "SELECT id, next_attempt_at FROM push_outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at, id LIMIT $2",
                    )
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    let lease_until = now + CLAIM_LEASE;
                    let mut claimed = Vec::with_capacity(candidates.len());
                    for (id, seen_at) in candidates {
                        // Autocommit, one row at a time: no claimer holds locks
                        // on several rows, and a lost race simply matches nothing.
                        let row: Option<PushRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "UPDATE push_outbox SET next_attempt_at = $3, attempts = attempts + 1 \
                             WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2 RETURNING {PUSH_COLUMNS}"
                        )))
                        .bind(id)
                        .bind(seen_at)
                        .bind(lease_until)
                        .fetch_optional(&self.pool)
                        .await?;
                        if let Some(row) = row {
                            claimed.push(OutboxPush::try_from(row)?);
                        }
                    }
                    Ok(claimed)
                }

                async fn mark_push_sent(&self, id: Uuid) -> StoreResult<bool> {
                    let changed = sqlx::query("UPDATE push_outbox SET state = 'sent', last_error = NULL WHERE id = $1 AND state = 'pending'")
                        .bind(id)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    Ok(changed > 0)
                }

                async fn reschedule_push(&self, id: Uuid, at: DateTime<Utc>, error: &str) -> StoreResult<bool> {
                    let changed = sqlx::query(
                        "UPDATE push_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .bind(audit_time(at))
                    .bind(error)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(changed > 0)
                }

                async fn fail_push(&self, id: Uuid, error: &str) -> StoreResult<bool> {
                    let changed = sqlx::query("UPDATE push_outbox SET state = 'failed', last_error = $2 WHERE id = $1 AND state = 'pending'")
                        .bind(id)
                        .bind(error)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    Ok(changed > 0)
                }

                #[tracing::instrument(skip_all)]
                async fn forget_push_token(&self, tenant_id: Uuid, token: &str) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let devices: Vec<Uuid> = sqlx::query_scalar(
                        "UPDATE devices SET push_token = NULL WHERE tenant_id = $1 AND push_token = $2 RETURNING id",
                    )
                    .bind(tenant_id)
                    .bind(token)
                    .fetch_all(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE push_outbox SET state = 'failed', last_error = $3 \
                         WHERE tenant_id = $1 AND token = $2 AND state = 'pending'",
                    )
                    .bind(tenant_id)
                    .bind(token)
                    .bind("push token unregistered")
                    .execute(&mut *tx)
                    .await?;
                    let before = serde_json::json!({"push_token": "<redacted>"});
                    let after = serde_json::json!({"push_token": null});
                    for device_id in &devices {
                        audit::append(&mut tx, tenant_id, AuditEvent::new(None, "device.push_token_forget", "device", Some(*device_id), Some(&before), Some(&after))).await?;
                    }
                    tx.commit().await?;
                    Ok(devices.len() as u64)
                }

                #[tracing::instrument(skip_all, fields(device = %device_id))]
                async fn set_device_push_token(
                    &self,
                    actor: $crate::store::Actor,
                    user_id: Uuid,
                    device_id: Uuid,
                    token: Option<&str>,
                ) -> StoreResult<$crate::domain::people::Device> {
                    const DEVICE_COLUMNS: &str = "id, tenant_id, user_id, platform, push_token, actor_id, created_at";
                    let mut tx = self.begin_write().await?;
                    let before: Option<$crate::store::rows::DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {DEVICE_COLUMNS} FROM devices WHERE tenant_id = $1 AND id = $2 AND user_id = $3"
                    )))
                    .bind(actor.tenant_id)
                    .bind(device_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before = $crate::domain::people::Device::try_from(before.ok_or(StoreError::NotFound("device"))?)?;
                    let row: $crate::store::rows::DeviceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE devices SET push_token = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {DEVICE_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(device_id)
                    .bind(token)
                    .fetch_one(&mut *tx)
                    .await?;
                    let after = $crate::domain::people::Device::try_from(row)?;
                    match token {
                        // Messages queued for the old token go to the new one.
                        Some(token) => {
                            sqlx::query("UPDATE push_outbox SET token = $3 WHERE tenant_id = $1 AND device_id = $2 AND state = 'pending'")
                                .bind(actor.tenant_id)
                                .bind(device_id)
                                .bind(token)
                                .execute(&mut *tx)
                                .await?;
                        }
                        None => {
                            sqlx::query(
                                "UPDATE push_outbox SET state = 'failed', last_error = $3 WHERE tenant_id = $1 AND device_id = $2 AND state = 'pending'",
                            )
                            .bind(actor.tenant_id)
                            .bind(device_id)
                            .bind("push token cleared by the device")
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    if before.push_token != after.push_token {
                        let redact = |t: &Option<String>| serde_json::json!({"push_token": t.as_ref().map(|_| "<redacted>")});
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "device.push_token_set", "device", Some(device_id), Some(&redact(&before.push_token)), Some(&redact(&after.push_token)))).await?;
                    }
                    tx.commit().await?;
                    Ok(after)
                }

                async fn get_push(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<OutboxPush> {
                    let row: Option<PushRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {PUSH_COLUMNS} FROM push_outbox WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("push"))?.try_into()
                }
            }
        };
    };
}

pub(in crate::store) use impl_push_store;
