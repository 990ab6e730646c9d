//! Technicians: skills, shifts, home base, capacity and status.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::events::{Event, EventKind};

use super::{
    AppState,
    error::{ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
};
use crate::domain::{
    people::{NewTechnician, Technician, TechnicianPatch},
    permissions::Action,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_technicians, create_technician))
        .routes(routes!(get_technician, update_technician))
}

#[utoipa::path(get, path = "/v1/technicians", tag = "people", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Technician>), (status = 403, body = Problem)))]
async fn list_technicians(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Technician>>> {
    user.require(Action::TechniciansRead)?;
    Ok(Json(
        state
            .store
            .list_technicians(user.tenant_id, page.request()?)
            .await?
            .into(),
    ))
}

/// Create the technician profile of a user whose role is `technician`.
#[utoipa::path(post, path = "/v1/technicians", tag = "people", request_body = NewTechnician, security(("bearer" = [])),
    responses((status = 201, body = Technician), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTechnician>,
) -> ApiResult<(StatusCode, Json<Technician>)> {
    user.require(Action::TechniciansWrite)?;
    new.validate()?;
    let created = state.store.create_technician(user.actor(), &new).await?;
    let event = Event::new(
        created.tenant_id,
        EventKind::TechnicianChanged {
            technician_id: created.id,
            status: created.status,
        },
    );
    state.dispatch.apply(state.store.as_ref(), &event).await?;
    state.events.publish(event);
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/v1/technicians/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Technician), (status = 404, body = Problem)))]
async fn get_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Technician>> {
    user.require(Action::TechniciansRead)?;
    Ok(Json(state.store.get_technician(user.tenant_id, id).await?))
}

#[utoipa::path(patch, path = "/v1/technicians/{id}", tag = "people", request_body = TechnicianPatch, security(("bearer" = [])),
    responses((status = 200, body = Technician), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn update_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<TechnicianPatch>,
) -> ApiResult<Json<Technician>> {
    user.require(Action::TechniciansWrite)?;
    patch.validate()?;
    let before = state.store.get_technician(user.tenant_id, id).await?;
    let mut after = before.clone();
    patch.apply(&mut after);
    let updated = state
        .store
        .update_technician(user.actor(), &before, &after)
        .await?;
    let event = Event::new(
        updated.tenant_id,
        EventKind::TechnicianChanged {
            technician_id: updated.id,
            status: updated.status,
        },
    );
    state.dispatch.apply(state.store.as_ref(), &event).await?;
    state.events.publish(event);
    Ok(Json(updated))
}
