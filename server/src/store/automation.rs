//! Automation's records: teams and their members, which team owns a ticket,
//! the tenant's trigger rules, a rule chain's firings with their side
//! effects (one transaction), and staff notifications.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, StoreResult, documents::DocumentChange};
use crate::domain::{
    automation::{Rule, RuleDefinition, Team, TeamChange, TeamInput, TeamPatch, TicketTeam},
    people::{Role, User},
    ticket::{NewComment, Ticket},
};

/// A rule as it is saved: the definition already parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSave {
    pub name: String,
    /// `None`: after the last rule (on create) or unchanged (on update).
    pub position: Option<i64>,
    pub active: bool,
    pub definition: RuleDefinition,
}

/// A ticket in a team's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub ticket: Ticket,
    pub owner_id: Option<Uuid>,
}

/// One notification for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub title: String,
    pub body: String,
    /// Also an email to the user's address through the notification
    /// outbox (`notify_messages`, event `staff_alert`).
    pub email: bool,
}

/// A staff member's notification, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StaffNotification {
    pub id: Uuid,
    pub ticket_id: Option<Uuid>,
    /// What sent it: `rule`.
    pub source: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// One firing as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiringEntry {
    pub rule_id: Uuid,
    pub rule_name: String,
    pub event: String,
    pub pass: u32,
    pub changes: Vec<String>,
    /// The chain was cut at its bound after this pass.
    pub cut: bool,
}

/// What a chain leaves besides the ticket's own fields: written together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainEffects {
    pub firings: Vec<FiringEntry>,
    /// The last team a rule set, with its reason.
    pub team: Option<TeamChange>,
    pub notifications: Vec<NewNotification>,
    /// `rule.fired` webhook payloads.
    pub webhooks: Vec<Value>,
}

/// Everything a chain writes, in one transaction: the ticket's own fields,
/// the effects, the notes and, for a time-based firing, its claim — so a
/// firing is either wholly written or not at all (a crash in between
/// leaves nothing, and the next sweep makes it).
#[derive(Debug, Clone, Copy)]
pub struct ChainWrite<'a> {
    /// The ticket as read before the chain ran.
    pub before: &'a Ticket,
    /// Its fields as the chain left them, with the document change for
    /// custom fields; `None`: the chain changed no field.
    pub after: Option<(&'a Ticket, Option<&'a DocumentChange>)>,
    pub effects: &'a ChainEffects,
    /// Internal notes, each in its author's name.
    pub notes: &'a [(Uuid, NewComment)],
    pub claim: Option<TimedClaim>,
}

/// A time-based rule's firing on a ticket for one clock start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedClaim {
    pub rule_id: Uuid,
    pub anchor: DateTime<Utc>,
}

#[async_trait]
pub trait AutomationStore {
    /// Teams by name.
    async fn list_teams(&self, tenant_id: Uuid) -> StoreResult<Vec<Team>>;
    async fn get_team(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Team>;
    /// Members must be staff (not technicians) of the tenant.
    async fn create_team(&self, actor: Actor, input: &TeamInput) -> StoreResult<Team>;
    async fn update_team(&self, actor: Actor, id: Uuid, patch: &TeamPatch) -> StoreResult<Team>;
    /// Refused (in use) while the team owns tickets.
    async fn delete_team(&self, actor: Actor, id: Uuid) -> StoreResult<()>;

    async fn ticket_team(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<TicketTeam>>;
    /// Transfers the ticket (audited as `ticket.team` with the reason);
    /// an owner is picked per `change.owner` in the same transaction.
    async fn set_ticket_team(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        change: &TeamChange,
    ) -> StoreResult<Option<TicketTeam>>;
    /// The team's tickets, open ones only unless `all`, oldest first.
    async fn team_queue(
        &self,
        tenant_id: Uuid,
        team_id: Uuid,
        all: bool,
        limit: u32,
    ) -> StoreResult<Vec<QueueItem>>;

    /// Rules in evaluation order.
    async fn list_rules(&self, tenant_id: Uuid) -> StoreResult<Vec<Rule>>;
    async fn get_rule(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Rule>;
    async fn create_rule(&self, actor: Actor, rule: &RuleSave) -> StoreResult<Rule>;
    async fn update_rule(&self, actor: Actor, id: Uuid, rule: &RuleSave) -> StoreResult<Rule>;
    async fn delete_rule(&self, actor: Actor, id: Uuid) -> StoreResult<()>;

    /// Records a chain's firings on `ticket` (`rule.fired` audit entries)
    /// with its team transfer, notifications (and their pushes) and
    /// webhooks, in one transaction.
    async fn record_chain(
        &self,
        tenant_id: Uuid,
        ticket: &Ticket,
        effects: &ChainEffects,
    ) -> StoreResult<()>;

    /// Writes a chain whole (see [`ChainWrite`]) and answers the ticket as
    /// it now is; `None` when the time-based firing was made already
    /// (another replica, an earlier sweep): nothing written. A ticket
    /// changed since `before` was read is a `Conflict` (nothing written).
    async fn write_chain(&self, write: ChainWrite<'_>) -> StoreResult<Option<Ticket>>;

    /// The outcome of a rule's `auto_dispatch` (who, and why; or why
    /// nobody), as a `rule.auto_dispatch` audit entry the timeline shows.
    async fn record_auto_dispatch(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        outcome: &Value,
    ) -> StoreResult<()>;

    /// How the ticket came in: the intake channel, else `api`.
    async fn ticket_channel(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<String>;
    /// Active users of these roles.
    async fn users_with_roles(&self, tenant_id: Uuid, roles: &[Role]) -> StoreResult<Vec<User>>;

    /// The user's notifications, newest first.
    async fn list_notifications(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<StaffNotification>>;
    /// Only the user's own; another's is not found.
    async fn mark_notification_read(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<StaffNotification>;
}
