//! What the SLA timers read (open tickets with their policy inputs and
//! history) and write (notices, with their escalation's effects, exactly once).

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use truckroll_sync::Status;
use utoipa::ToSchema;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::{
    customers::CustomerTier,
    sla::{NotifyWho, SlaPolicy, SlaTarget, StatusEvent},
    ticket::Priority,
};

/// Everything the clock of one ticket depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaTicketFacts {
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub number: String,
    pub category: String,
    pub priority: Priority,
    pub status: Status,
    pub assignee_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tier: CustomerTier,
    pub history: Vec<StatusEvent>,
    /// Stretches approval requests paused the clocks (issue 21).
    pub pauses: Vec<crate::domain::approvals::PauseSpan>,
}

impl SlaTicketFacts {
    /// Whether any target can still warn or breach: every target is met by
    /// work_done, and closed/cancelled stop the clocks.
    pub fn is_open(&self) -> bool {
        !matches!(
            self.status,
            Status::WorkDone | Status::Closed | Status::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Warning,
    Breach,
}

impl NoticeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Warning => "warning",
            NoticeKind::Breach => "breach",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "warning" => Some(NoticeKind::Warning),
            "breach" => Some(NoticeKind::Breach),
            _ => None,
        }
    }
}

/// The identity of a notice: it fires at most once, ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoticeKey {
    pub tenant_id: Uuid,
    pub ticket_id: Uuid,
    pub target: SlaTarget,
    pub kind: NoticeKind,
    /// The warning percentage; 100 for a breach.
    pub threshold: u8,
}

/// A warning or breach that fired.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaNotice {
    pub ticket_id: Uuid,
    pub target: SlaTarget,
    pub kind: NoticeKind,
    /// The warning percentage; 100 for a breach.
    pub threshold: u8,
    pub policy_id: Uuid,
    /// When the threshold or deadline was crossed.
    pub due_at: DateTime<Utc>,
    /// When the timers noticed and escalated.
    pub fired_at: DateTime<Utc>,
    /// What the escalation did.
    #[schema(value_type = Object)]
    pub actions: serde_json::Value,
}

/// The effects written in the notice's own transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoticeEffects {
    /// Push to these people.
    pub notify: Vec<NotifyWho>,
    /// Raise the priority from the first to the second, if it still is the first.
    pub raise_priority: Option<(Priority, Priority)>,
    /// Push title and body.
    pub title: String,
    pub body: String,
}

#[async_trait]
pub trait SlaTimerStore {
    /// Tickets of every tenant that can still warn or breach, in id order
    /// after `after`, at most `limit`, with their history.
    async fn sla_open_tickets(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<SlaTicketFacts>>;
    /// Tickets (any status) whose version is at or after `since`.
    async fn sla_tickets_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<SlaTicketFacts>>;
    async fn sla_ticket_facts(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<SlaTicketFacts>>;
    /// The newest ticket version in the database (where a rescan starts).
    async fn newest_ticket_version(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Every tenant's policies: (tenant, policy).
    async fn all_sla_policies(&self) -> StoreResult<Vec<(Uuid, SlaPolicy)>>;
    /// Changes whenever a policy is created or changed: (count, newest update).
    async fn sla_policies_version(&self) -> StoreResult<(i64, Option<DateTime<Utc>>)>;
    /// Notices already fired for tickets that are still open.
    async fn open_ticket_notice_keys(&self) -> StoreResult<HashSet<NoticeKey>>;
    /// Records the notice and, in the same transaction, its effects (audit
    /// entry, priority raise, pushes, webhook deliveries). `None` when this
    /// notice was already recorded (by another replica, or before a restart):
    /// then nothing is written.
    async fn record_sla_notice(
        &self,
        key: NoticeKey,
        notice: &SlaNotice,
        effects: &NoticeEffects,
    ) -> StoreResult<Option<SlaNotice>>;
    /// Notices of the tenant, newest ticket first; of one ticket when given.
    async fn list_sla_notices(
        &self,
        tenant_id: Uuid,
        ticket_id: Option<Uuid>,
    ) -> StoreResult<Vec<SlaNotice>>;
}
