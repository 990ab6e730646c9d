//! `GET /v1/search`: the search service over tickets, customers, sites and assets.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiQuery, AuthUser},
};
use crate::{
    domain::{
        ValidationErrors,
        permissions::Action,
        search::{SearchHit, SearchKind},
    },
    search::{SearchError, SearchRequest, SearchScope, search},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_all))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to find; each matches as a prefix, all must match.
    pub q: String,
    /// `ticket`, `customer`, `site`, `asset` or `article`; every kind when absent.
    #[param(value_type = Option<String>, example = "ticket")]
    pub kind: Option<SearchKind>,
    /// 1 to 100; default 20.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Store(error) => error.into(),
        }
    }
}

/// Full-text search, best match first: tickets by number, title,
/// description, comments, customer, site and asset serial; customers,
/// sites and assets by their names, addresses and serials. Case and
/// accents are ignored, words match as prefixes, Chinese text by any word
/// of it. A technician finds only tickets assigned to them.
#[utoipa::path(get, path = "/v1/search", tag = "tickets", params(SearchParams), security(("bearer" = [])),
    responses((status = 200, body = SearchResults), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn search_all(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let limit = params.limit.unwrap_or(20);
    let mut errors = ValidationErrors::new();
    if !(1..=100).contains(&limit) {
        errors.add("limit", "must be between 1 and 100");
    }
    if params.q.chars().count() > 200 {
        errors.add("q", "must be at most 200 characters");
    }
    errors.into_result()?;
    let scope = if user.can(Action::TicketsReadAll) {
        SearchScope::Tenant
    } else {
        user.require(Action::TicketsReadAssigned)?;
        match state
            .store
            .technician_for_user(user.tenant_id, user.user_id)
            .await?
        {
            Some(technician) => SearchScope::AssignedTo(technician.id),
            None => SearchScope::Nothing,
        }
    };
    let request = SearchRequest {
        text: params.q,
        kind: params.kind,
        limit,
    };
    let results = search(state.store.as_ref(), user.tenant_id, scope, &request).await?;
    let results = super::privacy::mask_hits(&state, &user, results).await?;
    Ok(Json(SearchResults { results }))
}
