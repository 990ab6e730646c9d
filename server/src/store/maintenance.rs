//! Preventive maintenance plans and the occurrences made from them.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Actor, StoreResult, schedule::WindowSet};
use crate::domain::{
    maintenance::{MaintenancePlan, MaintenanceState, NewMaintenancePlan},
    ticket::Ticket,
};

/// A plan the generator looks at, with its tenant's time zone.
#[derive(Debug, Clone)]
pub struct DuePlan {
    pub tenant_id: Uuid,
    pub time_zone: String,
    pub plan: MaintenancePlan,
}

#[async_trait]
pub trait MaintenanceStore {
    /// `Reference` when the site (or asset) is not the tenant's.
    async fn create_maintenance_plan(
        &self,
        actor: Actor,
        plan: &NewMaintenancePlan,
    ) -> StoreResult<MaintenancePlan>;
    async fn get_maintenance_plan(&self, tenant_id: Uuid, id: Uuid)
    -> StoreResult<MaintenancePlan>;
    async fn list_maintenance_plans(&self, tenant_id: Uuid) -> StoreResult<Vec<MaintenancePlan>>;
    /// Pauses, resumes or ends a plan; an ended plan stays ended (`Conflict`).
    async fn set_maintenance_state(
        &self,
        actor: Actor,
        id: Uuid,
        state: MaintenanceState,
    ) -> StoreResult<MaintenancePlan>;
    /// Every active plan of every tenant.
    async fn active_maintenance_plans(&self) -> StoreResult<Vec<DuePlan>>;
    async fn maintenance_checked(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Makes the ticket of the plan's occurrence on `due_on` with its
    /// window, in one transaction with the occurrence's row: `None` when
    /// that occurrence was made already (by this or another replica).
    async fn create_maintenance_occurrence(
        &self,
        tenant_id: Uuid,
        plan: &MaintenancePlan,
        due_on: NaiveDate,
        window: &WindowSet,
    ) -> StoreResult<Option<Ticket>>;
    /// (day, ticket) of each occurrence made, in day order.
    async fn maintenance_occurrences(
        &self,
        tenant_id: Uuid,
        plan_id: Uuid,
    ) -> StoreResult<Vec<(NaiveDate, Uuid)>>;
}
