//! SQL behind `PartStore`, and `reconcile_part_uses_in`, which the document
//! write (`sql/documents.rs`) calls in its transaction: every part entry of
//! the ticket's document becomes exactly the consumption it says, whatever
//! the number of syncs that carried it.

macro_rules! impl_part_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::QueryBuilder;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                parts::{
                    AssetSerial, Balance, LabourRate, LocationKind, Movement, MovementKind, NewMovement, Part, PartInput, PartUse,
                    PartsPolicy, RateScope, ReorderPointInput, RequiredPart, StockLocation, Suggestion, from_milli,
                    to_milli,
                },
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                parts::{BalanceFilter, ImportOutcome, MovementFilter, PartStore, VanEntry, VanHolding},
                sql::{audit, like_pattern, now, write_error},
            };

            type PartTx = sqlx::Transaction<'static, $db>;
            type PartRow = (Uuid, Uuid, String, String, String, i64, i64, Option<String>, bool, DateTime<Utc>, DateTime<Utc>);
            type LocationRow = (Uuid, Uuid, String, String, Option<Uuid>, DateTime<Utc>);
            type MovementRow = (
                Uuid, String, Uuid, Option<Uuid>, Option<Uuid>, i64, Option<Uuid>, Option<String>, Option<String>,
                Option<Uuid>, DateTime<Utc>,
            );
            type BalanceRow = (Uuid, String, String, Option<Uuid>, Uuid, String, String, String, i64, Option<i64>);

            const PART_SELECT: &str = "SELECT id, tenant_id, number, name, unit, price_cents, cost_cents, barcode, serial_tracked, created_at, updated_at FROM parts";
            const LOCATION_SELECT: &str = "SELECT id, tenant_id, kind, name, technician_id, created_at FROM stock_locations";
            const MOVEMENT_SELECT: &str = "SELECT id, kind, part_id, from_location_id, to_location_id, quantity, ticket_id, entry_id, reason, created_by, created_at FROM stock_movements";

            fn part_from(row: PartRow) -> Part {
                let (id, tenant_id, number, name, unit, price_cents, cost_cents, barcode, serial_tracked, created_at, updated_at) = row;
                Part { id, tenant_id, number, name, unit, price_cents, cost_cents, barcode, serial_tracked, created_at, updated_at }
            }

            fn location_from(row: LocationRow) -> StoreResult<StockLocation> {
                let (id, tenant_id, kind, name, technician_id, created_at) = row;
                let kind = LocationKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("location kind {kind:?}")))?;
                Ok(StockLocation { id, tenant_id, kind, name, technician_id, created_at })
            }

            fn movement_from(row: MovementRow) -> StoreResult<Movement> {
                let (id, kind, part_id, from_location_id, to_location_id, quantity, ticket_id, entry_id, reason, created_by, created_at) = row;
                let kind = MovementKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("movement kind {kind:?}")))?;
                Ok(Movement {
                    id, kind, part_id, from_location_id, to_location_id, quantity: from_milli(quantity), ticket_id, entry_id,
                    reason, created_by, created_at,
                })
            }

            fn balance_from(row: BalanceRow) -> StoreResult<Balance> {
                let (location_id, location_name, kind, technician_id, part_id, part_number, part_name, unit, quantity, reorder_min) = row;
                let location_kind = LocationKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("location kind {kind:?}")))?;
                Ok(Balance {
                    location_id, location_name, location_kind, technician_id, part_id, part_number, part_name, unit,
                    quantity: from_milli(quantity), negative: quantity < 0, reorder_min: reorder_min.map(from_milli),
                })
            }

            fn part_conflict(error: sqlx::Error) -> StoreError {
                write_error(error, "a part with this number exists already", ("part", "unknown part"))
            }

            impl $store {
                /// Appends `movement` and moves the balances it touches, in
                /// location order so two movements between the same places in
                /// opposite directions never wait on each other in a circle.
                pub(in crate::store) async fn apply_movement_in(
                    tx: &mut PartTx,
                    tenant_id: Uuid,
                    created_by: Option<Uuid>,
                    movement: &NewMovement,
                ) -> StoreResult<Movement> {
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query(
                        "INSERT INTO stock_movements (id, tenant_id, kind, part_id, from_location_id, to_location_id, quantity, ticket_id, entry_id, reason, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(movement.kind.as_str())
                    .bind(movement.part_id)
                    .bind(movement.from_location_id)
                    .bind(movement.to_location_id)
                    .bind(movement.quantity)
                    .bind(movement.ticket_id)
                    .bind(&movement.entry_id)
                    .bind(&movement.reason)
                    .bind(created_by)
                    .bind(at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, "movement exists", ("part_id", "unknown part or location in this tenant")))?;
                    let mut deltas: Vec<(Uuid, i64)> = Vec::with_capacity(2);
                    if let Some(from) = movement.from_location_id {
                        deltas.push((from, -movement.quantity));
                    }
                    if let Some(to) = movement.to_location_id {
                        deltas.push((to, movement.quantity));
                    }
                    deltas.sort_by_key(|(location, _)| *location);
                    for (location, delta) in deltas {
                        sqlx::query(
                            "INSERT INTO stock_balances (tenant_id, location_id, part_id, quantity) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (location_id, part_id) DO UPDATE SET quantity = stock_balances.quantity + excluded.quantity",
                        )
                        .bind(tenant_id)
                        .bind(location)
                        .bind(movement.part_id)
                        .bind(delta)
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(Movement {
                        id,
                        kind: movement.kind,
                        part_id: movement.part_id,
                        from_location_id: movement.from_location_id,
                        to_location_id: movement.to_location_id,
                        quantity: from_milli(movement.quantity),
                        ticket_id: movement.ticket_id,
                        entry_id: movement.entry_id.clone(),
                        reason: movement.reason.clone(),
                        created_by,
                        created_at: at,
                    })
                }

                /// The technician's van, created when missing.
                async fn van_in(tx: &mut PartTx, tenant_id: Uuid, technician_id: Uuid) -> StoreResult<StockLocation> {
                    let name: Option<String> = sqlx::query_scalar("SELECT name FROM technicians WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(technician_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let name = name.ok_or(StoreError::NotFound("technician"))?;
                    sqlx::query(
                        "INSERT INTO stock_locations (id, tenant_id, kind, name, technician_id, created_at) VALUES ($1, $2, 'van', $3, $4, $5) \
                         ON CONFLICT (technician_id) DO NOTHING",
                    )
                    .bind(Uuid::now_v7())
                    .bind(tenant_id)
                    .bind(format!("Van · {name}"))
                    .bind(technician_id)
                    .bind(now())
                    .execute(&mut **tx)
                    .await?;
                    let row: LocationRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{LOCATION_SELECT} WHERE tenant_id = $1 AND technician_id = $2")))
                        .bind(tenant_id)
                        .bind(technician_id)
                        .fetch_one(&mut **tx)
                        .await?;
                    location_from(row)
                }

                /// Those of `ticket_ids` that have stock ledger entries, in one
                /// query per 500 (a batch of document writes reconciles only
                /// those, and the ones whose document names parts).
                pub(in crate::store) async fn tickets_with_part_uses_in(
                    tx: &mut PartTx,
                    tenant_id: Uuid,
                    ticket_ids: &[Uuid],
                ) -> StoreResult<std::collections::HashSet<Uuid>> {
                    let mut out = std::collections::HashSet::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new("SELECT DISTINCT ticket_id FROM part_uses WHERE tenant_id = ");
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        out.extend(query.build_query_scalar::<Uuid>().fetch_all(&mut **tx).await?);
                    }
                    Ok(out)
                }

                /// Reconciles the ledger with `entries`, the part entries of
                /// ticket `ticket_id`'s document as this write stores it: an
                /// entry naming a catalogue part consumes its quantity from the
                /// van of the technician writing (a phone) or assigned (an
                /// office correction), once; a changed quantity moves only the
                /// difference, a removed entry is returned. Entries naming no
                /// catalogue part are kept, priced and consumed later if the
                /// number is added to the catalogue. Idempotent: the same
                /// entries again move nothing.
                pub(in crate::store) async fn reconcile_part_uses_in(
                    tx: &mut PartTx,
                    actor: Actor,
                    ticket_id: Uuid,
                    entries: &[truckroll_sync::Part],
                ) -> StoreResult<()> {
                    let tenant_id = actor.tenant_id;
                    type UseRow = (String, String, Option<Uuid>, Option<Uuid>, i64, i64, Option<String>);
                    let rows: Vec<UseRow> = sqlx::query_as(
                        "SELECT entry_id, part_number, part_id, location_id, quantity, consumed, serial FROM part_uses WHERE tenant_id = $1 AND ticket_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    if rows.is_empty() && entries.is_empty() {
                        return Ok(());
                    }
                    let mut existing: HashMap<String, UseRow> = rows.into_iter().map(|r| (r.0.clone(), r)).collect();
                    // The van: the technician writing (a phone), else the assignee.
                    let mut technician: Option<Uuid> = match actor.user_id {
                        Some(user) => sqlx::query_scalar("SELECT id FROM technicians WHERE tenant_id = $1 AND user_id = $2")
                            .bind(tenant_id)
                            .bind(user)
                            .fetch_optional(&mut **tx)
                            .await?,
                        None => None,
                    };
                    if technician.is_none() {
                        technician = sqlx::query_scalar::<_, Option<Uuid>>("SELECT assignee_id FROM tickets WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .fetch_optional(&mut **tx)
                            .await?
                            .flatten();
                    }
                    let mut van: Option<Uuid> = None;
                    // The ticket's asset, read once if a serial is to be recorded.
                    let mut asset: Option<Option<Uuid>> = None;
                    let at = now();
                    let mut pending: Vec<NewMovement> = Vec::new();
                    for entry in entries {
                        let quantity = to_milli(entry.quantity).unwrap_or(0).max(0);
                        let previous = existing.remove(&entry.id);
                        let part_id: Option<Uuid> = match previous.as_ref().and_then(|p| p.2) {
                            Some(id) => Some(id),
                            None => sqlx::query_scalar("SELECT id FROM parts WHERE tenant_id = $1 AND number = $2")
                                .bind(tenant_id)
                                .bind(&entry.part_number)
                                .fetch_optional(&mut **tx)
                                .await?,
                        };
                        let consumed = previous.as_ref().map_or(0, |p| p.5);
                        let mut location = previous.as_ref().and_then(|p| p.3);
                        if let Some(part_id) = part_id {
                            if location.is_none() && quantity != consumed {
                                if van.is_none() {
                                    if let Some(t) = technician {
                                        van = Some(Self::van_in(tx, tenant_id, t).await?.id);
                                    }
                                }
                                location = van;
                            }
                            if let Some(location) = location {
                                let delta = quantity - consumed;
                                if delta != 0 {
                                    let movement = NewMovement {
                                        kind: if delta > 0 { MovementKind::Consumption } else { MovementKind::Return },
                                        part_id,
                                        from_location_id: (delta > 0).then_some(location),
                                        to_location_id: (delta < 0).then_some(location),
                                        quantity: delta.abs(),
                                        ticket_id: Some(ticket_id),
                                        entry_id: Some(entry.id.clone()),
                                        reason: None,
                                    };
                                    pending.push(movement);
                                }
                            }
                        }
                        let consumed_now = if part_id.is_some() && location.is_some() { quantity } else { consumed };
                        sqlx::query(
                            "INSERT INTO part_uses (tenant_id, ticket_id, entry_id, part_number, part_id, location_id, quantity, consumed, serial, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                             ON CONFLICT (ticket_id, entry_id) DO UPDATE SET part_id = excluded.part_id, location_id = excluded.location_id, \
                             quantity = excluded.quantity, consumed = excluded.consumed, serial = excluded.serial, updated_at = excluded.updated_at",
                        )
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(&entry.id)
                        .bind(&entry.part_number)
                        .bind(part_id)
                        .bind(location)
                        .bind(quantity)
                        .bind(consumed_now)
                        .bind(&entry.serial)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                        // A serial-tracked part's serial goes onto the ticket's asset,
                        // one row per entry, kept in step with the entry.
                        let serial = entry.serial.as_deref().map(str::trim).filter(|s| !s.is_empty());
                        let had_serial = previous.as_ref().is_some_and(|p| p.6.as_deref().is_some_and(|s| !s.trim().is_empty()));
                        let mut recorded = false;
                        if let (Some(serial), Some(part_id)) = (serial, part_id) {
                            let tracked: bool = sqlx::query_scalar("SELECT serial_tracked FROM parts WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant_id)
                                .bind(part_id)
                                .fetch_one(&mut **tx)
                                .await?;
                            if tracked {
                                if asset.is_none() {
                                    asset = Some(
                                        sqlx::query_scalar::<_, Option<Uuid>>("SELECT asset_id FROM tickets WHERE tenant_id = $1 AND id = $2")
                                            .bind(tenant_id)
                                            .bind(ticket_id)
                                            .fetch_optional(&mut **tx)
                                            .await?
                                            .flatten(),
                                    );
                                }
                                if let Some(Some(asset_id)) = asset {
                                    sqlx::query(
                                        "INSERT INTO asset_serials (tenant_id, asset_id, ticket_id, entry_id, part_id, serial, recorded_at, updated_at) \
                                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                                         ON CONFLICT (ticket_id, entry_id) DO UPDATE SET asset_id = excluded.asset_id, part_id = excluded.part_id, \
                                         serial = excluded.serial, updated_at = excluded.updated_at \
                                         WHERE asset_serials.serial <> excluded.serial OR asset_serials.asset_id <> excluded.asset_id OR asset_serials.part_id <> excluded.part_id",
                                    )
                                    .bind(tenant_id)
                                    .bind(asset_id)
                                    .bind(ticket_id)
                                    .bind(&entry.id)
                                    .bind(part_id)
                                    .bind(serial)
                                    .bind(at)
                                    .execute(&mut **tx)
                                    .await?;
                                    recorded = true;
                                }
                            }
                        }
                        if !recorded && had_serial {
                            sqlx::query("DELETE FROM asset_serials WHERE ticket_id = $1 AND entry_id = $2")
                                .bind(ticket_id)
                                .bind(&entry.id)
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                    // Entries no longer in the document: what they consumed comes back.
                    let mut removed: Vec<UseRow> = existing.into_values().collect();
                    removed.sort_by(|a, b| a.0.cmp(&b.0));
                    for (entry_id, _, part_id, location, _, consumed, serial) in removed {
                        if let (Some(part_id), Some(location)) = (part_id, location) {
                            if consumed > 0 {
                                let movement = NewMovement {
                                    kind: MovementKind::Return,
                                    part_id,
                                    from_location_id: None,
                                    to_location_id: Some(location),
                                    quantity: consumed,
                                    ticket_id: Some(ticket_id),
                                    entry_id: Some(entry_id.clone()),
                                    reason: Some("part entry removed".into()),
                                };
                                pending.push(movement);
                            }
                        }
                        if serial.is_some() {
                            sqlx::query("DELETE FROM asset_serials WHERE ticket_id = $1 AND entry_id = $2")
                                .bind(ticket_id)
                                .bind(&entry_id)
                                .execute(&mut **tx)
                                .await?;
                        }
                        sqlx::query("DELETE FROM part_uses WHERE ticket_id = $1 AND entry_id = $2")
                            .bind(ticket_id)
                            .bind(&entry_id)
                            .execute(&mut **tx)
                            .await?;
                    }
                    // Balance rows are locked in (part, location) order, as every
                    // other movement does, so concurrent writes never deadlock.
                    pending.sort_by_key(|m| (m.part_id, m.from_location_id.or(m.to_location_id)));
                    for movement in &pending {
                        Self::apply_movement_in(tx, tenant_id, actor.user_id, movement).await?;
                    }
                    Ok(())
                }

                async fn part_in(tx: &mut PartTx, tenant_id: Uuid, id: Uuid) -> StoreResult<Part> {
                    let row: Option<PartRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{PART_SELECT} WHERE tenant_id = $1 AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.map(part_from).ok_or(StoreError::NotFound("part"))
                }

                async fn upsert_part_in(tx: &mut PartTx, tenant_id: Uuid, part: &PartInput) -> StoreResult<bool> {
                    let at = now();
                    let existing: Option<Uuid> = sqlx::query_scalar("SELECT id FROM parts WHERE tenant_id = $1 AND number = $2")
                        .bind(tenant_id)
                        .bind(&part.number)
                        .fetch_optional(&mut **tx)
                        .await?;
                    match existing {
                        Some(id) => {
                            sqlx::query(
                                "UPDATE parts SET name = $3, unit = $4, price_cents = $5, cost_cents = $6, barcode = $7, serial_tracked = $8, updated_at = $9 \
                                 WHERE tenant_id = $1 AND id = $2",
                            )
                            .bind(tenant_id)
                            .bind(id)
                            .bind(&part.name)
                            .bind(&part.unit)
                            .bind(part.price_cents)
                            .bind(part.cost_cents)
                            .bind(&part.barcode)
                            .bind(part.serial_tracked)
                            .bind(at)
                            .execute(&mut **tx)
                            .await?;
                            Ok(false)
                        }
                        None => {
                            sqlx::query(
                                "INSERT INTO parts (id, tenant_id, number, name, unit, price_cents, cost_cents, barcode, serial_tracked, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                            )
                            .bind(Uuid::now_v7())
                            .bind(tenant_id)
                            .bind(&part.number)
                            .bind(&part.name)
                            .bind(&part.unit)
                            .bind(part.price_cents)
                            .bind(part.cost_cents)
                            .bind(&part.barcode)
                            .bind(part.serial_tracked)
                            .bind(at)
                            .execute(&mut **tx)
                            .await
                            .map_err(part_conflict)?;
                            Ok(true)
                        }
                    }
                }

                async fn check_ticket_in(tx: &mut PartTx, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<()> {
                    let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    found.map(|_| ()).ok_or(StoreError::NotFound("ticket"))
                }
            }

            #[async_trait]
            impl PartStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_part(&self, actor: Actor, part: &PartInput) -> StoreResult<Part> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let at = now();
                    sqlx::query(
                        "INSERT INTO parts (id, tenant_id, number, name, unit, price_cents, cost_cents, barcode, serial_tracked, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(&part.number)
                    .bind(&part.name)
                    .bind(&part.unit)
                    .bind(part.price_cents)
                    .bind(part.cost_cents)
                    .bind(&part.barcode)
                    .bind(part.serial_tracked)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(part_conflict)?;
                    let created = Self::part_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "part.create", "part", Some(id), None, Some(part))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                #[tracing::instrument(skip_all)]
                async fn update_part(&self, actor: Actor, id: Uuid, part: &PartInput) -> StoreResult<Part> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::part_in(&mut tx, actor.tenant_id, id).await?;
                    sqlx::query(
                        "UPDATE parts SET number = $3, name = $4, unit = $5, price_cents = $6, cost_cents = $7, barcode = $8, serial_tracked = $9, updated_at = $10 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(&part.number)
                    .bind(&part.name)
                    .bind(&part.unit)
                    .bind(part.price_cents)
                    .bind(part.cost_cents)
                    .bind(&part.barcode)
                    .bind(part.serial_tracked)
                    .bind(now().max(before.updated_at + chrono::Duration::microseconds(1)))
                    .execute(&mut *tx)
                    .await
                    .map_err(part_conflict)?;
                    let after = Self::part_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "part.update", "part", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn get_part(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Part> {
                    let row: Option<PartRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{PART_SELECT} WHERE tenant_id = $1 AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(part_from).ok_or(StoreError::NotFound("part"))
                }

                async fn parts_by_numbers(&self, tenant_id: Uuid, numbers: &[String]) -> StoreResult<Vec<Part>> {
                    if numbers.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = QueryBuilder::<$db>::new(PART_SELECT);
                    q.push(" WHERE tenant_id = ").push_bind(tenant_id).push(" AND number IN (");
                    let mut list = q.separated(", ");
                    for number in numbers {
                        list.push_bind(number.clone());
                    }
                    q.push(") ORDER BY number");
                    let rows: Vec<PartRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    Ok(rows.into_iter().map(part_from).collect())
                }

                async fn list_parts(&self, tenant_id: Uuid, query: Option<&str>, page: PageRequest) -> StoreResult<Page<Part>> {
                    let mut q = QueryBuilder::<$db>::new(PART_SELECT);
                    q.push(" WHERE tenant_id = ").push_bind(tenant_id);
                    if let Some(text) = query.filter(|t| !t.trim().is_empty()) {
                        q.push(" AND LOWER(number || ' ' || name || ' ' || COALESCE(barcode, '')) LIKE ")
                            .push_bind(like_pattern(text.trim()))
                            .push(" ESCAPE '\\'");
                    }
                    if let Some(after) = page.after {
                        q.push(" AND id > ").push_bind(after);
                    }
                    q.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<PartRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    let items: Vec<Part> = rows.into_iter().map(part_from).collect();
                    Ok($crate::store::rows::into_page(items, page.limit, |p| p.id))
                }

                #[tracing::instrument(skip_all)]
                async fn import_parts(&self, actor: Actor, parts: &[PartInput]) -> StoreResult<ImportOutcome> {
                    let mut tx = self.begin_write().await?;
                    let mut outcome = ImportOutcome::default();
                    for part in parts {
                        if Self::upsert_part_in(&mut tx, actor.tenant_id, part).await? {
                            outcome.created += 1;
                        } else {
                            outcome.updated += 1;
                        }
                    }
                    let detail = serde_json::json!({"created": outcome.created, "updated": outcome.updated});
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "part.import", "part", None, None, Some(&detail))).await?;
                    tx.commit().await?;
                    Ok(outcome)
                }

                #[tracing::instrument(skip_all)]
                async fn create_warehouse(&self, actor: Actor, name: &str) -> StoreResult<StockLocation> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    sqlx::query("INSERT INTO stock_locations (id, tenant_id, kind, name, technician_id, created_at) VALUES ($1, $2, 'warehouse', $3, NULL, $4)")
                        .bind(id)
                        .bind(actor.tenant_id)
                        .bind(name)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    let row: LocationRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{LOCATION_SELECT} WHERE id = $1")))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let location = location_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "stock.location_create", "stock_location", Some(id), None, Some(&location))).await?;
                    tx.commit().await?;
                    Ok(location)
                }

                #[tracing::instrument(skip_all)]
                async fn van_for_technician(&self, actor: Actor, technician_id: Uuid) -> StoreResult<StockLocation> {
                    let mut tx = self.begin_write().await?;
                    let van = Self::van_in(&mut tx, actor.tenant_id, technician_id).await?;
                    tx.commit().await?;
                    Ok(van)
                }

                async fn list_locations(&self, tenant_id: Uuid) -> StoreResult<Vec<StockLocation>> {
                    let rows: Vec<LocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{LOCATION_SELECT} WHERE tenant_id = $1 ORDER BY kind DESC, name, id")))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.into_iter().map(location_from).collect()
                }

                async fn get_location(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<StockLocation> {
                    let row: Option<LocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{LOCATION_SELECT} WHERE tenant_id = $1 AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    location_from(row.ok_or(StoreError::NotFound("stock location"))?)
                }

                #[tracing::instrument(skip_all)]
                async fn record_movement(&self, actor: Actor, movement: &NewMovement) -> StoreResult<Movement> {
                    let mut tx = self.begin_write().await?;
                    let part: Option<Uuid> = sqlx::query_scalar("SELECT id FROM parts WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(movement.part_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if part.is_none() {
                        return Err(StoreError::Reference { field: "part_id", message: "no such part in this tenant".into() });
                    }
                    for (field, location) in [("from_location_id", movement.from_location_id), ("to_location_id", movement.to_location_id)] {
                        if let Some(location) = location {
                            let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM stock_locations WHERE tenant_id = $1 AND id = $2")
                                .bind(actor.tenant_id)
                                .bind(location)
                                .fetch_optional(&mut *tx)
                                .await?;
                            if found.is_none() {
                                let field = if movement.kind == MovementKind::Adjustment { "location_id" } else { field };
                                return Err(StoreError::Reference { field, message: "no such stock location in this tenant".into() });
                            }
                        }
                    }
                    if let Some(ticket) = movement.ticket_id {
                        Self::check_ticket_in(&mut tx, actor.tenant_id, ticket).await.map_err(|_| StoreError::Reference {
                            field: "ticket_id",
                            message: "no such ticket in this tenant".into(),
                        })?;
                    }
                    let recorded = Self::apply_movement_in(&mut tx, actor.tenant_id, actor.user_id, movement).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "stock.movement", "stock_movement", Some(recorded.id), None, Some(&recorded))).await?;
                    tx.commit().await?;
                    Ok(recorded)
                }

                async fn list_movements(&self, tenant_id: Uuid, filter: &MovementFilter, page: PageRequest) -> StoreResult<Page<Movement>> {
                    let mut q = QueryBuilder::<$db>::new(MOVEMENT_SELECT);
                    q.push(" WHERE tenant_id = ").push_bind(tenant_id);
                    if let Some(location) = filter.location_id {
                        q.push(" AND (from_location_id = ").push_bind(location).push(" OR to_location_id = ").push_bind(location).push(")");
                    }
                    if let Some(part) = filter.part_id {
                        q.push(" AND part_id = ").push_bind(part);
                    }
                    if let Some(ticket) = filter.ticket_id {
                        q.push(" AND ticket_id = ").push_bind(ticket);
                    }
                    if let Some(kind) = filter.kind {
                        q.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    // Ids are time-ordered (v7): newest first, keyset below the cursor.
                    if let Some(after) = page.after {
                        q.push(" AND id < ").push_bind(after);
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<MovementRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    let items = rows.into_iter().map(movement_from).collect::<StoreResult<Vec<_>>>()?;
                    Ok($crate::store::rows::into_page(items, page.limit, |m| m.id))
                }

                async fn balances(&self, tenant_id: Uuid, filter: &BalanceFilter) -> StoreResult<Vec<Balance>> {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT l.id, l.name, l.kind, l.technician_id, p.id, p.number, p.name, p.unit, COALESCE(b.quantity, 0), r.min_quantity \
                         FROM stock_balances b \
                         JOIN stock_locations l ON l.id = b.location_id \
                         JOIN parts p ON p.id = b.part_id \
                         LEFT JOIN stock_reorder_points r ON r.location_id = b.location_id AND r.part_id = b.part_id \
                         WHERE b.tenant_id = ",
                    );
                    q.push_bind(tenant_id);
                    if let Some(location) = filter.location_id {
                        q.push(" AND b.location_id = ").push_bind(location);
                    }
                    if let Some(part) = filter.part_id {
                        q.push(" AND b.part_id = ").push_bind(part);
                    }
                    if filter.vans {
                        q.push(" AND l.kind = 'van'");
                    }
                    if filter.negative {
                        q.push(" AND b.quantity < 0");
                    } else {
                        q.push(" AND (b.quantity <> 0 OR r.min_quantity IS NOT NULL)");
                    }
                    q.push(" ORDER BY l.name, l.id, p.number");
                    let rows: Vec<BalanceRow> = q.build_query_as().fetch_all(&self.pool).await?;
                    rows.into_iter().map(balance_from).collect()
                }

                async fn balance_of(&self, tenant_id: Uuid, location_id: Uuid, part_id: Uuid) -> StoreResult<i64> {
                    let quantity: Option<i64> = sqlx::query_scalar(
                        "SELECT quantity FROM stock_balances WHERE tenant_id = $1 AND location_id = $2 AND part_id = $3",
                    )
                    .bind(tenant_id)
                    .bind(location_id)
                    .bind(part_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(quantity.unwrap_or(0))
                }

                #[tracing::instrument(skip_all)]
                async fn set_reorder_point(&self, actor: Actor, point: &ReorderPointInput) -> StoreResult<()> {
                    let (Some(min), Some(target)) = (to_milli(point.min), to_milli(point.target)) else {
                        return Err(StoreError::Reference { field: "min", message: "not a quantity".into() });
                    };
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO stock_reorder_points (tenant_id, location_id, part_id, min_quantity, target_quantity) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (location_id, part_id) DO UPDATE SET min_quantity = excluded.min_quantity, target_quantity = excluded.target_quantity",
                    )
                    .bind(actor.tenant_id)
                    .bind(point.location_id)
                    .bind(point.part_id)
                    .bind(min)
                    .bind(target)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "reorder point exists", ("location_id", "unknown location or part in this tenant")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "stock.reorder_point", "stock_location", Some(point.location_id), None, Some(point))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn suggestions(&self, tenant_id: Uuid) -> StoreResult<Vec<Suggestion>> {
                    type Row = (Uuid, String, Uuid, String, String, i64, i64, i64);
                    let rows: Vec<Row> = sqlx::query_as(
                        "SELECT l.id, l.name, p.id, p.number, p.name, COALESCE(b.quantity, 0), r.min_quantity, r.target_quantity \
                         FROM stock_reorder_points r \
                         JOIN stock_locations l ON l.id = r.location_id \
                         JOIN parts p ON p.id = r.part_id \
                         LEFT JOIN stock_balances b ON b.location_id = r.location_id AND b.part_id = r.part_id \
                         WHERE r.tenant_id = $1 AND COALESCE(b.quantity, 0) < r.min_quantity \
                         ORDER BY l.name, l.id, p.number",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(location_id, location_name, part_id, part_number, part_name, balance, min, target)| Suggestion {
                            location_id,
                            location_name,
                            part_id,
                            part_number,
                            part_name,
                            balance: from_milli(balance),
                            min: from_milli(min),
                            target: from_milli(target),
                            suggested_quantity: from_milli((target.max(min) - balance).max(0)),
                        })
                        .collect())
                }

                #[tracing::instrument(skip_all)]
                async fn set_required_parts(&self, actor: Actor, ticket_id: Uuid, parts: &[(Uuid, i64)]) -> StoreResult<Vec<RequiredPart>> {
                    let mut tx = self.begin_write().await?;
                    Self::check_ticket_in(&mut tx, actor.tenant_id, ticket_id).await?;
                    sqlx::query("DELETE FROM ticket_required_parts WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .execute(&mut *tx)
                        .await?;
                    for (i, (part_id, quantity)) in parts.iter().enumerate() {
                        let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM parts WHERE tenant_id = $1 AND id = $2")
                            .bind(actor.tenant_id)
                            .bind(part_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if found.is_none() {
                            return Err(StoreError::Reference { field: "parts", message: format!("parts[{i}].part_id: no such part in this tenant") });
                        }
                        sqlx::query("INSERT INTO ticket_required_parts (tenant_id, ticket_id, part_id, quantity) VALUES ($1, $2, $3, $4)")
                            .bind(actor.tenant_id)
                            .bind(ticket_id)
                            .bind(part_id)
                            .bind(quantity)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| write_error(e, "a part is listed twice", ("parts", "unknown part")))?;
                    }
                    let detail: Vec<serde_json::Value> = parts.iter().map(|(p, q)| serde_json::json!({"part_id": p, "quantity": from_milli(*q)})).collect();
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.required_parts", "ticket", Some(ticket_id), None, Some(&detail))).await?;
                    tx.commit().await?;
                    self.required_parts(actor.tenant_id, ticket_id).await
                }

                async fn required_parts(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<RequiredPart>> {
                    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
                        "SELECT p.id, p.number, p.name, r.quantity FROM ticket_required_parts r JOIN parts p ON p.id = r.part_id \
                         WHERE r.tenant_id = $1 AND r.ticket_id = $2 ORDER BY p.number",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(part_id, part_number, name, quantity)| RequiredPart { part_id, part_number, name, quantity: from_milli(quantity) })
                        .collect())
                }

                #[tracing::instrument(skip_all)]
                async fn set_parts_policy(&self, actor: Actor, category: &str, policy: PartsPolicy) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO category_parts_policies (tenant_id, category, policy) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_id, category) DO UPDATE SET policy = excluded.policy",
                    )
                    .bind(actor.tenant_id)
                    .bind(category)
                    .bind(policy.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let detail = serde_json::json!({"category": category, "policy": policy.as_str()});
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "parts.policy", "category", None, None, Some(&detail))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn parts_policy(&self, tenant_id: Uuid, category: &str) -> StoreResult<PartsPolicy> {
                    let policy: Option<String> = sqlx::query_scalar("SELECT policy FROM category_parts_policies WHERE tenant_id = $1 AND category = $2")
                        .bind(tenant_id)
                        .bind(category)
                        .fetch_optional(&self.pool)
                        .await?;
                    match policy {
                        Some(p) => PartsPolicy::parse(&p).ok_or_else(|| StoreError::Corrupt(format!("parts policy {p:?}"))),
                        None => Ok(PartsPolicy::default()),
                    }
                }

                async fn van_holdings(&self, tenant_id: Uuid, part_ids: &[Uuid]) -> StoreResult<Vec<VanHolding>> {
                    if part_ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT l.technician_id, b.part_id, b.quantity FROM stock_balances b JOIN stock_locations l ON l.id = b.location_id \
                         WHERE b.tenant_id = ",
                    );
                    q.push_bind(tenant_id).push(" AND l.kind = 'van' AND b.quantity > 0 AND b.part_id IN (");
                    let mut ids = q.separated(", ");
                    for id in part_ids {
                        ids.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<(Option<Uuid>, Uuid, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                    Ok(rows
                        .into_iter()
                        .filter_map(|(technician, part_id, quantity)| technician.map(|technician_id| VanHolding { technician_id, part_id, quantity }))
                        .collect())
                }

                #[tracing::instrument(skip_all)]
                async fn set_labour_rate(&self, actor: Actor, rate: &LabourRate) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO labour_rates (tenant_id, scope, scope_key, cents_per_hour) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, scope, scope_key) DO UPDATE SET cents_per_hour = excluded.cents_per_hour",
                    )
                    .bind(actor.tenant_id)
                    .bind(rate.scope.as_str())
                    .bind(&rate.key)
                    .bind(rate.cents_per_hour)
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "parts.labour_rate", "tenant", None, None, Some(rate))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn labour_rates(&self, tenant_id: Uuid) -> StoreResult<Vec<LabourRate>> {
                    let rows: Vec<(String, String, i64)> = sqlx::query_as(
                        "SELECT scope, scope_key, cents_per_hour FROM labour_rates WHERE tenant_id = $1 ORDER BY scope, scope_key",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(scope, key, cents_per_hour)| {
                            let scope = RateScope::parse(&scope).ok_or_else(|| StoreError::Corrupt(format!("rate scope {scope:?}")))?;
                            Ok(LabourRate { scope, key, cents_per_hour })
                        })
                        .collect()
                }

                async fn van_entries(&self, tenant_id: Uuid, location_id: Uuid) -> StoreResult<Vec<VanEntry>> {
                    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
                        "SELECT u.ticket_id, u.entry_id, u.part_number, u.consumed FROM part_uses u JOIN tickets t ON t.id = u.ticket_id \
                         WHERE u.tenant_id = $1 AND u.location_id = $2 AND u.consumed <> 0 AND t.status NOT IN ('closed', 'cancelled') \
                         ORDER BY u.ticket_id, u.entry_id",
                    )
                    .bind(tenant_id)
                    .bind(location_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(ticket_id, entry_id, part_number, consumed)| VanEntry { ticket_id, entry_id, part_number, consumed: from_milli(consumed) })
                        .collect())
                }

                async fn part_uses(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<PartUse>> {
                    type Row = (String, String, Option<Uuid>, i64, i64, Option<String>);
                    let rows: Vec<Row> = sqlx::query_as(
                        "SELECT entry_id, part_number, location_id, quantity, consumed, serial FROM part_uses WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY entry_id",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut out = Vec::with_capacity(rows.len());
                    let mut parts: HashMap<String, Option<Part>> = HashMap::new();
                    for (entry_id, part_number, location_id, quantity, consumed, serial) in rows {
                        if !parts.contains_key(&part_number) {
                            let row: Option<PartRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{PART_SELECT} WHERE tenant_id = $1 AND number = $2")))
                                .bind(tenant_id)
                                .bind(&part_number)
                                .fetch_optional(&self.pool)
                                .await?;
                            parts.insert(part_number.clone(), row.map(part_from));
                        }
                        let part = parts.get(&part_number).cloned().flatten();
                        out.push(PartUse { entry_id, part_number, part, location_id, quantity, consumed, serial });
                    }
                    Ok(out)
                }

                async fn asset_serials(&self, tenant_id: Uuid, asset_id: Uuid) -> StoreResult<Vec<AssetSerial>> {
                    let known: Option<Uuid> = sqlx::query_scalar("SELECT id FROM assets WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(asset_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    if known.is_none() {
                        return Err(StoreError::NotFound("asset"));
                    }
                    type Row = (Uuid, String, String, Uuid, String, String, String, DateTime<Utc>, DateTime<Utc>);
                    let rows: Vec<Row> = sqlx::query_as(
                        "SELECT s.ticket_id, t.number, s.entry_id, s.part_id, p.number, p.name, s.serial, s.recorded_at, s.updated_at \
                         FROM asset_serials s JOIN tickets t ON t.tenant_id = s.tenant_id AND t.id = s.ticket_id \
                         JOIN parts p ON p.tenant_id = s.tenant_id AND p.id = s.part_id \
                         WHERE s.tenant_id = $1 AND s.asset_id = $2 ORDER BY s.recorded_at, s.ticket_id, s.entry_id",
                    )
                    .bind(tenant_id)
                    .bind(asset_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(ticket_id, ticket_number, entry_id, part_id, part_number, part_name, serial, recorded_at, updated_at)| AssetSerial {
                            ticket_id, ticket_number, entry_id, part_id, part_number, part_name, serial, recorded_at, updated_at,
                        })
                        .collect())
                }
            }
        };
    };
}

pub(in crate::store) use impl_part_store;
