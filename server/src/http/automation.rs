//! Automation over HTTP: teams and their queues (`/v1/teams`), which team
//! owns a ticket (`/v1/tickets/{id}/team`), trigger rules (`/v1/rules`, the
//! published schema, the dry run) and the signed-in user's notifications
//! (`/v1/me/notifications`); and the hook the ticket handlers call after a
//! write so the rules run on it.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser},
    ticket_view::{TicketView, views},
    tickets::visible_ticket,
};
use crate::{
    automation::{Automation, AutomationError, DryRun, Trigger, parse_definition, rule_schema},
    domain::{
        ValidationErrors,
        automation::{
            OwnerChoice, Rule, RuleDefinition, RuleInput, Team, TeamAssignment, TeamChange,
            TeamInput, TeamPatch, TicketTeam, TriggerEvent,
        },
        permissions::Action,
        ticket::{Ticket, Visibility},
        validation::check_text,
    },
    store::automation::{RuleSave, StaffNotification},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(team_queue))
        .routes(routes!(get_ticket_team, set_ticket_team))
        .routes(routes!(rules_schema))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(dry_run))
        .routes(routes!(list_notifications))
        .routes(routes!(read_notification))
}

pub(super) fn automation(state: &AppState) -> Automation<'_> {
    Automation {
        store: state.store.as_ref(),
        assignments: state.assignments(),
        rules: &state.rules,
    }
}

impl From<AutomationError> for ApiError {
    fn from(error: AutomationError) -> Self {
        match error {
            AutomationError::Store(e) => e.into(),
            AutomationError::Busy => ApiError::Conflict(error.to_string()),
            AutomationError::Dispatch(_) => ApiError::Internal(error.to_string()),
        }
    }
}

/// Runs the tenant's rules on a committed write. Best effort: the write
/// stands either way; a failure is logged and the ticket answered as written.
pub(super) async fn after_write(state: &AppState, ticket: Ticket, trigger: Trigger) -> Ticket {
    let id = ticket.id;
    match automation(state).run(ticket.clone(), &trigger).await {
        Ok(after) => after,
        Err(error) => {
            tracing::warn!(%error, ticket = %id, "trigger rules failed");
            ticket
        }
    }
}

/// After a comment: the rules see it; the ticket itself is not answered.
pub(super) async fn after_comment(
    state: &AppState,
    ticket: Ticket,
    body: &str,
    visibility: Visibility,
) {
    after_write(state, ticket, Trigger::comment(body, visibility)).await;
}

// ---------------------------------------------------------------------------
// Teams

#[utoipa::path(get, path = "/v1/teams", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Vec<Team>)))]
async fn list_teams(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<Vec<Team>>> {
    user.require(Action::TicketsReadAll)?;
    Ok(Json(state.store.list_teams(user.tenant_id).await?))
}

/// A team of staff users (not technicians) with its assignment policy.
#[utoipa::path(post, path = "/v1/teams", tag = "automation", request_body = TeamInput, security(("bearer" = [])),
    responses((status = 201, body = Team), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TeamInput>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    user.require(Action::TeamsManage)?;
    input.validate()?;
    let team = state.store.create_team(user.actor(), &input).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

#[utoipa::path(get, path = "/v1/teams/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
async fn get_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Team>> {
    user.require(Action::TicketsReadAll)?;
    Ok(Json(state.store.get_team(user.tenant_id, id).await?))
}

/// Rename, change the assignment policy, or replace the members.
#[utoipa::path(patch, path = "/v1/teams/{id}", tag = "automation", request_body = TeamPatch, security(("bearer" = [])),
    responses((status = 200, body = Team), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<TeamPatch>,
) -> ApiResult<Json<Team>> {
    user.require(Action::TeamsManage)?;
    patch.validate()?;
    Ok(Json(
        state.store.update_team(user.actor(), id, &patch).await?,
    ))
}

/// Refused while the team owns tickets.
#[utoipa::path(delete, path = "/v1/teams/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::TeamsManage)?;
    state.store.delete_team(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// Closed and cancelled tickets too; default only open ones.
    pub all: Option<bool>,
    /// 1 to 500; default 200.
    pub limit: Option<u32>,
}

/// A ticket in a team's queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub ticket: TicketView,
    /// The team member who owns it; `null`: nobody yet.
    pub owner_id: Option<Uuid>,
}

/// The team's open tickets, oldest first, with their owners.
#[utoipa::path(get, path = "/v1/teams/{id}/queue", tag = "automation", params(QueueQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<QueueEntry>), (status = 404, body = Problem)))]
async fn team_queue(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<QueueQuery>,
) -> ApiResult<Json<Vec<QueueEntry>>> {
    user.require(Action::TicketsReadAll)?;
    let limit = query.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be between 1 and 500").into());
    }
    state.store.get_team(user.tenant_id, id).await?;
    let items = state
        .store
        .team_queue(user.tenant_id, id, query.all.unwrap_or(false), limit)
        .await?;
    let owners: Vec<Option<Uuid>> = items.iter().map(|i| i.owner_id).collect();
    let tickets = views(
        &state,
        user.tenant_id,
        items.into_iter().map(|i| i.ticket).collect(),
    )
    .await?;
    Ok(Json(
        tickets
            .into_iter()
            .zip(owners)
            .map(|(ticket, owner_id)| QueueEntry { ticket, owner_id })
            .collect(),
    ))
}

