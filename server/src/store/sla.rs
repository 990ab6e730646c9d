//! SLA policies per tenant, and the ticket status history the SLA clock reads.

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::{
    customers::CustomerTier,
    lifecycle::ArchivedFilter,
    sla::{SlaPolicy, StatusEvent},
};

/// The customer behind a ticket's site: what SLA matching and reports need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteCustomer {
    pub customer_id: Uuid,
    pub tier: CustomerTier,
}

#[async_trait]
pub trait SlaStore {
    /// Stores a new policy (its `id` is the caller's), with an audit entry.
    async fn create_sla_policy(&self, actor: Actor, policy: &SlaPolicy) -> StoreResult<SlaPolicy>;
    /// Replaces a policy of the actor's tenant; `NotFound` when absent.
    async fn update_sla_policy(&self, actor: Actor, policy: &SlaPolicy) -> StoreResult<SlaPolicy>;
    async fn get_sla_policy(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<SlaPolicy>;
    /// Every active (not archived) policy of the tenant, in id (creation)
    /// order: the ones that cover tickets.
    async fn list_sla_policies(&self, tenant_id: Uuid) -> StoreResult<Vec<SlaPolicy>>;
    /// The tenant's policies, active, archived or all, in id order.
    async fn list_sla_policies_where(
        &self,
        tenant_id: Uuid,
        archived: ArchivedFilter,
    ) -> StoreResult<Vec<SlaPolicy>>;
    /// The status history of each ticket, in sequence order. Tickets without
    /// history are absent from the map.
    async fn status_histories(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<StatusEvent>>>;
    /// The territory of each site (`None` outside every territory).
    async fn site_territories(
        &self,
        tenant_id: Uuid,
        site_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Option<Uuid>>>;
    /// The customer (and tier) of each site.
    async fn site_customers(
        &self,
        tenant_id: Uuid,
        site_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SiteCustomer>>;
}
