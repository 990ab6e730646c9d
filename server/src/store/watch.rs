//! Watchers, mentions and time-based rules (issue 21): the tenant's rules
//! version (moved by a database trigger on every rule write, so each replica
//! can tell its cached rules are current with one key lookup), who watches
//! which ticket, notifications that respect ticket visibility, and the
//! time-based firings already made.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::ticket::Ticket;

/// A notification about one ticket, for whoever may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketNotice {
    /// What sent it: `mention` or `watch`.
    pub source: &'static str,
    pub title: String,
    pub body: String,
}

#[async_trait]
pub trait WatchStore {
    /// The tenant's rules version: 0 before the first rule write, then moved
    /// by every insert, update and delete of its rules.
    async fn rules_version(&self, tenant_id: Uuid) -> StoreResult<i64>;

    /// Idempotent; the user must exist in the tenant.
    async fn watch_ticket(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// Idempotent.
    async fn unwatch_ticket(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// The ticket's watchers, by user id.
    async fn ticket_watchers(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Uuid>>;

    /// Notifies (in-console, and a push to their phones) those of `users`
    /// who may see `ticket` now — active users of the tenant who are staff,
    /// or the technician it is assigned to — except `except`, in one
    /// transaction. Answers who was notified.
    async fn notify_ticket_users(
        &self,
        tenant_id: Uuid,
        ticket: &Ticket,
        users: &[Uuid],
        except: Option<Uuid>,
        notice: &TicketNotice,
    ) -> StoreResult<Vec<Uuid>>;

    /// Records that `rule` fired on `ticket` for the clock started at
    /// `anchor`; `false` if that firing exists already (on any replica).
    async fn claim_timed_firing(
        &self,
        tenant_id: Uuid,
        rule_id: Uuid,
        ticket_id: Uuid,
        anchor: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Tenants with at least one active time-based rule.
    async fn tenants_with_timed_rules(&self) -> StoreResult<Vec<Uuid>>;
    /// The tenant's open tickets, last updated at or before `updated_before`
    /// when given, least recently updated first, at most `limit`.
    async fn timed_candidates(
        &self,
        tenant_id: Uuid,
        updated_before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<Ticket>>;
}

/// Tells the ticket's watchers what a committed change did to its status or
/// assignee (nothing for other changes): each watcher who may see the ticket
/// as it is now. Best effort: a failure is logged, the change stands.
pub async fn notify_change(store: &dyn super::Store, before: &Ticket, after: &Ticket) {
    let mut lines = Vec::new();
    if before.status != after.status {
        lines.push(format!(
            "status {} → {}",
            before.status.as_str(),
            after.status.as_str()
        ));
    }
    if before.assignee_id != after.assignee_id {
        match after.assignee_id {
            Some(id) => match store.get_technician(after.tenant_id, id).await {
                Ok(technician) => lines.push(format!("assigned to {}", technician.name)),
                Err(_) => lines.push("assigned".to_owned()),
            },
            None => lines.push("unassigned".to_owned()),
        }
    }
    if lines.is_empty() {
        return;
    }
    let result = async {
        let watchers = store.ticket_watchers(after.tenant_id, after.id).await?;
        if watchers.is_empty() {
            return Ok(());
        }
        let notice = TicketNotice {
            source: "watch",
            title: format!("{} updated: {}", after.number, after.title),
            body: lines.join("; "),
        };
        store
            .notify_ticket_users(after.tenant_id, after, &watchers, None, &notice)
            .await
            .map(|_| ())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, ticket = %after.id, "watchers not told of a change");
    }
}
