//! Tickets: create, list with filters, read, change (including status steps
//! through the shared state machine), and comments.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use truckroll_sync::{ActionOrigin, Position, Status, StatusAction};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, PageBody, Pagination},
    ticket_view::{TicketView, view, views},
};
use crate::{
    device_sync::{ATTEMPTS, Draft, Step, lost_race},
    domain::{
        ValidationErrors,
        checkin::CheckIn,
        custom_fields,
        permissions::Action,
        ticket::{Comment, NewComment, NewTicket, Priority, Ticket, TicketPatch},
    },
    sla::{
        triage::{self, SlaFilter, TriageError, TriageOrder},
        view::TicketSla,
    },
    store::{PageRequest, StoreError, TicketFilter, documents::FieldColumns, tickets::TicketOrder},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket, update_ticket))
        .routes(routes!(list_comments, add_comment))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    #[param(value_type = Option<String>, example = "assigned")]
    pub status: Option<Status>,
    pub assignee_id: Option<Uuid>,
    #[param(value_type = Option<String>, example = "P1")]
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub site_id: Option<Uuid>,
    /// Tickets whose site lies in this territory.
    pub territory_id: Option<Uuid>,
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Work completed at or after (RFC 3339).
    pub completed_from: Option<DateTime<Utc>>,
    /// Work completed before (RFC 3339).
    pub completed_to: Option<DateTime<Utc>>,
    /// Tickets at a site of this customer.
    pub customer_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    /// Words found through the search index (number, title, description,
    /// comments, customer, site, asset serial); case and accents ignored,
    /// each word a prefix.
    pub q: Option<String>,
    /// `created` (default, oldest first), `-created` (newest first),
    /// `priority` (P1 first, oldest first within one), `urgency` (open
    /// tickets, nearest running SLA deadline first) or `relevance` (best
    /// match of `q` first; one page, no cursor).
    #[param(value_type = Option<String>, example = "-created")]
    pub sort: Option<TicketSort>,
    /// `at_risk` (a running SLA target past a warning threshold or its
    /// deadline) or `breached` (past its deadline); open tickets only.
    #[param(value_type = Option<String>, example = "at_risk")]
    pub sla: Option<SlaFilter>,
}

/// The order of `GET /v1/tickets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TicketSort {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "-created")]
    CreatedDesc,
    #[serde(rename = "relevance")]
    Relevance,
    #[serde(rename = "priority")]
    Priority,
    #[serde(rename = "urgency")]
    Urgency,
}

