//! SQL behind `LifecycleStore`: what refers to a record, and archive,
//! restore and delete under those checks.

use crate::domain::lifecycle::MasterKind;

use super::OPEN_STATUSES;

/// One kind of reference to a record: a count query over `$1` (tenant) and
/// `$2` (the record's id), and its noun.
pub(in crate::store) struct Use {
    pub(in crate::store) sql: String,
    pub(in crate::store) singular: &'static str,
    pub(in crate::store) plural: &'static str,
}

fn count(sql: String, singular: &'static str, plural: &'static str) -> Use {
    Use {
        sql,
        singular,
        plural,
    }
}

const CATEGORY_NAME: &str = "(SELECT name FROM categories WHERE tenant_id = $1 AND id = $2)";

/// What keeps `kind` from being archived: open tickets that refer to it.
pub(in crate::store) fn open_uses(kind: MasterKind) -> Vec<Use> {
    let open = |condition: &str| {
        format!(
            "SELECT COUNT(*) FROM tickets t WHERE t.tenant_id = $1 AND {condition} AND {OPEN_STATUSES}"
        )
    };
    match kind {
        MasterKind::Customer => vec![count(
            open(
                "t.site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = $1 AND s.customer_id = $2)",
            ),
            "open ticket",
            "open tickets",
        )],
        MasterKind::Site => vec![count(open("t.site_id = $2"), "open ticket", "open tickets")],
        MasterKind::Asset => vec![count(
            open("t.asset_id = $2"),
            "open ticket",
            "open tickets",
        )],
        MasterKind::Category => vec![count(
            open(&format!("t.category = {CATEGORY_NAME}")),
            "open ticket",
            "open tickets",
        )],
        MasterKind::Territory => vec![count(
            open(
                "t.site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = $1 AND s.territory_id = $2)",
            ),
            "open ticket",
            "open tickets",
        )],
        MasterKind::Technician => vec![count(
            open("t.assignee_id = $2"),
            "open assigned ticket",
            "open assigned tickets",
        )],
        // Tickets do not name a policy; they are matched to one when read.
        MasterKind::SlaPolicy => Vec::new(),
    }
}

/// What keeps `kind` from being deleted: every record that refers to it.
pub(in crate::store) fn all_uses(kind: MasterKind) -> Vec<Use> {
    let tickets = |condition: &str| {
        format!("SELECT COUNT(*) FROM tickets t WHERE t.tenant_id = $1 AND {condition}")
    };
    match kind {
        MasterKind::Customer => vec![
            count(
                "SELECT COUNT(*) FROM sites WHERE tenant_id = $1 AND customer_id = $2".into(),
                "site",
                "sites",
            ),
            count(
                tickets("t.site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = $1 AND s.customer_id = $2)"),
                "ticket",
                "tickets",
            ),
        ],
        MasterKind::Site => vec![
            count(
                "SELECT COUNT(*) FROM assets WHERE tenant_id = $1 AND site_id = $2".into(),
                "asset",
                "assets",
            ),
            count(tickets("t.site_id = $2"), "ticket", "tickets"),
        ],
        MasterKind::Asset => vec![count(tickets("t.asset_id = $2"), "ticket", "tickets")],
        MasterKind::Category => vec![
            count(tickets(&format!("t.category = {CATEGORY_NAME}")), "ticket", "tickets"),
            count(
                format!("SELECT COUNT(*) FROM sla_policies WHERE tenant_id = $1 AND category = {CATEGORY_NAME}"),
                "SLA policy",
                "SLA policies",
            ),
        ],
        MasterKind::SlaPolicy => vec![count(
            "SELECT COUNT(*) FROM sla_notices WHERE tenant_id = $1 AND policy_id = $2".into(),
            "fired SLA notice",
            "fired SLA notices",
        )],
        MasterKind::Territory => vec![count(
            "SELECT COUNT(*) FROM sites WHERE tenant_id = $1 AND territory_id = $2".into(),
            "site",
            "sites",
        )],
        MasterKind::Technician => vec![
            count(tickets("t.assignee_id = $2"), "assigned ticket", "assigned tickets"),
            count(
                "SELECT COUNT(*) FROM offers WHERE tenant_id = $1 AND technician_id = $2".into(),
                "offer",
                "offers",
            ),
            count(
                "SELECT COUNT(*) FROM technician_locations WHERE tenant_id = $1 AND technician_id = $2".into(),
                "recorded position",
                "recorded positions",
            ),
        ],
    }
}

