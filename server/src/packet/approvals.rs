//! The packet's approval requests (issue 21): what the office decided on
//! the job, so the technician's phone learns it on the next sync.

use truckroll_sync::packet::PacketApproval;

use crate::domain::ticket::Ticket;
use crate::store::{Store, StoreResult};

/// The requests on `ticket`, oldest first.
pub async fn job_approvals(store: &dyn Store, ticket: &Ticket) -> StoreResult<Vec<PacketApproval>> {
    Ok(store
        .ticket_approval_requests(ticket.tenant_id, ticket.id)
        .await?
        .into_iter()
        .map(|r| PacketApproval {
            id: r.id.to_string(),
            policy: r.policy_name,
            state: r.state.as_str().to_owned(),
            reason: r.reason,
            comment: r.decision_comment,
            requested_ms: r.requested_at.timestamp_millis(),
            decided_ms: r.decided_at.map(|at| at.timestamp_millis()),
        })
        .collect())
}
