//! SQL behind `OfferStore`: dispatch policies and offers to technicians.

macro_rules! impl_offer_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use truckroll_sync::{Status, StatusAction};
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                offer::{DispatchPolicy, Offer, OfferState},
                ticket::Ticket,
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                documents::ServerWrite,
                offers::OfferStore,
                rows::{OfferRow, PolicyRow, TicketRow},
                sql::{LOAD_STATUSES, OFFER_COLUMNS, TICKET_COLUMNS, audit, next_version, now, write_error},
            };

            fn offers(rows: Vec<OfferRow>) -> StoreResult<Vec<Offer>> {
                rows.into_iter().map(Offer::try_from).collect()
            }

            #[async_trait]
            impl OfferStore for $store {
                #[tracing::instrument(skip_all)]
                async fn put_dispatch_policy(&self, actor: Actor, policy: &DispatchPolicy) -> StoreResult<DispatchPolicy> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<PolicyRow> = sqlx::query_as(
                        "SELECT category, mode, top_n FROM dispatch_policies WHERE tenant_id = $1 AND category = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(&policy.category)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before = before.map(DispatchPolicy::try_from).transpose()?;
                    let row: PolicyRow = sqlx::query_as(
                        "INSERT INTO dispatch_policies (tenant_id, category, mode, top_n, updated_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (tenant_id, category) DO UPDATE SET mode = $3, top_n = $4, updated_at = $5 \
                         RETURNING category, mode, top_n",
                    )
                    .bind(actor.tenant_id)
                    .bind(&policy.category)
                    .bind(policy.mode.as_str())
                    .bind(i64::from(policy.top_n))
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await?;
                    let after = DispatchPolicy::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "dispatch_policy.put", "dispatch_policy", None, before.as_ref(), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn dispatch_policy(&self, tenant_id: Uuid, category: &str) -> StoreResult<Option<DispatchPolicy>> {
                    let row: Option<PolicyRow> = sqlx::query_as(
                        "SELECT category, mode, top_n FROM dispatch_policies WHERE tenant_id = $1 AND category = $2",
                    )
                    .bind(tenant_id)
                    .bind(category)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(DispatchPolicy::try_from).transpose()
                }

                async fn list_dispatch_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<DispatchPolicy>> {
                    let rows: Vec<PolicyRow> = sqlx::query_as(
                        "SELECT category, mode, top_n FROM dispatch_policies WHERE tenant_id = $1 ORDER BY category",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(DispatchPolicy::try_from).collect()
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket_id, technician = %technician_id))]
                async fn create_offer(&self, actor: Actor, ticket_id: Uuid, technician_id: Uuid, round: u32, expires_at: DateTime<Utc>) -> StoreResult<Offer> {
                    let mut tx = self.begin_write().await?;
                    let row: OfferRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO offers ({OFFER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, $7, NULL) RETURNING {OFFER_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(ticket_id)
                    .bind(technician_id)
                    .bind(i64::from(round))
                    .bind(expires_at)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "the ticket already has an open offer", ("ticket_id", "no such ticket or technician")))?;
                    let offer = Offer::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "offer.create", "offer", Some(offer.id), None, Some(&offer))).await?;
                    tx.commit().await?;
                    Ok(offer)
                }

                async fn get_offer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Offer> {
                    let row: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OFFER_COLUMNS} FROM offers WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("offer"))?.try_into()
                }

                async fn offers_for_ticket(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Offer>> {
                    let rows: Vec<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OFFER_COLUMNS} FROM offers WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    offers(rows)
                }

                async fn pending_offers_for_technician(&self, tenant_id: Uuid, technician_id: Uuid) -> StoreResult<Vec<Offer>> {
                    let rows: Vec<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OFFER_COLUMNS} FROM offers WHERE tenant_id = $1 AND technician_id = $2 AND state = 'pending' ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .bind(technician_id)
                    .fetch_all(&self.pool)
                    .await?;
                    offers(rows)
                }

                async fn due_offers(&self, at: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Offer>> {
                    let rows: Vec<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OFFER_COLUMNS} FROM offers WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
                    )))
                    .bind(at)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    offers(rows)
                }

                #[tracing::instrument(skip_all, fields(offer = %offer_id))]
                async fn accept_offer(&self, actor: Actor, offer_id: Uuid, technician_id: Uuid, at: DateTime<Utc>, server: Option<&ServerWrite>) -> StoreResult<(Offer, Ticket)> {
                    let mut tx = self.begin_write().await?;
                    // Lock the technician first, as assignment does, so capacity is counted once.
                    let capacity: Option<i64> = sqlx::query_scalar(
                        "UPDATE technicians SET capacity = capacity WHERE tenant_id = $1 AND id = $2 RETURNING capacity",
                    )
                    .bind(actor.tenant_id)
                    .bind(technician_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let capacity = capacity.ok_or(StoreError::NotFound("offer"))?;
                    let offer: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE offers SET state = 'accepted', decided_at = $4 \
                         WHERE tenant_id = $1 AND id = $2 AND technician_id = $3 AND state = 'pending' AND expires_at > $4 \
                         RETURNING {OFFER_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(offer_id)
                    .bind(technician_id)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(offer) = offer else {
                        let current: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {OFFER_COLUMNS} FROM offers WHERE tenant_id = $1 AND id = $2 AND technician_id = $3"
                        )))
                        .bind(actor.tenant_id)
                        .bind(offer_id)
                        .bind(technician_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let current = Offer::try_from(current.ok_or(StoreError::NotFound("offer"))?)?;
                        let why = if current.state == OfferState::Pending { "expired".to_owned() } else { current.state.as_str().to_owned() };
                        return Err(StoreError::Conflict(format!("the offer is no longer open: it is {why}")));
                    };
                    let offer = Offer::try_from(offer)?;
                    let before = Self::fetch_ticket(&mut tx, actor.tenant_id, offer.ticket_id).await?;
                    if before.status != Status::New {
                        return Err(StoreError::Conflict(format!("the ticket is already {}", before.status)));
                    }
                    if server.is_some_and(|s| s.based_on != before.updated_at) {
                        return Err(StoreError::Conflict("the ticket was changed meanwhile; the offer stays open".into()));
                    }
                    let load: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND assignee_id = $2 AND status IN {LOAD_STATUSES}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(technician_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if load >= capacity {
                        return Err(StoreError::Conflict(format!(
                            "you are at capacity ({load} of {capacity} open assignments)"
                        )));
                    }
                    // Taking an offer is assignment and acceptance in one step.
                    let status = truckroll_sync::transition(before.status, StatusAction::Assign)
                        .and_then(|assigned| truckroll_sync::transition(assigned, StatusAction::Accept))
                        .map_err(|e| StoreError::Conflict(e.to_string()))?;
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
                    .bind(before.id)
                    .bind(before.updated_at)
                    .bind(status.as_str())
                    .bind(assignee)
                    .bind(next_version(before.updated_at))
                    .bind(hold.map(|r| r.as_str()))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let after = Ticket::try_from(row.ok_or_else(|| {
                        StoreError::Conflict("the ticket was changed meanwhile; the offer stays open".into())
                    })?)?;
                    if let Some(s) = server {
                        Self::write_document_change_in(&mut tx, actor.tenant_id, after.id, &s.document).await?;
                    }
                    // Assigned and accepted at the same instant: both steps are history.
                    Self::append_status_history(&mut tx, actor.tenant_id, after.id, after.updated_at, Status::Assigned, None).await?;
                    Self::append_status_history(&mut tx, actor.tenant_id, after.id, after.updated_at, after.status, after.hold_reason).await?;
                    Self::enqueue_ticket_webhooks_in(&mut tx, Some(&before), &after).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "offer.accept", "offer", Some(offer.id), None, Some(&offer))).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.assign", "ticket", Some(after.id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok((offer, after))
                }

                #[tracing::instrument(skip_all, fields(offer = %offer_id))]
                async fn close_offer(&self, actor: Actor, offer_id: Uuid, to: OfferState, reason: Option<&str>, at: DateTime<Utc>) -> StoreResult<Option<Offer>> {
                    let (condition, action) = match to {
                        OfferState::Declined => ("", "offer.decline"),
                        OfferState::Expired => (" AND expires_at <= $5", "offer.expire"),
                        OfferState::Withdrawn => ("", "offer.withdraw"),
                        _ => return Err(StoreError::Conflict(format!("an offer cannot be closed as {}", to.as_str()))),
                    };
                    let mut tx = self.begin_write().await?;
                    let row: Option<OfferRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE offers SET state = $3, reason = $4, decided_at = $5 \
                         WHERE tenant_id = $1 AND id = $2 AND state = 'pending'{condition} RETURNING {OFFER_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(offer_id)
                    .bind(to.as_str())
                    .bind(reason)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let offer = Offer::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "offer", Some(offer.id), None, Some(&offer))).await?;
                    tx.commit().await?;
                    Ok(Some(offer))
                }

                async fn record_offers_exhausted(&self, actor: Actor, ticket_id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new::<()>(actor.user_id, "ticket.offers_exhausted", "ticket", Some(ticket_id), None, None)).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_offer_store;
