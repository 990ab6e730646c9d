//! The one search service: full text over tickets (number, title,
//! description, comments, customer, site, asset serial), customers, sites
//! and assets, ranked, prefix-matched, accent- and case-folded, on both
//! database backends.
//!
//! The store keeps the index current inside each write's transaction
//! (`store/sql/search.rs`); this service turns a person's query into folded
//! terms (`domain::search`), scopes it to what the searcher may see and
//! asks the store. `GET /v1/tickets?q=` uses the same index through the
//! ticket filter. A new kind (knowledge-base articles) joins by adding a
//! `SearchKind`, an entry builder in `domain::search` and the writes that
//! keep its entries current.

use uuid::Uuid;

use crate::domain::search::{SearchHit, SearchKind, query_terms};
use crate::store::{Store, StoreError, search::SearchQuery};

/// What a searcher may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// Every entry of the tenant (office roles).
    Tenant,
    /// Only tickets assigned to this technician.
    AssignedTo(Uuid),
    /// Nothing (a technician without a profile).
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub text: String,
    pub kind: Option<SearchKind>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The best `request.limit` hits of the tenant within `scope`, best first.
pub async fn search(
    store: &dyn Store,
    tenant_id: Uuid,
    scope: SearchScope,
    request: &SearchRequest,
) -> Result<Vec<SearchHit>, SearchError> {
    let terms = query_terms(&request.text);
    let (kind, assignee_id) = match scope {
        SearchScope::Nothing => return Ok(Vec::new()),
        SearchScope::Tenant => (request.kind, None),
        SearchScope::AssignedTo(technician) => match request.kind {
            None | Some(SearchKind::Ticket) => (Some(SearchKind::Ticket), Some(technician)),
            // Articles are the technicians' reference too.
            Some(SearchKind::Article) => (Some(SearchKind::Article), None),
            Some(_) => return Ok(Vec::new()),
        },
    };
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let query = SearchQuery {
        terms,
        kind,
        assignee_id,
        limit: request.limit,
    };
    Ok(store.search(tenant_id, &query).await?)
}
