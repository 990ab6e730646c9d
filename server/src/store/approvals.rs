//! Approval policies and approval requests (issue 21). A request is a side
//! table beside the ticket (the ticket keeps its status); writing or
//! deciding one bumps the ticket's version, so the SLA timers and every
//! cache keyed by it see the change.

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::approvals::{
    ApprovalPolicy, ApprovalPolicyInput, ApprovalRequest, ApprovalState, Decision,
    NewApprovalRequest, PauseSpan,
};

#[async_trait]
pub trait ApprovalStore {
    /// Policies by name.
    async fn list_approval_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<ApprovalPolicy>>;
    async fn get_approval_policy(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<ApprovalPolicy>;
    /// Audited as `approval_policy.create`.
    async fn create_approval_policy(
        &self,
        actor: Actor,
        input: &ApprovalPolicyInput,
    ) -> StoreResult<ApprovalPolicy>;
    /// Replaces the policy whole; audited as `approval_policy.update`.
    async fn update_approval_policy(
        &self,
        actor: Actor,
        id: Uuid,
        input: &ApprovalPolicyInput,
    ) -> StoreResult<ApprovalPolicy>;

    /// A pending request (audited on the ticket as `approval.requested`);
    /// a conflict while the ticket has one pending.
    async fn create_approval_request(
        &self,
        actor: Actor,
        request: &NewApprovalRequest,
    ) -> StoreResult<ApprovalRequest>;
    /// Decides a pending request (audited as `approval.approved` or
    /// `approval.rejected`); a conflict once it is decided.
    async fn decide_approval_request(
        &self,
        actor: Actor,
        id: Uuid,
        decision: Decision,
        comment: &str,
    ) -> StoreResult<ApprovalRequest>;
    async fn get_approval_request(&self, tenant_id: Uuid, id: Uuid)
    -> StoreResult<ApprovalRequest>;
    /// A ticket's requests, oldest first.
    async fn ticket_approval_requests(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<ApprovalRequest>>;
    /// The requests of all of `ticket_ids` in one query, by ticket, oldest
    /// first within a ticket.
    async fn approval_requests_of_tickets(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<ApprovalRequest>>;
    /// The tenant's requests in `state`, oldest first.
    async fn approval_requests_in_state(
        &self,
        tenant_id: Uuid,
        state: ApprovalState,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRequest>>;
    /// For each ticket, the stretches its requests paused the SLA clocks.
    async fn approval_pauses(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<PauseSpan>>>;
}
