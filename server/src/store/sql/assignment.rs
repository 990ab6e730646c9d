//! SQL behind `AssignmentStore`: the conditional assignment of a ticket.

macro_rules! impl_assignment_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use truckroll_sync::{Status, StatusAction};
            use uuid::Uuid;

            use $crate::domain::{audit::AuditEvent, ticket::Ticket};
            use $crate::store::{
                Actor, StoreError, StoreResult,
                assignment::AssignmentStore,
                documents::ServerWrite,
                rows::TicketRow,
                sql::{LOAD_STATUSES, TICKET_COLUMNS, audit, next_version, now},
            };

            #[async_trait]
            impl AssignmentStore for $store {
                #[tracing::instrument(skip_all, fields(ticket = %ticket_id, technician = %technician_id))]
                async fn assign_ticket(&self, actor: Actor, ticket_id: Uuid, technician_id: Uuid, server: Option<&ServerWrite>) -> StoreResult<Ticket> {
                    let mut tx = self.begin_write().await?;
                    // A no-op write takes the technician's row lock (PostgreSQL);
                    // SQLite already holds the database write lock.
                    let capacity: Option<i64> = sqlx::query_scalar(
                        "UPDATE technicians SET capacity = capacity WHERE tenant_id = $1 AND id = $2 RETURNING capacity",
                    )
                    .bind(actor.tenant_id)
                    .bind(technician_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let capacity = capacity.ok_or(StoreError::Reference {
                        field: "technician_id",
                        message: "no such technician".into(),
                    })?;
                    let before = Self::fetch_ticket(&mut tx, actor.tenant_id, ticket_id).await?;
                    if server.is_some_and(|s| s.based_on != before.updated_at) {
                        return Err(StoreError::Conflict("the ticket was changed by someone else; reload and retry".into()));
                    }
                    if before.assignee_id == Some(technician_id) && before.status != Status::New {
                        return Err(StoreError::Conflict("the ticket is already assigned to this technician".into()));
                    }
                    let action = if before.status == Status::New { StatusAction::Assign } else { StatusAction::Reassign };
                    let status = truckroll_sync::transition(before.status, action)
                        .map_err(|e| StoreError::Conflict(format!("the ticket cannot be assigned now: {e}")))?;
                    let load: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND assignee_id = $2 AND status IN {LOAD_STATUSES}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(technician_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if load >= capacity {
                        return Err(StoreError::Conflict(format!(
                            "the technician is at capacity ({load} of {capacity} open assignments)"
                        )));
                    }
                    // With a document change, the row is the projection of its fold.
                    let (status, hold, assignee) = match server {
                        Some(s) => (s.status, s.hold_reason, s.assignee_id),
                        None => (status, None, Some(technician_id)),
                    };
                    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE tickets SET status = $4, hold_reason = $7, assignee_id = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(ticket_id)
                    .bind(before.updated_at)
                    .bind(status.as_str())
                    .bind(assignee)
                    .bind(next_version(before.updated_at))
                    .bind(hold.map(|r| r.as_str()))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let row = row.ok_or_else(|| {
                        StoreError::Conflict("the ticket was changed by someone else; reload and retry".into())
                    })?;
                    let after = Ticket::try_from(row)?;
                    if let Some(s) = server {
                        Self::write_document_change_in(&mut tx, actor.tenant_id, after.id, &s.document).await?;
                    }
                    Self::append_status_history(&mut tx, actor.tenant_id, after.id, after.updated_at, after.status, after.hold_reason).await?;
                    Self::enqueue_ticket_webhooks_in(&mut tx, Some(&before), &after).await?;
                    // A dispatcher's decision ends any offer still open for the ticket.
                    sqlx::query("UPDATE offers SET state = 'withdrawn', decided_at = $3 WHERE tenant_id = $1 AND ticket_id = $2 AND state = 'pending'")
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.assign", "ticket", Some(ticket_id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }
            }
        };
    };
}

pub(in crate::store) use impl_assignment_store;
