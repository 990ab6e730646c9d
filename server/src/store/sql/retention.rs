//! SQL behind `RetentionStore`: tenant policies, bounded sweeps, shared
//! sign-in failures.

macro_rules! impl_retention_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::domain::audit::AuditEvent;
            use $crate::store::{
                Actor, StoreError, StoreResult,
                retention::{RetentionPolicy, RetentionStore, SweepKind, Swept, SweptObject, TenantSweep},
                sql::{audit, now},
            };

            /// Ticket `t` of tenant `$1` closed or cancelled with no status
            /// change since `$2`.
            const CLOSED_BEFORE: &str = "t.tenant_id = $1 AND t.status IN ('closed', 'cancelled') AND t.created_at < $2 \
                 AND NOT EXISTS (SELECT 1 FROM ticket_status_history h \
                                 WHERE h.tenant_id = t.tenant_id AND h.ticket_id = t.id AND h.at >= $2)";

            type PolicyRow = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

            fn policy(row: PolicyRow) -> RetentionPolicy {
                let days = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
                RetentionPolicy {
                    closed_ticket_anonymise_months: days(row.0),
                    media_days: days(row.1),
                    location_days: days(row.2),
                    comment_days: days(row.3),
                }
            }

            const POLICY_COLUMNS: &str = "closed_ticket_anonymise_months, media_days, location_days, comment_days";

            #[async_trait]
            impl RetentionStore for $store {
                #[tracing::instrument(skip_all)]
                async fn retention_policy(&self, tenant_id: Uuid) -> StoreResult<RetentionPolicy> {
                    let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {POLICY_COLUMNS} FROM retention_policies WHERE tenant_id = $1"
                    )))
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(policy).unwrap_or_default())
                }

                #[tracing::instrument(skip_all)]
                async fn set_retention_policy(&self, actor: Actor, new: &RetentionPolicy) -> StoreResult<RetentionPolicy> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {POLICY_COLUMNS} FROM retention_policies WHERE tenant_id = $1"
                    )))
                    .bind(actor.tenant_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before = before.map(policy).unwrap_or_default();
                    sqlx::query(
                        "INSERT INTO retention_policies \
                         (tenant_id, closed_ticket_anonymise_months, media_days, location_days, comment_days, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (tenant_id) DO UPDATE SET \
                         closed_ticket_anonymise_months = excluded.closed_ticket_anonymise_months, \
                         media_days = excluded.media_days, location_days = excluded.location_days, \
                         comment_days = excluded.comment_days, updated_at = excluded.updated_at",
                    )
                    .bind(actor.tenant_id)
                    .bind(new.closed_ticket_anonymise_months.map(i64::from))
                    .bind(new.media_days.map(i64::from))
                    .bind(new.location_days.map(i64::from))
                    .bind(new.comment_days.map(i64::from))
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "retention.update", "retention_policy", None, Some(&before), Some(new))).await?;
                    tx.commit().await?;
                    Ok(*new)
                }

                #[tracing::instrument(skip_all)]
                async fn retention_policies(&self) -> StoreResult<Vec<(Uuid, RetentionPolicy)>> {
                    let rows: Vec<(Uuid, Option<i64>, Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT tenant_id, {POLICY_COLUMNS} FROM retention_policies ORDER BY tenant_id"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|(t, a, b, c, d)| (t, policy((a, b, c, d)))).collect())
                }

                #[tracing::instrument(skip_all, fields(kind = kind.name()))]
                async fn sweep_expired(&self, kind: SweepKind, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
                    let sql = match kind {
                        SweepKind::IdempotencyKeys => "DELETE FROM idempotency_keys WHERE (tenant_id, user_id, key) IN \
                             (SELECT tenant_id, user_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
                        SweepKind::DeliveredWebhooks => "DELETE FROM webhook_deliveries WHERE seq IN \
                             (SELECT seq FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < $1 LIMIT $2)",
                        SweepKind::SentPush => "DELETE FROM push_outbox WHERE id IN \
                             (SELECT id FROM push_outbox WHERE state = 'sent' AND created_at < $1 LIMIT $2)",
                        SweepKind::SentNotifications => "DELETE FROM notify_messages WHERE id IN \
                             (SELECT id FROM notify_messages WHERE state = 'sent' AND sent_at < $1 LIMIT $2)",
                        SweepKind::ReadStaffNotifications => "DELETE FROM staff_notifications WHERE id IN \
                             (SELECT id FROM staff_notifications WHERE read_at < $1 LIMIT $2)",
                        SweepKind::ExpiredSessions => "DELETE FROM refresh_tokens WHERE token_hash IN \
                             (SELECT token_hash FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)",
                        SweepKind::LoginFailures => "DELETE FROM login_failures WHERE pair_hash IN \
                             (SELECT pair_hash FROM login_failures WHERE last_failed_at < $1 LIMIT $2)",
                        SweepKind::DefaultLocations => "DELETE FROM technician_locations WHERE (technician_id, device_time) IN \
                             (SELECT technician_id, device_time FROM technician_locations WHERE device_time < $1 \
                              AND tenant_id NOT IN (SELECT tenant_id FROM retention_policies WHERE location_days IS NOT NULL) LIMIT $2)",
                    };
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query(sql)
                        .bind(before)
                        .bind(i64::from(limit))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok(deleted)
                }

                #[tracing::instrument(skip_all, fields(sweep = sweep.name()))]
                async fn sweep_tenant(&self, tenant_id: Uuid, sweep: TenantSweep, before: DateTime<Utc>, at: DateTime<Utc>, limit: u32) -> StoreResult<Swept> {
                    let limit = i64::from(limit);
                    let mut tx = self.begin_write().await?;
                    let swept = match sweep {
                        TenantSweep::Locations => {
                            let rows = sqlx::query(
                                "DELETE FROM technician_locations WHERE (technician_id, device_time) IN \
                                 (SELECT technician_id, device_time FROM technician_locations \
                                  WHERE tenant_id = $1 AND device_time < $2 LIMIT $3)",
                            )
                            .bind(tenant_id)
                            .bind(before)
                            .bind(limit)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            Swept { rows, objects: Vec::new() }
                        }
                        TenantSweep::Comments => {
                            let tickets: Vec<(Uuid,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                                "DELETE FROM comments WHERE id IN \
                                 (SELECT c.id FROM comments c JOIN tickets t ON t.tenant_id = c.tenant_id AND t.id = c.ticket_id \
                                  WHERE c.tenant_id = $1 AND {CLOSED_BEFORE} LIMIT $3) RETURNING ticket_id"
                            )))
                            .bind(tenant_id)
                            .bind(before)
                            .bind(limit)
                            .fetch_all(&mut *tx)
                            .await?;
                            let rows = tickets.len() as u64;
                            let mut ids: Vec<Uuid> = tickets.into_iter().map(|(id,)| id).collect();
                            ids.sort();
                            ids.dedup();
                            for ticket_id in ids {
                                Self::index_ticket(&mut tx, tenant_id, ticket_id).await?;
                            }
                            Swept { rows, objects: Vec::new() }
                        }
                        TenantSweep::Media => {
                            let deleted: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                                "DELETE FROM media WHERE id IN \
                                 (SELECT m.id FROM media m JOIN tickets t ON t.tenant_id = m.tenant_id AND t.id = m.ticket_id \
                                  WHERE m.tenant_id = $1 AND m.kind <> 'signature' \
                                    AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.media_id = m.id) \
                                    AND {CLOSED_BEFORE} LIMIT $3) RETURNING sha256"
                            )))
                            .bind(tenant_id)
                            .bind(before)
                            .bind(limit)
                            .fetch_all(&mut *tx)
                            .await?;
                            Swept {
                                rows: deleted.len() as u64,
                                objects: deleted.into_iter().map(|(sha256,)| SweptObject { tenant_id, sha256 }).collect(),
                            }
                        }
                        TenantSweep::AnonymiseTickets => {
                            let ids: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                                "SELECT t.id, t.title FROM tickets t WHERE {CLOSED_BEFORE} AND t.anonymised_at IS NULL ORDER BY t.id LIMIT $3"
                            )))
                            .bind(tenant_id)
                            .bind(before)
                            .bind(limit)
                            .fetch_all(&mut *tx)
                            .await?;
                            for (ticket_id, title) in &ids {
                                sqlx::query(
                                    "UPDATE tickets SET description = '', custom_fields = '{}', search_text = $3, anonymised_at = $4 \
                                     WHERE tenant_id = $1 AND id = $2",
                                )
                                .bind(tenant_id)
                                .bind(ticket_id)
                                .bind(format!("{}\n", title.to_lowercase()))
                                .bind(at)
                                .execute(&mut *tx)
                                .await?;
                                sqlx::query("UPDATE comments SET body = '' WHERE tenant_id = $1 AND ticket_id = $2")
                                    .bind(tenant_id)
                                    .bind(ticket_id)
                                    .execute(&mut *tx)
                                    .await?;
                                Self::index_ticket(&mut tx, tenant_id, *ticket_id).await?;
                                let what: Option<&()> = None;
                                audit::append(&mut tx, tenant_id, AuditEvent::new(None, "ticket.anonymise", "ticket", Some(*ticket_id), what, what)).await?;
                            }
                            Swept { rows: ids.len() as u64, objects: Vec::new() }
                        }
                    };
                    tx.commit().await?;
                    Ok(swept)
                }

                #[tracing::instrument(skip_all)]
                async fn squash_candidates(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<Vec<(Uuid, Uuid, i64)>> {
                    Ok(sqlx::query_as(
                        "SELECT d.tenant_id, d.ticket_id, d.version FROM ticket_documents d \
                         JOIN tickets t ON t.tenant_id = d.tenant_id AND t.id = d.ticket_id \
                         WHERE t.status IN ('closed', 'cancelled') AND t.created_at < $1 \
                           AND (d.squashed_at IS NULL OR d.squashed_at < d.updated_at) \
                           AND NOT EXISTS (SELECT 1 FROM ticket_status_history h \
                                           WHERE h.tenant_id = t.tenant_id AND h.ticket_id = t.id AND h.at >= $1) \
                         ORDER BY d.ticket_id LIMIT $2",
                    )
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn replace_squashed_document(&self, tenant_id: Uuid, ticket_id: Uuid, version: i64, snapshot: &[u8], at: DateTime<Utc>) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let replaced = sqlx::query(
                        "UPDATE ticket_documents SET snapshot = $4, incremental_bytes = 0, version = version + 1, \
                         updated_at = $5, squashed_at = $5 \
                         WHERE tenant_id = $1 AND ticket_id = $2 AND version = $3",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(version)
                    .bind(snapshot)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if replaced == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM ticket_document_chunks WHERE ticket_id = $1")
                        .bind(ticket_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM device_sync_states WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .execute(&mut *tx)
                        .await?;
                    let what: Option<&()> = None;
                    audit::append(&mut tx, tenant_id, AuditEvent::new(None, "ticket.document_squash", "ticket", Some(ticket_id), what, what)).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn login_failures(&self, pair_hash: &str) -> StoreResult<Option<(u32, DateTime<Utc>)>> {
                    let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as("SELECT failures, last_failed_at FROM login_failures WHERE pair_hash = $1")
                        .bind(pair_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|(failures, at)| {
                        u32::try_from(failures).map(|f| (f, at)).map_err(|_| StoreError::Corrupt("login failure count".into()))
                    })
                    .transpose()
                }

                async fn record_login_failure(&self, pair_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO login_failures (pair_hash, failures, last_failed_at) VALUES ($1, 1, $2) \
                         ON CONFLICT (pair_hash) DO UPDATE SET failures = login_failures.failures + 1, last_failed_at = excluded.last_failed_at",
                    )
                    .bind(pair_hash)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn clear_login_failures(&self, pair_hash: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM login_failures WHERE pair_hash = $1")
                        .bind(pair_hash)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_retention_store;
