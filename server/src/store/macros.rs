//! Macros (issue 21): named bundles of rule actions and a reply template,
//! per team or personal, and the record of their application.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, StoreResult};
use crate::domain::macros::{Macro, MacroSave};

#[async_trait]
pub trait MacroStore {
    /// Every macro of the tenant by name (callers filter by who may use them).
    async fn list_macros(&self, tenant_id: Uuid) -> StoreResult<Vec<Macro>>;
    async fn get_macro(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Macro>;
    /// Personal (the actor's) without a team; audited as `macro.create`.
    async fn create_macro(&self, actor: Actor, save: &MacroSave) -> StoreResult<Macro>;
    /// Replaces name, team and body; a personal macro stays its owner's.
    async fn update_macro(&self, actor: Actor, id: Uuid, save: &MacroSave) -> StoreResult<Macro>;
    async fn delete_macro(&self, actor: Actor, id: Uuid) -> StoreResult<()>;
    /// `macro.applied` on the ticket, with what it did.
    async fn record_macro_applied(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        applied: &Value,
    ) -> StoreResult<()>;
}