/// Which team owns the ticket; `null` when none does.
#[utoipa::path(get, path = "/v1/tickets/{id}/team", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Option<TicketTeam>), (status = 404, body = Problem)))]
async fn get_ticket_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Option<TicketTeam>>> {
    let ticket = visible_ticket(&state, &user, id).await?;
    Ok(Json(
        state.store.ticket_team(user.tenant_id, ticket.id).await?,
    ))
}

/// How the owner within the team is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnerPick {
    /// The team's own policy (default).
    Team,
    Nobody,
    RoundRobin,
    LeastLoaded,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTeamInput {
    /// The team; `null` takes the ticket out of every team.
    pub team_id: Option<Uuid>,
    /// A member to own it; overrides `pick`.
    pub owner_id: Option<Uuid>,
    pub pick: Option<OwnerPick>,
    /// Why it moves (shown in the timeline).
    pub reason: String,
}

/// Transfer the ticket to a team (and an owner in it) with a reason; the
/// transfer is in the ticket's timeline.
#[utoipa::path(put, path = "/v1/tickets/{id}/team", tag = "automation", request_body = TicketTeamInput, security(("bearer" = [])),
    responses((status = 200, body = Option<TicketTeam>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn set_ticket_team(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<TicketTeamInput>,
) -> ApiResult<Json<Option<TicketTeam>>> {
    user.require(Action::TicketTeamSet)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "reason", &input.reason, 500);
    if input.team_id.is_none() && (input.owner_id.is_some() || input.pick.is_some()) {
        errors.add("owner_id", "an owner needs a team");
    }
    errors.into_result()?;
    let owner = match (input.owner_id, input.pick) {
        (Some(owner), _) => OwnerChoice::Member(owner),
        (None, None | Some(OwnerPick::Team)) => OwnerChoice::TeamDefault,
        (None, Some(OwnerPick::Nobody)) => OwnerChoice::Nobody,
        (None, Some(OwnerPick::RoundRobin)) => OwnerChoice::Pick(TeamAssignment::RoundRobin),
        (None, Some(OwnerPick::LeastLoaded)) => OwnerChoice::Pick(TeamAssignment::LeastLoaded),
    };
    let change = TeamChange {
        team_id: input.team_id,
        owner,
        reason: input.reason.trim().to_owned(),
    };
    Ok(Json(
        state
            .store
            .set_ticket_team(user.actor(), ticket.id, &change)
            .await?,
    ))
}

// ---------------------------------------------------------------------------
// Rules

/// The JSON Schema every rule's `definition` must satisfy.
#[utoipa::path(get, path = "/v1/rules/schema", tag = "automation",
    responses((status = 200, body = Object)))]
async fn rules_schema() -> Json<&'static Value> {
    Json(rule_schema())
}

/// The tenant's rules in evaluation order.
#[utoipa::path(get, path = "/v1/rules", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Vec<Rule>)))]
async fn list_rules(user: AuthUser, State(state): State<AppState>) -> ApiResult<Json<Vec<Rule>>> {
    user.require(Action::RulesManage)?;
    Ok(Json(state.store.list_rules(user.tenant_id).await?))
}

