//! SQL behind `MaintenanceStore`: plans, and each occurrence's ticket made
//! in one transaction with the occurrence's row, whose key makes it once.

macro_rules! impl_maintenance_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, NaiveDate, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::{AuditEvent, audit_time},
                maintenance::{MaintenancePlan, MaintenanceState, NewMaintenancePlan, Recurrence},
                people::SkillLevel,
                ticket::{Priority, Ticket, ticket_number},
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                maintenance::{DuePlan, MaintenanceStore},
                rows::TicketRow,
                schedule::WindowSet,
                sql::{TICKET_COLUMNS, audit, now, search_text, write_error},
            };

            const PLAN_COLUMNS: &str = "id, site_id, asset_id, title, category, priority, required_skills, recurrence, start_on, ends_on, \
                lead_days, window_start, window_minutes, duration_minutes, state, created_by, created_at, checked_at";

            #[derive(sqlx::FromRow)]
            struct PlanRow {
                id: Uuid,
                site_id: Uuid,
                asset_id: Option<Uuid>,
                title: String,
                category: String,
                priority: String,
                required_skills: String,
                recurrence: String,
                start_on: String,
                ends_on: Option<String>,
                lead_days: i32,
                window_start: String,
                window_minutes: i32,
                duration_minutes: Option<i32>,
                state: String,
                created_by: Uuid,
                created_at: DateTime<Utc>,
                checked_at: Option<DateTime<Utc>>,
            }

            fn corrupt(column: &str, value: impl std::fmt::Display) -> StoreError {
                StoreError::Corrupt(format!("maintenance_plans.{column}: {value}"))
            }

            fn date(column: &str, value: &str) -> StoreResult<NaiveDate> {
                NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| corrupt(column, value))
            }

            fn count(column: &str, value: i32) -> StoreResult<u32> {
                u32::try_from(value).map_err(|_| corrupt(column, value))
            }

            impl TryFrom<PlanRow> for MaintenancePlan {
                type Error = StoreError;

                fn try_from(row: PlanRow) -> StoreResult<Self> {
                    Ok(MaintenancePlan {
                        id: row.id,
                        site_id: row.site_id,
                        asset_id: row.asset_id,
                        title: row.title,
                        category: row.category,
                        priority: Priority::parse(&row.priority).ok_or_else(|| corrupt("priority", &row.priority))?,
                        required_skills: serde_json::from_str::<Vec<SkillLevel>>(&row.required_skills).map_err(|e| corrupt("required_skills", e))?,
                        recurrence: serde_json::from_str::<Recurrence>(&row.recurrence).map_err(|e| corrupt("recurrence", e))?,
                        start_on: date("start_on", &row.start_on)?,
                        ends_on: row.ends_on.as_deref().map(|d| date("ends_on", d)).transpose()?,
                        lead_days: count("lead_days", row.lead_days)?,
                        window_start: row.window_start,
                        window_minutes: count("window_minutes", row.window_minutes)?,
                        duration_minutes: row.duration_minutes.map(|d| count("duration_minutes", d)).transpose()?,
                        state: MaintenanceState::parse(&row.state).ok_or_else(|| corrupt("state", &row.state))?,
                        created_by: row.created_by,
                        created_at: row.created_at,
                        checked_at: row.checked_at,
                    })
                }
            }

            fn day_text(day: NaiveDate) -> String {
                day.format("%Y-%m-%d").to_string()
            }

            #[async_trait]
            impl MaintenanceStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_maintenance_plan(&self, actor: Actor, plan: &NewMaintenancePlan) -> StoreResult<MaintenancePlan> {
                    let created_by = actor.user_id.ok_or(StoreError::Reference { field: "created_by", message: "plans are made by a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    let site: Option<Uuid> = sqlx::query_scalar("SELECT id FROM sites WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL")
                        .bind(actor.tenant_id)
                        .bind(plan.site_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if site.is_none() {
                        return Err(StoreError::Reference { field: "site_id", message: "no such site in this tenant".into() });
                    }
                    if let Some(asset) = plan.asset_id {
                        let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM assets WHERE tenant_id = $1 AND id = $2 AND site_id = $3")
                            .bind(actor.tenant_id)
                            .bind(asset)
                            .bind(plan.site_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if found.is_none() {
                            return Err(StoreError::Reference { field: "asset_id", message: "no such asset at this site".into() });
                        }
                    }
                    let row: PlanRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO maintenance_plans (id, tenant_id, site_id, asset_id, title, category, priority, required_skills, recurrence, \
                         start_on, ends_on, lead_days, window_start, window_minutes, duration_minutes, state, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'active', $16, $17) RETURNING {PLAN_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(plan.site_id)
                    .bind(plan.asset_id)
                    .bind(plan.title.trim())
                    .bind(plan.category.trim())
                    .bind(plan.priority.as_str())
                    .bind(serde_json::to_string(&plan.required_skills).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                    .bind(serde_json::to_string(&plan.recurrence).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                    .bind(day_text(plan.start_on))
                    .bind(plan.ends_on.map(day_text))
                    .bind(i32::try_from(plan.lead_days.unwrap_or(14)).unwrap_or(i32::MAX))
                    .bind(plan.window_start.clone().unwrap_or_else(|| "08:00".into()))
                    .bind(i32::try_from(plan.window_minutes.unwrap_or(240)).unwrap_or(i32::MAX))
                    .bind(plan.duration_minutes.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
                    .bind(created_by)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "plan exists", ("site_id", "no such site in this tenant")))?;
                    let created = MaintenancePlan::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "maintenance.plan_created", "maintenance_plan", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_maintenance_plan(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<MaintenancePlan> {
                    let row: Option<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    MaintenancePlan::try_from(row.ok_or(StoreError::NotFound("maintenance plan"))?)
                }

                async fn list_maintenance_plans(&self, tenant_id: Uuid) -> StoreResult<Vec<MaintenancePlan>> {
                    let rows: Vec<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE tenant_id = $1 ORDER BY id"
                    )))
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(MaintenancePlan::try_from).collect()
                }

                #[tracing::instrument(skip_all)]
                async fn set_maintenance_state(&self, actor: Actor, id: Uuid, state: MaintenanceState) -> StoreResult<MaintenancePlan> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<PlanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before = MaintenancePlan::try_from(row.ok_or(StoreError::NotFound("maintenance plan"))?)?;
                    if before.state == MaintenanceState::Ended && state != MaintenanceState::Ended {
                        return Err(StoreError::Conflict("the plan has ended; make a new one".into()));
                    }
                    let row: PlanRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE maintenance_plans SET state = $3 WHERE tenant_id = $1 AND id = $2 RETURNING {PLAN_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(state.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    let after = MaintenancePlan::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "maintenance.plan_state", "maintenance_plan", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn active_maintenance_plans(&self) -> StoreResult<Vec<DuePlan>> {
                    #[derive(sqlx::FromRow)]
                    struct Due {
                        tenant_id: Uuid,
                        time_zone: String,
                        #[sqlx(flatten)]
                        plan: PlanRow,
                    }
                    let columns = PLAN_COLUMNS.split(", ").map(|c| format!("p.{}", c.trim())).collect::<Vec<_>>().join(", ");
                    let rows: Vec<Due> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT p.tenant_id, t.time_zone, {columns} FROM maintenance_plans p JOIN tenants t ON t.id = p.tenant_id \
                         WHERE p.state = 'active' ORDER BY p.tenant_id, p.id"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|row| Ok(DuePlan { tenant_id: row.tenant_id, time_zone: row.time_zone, plan: MaintenancePlan::try_from(row.plan)? }))
                        .collect()
                }

                async fn maintenance_checked(&self, tenant_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query("UPDATE maintenance_plans SET checked_at = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(id)
                        .bind(audit_time(at))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(plan = %plan.id, due = %due_on))]
                async fn create_maintenance_occurrence(&self, tenant_id: Uuid, plan: &MaintenancePlan, due_on: NaiveDate, window: &WindowSet) -> StoreResult<Option<Ticket>> {
                    let actor = Actor { tenant_id, user_id: Some(plan.created_by) };
                    let mut tx = self.begin_write().await?;
                    // The tenant row's lock (the ticket number) makes replicas take turns.
                    let sequence: i64 = sqlx::query_scalar("UPDATE tenants SET ticket_seq = ticket_seq + 1 WHERE id = $1 RETURNING ticket_seq")
                        .bind(tenant_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let done: Option<Uuid> = sqlx::query_scalar("SELECT ticket_id FROM maintenance_occurrences WHERE tenant_id = $1 AND plan_id = $2 AND due_on = $3")
                        .bind(tenant_id)
                        .bind(plan.id)
                        .bind(day_text(due_on))
                        .fetch_optional(&mut *tx)
                        .await?;
                    if done.is_some() {
                        return Ok(None);
                    }
                    let at = now();
                    let id = Uuid::now_v7();
                    let description = format!("Preventive maintenance due {due_on}");
                    let row: TicketRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO tickets ({TICKET_COLUMNS}, search_text) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $14, $15, $15, NULL, NULL, NULL, NULL, $16) \
                         RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(id)
                    .bind(tenant_id)
                    .bind(ticket_number(sequence))
                    .bind(plan.title.as_str())
                    .bind(&description)
                    .bind(&plan.category)
                    .bind(plan.priority.as_str())
                    .bind(Json(&plan.required_skills))
                    .bind(plan.site_id)
                    .bind(plan.asset_id)
                    .bind(Json(vec!["maintenance".to_owned()]))
                    .bind(Json(serde_json::json!({})))
                    .bind(truckroll_sync::Status::New.as_str())
                    .bind(plan.created_by)
                    .bind(at)
                    .bind(search_text(&plan.title, &description))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "ticket already exists", ("site_id", "the plan's site is gone")))?;
                    Self::replace_tags(&mut tx, id, &["maintenance".to_owned()]).await?;
                    Self::index_ticket(&mut tx, tenant_id, id).await?;
                    let created = Ticket::try_from(row)?;
                    Self::append_status_history(&mut tx, tenant_id, created.id, created.created_at, created.status, created.hold_reason).await?;
                    Self::enqueue_ticket_webhooks_in(&mut tx, None, &created).await?;
                    audit::append(&mut tx, tenant_id, AuditEvent::new(actor.user_id, "ticket.create", "ticket", Some(created.id), None, Some(&created))).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO maintenance_occurrences (tenant_id, plan_id, due_on, ticket_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (tenant_id, plan_id, due_on) DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(plan.id)
                    .bind(day_text(due_on))
                    .bind(created.id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        // Made meanwhile: this transaction's ticket is dropped with it.
                        return Ok(None);
                    }
                    Self::set_window_in(&mut tx, actor, created.id, window).await?;
                    #[derive(serde::Serialize)]
                    struct Occurrence { plan_id: Uuid, due_on: NaiveDate, ticket_id: Uuid }
                    let made = Occurrence { plan_id: plan.id, due_on, ticket_id: created.id };
                    audit::append(&mut tx, tenant_id, AuditEvent::new(None, "maintenance.occurrence", "maintenance_plan", Some(plan.id), None, Some(&made))).await?;
                    tx.commit().await?;
                    Ok(Some(created))
                }

                async fn maintenance_occurrences(&self, tenant_id: Uuid, plan_id: Uuid) -> StoreResult<Vec<(NaiveDate, Uuid)>> {
                    let rows: Vec<(String, Uuid)> = sqlx::query_as("SELECT due_on, ticket_id FROM maintenance_occurrences WHERE tenant_id = $1 AND plan_id = $2 ORDER BY due_on")
                        .bind(tenant_id)
                        .bind(plan_id)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.into_iter().map(|(day, ticket)| Ok((date("due_on", &day)?, ticket))).collect()
                }
            }
        };
    };
}

pub(crate) use impl_maintenance_store;
