//! The search index: one entry per ticket, customer, site and asset,
//! written by the store in the transaction of every write that changes what
//! a record is found by (`sql/search.rs` holds those helpers), and read here.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::search::{SearchHit, SearchKind};

/// A search as the store runs it: folded terms, each matched as a prefix,
/// all required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Folded words (`domain::search::query_terms`); never empty.
    pub terms: Vec<String>,
    /// Only this kind; every kind when `None`.
    pub kind: Option<SearchKind>,
    /// Only tickets assigned to this technician (a technician's own search).
    pub assignee_id: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait SearchStore {
    /// The best `limit` entries of the tenant matching every term, best first.
    async fn search(&self, tenant_id: Uuid, query: &SearchQuery) -> StoreResult<Vec<SearchHit>>;
}
