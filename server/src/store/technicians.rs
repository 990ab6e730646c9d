//! Technician profiles: skills, shifts, home base, capacity and status.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::people::{NewTechnician, Technician};

#[async_trait]
pub trait TechnicianStore {
    async fn create_technician(
        &self,
        actor: Actor,
        technician: &NewTechnician,
    ) -> StoreResult<Technician>;
    async fn get_technician(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Technician>;
    async fn technician_for_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Technician>>;
    async fn list_technicians(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Technician>>;
    /// Technicians in id order, active, archived or all.
    async fn list_technicians_where(
        &self,
        tenant_id: Uuid,
        archived: crate::domain::lifecycle::ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Technician>>;
    /// Writes `after` if the technician was not changed since `before` was read.
    async fn update_technician(
        &self,
        actor: Actor,
        before: &Technician,
        after: &Technician,
    ) -> StoreResult<Technician>;
}
