//! Customers, their sites (address and coordinates) and the assets on them.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::customers::{Asset, Customer, NewAsset, NewCustomer, NewSite, Site};

#[async_trait]
pub trait CustomerStore {
    async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer>;
    async fn list_customers(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;
    /// Resolves the site's territory from its coordinates in the same transaction.
    async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site>;
    async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site>;
    async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>>;
    async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset>;
    async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset>;
    async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>>;
}