macro_rules! impl_lifecycle_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::json;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                lifecycle::{MasterKind, counted, in_use_detail},
            };
            use $crate::store::{
                Actor, StoreError, StoreResult,
                lifecycle::LifecycleStore,
                sql::{
                    audit,
                    lifecycle::{Use, all_uses, open_uses},
                    now,
                },
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// The uses among `uses` that count more than zero, in words.
                async fn uses_in(
                    tx: &mut Tx,
                    tenant_id: Uuid,
                    id: Uuid,
                    uses: &[Use],
                ) -> StoreResult<Vec<String>> {
                    let mut found = Vec::new();
                    for usage in uses {
                        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(usage.sql.clone()))
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_one(&mut **tx)
                            .await?;
                        if n > 0 {
                            found.push(counted(n, usage.singular, usage.plural));
                        }
                    }
                    Ok(found)
                }

                /// The record's `archived_at`; `NotFound` when it is not in the tenant.
                async fn archived_state(
                    tx: &mut Tx,
                    kind: MasterKind,
                    tenant_id: Uuid,
                    id: Uuid,
                ) -> StoreResult<Option<DateTime<Utc>>> {
                    let row: Option<(Option<DateTime<Utc>>,)> =
                        sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT archived_at FROM {} WHERE tenant_id = $1 AND id = $2",
                            kind.table()
                        )))
                        .bind(tenant_id)
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.map(|(at,)| at)
                        .ok_or(StoreError::NotFound(kind.label()))
                }

                async fn set_archived(
                    tx: &mut Tx,
                    kind: MasterKind,
                    tenant_id: Uuid,
                    id: Uuid,
                    at: Option<DateTime<Utc>>,
                ) -> StoreResult<()> {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {} SET archived_at = $3 WHERE tenant_id = $1 AND id = $2",
                        kind.table()
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }
            }

            #[async_trait]
            impl LifecycleStore for $store {
                #[tracing::instrument(skip_all)]
                async fn archive(
                    &self,
                    actor: Actor,
                    kind: MasterKind,
                    id: Uuid,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::archived_state(&mut tx, kind, actor.tenant_id, id).await?;
                    if before.is_some() {
                        return Ok(());
                    }
                    // The row is written (and so locked) before the check, so
                    // a ticket written meanwhile waits for this decision.
                    let at = now();
                    Self::set_archived(&mut tx, kind, actor.tenant_id, id, Some(at)).await?;
                    let open =
                        Self::uses_in(&mut tx, actor.tenant_id, id, &open_uses(kind)).await?;
                    if !open.is_empty() {
                        return Err(StoreError::InUse(in_use_detail(kind, &open)));
                    }
                    let action = format!("{}.archive", kind.noun());
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(
                            actor.user_id,
                            &action,
                            kind.noun(),
                            Some(id),
                            Some(&json!({"archived_at": null})),
                            Some(&json!({"archived_at": at})),
                        ),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn restore(
                    &self,
                    actor: Actor,
                    kind: MasterKind,
                    id: Uuid,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let before = Self::archived_state(&mut tx, kind, actor.tenant_id, id).await?;
                    if before.is_none() {
                        return Ok(());
                    }
                    Self::set_archived(&mut tx, kind, actor.tenant_id, id, None).await?;
                    let action = format!("{}.restore", kind.noun());
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new(
                            actor.user_id,
                            &action,
                            kind.noun(),
                            Some(id),
                            Some(&json!({"archived_at": before})),
                            Some(&json!({"archived_at": null})),
                        ),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn delete_master(
                    &self,
                    actor: Actor,
                    kind: MasterKind,
                    id: Uuid,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    Self::archived_state(&mut tx, kind, actor.tenant_id, id).await?;
                    let uses = Self::uses_in(&mut tx, actor.tenant_id, id, &all_uses(kind)).await?;
                    if !uses.is_empty() {
                        return Err(StoreError::InUse(in_use_detail(kind, &uses)));
                    }
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {} WHERE tenant_id = $1 AND id = $2",
                        kind.table()
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::InUse(format!(
                                "{} is still referred to by other records",
                                kind.label()
                            ))
                        }
                        _ => StoreError::Database(e),
                    })?;
                    if let Some(search_kind) = Self::search_kind_of(kind) {
                        Self::remove_search_entry(&mut tx, actor.tenant_id, search_kind, id)
                            .await?;
                    }
                    let action = format!("{}.delete", kind.noun());
                    audit::append(
                        &mut tx,
                        actor.tenant_id,
                        AuditEvent::new::<serde_json::Value>(
                            actor.user_id,
                            &action,
                            kind.noun(),
                            Some(id),
                            None,
                            None,
                        ),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use impl_lifecycle_store;
