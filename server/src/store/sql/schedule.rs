//! SQL behind `ScheduleStore`: durations per category, appointment windows
//! (with the overlap guard and the customer's message in the write's
//! transaction), absences and holidays.

macro_rules! impl_schedule_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, NaiveDate, Utc};
            use uuid::Uuid;

            use $crate::domain::{
                audit::{AuditEvent, audit_time},
                geo::GeoPoint,
                schedule::{Absence, AbsenceKind, AppointmentWindow, CategoryDuration, Holiday, WindowSource},
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                notify::{NoticeContext, NoticeEvent},
                rows::TicketRow,
                schedule::{AbsenceSet, BookedJob, DayPlanRecord, PlanStep, PromisedJob, ScheduleStore, WindowSet},
                sql::{LOAD_STATUSES, TICKET_COLUMNS, audit, next_version, now, write_error},
            };
            use $crate::domain::ticket::Ticket;

            type WindowRow = (Uuid, DateTime<Utc>, DateTime<Utc>, i32, Option<Uuid>, String, Option<DateTime<Utc>>, DateTime<Utc>);
            const WINDOW_COLUMNS: &str = "ticket_id, starts_at, ends_at, duration_minutes, technician_id, source, planned_start, updated_at";
            type PlanRow = (Uuid, String, Option<Uuid>, String, String, DateTime<Utc>, Option<DateTime<Utc>>);
            const PLAN_COLUMNS: &str = "id, day, territory_id, state, body, created_at, applied_at";
            type AbsenceRow = (Uuid, Uuid, String, DateTime<Utc>, DateTime<Utc>, String, DateTime<Utc>);
            const ABSENCE_COLUMNS: &str = "id, technician_id, kind, starts_at, ends_at, note, created_at";
            /// Tickets whose windows no longer occupy anyone.
            const WINDOW_DONE: &str = "('cancelled', 'closed')";

            fn minutes(value: i32, column: &str) -> StoreResult<u32> {
                u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column}: {value}")))
            }

            fn window(row: WindowRow) -> StoreResult<AppointmentWindow> {
                let (ticket_id, starts_at, ends_at, duration, technician_id, source, planned_start, updated_at) = row;
                Ok(AppointmentWindow {
                    ticket_id,
                    starts_at,
                    ends_at,
                    duration_minutes: minutes(duration, "ticket_windows.duration_minutes")?,
                    technician_id,
                    source: WindowSource::parse(&source).ok_or_else(|| StoreError::Corrupt(format!("ticket_windows.source: {source}")))?,
                    planned_start,
                    updated_at,
                })
            }

            fn absence(row: AbsenceRow) -> StoreResult<Absence> {
                let (id, technician_id, kind, starts_at, ends_at, note, created_at) = row;
                Ok(Absence {
                    id,
                    technician_id,
                    kind: AbsenceKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("technician_absences.kind: {kind}")))?,
                    starts_at,
                    ends_at,
                    note,
                    created_at,
                })
            }

            fn plan(row: PlanRow) -> StoreResult<DayPlanRecord> {
                let (id, day_text, territory_id, state, body, created_at, applied_at) = row;
                Ok(DayPlanRecord { id, day: day(&day_text)?, territory_id, state, body, created_at, applied_at })
            }

            fn day(value: &str) -> StoreResult<NaiveDate> {
                NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| StoreError::Corrupt(format!("tenant_holidays.day: {value}")))
            }

            impl $store {
                /// The window of a ticket inside a transaction.
                async fn window_in(tx: &mut sqlx::Transaction<'static, $db>, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<AppointmentWindow>> {
                    let row: Option<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {WINDOW_COLUMNS} FROM ticket_windows WHERE tenant_id = $1 AND ticket_id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    row.map(window).transpose()
                }

                /// Books or moves a window inside a transaction (see `set_ticket_window`).
                async fn set_window_in(tx: &mut sqlx::Transaction<'static, $db>, actor: Actor, ticket_id: Uuid, set: &WindowSet) -> StoreResult<AppointmentWindow> {
                    if let Some(technician_id) = set.technician_id {
                        // A no-op write takes the technician's row lock, so two
                        // bookings with one technician take turns (SQLite already
                        // holds the database write lock).
                        let archived: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                            "UPDATE technicians SET capacity = capacity WHERE tenant_id = $1 AND id = $2 RETURNING archived_at",
                        )
                        .bind(actor.tenant_id)
                        .bind(technician_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                        match archived {
                            None => return Err(StoreError::Reference { field: "technician_id", message: "no such technician".into() }),
                            Some(Some(_)) => return Err(StoreError::Reference { field: "technician_id", message: "the technician is archived".into() }),
                            Some(None) => {}
                        }
                    }
                    let status: Option<String> = sqlx::query_scalar("SELECT status FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let status = status.ok_or(StoreError::NotFound("ticket"))?;
                    if matches!(status.as_str(), "work_done" | "closed" | "cancelled") {
                        return Err(StoreError::Conflict(format!("the ticket is {status}; its window cannot change")));
                    }
                    if let Some(technician_id) = set.technician_id {
                        let clash: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT t.number FROM ticket_windows w JOIN tickets t ON t.tenant_id = w.tenant_id AND t.id = w.ticket_id \
                             WHERE w.tenant_id = $1 AND w.ticket_id <> $2 AND COALESCE(w.technician_id, t.assignee_id) = $3 \
                             AND w.starts_at < $5 AND w.ends_at > $4 AND t.status NOT IN {WINDOW_DONE} \
                             ORDER BY w.starts_at LIMIT 1"
                        )))
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .bind(technician_id)
                        .bind(audit_time(set.starts_at))
                        .bind(audit_time(set.ends_at))
                        .fetch_optional(&mut **tx)
                        .await?;
                        if let Some(number) = clash {
                            return Err(StoreError::Conflict(format!("the technician is already booked in an overlapping window ({number})")));
                        }
                    }
                    let before = Self::window_in(tx, actor.tenant_id, ticket_id).await?;
                    let row: WindowRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO ticket_windows (tenant_id, ticket_id, starts_at, ends_at, duration_minutes, technician_id, source, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
                         duration_minutes = excluded.duration_minutes, technician_id = excluded.technician_id, source = excluded.source, \
                         planned_start = NULL, plan_id = NULL, updated_at = excluded.updated_at RETURNING {WINDOW_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(ticket_id)
                    .bind(audit_time(set.starts_at))
                    .bind(audit_time(set.ends_at))
                    .bind(i32::try_from(set.duration_minutes).unwrap_or(i32::MAX))
                    .bind(set.technician_id)
                    .bind(set.source.as_str())
                    .bind(now())
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, "the window conflicts with another", ("technician_id", "no such technician")))?;
                    let after = window(row)?;
                    let moved = before.as_ref().is_none_or(|b| b.starts_at != after.starts_at || b.ends_at != after.ends_at);
                    let action = if before.is_some() { "ticket.window_moved" } else { "ticket.window_booked" };
                    audit::append(tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "ticket", Some(ticket_id), before.as_ref(), Some(&after))).await?;
                    if moved {
                        let key = format!("window:{}:{}", after.starts_at.timestamp(), after.ends_at.timestamp());
                        Self::window_notice_in(tx, actor.tenant_id, ticket_id, NoticeEvent::AppointmentBooked, &key, &set.notice_text).await?;
                    }
                    Ok(after)
                }

                /// Queues the customer's message about the window.
                async fn window_notice_in(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    tenant_id: Uuid,
                    ticket_id: Uuid,
                    event: NoticeEvent,
                    key: &str,
                    text: &str,
                ) -> StoreResult<()> {
                    let ticket: Option<(String, String, Uuid)> = sqlx::query_as("SELECT number, title, site_id FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let Some((number, title, site_id)) = ticket else {
                        return Ok(());
                    };
                    let context = |contact_name: &str| NoticeContext {
                        ticket_number: number.clone(),
                        ticket_title: title.clone(),
                        customer_name: contact_name.to_owned(),
                        appointment_window: Some(text.to_owned()),
                        ..NoticeContext::default()
                    };
                    Self::enqueue_notices_in(tx, (tenant_id, ticket_id, site_id), event, key, &context).await
                }
            }

            #[async_trait]
            impl ScheduleStore for $store {
                async fn category_duration(&self, tenant_id: Uuid, category: &str) -> StoreResult<Option<u32>> {
                    let value: Option<i32> = sqlx::query_scalar("SELECT minutes FROM category_durations WHERE tenant_id = $1 AND category = $2")
                        .bind(tenant_id)
                        .bind(category)
                        .fetch_optional(&self.pool)
                        .await?;
                    value.map(|v| minutes(v, "category_durations.minutes")).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn set_category_duration(&self, actor: Actor, category: &str, value: u32) -> StoreResult<CategoryDuration> {
                    let mut tx = self.begin_write().await?;
                    let before: Option<i32> = sqlx::query_scalar("SELECT minutes FROM category_durations WHERE tenant_id = $1 AND category = $2")
                        .bind(actor.tenant_id)
                        .bind(category)
                        .fetch_optional(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO category_durations (tenant_id, category, minutes, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, category) DO UPDATE SET minutes = excluded.minutes, updated_at = excluded.updated_at",
                    )
                    .bind(actor.tenant_id)
                    .bind(category)
                    .bind(i32::try_from(value).unwrap_or(i32::MAX))
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    let after = CategoryDuration { category: category.to_owned(), minutes: value };
                    let before = before.map(|m| CategoryDuration { category: category.to_owned(), minutes: u32::try_from(m).unwrap_or(0) });
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "category.duration", "category", None, before.as_ref(), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn list_category_durations(&self, tenant_id: Uuid) -> StoreResult<Vec<CategoryDuration>> {
                    let rows: Vec<(String, i32)> = sqlx::query_as("SELECT category, minutes FROM category_durations WHERE tenant_id = $1 ORDER BY category")
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.into_iter()
                        .map(|(category, m)| Ok(CategoryDuration { category, minutes: minutes(m, "category_durations.minutes")? }))
                        .collect()
                }

                async fn ticket_window(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<AppointmentWindow>> {
                    let row: Option<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {WINDOW_COLUMNS} FROM ticket_windows WHERE tenant_id = $1 AND ticket_id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(window).transpose()
                }

                async fn ticket_windows(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<AppointmentWindow>> {
                    let mut out = Vec::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = sqlx::QueryBuilder::<$db>::new(format!("SELECT {WINDOW_COLUMNS} FROM ticket_windows WHERE tenant_id = "));
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        let rows: Vec<WindowRow> = query.build_query_as().fetch_all(&self.pool).await?;
                        for row in rows {
                            out.push(window(row)?);
                        }
                    }
                    Ok(out)
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket_id))]
                async fn set_ticket_window(&self, actor: Actor, ticket_id: Uuid, set: &WindowSet) -> StoreResult<AppointmentWindow> {
                    let mut tx = self.begin_write().await?;
                    let after = Self::set_window_in(&mut tx, actor, ticket_id, set).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all, fields(ticket = %ticket_id))]
                async fn clear_ticket_window(&self, actor: Actor, ticket_id: Uuid, notice_text: &str) -> StoreResult<AppointmentWindow> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::window_in(&mut tx, actor.tenant_id, ticket_id).await?.ok_or(StoreError::NotFound("window"))?;
                    sqlx::query("DELETE FROM ticket_windows WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.window_cancelled", "ticket", Some(ticket_id), Some(&before), None)).await?;
                    let key = format!("window-cancelled:{}:{}", before.starts_at.timestamp(), before.updated_at.timestamp_micros());
                    Self::window_notice_in(&mut tx, actor.tenant_id, ticket_id, NoticeEvent::AppointmentCancelled, &key, notice_text).await?;
                    tx.commit().await?;
                    Ok(before)
                }

                async fn booked_jobs(&self, tenant_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<BookedJob>> {
                    type Row = (Uuid, String, Uuid, f64, f64, DateTime<Utc>, DateTime<Utc>, i32);
                    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT w.ticket_id, t.number, COALESCE(w.technician_id, t.assignee_id), s.lat, s.lon, w.starts_at, w.ends_at, w.duration_minutes \
                         FROM ticket_windows w JOIN tickets t ON t.tenant_id = w.tenant_id AND t.id = w.ticket_id \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE w.tenant_id = $1 AND w.ends_at > $2 AND w.starts_at < $3 AND t.status NOT IN {WINDOW_DONE} \
                         AND COALESCE(w.technician_id, t.assignee_id) IS NOT NULL ORDER BY w.starts_at, w.ticket_id"
                    )))
                    .bind(tenant_id)
                    .bind(audit_time(from))
                    .bind(audit_time(to))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(ticket_id, ticket_number, technician_id, lat, lon, starts_at, ends_at, duration)| {
                            Ok(BookedJob {
                                ticket_id,
                                ticket_number,
                                technician_id,
                                site: GeoPoint { lat, lon },
                                starts_at,
                                ends_at,
                                duration_minutes: minutes(duration, "ticket_windows.duration_minutes")?,
                            })
                        })
                        .collect()
                }

                async fn promised_jobs(&self, tenant_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<PromisedJob>> {
                    type Row = (Uuid, f64, f64, DateTime<Utc>, DateTime<Utc>, i32);
                    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT w.ticket_id, s.lat, s.lon, w.starts_at, w.ends_at, w.duration_minutes \
                         FROM ticket_windows w JOIN tickets t ON t.tenant_id = w.tenant_id AND t.id = w.ticket_id \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE w.tenant_id = $1 AND w.ends_at > $2 AND w.starts_at < $3 AND t.status NOT IN {WINDOW_DONE} \
                         AND w.technician_id IS NULL AND t.assignee_id IS NULL ORDER BY w.starts_at, w.ticket_id"
                    )))
                    .bind(tenant_id)
                    .bind(audit_time(from))
                    .bind(audit_time(to))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(ticket_id, lat, lon, starts_at, ends_at, duration)| {
                            Ok(PromisedJob {
                                ticket_id,
                                site: GeoPoint { lat, lon },
                                starts_at,
                                ends_at,
                                duration_minutes: minutes(duration, "ticket_windows.duration_minutes")?,
                            })
                        })
                        .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn create_absence(&self, actor: Actor, set: &AbsenceSet<'_>) -> StoreResult<Absence> {
                    let mut tx = self.begin_write().await?;
                    let row: AbsenceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO technician_absences (id, tenant_id, technician_id, kind, starts_at, ends_at, note, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ABSENCE_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(set.technician_id)
                    .bind(set.kind.as_str())
                    .bind(audit_time(set.starts_at))
                    .bind(audit_time(set.ends_at))
                    .bind(set.note)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "absence exists", ("technician_id", "no such technician")))?;
                    let created = absence(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.absence_added", "technician", Some(set.technician_id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn list_absences(&self, tenant_id: Uuid, technician_id: Option<Uuid>, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Absence>> {
                    let rows: Vec<AbsenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ABSENCE_COLUMNS} FROM technician_absences WHERE tenant_id = $1 AND ($2 IS NULL OR technician_id = $2) \
                         AND ends_at > $3 AND starts_at < $4 ORDER BY starts_at, id"
                    )))
                    .bind(tenant_id)
                    .bind(technician_id)
                    .bind(audit_time(from))
                    .bind(audit_time(to))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(absence).collect()
                }

                #[tracing::instrument(skip_all)]
                async fn delete_absence(&self, actor: Actor, technician_id: Uuid, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<AbsenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM technician_absences WHERE tenant_id = $1 AND technician_id = $2 AND id = $3 RETURNING {ABSENCE_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(technician_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let removed = absence(row.ok_or(StoreError::NotFound("absence"))?)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.absence_removed", "technician", Some(technician_id), Some(&removed), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn put_holiday(&self, actor: Actor, holiday: &Holiday) -> StoreResult<Holiday> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO tenant_holidays (tenant_id, day, name) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_id, day) DO UPDATE SET name = excluded.name",
                    )
                    .bind(actor.tenant_id)
                    .bind(holiday.day.format("%Y-%m-%d").to_string())
                    .bind(&holiday.name)
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "tenant.holiday_set", "tenant", Some(actor.tenant_id), None, Some(holiday))).await?;
                    tx.commit().await?;
                    Ok(holiday.clone())
                }

                async fn list_holidays(&self, tenant_id: Uuid, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<Holiday>> {
                    let rows: Vec<(String, String)> = sqlx::query_as("SELECT day, name FROM tenant_holidays WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day")
                        .bind(tenant_id)
                        .bind(from.format("%Y-%m-%d").to_string())
                        .bind(to.format("%Y-%m-%d").to_string())
                        .fetch_all(&self.pool)
                        .await?;
                    rows.into_iter().map(|(d, name)| Ok(Holiday { day: day(&d)?, name })).collect()
                }

                #[tracing::instrument(skip_all)]
                async fn delete_holiday(&self, actor: Actor, when: NaiveDate) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let name: Option<String> = sqlx::query_scalar("DELETE FROM tenant_holidays WHERE tenant_id = $1 AND day = $2 RETURNING name")
                        .bind(actor.tenant_id)
                        .bind(when.format("%Y-%m-%d").to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let name = name.ok_or(StoreError::NotFound("holiday"))?;
                    let removed = Holiday { day: when, name };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "tenant.holiday_removed", "tenant", Some(actor.tenant_id), Some(&removed), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn plan_ticket_ids(&self, tenant_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, territory_id: Option<Uuid>, limit: u32) -> StoreResult<Vec<Uuid>> {
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT t.id FROM tickets t JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         LEFT JOIN ticket_windows w ON w.tenant_id = t.tenant_id AND w.ticket_id = t.id \
                         WHERE t.tenant_id = $1 AND t.status IN ('new', 'assigned', 'accepted') \
                         AND ((w.ticket_id IS NOT NULL AND w.starts_at < $3 AND w.ends_at > $2) OR (w.ticket_id IS NULL AND t.status = 'new')) \
                         AND ($4 IS NULL OR s.territory_id = $4) ORDER BY t.id LIMIT $5",
                    )
                    .bind(tenant_id)
                    .bind(audit_time(from))
                    .bind(audit_time(to))
                    .bind(territory_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(ids)
                }

                #[tracing::instrument(skip_all)]
                async fn create_day_plan(&self, actor: Actor, when: NaiveDate, territory_id: Option<Uuid>, body: &str) -> StoreResult<DayPlanRecord> {
                    let mut tx = self.begin_write().await?;
                    let row: PlanRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO day_plans (id, tenant_id, day, territory_id, state, body, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, 'proposed', $5, $6, $7) RETURNING {PLAN_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(when.format("%Y-%m-%d").to_string())
                    .bind(territory_id)
                    .bind(body)
                    .bind(actor.user_id)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await?;
                    let created = plan(row)?;
                    #[derive(serde::Serialize)]
                    struct Made { id: Uuid, day: NaiveDate, territory_id: Option<Uuid> }
                    let made = Made { id: created.id, day: created.day, territory_id };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "day_plan.proposed", "day_plan", Some(created.id), None, Some(&made))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_day_plan(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<DayPlanRecord> {
                    let row: Option<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {PLAN_COLUMNS} FROM day_plans WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    plan(row.ok_or(StoreError::NotFound("day plan"))?)
                }

                #[tracing::instrument(skip_all, fields(plan = %plan_id, steps = steps.len()))]
                async fn apply_day_plan(&self, actor: Actor, plan_id: Uuid, steps: &[PlanStep]) -> StoreResult<Vec<(Ticket, Ticket)>> {
                    let mut tx = self.begin_write().await?;
                    let applied: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE day_plans SET state = 'applied', applied_at = $3 WHERE tenant_id = $1 AND id = $2 AND state = 'proposed' RETURNING id",
                    )
                    .bind(actor.tenant_id)
                    .bind(plan_id)
                    .bind(now())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if applied.is_none() {
                        self.get_day_plan(actor.tenant_id, plan_id).await?;
                        return Err(StoreError::Conflict("the plan was already applied".into()));
                    }
                    // Technicians locked in one order, so two applications cannot deadlock.
                    let mut order: Vec<&PlanStep> = steps.iter().collect();
                    order.sort_by_key(|step| (step.technician_id, step.ticket_id));
                    let mut assigned = Vec::new();
                    for step in order {
                        let capacity: Option<i64> = sqlx::query_scalar(
                            "UPDATE technicians SET capacity = capacity WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL RETURNING capacity",
                        )
                        .bind(actor.tenant_id)
                        .bind(step.technician_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let capacity = capacity.ok_or_else(|| StoreError::Conflict(format!("technician {} no longer exists or is archived", step.technician_id)))?;
                        let before = Self::fetch_ticket(&mut tx, actor.tenant_id, step.ticket_id).await?;
                        if before.updated_at != step.based_on {
                            return Err(StoreError::Conflict(format!("{} was changed since the plan was made; plan again", before.number)));
                        }
                        match &step.assign {
                            Some(server) => {
                                if before.status != truckroll_sync::Status::New || before.assignee_id.is_some() {
                                    return Err(StoreError::Conflict(format!("{} was assigned since the plan was made; plan again", before.number)));
                                }
                                let load: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                                    "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND assignee_id = $2 AND status IN {LOAD_STATUSES}"
                                )))
                                .bind(actor.tenant_id)
                                .bind(step.technician_id)
                                .fetch_one(&mut *tx)
                                .await?;
                                if load >= capacity {
                                    return Err(StoreError::Conflict(format!(
                                        "technician {} is at capacity ({load} of {capacity} open assignments) for {}", step.technician_id, before.number
                                    )));
                                }
                                let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                                    "UPDATE tickets SET status = $4, hold_reason = $7, assignee_id = $5, updated_at = $6 \
                                     WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                                )))
                                .bind(actor.tenant_id)
                                .bind(step.ticket_id)
                                .bind(before.updated_at)
                                .bind(server.status.as_str())
                                .bind(server.assignee_id)
                                .bind(next_version(before.updated_at))
                                .bind(server.hold_reason.map(|r| r.as_str()))
                                .fetch_optional(&mut *tx)
                                .await?;
                                let row = row.ok_or_else(|| StoreError::Conflict(format!("{} was changed since the plan was made; plan again", before.number)))?;
                                let after = Ticket::try_from(row)?;
                                Self::write_document_change_in(&mut tx, actor.tenant_id, after.id, &server.document).await?;
                                Self::append_status_history(&mut tx, actor.tenant_id, after.id, after.updated_at, after.status, after.hold_reason).await?;
                                Self::enqueue_ticket_webhooks_in(&mut tx, Some(&before), &after).await?;
                                sqlx::query("UPDATE offers SET state = 'withdrawn', decided_at = $3 WHERE tenant_id = $1 AND ticket_id = $2 AND state = 'pending'")
                                    .bind(actor.tenant_id)
                                    .bind(step.ticket_id)
                                    .bind(now())
                                    .execute(&mut *tx)
                                    .await?;
                                audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.assign", "ticket", Some(step.ticket_id), Some(&before), Some(&after))).await?;
                                assigned.push((before, after));
                            }
                            None => {
                                if before.assignee_id != Some(step.technician_id) {
                                    return Err(StoreError::Conflict(format!("{} is no longer with the planned technician; plan again", before.number)));
                                }
                            }
                        }
                        if Self::window_in(&mut tx, actor.tenant_id, step.ticket_id).await?.is_none() {
                            Self::set_window_in(&mut tx, actor, step.ticket_id, &step.window).await?;
                        }
                        sqlx::query("UPDATE ticket_windows SET planned_start = $3, plan_id = $4 WHERE tenant_id = $1 AND ticket_id = $2")
                            .bind(actor.tenant_id)
                            .bind(step.ticket_id)
                            .bind(audit_time(step.planned_start))
                            .bind(plan_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new::<()>(actor.user_id, "day_plan.applied", "day_plan", Some(plan_id), None, None)).await?;
                    tx.commit().await?;
                    Ok(assigned)
                }
            }
        };
    };
}

pub(crate) use impl_schedule_store;
