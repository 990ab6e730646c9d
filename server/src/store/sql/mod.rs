//! The portable SQL behind `Store`, written once and instantiated per backend.
//!
//! One file per resource, named like the sub-trait's file one level up
//! (`users.rs` implements `UserStore`, …), each holding one macro
//! `impl_<resource>_store!($store, $db)`. `impl_store!` calls them all, so a
//! backend module instantiates everything with one line:
//! `sql::impl_store!(PgStore, Postgres);`.
//!
//! Placeholders are `$N`, which both PostgreSQL and SQLite accept; everything
//! backend-specific comes from the backend struct: `pool`, `begin_write`,
//! `migrator`, and the constants `BACKEND`, `PERCENTILE_DISC`,
//! `REPORT_MONTH`, `SUBQUERY_FENCE` and `REPORT_SETUP`.
//!
//! Every write appends its audit entry itself, in its own transaction, with
//! `audit::append(&mut tx, tenant_id, AuditEvent::new(…))`.

pub(super) mod approvals;
pub(super) mod assignment;
pub(super) mod audit;
pub(super) mod automation;
pub(super) mod console;
pub(super) mod customers;
pub(super) mod documents;
pub(super) mod idempotency;
pub(super) mod intake;
pub(super) mod knowledge;
pub(super) mod lifecycle;
pub(super) mod locations;
pub(super) mod macros;
pub(super) mod maintenance;
pub(super) mod media;
pub(crate) mod notify;
pub(super) mod offers;
pub(super) mod parts;
pub(super) mod privacy;
pub(super) mod progress;
pub(super) mod push;
pub(super) mod report;
pub(super) mod retention;
pub(super) mod schedule;
pub(super) mod search;
pub(super) mod sla;
pub(super) mod sla_report;
pub(super) mod sla_timers;
pub(super) mod technicians;
pub(super) mod territories;
pub(super) mod tickets;
pub(super) mod users;
pub(super) mod watch;
pub(super) mod webhooks;

use super::StoreError;

pub(super) const USER_COLUMNS: &str = "id, tenant_id, email, name, role, active, created_at";
pub(super) const TECHNICIAN_COLUMNS: &str = "id, tenant_id, user_id, name, skills, shifts, time_zone, home_lat, home_lon, capacity, status, created_at, updated_at, archived_at";
pub(super) const TICKET_COLUMNS: &str = "id, tenant_id, number, title, description, category, priority, required_skills, site_id, asset_id, tags, custom_fields, status, hold_reason, assignee_id, created_by, created_at, updated_at, checkin_verified, checkin_distance_m, checkin_accuracy_m, checkin_at";
pub(super) const CUSTOMER_COLUMNS: &str =
    "id, tenant_id, name, tier, email, phone, contact_person, created_at, archived_at";
pub(super) const SITE_COLUMNS: &str = "id, tenant_id, customer_id, name, address, lat, lon, territory_id, access_notes, opening_hours, created_at, archived_at";
pub(super) const ASSET_COLUMNS: &str =
    "id, tenant_id, site_id, serial, model, warranty_end, installed_on, created_at, archived_at";
pub(super) const CATEGORY_COLUMNS: &str =
    "id, tenant_id, name, description, custom_fields_schema, created_at, archived_at";
pub(super) const OFFER_COLUMNS: &str = "id, tenant_id, ticket_id, technician_id, round, state, reason, expires_at, created_at, decided_at";
pub(super) const TERRITORY_COLUMNS: &str =
    "id, tenant_id, name, boundary, created_at, updated_at, archived_at";
pub(super) const MEDIA_COLUMNS: &str = "id, tenant_id, ticket_id, kind, content_type, size, sha256, state, has_thumbnail, created_by, created_at, completed_at";
pub(super) const SIGNATURE_COLUMNS: &str = "id, tenant_id, ticket_id, media_id, signer_name, signed_at, lat, lon, strokes, doc_heads, heads_hash, image_sha256, seal, created_by";
pub(super) const PUSH_COLUMNS: &str = "id, tenant_id, user_id, device_id, token, title, body, data, attempts, next_attempt_at, state, last_error, created_at";
pub(super) const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.event_id, d.event_type, d.ticket_id, d.body, d.state, d.attempts, \
     d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at";

/// Ticket statuses that count against a technician's capacity.
pub(super) const LOAD_STATUSES: &str =
    "('assigned', 'accepted', 'en_route', 'on_site', 'on_hold', 'work_done')";

