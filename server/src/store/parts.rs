//! Parts and van stock (issue 23): the catalogue, stock locations, the
//! movement ledger with its balances, reorder points, required parts per
//! ticket, the dispatch policy per category, labour rates, and the part
//! entries of ticket documents reconciled into consumption.
//!
//! Every movement updates `stock_balances` in its own transaction
//! (`balance = balance ± quantity` as one statement), so concurrent
//! movements never lose an update and a balance is one row to read.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::parts::{
    AssetSerial, Balance, LabourRate, Movement, MovementKind, NewMovement, Part, PartInput,
    PartUse, PartsPolicy, ReorderPointInput, RequiredPart, StockLocation, Suggestion,
};

/// Which balances to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BalanceFilter {
    pub location_id: Option<Uuid>,
    pub part_id: Option<Uuid>,
    /// Only vans.
    pub vans: bool,
    /// Only balances below zero.
    pub negative: bool,
}

/// Which movements to list (newest first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MovementFilter {
    /// Into or out of this location.
    pub location_id: Option<Uuid>,
    pub part_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    pub kind: Option<MovementKind>,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: u64,
    pub updated: u64,
}

/// What the ledger consumed for one part entry of an open ticket from a van.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct VanEntry {
    pub ticket_id: Uuid,
    pub entry_id: String,
    pub part_number: String,
    pub consumed: f64,
}

/// A technician's van holding of one part (thousandths, above zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VanHolding {
    pub technician_id: Uuid,
    pub part_id: Uuid,
    pub quantity: i64,
}

#[async_trait]
pub trait PartStore {
    /// `Conflict` when the number is taken in the tenant.
    async fn create_part(&self, actor: Actor, part: &PartInput) -> StoreResult<Part>;
    async fn update_part(&self, actor: Actor, id: Uuid, part: &PartInput) -> StoreResult<Part>;
    async fn get_part(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Part>;
    /// The catalogue parts with these numbers (unknown numbers are left out).
    async fn parts_by_numbers(&self, tenant_id: Uuid, numbers: &[String])
    -> StoreResult<Vec<Part>>;
    /// Parts by number (`query`: number, name or barcode containing it).
    async fn list_parts(
        &self,
        tenant_id: Uuid,
        query: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<Part>>;
    /// Creates or updates (by number) every part in one transaction.
    async fn import_parts(&self, actor: Actor, parts: &[PartInput]) -> StoreResult<ImportOutcome>;

    async fn create_warehouse(&self, actor: Actor, name: &str) -> StoreResult<StockLocation>;
    /// The technician's van, created on first use.
    async fn van_for_technician(
        &self,
        actor: Actor,
        technician_id: Uuid,
    ) -> StoreResult<StockLocation>;
    async fn list_locations(&self, tenant_id: Uuid) -> StoreResult<Vec<StockLocation>>;
    async fn get_location(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<StockLocation>;

    /// Appends a movement and moves the balances it touches, with its audit
    /// entry, in one transaction.
    async fn record_movement(&self, actor: Actor, movement: &NewMovement) -> StoreResult<Movement>;
    async fn list_movements(
        &self,
        tenant_id: Uuid,
        filter: &MovementFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Movement>>;
    /// Balances (non-zero, or with a reorder point) by location and part number.
    async fn balances(&self, tenant_id: Uuid, filter: &BalanceFilter) -> StoreResult<Vec<Balance>>;
    /// The balance of one part at one location (0 when never moved).
    async fn balance_of(
        &self,
        tenant_id: Uuid,
        location_id: Uuid,
        part_id: Uuid,
    ) -> StoreResult<i64>;
    async fn set_reorder_point(&self, actor: Actor, point: &ReorderPointInput) -> StoreResult<()>;
    /// Locations below a reorder point, with what brings them to target.
    async fn suggestions(&self, tenant_id: Uuid) -> StoreResult<Vec<Suggestion>>;

    /// Replaces the ticket's required parts.
    async fn set_required_parts(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        parts: &[(Uuid, i64)],
    ) -> StoreResult<Vec<RequiredPart>>;
    async fn required_parts(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<RequiredPart>>;
    async fn set_parts_policy(
        &self,
        actor: Actor,
        category: &str,
        policy: PartsPolicy,
    ) -> StoreResult<()>;
    async fn parts_policy(&self, tenant_id: Uuid, category: &str) -> StoreResult<PartsPolicy>;
    /// Van balances above zero of these parts, every technician.
    async fn van_holdings(
        &self,
        tenant_id: Uuid,
        part_ids: &[Uuid],
    ) -> StoreResult<Vec<VanHolding>>;

    async fn set_labour_rate(&self, actor: Actor, rate: &LabourRate) -> StoreResult<()>;
    async fn labour_rates(&self, tenant_id: Uuid) -> StoreResult<Vec<LabourRate>>;

    /// What the ledger consumed from `location_id` per part entry of tickets
    /// not closed or cancelled (the phone subtracts only what is not in it).
    async fn van_entries(&self, tenant_id: Uuid, location_id: Uuid) -> StoreResult<Vec<VanEntry>>;
    /// The ticket's part entries as the ledger reconciled them, by entry id.
    async fn part_uses(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<PartUse>>;
    /// The serials of serial-tracked parts used on the asset's tickets,
    /// oldest first (`NotFound` for an asset not in the tenant).
    async fn asset_serials(&self, tenant_id: Uuid, asset_id: Uuid)
    -> StoreResult<Vec<AssetSerial>>;
}
