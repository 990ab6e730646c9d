//! Customers, their sites and assets, and ticket categories.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
    privacy::visibility,
    ticket_view::{TicketView, views},
};
use crate::domain::{
    customers::{
        Asset, AssetPatch, Customer, CustomerPatch, NewAsset, NewCustomer, NewSite, Site, SitePatch,
    },
    lifecycle::{ArchivedFilter, MasterKind},
    permissions::Action,
    ticket::{Category, CategoryPatch, NewCategory, Ticket},
};
use crate::store::{PageRequest, TicketFilter, customers::TicketReference, tickets::TicketOrder};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(archive_customer))
        .routes(routes!(restore_customer))
        .routes(routes!(customer_tickets))
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site, delete_site))
        .routes(routes!(archive_site))
        .routes(routes!(restore_site))
        .routes(routes!(site_tickets))
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, update_asset, delete_asset))
        .routes(routes!(archive_asset))
        .routes(routes!(restore_asset))
        .routes(routes!(asset_tickets))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
        .routes(routes!(archive_category))
        .routes(routes!(restore_category))
}

#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Customer>), (status = 403, body = Problem)))]
async fn list_customers(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Customer>>> {
    user.require(Action::CustomersRead)?;
    let (archived, page) = query.parts()?;
    let mut page = state
        .store
        .list_customers_where(user.tenant_id, archived, page)
        .await?;
    let seen = visibility(&state, &user).await?;
    page.items = page.items.into_iter().map(|c| seen.customer(c)).collect();
    Ok(Json(page.into()))
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
    let created = state.store.create_customer(user.actor(), &new).await?;
    let seen = visibility(&state, &user).await?;
    Ok((StatusCode::CREATED, Json(seen.customer(created))))
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
    let customer = state.store.get_customer(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.customer(customer)))
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
    let seen = visibility(&state, &user).await?;
    if after == before {
        return Ok(Json(seen.customer(before)));
    }
    let updated = state
        .store
        .update_customer(user.actor(), &before, &after)
        .await?;
    Ok(Json(seen.customer(updated)))
}

#[utoipa::path(get, path = "/v1/sites", tag = "customers", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Site>), (status = 403, body = Problem)))]
async fn list_sites(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Site>>> {
    user.require(Action::SitesRead)?;
    let (archived, page) = query.parts()?;
    let mut page = state
        .store
        .list_sites_where(user.tenant_id, archived, page)
        .await?;
    let seen = visibility(&state, &user).await?;
    page.items = page.items.into_iter().map(|s| seen.site(s)).collect();
    Ok(Json(page.into()))
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
    let created = state.store.create_site(user.actor(), &new).await?;
    let seen = visibility(&state, &user).await?;
    Ok((StatusCode::CREATED, Json(seen.site(created))))
}

#[utoipa::path(get, path = "/v1/sites/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Site), (status = 404, body = Problem)))]
async fn get_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Site>> {
    may_read(&state, &user, Action::SitesRead, TicketReference::Site(id)).await?;
    let site = state.store.get_site(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.site(site)))
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
    let seen = visibility(&state, &user).await?;
    if after == before {
        return Ok(Json(seen.site(before)));
    }
    let updated = state
        .store
        .update_site(user.actor(), &before, &after)
        .await?;
    Ok(Json(seen.site(updated)))
}