async fn checked(state: &AppState, user: &AuthUser, input: &RuleInput) -> ApiResult<RuleSave> {
    let mut errors = ValidationErrors::new();
    check_text(&mut errors, "name", &input.name, 120);
    errors.into_result()?;
    let definition: RuleDefinition = parse_definition(&input.definition)?;
    automation(state)
        .check_references(user.tenant_id, &definition)
        .await?;
    Ok(RuleSave {
        name: input.name.clone(),
        position: input.position,
        active: input.active,
        definition,
    })
}

/// Save a rule; its `definition` is checked against `GET /v1/rules/schema`
/// and the teams and users it names must exist. Without `position` it
/// runs after every other rule.
#[utoipa::path(post, path = "/v1/rules", tag = "automation", request_body = RuleInput, security(("bearer" = [])),
    responses((status = 201, body = Rule), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_rule(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    user.require(Action::RulesManage)?;
    let save = checked(&state, &user, &input).await?;
    let rule = state.store.create_rule(user.actor(), &save).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(get, path = "/v1/rules/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = Rule), (status = 404, body = Problem)))]
async fn get_rule(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Rule>> {
    user.require(Action::RulesManage)?;
    Ok(Json(state.store.get_rule(user.tenant_id, id).await?))
}

/// Replace a rule (name, position, active, definition).
#[utoipa::path(put, path = "/v1/rules/{id}", tag = "automation", request_body = RuleInput, security(("bearer" = [])),
    responses((status = 200, body = Rule), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_rule(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult<Json<Rule>> {
    user.require(Action::RulesManage)?;
    let save = checked(&state, &user, &input).await?;
    Ok(Json(
        state.store.update_rule(user.actor(), id, &save).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/rules/{id}", tag = "automation", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_rule(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::RulesManage)?;
    state.store.delete_rule(user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunInput {
    pub ticket_id: Uuid,
    /// The write to imagine; default `ticket_updated`.
    #[serde(default)]
    pub events: Vec<TriggerEvent>,
    /// The comment to imagine with `comment_added`.
    pub comment: Option<String>,
    /// An unsaved definition (the editor's): run it alone instead of the
    /// tenant's saved rules.
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
}

/// Which rules would fire on this ticket, and what they would change.
/// Writes nothing.
#[utoipa::path(post, path = "/v1/rules/dry-run", tag = "automation", request_body = DryRunInput, security(("bearer" = [])),
    responses((status = 200, body = DryRun), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn dry_run(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<DryRunInput>,
) -> ApiResult<Json<DryRun>> {
    user.require(Action::RulesManage)?;
    let ticket = visible_ticket(&state, &user, input.ticket_id).await?;
    let events = if input.events.is_empty() {
        vec![TriggerEvent::TicketUpdated]
    } else {
        input.events.clone()
    };
    let trigger = Trigger {
        events,
        comment: input
            .comment
            .as_deref()
            .map(|body| crate::domain::automation::CommentFacts {
                body: body.to_owned(),
                visibility: Visibility::Internal.as_str().to_owned(),
            }),
    };
    let engine = automation(&state);
    let run = match &input.definition {
        Some(definition) => {
            let definition = parse_definition(definition)?;
            engine.check_references(user.tenant_id, &definition).await?;
            let draft = Rule {
                id: Uuid::nil(),
                name: "draft".into(),
                position: 0,
                active: true,
                definition,
                updated_by: user.user_id,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            };
            engine.dry_run_with(&[draft], &ticket, &trigger).await?
        }
        None => engine.dry_run(&ticket, &trigger).await?,
    };
    Ok(Json(run))
}

// ---------------------------------------------------------------------------
// Notifications

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Only unread ones.
    pub unread: Option<bool>,
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
}

/// The signed-in user's notifications, newest first.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "automation", params(NotificationQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<StaffNotification>)))]
async fn list_notifications(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> ApiResult<Json<Vec<StaffNotification>>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ValidationErrors::single("limit", "must be between 1 and 200").into());
    }
    Ok(Json(
        state
            .store
            .list_notifications(
                user.tenant_id,
                user.user_id,
                query.unread.unwrap_or(false),
                limit,
            )
            .await?,
    ))
}

/// Mark one of one's own notifications read.
#[utoipa::path(post, path = "/v1/me/notifications/{id}/read", tag = "automation", security(("bearer" = [])),
    responses((status = 200, body = StaffNotification), (status = 404, body = Problem)))]
async fn read_notification(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StaffNotification>> {
    Ok(Json(
        state
            .store
            .mark_notification_read(user.tenant_id, user.user_id, id)
            .await?,
    ))
}
