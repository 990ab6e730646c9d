//! Territories: GeoJSON areas that sites resolve to and dispatch filters by.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    directory::{ArchivedPage, archive_record, restore_record},
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody},
};
use crate::{
    dispatch::service::RankedCandidate,
    domain::{
        lifecycle::MasterKind,
        permissions::Action,
        territory::{NewTerritory, Territory, TerritoryPatch},
        ticket::Ticket,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_territories, create_territory))
        .routes(routes!(get_territory, update_territory, delete_territory))
        .routes(routes!(archive_territory))
        .routes(routes!(restore_territory))
}

/// Territories in creation order, with their boundaries.
#[utoipa::path(get, path = "/v1/territories", tag = "dispatch", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Territory>), (status = 403, body = Problem)))]
async fn list_territories(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Territory>>> {
    user.require(Action::TerritoriesRead)?;
    let (archived, page) = query.parts()?;
    Ok(Json(
        state
            .store
            .list_territories_where(user.tenant_id, archived, page)
            .await?
            .into(),
    ))
}

/// A territory from a GeoJSON Polygon or MultiPolygon (`[lon, lat]`
/// positions, closed rings). Sites it covers move into it unless an older
/// territory covers them already.
#[utoipa::path(post, path = "/v1/territories", tag = "dispatch", request_body = NewTerritory, security(("bearer" = [])),
    responses((status = 201, body = Territory), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTerritory>,
) -> ApiResult<(StatusCode, Json<Territory>)> {
    user.require(Action::TerritoriesWrite)?;
    let (name, boundary) = new.validate()?;
    let created = state
        .store
        .create_territory(user.actor(), &name, &boundary)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/territories/{id}", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Territory), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Territory>> {
    user.require(Action::TerritoriesRead)?;
    Ok(Json(state.store.get_territory(user.tenant_id, id).await?))
}

/// Rename and/or reshape; a new boundary re-resolves the sites it affects.
#[utoipa::path(patch, path = "/v1/territories/{id}", tag = "dispatch", request_body = TerritoryPatch, security(("bearer" = [])),
    responses((status = 200, body = Territory), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(territory = %id))]
async fn update_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<TerritoryPatch>,
) -> ApiResult<Json<Territory>> {
    user.require(Action::TerritoriesWrite)?;
    let change = patch.validate()?;
    Ok(Json(
        state
            .store
            .update_territory(user.actor(), id, &change)
            .await?,
    ))
}

/// Delete a territory; its sites move to the next territory covering them, or to none.
#[utoipa::path(delete, path = "/v1/territories/{id}", tag = "dispatch", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(territory = %id))]
async fn delete_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::TerritoriesWrite)?;
    state.store.delete_territory(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archive the territory: hidden from lists, restorable; its sites keep
/// it. Refused (409 `in_use`) while open tickets are at its sites.
#[utoipa::path(post, path = "/v1/territories/{id}/archive", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Territory), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(territory = %id))]
async fn archive_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Territory>> {
    archive_record(
        &state,
        &user,
        Action::TerritoriesWrite,
        MasterKind::Territory,
        id,
    )
    .await?;
    Ok(Json(state.store.get_territory(user.tenant_id, id).await?))
}

/// Restore an archived territory.
#[utoipa::path(post, path = "/v1/territories/{id}/restore", tag = "dispatch", security(("bearer" = [])),
    responses((status = 200, body = Territory), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(territory = %id))]
async fn restore_territory(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Territory>> {
    restore_record(
        &state,
        &user,
        Action::TerritoriesWrite,
        MasterKind::Territory,
        id,
    )
    .await?;
    Ok(Json(state.store.get_territory(user.tenant_id, id).await?))
}

/// The `k` best candidates for `ticket`, only technicians inside the
/// territory of the ticket's site when the site has one.
pub(super) async fn ranked_candidates(
    state: &AppState,
    ticket: &Ticket,
    k: usize,
) -> ApiResult<Vec<RankedCandidate>> {
    let site = state
        .store
        .get_site(ticket.tenant_id, ticket.site_id)
        .await?;
    let territory = match site.territory_id {
        Some(id) => state.store.territory_boundary(ticket.tenant_id, id).await?,
        None => None,
    };
    let now = chrono::Utc::now();
    let away = crate::dispatch::calendar::Away::at(&*state.store, ticket.tenant_id, now).await?;
    crate::dispatch::parts::ranked(
        &state.dispatch,
        state.store.as_ref(),
        ticket,
        site.location,
        territory.as_deref(),
        k + away.extra(),
        now,
    )
    .await
    .map(|ranked| away.keep(ranked, k))
    .map_err(|e| match e {
        crate::dispatch::parts::PartsRankError::Store(store) => store.into(),
        other => ApiError::Internal(other.to_string()),
    })
}
