//! SQL behind `PrivacyStore`: masking settings, legal holds, reveals and the
//! one transaction that erases a customer.

/// Free text that may quote a customer, redacted wherever it holds one of
/// the erased values: (table, key column, column, JSON column). Rows are
/// found by `LIKE` per value within the tenant, then redacted in Rust.
pub(in crate::store) const REDACTED_TEXT: &[(&str, &str, &str, bool)] = &[
    ("tickets", "id", "title", false),
    ("tickets", "id", "description", false),
    ("tickets", "id", "search_text", false),
    ("tickets", "id", "custom_fields", true),
    ("comments", "id", "body", false),
    ("csat_responses", "ticket_id", "comment", false),
    ("webhook_deliveries", "id", "body", true),
    ("webhook_deliveries", "id", "last_error", false),
    ("push_outbox", "id", "title", false),
    ("push_outbox", "id", "body", false),
    ("push_outbox", "id", "data", true),
    ("staff_notifications", "id", "title", false),
    ("staff_notifications", "id", "body", false),
    ("intake_messages", "id", "sender", false),
    ("intake_messages", "id", "subject", false),
    ("intake_messages", "id", "reason", false),
    ("approval_requests", "id", "reason", false),
    ("day_plans", "id", "body", false),
    ("notify_messages", "id", "recipient", false),
    ("notify_messages", "id", "subject", false),
    ("notify_messages", "id", "body", false),
    ("notify_messages", "id", "context", true),
    ("notify_messages", "id", "last_error", false),
];

