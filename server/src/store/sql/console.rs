//! SQL behind `ConsoleStore`: tenant settings, user languages, saved views
//! and ticket templates.

macro_rules! impl_console_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::audit::AuditEvent;
            use $crate::store::{
                Actor, StoreError, StoreResult,
                console::{
                    ConsoleStore, Locale, NewSavedView, SavedView, TemplateInput, TemplatePatch, TenantSettings,
                    TenantSettingsPatch, TicketTemplate,
                },
                sql::{audit, now, write_error},
            };

            type TenantRow = (Uuid, String, String, String, bool);
            type ViewRow = (Uuid, String, Json<BTreeMap<String, String>>, DateTime<Utc>);
            type TemplateRow = (Uuid, String, Json<Value>, DateTime<Utc>, DateTime<Utc>);

            fn locale_from(value: &str) -> StoreResult<Locale> {
                Locale::parse(value).ok_or_else(|| StoreError::Corrupt(format!("locale: {value:?}")))
            }

            fn tenant_from(row: TenantRow) -> StoreResult<TenantSettings> {
                let (id, name, time_zone, default_locale, customer_slot_choice) = row;
                Ok(TenantSettings { id, name, time_zone, default_locale: locale_from(&default_locale)?, customer_slot_choice })
            }

            fn view_from(row: ViewRow) -> SavedView {
                let (id, name, query, created_at) = row;
                SavedView { id, name, query: query.0, created_at }
            }

            fn template_from(row: TemplateRow) -> TicketTemplate {
                let (id, name, fields, created_at, updated_at) = row;
                TicketTemplate { id, name, fields: fields.0, created_at, updated_at }
            }

            const TEMPLATE_SELECT: &str =
                "SELECT id, name, fields, created_at, updated_at FROM ticket_templates WHERE tenant_id = $1";

            #[async_trait]
            impl ConsoleStore for $store {
                async fn tenant_settings(&self, tenant_id: Uuid) -> StoreResult<TenantSettings> {
                    let row: Option<TenantRow> =
                        sqlx::query_as("SELECT id, name, time_zone, default_locale, customer_slot_choice FROM tenants WHERE id = $1")
                            .bind(tenant_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    tenant_from(row.ok_or(StoreError::NotFound("tenant"))?)
                }

                #[tracing::instrument(skip_all)]
                async fn update_tenant_settings(&self, actor: Actor, patch: &TenantSettingsPatch) -> StoreResult<TenantSettings> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<TenantRow> =
                        sqlx::query_as("SELECT id, name, time_zone, default_locale, customer_slot_choice FROM tenants WHERE id = $1")
                            .bind(actor.tenant_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let before = tenant_from(row.ok_or(StoreError::NotFound("tenant"))?)?;
                    let after = TenantSettings {
                        time_zone: patch.time_zone.clone().unwrap_or_else(|| before.time_zone.clone()),
                        default_locale: patch.default_locale.unwrap_or(before.default_locale),
                        customer_slot_choice: patch.customer_slot_choice.unwrap_or(before.customer_slot_choice),
                        ..before.clone()
                    };
                    if after == before {
                        return Ok(before);
                    }
                    sqlx::query("UPDATE tenants SET time_zone = $2, default_locale = $3, customer_slot_choice = $4 WHERE id = $1")
                        .bind(actor.tenant_id)
                        .bind(&after.time_zone)
                        .bind(after.default_locale.as_str())
                        .bind(after.customer_slot_choice)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "tenant.update", "tenant", Some(actor.tenant_id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn user_locale(&self, tenant_id: Uuid, user_id: Uuid) -> StoreResult<Option<Locale>> {
                    let row: Option<(Option<String>,)> =
                        sqlx::query_as("SELECT locale FROM users WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(user_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    match row.ok_or(StoreError::NotFound("user"))?.0 {
                        Some(locale) => Ok(Some(locale_from(&locale)?)),
                        None => Ok(None),
                    }
                }

                #[tracing::instrument(skip_all)]
                async fn set_user_locale(&self, actor: Actor, user_id: Uuid, locale: Option<Locale>) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query("UPDATE users SET locale = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(user_id)
                        .bind(locale.map(Locale::as_str))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound("user"));
                    }
                    let after = serde_json::json!({ "locale": locale });
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "user.locale", "user", Some(user_id), None, Some(&after))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_saved_views(&self, tenant_id: Uuid, user_id: Uuid) -> StoreResult<Vec<SavedView>> {
                    let rows: Vec<ViewRow> = sqlx::query_as(
                        "SELECT id, name, query, created_at FROM saved_views WHERE tenant_id = $1 AND user_id = $2 ORDER BY name, id",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(view_from).collect())
                }

                #[tracing::instrument(skip_all)]
                async fn create_saved_view(&self, actor: Actor, user_id: Uuid, view: &NewSavedView) -> StoreResult<SavedView> {
                    let mut tx = self.begin_write().await?;
                    let saved = SavedView { id: Uuid::now_v7(), name: view.name.trim().to_owned(), query: view.query.clone(), created_at: now() };
                    sqlx::query(
                        "INSERT INTO saved_views (id, tenant_id, user_id, name, query, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(saved.id)
                    .bind(actor.tenant_id)
                    .bind(user_id)
                    .bind(&saved.name)
                    .bind(Json(&saved.query))
                    .bind(saved.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "you already have a view with this name", ("user_id", "no such user")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "saved_view.create", "saved_view", Some(saved.id), None, Some(&saved))).await?;
                    tx.commit().await?;
                    Ok(saved)
                }

                #[tracing::instrument(skip_all)]
                async fn delete_saved_view(&self, actor: Actor, user_id: Uuid, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let removed = sqlx::query("DELETE FROM saved_views WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
                        .bind(actor.tenant_id)
                        .bind(user_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if removed == 0 {
                        return Err(StoreError::NotFound("saved view"));
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "saved_view.delete", "saved_view", Some(id), None, None::<&SavedView>)).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_ticket_templates(&self, tenant_id: Uuid) -> StoreResult<Vec<TicketTemplate>> {
                    let rows: Vec<TemplateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEMPLATE_SELECT} ORDER BY name, id")))
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(template_from).collect())
                }

                async fn get_ticket_template(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<TicketTemplate> {
                    let row: Option<TemplateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEMPLATE_SELECT} AND id = $2")))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(template_from).ok_or(StoreError::NotFound("ticket template"))
                }

                #[tracing::instrument(skip_all)]
                async fn create_ticket_template(&self, actor: Actor, input: &TemplateInput) -> StoreResult<TicketTemplate> {
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let template = TicketTemplate { id: Uuid::now_v7(), name: input.name.trim().to_owned(), fields: input.fields.clone(), created_at: at, updated_at: at };
                    sqlx::query(
                        "INSERT INTO ticket_templates (id, tenant_id, name, fields, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(template.id)
                    .bind(actor.tenant_id)
                    .bind(&template.name)
                    .bind(Json(&template.fields))
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a template with this name exists", ("tenant", "no such tenant")))?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket_template.create", "ticket_template", Some(template.id), None, Some(&template))).await?;
                    tx.commit().await?;
                    Ok(template)
                }

                #[tracing::instrument(skip_all)]
                async fn update_ticket_template(&self, actor: Actor, id: Uuid, patch: &TemplatePatch) -> StoreResult<TicketTemplate> {
                    let before = self.get_ticket_template(actor.tenant_id, id).await?;
                    let mut tx = self.begin_write().await?;
                    let after = TicketTemplate {
                        name: patch.name.as_deref().map(str::trim).map(str::to_owned).unwrap_or_else(|| before.name.clone()),
                        fields: patch.fields.clone().unwrap_or_else(|| before.fields.clone()),
                        updated_at: now().max(before.updated_at + chrono::Duration::microseconds(1)),
                        ..before.clone()
                    };
                    let changed = sqlx::query(
                        "UPDATE ticket_templates SET name = $3, fields = $4, updated_at = $5 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(&after.name)
                    .bind(Json(&after.fields))
                    .bind(after.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a template with this name exists", ("tenant", "no such tenant")))?
                    .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound("ticket template"));
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket_template.update", "ticket_template", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all)]
                async fn delete_ticket_template(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let before = self.get_ticket_template(actor.tenant_id, id).await?;
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM ticket_templates WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket_template.delete", "ticket_template", Some(id), Some(&before), None)).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_console_store;
