//! SQL behind `ProgressStore`: one-time codes per (tenant, ticket number),
//! what the progress page shows of a ticket, and survey answers.

macro_rules! impl_progress_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use $crate::domain::{audit::{AuditEvent, audit_time}, geo::GeoPoint};
            use $crate::store::{
                StoreError, StoreResult,
                notify::{NoticeContext, NoticeEvent},
                tickets::TicketStore,
                progress::{CodeCheck, CodePolicy, CsatAnswer, CsatGroup, CsatGroupBy, NewProgressCode, ProgressFacts, ProgressStore},
                sql::{audit, notify::first_name, write_error},
            };

            type CsatRow = (Uuid, i32, String, DateTime<Utc>);

            fn csat(row: CsatRow) -> StoreResult<CsatAnswer> {
                let (ticket_id, score, comment, created_at) = row;
                let score = u8::try_from(score).map_err(|_| StoreError::Corrupt(format!("csat_responses.score: {score}")))?;
                Ok(CsatAnswer { ticket_id, score, comment, created_at })
            }

            #[async_trait]
            impl ProgressStore for $store {
                #[tracing::instrument(skip_all)]
                async fn store_progress_code(&self, code: &NewProgressCode<'_>, now: DateTime<Utc>) -> StoreResult<bool> {
                    let now = audit_time(now);
                    let mut tx = self.begin_write().await?;
                    let locked_until: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                        "SELECT locked_until FROM progress_codes WHERE tenant_id = $1 AND ticket_number = $2",
                    )
                    .bind(code.tenant_id)
                    .bind(code.ticket_number)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if locked_until.flatten().is_some_and(|until| until > now) {
                        return Ok(false);
                    }
                    sqlx::query(
                        "INSERT INTO progress_codes (tenant_id, ticket_number, code_hash, expires_at, failed_attempts, locked_until, created_at) \
                         VALUES ($1, $2, $3, $4, 0, NULL, $5) \
                         ON CONFLICT (tenant_id, ticket_number) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, \
                         failed_attempts = 0, locked_until = NULL, created_at = excluded.created_at",
                    )
                    .bind(code.tenant_id)
                    .bind(code.ticket_number)
                    .bind(code.code_hash)
                    .bind(audit_time(code.expires_at))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if let Some((ticket_id, plain)) = code.send_to {
                        let ticket: Option<(String, String, Uuid)> = sqlx::query_as(
                            "SELECT number, title, site_id FROM tickets WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(code.tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some((number, title, site_id)) = ticket {
                            let context = |contact_name: &str| NoticeContext {
                                ticket_number: number.clone(),
                                ticket_title: title.clone(),
                                customer_name: contact_name.to_owned(),
                                technician_first_name: None,
                                comment: None,
                                access_code: Some(plain.to_owned()),
                                appointment_window: None,
                                merged_into: None,
                                merged_into_id: None,
                                staff_title: None,
                                staff_body: None,
                            };
                            let key = format!("code:{}", Uuid::now_v7());
                            Self::enqueue_notices_in(&mut tx, (code.tenant_id, ticket_id, site_id), NoticeEvent::AccessCode, &key, &context).await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                #[tracing::instrument(skip_all)]
                async fn check_progress_code(&self, tenant_id: Uuid, ticket_number: &str, code_hash: &str, now: DateTime<Utc>, policy: CodePolicy) -> StoreResult<CodeCheck> {
                    let now = audit_time(now);
                    let mut tx = self.begin_write().await?;
                    let row: Option<(String, DateTime<Utc>, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
                        "SELECT code_hash, expires_at, failed_attempts, locked_until FROM progress_codes WHERE tenant_id = $1 AND ticket_number = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_number)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((kept, expires_at, failed, locked_until)) = row else {
                        return Ok(CodeCheck::Wrong);
                    };
                    if locked_until.is_some_and(|until| until > now) {
                        return Ok(CodeCheck::Locked);
                    }
                    if kept == code_hash && expires_at > now {
                        sqlx::query("DELETE FROM progress_codes WHERE tenant_id = $1 AND ticket_number = $2")
                            .bind(tenant_id)
                            .bind(ticket_number)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        return Ok(CodeCheck::Accepted);
                    }
                    let failed = u32::try_from(failed).unwrap_or(0) + 1;
                    let lock = (failed >= policy.max_attempts).then(|| now + policy.lock_for);
                    sqlx::query("UPDATE progress_codes SET failed_attempts = $3, locked_until = $4 WHERE tenant_id = $1 AND ticket_number = $2")
                        .bind(tenant_id)
                        .bind(ticket_number)
                        .bind(i32::try_from(failed).unwrap_or(i32::MAX))
                        .bind(lock)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(if lock.is_some() { CodeCheck::Locked } else { CodeCheck::Wrong })
                }

                async fn progress_facts(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<ProgressFacts> {
                    let ticket = self.get_ticket(tenant_id, ticket_id).await?;
                    let row: Option<(Uuid, f64, f64)> = sqlx::query_as("SELECT customer_id, lat, lon FROM sites WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket.site_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    let (customer_id, lat, lon) = row.ok_or(StoreError::NotFound("site"))?;
                    let technician_name: Option<String> = match ticket.assignee_id {
                        Some(id) => sqlx::query_scalar("SELECT name FROM technicians WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await?,
                        None => None,
                    };
                    Ok(ProgressFacts { ticket, customer_id, site: GeoPoint { lat, lon }, technician_name: technician_name.as_deref().map(first_name) })
                }

                #[tracing::instrument(skip_all)]
                async fn record_csat(&self, tenant_id: Uuid, ticket_id: Uuid, score: u8, comment: &str) -> StoreResult<CsatAnswer> {
                    let mut tx = self.begin_write().await?;
                    let row: CsatRow = sqlx::query_as(
                        "INSERT INTO csat_responses (tenant_id, ticket_id, score, comment, created_at) VALUES ($1, $2, $3, $4, $5) \
                         RETURNING ticket_id, score, comment, created_at",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(i32::from(score))
                    .bind(comment)
                    .bind(audit_time(Utc::now()))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "this ticket's survey is already answered", ("ticket_id", "no such ticket")))?;
                    let answer = csat(row)?;
                    audit::append(&mut tx, tenant_id, AuditEvent::new(None, "ticket.survey", "ticket", Some(ticket_id), None, Some(&answer))).await?;
                    tx.commit().await?;
                    Ok(answer)
                }

                async fn csat_answer(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Option<CsatAnswer>> {
                    let row: Option<CsatRow> = sqlx::query_as(
                        "SELECT ticket_id, score, comment, created_at FROM csat_responses WHERE tenant_id = $1 AND ticket_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(csat).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn csat_report(&self, tenant_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, group_by: CsatGroupBy) -> StoreResult<Vec<CsatGroup>> {
                    let key = match group_by {
                        CsatGroupBy::Category => "t.category",
                        CsatGroupBy::Technician => "h.name",
                        CsatGroupBy::Territory => "z.name",
                    };
                    let rows: Vec<(Option<String>, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {key}, COUNT(*), SUM(r.score), SUM(CASE WHEN r.score >= 4 THEN 1 ELSE 0 END) FROM csat_responses r \
                         JOIN tickets t ON t.tenant_id = r.tenant_id AND t.id = r.ticket_id \
                         LEFT JOIN technicians h ON h.tenant_id = t.tenant_id AND h.id = t.assignee_id \
                         LEFT JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         LEFT JOIN territories z ON z.tenant_id = s.tenant_id AND z.id = s.territory_id \
                         WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
                         GROUP BY {key} ORDER BY {key}"
                    )))
                    .bind(tenant_id)
                    .bind(audit_time(from))
                    .bind(audit_time(to))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(group, responses, total, satisfied)| CsatGroup {
                            group,
                            responses: u64::try_from(responses).unwrap_or(0),
                            average_score: if responses > 0 { (total as f64 / responses as f64 * 100.0).round() / 100.0 } else { 0.0 },
                            satisfied: u64::try_from(satisfied).unwrap_or(0),
                        })
                        .collect())
                }
            }
        };
    };
}

pub(crate) use impl_progress_store;