macro_rules! impl_privacy_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::BTreeSet;

            use async_trait::async_trait;
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::{AuditEvent, CONTACT_ERASE_ACTION, ERASE_ACTION, payload_digest},
                customers::{Customer, Site},
                privacy::{ERASED, MaskedField, PrivacySettings},
            };
            use $crate::store::{
                Actor, Backend, StoreError, StoreResult,
                privacy::{ErasureOutcome, ErasurePlan, ErasureScope, ErasureSubject, PrivacyStore, ScopedMedia, ScopedTicket},
                rows::{CustomerRow, SiteRow, convert_all},
                sql::{CUSTOMER_COLUMNS, SITE_COLUMNS, audit, now, privacy::REDACTED_TEXT, search_text},
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// Redacts one column of the tenant's rows that contain any
                /// of the plan's values; answers how many rows changed.
                async fn redact_column(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    plan: &ErasurePlan,
                    (table, key, column, json): (&str, &str, &str, bool),
                ) -> StoreResult<u64> {
                    let mut keys: BTreeSet<Uuid> = BTreeSet::new();
                    let mut changed = 0;
                    for needle in plan.redactor.needles() {
                        let pattern = format!("%{}%", needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                        let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {key}, CAST({column} AS TEXT) FROM {table} \
                             WHERE tenant_id = $1 AND CAST({column} AS TEXT) LIKE $2 ESCAPE '\\'"
                        )))
                        .bind(tenant_id)
                        .bind(pattern)
                        .fetch_all(&mut **tx)
                        .await?;
                        for (id, text) in rows {
                            let Some(text) = text else { continue };
                            if !keys.insert(id) {
                                continue;
                            }
                            let redacted = plan.redactor.redact(&text);
                            if redacted == text {
                                continue;
                            }
                            let value = if json && Self::BACKEND == Backend::Postgres { "CAST($3 AS JSONB)" } else { "$3" };
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "UPDATE {table} SET {column} = {value} WHERE tenant_id = $1 AND {key} = $2"
                            )))
                            .bind(tenant_id)
                            .bind(id)
                            .bind(redacted)
                            .execute(&mut **tx)
                            .await?;
                            changed += 1;
                        }
                    }
                    Ok(changed)
                }

                /// Audit entries about the customer or its sites, or whose
                /// payload holds an erased value: (seq, before, after, salt).
                async fn audit_to_redact(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    plan: &ErasurePlan,
                ) -> StoreResult<Vec<(i64, Option<String>, Option<String>, Option<String>)>> {
                    // Erasing a customer redacts everything about it and its
                    // sites; erasing its contact only what quotes the name.
                    let mut entities = Vec::new();
                    if plan.subject == ErasureSubject::Customer {
                        entities.push(plan.customer_id);
                        entities.extend(plan.site_ids.iter().copied());
                    }
                    let mut found = std::collections::BTreeMap::new();
                    for entity in entities {
                        let rows: Vec<(i64, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                            "SELECT seq, before, after, payload_salt FROM audit_log \
                             WHERE tenant_id = $1 AND entity_id = $2 AND redacted_by IS NULL AND action <> $3",
                        )
                        .bind(tenant_id)
                        .bind(entity)
                        .bind(ERASE_ACTION)
                        .fetch_all(&mut **tx)
                        .await?;
                        for row in rows {
                            found.insert(row.0, row);
                        }
                    }
                    for needle in plan.redactor.needles() {
                        let pattern = format!("%{}%", needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                        let rows: Vec<(i64, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                            "SELECT seq, before, after, payload_salt FROM audit_log \
                             WHERE tenant_id = $1 AND redacted_by IS NULL \
                             AND (before LIKE $2 ESCAPE '\\' OR after LIKE $2 ESCAPE '\\')",
                        )
                        .bind(tenant_id)
                        .bind(pattern)
                        .fetch_all(&mut **tx)
                        .await?;
                        for row in rows {
                            let (_, before, after, _) = &row;
                            let holds = |t: &Option<String>| t.as_deref().is_some_and(|t| plan.redactor.contains_any(t));
                            if holds(before) || holds(after) {
                                found.insert(row.0, row);
                            }
                        }
                    }
                    Ok(found.into_values().collect())
                }
            }

            #[async_trait]
            impl PrivacyStore for $store {
                async fn privacy_settings(&self, tenant_id: Uuid) -> StoreResult<PrivacySettings> {
                    let row: Option<(Json<std::collections::BTreeMap<String, BTreeSet<MaskedField>>>, bool)> = sqlx::query_as(
                        "SELECT unmasked, erase_photos FROM privacy_settings WHERE tenant_id = $1",
                    )
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(row.map_or_else(PrivacySettings::default, |(Json(unmasked), erase_photos)| PrivacySettings { unmasked, erase_photos }))
                }

                #[tracing::instrument(skip_all)]
                async fn put_privacy_settings(&self, actor: Actor, settings: &PrivacySettings) -> StoreResult<PrivacySettings> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO privacy_settings (tenant_id, unmasked, erase_photos, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id) DO UPDATE SET unmasked = excluded.unmasked, erase_photos = excluded.erase_photos, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(actor.tenant_id)
                    .bind(Json(&settings.unmasked))
                    .bind(settings.erase_photos)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "privacy.settings", "tenant", Some(actor.tenant_id), None, Some(settings))).await?;
                    tx.commit().await?;
                    Ok(settings.clone())
                }

                #[tracing::instrument(skip_all)]
                async fn set_customer_legal_hold(&self, actor: Actor, customer_id: Uuid, hold: bool) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query("UPDATE customers SET legal_hold = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(customer_id)
                        .bind(hold)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound("customer"));
                    }
                    let action = if hold { "customer.legal_hold" } else { "customer.legal_hold_lifted" };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "customer", Some(customer_id), None, Some(&hold))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn set_ticket_legal_hold(&self, actor: Actor, ticket_id: Uuid, hold: bool) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query("UPDATE tickets SET legal_hold = $3 WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(ticket_id)
                        .bind(hold)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound("ticket"));
                    }
                    let action = if hold { "ticket.legal_hold" } else { "ticket.legal_hold_lifted" };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "ticket", Some(ticket_id), None, Some(&hold))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn customer_legal_hold(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<bool> {
                    let hold: Option<bool> = sqlx::query_scalar("SELECT legal_hold FROM customers WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(customer_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    hold.ok_or(StoreError::NotFound("customer"))
                }

                async fn ticket_legal_hold(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<bool> {
                    let hold: Option<bool> = sqlx::query_scalar("SELECT legal_hold FROM tickets WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    hold.ok_or(StoreError::NotFound("ticket"))
                }

                #[tracing::instrument(skip_all)]
                async fn record_reveal(&self, actor: Actor, entity_type: &str, entity_id: Uuid, field: MaskedField) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let detail = serde_json::json!({ "field": field.as_str() });
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, &format!("{entity_type}.reveal"), entity_type, Some(entity_id), None, Some(&detail))).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn erasure_scope(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<ErasureScope> {
                    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2")),
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let customer = Customer::try_from(row.ok_or(StoreError::NotFound("customer"))?)?;
                    let legal_hold = self.customer_legal_hold(tenant_id, customer_id).await?;
                    let sites: Vec<SiteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id")),
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let sites: Vec<Site> = convert_all(sites)?;
                    let tickets: Vec<(Uuid, String, String, bool)> = sqlx::query_as(
                        "SELECT t.id, t.number, t.status, t.legal_hold FROM tickets t \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE t.tenant_id = $1 AND s.customer_id = $2 ORDER BY t.id",
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_all(&self.pool)
                    .await?;
                    type MediaRow = (Uuid, Uuid, String, String, bool, Option<String>);
                    let media: Vec<MediaRow> = sqlx::query_as(
                        "SELECT m.id, m.ticket_id, m.kind, m.sha256, m.has_thumbnail, g.signer_name FROM media m \
                         JOIN tickets t ON t.tenant_id = m.tenant_id AND t.id = m.ticket_id \
                         LEFT JOIN signatures g ON g.tenant_id = m.tenant_id AND g.media_id = m.id \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE m.tenant_id = $1 AND s.customer_id = $2 ORDER BY m.id",
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let signer_names: Vec<String> = sqlx::query_scalar(
                        "SELECT g.signer_name FROM signatures g \
                         JOIN tickets t ON t.tenant_id = g.tenant_id AND t.id = g.ticket_id \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE g.tenant_id = $1 AND s.customer_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let reports: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT r.id, r.blob_key FROM service_reports r \
                         JOIN tickets t ON t.tenant_id = r.tenant_id AND t.id = r.ticket_id \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE r.tenant_id = $1 AND s.customer_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(customer_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(ErasureScope {
                        customer,
                        legal_hold,
                        sites,
                        tickets: tickets
                            .into_iter()
                            .map(|(id, number, status, legal_hold)| ScopedTicket {
                                id,
                                number,
                                open: !matches!(status.as_str(), "closed" | "cancelled"),
                                legal_hold,
                            })
                            .collect(),
                        media: media
                            .into_iter()
                            .map(|(id, ticket_id, kind, sha256, has_thumbnail, signer_name)| ScopedMedia {
                                id,
                                ticket_id,
                                kind,
                                sha256,
                                has_thumbnail,
                                signer_name,
                            })
                            .collect(),
                        signer_names,
                        reports,
                    })
                }

                #[tracing::instrument(skip_all)]
                async fn erase_customer(&self, actor: Actor, plan: &ErasurePlan) -> StoreResult<ErasureOutcome> {
                    let tenant_id = actor.tenant_id;
                    let at = now();
                    let whole = plan.subject == ErasureSubject::Customer;
                    let mut tx = self.begin_write().await?;
                    let erased = if whole {
                        sqlx::query(
                            "UPDATE customers SET name = $3, email = NULL, phone = NULL, contact_person = NULL, \
                             erased_at = $4, archived_at = COALESCE(archived_at, $4) \
                             WHERE tenant_id = $1 AND id = $2 AND legal_hold = $5",
                        )
                        .bind(tenant_id)
                        .bind(plan.customer_id)
                        .bind(ERASED)
                        .bind(at)
                        .bind(false)
                    } else {
                        sqlx::query("UPDATE customers SET contact_person = NULL WHERE tenant_id = $1 AND id = $2 AND legal_hold = $3")
                            .bind(tenant_id)
                            .bind(plan.customer_id)
                            .bind(false)
                    }
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if erased == 0 {
                        return Err(StoreError::Conflict("the customer is under legal hold".into()));
                    }
                    if whole {
                        sqlx::query(
                            "UPDATE sites SET name = $3, address = $3, access_notes = '', opening_hours = '', \
                             lat = ROUND(lat * 100) / 100, lon = ROUND(lon * 100) / 100, archived_at = COALESCE(archived_at, $4) \
                             WHERE tenant_id = $1 AND customer_id = $2",
                        )
                        .bind(tenant_id)
                        .bind(plan.customer_id)
                        .bind(ERASED)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let mut rows_redacted = 0;
                    for ticket_id in &plan.ticket_ids {
                        let held: Option<bool> = sqlx::query_scalar("SELECT legal_hold FROM tickets WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if held == Some(true) {
                            return Err(StoreError::Conflict("a ticket of the customer is under legal hold".into()));
                        }
                        if !whole {
                            // A notice being rendered now may quote the contact: its claim is
                            // released, so the worker's "sent" write is refused and the notice is
                            // rendered again from the redacted context (`mark_notice_sent`).
                            // Every pending notice is written (unclaimed ones keep their time),
                            // before any redaction: the rows stay locked until the commit, so a
                            // claim or a "sent" write that comes later waits and then reads or
                            // meets the redacted row (a claim taken between a later release and
                            // the redaction of its context would otherwise stand).
                            sqlx::query(
                                "UPDATE notify_messages SET next_attempt_at = CASE WHEN next_attempt_at > $3 THEN $3 ELSE next_attempt_at END \
                                 WHERE tenant_id = $1 AND ticket_id = $2 AND state = 'pending'",
                            )
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                            continue;
                        }
                        // Notices to the customer: nothing of them is needed any more.
                        rows_redacted += sqlx::query(
                            "UPDATE notify_messages SET recipient = $3, context = '{}', subject = NULL, body = NULL, last_error = NULL, \
                             state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END \
                             WHERE tenant_id = $1 AND ticket_id = $2",
                        )
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(ERASED)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    for target in REDACTED_TEXT {
                        rows_redacted += Self::redact_column(&mut tx, tenant_id, plan, *target).await?;
                    }
                    // The search text is derived from the (redacted) title and description.
                    for ticket_id in &plan.ticket_ids {
                        let text: Option<(String, String)> = sqlx::query_as("SELECT title, description FROM tickets WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some((title, description)) = text {
                            sqlx::query("UPDATE tickets SET search_text = $3 WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant_id)
                                .bind(ticket_id)
                                .bind(search_text(&title, &description))
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    for (ticket_id, snapshot) in &plan.documents {
                        sqlx::query("DELETE FROM ticket_document_chunks WHERE ticket_id = $1")
                            .bind(ticket_id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "UPDATE ticket_documents SET snapshot = $3, incremental_bytes = 0, version = version + 1, updated_at = $4 \
                             WHERE tenant_id = $1 AND ticket_id = $2",
                        )
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .bind(snapshot)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for media_id in &plan.media_ids {
                        sqlx::query("DELETE FROM signatures WHERE tenant_id = $1 AND media_id = $2")
                            .bind(tenant_id)
                            .bind(media_id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM media WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(media_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for report_id in &plan.report_ids {
                        sqlx::query("DELETE FROM service_reports WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(report_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    // A stale check would make the report job think the (new) document was reported.
                    for ticket_id in &plan.ticket_ids {
                        sqlx::query("DELETE FROM service_report_checks WHERE tenant_id = $1 AND ticket_id = $2")
                            .bind(tenant_id)
                            .bind(ticket_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    // Stored answers of idempotent requests that showed the customer.
                    let ids: Vec<String> = if whole {
                        std::iter::once(plan.customer_id)
                            .chain(plan.site_ids.iter().copied())
                            .map(|id| id.to_string())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let answers: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
                        "SELECT user_id, key, body FROM idempotency_keys WHERE tenant_id = $1 AND body IS NOT NULL",
                    )
                    .bind(tenant_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut idempotency_keys_deleted = 0;
                    for (user_id, key, body) in answers {
                        let names_record = ids.iter().any(|id| body.windows(id.len()).any(|w| w == id.as_bytes()));
                        if names_record || plan.redactor.contains_any_bytes(&body) {
                            idempotency_keys_deleted += sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3")
                                .bind(tenant_id)
                                .bind(user_id)
                                .bind(key)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                        }
                    }
                    Self::index_customer(&mut tx, tenant_id, plan.customer_id, true).await?;

                    // The audit log: payloads that hold the values are
                    // replaced by their digests; the erasure lists them.
                    let redact = Self::audit_to_redact(&mut tx, tenant_id, plan).await?;
                    let redacted_seqs: Vec<i64> = redact.iter().map(|(seq, ..)| *seq).collect();
                    let outcome_without_seq = ErasureOutcome {
                        audit_seq: 0,
                        sites: plan.site_ids.len(),
                        tickets: plan.ticket_ids.len(),
                        documents_squashed: plan.documents.len(),
                        media_deleted: plan.media_ids.len(),
                        reports_deleted: plan.report_ids.len(),
                        rows_redacted,
                        audit_entries_redacted: redacted_seqs.len(),
                        idempotency_keys_deleted,
                    };
                    let record = serde_json::json!({
                        "customer_id": plan.customer_id,
                        "redacted_seqs": redacted_seqs,
                        "outcome": outcome_without_seq,
                    });
                    let action = if whole { ERASE_ACTION } else { CONTACT_ERASE_ACTION };
                    let erase_seq = audit::append_seq(&mut tx, tenant_id, AuditEvent::new(actor.user_id, action, "customer", Some(plan.customer_id), None, Some(&record))).await?;
                    for (seq, before, after, salt) in &redact {
                        let digest = salt.as_deref().map(|salt| payload_digest(salt, before.as_deref(), after.as_deref()));
                        sqlx::query(
                            "UPDATE audit_log SET before = NULL, after = NULL, payload_salt = NULL, payload_digest = $3, redacted_by = $4 \
                             WHERE tenant_id = $1 AND seq = $2",
                        )
                        .bind(tenant_id)
                        .bind(seq)
                        .bind(digest)
                        .bind(erase_seq)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(ErasureOutcome { audit_seq: erase_seq, ..outcome_without_seq })
                }
            }
        };
    };
}

pub(in crate::store) use impl_privacy_store;
