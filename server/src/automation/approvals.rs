//! Approvals at work (issue 21): which of the tenant's policies apply to a
//! ticket (its rule facts and the priced job), a request under one (by a
//! person or a rule's `request_approval` action; the approvers are told in
//! the console and by push), and a decision by one of the approvers.
//!
//! A request is a side-table state, not a ticket status (DECISIONS.md,
//! "Issue 21 — approvals"): the technician's status machine is untouched,
//! and a policy with `pause_sla` stops the SLA clocks while it is pending
//! (`domain::sla::compute_clock_paused`).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Automation;
use crate::{
    domain::{
        ValidationErrors,
        approvals::{
            ApprovalPolicy, ApprovalRequest, ApprovalState, Decision, JobCost, NewApprovalRequest,
        },
        people::Role,
        ticket::Ticket,
    },
    parts::PartsError,
    store::{
        Actor, StoreError,
        automation::{ChainEffects, NewNotification},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The user is not one of the request's approvers.
    #[error("not an approver of this request")]
    NotApprover,
}

impl From<PartsError> for ApprovalError {
    fn from(error: PartsError) -> Self {
        match error {
            PartsError::Store(e) => ApprovalError::Store(e),
            PartsError::Invalid(e) => ApprovalError::Invalid(e),
        }
    }
}

/// One policy and whether it applies to the ticket now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyCheck {
    pub policy_id: Uuid,
    pub name: String,
    pub applies: bool,
}

/// The policies of the ticket's tenant checked against it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalCheck {
    pub parts_cents: i64,
    pub total_cents: i64,
    pub policies: Vec<PolicyCheck>,
}

impl Automation<'_> {
    /// The priced job of `ticket` as its work record stands.
    pub async fn job_cost(&self, ticket: &Ticket) -> Result<JobCost, ApprovalError> {
        let work = crate::work::record(self.store, ticket.tenant_id, ticket.id, ticket.status, &[])
            .await?;
        let value = crate::parts::value::job_value(self.store, ticket, &work.record).await?;
        Ok(JobCost {
            parts_cents: value.parts_cents,
            total_cents: value.total_cents,
        })
    }

    /// Every active policy of the tenant, and whether it applies to `ticket`.
    pub async fn check_policies(
        &self,
        ticket: &Ticket,
    ) -> Result<(Vec<(ApprovalPolicy, bool)>, JobCost), ApprovalError> {
        let policies = self.store.list_approval_policies(ticket.tenant_id).await?;
        let facts = self.facts(ticket, None).await?;
        let cost = self.job_cost(ticket).await?;
        Ok((
            policies
                .into_iter()
                .filter(|p| p.active)
                .map(|p| {
                    let applies = p.body.applies(&facts, cost);
                    (p, applies)
                })
                .collect(),
            cost,
        ))
    }

    /// A pending request on `ticket` under `policy_id`, or under the first
    /// policy (by name) that applies. The named policy must apply too.
    pub async fn request_approval(
        &self,
        actor: Actor,
        ticket: &Ticket,
        policy_id: Option<Uuid>,
        reason: &str,
    ) -> Result<ApprovalRequest, ApprovalError> {
        let (checked, cost) = self.check_policies(ticket).await?;
        let policy = match policy_id {
            Some(id) => {
                let policy = self.store.get_approval_policy(ticket.tenant_id, id).await?;
                if !policy.active {
                    return Err(
                        ValidationErrors::single("policy_id", "the policy is inactive").into(),
                    );
                }
                if !checked.iter().any(|(p, applies)| p.id == id && *applies) {
                    return Err(ValidationErrors::single(
                        "policy_id",
                        "the policy does not apply to this ticket",
                    )
                    .into());
                }
                policy
            }
            None => checked
                .into_iter()
                .find(|(_, applies)| *applies)
                .map(|(p, _)| p)
                .ok_or_else(|| {
                    ValidationErrors::single(
                        "policy_id",
                        "no approval policy applies to this ticket",
                    )
                })?,
        };
        if !ticket.status.is_open() {
            return Err(
                ValidationErrors::single("ticket", "the ticket is closed or cancelled").into(),
            );
        }
        let request = self
            .store
            .create_approval_request(
                actor,
                &NewApprovalRequest {
                    ticket_id: ticket.id,
                    reason: reason.trim().to_owned(),
                    value_cents: Some(cost.total_cents),
                    policy,
                },
            )
            .await?;
        self.tell_approvers(ticket, &request).await?;
        Ok(request)
    }

    /// An in-console notification (and a push) for each approver.
    async fn tell_approvers(
        &self,
        ticket: &Ticket,
        request: &ApprovalRequest,
    ) -> Result<(), StoreError> {
        let approvers = &request.approvers;
        let recipients = self
            .recipients(ticket, &approvers.user_ids, &[], &approvers.roles)
            .await?;
        let effects = ChainEffects {
            notifications: recipients
                .into_iter()
                .map(|user_id| NewNotification {
                    user_id,
                    title: format!("Approval requested: {}", ticket.number),
                    body: format!("{} — {}", request.policy_name, ticket.title),
                    email: false,
                })
                .collect(),
            ..ChainEffects::default()
        };
        if !effects.notifications.is_empty() {
            self.store
                .record_chain(ticket.tenant_id, ticket, &effects)
                .await?;
        }
        Ok(())
    }

    /// A rule's `request_approval`: best effort — a ticket that already
    /// awaits one, or that no policy applies to, is left as it is.
    pub(super) async fn rule_requests_approval(
        &self,
        ticket: &Ticket,
        policy_id: Option<Uuid>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let system = Actor {
            tenant_id: ticket.tenant_id,
            user_id: None,
        };
        match self
            .request_approval(system, ticket, policy_id, reason)
            .await
        {
            Ok(_) => Ok(()),
            Err(ApprovalError::Store(StoreError::Conflict(_)))
            | Err(ApprovalError::Store(StoreError::NotFound(_)))
            | Err(ApprovalError::Invalid(_)) => Ok(()),
            Err(ApprovalError::Store(e)) => Err(e),
            Err(ApprovalError::NotApprover) => Ok(()),
        }
    }
}

/// Decides request `id` as the user `(user_id, role)`: only its approvers
/// may, and only while it is pending.
pub async fn decide(
    store: &dyn crate::store::Store,
    actor: Actor,
    role: Role,
    id: Uuid,
    decision: Decision,
    comment: &str,
) -> Result<ApprovalRequest, ApprovalError> {
    let mut errors = ValidationErrors::new();
    if comment.chars().count() > 2000 {
        errors.add("comment", "must be at most 2000 characters");
    }
    if decision == Decision::Reject && comment.trim().is_empty() {
        errors.add("comment", "a rejection needs a comment");
    }
    errors.into_result()?;
    let request = store.get_approval_request(actor.tenant_id, id).await?;
    let user_id = actor.user_id.ok_or(ApprovalError::NotApprover)?;
    if !request.approvers.includes(user_id, role) {
        return Err(ApprovalError::NotApprover);
    }
    if request.state != ApprovalState::Pending {
        return Err(StoreError::Conflict(format!(
            "the request is already {}",
            request.state.as_str()
        ))
        .into());
    }
    Ok(store
        .decide_approval_request(actor, id, decision, comment.trim())
        .await?)
}
