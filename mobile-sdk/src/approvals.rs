//! Approvals on the phone (issue 21): the office's approval requests on a
//! job and their outcome, carried by the job packet and read from the local
//! database, so the technician sees "approved" or "rejected" (with the
//! approver's comment) after the next sync, also offline afterwards.

use truckroll_sync::packet::PacketApproval;

use crate::Client;
use crate::error::SdkResult;

impl Client {
    /// The approval requests stored with a ticket's packet, oldest first
    /// (empty before the first sync brought it); reads only the local
    /// database.
    pub async fn job_approvals(&self, ticket_id: &str) -> SdkResult<Vec<PacketApproval>> {
        Ok(self
            .packet(ticket_id)
            .await?
            .map(|stored| stored.packet.approvals)
            .unwrap_or_default())
    }
}
