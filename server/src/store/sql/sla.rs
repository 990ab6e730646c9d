//! SQL behind `SlaStore`: SLA policies and the status history, with the
//! helper every status-changing write calls.

macro_rules! impl_sla_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, types::Json};
            use truckroll_sync::{HoldReason, Status};
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                customers::CustomerTier,
                lifecycle::ArchivedFilter,
                sla::{SlaPolicy, StatusEvent},
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                sla::{SiteCustomer, SlaStore},
                sql::{archived_clause, audit, now, write_error},
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// Appends one status change of a ticket to its history, inside
                /// the transaction that makes the change. `at` is the time the
                /// change takes effect (the server's write time for REST
                /// changes; device time once field events sync).
                pub(crate) async fn append_status_history(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    ticket_id: Uuid,
                    at: DateTime<Utc>,
                    status: Status,
                    hold_reason: Option<HoldReason>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO ticket_status_history (tenant_id, ticket_id, seq, at, status, hold_reason) \
                         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM ticket_status_history \
                         WHERE tenant_id = $1 AND ticket_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(at)
                    .bind(status.as_str())
                    .bind(hold_reason.map(|r| r.as_str()))
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }
            }

            fn policy_from(body: Json<SlaPolicy>, id: Uuid, archived_at: Option<DateTime<Utc>>) -> SlaPolicy {
                let mut policy = body.0;
                policy.id = id;
                policy.archived_at = archived_at;
                policy
            }

            #[async_trait]
            impl SlaStore for $store {
                async fn create_sla_policy(&self, actor: Actor, policy: &SlaPolicy) -> StoreResult<SlaPolicy> {
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    sqlx::query(
                        "INSERT INTO sla_policies (id, tenant_id, name, priority, customer_tier, category, body, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(policy.id)
                    .bind(actor.tenant_id)
                    .bind(&policy.name)
                    .bind(policy.matches.priority.map(|p| p.as_str()))
                    .bind(policy.matches.customer_tier.map(|t| t.as_str()))
                    .bind(policy.matches.category.as_deref())
                    .bind(Json(policy))
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "an SLA policy with this id already exists", ("tenant", "no such tenant")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "sla_policy.create", "sla_policy", Some(policy.id), None, Some(policy))).await?;
                    tx.commit().await?;
                    Ok(policy.clone())
                }

                async fn update_sla_policy(&self, actor: Actor, policy: &SlaPolicy) -> StoreResult<SlaPolicy> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<(Json<SlaPolicy>, Option<DateTime<Utc>>)> = sqlx::query_as("SELECT body, archived_at FROM sla_policies WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(policy.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let (before, archived_at) = before.ok_or(StoreError::NotFound("SLA policy"))?;
                    let before = policy_from(before, policy.id, archived_at);
                    sqlx::query(
                        "UPDATE sla_policies SET name = $3, priority = $4, customer_tier = $5, category = $6, body = $7, updated_at = $8 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(policy.id)
                    .bind(&policy.name)
                    .bind(policy.matches.priority.map(|p| p.as_str()))
                    .bind(policy.matches.customer_tier.map(|t| t.as_str()))
                    .bind(policy.matches.category.as_deref())
                    .bind(Json(policy))
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "sla_policy.update", "sla_policy", Some(policy.id), Some(&before), Some(policy))).await?;
                    tx.commit().await?;
                    Ok(policy.clone())
                }

                async fn get_sla_policy(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<SlaPolicy> {
                    let row: Option<(Json<SlaPolicy>, Option<DateTime<Utc>>)> = sqlx::query_as("SELECT body, archived_at FROM sla_policies WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    let (body, archived_at) = row.ok_or(StoreError::NotFound("SLA policy"))?;
                    Ok(policy_from(body, id, archived_at))
                }

                async fn list_sla_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<SlaPolicy>> {
                    self.list_sla_policies_where(tenant_id, ArchivedFilter::Active).await
                }

                async fn list_sla_policies_where(&self, tenant_id: Uuid, archived: ArchivedFilter) -> StoreResult<Vec<SlaPolicy>> {
                    let rows: Vec<(Uuid, Json<SlaPolicy>, Option<DateTime<Utc>>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT id, body, archived_at FROM sla_policies WHERE tenant_id = $1{} ORDER BY id",
                        archived_clause(archived, "sla_policies")
                    )))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(id, body, archived_at)| policy_from(body, id, archived_at)).collect())
                }

                async fn status_histories(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<StatusEvent>>> {
                    let mut histories: HashMap<Uuid, Vec<StatusEvent>> = HashMap::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT ticket_id, at, status, hold_reason FROM ticket_status_history WHERE tenant_id = ",
                        );
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY ticket_id, seq");
                        let rows: Vec<(Uuid, DateTime<Utc>, String, Option<String>)> = query.build_query_as().fetch_all(&self.pool).await?;
                        for (ticket_id, at, status, hold_reason) in rows {
                            let status: Status = status.parse().map_err(|_| StoreError::Corrupt(format!("unknown status `{status}` in history")))?;
                            let hold_reason = hold_reason
                                .as_deref()
                                .map(|r| r.parse::<HoldReason>().map_err(|_| StoreError::Corrupt(format!("unknown hold reason `{r}` in history"))))
                                .transpose()?;
                            histories.entry(ticket_id).or_default().push(StatusEvent { at, status, hold_reason });
                        }
                    }
                    Ok(histories)
                }

                async fn site_territories(&self, tenant_id: Uuid, site_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Option<Uuid>>> {
                    let mut found = HashMap::new();
                    for chunk in site_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new("SELECT id, territory_id FROM sites WHERE tenant_id = ");
                        query.push_bind(tenant_id).push(" AND id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        let rows: Vec<(Uuid, Option<Uuid>)> = query.build_query_as().fetch_all(&self.pool).await?;
                        found.extend(rows);
                    }
                    Ok(found)
                }

                async fn site_customers(&self, tenant_id: Uuid, site_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, SiteCustomer>> {
                    let mut found = HashMap::new();
                    for chunk in site_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT s.id, c.id, c.tier FROM sites s JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id \
                             WHERE s.tenant_id = ",
                        );
                        query.push_bind(tenant_id).push(" AND s.id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        let rows: Vec<(Uuid, Uuid, String)> = query.build_query_as().fetch_all(&self.pool).await?;
                        for (site_id, customer_id, tier) in rows {
                            let tier = CustomerTier::parse(&tier).ok_or_else(|| StoreError::Corrupt(format!("unknown customer tier `{tier}`")))?;
                            found.insert(site_id, SiteCustomer { customer_id, tier });
                        }
                    }
                    Ok(found)
                }
            }
        };
    };
}

pub(in crate::store) use impl_sla_store;
