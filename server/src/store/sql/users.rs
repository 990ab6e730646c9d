//! SQL behind `UserStore`: tenants, users, refresh tokens and devices.

macro_rules! impl_user_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::{
                audit::{AuditEvent, GENESIS_HASH},
                people::{Device, NewDevice, NewUser, Tenant, User, UserPatch, normalize_email},
            };
            use $crate::store::{
                Actor, Page, PageRequest, RefreshOutcome, RefreshTokenRecord, StoreError, StoreResult,
                rows::{DeviceDocumentsRow, DeviceRow, TenantRow, UserRow, convert_all, into_page},
                sql::{USER_COLUMNS, audit, now, write_error},
                users::UserStore,
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
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
            }

            #[async_trait]
            impl UserStore for $store {
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
                    audit::append(&mut tx, tenant.id, AuditEvent::new(None, "tenant.create", "tenant", Some(tenant.id), None, Some(&tenant))).await?;
                    audit::append(&mut tx, tenant.id, AuditEvent::new(None, "user.create", "user", Some(user.id), None, Some(&user))).await?;
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
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "user.create", "user", Some(created.id), None, Some(&created))).await?;
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
                    // A password reset is told apart from other edits; the hash is never logged.
                    let action = if password_hash.is_some() { "user.password_reset" } else { "user.update" };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "user", Some(id), Some(&before), Some(&after))).await?;
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
                            audit::append(&mut tx, tenant_id, AuditEvent::new::<()>(Some(user_id), "auth.refresh_reuse", "user", Some(user_id), None, None)).await?;
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
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "device.register", "device", Some(created.id), None, Some(&audited))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                #[tracing::instrument(skip_all)]
                async fn device_by_actor(&self, tenant_id: Uuid, actor_id: &str) -> StoreResult<Option<Device>> {
                    let row: Option<DeviceRow> = sqlx::query_as(
                        "SELECT id, tenant_id, user_id, platform, push_token, actor_id, created_at FROM devices \
                         WHERE tenant_id = $1 AND actor_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(actor_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Device::try_from).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn user_devices(&self, tenant_id: Uuid, user_id: Uuid) -> StoreResult<Vec<(Device, i64)>> {
                    let rows: Vec<DeviceDocumentsRow> = sqlx::query_as(
                        "SELECT d.id, d.tenant_id, d.user_id, d.platform, d.push_token, d.actor_id, d.created_at, \
                                (SELECT COUNT(*) FROM device_sync_states s WHERE s.tenant_id = d.tenant_id AND s.device_id = d.id) AS documents \
                         FROM devices d WHERE d.tenant_id = $1 AND d.user_id = $2 ORDER BY d.id",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(|row| Ok((Device::try_from(row.device)?, row.documents))).collect()
                }
            }
        };
    };
}

pub(in crate::store) use impl_user_store;