/// Ticket `t` is still open: not done, closed or cancelled.
pub(super) const OPEN_STATUSES: &str = "t.status NOT IN ('work_done', 'closed', 'cancelled')";

/// The condition a list adds for `?archived=`: `""` (all), or an
/// `AND` on `alias.archived_at`.
pub(super) fn archived_clause(
    archived: crate::domain::lifecycle::ArchivedFilter,
    alias: &str,
) -> String {
    use crate::domain::lifecycle::ArchivedFilter;
    match archived {
        ArchivedFilter::Active => format!(" AND {alias}.archived_at IS NULL"),
        ArchivedFilter::Archived => format!(" AND {alias}.archived_at IS NOT NULL"),
        ArchivedFilter::All => String::new(),
    }
}

/// Maps a database error on a write to a precise store error.
pub(super) fn write_error(
    error: sqlx::Error,
    unique: &str,
    reference: (&'static str, &str),
) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            return StoreError::Conflict(unique.to_owned());
        }
        if db.is_foreign_key_violation() {
            return StoreError::Reference {
                field: reference.0,
                message: reference.1.to_owned(),
            };
        }
    }
    StoreError::Database(error)
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

/// Implements `Store` and every sub-trait for a backend struct over `$db`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;

            use $crate::store::{Backend, Store, StoreResult};

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> Backend {
                    Self::BACKEND
                }

                async fn migrate(&self) -> StoreResult<()> {
                    self.migrator().run(&self.pool).await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn ready(&self) -> StoreResult<bool> {
                    let applied: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(applied == Some($crate::store::migrations::latest_version()))
                }

                fn pool_stats(&self) -> (u32, u32) {
                    (self.pool.size(), self.pool.num_idle() as u32)
                }
            }
        };

        $crate::store::sql::users::impl_user_store!($store, $db);
        $crate::store::sql::technicians::impl_technician_store!($store, $db);
        $crate::store::sql::customers::impl_customer_store!($store, $db);
        $crate::store::sql::tickets::impl_ticket_store!($store, $db);
        $crate::store::sql::audit::impl_audit_store!($store, $db);
        $crate::store::sql::idempotency::impl_idempotency_store!($store, $db);
        $crate::store::sql::locations::impl_location_store!($store, $db);
        $crate::store::sql::assignment::impl_assignment_store!($store, $db);
        $crate::store::sql::offers::impl_offer_store!($store, $db);
        $crate::store::sql::push::impl_push_store!($store, $db);
        $crate::store::sql::territories::impl_territory_store!($store, $db);
        $crate::store::sql::sla::impl_sla_store!($store, $db);
        $crate::store::sql::sla_timers::impl_sla_timer_store!($store, $db);
        $crate::store::sql::sla_report::impl_sla_report_store!($store, $db);
        $crate::store::sql::webhooks::impl_webhook_store!($store, $db);
        $crate::store::sql::documents::impl_document_store!($store, $db);
        $crate::store::sql::media::impl_media_store!($store, $db);
        $crate::store::sql::intake::impl_intake_store!($store, $db);
        $crate::store::sql::notify::impl_notify_store!($store, $db);
        $crate::store::sql::console::impl_console_store!($store, $db);
        $crate::store::sql::report::impl_report_store!($store, $db);
        $crate::store::sql::lifecycle::impl_lifecycle_store!($store, $db);
        $crate::store::sql::search::impl_search_store!($store, $db);
        $crate::store::sql::progress::impl_progress_store!($store, $db);
        $crate::store::sql::schedule::impl_schedule_store!($store, $db);
        $crate::store::sql::maintenance::impl_maintenance_store!($store, $db);
        $crate::store::sql::automation::impl_automation_store!($store, $db);
        $crate::store::sql::knowledge::impl_knowledge_store!($store, $db);
        $crate::store::sql::parts::impl_part_store!($store, $db);
        $crate::store::sql::approvals::impl_approval_store!($store, $db);
        $crate::store::sql::macros::impl_macro_store!($store, $db);
        $crate::store::sql::watch::impl_watch_store!($store, $db);
        $crate::store::sql::retention::impl_retention_store!($store, $db);
        $crate::store::sql::privacy::impl_privacy_store!($store, $db);
    };
}

pub(super) use impl_store;
