//! SQL behind `ReportStore`: issued service reports, the report job's
//! checkpoints and the tenants' report settings.

macro_rules! impl_report_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::audit::AuditEvent;
            use $crate::store::{
                Actor, StoreError, StoreResult,
                report::{NewServiceReport, ReportCandidate, ReportSettings, ReportStore, ServiceReport},
                sql::{audit, now, write_error},
            };

            const REPORT_COLUMNS: &str = "id, tenant_id, ticket_id, version, code, sha256, blob_key, size, doc_version, input_sha256, trigger, generated_by, created_at";

            #[async_trait]
            impl ReportStore for $store {
                #[tracing::instrument(skip_all)]
                async fn insert_report(&self, actor: Actor, report: &NewServiceReport) -> StoreResult<ServiceReport> {
                    let mut tx = self.begin_write().await?;
                    let at = now();
                    let id = Uuid::now_v7();
                    sqlx::query(
                        "INSERT INTO service_reports (id, tenant_id, ticket_id, version, code, sha256, blob_key, size, doc_version, input_sha256, trigger, generated_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(report.ticket_id)
                    .bind(report.version)
                    .bind(&report.code)
                    .bind(&report.sha256)
                    .bind(&report.blob_key)
                    .bind(report.size)
                    .bind(report.doc_version)
                    .bind(&report.input_sha256)
                    .bind(&report.trigger)
                    .bind(actor.user_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "this report version was issued concurrently", ("ticket_id", "no such ticket")))?;
                    Self::check_report_in(&mut tx, actor.tenant_id, report.ticket_id, report.doc_version).await?;
                    let detail = serde_json::json!({
                        "report_id": id,
                        "version": report.version,
                        "code": report.code,
                        "sha256": report.sha256,
                        "trigger": report.trigger,
                        "doc_version": report.doc_version,
                    });
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(actor.user_id, $crate::store::report::AUDIT_ACTION, "ticket", Some(report.ticket_id), None, Some(&detail)),
                    )
                    .await?;
                    let row: ServiceReport = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {REPORT_COLUMNS} FROM service_reports WHERE id = $1"
                    )))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(row)
                }

                async fn list_reports(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<ServiceReport>> {
                    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {REPORT_COLUMNS} FROM service_reports WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY version"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn report_by_code(&self, code: &str) -> StoreResult<Option<ServiceReport>> {
                    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {REPORT_COLUMNS} FROM service_reports WHERE code = $1"
                    )))
                    .bind(code)
                    .fetch_optional(&self.pool)
                    .await?)
                }

                async fn report_candidates(&self, limit: u32) -> StoreResult<Vec<ReportCandidate>> {
                    Ok(sqlx::query_as(
                        "SELECT t.tenant_id, t.id AS ticket_id, d.version AS doc_version FROM tickets t \
                         JOIN ticket_documents d ON d.ticket_id = t.id \
                         LEFT JOIN service_report_checks c ON c.ticket_id = t.id \
                         WHERE t.status IN ('work_done', 'closed') AND (c.doc_version IS NULL OR c.doc_version < d.version) \
                         ORDER BY d.updated_at LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn mark_report_checked(&self, tenant_id: Uuid, ticket_id: Uuid, doc_version: i64) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    Self::check_report_in(&mut tx, tenant_id, ticket_id, doc_version).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn report_settings(&self, tenant_id: Uuid) -> StoreResult<ReportSettings> {
                    let row: Option<ReportSettings> = sqlx::query_as(
                        "SELECT logo_key, logo_content_type, logo_sha256, font_key, font_sha256, font_index \
                         FROM service_report_settings WHERE tenant_id = $1",
                    )
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.unwrap_or_default())
                }

                #[tracing::instrument(skip_all)]
                async fn set_report_settings(&self, actor: Actor, settings: &ReportSettings) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO service_report_settings (tenant_id, logo_key, logo_content_type, logo_sha256, font_key, font_sha256, font_index, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (tenant_id) DO UPDATE SET logo_key = excluded.logo_key, logo_content_type = excluded.logo_content_type, \
                         logo_sha256 = excluded.logo_sha256, font_key = excluded.font_key, font_sha256 = excluded.font_sha256, \
                         font_index = excluded.font_index, updated_at = excluded.updated_at",
                    )
                    .bind(actor.tenant_id)
                    .bind(&settings.logo_key)
                    .bind(&settings.logo_content_type)
                    .bind(&settings.logo_sha256)
                    .bind(&settings.font_key)
                    .bind(&settings.font_sha256)
                    .bind(settings.font_index)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    let detail = serde_json::json!({
                        "logo_sha256": settings.logo_sha256,
                        "font_sha256": settings.font_sha256,
                        "font_index": settings.font_index,
                    });
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(actor.user_id, "report.settings", "tenant", Some(actor.tenant_id), None, Some(&detail)),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn report_tenant_name(&self, tenant_id: Uuid) -> StoreResult<String> {
                    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM tenants WHERE id = $1")
                        .bind(tenant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|r| r.0).ok_or(StoreError::NotFound("tenant"))
                }
            }

            impl $store {
                async fn check_report_in(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    tenant_id: Uuid,
                    ticket_id: Uuid,
                    doc_version: i64,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO service_report_checks (ticket_id, tenant_id, doc_version, checked_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (ticket_id) DO UPDATE SET doc_version = excluded.doc_version, checked_at = excluded.checked_at \
                         WHERE service_report_checks.doc_version < excluded.doc_version",
                    )
                    .bind(ticket_id)
                    .bind(tenant_id)
                    .bind(doc_version)
                    .bind(now())
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_report_store;
