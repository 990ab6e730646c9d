//! SQL behind `TechnicianStore`.

macro_rules! impl_technician_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                people::{NewTechnician, Role, Technician},
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                rows::{TechnicianRow, convert_all, into_page},
                sql::{TECHNICIAN_COLUMNS, audit, next_version, now, write_error},
                technicians::TechnicianStore,
            };

            #[async_trait]
            impl TechnicianStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_technician(&self, actor: Actor, technician: &NewTechnician) -> StoreResult<Technician> {
                    let mut tx = self.begin_write().await?;
                    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(technician.user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    match role.as_deref() {
                        None => return Err(StoreError::Reference { field: "user_id", message: "no such user".into() }),
                        Some(role) if role != Role::Technician.as_str() => {
                            return Err(StoreError::Reference { field: "user_id", message: "the user's role must be technician".into() });
                        }
                        Some(_) => {}
                    }
                    let at = now();
                    let row: TechnicianRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO technicians ({TECHNICIAN_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, NULL) RETURNING {TECHNICIAN_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(technician.user_id)
                    .bind(technician.name.trim())
                    .bind(Json(&technician.skills))
                    .bind(Json(&technician.shifts))
                    .bind(&technician.time_zone)
                    .bind(technician.home_base.map(|p| p.lat))
                    .bind(technician.home_base.map(|p| p.lon))
                    .bind(i64::from(technician.capacity))
                    .bind(technician.status.as_str())
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "this user already has a technician profile", ("user_id", "no such user")))?;
                    let created = Technician::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.create", "technician", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_technician(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Technician> {
                    let row: Option<TechnicianRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TECHNICIAN_COLUMNS} FROM technicians WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("technician"))?.try_into()
                }

                async fn technician_for_user(&self, tenant_id: Uuid, user_id: Uuid) -> StoreResult<Option<Technician>> {
                    let row: Option<TechnicianRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TECHNICIAN_COLUMNS} FROM technicians WHERE tenant_id = $1 AND user_id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Technician::try_from).transpose()
                }

                async fn list_technicians(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Technician>> {
                    self.list_technicians_where(tenant_id, $crate::domain::lifecycle::ArchivedFilter::All, page).await
                }

                async fn list_technicians_where(&self, tenant_id: Uuid, archived: $crate::domain::lifecycle::ArchivedFilter, page: PageRequest) -> StoreResult<Page<Technician>> {
                    let rows: Vec<TechnicianRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TECHNICIAN_COLUMNS} FROM technicians WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3",
                        $crate::store::sql::archived_clause(archived, "technicians")
                    )))
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |t: &Technician| t.id))
                }

                #[tracing::instrument(skip_all)]
                async fn update_technician(&self, actor: Actor, before: &Technician, after: &Technician) -> StoreResult<Technician> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<TechnicianRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE technicians SET name = $4, skills = $5, shifts = $6, time_zone = $7, home_lat = $8, home_lon = $9, \
                         capacity = $10, status = $11, updated_at = $12 \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TECHNICIAN_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(before.updated_at)
                    .bind(after.name.trim())
                    .bind(Json(&after.skills))
                    .bind(Json(&after.shifts))
                    .bind(&after.time_zone)
                    .bind(after.home_base.map(|p| p.lat))
                    .bind(after.home_base.map(|p| p.lon))
                    .bind(i64::from(after.capacity))
                    .bind(after.status.as_str())
                    .bind(next_version(before.updated_at))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM technicians WHERE tenant_id = $1 AND id = $2")
                            .bind(actor.tenant_id)
                            .bind(before.id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        return Err(match exists {
                            Some(_) => StoreError::Conflict("the technician was changed by someone else; reload and retry".into()),
                            None => StoreError::NotFound("technician"),
                        });
                    };
                    let updated = Technician::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.update", "technician", Some(updated.id), Some(before), Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }
            }
        };
    };
}

pub(in crate::store) use impl_technician_store;
