//! Masking settings, legal holds and erasure of a customer (issue 19).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::{
    customers::{Customer, Site},
    privacy::{MaskedField, PrivacySettings, Redactor},
};

/// A ticket at one of the customer's sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedTicket {
    pub id: Uuid,
    pub number: String,
    /// Open: not closed and not cancelled.
    pub open: bool,
    pub legal_hold: bool,
}

/// A photo or signature of one of those tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedMedia {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub kind: String,
    pub sha256: String,
    pub has_thumbnail: bool,
    /// The name written on a signature; `None` for a photo.
    pub signer_name: Option<String>,
}

/// Everything erasure touches, read before it plans.
#[derive(Debug, Clone)]
pub struct ErasureScope {
    pub customer: Customer,
    pub legal_hold: bool,
    pub sites: Vec<Site>,
    pub tickets: Vec<ScopedTicket>,
    pub media: Vec<ScopedMedia>,
    /// Names written on the tickets' signatures.
    pub signer_names: Vec<String>,
    /// The service reports' ids and blob keys.
    pub reports: Vec<(Uuid, String)>,
}

/// What is erased: the whole customer, or only its contact person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureSubject {
    Customer,
    /// `contact_person` cleared and its name redacted; the customer, its
    /// sites and everything that does not quote the name stay.
    ContactPerson,
}

/// What the erasure service decided; written in one transaction.
#[derive(Debug)]
pub struct ErasurePlan {
    pub subject: ErasureSubject,
    pub customer_id: Uuid,
    pub site_ids: Vec<Uuid>,
    pub ticket_ids: Vec<Uuid>,
    pub redactor: Redactor,
    /// Squashed, redacted documents that replace the tickets' documents.
    pub documents: Vec<(Uuid, Vec<u8>)>,
    /// Media rows to delete (with their signature rows).
    pub media_ids: Vec<Uuid>,
    pub report_ids: Vec<Uuid>,
}

/// What an erasure changed, as its audit entry records it (no values).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ErasureOutcome {
    /// The audit entry (`customer.erase` or `customer.contact_erase`) that
    /// records the erasure.
    pub audit_seq: i64,
    pub sites: usize,
    pub tickets: usize,
    pub documents_squashed: usize,
    pub media_deleted: usize,
    pub reports_deleted: usize,
    /// Rows of other tables whose text was cleared or redacted.
    pub rows_redacted: u64,
    pub audit_entries_redacted: usize,
    pub idempotency_keys_deleted: u64,
}

#[async_trait]
pub trait PrivacyStore {
    /// The tenant's settings, or the defaults.
    async fn privacy_settings(&self, tenant_id: Uuid) -> StoreResult<PrivacySettings>;
    async fn put_privacy_settings(
        &self,
        actor: Actor,
        settings: &PrivacySettings,
    ) -> StoreResult<PrivacySettings>;
    /// Sets or lifts a customer's legal hold (audited).
    async fn set_customer_legal_hold(
        &self,
        actor: Actor,
        customer_id: Uuid,
        hold: bool,
    ) -> StoreResult<()>;
    /// Sets or lifts a ticket's legal hold (audited).
    async fn set_ticket_legal_hold(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        hold: bool,
    ) -> StoreResult<()>;
    async fn customer_legal_hold(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<bool>;
    async fn ticket_legal_hold(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<bool>;
    /// Records that `actor` revealed `field` of a customer or site (the
    /// value itself is not recorded).
    async fn record_reveal(
        &self,
        actor: Actor,
        entity_type: &str,
        entity_id: Uuid,
        field: MaskedField,
    ) -> StoreResult<()>;
    async fn erasure_scope(&self, tenant_id: Uuid, customer_id: Uuid) -> StoreResult<ErasureScope>;
    /// Writes the plan (a customer's or only its contact person's, as
    /// `plan.subject` says): personal fields replaced, text redacted, documents
    /// replaced, media rows and reports deleted, search entries rewritten,
    /// audit payloads redacted and the erasure recorded, in one transaction.
    async fn erase_customer(&self, actor: Actor, plan: &ErasurePlan)
    -> StoreResult<ErasureOutcome>;
}
