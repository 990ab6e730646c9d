//! The portable SQL behind `Store`, written once and instantiated per backend
//! by `impl_store!`. Placeholders are `$N`, which both PostgreSQL and SQLite
//! accept; everything backend-specific comes from the backend struct
//! (`begin_write`, `pool`, `migrator`).

pub(super) const USER_COLUMNS: &str = "id, tenant_id, email, name, role, active, created_at";
pub(super) const TECHNICIAN_COLUMNS: &str = "id, tenant_id, user_id, name, skills, shifts, time_zone, home_lat, home_lon, capacity, status, created_at, updated_at";
pub(super) const TICKET_COLUMNS: &str = "id, tenant_id, number, title, description, category, priority, required_skills, site_id, asset_id, tags, custom_fields, status, hold_reason, assignee_id, created_by, created_at, updated_at, checkin_verified, checkin_distance_m, checkin_accuracy_m, checkin_at";

/// Maps a database error on a write to a precise store error.
pub(super) fn write_error(
    error: sqlx::Error,
    unique: &str,
    reference: (&'static str, &str),
) -> super::StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            return super::StoreError::Conflict(unique.to_owned());
        }
        if db.is_foreign_key_violation() {
            return super::StoreError::Reference {
                field: reference.0,
                message: reference.1.to_owned(),
            };
        }
    }
    super::StoreError::Database(error)
}

/// `%text%` for LIKE, with LIKE's own wildcards escaped by `\`.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The `updated_at` of a new version: now, but always after the version it
/// replaces, so the optimistic check can never match a row that changed.
pub(super) fn next_version(
    previous: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    now().max(previous + chrono::Duration::microseconds(1))
}

/// Title and description lowercased in Rust (full Unicode), because SQLite's
/// `LOWER` folds ASCII only; text search matches against this column.
pub(super) fn search_text(title: &str, description: &str) -> String {
    format!("{}\n{}", title.to_lowercase(), description.to_lowercase())
}

