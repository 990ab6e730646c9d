//! SQL behind `DocumentStore`: snapshots, change chunks, sync states and the
//! projection of a merged document into the ticket row.

macro_rules! impl_document_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::{audit::AuditEvent, ticket::Ticket};
            use $crate::store::{
                Actor, StoreError, StoreResult,
                documents::{COMPACT_THRESHOLD_BYTES, DocumentBody, DocumentChange, DocumentStore, DocumentWrite, FieldColumns, Projection, StoredDocument, WrittenDocument},
                rows::TicketRow,
                sql::{TICKET_COLUMNS, audit, next_version, now},
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// Writes the document part of a write: creates the document
                /// (`expected` `None`, a snapshot) or advances it from version
                /// `expected`. Returns the new version; `Conflict` when the
                /// document exists already or moved on.
                async fn write_document_body_in<'b>(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    ticket_id: Uuid,
                    expected: Option<i64>,
                    body: Option<&'b DocumentBody>,
                    deferred_chunks: Option<&mut Vec<(Uuid, i64, &'b [u8])>>,
                ) -> StoreResult<i64> {
                    let conflict = || StoreError::Conflict("the ticket document was changed concurrently; retry".into());
                    let at = now();
                    match (expected, body) {
                        (None, Some(DocumentBody::Snapshot(snapshot))) => {
                            sqlx::query(
                                "INSERT INTO ticket_documents (tenant_id, ticket_id, snapshot, incremental_bytes, version, updated_at) \
                                 VALUES ($1, $2, $3, 0, 1, $4) ON CONFLICT (ticket_id) DO NOTHING",
                            )
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .bind(snapshot)
                            .bind(at)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected()
                            .eq(&1)
                            .then_some(1)
                            .ok_or_else(conflict)
                        }
                        (None, _) => Err(StoreError::Corrupt("a new document needs a snapshot".into())),
                        (Some(expected), body) => {
                            // The version check and the document's new size in one
                            // statement; a failed check below drops the transaction.
                            let size = match body {
                                Some(DocumentBody::Chunk(chunk)) => i64::try_from(chunk.len()).unwrap_or(i64::MAX),
                                _ => 0,
                            };
                            let row: Option<(i64, i64)> = match body {
                                Some(DocumentBody::Snapshot(snapshot)) => sqlx::query_as(
                                    "UPDATE ticket_documents SET version = version + 1, updated_at = $4, snapshot = $5, incremental_bytes = 0 \
                                     WHERE tenant_id = $1 AND ticket_id = $2 AND version = $3 RETURNING version, incremental_bytes",
                                )
                                .bind(tenant_id)
                                .bind(ticket_id)
                                .bind(expected)
                                .bind(at)
                                .bind(snapshot)
                                .fetch_optional(&mut **tx)
                                .await?,
                                _ => sqlx::query_as(
                                    "UPDATE ticket_documents SET version = version + 1, updated_at = $4, incremental_bytes = incremental_bytes + $5 \
                                     WHERE tenant_id = $1 AND ticket_id = $2 AND version = $3 RETURNING version, incremental_bytes",
                                )
                                .bind(tenant_id)
                                .bind(ticket_id)
                                .bind(expected)
                                .bind(at)
                                .bind(size)
                                .fetch_optional(&mut **tx)
                                .await?,
                            };
                            let (version, incremental) = row.ok_or_else(conflict)?;
                            match body {
                                Some(DocumentBody::Snapshot(_)) => {
                                    sqlx::query("DELETE FROM ticket_document_chunks WHERE ticket_id = $1")
                                        .bind(ticket_id)
                                        .execute(&mut **tx)
                                        .await?;
                                }
                                Some(DocumentBody::Chunk(chunk)) => {
                                    if incremental > COMPACT_THRESHOLD_BYTES {
                                        return Err(StoreError::Corrupt("chunk past the compaction threshold; write a snapshot".into()));
                                    }
                                    if let Some(deferred) = deferred_chunks {
                                        deferred.push((ticket_id, version, chunk.as_slice()));
                                        return Ok(version);
                                    }
                                    sqlx::query("INSERT INTO ticket_document_chunks (ticket_id, seq, data) VALUES ($1, $2, $3)")
                                        .bind(ticket_id)
                                        .bind(version)
                                        .bind(chunk)
                                        .execute(&mut **tx)
                                        .await?;
                                }
                                None => {}
                            }
                            Ok(version)
                        }
                    }
                }

                /// The document side of a server write of ticket `ticket_id`,
                /// inside the transaction that writes the row: the document
                /// change and the fold's field times.
                async fn write_document_change_in(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    ticket_id: Uuid,
                    change: &DocumentChange,
                ) -> StoreResult<()> {
                    Self::write_document_body_in(tx, tenant_id, ticket_id, change.expected_version, Some(&change.body), None).await?;
                    for (column, value) in [
                        ("accepted_at", change.accepted_at),
                        ("arrived_at", change.arrived_at),
                        ("completed_at", change.completed_at),
                    ] {
                        let Some(value) = value else { continue };
                        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE tickets SET {column} = $3 WHERE tenant_id = $1 AND id = $2")))
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .bind(value)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Ok(())
                }

                /// The document and sync-state part of `write`, inside `tx`;
                /// answers the document's new version. `Conflict` (the document
                /// moved on, or exists already) comes before anything is written.
                /// `deferred_chunks`: where a chunk goes for the caller's one
                /// multi-row insert, instead of an insert of its own.
                async fn write_body_and_state_in<'b>(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    write: &'b DocumentWrite,
                    deferred_chunks: Option<&mut Vec<(Uuid, i64, &'b [u8])>>,
                ) -> StoreResult<i64> {
                    let version = match (write.expected_version, &write.body) {
                        // Only the sync state changes: no version check needed.
                        (None, None) => 0,
                        (expected, body) => {
                            Self::write_document_body_in(tx, tenant_id, write.ticket_id, expected, body.as_ref(), deferred_chunks).await?
                        }
                    };
                    if let Some((device_id, state)) = &write.sync_state {
                        sqlx::query(
                            "INSERT INTO device_sync_states (tenant_id, device_id, ticket_id, state) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (device_id, ticket_id) DO UPDATE SET state = excluded.state",
                        )
                        .bind(tenant_id)
                        .bind(device_id)
                        .bind(write.ticket_id)
                        .bind(state)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(version)
                }

                /// The audit entry of `write`, if it records one.
                fn write_audit_event(actor: Actor, write: &DocumentWrite) -> Option<AuditEvent> {
                    write
                        .audit_action
                        .map(|action| AuditEvent::new(actor.user_id, action, "ticket", Some(write.ticket_id), None, write.audit_detail.as_ref()))
                }

                /// Projects a merged document onto the ticket row `before` (as
                /// read in `tx`); answers the row as written. `Conflict` when the
                /// row moved since that read (the caller drops the transaction).
                /// `has_part_uses`: whether the ticket has stock ledger entries,
                /// when the caller read it (`None`: not known); a ticket with
                /// none and a document with no part entries has nothing to
                /// reconcile.
                async fn project_in(
                    tx: &mut Tx,
                    actor: Actor,
                    ticket_id: Uuid,
                    before: &Ticket,
                    p: &Projection,
                    has_part_uses: Option<bool>,
                ) -> StoreResult<Ticket> {
                    let conflict = || StoreError::Conflict("the ticket document was changed concurrently; retry".into());
                    let (status, hold) = p.status.unwrap_or((before.status, before.hold_reason));
                    let custom_fields = p.custom.apply_to(&before.custom_fields);
                    // Before the conditional UPDATE below: if that one finds the
                    // row moved, the transaction (this included) is dropped.
                    if let Some(c) = &p.check_in {
                        sqlx::query(
                            "UPDATE tickets SET checkin_verified = $3, checkin_distance_m = $4, checkin_accuracy_m = $5, checkin_at = $6 \
                             WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .bind(c.verified)
                        .bind(c.distance_m)
                        .bind(c.accuracy_m)
                        .bind(c.at)
                        .execute(&mut **tx)
                        .await?;
                    }
                    // Conditional on the row as read, and bumps `updated_at`, so a
                    // REST PATCH based on the older version gets its 409. A field
                    // fold reaches `new` only by a decline: the ticket is unassigned.
                    let after: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE tickets SET status = $4, hold_reason = $5, accepted_at = $6, arrived_at = $7, completed_at = $8, \
                         field_photo_count = $9, field_part_count = $10, field_updated_at = $11, updated_at = $12, custom_fields = $13, \
                         assignee_id = CASE WHEN $4 = 'new' THEN NULL ELSE assignee_id END \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(ticket_id)
                    .bind(before.updated_at)
                    .bind(status.as_str())
                    .bind(hold.map(|r| r.as_str()))
                    .bind(p.accepted_at)
                    .bind(p.arrived_at)
                    .bind(p.completed_at)
                    .bind(p.photo_count)
                    .bind(p.part_count)
                    .bind(p.field_updated_at)
                    .bind(next_version(before.updated_at))
                    .bind(sqlx::types::Json(&custom_fields))
                    .fetch_optional(&mut **tx)
                    .await?;
                    let after = Ticket::try_from(after.ok_or_else(conflict)?)?;
                    // Webhooks for what the field changed (status changed,
                    // completed), queued with the change like every other write.
                    Self::enqueue_ticket_webhooks_in(tx, Some(before), &after).await?;
                    if has_part_uses != Some(false) || !p.parts.is_empty() {
                        Self::reconcile_part_uses_in(tx, actor, ticket_id, &p.parts).await?;
                    }
                    if (status, hold) != (before.status, before.hold_reason) {
                        if p.steps.is_empty() {
                            Self::append_status_history(tx, actor.tenant_id, ticket_id, next_version(before.updated_at), status, hold).await?;
                        }
                        // Field steps count when they happened on the phone (the
                        // SLA clock orders its history by time).
                        for (at, step, reason) in &p.steps {
                            Self::append_status_history(tx, actor.tenant_id, ticket_id, *at, *step, *reason).await?;
                        }
                    }
                    Ok(after)
                }
            }

            #[async_trait]
            impl DocumentStore for $store {
                async fn load_document(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<StoredDocument>> {
                    let head: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
                        "SELECT snapshot, incremental_bytes, version FROM ticket_documents WHERE tenant_id = $1 AND ticket_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some((snapshot, incremental_bytes, version)) = head else { return Ok(None) };
                    let chunks: Vec<(Vec<u8>,)> =
                        sqlx::query_as("SELECT data FROM ticket_document_chunks WHERE ticket_id = $1 ORDER BY seq")
                            .bind(ticket_id)
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(Some(StoredDocument {
                        snapshot,
                        chunks: chunks.into_iter().map(|c| c.0).collect(),
                        incremental_bytes,
                        version,
                    }))
                }

                async fn document_version(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<i64>> {
                    Ok(sqlx::query_scalar("SELECT version FROM ticket_documents WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn document_versions(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
                    let mut out = Vec::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("SELECT ticket_id, version FROM ticket_documents WHERE tenant_id = ");
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        out.extend(query.build_query_as::<(Uuid, i64)>().fetch_all(&self.pool).await?);
                    }
                    Ok(out)
                }

                async fn load_sync_state(&self, tenant_id: Uuid, device_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<Vec<u8>>> {
                    let row: Option<(Vec<u8>,)> = sqlx::query_as(
                        "SELECT state FROM device_sync_states WHERE tenant_id = $1 AND device_id = $2 AND ticket_id = $3",
                    )
                    .bind(tenant_id)
                    .bind(device_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map(|r| r.0))
                }

                async fn delete_sync_state(&self, tenant_id: Uuid, device_id: Uuid, ticket_id: Uuid) -> StoreResult<()> {
                    sqlx::query("DELETE FROM device_sync_states WHERE tenant_id = $1 AND device_id = $2 AND ticket_id = $3")
                        .bind(tenant_id)
                        .bind(device_id)
                        .bind(ticket_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn field_columns(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<FieldColumns> {
                    sqlx::query_as(
                        "SELECT accepted_at, arrived_at, completed_at, field_photo_count, field_part_count, field_updated_at \
                         FROM tickets WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound("ticket"))
                }

                async fn device_sync_states(&self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
                    Ok(sqlx::query_as("SELECT ticket_id, state FROM device_sync_states WHERE tenant_id = $1 AND device_id = $2")
                        .bind(tenant_id)
                        .bind(device_id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn write_sync_states(&self, tenant_id: Uuid, device_id: Uuid, states: &[(Uuid, Vec<u8>)]) -> StoreResult<()> {
                    // 4 parameters a row: well under either backend's limit.
                    for chunk in states.chunks(200) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("INSERT INTO device_sync_states (tenant_id, device_id, ticket_id, state) ");
                        query.push_values(chunk, |mut row, (ticket_id, state)| {
                            row.push_bind(tenant_id).push_bind(device_id).push_bind(*ticket_id).push_bind(state.as_slice());
                        });
                        query.push(" ON CONFLICT (device_id, ticket_id) DO UPDATE SET state = excluded.state");
                        query.build().execute(&self.pool).await?;
                    }
                    Ok(())
                }

                async fn device_actors(&self, tenant_id: Uuid, device_id: Uuid) -> StoreResult<Option<(Uuid, Vec<String>)>> {
                    let row: Option<(Uuid, String)> =
                        sqlx::query_as("SELECT user_id, actor_id FROM devices WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(device_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row.map(|(user, actor)| (user, vec![actor])))
                }

                #[tracing::instrument(skip_all)]
                async fn write_document(&self, actor: Actor, write: &DocumentWrite) -> StoreResult<WrittenDocument> {
                    let mut tx = self.begin_write().await?;
                    // The row before the document, locked: the order every
                    // ticket write takes (see `write_documents`).
                    let mut before = None;
                    if write.projection.is_some() {
                        let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2{}",
                            Self::ROW_LOCK
                        )))
                        .bind(actor.tenant_id)
                        .bind(write.ticket_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        before = Some(Ticket::try_from(row.ok_or(StoreError::NotFound("ticket"))?)?);
                    }
                    let version = Self::write_body_and_state_in(&mut tx, actor.tenant_id, write, None).await?;
                    let mut projected = None;
                    if let (Some(p), Some(before)) = (&write.projection, &before) {
                        projected = Some(Self::project_in(&mut tx, actor, write.ticket_id, before, p, None).await?);
                    }
                    if let Some(event) = Self::write_audit_event(actor, write) {
                        audit::append(&mut tx, actor.tenant_id, event).await?;
                    }
                    tx.commit().await?;
                    Ok(WrittenDocument { version, ticket: projected })
                }

                #[tracing::instrument(skip_all)]
                async fn write_documents(&self, actor: Actor, writes: &[DocumentWrite]) -> StoreResult<Vec<Option<WrittenDocument>>> {
                    let mut tx = self.begin_write().await?;
                    // The rows first, in id order, locked until the commit: every
                    // ticket write takes the row before the document, so this
                    // order cannot deadlock with them, and the projections below
                    // cannot find a row moved after this read.
                    let projected_ids: Vec<Uuid> = writes.iter().filter(|w| w.projection.is_some()).map(|w| w.ticket_id).collect();
                    let mut rows: HashMap<Uuid, Ticket> = HashMap::with_capacity(projected_ids.len());
                    for chunk in projected_ids.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("SELECT ");
                        query.push(TICKET_COLUMNS).push(" FROM tickets WHERE tenant_id = ").push_bind(actor.tenant_id).push(" AND id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY id").push(Self::ROW_LOCK);
                        for row in query.build_query_as::<TicketRow>().fetch_all(&mut *tx).await? {
                            let ticket = Ticket::try_from(row)?;
                            rows.insert(ticket.id, ticket);
                        }
                    }
                    let with_part_uses = Self::tickets_with_part_uses_in(&mut tx, actor.tenant_id, &projected_ids).await?;
                    let mut written = Vec::with_capacity(writes.len());
                    let mut events = Vec::new();
                    let mut chunks = Vec::with_capacity(writes.len());
                    for write in writes {
                        let before = match &write.projection {
                            Some(_) => match rows.get(&write.ticket_id) {
                                Some(row) => Some(row.clone()),
                                // Gone: the write alone says what happened.
                                None => {
                                    written.push(None);
                                    continue;
                                }
                            },
                            None => None,
                        };
                        // A document that moved on leaves nothing of its write in
                        // the transaction: the version check is its first statement.
                        let version = match Self::write_body_and_state_in(&mut tx, actor.tenant_id, write, Some(&mut chunks)).await {
                            Ok(version) => version,
                            Err(StoreError::Conflict(_)) => {
                                written.push(None);
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        let mut projected = None;
                        if let (Some(p), Some(before)) = (&write.projection, before) {
                            let has_part_uses = with_part_uses.contains(&write.ticket_id);
                            let after = Self::project_in(&mut tx, actor, write.ticket_id, &before, p, Some(has_part_uses)).await?;
                            rows.insert(write.ticket_id, after.clone());
                            projected = Some(after);
                        }
                        events.extend(Self::write_audit_event(actor, write));
                        written.push(Some(WrittenDocument { version, ticket: projected }));
                    }
                    // 3 parameters a row: well under either backend's limit.
                    for part in chunks.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("INSERT INTO ticket_document_chunks (ticket_id, seq, data) ");
                        query.push_values(part, |mut row, (ticket_id, seq, data)| {
                            row.push_bind(*ticket_id).push_bind(*seq).push_bind(*data);
                        });
                        query.build().execute(&mut *tx).await?;
                    }
                    audit::append_many(&mut tx, actor.tenant_id, &events).await?;
                    tx.commit().await?;
                    Ok(written)
                }
            }
        };
    };
}

pub(in crate::store) use impl_document_store;