#[utoipa::path(get, path = "/v1/assets", tag = "customers", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Asset>), (status = 403, body = Problem)))]
async fn list_assets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Asset>>> {
    user.require(Action::AssetsRead)?;
    let (archived, page) = query.parts()?;
    Ok(Json(
        state
            .store
            .list_assets_where(user.tenant_id, archived, page)
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

#[utoipa::path(get, path = "/v1/categories", tag = "tickets", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Category>), (status = 403, body = Problem)))]
async fn list_categories(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Category>>> {
    user.require(Action::CategoriesRead)?;
    let (archived, page) = query.parts()?;
    Ok(Json(
        state
            .store
            .list_categories_where(user.tenant_id, archived, page)
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

// ---------------------------------------------------------------------------
// Lifecycle: lists by archived state, archive, restore, delete, histories

/// A page of a master-data list, active records by default.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ArchivedPage {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// `false` (default): active only; `true`: archived only; `all`.
    #[param(value_type = Option<String>, example = "false")]
    pub archived: Option<ArchivedFilter>,
}

impl ArchivedPage {
    pub(super) fn parts(&self) -> ApiResult<(ArchivedFilter, PageRequest)> {
        let page = Pagination {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .request()?;
        Ok((self.archived.unwrap_or_default(), page))
    }
}

/// A page of tickets of one customer, site or asset, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Archives `id` of `kind` (the write permission `action` required).
pub(super) async fn archive_record(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    kind: MasterKind,
    id: Uuid,
) -> ApiResult<()> {
    user.require(action)?;
    state.store.archive(user.actor(), kind, id).await?;
    Ok(())
}

pub(super) async fn restore_record(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    kind: MasterKind,
    id: Uuid,
) -> ApiResult<()> {
    user.require(action)?;
    state.store.restore(user.actor(), kind, id).await?;
    Ok(())
}

pub(super) async fn delete_record(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    kind: MasterKind,
    id: Uuid,
) -> ApiResult<StatusCode> {
    user.require(action)?;
    state.store.delete_master(user.actor(), kind, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every ticket `filter` selects, newest first, as `GET /v1/tickets` shows them.
async fn ticket_history(
    state: &AppState,
    user: &AuthUser,
    mut filter: TicketFilter,
    query: HistoryPage,
) -> ApiResult<Json<PageBody<TicketView>>> {
    user.require(Action::TicketsReadAll)?;
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    filter.order = TicketOrder::CreatedDesc;
    let body: PageBody<Ticket> = state
        .store
        .list_tickets(user.tenant_id, &filter, page)
        .await?
        .into();
    Ok(Json(PageBody {
        items: views(state, user.tenant_id, body.items).await?,
        next_cursor: body.next_cursor,
    }))
}

/// Archive the customer: hidden from lists and from new tickets, restorable.
/// Refused (409 `in_use`) while open tickets refer to it.
#[utoipa::path(post, path = "/v1/customers/{id}/archive", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(customer = %id))]
async fn archive_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Customer>> {
    archive_record(
        &state,
        &user,
        Action::CustomersWrite,
        MasterKind::Customer,
        id,
    )
    .await?;
    let customer = state.store.get_customer(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.customer(customer)))
}

/// Restore an archived customer.
#[utoipa::path(post, path = "/v1/customers/{id}/restore", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(customer = %id))]
async fn restore_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Customer>> {
    restore_record(
        &state,
        &user,
        Action::CustomersWrite,
        MasterKind::Customer,
        id,
    )
    .await?;
    let customer = state.store.get_customer(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.customer(customer)))
}

/// Delete the customer for good; refused (409 `in_use`) while anything refers to it.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(customer = %id))]
async fn delete_customer(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_record(
        &state,
        &user,
        Action::CustomersWrite,
        MasterKind::Customer,
        id,
    )
    .await
}

/// Archive the site: hidden from lists and from new tickets, restorable.
/// Refused (409 `in_use`) while open tickets refer to it.
#[utoipa::path(post, path = "/v1/sites/{id}/archive", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Site), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(site = %id))]
async fn archive_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Site>> {
    archive_record(&state, &user, Action::SitesWrite, MasterKind::Site, id).await?;
    let site = state.store.get_site(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.site(site)))
}

/// Restore an archived site.
#[utoipa::path(post, path = "/v1/sites/{id}/restore", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Site), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(site = %id))]
async fn restore_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Site>> {
    restore_record(&state, &user, Action::SitesWrite, MasterKind::Site, id).await?;
    let site = state.store.get_site(user.tenant_id, id).await?;
    Ok(Json(visibility(&state, &user).await?.site(site)))
}

/// Delete the site for good; refused (409 `in_use`) while anything refers to it.
#[utoipa::path(delete, path = "/v1/sites/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(site = %id))]
async fn delete_site(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_record(&state, &user, Action::SitesWrite, MasterKind::Site, id).await
}

/// Archive the asset: hidden from lists and from new tickets, restorable.
/// Refused (409 `in_use`) while open tickets refer to it.
#[utoipa::path(post, path = "/v1/assets/{id}/archive", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Asset), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(asset = %id))]
async fn archive_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Asset>> {
    archive_record(&state, &user, Action::AssetsWrite, MasterKind::Asset, id).await?;
    Ok(Json(state.store.get_asset(user.tenant_id, id).await?))
}

/// Restore an archived asset.
#[utoipa::path(post, path = "/v1/assets/{id}/restore", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Asset), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(asset = %id))]
async fn restore_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Asset>> {
    restore_record(&state, &user, Action::AssetsWrite, MasterKind::Asset, id).await?;
    Ok(Json(state.store.get_asset(user.tenant_id, id).await?))
}

/// Delete the asset for good; refused (409 `in_use`) while anything refers to it.
#[utoipa::path(delete, path = "/v1/assets/{id}", tag = "customers", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(asset = %id))]
async fn delete_asset(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_record(&state, &user, Action::AssetsWrite, MasterKind::Asset, id).await
}

/// Archive the category: hidden from lists and from new tickets, restorable.
/// Refused (409 `in_use`) while open tickets refer to it.
#[utoipa::path(post, path = "/v1/categories/{id}/archive", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(category = %id))]
async fn archive_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Category>> {
    archive_record(
        &state,
        &user,
        Action::CategoriesWrite,
        MasterKind::Category,
        id,
    )
    .await?;
    Ok(Json(state.store.get_category(user.tenant_id, id).await?))
}

/// Restore an archived category.
#[utoipa::path(post, path = "/v1/categories/{id}/restore", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(category = %id))]
async fn restore_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Category>> {
    restore_record(
        &state,
        &user,
        Action::CategoriesWrite,
        MasterKind::Category,
        id,
    )
    .await?;
    Ok(Json(state.store.get_category(user.tenant_id, id).await?))
}

/// Delete the category for good; refused (409 `in_use`) while anything refers to it.
#[utoipa::path(delete, path = "/v1/categories/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(category = %id))]
async fn delete_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    delete_record(
        &state,
        &user,
        Action::CategoriesWrite,
        MasterKind::Category,
        id,
    )
    .await
}

/// Every ticket of the customer, in every status, newest first.
#[utoipa::path(get, path = "/v1/customers/{id}/tickets", tag = "customers", params(HistoryPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<TicketView>), (status = 403, body = Problem)))]
async fn customer_tickets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryPage>,
) -> ApiResult<Json<PageBody<TicketView>>> {
    let filter = TicketFilter {
        customer_id: Some(id),
        ..TicketFilter::default()
    };
    ticket_history(&state, &user, filter, query).await
}

/// Every ticket of the site, in every status, newest first.
#[utoipa::path(get, path = "/v1/sites/{id}/tickets", tag = "customers", params(HistoryPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<TicketView>), (status = 403, body = Problem)))]
async fn site_tickets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryPage>,
) -> ApiResult<Json<PageBody<TicketView>>> {
    let filter = TicketFilter {
        site_id: Some(id),
        ..TicketFilter::default()
    };
    ticket_history(&state, &user, filter, query).await
}

/// Every ticket of the asset, in every status, newest first.
#[utoipa::path(get, path = "/v1/assets/{id}/tickets", tag = "customers", params(HistoryPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<TicketView>), (status = 403, body = Problem)))]
async fn asset_tickets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryPage>,
) -> ApiResult<Json<PageBody<TicketView>>> {
    let filter = TicketFilter {
        asset_id: Some(id),
        ..TicketFilter::default()
    };
    ticket_history(&state, &user, filter, query).await
}

#[utoipa::path(get, path = "/v1/categories/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Category>> {
    user.require(Action::CategoriesRead)?;
    Ok(Json(state.store.get_category(user.tenant_id, id).await?))
}

/// Change a category's name, description or custom-field schema. A name
/// that tickets or SLA policies use stays (409 `in_use`): they refer to it
/// by name. A new schema applies to custom-field writes from then on.
#[utoipa::path(patch, path = "/v1/categories/{id}", tag = "tickets", request_body = CategoryPatch, security(("bearer" = [])),
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(category = %id))]
async fn update_category(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<CategoryPatch>,
) -> ApiResult<Json<Category>> {
    user.require(Action::CategoriesWrite)?;
    let before = state.store.get_category(user.tenant_id, id).await?;
    let after = patch.apply(&before)?;
    if after == before {
        return Ok(Json(before));
    }
    Ok(Json(
        state
            .store
            .update_category(user.actor(), &before, &after)
            .await?,
    ))
}
