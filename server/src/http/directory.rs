//! Customers, their sites and assets, and ticket categories.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
};
use crate::domain::{
    customers::{
        Asset, AssetPatch, Customer, CustomerPatch, NewAsset, NewCustomer, NewSite, Site, SitePatch,
    },
    permissions::Action,
    ticket::{Category, NewCategory},
};
use crate::store::customers::TicketReference;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site))
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, update_asset))
        .routes(routes!(list_categories, create_category))
}

#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Customer>), (status = 403, body = Problem)))]
async fn list_customers(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Customer>>> {
    user.require(Action::CustomersRead)?;
    Ok(Json(
        state
            .store
            .list_customers(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = NewCustomer, security(("bearer" = [])),
    responses((status = 201, body = Customer), (status = 422, body = Problem)))]
async fn create_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewCustomer>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    user.require(Action::CustomersWrite)?;
    new.validate()?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_customer(user.actor(), &new).await?),
    ))
}

#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 404, body = Problem)))]
async fn get_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Customer>> {
    may_read(
        &state,
        &user,
        Action::CustomersRead,
        TicketReference::Customer(id),
    )
    .await?;
    Ok(Json(state.store.get_customer(user.tenant_id, id).await?))
}

/// Staff with the read permission see every record; a technician only the
/// site, customer and asset of a ticket assigned to them (their job packet's
/// sources). Anything else stays refused with 403.
async fn may_read(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    reference: TicketReference,
) -> ApiResult<()> {
    if user.can(action) {
        return Ok(());
    }
    if !user.can(Action::TicketsReadAssigned) {
        return Err(ApiError::Forbidden);
    }
    let Some(technician) = state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
    else {
        return Err(ApiError::Forbidden);
    };
    if state
        .store
        .assigned_ticket_references(user.tenant_id, technician.id, reference)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Change a customer's name, tier, email, phone or contact person (`null`
/// clears an optional field). Reaches technicians' phones with the next sync
/// (job packet).
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", request_body = CustomerPatch, security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<CustomerPatch>,
) -> ApiResult<Json<Customer>> {
    user.require(Action::CustomersWrite)?;
    let before = state.store.get_customer(user.tenant_id, id).await?;
    let after = patch.apply(&before)?;
    if after == before {
        return Ok(Json(before));
    }
    Ok(Json(
        state
            .store
            .update_customer(user.actor(), &before, &after)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/sites", tag = "customers", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Site>), (status = 403, body = Problem)))]
async fn list_sites(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Site>>> {
    user.require(Action::SitesRead)?;
    Ok(Json(
        state
            .store
            .list_sites(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/v1/sites", tag = "customers", request_body = NewSite, security(("bearer" = [])),
    responses((status = 201, body = Site), (status = 422, body = Problem)))]
async fn create_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewSite>,
) -> ApiResult<(StatusCode, Json<Site>)> {
    user.require(Action::SitesWrite)?;
    new.validate()?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_site(user.actor(), &new).await?),
    ))
}

#[utoipa::path(get, path = "/v1/sites/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Site), (status = 404, body = Problem)))]
async fn get_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Site>> {
    may_read(&state, &user, Action::SitesRead, TicketReference::Site(id)).await?;
    Ok(Json(state.store.get_site(user.tenant_id, id).await?))
}

/// Change a site's name, address, access notes or opening hours. Reaches
/// technicians' phones with the next sync (job packet).
#[utoipa::path(patch, path = "/v1/sites/{id}", tag = "customers", request_body = SitePatch, security(("bearer" = [])),
    responses((status = 200, body = Site), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<SitePatch>,
) -> ApiResult<Json<Site>> {
    user.require(Action::SitesWrite)?;
    let before = state.store.get_site(user.tenant_id, id).await?;
    let after = patch.apply(&before)?;
    if after == before {
        return Ok(Json(before));
    }
    Ok(Json(
        state
            .store
            .update_site(user.actor(), &before, &after)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/assets", tag = "customers", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Asset>), (status = 403, body = Problem)))]
async fn list_assets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Asset>>> {
    user.require(Action::AssetsRead)?;
    Ok(Json(
        state
            .store
            .list_assets(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/v1/assets", tag = "customers", request_body = NewAsset, security(("bearer" = [])),
    responses((status = 201, body = Asset), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewAsset>,
) -> ApiResult<(StatusCode, Json<Asset>)> {
    user.require(Action::AssetsWrite)?;
    new.validate()?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_asset(user.actor(), &new).await?),
    ))
}

#[utoipa::path(get, path = "/v1/assets/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Asset), (status = 404, body = Problem)))]
async fn get_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Asset>> {
    may_read(
        &state,
        &user,
        Action::AssetsRead,
        TicketReference::Asset(id),
    )
    .await?;
    Ok(Json(state.store.get_asset(user.tenant_id, id).await?))
}

/// Change an asset's model, warranty end or installation date (`null`
/// clears a date).
#[utoipa::path(patch, path = "/v1/assets/{id}", tag = "customers", request_body = AssetPatch, security(("bearer" = [])),
    responses((status = 200, body = Asset), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<AssetPatch>,
) -> ApiResult<Json<Asset>> {
    user.require(Action::AssetsWrite)?;
    let before = state.store.get_asset(user.tenant_id, id).await?;
    let after = patch.apply(&before)?;
    if after == before {
        return Ok(Json(before));
    }
    Ok(Json(
        state
            .store
            .update_asset(user.actor(), &before, &after)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/categories", tag = "tickets", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Category>), (status = 403, body = Problem)))]
async fn list_categories(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Category>>> {
    user.require(Action::CategoriesRead)?;
    Ok(Json(
        state
            .store
            .list_categories(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

/// A category with the JSON Schema its tickets' `custom_fields` must satisfy.
#[utoipa::path(post, path = "/v1/categories", tag = "tickets", request_body = NewCategory, security(("bearer" = [])),
    responses((status = 201, body = Category), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewCategory>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    user.require(Action::CategoriesWrite)?;
    new.validate()?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_category(user.actor(), &new).await?),
    ))
}