/// Tickets in creation order (or as `sort` says). Technicians see only their own.
#[utoipa::path(get, path = "/v1/tickets", tag = "tickets", params(TicketQuery), security(("bearer" = [])),
    responses((status = 200, body = PageBody<TicketView>), (status = 400, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn list_tickets(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TicketQuery>,
) -> ApiResult<Json<PageBody<TicketView>>> {
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .request()?;
    let mut filter = TicketFilter {
        status: query.status,
        assignee_id: query.assignee_id,
        priority: query.priority,
        category: query.category,
        site_id: query.site_id,
        territory_id: query.territory_id,
        tag: query.tag,
        created_from: query.created_from,
        created_to: query.created_to,
        completed_from: query.completed_from,
        completed_to: query.completed_to,
        text: None,
        customer_id: query.customer_id,
        asset_id: query.asset_id,
        search: query.q.filter(|q| !q.trim().is_empty()),
        order: match query.sort {
            None | Some(TicketSort::Created) => TicketOrder::Created,
            Some(TicketSort::CreatedDesc) => TicketOrder::CreatedDesc,
            Some(TicketSort::Relevance) => TicketOrder::Relevance,
            Some(TicketSort::Priority) => TicketOrder::Priority,
            Some(TicketSort::Urgency) => TicketOrder::CreatedDesc,
        },
        open_only: false,
    };
    if filter.order == TicketOrder::Relevance && page.after.is_some() {
        return Err(ValidationErrors::single(
            "cursor",
            "a list sorted by relevance is one page; ask for a larger limit instead",
        )
        .into());
    }
    if !user.can(Action::TicketsReadAll) {
        user.require(Action::TicketsReadAssigned)?;
        let own = own_technician_id(&state, &user).await?;
        match own {
            Some(own) if filter.assignee_id.is_none_or(|asked| asked == own) => {
                filter.assignee_id = Some(own)
            }
            _ => {
                return Ok(Json(PageBody {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
        }
    }
    let urgency = query.sort == Some(TicketSort::Urgency);
    if urgency || query.sla.is_some() {
        let order = if urgency {
            TriageOrder::Urgency
        } else {
            TriageOrder::Stored
        };
        let page = triage::open_tickets(
            state.store.as_ref(),
            user.tenant_id,
            &filter,
            query.sla,
            order,
            page,
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            TriageError::Store(e) => ApiError::from(e),
            TriageError::TooMany => ValidationErrors::single("sla", e.to_string()).into(),
        })?;
        let body: PageBody<(Ticket, Option<TicketSla>)> = page.into();
        return Ok(Json(PageBody {
            items: body
                .items
                .into_iter()
                .map(|(ticket, sla)| TicketView { ticket, sla })
                .collect(),
            next_cursor: body.next_cursor,
        }));
    }
    let page = state
        .store
        .list_tickets(user.tenant_id, &filter, page)
        .await?;
    let body: PageBody<Ticket> = page.into();
    Ok(Json(PageBody {
        items: views(&state, user.tenant_id, body.items).await?,
        next_cursor: body.next_cursor,
    }))
}

async fn own_technician_id(state: &AppState, user: &AuthUser) -> ApiResult<Option<Uuid>> {
    Ok(state
        .store
        .technician_for_user(user.tenant_id, user.user_id)
        .await?
        .map(|t| t.id))
}

/// The ticket, if this user may see it; others' tickets answer 404, as if absent.
pub(super) async fn visible_ticket(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> ApiResult<Ticket> {
    if !user.can(Action::TicketsReadAll) {
        user.require(Action::TicketsReadAssigned)?;
    }
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    if user.can(Action::TicketsReadAll) {
        return Ok(ticket);
    }
    let own = own_technician_id(state, user).await?;
    if own.is_some() && ticket.assignee_id == own {
        Ok(ticket)
    } else {
        Err(ApiError::NotFound("ticket"))
    }
}

async fn check_custom_fields(
    state: &AppState,
    tenant_id: Uuid,
    category: &str,
    fields: &serde_json::Value,
) -> ApiResult<()> {
    if let Some(category) = state.store.category_by_name(tenant_id, category).await? {
        custom_fields::validate(&category.custom_fields_schema, fields)?;
    }
    Ok(())
}

async fn check_asset_on_site(
    state: &AppState,
    tenant_id: Uuid,
    asset_id: Option<Uuid>,
    site_id: Uuid,
) -> ApiResult<()> {
    if let Some(asset_id) = asset_id {
        let asset = state
            .store
            .get_asset(tenant_id, asset_id)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound(_) => {
                    ApiError::Validation(ValidationErrors::single("asset_id", "no such asset"))
                }
                other => other.into(),
            })?;
        if asset.site_id != site_id {
            return Err(ValidationErrors::single(
                "asset_id",
                "the asset is not at the ticket's site",
            )
            .into());
        }
    }
    Ok(())
}

/// Open a ticket. Its custom fields must satisfy the category's schema when the category defines one.
#[utoipa::path(post, path = "/v1/tickets", tag = "tickets", request_body = NewTicket, security(("bearer" = [])),
    responses((status = 201, body = TicketView), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTicket>,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    user.require(Action::TicketsCreate)?;
    new.validate()?;
    check_custom_fields(&state, user.tenant_id, &new.category, &new.custom_fields).await?;
    check_asset_on_site(&state, user.tenant_id, new.asset_id, new.site_id).await?;
    let created = state.store.create_ticket(user.actor(), &new).await?;
    if let Some(event) = crate::events::Event::for_ticket(None, &created) {
        state.events.publish(event);
    }
    // Rules first, so auto-dispatch sees the priority and fields they set.
    let created =
        super::automation::after_write(&state, created, crate::automation::Trigger::created())
            .await;
    // Auto-dispatch is best effort: the ticket exists either way and a
    // dispatcher sees it unassigned if no offer could be made.
    if let Err(error) = state
        .offer_flow()
        .offer_next(&created, chrono::Utc::now())
        .await
    {
        tracing::warn!(%error, ticket = %created.id, "auto-dispatch failed");
    }
    Ok((
        StatusCode::CREATED,
        Json(view(&state, user.tenant_id, created).await?),
    ))
}

/// One ticket as `GET /v1/tickets/{id}` returns it: the ticket, its SLA
/// state and what the field work recorded so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub view: TicketView,
    pub field: FieldProgress,
}

/// The ticket document folded into columns by the sync projection: event
/// times are the phone's (bounded when implausible), not the sync time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProgress {
    /// The latest applied `accept`.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The first applied `check_in`.
    pub arrived_at: Option<DateTime<Utc>>,
    /// The latest applied `complete_work` (cleared by `rework`).
    pub completed_at: Option<DateTime<Utc>>,
    pub photo_count: i64,
    pub part_count: i64,
    /// When a phone's change was last merged; `null` before any.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<FieldColumns> for FieldProgress {
    fn from(c: FieldColumns) -> Self {
        Self {
            accepted_at: c.accepted_at,
            arrived_at: c.arrived_at,
            completed_at: c.completed_at,
            photo_count: c.field_photo_count.unwrap_or(0),
            part_count: c.field_part_count.unwrap_or(0),
            updated_at: c.field_updated_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem)))]
async fn get_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TicketDetail>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    let field = state.store.field_columns(user.tenant_id, id).await?.into();
    Ok(Json(TicketDetail {
        view: view(&state, user.tenant_id, ticket).await?,
        field,
    }))
}

