//! Scheduling: categories' estimated durations, tickets' appointment
//! windows (a side table keyed by the ticket), technicians' absences and the
//! tenant's holidays.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Actor, StoreResult, documents::ServerWrite};
use crate::domain::{
    geo::GeoPoint,
    schedule::{Absence, AbsenceKind, AppointmentWindow, CategoryDuration, Holiday, WindowSource},
    ticket::Ticket,
};

/// A window to store, its duration already decided.
#[derive(Debug, Clone)]
pub struct WindowSet {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: u32,
    pub technician_id: Option<Uuid>,
    pub source: WindowSource,
    /// The window as the customer's message shows it (local time and zone).
    pub notice_text: String,
}

/// A window that occupies a technician: booked with them, or on a ticket
/// assigned to them; tickets cancelled or closed are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct BookedJob {
    pub ticket_id: Uuid,
    pub ticket_number: String,
    pub technician_id: Uuid,
    pub site: GeoPoint,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: u32,
}

/// A window promised to the customer that occupies no technician yet:
/// booked with nobody, on a ticket assigned to nobody.
#[derive(Debug, Clone, PartialEq)]
pub struct PromisedJob {
    pub ticket_id: Uuid,
    pub site: GeoPoint,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: u32,
}

/// A new absence, its range already resolved.
#[derive(Debug, Clone)]
pub struct AbsenceSet<'a> {
    pub technician_id: Uuid,
    pub kind: AbsenceKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: &'a str,
}

/// A stored day plan; the routes are the planner's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct DayPlanRecord {
    pub id: Uuid,
    pub day: NaiveDate,
    pub territory_id: Option<Uuid>,
    /// `proposed` or `applied`.
    pub state: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

/// One visit of a plan being applied.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub ticket_id: Uuid,
    pub technician_id: Uuid,
    /// The ticket's `updated_at` when the plan was made.
    pub based_on: DateTime<Utc>,
    /// The assignment as the server's document change, for a ticket that is
    /// `new`; `None` for one already with this technician.
    pub assign: Option<ServerWrite>,
    /// The window to book when the ticket has none.
    pub window: WindowSet,
    pub planned_start: DateTime<Utc>,
}

#[async_trait]
pub trait ScheduleStore {
    /// The category's estimated duration, `None` when it has none set.
    async fn category_duration(&self, tenant_id: Uuid, category: &str) -> StoreResult<Option<u32>>;
    async fn set_category_duration(
        &self,
        actor: Actor,
        category: &str,
        minutes: u32,
    ) -> StoreResult<CategoryDuration>;
    async fn list_category_durations(&self, tenant_id: Uuid) -> StoreResult<Vec<CategoryDuration>>;

    async fn ticket_window(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Option<AppointmentWindow>>;
    /// The windows of those of `ticket_ids` that have one, in one query.
    async fn ticket_windows(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<AppointmentWindow>>;
    /// Books or moves the window in one transaction: the ticket must be
    /// open; a window booked with a technician must not overlap another
    /// window occupying them (`Conflict`, naming that ticket); audited, and
    /// the customer's message queued.
    async fn set_ticket_window(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        window: &WindowSet,
    ) -> StoreResult<AppointmentWindow>;
    /// Removes the window (`NotFound` without one); audited, the customer told.
    async fn clear_ticket_window(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        notice_text: &str,
    ) -> StoreResult<AppointmentWindow>;
    /// Windows overlapping `[from, to)` that occupy a technician.
    async fn booked_jobs(
        &self,
        tenant_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<BookedJob>>;

    /// Windows overlapping `[from, to)` that occupy no technician (see
    /// [`PromisedJob`]); tickets cancelled or closed are left out.
    async fn promised_jobs(
        &self,
        tenant_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<PromisedJob>>;

    async fn create_absence(&self, actor: Actor, absence: &AbsenceSet<'_>) -> StoreResult<Absence>;
    /// Absences overlapping `[from, to)`, of one technician or all.
    async fn list_absences(
        &self,
        tenant_id: Uuid,
        technician_id: Option<Uuid>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Absence>>;
    async fn delete_absence(&self, actor: Actor, technician_id: Uuid, id: Uuid) -> StoreResult<()>;

    async fn put_holiday(&self, actor: Actor, holiday: &Holiday) -> StoreResult<Holiday>;
    /// Holidays from `from` to `to`, both included.
    async fn list_holidays(
        &self,
        tenant_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<Holiday>>;
    async fn delete_holiday(&self, actor: Actor, day: NaiveDate) -> StoreResult<()>;

    /// Tickets a plan of `[from, to)` takes: `new`, `assigned` or `accepted`
    /// with a window overlapping the range, and `new` ones without a window;
    /// only sites of `territory_id` when given; at most `limit`.
    async fn plan_ticket_ids(
        &self,
        tenant_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        territory_id: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Uuid>>;
    async fn create_day_plan(
        &self,
        actor: Actor,
        day: NaiveDate,
        territory_id: Option<Uuid>,
        body: &str,
    ) -> StoreResult<DayPlanRecord>;
    async fn get_day_plan(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<DayPlanRecord>;
    /// Applies every step or none, in one transaction: a ticket changed or
    /// assigned since the plan was made, a technician at capacity or an
    /// overlapping window is a `Conflict` naming it. Returns each assigned
    /// ticket before and after.
    async fn apply_day_plan(
        &self,
        actor: Actor,
        plan_id: Uuid,
        steps: &[PlanStep],
    ) -> StoreResult<Vec<(Ticket, Ticket)>>;
}
