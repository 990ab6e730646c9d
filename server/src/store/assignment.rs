//! Assigning a ticket: the database, not the index, decides.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::ticket::Ticket;

#[async_trait]
pub trait AssignmentStore {
    /// Assigns (or reassigns) `ticket_id` to `technician_id` in one
    /// transaction that locks the technician row, so two dispatchers or two
    /// replicas can never book the same ticket twice or one technician past
    /// capacity. `Conflict` says why when the ticket is no longer assignable,
    /// already has this assignee, or the technician is full. With `server`,
    /// the row becomes the projection of the ticket document's fold and the
    /// document change is stored in the same transaction (`Conflict` when
    /// the row moved since the change was planned).
    async fn assign_ticket(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        technician_id: Uuid,
        server: Option<&super::documents::ServerWrite>,
    ) -> StoreResult<Ticket>;
}
