//! SQL behind `WatchStore`: the rules version, ticket watchers, notices that
//! respect ticket visibility, and time-based firings.

macro_rules! impl_watch_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::BTreeSet;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::domain::{audit::audit_time, people::Role, ticket::Ticket};
            use $crate::store::{
                StoreResult,
                rows::TicketRow,
                sql::{TICKET_COLUMNS, now, write_error},
                watch::{TicketNotice, WatchStore},
            };

            /// Tickets still being worked.
            const OPEN: &str = "('new', 'assigned', 'accepted', 'en_route', 'on_site', 'on_hold')";

            #[async_trait]
            impl WatchStore for $store {
                async fn rules_version(&self, tenant_id: Uuid) -> StoreResult<i64> {
                    let row: Option<(i64,)> = sqlx::query_as("SELECT version FROM automation_rule_versions WHERE tenant_id = $1")
                        .bind(tenant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map_or(0, |(v,)| v))
                }

                async fn watch_ticket(&self, tenant_id: Uuid, ticket_id: Uuid, user_id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO ticket_watchers (tenant_id, ticket_id, user_id, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, ticket_id, user_id) DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(user_id)
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "already watching", ("ticket_id", "no such ticket or user")))?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn unwatch_ticket(&self, tenant_id: Uuid, ticket_id: Uuid, user_id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM ticket_watchers WHERE tenant_id = $1 AND ticket_id = $2 AND user_id = $3")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn ticket_watchers(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Uuid>> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT user_id FROM ticket_watchers WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY user_id",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|(u,)| u).collect())
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket.id))]
                async fn notify_ticket_users(
                    &self,
                    tenant_id: Uuid,
                    ticket: &Ticket,
                    users: &[Uuid],
                    except: Option<Uuid>,
                    notice: &TicketNotice,
                ) -> StoreResult<Vec<Uuid>> {
                    let wanted: BTreeSet<Uuid> = users.iter().copied().filter(|u| Some(*u) != except).collect();
                    if wanted.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let mut sent = Vec::new();
                    for user_id in wanted {
                        let role: Option<(String,)> = sqlx::query_as("SELECT role FROM users WHERE tenant_id = $1 AND id = $2 AND active")
                            .bind(tenant_id)
                            .bind(user_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some((role,)) = role else { continue };
                        if role == Role::Technician.as_str() {
                            // A technician sees only the tickets assigned to them.
                            let Some(assignee) = ticket.assignee_id else { continue };
                            let own: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM technicians WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
                                .bind(tenant_id)
                                .bind(user_id)
                                .bind(assignee)
                                .fetch_optional(&mut *tx)
                                .await?;
                            if own.is_none() {
                                continue;
                            }
                        }
                        sqlx::query(
                            "INSERT INTO staff_notifications (id, tenant_id, user_id, ticket_id, source, title, body, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(Uuid::now_v7())
                        .bind(tenant_id)
                        .bind(user_id)
                        .bind(ticket.id)
                        .bind(notice.source)
                        .bind(&notice.title)
                        .bind(&notice.body)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_error(e, "duplicate notification", ("user_id", "no such user")))?;
                        let content = $crate::store::push::PushContent {
                            title: notice.title.clone(),
                            body: notice.body.clone(),
                            data: [("ticket_id".to_owned(), ticket.id.to_string()), ("kind".to_owned(), notice.source.to_owned())]
                                .into_iter()
                                .collect(),
                        };
                        Self::enqueue_user_pushes_in(&mut tx, tenant_id, user_id, &content).await?;
                        sent.push(user_id);
                    }
                    tx.commit().await?;
                    Ok(sent)
                }

                async fn claim_timed_firing(&self, tenant_id: Uuid, rule_id: Uuid, ticket_id: Uuid, anchor: DateTime<Utc>) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let claimed = sqlx::query(
                        "INSERT INTO timed_rule_firings (tenant_id, rule_id, ticket_id, anchor, fired_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (tenant_id, rule_id, ticket_id, anchor) DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(rule_id)
                    .bind(ticket_id)
                    .bind(audit_time(anchor))
                    .bind(now())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    tx.commit().await?;
                    Ok(claimed == 1)
                }

                async fn tenants_with_timed_rules(&self) -> StoreResult<Vec<Uuid>> {
                    let rows: Vec<(Uuid,)> = sqlx::query_as(
                        "SELECT DISTINCT tenant_id FROM automation_rules WHERE active AND CAST(definition AS TEXT) LIKE '%time_elapsed%'",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(|(t,)| t).collect())
                }

                async fn timed_candidates(&self, tenant_id: Uuid, updated_before: Option<DateTime<Utc>>, limit: u32) -> StoreResult<Vec<Ticket>> {
                    let rows: Vec<TicketRow> = match updated_before {
                        Some(before) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND status IN {OPEN} AND updated_at <= $2 \
                             ORDER BY updated_at, id LIMIT $3"
                        )))
                        .bind(tenant_id)
                        .bind(audit_time(before))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND status IN {OPEN} \
                             ORDER BY updated_at, id LIMIT $2"
                        )))
                        .bind(tenant_id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                    };
                    rows.into_iter().map(Ticket::try_from).collect()
                }
            }
        };
    };
}

pub(crate) use impl_watch_store;
