//! The audit log in SQL: `append`, which every write calls inside its own
//! transaction with the event it records, and `AuditStore`, which reads the
//! chain back and verifies it.

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};
use uuid::Uuid;

use super::now;
use crate::{
    domain::audit::{AuditEvent, entry_hash},
    store::StoreResult,
};

/// Appends `event` to the tenant's hash chain inside `tx`, the transaction
/// of the write it records, so the write and its entry commit together. The
/// `UPDATE … RETURNING` on the tenant row serialises writers per tenant.
pub(crate) async fn append<DB>(
    tx: &mut Transaction<'static, DB>,
    tenant_id: Uuid,
    event: AuditEvent,
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64, String): for<'r> FromRow<'r, DB::Row>,
    Uuid: for<'q> Encode<'q, DB> + Type<DB>,
    Option<Uuid>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: for<'q> Encode<'q, DB> + Type<DB>,
{
    append_seq(tx, tenant_id, event).await.map(drop)
}

/// [`append`], answering the new entry's seq.
pub(crate) async fn append_seq<DB>(
    tx: &mut Transaction<'static, DB>,
    tenant_id: Uuid,
    event: AuditEvent,
) -> StoreResult<i64>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64, String): for<'r> FromRow<'r, DB::Row>,
    Uuid: for<'q> Encode<'q, DB> + Type<DB>,
    Option<Uuid>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: for<'q> Encode<'q, DB> + Type<DB>,
{
    let (seq, prev_hash): (i64, String) = sqlx::query_as(
            "UPDATE tenants SET audit_seq = audit_seq + 1 WHERE id = $1 RETURNING audit_seq, audit_head",
        )
        .bind(tenant_id)
        .fetch_one(&mut **tx)
        .await?;
    let at = now();
    let hash = entry_hash(tenant_id, seq, &prev_hash, at, &event);
    sqlx::query(
            "INSERT INTO audit_log (tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash, payload_salt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(&event.payload_salt)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE tenants SET audit_head = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// Appends `events` to the tenant's hash chain inside `tx`, in order, with
/// one statement for the chain's sequence, one insert per 500 entries and one
/// for the new head: what a batch of writes in one transaction records (a
/// sync exchange's merged documents), where [`append`] would take three
/// statements per entry.
pub(crate) async fn append_many<DB>(
    tx: &mut Transaction<'static, DB>,
    tenant_id: Uuid,
    events: &[AuditEvent],
) -> StoreResult<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64, String): for<'r> FromRow<'r, DB::Row>,
    Uuid: for<'q> Encode<'q, DB> + Type<DB>,
    Option<Uuid>: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    DateTime<Utc>: for<'q> Encode<'q, DB> + Type<DB>,
{
    let Ok(count) = i64::try_from(events.len()) else {
        return Err(crate::store::StoreError::Corrupt(
            "too many audit entries in one batch".into(),
        ));
    };
    if count == 0 {
        return Ok(());
    }
    let (last_seq, mut prev_hash): (i64, String) = sqlx::query_as(
        "UPDATE tenants SET audit_seq = audit_seq + $2 WHERE id = $1 \
             RETURNING audit_seq, audit_head",
    )
    .bind(tenant_id)
    .bind(count)
    .fetch_one(&mut **tx)
    .await?;
    let at = now();
    let mut seq = last_seq - count;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let hash = entry_hash(tenant_id, seq, &prev_hash, at, event);
        rows.push((
            seq,
            std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
            event,
        ));
    }
    // 12 parameters a row: well under either backend's limit.
    for chunk in rows.chunks(500) {
        let mut query = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO audit_log (tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash, payload_salt) ",
        );
        query.push_values(chunk, |mut row, (seq, prev, hash, event)| {
            row.push_bind(tenant_id)
                .push_bind(*seq)
                .push_bind(event.actor_id)
                .push_bind(event.action.clone())
                .push_bind(event.entity_type.clone())
                .push_bind(event.entity_id)
                .push_bind(event.before.clone())
                .push_bind(event.after.clone())
                .push_bind(at)
                .push_bind(prev.clone())
                .push_bind(hash.clone())
                .push_bind(event.payload_salt.clone());
        });
        query.build().execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE tenants SET audit_head = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(&prev_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

macro_rules! impl_audit_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::audit::{AuditEntry, ChainReport, verify_chain};
            use chrono::{DateTime, Utc};
            use $crate::store::{
                StoreError, StoreResult,
                audit::{AuditSeal, AuditStore},
                rows::AuditRow,
            };

            fn seal_of(
                (tenant_id, seq, hash, at, key_id, mac): (Uuid, i64, String, DateTime<Utc>, Option<String>, Option<String>),
            ) -> AuditSeal {
                AuditSeal { tenant_id, seq, hash, at, key_id, mac }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn list_audit(&self, tenant_id: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash, \
                         payload_salt, payload_digest, redacted_by \
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
                async fn list_audit_for_entity(&self, tenant_id: Uuid, entity_id: Uuid, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash, \
                         payload_salt, payload_digest, redacted_by \
                         FROM audit_log WHERE tenant_id = $1 AND entity_id = $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(tenant_id)
                    .bind(entity_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(AuditEntry::from).collect())
                }

                #[tracing::instrument(skip_all)]
                async fn unsealed_audit(&self, since: DateTime<Utc>, limit: u32) -> StoreResult<Vec<AuditSeal>> {
                    let rows: Vec<(Uuid, i64, String, DateTime<Utc>, Option<String>, Option<String>)> = sqlx::query_as(
                        "SELECT tenant_id, seq, hash, at, key_id, mac FROM audit_log \
                         WHERE mac IS NULL AND at >= $1 ORDER BY tenant_id, seq LIMIT $2",
                    )
                    .bind(since)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(seal_of).collect())
                }

                #[tracing::instrument(skip_all)]
                async fn seal_audit(&self, tenant_id: Uuid, seq: i64, key_id: &str, mac: &str) -> StoreResult<bool> {
                    let sealed = sqlx::query(
                        "UPDATE audit_log SET key_id = $3, mac = $4 WHERE tenant_id = $1 AND seq = $2 AND mac IS NULL",
                    )
                    .bind(tenant_id)
                    .bind(seq)
                    .bind(key_id)
                    .bind(mac)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(sealed == 1)
                }

                #[tracing::instrument(skip_all)]
                async fn audit_seals(&self, tenant_id: Uuid) -> StoreResult<Vec<AuditSeal>> {
                    let rows: Vec<(Uuid, i64, String, DateTime<Utc>, Option<String>, Option<String>)> = sqlx::query_as(
                        "SELECT tenant_id, seq, hash, at, key_id, mac FROM audit_log WHERE tenant_id = $1 ORDER BY seq",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(seal_of).collect())
                }

                #[tracing::instrument(skip_all)]
                async fn verify_audit(&self, tenant_id: Uuid) -> StoreResult<ChainReport> {
                    let head: Option<(i64, String)> = sqlx::query_as("SELECT audit_seq, audit_head FROM tenants WHERE id = $1")
                        .bind(tenant_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    let (head_seq, head_hash) = head.ok_or(StoreError::NotFound("tenant"))?;
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT tenant_id, seq, actor_id, action, entity_type, entity_id, before, after, at, prev_hash, hash, \
                         payload_salt, payload_digest, redacted_by \
                         FROM audit_log WHERE tenant_id = $1 ORDER BY seq",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?;
                    let entries: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
                    Ok(verify_chain(&entries, head_seq, &head_hash))
                }
            }
        };
    };
}

pub(in crate::store) use impl_audit_store;
