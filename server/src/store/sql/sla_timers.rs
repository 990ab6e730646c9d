//! SQL behind `SlaTimerStore`: open tickets' SLA facts and fired notices.
//!
//! Exactly-once: `INSERT … ON CONFLICT DO NOTHING` on the notice's primary
//! key decides which writer fires; the loser writes nothing else.

pub(in crate::store) const FACTS_SELECT: &str = "SELECT t.tenant_id, t.id, t.number, t.category, t.priority, t.status, t.assignee_id, \
     t.created_at, t.updated_at, c.tier FROM tickets t \
     JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
     JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id";

macro_rules! impl_sla_timer_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::{BTreeMap, HashMap, HashSet};

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use truckroll_sync::Status;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                customers::CustomerTier,
                sla::{NotifyWho, SlaPolicy, SlaTarget},
                ticket::Priority,
            };
            use $crate::store::{
                StoreError, StoreResult,
                push::PushContent,
                sla::SlaStore,
                sla_timers::{NoticeEffects, NoticeKey, NoticeKind, SlaNotice, SlaTicketFacts, SlaTimerStore},
                sql::{OPEN_STATUSES, audit, next_version, now, sla_timers::FACTS_SELECT},
            };

            type FactsRow = (Uuid, Uuid, String, String, String, String, Option<Uuid>, DateTime<Utc>, DateTime<Utc>, String);
            type NoticeRow = (Uuid, String, String, i32, Uuid, DateTime<Utc>, DateTime<Utc>, Json<serde_json::Value>);

            fn corrupt(what: &str, value: &str) -> StoreError {
                StoreError::Corrupt(format!("unknown {what} `{value}`"))
            }

            fn target_of(value: &str) -> StoreResult<SlaTarget> {
                SlaTarget::ALL.into_iter().find(|t| t.as_str() == value).ok_or_else(|| corrupt("SLA target", value))
            }

            fn notice_from(row: NoticeRow) -> StoreResult<SlaNotice> {
                let (ticket_id, target, kind, threshold, policy_id, due_at, fired_at, actions) = row;
                Ok(SlaNotice {
                    ticket_id,
                    target: target_of(&target)?,
                    kind: NoticeKind::parse(&kind).ok_or_else(|| corrupt("notice kind", &kind))?,
                    threshold: u8::try_from(threshold).map_err(|_| corrupt("threshold", &threshold.to_string()))?,
                    policy_id,
                    due_at,
                    fired_at,
                    actions: actions.0,
                })
            }

            impl $store {
                /// Rows to facts, with each ticket's history (one query per tenant).
                async fn facts_with_history(&self, rows: Vec<FactsRow>) -> StoreResult<Vec<SlaTicketFacts>> {
                    let mut facts = Vec::with_capacity(rows.len());
                    for (tenant_id, ticket_id, number, category, priority, status, assignee_id, created_at, updated_at, tier) in rows {
                        facts.push(SlaTicketFacts {
                            tenant_id,
                            ticket_id,
                            number,
                            category,
                            priority: Priority::parse(&priority).ok_or_else(|| corrupt("priority", &priority))?,
                            status: status.parse::<Status>().map_err(|_| corrupt("status", &status))?,
                            assignee_id,
                            created_at,
                            updated_at,
                            tier: CustomerTier::parse(&tier).ok_or_else(|| corrupt("customer tier", &tier))?,
                            history: Vec::new(),
                            pauses: Vec::new(),
                        });
                    }
                    let mut by_tenant: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
                    for fact in &facts {
                        by_tenant.entry(fact.tenant_id).or_default().push(fact.ticket_id);
                    }
                    let mut histories = HashMap::new();
                    let mut pauses = HashMap::new();
                    for (tenant_id, ids) in by_tenant {
                        histories.extend(SlaStore::status_histories(self, tenant_id, &ids).await?);
                        pauses.extend($crate::store::approvals::ApprovalStore::approval_pauses(self, tenant_id, &ids).await?);
                    }
                    for fact in &mut facts {
                        fact.history = histories.remove(&fact.ticket_id).unwrap_or_default();
                        fact.pauses = pauses.remove(&fact.ticket_id).unwrap_or_default();
                    }
                    Ok(facts)
                }
            }

            #[async_trait]
            impl SlaTimerStore for $store {
                #[tracing::instrument(skip_all)]
                async fn sla_open_tickets(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<SlaTicketFacts>> {
                    let rows: Vec<FactsRow> = match after {
                        Some(after) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "{FACTS_SELECT} WHERE {OPEN_STATUSES} AND t.id > $1 ORDER BY t.id LIMIT $2"
                        )))
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "{FACTS_SELECT} WHERE {OPEN_STATUSES} ORDER BY t.id LIMIT $1"
                        )))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                    };
                    self.facts_with_history(rows).await
                }

                async fn sla_tickets_changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<SlaTicketFacts>> {
                    let rows: Vec<FactsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{FACTS_SELECT} WHERE t.updated_at >= $1 ORDER BY t.id"
                    )))
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?;
                    self.facts_with_history(rows).await
                }

                async fn sla_ticket_facts(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<SlaTicketFacts>> {
                    let rows: Vec<FactsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{FACTS_SELECT} WHERE t.tenant_id = $1 AND t.id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(self.facts_with_history(rows).await?.into_iter().next())
                }

                async fn newest_ticket_version(&self) -> StoreResult<Option<DateTime<Utc>>> {
                    Ok(sqlx::query_scalar("SELECT MAX(updated_at) FROM tickets").fetch_one(&self.pool).await?)
                }

                async fn all_sla_policies(&self) -> StoreResult<Vec<(Uuid, SlaPolicy)>> {
                    let rows: Vec<(Uuid, Uuid, Json<SlaPolicy>)> =
                        sqlx::query_as("SELECT tenant_id, id, body FROM sla_policies ORDER BY tenant_id, id")
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(tenant_id, id, body)| {
                            let mut policy = body.0;
                            policy.id = id;
                            (tenant_id, policy)
                        })
                        .collect())
                }

                async fn sla_policies_version(&self) -> StoreResult<(i64, Option<DateTime<Utc>>)> {
                    Ok(sqlx::query_as("SELECT COUNT(*), MAX(updated_at) FROM sla_policies").fetch_one(&self.pool).await?)
                }

                async fn open_ticket_notice_keys(&self) -> StoreResult<HashSet<NoticeKey>> {
                    let rows: Vec<(Uuid, Uuid, String, String, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT n.tenant_id, n.ticket_id, n.target, n.kind, n.threshold FROM sla_notices n \
                         JOIN tickets t ON t.tenant_id = n.tenant_id AND t.id = n.ticket_id WHERE {OPEN_STATUSES}"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(tenant_id, ticket_id, target, kind, threshold)| {
                            Ok(NoticeKey {
                                tenant_id,
                                ticket_id,
                                target: target_of(&target)?,
                                kind: NoticeKind::parse(&kind).ok_or_else(|| corrupt("notice kind", &kind))?,
                                threshold: u8::try_from(threshold).map_err(|_| corrupt("threshold", &threshold.to_string()))?,
                            })
                        })
                        .collect()
                }

                #[tracing::instrument(skip_all, fields(ticket = %key.ticket_id, target = key.target.as_str(), kind = key.kind.as_str()))]
                async fn record_sla_notice(&self, key: NoticeKey, notice: &SlaNotice, effects: &NoticeEffects) -> StoreResult<Option<SlaNotice>> {
                    let mut tx = self.begin_write().await?;
                    let fired_at = now();
                    let mut notice = SlaNotice { fired_at, ..notice.clone() };
                    let mut actions = serde_json::Map::new();
                    // Priority first, so the record says what really happened.
                    if let Some((from, to)) = effects.raise_priority {
                        let current: Option<(String, DateTime<Utc>)> =
                            sqlx::query_as("SELECT priority, updated_at FROM tickets WHERE tenant_id = $1 AND id = $2")
                                .bind(key.tenant_id)
                                .bind(key.ticket_id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if let Some((priority, updated_at)) = current
                            && priority == from.as_str()
                        {
                            sqlx::query("UPDATE tickets SET priority = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                                .bind(key.tenant_id)
                                .bind(key.ticket_id)
                                .bind(to.as_str())
                                .bind(next_version(updated_at))
                                .execute(&mut *tx)
                                .await?;
                            let before = serde_json::json!({"priority": from.as_str()});
                            let after = serde_json::json!({"priority": to.as_str()});
                            audit::append(&mut tx, key.tenant_id, AuditEvent::new(None, "ticket.priority_raise", "ticket", Some(key.ticket_id), Some(&before), Some(&after))).await?;
                            actions.insert("raised_priority".into(), serde_json::json!({"from": from.as_str(), "to": to.as_str()}));
                        }
                    }
                    let mut notified_users: Vec<Uuid> = Vec::new();
                    for who in &effects.notify {
                        let users: Vec<Uuid> = match who {
                            NotifyWho::Assignee => sqlx::query_scalar(
                                "SELECT tech.user_id FROM tickets t JOIN technicians tech ON tech.tenant_id = t.tenant_id AND tech.id = t.assignee_id \
                                 WHERE t.tenant_id = $1 AND t.id = $2",
                            )
                            .bind(key.tenant_id)
                            .bind(key.ticket_id)
                            .fetch_all(&mut *tx)
                            .await?,
                            role => sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $1 AND role = $2 AND active ORDER BY id")
                                .bind(key.tenant_id)
                                .bind(match role {
                                    NotifyWho::Dispatchers => "dispatcher",
                                    NotifyWho::Managers => "manager",
                                    _ => "admin",
                                })
                                .fetch_all(&mut *tx)
                                .await?,
                        };
                        for user in users {
                            if !notified_users.contains(&user) {
                                notified_users.push(user);
                            }
                        }
                    }
                    let content = PushContent {
                        title: effects.title.clone(),
                        body: effects.body.clone(),
                        data: BTreeMap::from([
                            ("type".to_owned(), format!("sla.{}", key.kind.as_str())),
                            ("ticket_id".to_owned(), key.ticket_id.to_string()),
                            ("target".to_owned(), key.target.as_str().to_owned()),
                        ]),
                    };
                    let mut pushes = 0usize;
                    for user in &notified_users {
                        pushes += Self::enqueue_user_pushes_in(&mut tx, key.tenant_id, *user, &content).await?.len();
                    }
                    actions.insert("notified_users".into(), serde_json::json!(notified_users));
                    actions.insert("pushes_queued".into(), serde_json::json!(pushes));
                    notice.actions = serde_json::Value::Object(actions);
                    let inserted = sqlx::query(
                        "INSERT INTO sla_notices (tenant_id, ticket_id, target, kind, threshold, policy_id, due_at, fired_at, actions) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                    )
                    .bind(key.tenant_id)
                    .bind(key.ticket_id)
                    .bind(key.target.as_str())
                    .bind(key.kind.as_str())
                    .bind(i32::from(key.threshold))
                    .bind(notice.policy_id)
                    .bind(notice.due_at)
                    .bind(fired_at)
                    .bind(Json(&notice.actions))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        // Someone else fired it: none of the effects above happen.
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    let action = match key.kind {
                        NoticeKind::Warning => "sla.warning",
                        NoticeKind::Breach => "sla.breach",
                    };
                    audit::append(&mut tx, key.tenant_id, AuditEvent::new(None, action, "ticket", Some(key.ticket_id), None, Some(&notice))).await?;
                    let event = match key.kind {
                        NoticeKind::Warning => "sla.warning",
                        NoticeKind::Breach => "sla.breached",
                    };
                    let data = serde_json::json!({"ticket_id": key.ticket_id, "notice": &notice});
                    Self::enqueue_webhooks_in(&mut tx, key.tenant_id, event, Some(key.ticket_id), data).await?;
                    tx.commit().await?;
                    Ok(Some(notice))
                }

                async fn list_sla_notices(&self, tenant_id: Uuid, ticket_id: Option<Uuid>) -> StoreResult<Vec<SlaNotice>> {
                    const COLUMNS: &str = "SELECT ticket_id, target, kind, threshold, policy_id, due_at, fired_at, actions FROM sla_notices";
                    let rows: Vec<NoticeRow> = match ticket_id {
                        Some(ticket_id) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "{COLUMNS} WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY due_at, target, threshold"
                        )))
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_all(&self.pool)
                        .await?,
                        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "{COLUMNS} WHERE tenant_id = $1 ORDER BY ticket_id DESC, due_at, target, threshold LIMIT 1000"
                        )))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?,
                    };
                    rows.into_iter().map(notice_from).collect()
                }
            }
        };
    };
}

pub(in crate::store) use impl_sla_timer_store;