/// Now, at the microsecond precision both databases keep.
pub(super) fn now() -> chrono::DateTime<chrono::Utc> {
    crate::domain::audit::audit_time(chrono::Utc::now())
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:expr) => {
        // An anonymous const scopes the imports below to this expansion.
        const _: () = {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, types::Json};
        use uuid::Uuid;

        use $crate::domain::{
            audit::{AuditEntry, AuditEvent, ChainReport, GENESIS_HASH, entry_hash, verify_chain},
            people::{
                Asset, Customer, Device, NewAsset, NewCustomer, NewDevice, NewSite, NewTechnician, NewUser, Role, Site,
                Technician, Tenant, User, UserPatch, normalize_email,
            },
            ticket::{Category, Comment, NewCategory, NewComment, NewTicket, Ticket, ticket_number},
        };
        use $crate::store::{
            Actor, Backend, IdempotencyBegin, Page, PageRequest, RefreshOutcome, RefreshTokenRecord, Store,
            StoreError, StoreResult, StoredResponse, TicketFilter,
            rows::{
                AssetRow, AuditRow, CategoryRow, CommentRow, CustomerRow, DeviceRow, SiteRow, TechnicianRow, TenantRow,
                TicketRow, UserRow, convert_all, into_page,
            },
            sql::{TECHNICIAN_COLUMNS, TICKET_COLUMNS, USER_COLUMNS, like_pattern, next_version, now, search_text, write_error},
        };

        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            /// Appends one entry to the tenant's hash chain inside `tx`. The
            /// `UPDATE … RETURNING` on the tenant row serialises writers per tenant.
            async fn append_audit(tx: &mut Tx, tenant_id: Uuid, event: AuditEvent) -> StoreResult<()> {
                let (seq, prev_hash): (i64, String) = sqlx::query_as(
                    "UPDATE tenants SET audit_seq = audit_seq + 1 WHERE id = $1 RETURNING audit_seq, audit_head",
                )
                .bind(tenant_id)
                .fetch_one(&mut **tx)
                .await?;
                let at = now();
                let hash = entry_hash(tenant_id, seq, &prev_hash, at, &event);
                sqlx::query(
                    "INSERT INTO audit_log (tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(tenant_id)
                .bind(seq)
                .bind(event.actor_id)
                .bind(&event.action)
                .bind(&event.entity_type)
                .bind(event.entity_id)
                .bind(&event.before)
                .bind(&event.after)
                .bind(at)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
                sqlx::query("UPDATE tenants SET audit_head = $2 WHERE id = $1")
                    .bind(tenant_id)
                    .bind(&hash)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn insert_user(tx: &mut Tx, tenant_id: Uuid, user: &NewUser, password_hash: &str) -> StoreResult<User> {
                let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO users (id, tenant_id, email, name, role, password_hash, active, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) RETURNING {USER_COLUMNS}"
                )))
                .bind(Uuid::now_v7())
                .bind(tenant_id)
                .bind(normalize_email(&user.email))
                .bind(user.name.trim())
                .bind(user.role.as_str())
                .bind(password_hash)
                .bind(now())
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| write_error(e, "a user with this email already exists", ("tenant", "no such tenant")))?;
                User::try_from(row)
            }

            async fn fetch_ticket(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket> {
                let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                row.ok_or(StoreError::NotFound("ticket"))?.try_into()
            }

            async fn replace_tags(tx: &mut Tx, ticket_id: Uuid, tags: &[String]) -> StoreResult<()> {
                sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1")
                    .bind(ticket_id)
                    .execute(&mut **tx)
                    .await?;
                let mut unique: Vec<&String> = tags.iter().collect();
                unique.sort();
                unique.dedup();
                for tag in unique {
                    sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
                        .bind(ticket_id)
                        .bind(tag)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.migrator().run(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn ready(&self) -> StoreResult<bool> {
                let applied: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(applied == Some($crate::store::migrations::latest_version()))
            }

            fn pool_stats(&self) -> (u32, u32) {
                (self.pool.size(), self.pool.num_idle() as u32)
            }

            #[tracing::instrument(skip_all)]
            async fn create_tenant(&self, name: &str, admin: &NewUser, admin_password_hash: &str) -> StoreResult<(Tenant, User)> {
                let mut tx = self.begin_write().await?;
                let row: TenantRow = sqlx::query_as(
                    "INSERT INTO tenants (id, name, ticket_seq, audit_seq, audit_head, created_at) \
                     VALUES ($1, $2, 0, 0, $3, $4) RETURNING id, name, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(name)
                .bind(GENESIS_HASH)
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "a tenant with this name already exists", ("name", "")))?;
                let tenant = Tenant::from(row);
                let user = Self::insert_user(&mut tx, tenant.id, admin, admin_password_hash).await?;
                Self::append_audit(&mut tx, tenant.id, AuditEvent::new(None, "tenant.create", "tenant", Some(tenant.id), None, Some(&tenant))).await?;
                Self::append_audit(&mut tx, tenant.id, AuditEvent::new(None, "user.create", "user", Some(user.id), None, Some(&user))).await?;
                tx.commit().await?;
                Ok((tenant, user))
            }

            async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
                let row: Option<TenantRow> = sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Tenant::from))
            }

            async fn user_credentials(&self, tenant_id: Uuid, email: &str) -> StoreResult<Option<(User, String)>> {
                #[derive(sqlx::FromRow)]
                struct Row {
                    #[sqlx(flatten)]
                    user: UserRow,
                    password_hash: String,
                }
                let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS}, password_hash FROM users WHERE tenant_id = $1 AND email = $2"
                )))
                .bind(tenant_id)
                .bind(normalize_email(email))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| Ok((User::try_from(r.user)?, r.password_hash))).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn create_user(&self, actor: Actor, user: &NewUser, password_hash: &str) -> StoreResult<User> {
                let mut tx = self.begin_write().await?;
                let created = Self::insert_user(&mut tx, actor.tenant_id, user, password_hash).await?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "user.create", "user", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_user(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<User> {
                let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("user"))?.try_into()
            }

            async fn list_users(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<User>> {
                let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
                )))
                .bind(tenant_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |u: &User| u.id))
            }

            #[tracing::instrument(skip_all)]
            async fn update_user(&self, actor: Actor, id: Uuid, patch: &UserPatch, password_hash: Option<&str>) -> StoreResult<User> {
                let mut tx = self.begin_write().await?;
                let before: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(actor.tenant_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("user"))?;
                let before = User::try_from(before)?;
                let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE users SET name = $3, role = $4, active = $5, password_hash = COALESCE($6, password_hash) \
                     WHERE tenant_id = $1 AND id = $2 RETURNING {USER_COLUMNS}"
                )))
                .bind(actor.tenant_id)
                .bind(id)
                .bind(patch.name.as_deref().map(str::trim).unwrap_or(&before.name))
                .bind(patch.role.unwrap_or(before.role).as_str())
                .bind(patch.active.unwrap_or(before.active))
                .bind(password_hash)
                .fetch_one(&mut *tx)
                .await?;
                let after = User::try_from(row)?;
                if password_hash.is_some() || patch.active == Some(false) {
                    // A new password or a deactivation ends every session of the user.
                    sqlx::query("UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                }
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "user.update", "user", Some(id), Some(&before), Some(&after))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&token.token_hash)
                .bind(token.family_id)
                .bind(token.tenant_id)
                .bind(token.user_id)
                .bind(token.expires_at)
                .bind(now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn rotate_refresh_token(&self, old_hash: &str, new_hash: &str, expires_at: chrono::DateTime<chrono::Utc>) -> StoreResult<RefreshOutcome> {
                let mut tx = self.begin_write().await?;
                let at = now();
                let spent = sqlx::query(
                    "UPDATE refresh_tokens SET rotated_at = $2 \
                     WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(old_hash)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let known: Option<(Uuid, Uuid, Uuid, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
                    "SELECT family_id, tenant_id, user_id, rotated_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((family_id, tenant_id, user_id, rotated_at)) = known else {
                    return Ok(RefreshOutcome::Invalid);
                };
                if spent == 0 {
                    if rotated_at.is_some() {
                        // A spent token came back: someone holds a copy. Revoke the family.
                        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                            .bind(family_id)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        Self::append_audit(&mut tx, tenant_id, AuditEvent::new::<()>(Some(user_id), "auth.refresh_reuse", "user", Some(user_id), None, None)).await?;
                        tx.commit().await?;
                        return Ok(RefreshOutcome::Reused);
                    }
                    return Ok(RefreshOutcome::Invalid);
                }
                let user: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(tenant_id)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
                let user = User::try_from(user)?;
                if !user.active {
                    return Ok(RefreshOutcome::Invalid);
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, user_id, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(new_hash)
                .bind(family_id)
                .bind(tenant_id)
                .bind(user_id)
                .bind(expires_at)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(RefreshOutcome::Rotated(user))
            }

            #[tracing::instrument(skip_all)]
            async fn register_device(&self, actor: Actor, user_id: Uuid, device: &NewDevice) -> StoreResult<Device> {
                let mut tx = self.begin_write().await?;
                let row: DeviceRow = sqlx::query_as(
                    "INSERT INTO devices (id, tenant_id, user_id, platform, push_token, actor_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING id, tenant_id, user_id, platform, push_token, actor_id, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(user_id)
                .bind(device.platform.as_str())
                .bind(&device.push_token)
                .bind(&device.actor_id)
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "this actor_id is already registered to a device", ("user_id", "no such user")))?;
                let created = Device::try_from(row)?;
                let mut audited = created.clone();
                audited.push_token = audited.push_token.map(|_| "<redacted>".to_owned());
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "device.register", "device", Some(created.id), None, Some(&audited))).await?;
                tx.commit().await?;
                Ok(created)
            }

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
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {TECHNICIAN_COLUMNS}"
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
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.create", "technician", Some(created.id), None, Some(&created))).await?;
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
                let rows: Vec<TechnicianRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {TECHNICIAN_COLUMNS} FROM technicians WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
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
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "technician.update", "technician", Some(updated.id), Some(before), Some(&updated))).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all)]
            async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer> {
                let mut tx = self.begin_write().await?;
                let row: CustomerRow = sqlx::query_as(
                    "INSERT INTO customers (id, tenant_id, name, tier, email, phone, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, name, tier, email, phone, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(customer.name.trim())
                .bind(customer.tier.as_str())
                .bind(customer.email.as_deref().map(normalize_email))
                .bind(&customer.phone)
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                let created = Customer::try_from(row)?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "customer.create", "customer", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer> {
                let row: Option<CustomerRow> = sqlx::query_as(
                    "SELECT id, tenant_id, name, tier, email, phone, created_at FROM customers WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("customer"))?.try_into()
            }

            async fn list_customers(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Customer>> {
                let rows: Vec<CustomerRow> = sqlx::query_as(
                    "SELECT id, tenant_id, name, tier, email, phone, created_at FROM customers \
                     WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(tenant_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |c: &Customer| c.id))
            }

            #[tracing::instrument(skip_all)]
            async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site> {
                let mut tx = self.begin_write().await?;
                // Resolved under the tenant lock that territory writes take (sql_territories.rs).
                let territory_id = Self::resolve_site_territory(&mut tx, actor.tenant_id, site.location).await?;
                let row: SiteRow = sqlx::query_as(
                    "INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at, territory_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     RETURNING id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(site.customer_id)
                .bind(site.name.trim())
                .bind(site.address.trim())
                .bind(site.location.lat)
                .bind(site.location.lon)
                .bind(now())
                .bind(territory_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "site already exists", ("customer_id", "no such customer")))?;
                let created = Site::try_from(row)?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "site.create", "site", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site> {
                let row: Option<SiteRow> = sqlx::query_as(
                    "SELECT id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at FROM sites WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("site"))?.try_into()
            }

            async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>> {
                let rows: Vec<SiteRow> = sqlx::query_as(
                    "SELECT id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at FROM sites \
                     WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(tenant_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |s: &Site| s.id))
            }

            #[tracing::instrument(skip_all)]
            async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset> {
                let mut tx = self.begin_write().await?;
                let row: AssetRow = sqlx::query_as(
                    "INSERT INTO assets (id, tenant_id, site_id, serial, model, warranty_end, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, site_id, serial, model, warranty_end, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(asset.site_id)
                .bind(asset.serial.trim())
                .bind(asset.model.trim())
                .bind(asset.warranty_end)
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "an asset with this serial already exists", ("site_id", "no such site")))?;
                let created = Asset::try_from(row)?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "asset.create", "asset", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset> {
                let row: Option<AssetRow> = sqlx::query_as(
                    "SELECT id, tenant_id, site_id, serial, model, warranty_end, created_at FROM assets WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("asset"))?.try_into()
            }

            async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>> {
                let rows: Vec<AssetRow> = sqlx::query_as(
                    "SELECT id, tenant_id, site_id, serial, model, warranty_end, created_at FROM assets \
                     WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(tenant_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |a: &Asset| a.id))
            }

            #[tracing::instrument(skip_all)]
            async fn create_category(&self, actor: Actor, category: &NewCategory) -> StoreResult<Category> {
                let mut tx = self.begin_write().await?;
                let row: CategoryRow = sqlx::query_as(
                    "INSERT INTO categories (id, tenant_id, name, description, custom_fields_schema, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, tenant_id, name, description, custom_fields_schema, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(&category.name)
                .bind(category.description.trim())
                .bind(Json(&category.custom_fields_schema))
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "a category with this name already exists", ("tenant", "no such tenant")))?;
                let created = Category::try_from(row)?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "category.create", "category", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn category_by_name(&self, tenant_id: Uuid, name: &str) -> StoreResult<Option<Category>> {
                let row: Option<CategoryRow> = sqlx::query_as(
                    "SELECT id, tenant_id, name, description, custom_fields_schema, created_at FROM categories WHERE tenant_id = $1 AND name = $2",
                )
                .bind(tenant_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(Category::try_from).transpose()
            }

            async fn list_categories(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Category>> {
                let rows: Vec<CategoryRow> = sqlx::query_as(
                    "SELECT id, tenant_id, name, description, custom_fields_schema, created_at FROM categories \
                     WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                )
                .bind(tenant_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |c: &Category| c.id))
            }

            #[tracing::instrument(skip_all)]
            async fn create_ticket(&self, actor: Actor, ticket: &NewTicket) -> StoreResult<Ticket> {
                let created_by = actor.user_id.ok_or(StoreError::Reference { field: "created_by", message: "tickets are created by a user".into() })?;
                let mut tx = self.begin_write().await?;
                let sequence: i64 = sqlx::query_scalar("UPDATE tenants SET ticket_seq = ticket_seq + 1 WHERE id = $1 RETURNING ticket_seq")
                    .bind(actor.tenant_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let at = now();
                let id = Uuid::now_v7();
                let row: TicketRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO tickets ({TICKET_COLUMNS}, search_text) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $14, $15, $15, NULL, NULL, NULL, NULL, $16) \
                     RETURNING {TICKET_COLUMNS}"
                )))
                .bind(id)
                .bind(actor.tenant_id)
                .bind(ticket_number(sequence))
                .bind(ticket.title.trim())
                .bind(&ticket.description)
                .bind(&ticket.category)
                .bind(ticket.priority.as_str())
                .bind(Json(&ticket.required_skills))
                .bind(ticket.site_id)
                .bind(ticket.asset_id)
                .bind(Json(&ticket.tags))
                .bind(Json(&ticket.custom_fields))
                .bind(truckroll_sync::Status::New.as_str())
                .bind(created_by)
                .bind(at)
                .bind(search_text(&ticket.title, &ticket.description))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| write_error(e, "ticket already exists", ("site_id", "no such site (or asset) in this tenant")))?;
                Self::replace_tags(&mut tx, id, &ticket.tags).await?;
                let created = Ticket::try_from(row)?;
                Self::append_status_history(&mut tx, actor.tenant_id, created.id, created.created_at, created.status, created.hold_reason).await?;
                Self::enqueue_ticket_webhooks_in(&mut tx, None, &created).await?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.create", "ticket", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_ticket(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket> {
                let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.ok_or(StoreError::NotFound("ticket"))?.try_into()
            }

            #[tracing::instrument(skip_all)]
            async fn list_tickets(&self, tenant_id: Uuid, filter: &TicketFilter, page: PageRequest) -> StoreResult<Page<Ticket>> {
                let mut query = QueryBuilder::<$db>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE tenant_id = "));
                query.push_bind(tenant_id);
                if let Some(after) = page.after {
                    query.push(" AND id > ").push_bind(after);
                }
                if let Some(status) = filter.status {
                    query.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(assignee) = filter.assignee_id {
                    query.push(" AND assignee_id = ").push_bind(assignee);
                }
                if let Some(priority) = filter.priority {
                    query.push(" AND priority = ").push_bind(priority.as_str());
                }
                if let Some(category) = &filter.category {
                    query.push(" AND category = ").push_bind(category.clone());
                }
                if let Some(site) = filter.site_id {
                    query.push(" AND site_id = ").push_bind(site);
                }
                if let Some(territory) = filter.territory_id {
                    query.push(" AND site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = t.tenant_id AND s.territory_id = ")
                        .push_bind(territory)
                        .push(")");
                }
                if let Some(tag) = &filter.tag {
                    query.push(" AND EXISTS (SELECT 1 FROM ticket_tags tt WHERE tt.ticket_id = t.id AND tt.tag = ").push_bind(tag.clone()).push(")");
                }
                if let Some(from) = filter.created_from {
                    query.push(" AND created_at >= ").push_bind(from);
                }
                if let Some(to) = filter.created_to {
                    query.push(" AND created_at < ").push_bind(to);
                }
                if let Some(text) = &filter.text {
                    let pattern = like_pattern(text);
                    query.push(" AND search_text LIKE ").push_bind(pattern).push(" ESCAPE '\\'");
                }
                query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit) + 1);
                let rows: Vec<TicketRow> = query.build_query_as().fetch_all(&self.pool).await?;
                Ok(into_page(convert_all(rows)?, page.limit, |t: &Ticket| t.id))
            }

            #[tracing::instrument(skip_all)]
            async fn update_ticket(&self, actor: Actor, before: &Ticket, after: &Ticket) -> StoreResult<Ticket> {
                let mut tx = self.begin_write().await?;
                let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE tickets SET title = $4, description = $5, priority = $6, required_skills = $7, asset_id = $8, \
                     tags = $9, custom_fields = $10, status = $11, hold_reason = $12, assignee_id = $13, updated_at = $14, search_text = $15, \
                     checkin_verified = $16, checkin_distance_m = $17, checkin_accuracy_m = $18, checkin_at = $19 \
                     WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                )))
                .bind(actor.tenant_id)
                .bind(before.id)
                .bind(before.updated_at)
                .bind(after.title.trim())
                .bind(&after.description)
                .bind(after.priority.as_str())
                .bind(Json(&after.required_skills))
                .bind(after.asset_id)
                .bind(Json(&after.tags))
                .bind(Json(&after.custom_fields))
                .bind(after.status.as_str())
                .bind(after.hold_reason.map(|r| r.as_str()))
                .bind(after.assignee_id)
                .bind(next_version(before.updated_at))
                .bind(search_text(&after.title, &after.description))
                .bind(after.check_in.and_then(|c| c.verified))
                .bind(after.check_in.and_then(|c| c.distance_m))
                .bind(after.check_in.and_then(|c| c.accuracy_m))
                .bind(after.check_in.map(|c| c.at))
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| write_error(e, "conflicting ticket", ("assignee_id", "no such technician or asset in this tenant")))?;
                let Some(row) = row else {
                    // Either gone or changed since `before` was read.
                    Self::fetch_ticket(&mut tx, actor.tenant_id, before.id).await?;
                    return Err(StoreError::Conflict("the ticket was changed by someone else; reload and retry".into()));
                };
                if before.tags != after.tags {
                    Self::replace_tags(&mut tx, before.id, &after.tags).await?;
                }
                let updated = Ticket::try_from(row)?;
                if (before.status, before.hold_reason) != (updated.status, updated.hold_reason) {
                    Self::append_status_history(&mut tx, actor.tenant_id, updated.id, updated.updated_at, updated.status, updated.hold_reason).await?;
                }
                Self::enqueue_ticket_webhooks_in(&mut tx, Some(before), &updated).await?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.update", "ticket", Some(updated.id), Some(before), Some(&updated))).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all)]
            async fn add_comment(&self, actor: Actor, ticket_id: Uuid, comment: &NewComment) -> StoreResult<Comment> {
                let author_id = actor.user_id.ok_or(StoreError::Reference { field: "author_id", message: "comments are written by a user".into() })?;
                let mut tx = self.begin_write().await?;
                let row: CommentRow = sqlx::query_as(
                    "INSERT INTO comments (id, tenant_id, ticket_id, author_id, body, visibility, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, ticket_id, author_id, body, visibility, created_at",
                )
                .bind(Uuid::now_v7())
                .bind(actor.tenant_id)
                .bind(ticket_id)
                .bind(author_id)
                .bind(&comment.body)
                .bind(comment.visibility.as_str())
                .bind(now())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match write_error(e, "comment already exists", ("ticket_id", "")) {
                    StoreError::Reference { .. } => StoreError::NotFound("ticket"),
                    other => other,
                })?;
                let created = Comment::try_from(row)?;
                Self::append_audit(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "comment.create", "comment", Some(created.id), None, Some(&created))).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn list_comments(&self, tenant_id: Uuid, ticket_id: Uuid, page: PageRequest) -> StoreResult<Page<Comment>> {
                let rows: Vec<CommentRow> = sqlx::query_as(
                    "SELECT id, tenant_id, ticket_id, author_id, body, visibility, created_at FROM comments \
                     WHERE tenant_id = $1 AND ticket_id = $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
                )
                .bind(tenant_id)
                .bind(ticket_id)
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(&self.pool)
                .await?;
                Ok(into_page(convert_all(rows)?, page.limit, |c: &Comment| c.id))
            }

            async fn list_audit(&self, tenant_id: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash \
                     FROM audit_log WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(tenant_id)
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(AuditEntry::from).collect())
            }

            #[tracing::instrument(skip_all)]
            async fn verify_audit(&self, tenant_id: Uuid) -> StoreResult<ChainReport> {
                let head: Option<(i64, String)> = sqlx::query_as("SELECT audit_seq, audit_head FROM tenants WHERE id = $1")
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let (head_seq, head_hash) = head.ok_or(StoreError::NotFound("tenant"))?;
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash \
                     FROM audit_log WHERE tenant_id = $1 ORDER BY seq",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
                let entries: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
                Ok(verify_chain(&entries, head_seq, &head_hash))
            }

            async fn idempotency_begin(&self, tenant_id: Uuid, user_id: Uuid, key: &str, request_hash: &str) -> StoreResult<IdempotencyBegin> {
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(key)
                .bind(request_hash)
                .bind(now())
                .execute(&self.pool)
                .await?
                .rows_affected();
                if inserted == 1 {
                    return Ok(IdempotencyBegin::Started);
                }
                let row: Option<(String, Option<i64>, Option<String>, Option<Vec<u8>>)> = sqlx::query_as(
                    "SELECT request_hash, status_code, content_type, body FROM idempotency_keys \
                     WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(match row {
                    // Aborted in between: take it over.
                    None => return Box::pin(self.idempotency_begin(tenant_id, user_id, key, request_hash)).await,
                    Some((hash, _, _, _)) if hash != request_hash => IdempotencyBegin::Mismatch,
                    Some((_, Some(status), content_type, body)) => IdempotencyBegin::Replay(StoredResponse {
                        status: u16::try_from(status).map_err(|_| StoreError::Corrupt("stored status code".into()))?,
                        content_type: content_type.unwrap_or_default(),
                        body: body.unwrap_or_default(),
                    }),
                    Some(_) => IdempotencyBegin::InProgress,
                })
            }

            async fn idempotency_complete(&self, tenant_id: Uuid, user_id: Uuid, key: &str, response: &StoredResponse) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET status_code = $4, content_type = $5, body = $6 \
                     WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(key)
                .bind(i64::from(response.status))
                .bind(&response.content_type)
                .bind(&response.body)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn idempotency_abort(&self, tenant_id: Uuid, user_id: Uuid, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND status_code IS NULL")
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
        };
    };
}

pub(super) use impl_store;
