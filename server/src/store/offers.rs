//! Offers and auto-dispatch policies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::{
    offer::{DispatchPolicy, Offer, OfferState},
    ticket::Ticket,
};

#[async_trait]
pub trait OfferStore {
    async fn put_dispatch_policy(
        &self,
        actor: Actor,
        policy: &DispatchPolicy,
    ) -> StoreResult<DispatchPolicy>;
    async fn dispatch_policy(
        &self,
        tenant_id: Uuid,
        category: &str,
    ) -> StoreResult<Option<DispatchPolicy>>;
    async fn list_dispatch_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<DispatchPolicy>>;

    /// A pending offer; `Conflict` when the ticket already has one.
    async fn create_offer(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        technician_id: Uuid,
        round: u32,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Offer>;
    async fn get_offer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Offer>;
    /// Every offer of a ticket, oldest first.
    async fn offers_for_ticket(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<Offer>>;
    async fn pending_offers_for_technician(
        &self,
        tenant_id: Uuid,
        technician_id: Uuid,
    ) -> StoreResult<Vec<Offer>>;
    /// Pending offers whose window has closed at `now`, across tenants.
    async fn due_offers(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Offer>>;

    /// In one transaction: the offer (still pending, in time, the
    /// technician's own) becomes accepted and the ticket (still `new`) is
    /// assigned to and accepted by the technician, within capacity. With
    /// `server`, the ticket row becomes its projection and its document
    /// change is stored in the same transaction (`Conflict` when the row
    /// moved since the change was planned).
    async fn accept_offer(
        &self,
        actor: Actor,
        offer_id: Uuid,
        technician_id: Uuid,
        now: DateTime<Utc>,
        server: Option<&super::documents::ServerWrite>,
    ) -> StoreResult<(Offer, Ticket)>;
    /// Moves a pending offer to `declined` or `expired` (expiry only once its
    /// window has closed at `now`). `None` when it was no longer pending.
    async fn close_offer(
        &self,
        actor: Actor,
        offer_id: Uuid,
        to: OfferState,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Offer>>;
    /// Records that nobody took the ticket (an audit entry); it stays unassigned.
    async fn record_offers_exhausted(&self, actor: Actor, ticket_id: Uuid) -> StoreResult<()>;
}
