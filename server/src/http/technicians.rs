//! Technicians: skills, shifts, home base, capacity and status.

use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::events::{Event, EventKind};
use crate::store::StoreError;

use super::{
    AppState,
    directory::{ArchivedPage, archive_record, delete_record, restore_record},
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody},
};
use crate::domain::{
    lifecycle::MasterKind,
    people::{AvailabilityInput, AvailabilityView, NewTechnician, Technician, TechnicianPatch},
    permissions::Action,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_technicians, create_technician))
        .routes(routes!(
            get_technician,
            update_technician,
            delete_technician
        ))
        .routes(routes!(archive_technician))
        .routes(routes!(technician_devices))
        .routes(routes!(restore_technician))
        .routes(routes!(my_availability, set_my_availability))
}

#[utoipa::path(get, path = "/v1/technicians", tag = "people", params(ArchivedPage), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Technician>), (status = 403, body = Problem)))]
async fn list_technicians(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArchivedPage>,
) -> ApiResult<Json<PageBody<Technician>>> {
    user.require(Action::TechniciansRead)?;
    let (archived, page) = query.parts()?;
    Ok(Json(
        state
            .store
            .list_technicians_where(user.tenant_id, archived, page)
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

/// A phone or tablet the technician signed in on, as the office sees it:
/// whether it can receive push (the token itself stays private) and how many
/// ticket documents it keeps in sync.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TechnicianDevice {
    pub id: Uuid,
    pub platform: crate::domain::people::Platform,
    pub registered_at: chrono::DateTime<chrono::Utc>,
    pub push_enabled: bool,
    pub documents: i64,
}

/// The technician's devices (office roles), oldest first.
#[utoipa::path(get, path = "/v1/technicians/{id}/devices", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Vec<TechnicianDevice>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn technician_devices(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<TechnicianDevice>>> {
    user.require(Action::UsersRead)?;
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    let devices = state
        .store
        .user_devices(user.tenant_id, technician.user_id)
        .await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|(device, documents)| TechnicianDevice {
                id: device.id,
                platform: device.platform,
                registered_at: device.created_at,
                push_enabled: device.push_token.is_some(),
                documents,
            })
            .collect(),
    ))
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

async fn own_profile(state: &AppState, user: &AuthUser) -> ApiResult<Technician> {
    user.require(Action::OwnAvailabilitySet)?;
    state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
        .ok_or_else(|| ApiError::Conflict("your user has no technician profile".into()))
}

fn availability_view(technician: &Technician) -> AvailabilityView {
    AvailabilityView {
        technician_id: technician.id,
        status: technician.status,
        updated_at: technician.updated_at,
    }
}

/// The signed-in technician's availability, as dispatch sees it.
#[utoipa::path(get, path = "/v1/me/availability", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = AvailabilityView), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn my_availability(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Json<AvailabilityView>> {
    Ok(Json(availability_view(&own_profile(&state, &user).await?)))
}

/// The technician sets their own availability from the phone: `available`,
/// `on_break` or `off_duty`. Dispatch (candidates, offers, the live map)
/// takes it from the next query on; only `available` is offered work.
#[utoipa::path(put, path = "/v1/me/availability", tag = "people", request_body = AvailabilityInput, security(("bearer" = [])),
    responses((status = 200, body = AvailabilityView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn set_my_availability(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AvailabilityInput>,
) -> ApiResult<Json<AvailabilityView>> {
    let status = input.status.into();
    // The profile is written with optimistic concurrency; an office edit in
    // between is read again rather than refused, since only the status
    // changes here.
    let mut attempts = 0;
    let updated = loop {
        let before = own_profile(&state, &user).await?;
        if before.status == status {
            return Ok(Json(availability_view(&before)));
        }
        let mut after = before.clone();
        after.status = status;
        match state
            .store
            .update_technician(user.actor(), &before, &after)
            .await
        {
            Ok(updated) => break updated,
            Err(StoreError::Conflict(_)) if attempts < 3 => attempts += 1,
            Err(other) => return Err(other.into()),
        }
    };
    let event = Event::new(
        updated.tenant_id,
        EventKind::TechnicianChanged {
            technician_id: updated.id,
            status: updated.status,
        },
    );
    state.dispatch.apply(state.store.as_ref(), &event).await?;
    state.events.publish(event);
    Ok(Json(availability_view(&updated)))
}

/// Tells dispatch (this replica's index and the others through the bus)
/// that the technician changed: archived ones leave the candidates.
async fn technician_changed(state: &AppState, technician: &Technician) -> ApiResult<()> {
    let event = Event::new(
        technician.tenant_id,
        EventKind::TechnicianChanged {
            technician_id: technician.id,
            status: technician.status,
        },
    );
    state.dispatch.apply(state.store.as_ref(), &event).await?;
    state.events.publish(event);
    Ok(())
}

/// Archive the technician: no longer a dispatch candidate, hidden from
/// lists, restorable. Refused (409 `in_use`) while open tickets are assigned to them.
#[utoipa::path(post, path = "/v1/technicians/{id}/archive", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Technician), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(technician = %id))]
async fn archive_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Technician>> {
    archive_record(
        &state,
        &user,
        Action::TechniciansWrite,
        MasterKind::Technician,
        id,
    )
    .await?;
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    technician_changed(&state, &technician).await?;
    Ok(Json(technician))
}

/// Restore an archived technician; dispatch offers them work again.
#[utoipa::path(post, path = "/v1/technicians/{id}/restore", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Technician), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(technician = %id))]
async fn restore_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Technician>> {
    restore_record(
        &state,
        &user,
        Action::TechniciansWrite,
        MasterKind::Technician,
        id,
    )
    .await?;
    let technician = state.store.get_technician(user.tenant_id, id).await?;
    technician_changed(&state, &technician).await?;
    Ok(Json(technician))
}

/// Delete a technician profile for good: only one that was never assigned,
/// offered work or tracked (409 `in_use` otherwise; archive it instead).
#[utoipa::path(delete, path = "/v1/technicians/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all, fields(technician = %id))]
async fn delete_technician(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let status = delete_record(
        &state,
        &user,
        Action::TechniciansWrite,
        MasterKind::Technician,
        id,
    )
    .await?;
    state.dispatch.index().remove(id);
    Ok(status)
}
