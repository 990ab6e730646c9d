//! The customer's progress page and satisfaction survey: one-time codes
//! asked for by ticket number, what the page may show of a ticket, and the
//! survey answers with their report.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::{geo::GeoPoint, ticket::Ticket};

/// What a code check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right (and is now used up).
    Accepted,
    /// No such code, expired, or wrong (one more failed attempt counted).
    Wrong,
    /// Too many wrong codes: nothing is checked until the lock ends.
    Locked,
}

/// A code to keep for `(tenant, number)`.
#[derive(Debug, Clone)]
pub struct NewProgressCode<'a> {
    pub tenant_id: Uuid,
    pub ticket_number: &'a str,
    pub code_hash: &'a str,
    pub expires_at: DateTime<Utc>,
    /// The ticket and the plain code to send its customer; absent for a
    /// number that does not exist (the row is kept all the same).
    pub send_to: Option<(Uuid, &'a str)>,
}

/// The rules of a code check.
#[derive(Debug, Clone, Copy)]
pub struct CodePolicy {
    pub max_attempts: u32,
    pub lock_for: chrono::Duration,
}

/// What the progress page is built from.
#[derive(Debug, Clone)]
pub struct ProgressFacts {
    pub ticket: Ticket,
    pub customer_id: Uuid,
    pub site: GeoPoint,
    pub technician_name: Option<String>,
}

/// A survey answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CsatAnswer {
    pub ticket_id: Uuid,
    /// 1 (poor) to 5 (excellent).
    pub score: u8,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatGroupBy {
    Category,
    Technician,
    Territory,
}

/// The answers of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CsatGroup {
    /// The category, technician name or territory name (`null`: none).
    pub group: Option<String>,
    pub responses: u64,
    pub average_score: f64,
    /// Answers scoring 4 or 5.
    pub satisfied: u64,
}

#[async_trait]
pub trait ProgressStore {
    /// Keeps a new code for `(tenant, number)` and, with `send_to`, queues
    /// it to the customer in the same transaction. `false` (nothing kept or
    /// sent) while the number is locked.
    async fn store_progress_code(
        &self,
        code: &NewProgressCode<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn check_progress_code(
        &self,
        tenant_id: Uuid,
        ticket_number: &str,
        code_hash: &str,
        now: DateTime<Utc>,
        policy: CodePolicy,
    ) -> StoreResult<CodeCheck>;
    async fn progress_facts(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<ProgressFacts>;
    /// `Conflict` when the ticket already has an answer.
    async fn record_csat(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        score: u8,
        comment: &str,
    ) -> StoreResult<CsatAnswer>;
    async fn csat_answer(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<CsatAnswer>>;
    /// Answers given in `[from, to)`, grouped.
    async fn csat_report(
        &self,
        tenant_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group_by: CsatGroupBy,
    ) -> StoreResult<Vec<CsatGroup>>;
}
