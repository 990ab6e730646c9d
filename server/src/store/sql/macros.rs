//! SQL behind `MacroStore`.

macro_rules! impl_macro_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                macros::{Macro, MacroBody, MacroSave},
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                macros::MacroStore,
                sql::{audit, next_version, now, write_error},
            };

            type Tx = sqlx::Transaction<'static, $db>;
            type MacroRow = (Uuid, String, Option<Uuid>, Option<Uuid>, Json<MacroBody>, Uuid, DateTime<Utc>, DateTime<Utc>);

            const MACRO_SELECT: &str =
                "SELECT id, name, team_id, owner_id, body, created_by, created_at, updated_at FROM macros WHERE tenant_id = $1";

            fn macro_from(row: MacroRow) -> Macro {
                let (id, name, team_id, owner_id, body, created_by, created_at, updated_at) = row;
                let MacroBody { actions, reply } = body.0;
                Macro { id, name, team_id, owner_id, actions, reply, created_by, created_at, updated_at }
            }

            impl $store {
                async fn macro_in(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Macro> {
                    let row: Option<MacroRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{MACRO_SELECT} AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.map(macro_from).ok_or(StoreError::NotFound("macro"))
                }
            }

            #[async_trait]
            impl MacroStore for $store {
                async fn list_macros(&self, tenant_id: Uuid) -> StoreResult<Vec<Macro>> {
                    let rows: Vec<MacroRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{MACRO_SELECT} ORDER BY name, id")))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(macro_from).collect())
                }

                async fn get_macro(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Macro> {
                    let mut tx = self.pool.begin().await?;
                    let found = Self::macro_in(&mut tx, tenant_id, id).await?;
                    tx.commit().await?;
                    Ok(found)
                }

                async fn create_macro(&self, actor: Actor, save: &MacroSave) -> StoreResult<Macro> {
                    let creator = actor.user_id.ok_or(StoreError::Reference { field: "owner_id", message: "a macro needs a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let owner = if save.team_id.is_some() { None } else { Some(creator) };
                    sqlx::query(
                        "INSERT INTO macros (id, tenant_id, name, team_id, owner_id, body, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(save.name.trim())
                    .bind(save.team_id)
                    .bind(owner)
                    .bind(Json(&save.body))
                    .bind(creator)
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "macro exists", ("team_id", "no such team")))?;
                    let created = Self::macro_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "macro.create", "macro", Some(id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_macro(&self, actor: Actor, id: Uuid, save: &MacroSave) -> StoreResult<Macro> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::macro_in(&mut tx, actor.tenant_id, id).await?;
                    // Personal stays personal unless given to a team; a team's stays shared.
                    let owner = if save.team_id.is_some() { None } else { before.owner_id.or(actor.user_id) };
                    sqlx::query(
                        "UPDATE macros SET name = $3, team_id = $4, owner_id = $5, body = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(save.name.trim())
                    .bind(save.team_id)
                    .bind(owner)
                    .bind(Json(&save.body))
                    .bind(next_version(before.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "macro exists", ("team_id", "no such team")))?;
                    let after = Self::macro_in(&mut tx, actor.tenant_id, id).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "macro.update", "macro", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_macro(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::macro_in(&mut tx, actor.tenant_id, id).await?;
                    sqlx::query("DELETE FROM macros WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "macro.delete", "macro", Some(id), Some(&before), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn record_macro_applied(&self, actor: Actor, ticket_id: Uuid, applied: &Value) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "macro.applied", "ticket", Some(ticket_id), None, Some(applied))).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(crate) use impl_macro_store;
