//! Service reports: each generated PDF version of a ticket's report (kept
//! in the blob store, named here with its hash and verification code), the
//! report job's checkpoints, and a tenant's logo and font.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult};

/// The audit action of an issued report (the timeline lists it).
pub const AUDIT_ACTION: &str = "report.generate";

/// One issued version of a ticket's service report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct ServiceReport {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    /// 1 for the first report of a ticket, then counting up.
    pub version: i64,
    /// The short code printed on the PDF, for `GET /v1/reports/verify/{code}`.
    pub code: String,
    /// SHA-256 (hex) of the PDF as issued.
    pub sha256: String,
    #[serde(skip)]
    pub blob_key: String,
    pub size: i64,
    /// The ticket document's version the report was made from.
    pub doc_version: i64,
    /// SHA-256 of everything the report shows: equal inputs make no new version.
    #[serde(skip)]
    pub input_sha256: String,
    /// `work_done` (made by the report job) or `on_demand`.
    pub trigger: String,
    /// The user who asked for it; absent when the report job made it.
    pub generated_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A report to record; the store numbers the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceReport {
    pub ticket_id: Uuid,
    /// The version it must get (the latest + 1 as read); `Conflict` when
    /// another writer issued that version first.
    pub version: i64,
    pub code: String,
    pub sha256: String,
    pub blob_key: String,
    pub size: i64,
    pub doc_version: i64,
    pub input_sha256: String,
    pub trigger: String,
}

/// A done ticket whose document moved past the report job's checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportCandidate {
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub doc_version: i64,
}

/// A tenant's logo and font for its reports, as blob keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportSettings {
    pub logo_key: Option<String>,
    pub logo_content_type: Option<String>,
    pub logo_sha256: Option<String>,
    pub font_key: Option<String>,
    pub font_sha256: Option<String>,
    /// The face in a font collection (`.ttc`).
    pub font_index: i64,
}

#[async_trait]
pub trait ReportStore {
    /// Records an issued report with its audit entry (`report.generate`,
    /// naming `actor`'s user, absent for the report job) and moves the
    /// job's checkpoint, in one transaction.
    async fn insert_report(
        &self,
        actor: Actor,
        report: &NewServiceReport,
    ) -> StoreResult<ServiceReport>;
    /// The ticket's reports, oldest first.
    async fn list_reports(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<ServiceReport>>;
    /// The report issued under `code`, in any tenant (the public check).
    async fn report_by_code(&self, code: &str) -> StoreResult<Option<ServiceReport>>;
    /// Done tickets (work done or closed) whose document moved past the
    /// job's checkpoint, oldest change first.
    async fn report_candidates(&self, limit: u32) -> StoreResult<Vec<ReportCandidate>>;
    /// Moves the job's checkpoint of a ticket (never backwards).
    async fn mark_report_checked(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        doc_version: i64,
    ) -> StoreResult<()>;
    async fn report_settings(&self, tenant_id: Uuid) -> StoreResult<ReportSettings>;
    /// Replaces the tenant's settings, with an audit entry.
    async fn set_report_settings(&self, actor: Actor, settings: &ReportSettings)
    -> StoreResult<()>;
    /// The tenant's name, printed on its reports.
    async fn report_tenant_name(&self, tenant_id: Uuid) -> StoreResult<String>;
}
