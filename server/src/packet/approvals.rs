//! The packet's approval requests (issue 21): what the office decided on
//! the job, so the technician's phone learns it on the next sync.

use truckroll_sync::packet::PacketApproval;

use crate::domain::approvals::ApprovalRequest;

/// A ticket's `requests` (oldest first), as the packet carries them.
pub fn job_approvals(requests: &[ApprovalRequest]) -> Vec<PacketApproval> {
    requests
        .iter()
        .map(|r| PacketApproval {
            id: r.id.to_string(),
            policy: r.policy_name.clone(),
            state: r.state.as_str().to_owned(),
            reason: r.reason.clone(),
            comment: r.decision_comment.clone(),
            requested_ms: r.requested_at.timestamp_millis(),
            decided_ms: r.decided_at.map(|at| at.timestamp_millis()),
        })
        .collect()
}