/// Change header fields, assign (`assignee_id`), or take a status step
/// (`status`, with `hold_reason` for `on_hold`). Technicians may only take
/// field steps on their own tickets. A check-in (`on_site` from `en_route`)
/// may carry the phone's `position`; it is recorded in `check_in` as
/// verified or not, never refused. Every status step is written as an event
/// into the ticket's synced document with the change, and the answer's
/// status is that document's fold, so the technician's phone continues
/// from it; `custom_fields` are written into the document too (scalar
/// values; `sync/PROTOCOL.md` 1.3).
#[utoipa::path(patch, path = "/v1/tickets/{id}", tag = "tickets", request_body = TicketPatch, security(("bearer" = [])),
    responses((status = 200, body = TicketView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn update_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<TicketPatch>,
) -> ApiResult<Json<TicketView>> {
    let mut before = visible_ticket(&state, &user, id).await?;
    // Refuse roles that may not change tickets before judging the patch.
    let manages = user.can(Action::TicketsManage);
    if !manages {
        user.require(Action::TicketsWorkAssigned)?;
    }
    patch.validate()?;
    super::dispatch::refuse_stale(&before, patch.version)?;
    if let Some(fields) = &patch.custom_fields {
        check_custom_fields(&state, user.tenant_id, &before.category, fields).await?;
    }
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            before = state.store.get_ticket(user.tenant_id, id).await?;
        }
        // The status is the fold of the ticket's document: the patch is
        // judged against it and becomes events in it.
        let mut draft = Draft::load(state.store.as_ref(), &before).await?;
        let current = draft.current(&before);
        let change = patch.status_change(&current, !manages)?;
        if change.is_some_and(|c| c.action == StatusAction::Close) {
            super::ticket_family::refuse_close_with_open_children(&state, &current).await?;
        }
        let checks_in = change.is_some_and(|c| c.action == StatusAction::CheckIn);
        if patch.position.is_some() && !checks_in {
            return Err(ValidationErrors::single(
                "position",
                "is only accepted with a check-in (status on_site from en_route)",
            )
            .into());
        }
        if !manages {
            let field_step = change.is_some_and(|c| c.action.origin() == ActionOrigin::Field);
            if patch.edits_header() || patch.assignee_id.is_some() || !field_step {
                return Err(ApiError::Forbidden);
            }
        }

        if let Some(change) = change
            && matches!(change.action, StatusAction::Assign | StatusAction::Reassign)
        {
            if patch.edits_header() {
                return Err(ValidationErrors::single(
                    "assignee_id",
                    "assign in a request of its own",
                )
                .into());
            }
            let technician = patch
                .assignee_id
                .flatten()
                .ok_or_else(|| ValidationErrors::single("assignee_id", "required to assign"))?;
            let assigned =
                super::dispatch::assign_to(&state, &user, &current, technician, "assignee_id")
                    .await?;
            return Ok(Json(view(&state, user.tenant_id, assigned).await?));
        }

        let mut after = current.clone();
        if let Some(title) = &patch.title {
            after.title = title.clone();
        }
        if let Some(description) = &patch.description {
            after.description = description.clone();
        }
        if let Some(priority) = patch.priority {
            after.priority = priority;
        }
        if let Some(skills) = &patch.required_skills {
            after.required_skills = skills.clone();
        }
        if let Some(asset_id) = patch.asset_id {
            check_asset_on_site(&state, user.tenant_id, asset_id, after.site_id).await?;
            after.asset_id = asset_id;
        }
        if let Some(tags) = &patch.tags {
            after.tags = tags.clone();
        }
        if let Some(fields) = &patch.custom_fields {
            after.custom_fields = fields.clone();
            draft.set_custom_fields(fields)?;
        }
        if let Some(change) = change {
            let position = patch
                .position
                .as_ref()
                .filter(|_| checks_in)
                .map(|p| Position {
                    lat: p.lat,
                    lon: p.lon,
                    accuracy_m: Some(p.accuracy_m),
                });
            draft
                .step(Step {
                    action: change.action,
                    hold_reason: change.hold_reason,
                    assignee: None,
                    position,
                })
                .map_err(|e| ValidationErrors::single("status", e.to_string()))?;
            draft.project(&mut after);
        }
        if checks_in {
            // Never refused: a position far away (or none) is recorded as such.
            let site = state.store.get_site(user.tenant_id, before.site_id).await?;
            after.check_in = Some(CheckIn::evaluate(
                site.location,
                patch.position.as_ref(),
                state.config.dispatch.checkin_radius_m,
                Utc::now(),
            ));
        }
        if after == before && !draft.changed() {
            return Ok(Json(view(&state, user.tenant_id, before).await?));
        }
        match state
            .store
            .update_ticket(user.actor(), &before, &after, draft.change().as_ref())
            .await
        {
            Ok(updated) => {
                state.assignments().after_change(&before, &updated).await?;
                let trigger = crate::automation::Trigger::updated(&before, &updated);
                let updated = super::automation::after_write(&state, updated, trigger).await;
                return Ok(Json(view(&state, user.tenant_id, updated).await?));
            }
            Err(StoreError::Conflict(why)) => {
                // A client that named the version it read is not re-planned on a newer one.
                if patch.version.is_some() {
                    let now = state.store.get_ticket(user.tenant_id, id).await?;
                    super::dispatch::refuse_stale(&now, patch.version)?;
                }
                if attempt == ATTEMPTS || !lost_race(state.store.as_ref(), &before, &draft).await? {
                    return Err(ApiError::Conflict(why));
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict("the ticket kept changing; retry".into()))
}

#[utoipa::path(get, path = "/v1/tickets/{id}/comments", tag = "tickets", params(Pagination), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Comment>), (status = 404, body = Problem)))]
async fn list_comments(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Pagination>,
) -> ApiResult<Json<PageBody<Comment>>> {
    let page: PageRequest = page.request()?;
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(
        state
            .store
            .list_comments(user.tenant_id, ticket.id, page)
            .await?
            .into(),
    ))
}

/// Add a comment: `internal` (staff only) or `public` (may be shown to the customer).
#[utoipa::path(post, path = "/v1/tickets/{id}/comments", tag = "tickets", request_body = NewComment, security(("bearer" = [])),
    responses((status = 201, body = Comment), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn add_comment(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(comment): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    user.require(Action::CommentsWrite)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    comment.validate()?;
    let created = state
        .store
        .add_comment(user.actor(), ticket.id, &comment)
        .await?;
    super::watchers::after_comment(&state, &user, &ticket, &created).await;
    super::automation::after_comment(&state, ticket, &created.body, created.visibility).await;
    Ok((StatusCode::CREATED, Json(created)))
}
