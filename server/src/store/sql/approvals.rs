//! SQL behind `ApprovalStore`: approval policies and requests.

macro_rules! impl_approval_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, types::Json};
            use uuid::Uuid;

            use $crate::domain::{
                approvals::{
                    ApprovalPolicy, ApprovalPolicyInput, ApprovalRequest, ApprovalState, Approvers, Decision,
                    NewApprovalRequest, PauseSpan, PolicyBody,
                },
                audit::AuditEvent,
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                approvals::ApprovalStore,
                sql::{audit, next_version, now, write_error},
            };

            type Tx = sqlx::Transaction<'static, $db>;
            type PolicyRow = (Uuid, String, bool, Json<PolicyBody>, DateTime<Utc>, DateTime<Utc>);
            type RequestRow = (
                Uuid, Uuid, String, String, Uuid, String, String, bool, Json<Approvers>, String, Option<i64>,
                Option<Uuid>, DateTime<Utc>, Option<Uuid>, Option<DateTime<Utc>>, String,
            );

            const POLICY_SELECT: &str =
                "SELECT id, name, active, body, created_at, updated_at FROM approval_policies WHERE tenant_id = $1";
            const REQUEST_FROM: &str = "SELECT r.id, r.ticket_id, t.number, t.title, r.policy_id, r.policy_name, r.state, \
                 r.pause_sla, r.approvers, r.reason, r.value_cents, r.requested_by, r.requested_at, r.decided_by, \
                 r.decided_at, r.decision_comment FROM approval_requests r \
                 JOIN tickets t ON t.tenant_id = r.tenant_id AND t.id = r.ticket_id";

            fn policy_from(row: PolicyRow) -> ApprovalPolicy {
                let (id, name, active, body, created_at, updated_at) = row;
                ApprovalPolicy { id, name, active, body: body.0, created_at, updated_at }
            }

            fn request_from(row: RequestRow) -> StoreResult<ApprovalRequest> {
                let (
                    id, ticket_id, ticket_number, ticket_title, policy_id, policy_name, state, pause_sla, approvers,
                    reason, value_cents, requested_by, requested_at, decided_by, decided_at, decision_comment,
                ) = row;
                let state = ApprovalState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("approval_requests.state: {state:?}")))?;
                Ok(ApprovalRequest {
                    id, ticket_id, ticket_number, ticket_title, policy_id, policy_name, state, pause_sla,
                    approvers: approvers.0, reason, value_cents, requested_by, requested_at, decided_by, decided_at,
                    decision_comment,
                })
            }

            impl $store {
                async fn approval_policy_in(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<ApprovalPolicy> {
                    let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{POLICY_SELECT} AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.map(policy_from).ok_or(StoreError::NotFound("approval policy"))
                }

                async fn approval_request_in(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<ApprovalRequest> {
                    let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{REQUEST_FROM} WHERE r.tenant_id = $1 AND r.id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.map(request_from).transpose()?.ok_or(StoreError::NotFound("approval request"))
                }

                /// A new version of the ticket: the SLA timers reschedule it.
                async fn touch_ticket_in(tx: &mut Tx, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<()> {
                    let current: Option<(DateTime<Utc>,)> =
                        sqlx::query_as("SELECT updated_at FROM tickets WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                    let (current,) = current.ok_or(StoreError::NotFound("ticket"))?;
                    sqlx::query("UPDATE tickets SET updated_at = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(next_version(current))
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl ApprovalStore for $store {
                async fn list_approval_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<ApprovalPolicy>> {
                    let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{POLICY_SELECT} ORDER BY name, id")))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(policy_from).collect())
                }

                async fn get_approval_policy(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<ApprovalPolicy> {
                    let mut tx = self.pool.begin().await?;
                    let policy = Self::approval_policy_in(&mut tx, tenant_id, id).await?;
                    tx.commit().await?;
                    Ok(policy)
                }

                async fn create_approval_policy(&self, actor: Actor, input: &ApprovalPolicyInput) -> StoreResult<ApprovalPolicy> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query(
                        "INSERT INTO approval_policies (id, tenant_id, name, body, active, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(input.name.trim())
                    .bind(Json(input.body()))
                    .bind(input.active)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "an approval policy of that name exists", ("name", "")))?;
                    let policy = Self::approval_policy_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "approval_policy.create", "approval_policy", Some(id), None, Some(&policy))).await?;
                    tx.commit().await?;
                    Ok(policy)
                }

                async fn update_approval_policy(&self, actor: Actor, id: Uuid, input: &ApprovalPolicyInput) -> StoreResult<ApprovalPolicy> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::approval_policy_in(&mut tx, actor.tenant_id, id).await?;
                    sqlx::query("UPDATE approval_policies SET name = $3, body = $4, active = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .bind(input.name.trim())
                        .bind(Json(input.body()))
                        .bind(input.active)
                        .bind(next_version(before.updated_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| write_error(e, "an approval policy of that name exists", ("name", "")))?;
                    let after = Self::approval_policy_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "approval_policy.update", "approval_policy", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn create_approval_request(&self, actor: Actor, request: &NewApprovalRequest) -> StoreResult<ApprovalRequest> {
                    let tenant_id = actor.tenant_id;
                    let mut tx = self.begin_write().await?;
                    Self::touch_ticket_in(&mut tx, tenant_id, request.ticket_id).await?;
                    let id = Uuid::now_v7();
                    sqlx::query(
                        "INSERT INTO approval_requests (id, tenant_id, ticket_id, policy_id, policy_name, state, pause_sla, \
                         approvers, reason, value_cents, requested_by, requested_at, decision_comment) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, '')",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(request.ticket_id)
                    .bind(request.policy.id)
                    .bind(&request.policy.name)
                    .bind(request.policy.body.pause_sla)
                    .bind(Json(&request.policy.body.approvers))
                    .bind(&request.reason)
                    .bind(request.value_cents)
                    .bind(actor.user_id)
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "the ticket already awaits an approval", ("policy_id", "no such approval policy")))?;
                    let created = Self::approval_request_in(&mut tx, tenant_id, id).await?;
                    audit::append(&mut tx, tenant_id, AuditEvent::new(actor.user_id, "approval.requested", "ticket", Some(request.ticket_id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn decide_approval_request(&self, actor: Actor, id: Uuid, decision: Decision, comment: &str) -> StoreResult<ApprovalRequest> {
                    let tenant_id = actor.tenant_id;
                    let mut tx = self.begin_write().await?;
                    let before = Self::approval_request_in(&mut tx, tenant_id, id).await?;
                    // Only a pending request changes: two deciders cannot both win.
                    let done = sqlx::query(
                        "UPDATE approval_requests SET state = $3, decided_by = $4, decided_at = $5, decision_comment = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND state = 'pending'",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .bind(decision.state().as_str())
                    .bind(actor.user_id)
                    .bind(now())
                    .bind(comment)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::Conflict(format!("the request is already {}", before.state.as_str())));
                    }
                    Self::touch_ticket_in(&mut tx, tenant_id, before.ticket_id).await?;
                    let after = Self::approval_request_in(&mut tx, tenant_id, id).await?;
                    let action = match decision {
                        Decision::Approve => "approval.approved",
                        Decision::Reject => "approval.rejected",
                    };
                    audit::append(&mut tx, tenant_id, AuditEvent::new(actor.user_id, action, "ticket", Some(before.ticket_id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn get_approval_request(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<ApprovalRequest> {
                    let mut tx = self.pool.begin().await?;
                    let request = Self::approval_request_in(&mut tx, tenant_id, id).await?;
                    tx.commit().await?;
                    Ok(request)
                }

                async fn ticket_approval_requests(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<ApprovalRequest>> {
                    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{REQUEST_FROM} WHERE r.tenant_id = $1 AND r.ticket_id = $2 ORDER BY r.requested_at, r.id"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(request_from).collect()
                }

                async fn approval_requests_of_tickets(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<ApprovalRequest>> {
                    let mut out = Vec::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(format!("{REQUEST_FROM} WHERE r.tenant_id = "));
                        query.push_bind(tenant_id).push(" AND r.ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY r.requested_at, r.id");
                        let rows: Vec<RequestRow> = query.build_query_as().fetch_all(&self.pool).await?;
                        for row in rows {
                            out.push(request_from(row)?);
                        }
                    }
                    Ok(out)
                }

                async fn approval_requests_in_state(&self, tenant_id: Uuid, state: ApprovalState, limit: u32) -> StoreResult<Vec<ApprovalRequest>> {
                    let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{REQUEST_FROM} WHERE r.tenant_id = $1 AND r.state = $2 ORDER BY r.requested_at, r.id LIMIT $3"
                    )))
                    .bind(tenant_id)
                    .bind(state.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(request_from).collect()
                }

                async fn approval_pauses(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<PauseSpan>>> {
                    let mut pauses: HashMap<Uuid, Vec<PauseSpan>> = HashMap::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT ticket_id, requested_at, decided_at FROM approval_requests WHERE pause_sla AND tenant_id = ",
                        );
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY ticket_id, requested_at");
                        let rows: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = query.build_query_as().fetch_all(&self.pool).await?;
                        for (ticket_id, from, to) in rows {
                            pauses.entry(ticket_id).or_default().push(PauseSpan { from, to });
                        }
                    }
                    Ok(pauses)
                }
            }
        };
    };
}

pub(crate) use impl_approval_store;
