//! Customers, their sites (address and coordinates) and the assets on them.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::customers::{Asset, Customer, NewAsset, NewCustomer, NewSite, Site};
use crate::domain::lifecycle::ArchivedFilter;
use crate::domain::ticket::Ticket;

/// A site, customer or asset, as named by a technician's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketReference {
    Site(Uuid),
    Customer(Uuid),
    Asset(Uuid),
}

#[async_trait]
pub trait CustomerStore {
    async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer>;
    /// Every customer (archived included), in id order.
    async fn list_customers(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;
    /// Resolves the site's territory from its coordinates in the same transaction.
    /// Customers in id order, active, archived or all.
    async fn list_customers_where(
        &self,
        tenant_id: Uuid,
        archived: ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;
    async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site>;
    async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site>;
    async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>>;
    async fn list_sites_where(
        &self,
        tenant_id: Uuid,
        archived: ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Site>>;
    async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset>;
    async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset>;
    async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>>;
    async fn list_assets_where(
        &self,
        tenant_id: Uuid,
        archived: ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Asset>>;
    /// Writes the edited fields of `after` (name, tier, email, phone, contact person).
    async fn update_customer(
        &self,
        actor: Actor,
        before: &Customer,
        after: &Customer,
    ) -> StoreResult<Customer>;
    /// Writes the edited fields of `after` (customer, name, address, position — its
    /// territory resolved again when moved —, access notes, opening hours).
    async fn update_site(&self, actor: Actor, before: &Site, after: &Site) -> StoreResult<Site>;
    /// Writes the edited fields of `after` (site, serial, model, warranty end,
    /// installation date).
    async fn update_asset(&self, actor: Actor, before: &Asset, after: &Asset)
    -> StoreResult<Asset>;
    /// The newest `limit` tickets on the asset other than `except`, newest first.
    async fn asset_history(
        &self,
        tenant_id: Uuid,
        asset_id: Uuid,
        except: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<Ticket>>;
    /// Whether a ticket assigned to `technician_id` names the site, customer
    /// (through its site) or asset.
    async fn assigned_ticket_references(
        &self,
        tenant_id: Uuid,
        technician_id: Uuid,
        reference: TicketReference,
    ) -> StoreResult<bool>;
}
