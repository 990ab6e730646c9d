//! Ticket headers, the categories they belong to, and their comments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use truckroll_sync::Status;
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::lifecycle::ArchivedFilter;
use crate::domain::ticket::{
    Category, Comment, NewCategory, NewComment, NewTicket, Priority, Ticket,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub assignee_id: Option<Uuid>,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub site_id: Option<Uuid>,
    /// Tickets whose site resolves to this territory.
    pub territory_id: Option<Uuid>,
    pub tag: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Work completed (`completed_at`) at or after.
    pub completed_from: Option<DateTime<Utc>>,
    /// Work completed before.
    pub completed_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of title or description.
    pub text: Option<String>,
    /// Tickets at a site of this customer.
    pub customer_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    /// Words found through the search index (number, title, description,
    /// comments, customer, site, asset serial), each as a prefix.
    pub search: Option<String>,
    /// Only tickets that are not closed or cancelled.
    pub open_only: bool,
    pub order: TicketOrder,
}

/// The order of a ticket list; pages follow it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TicketOrder {
    /// Oldest first (id order).
    #[default]
    Created,
    /// Newest first.
    CreatedDesc,
    /// Best match of `search` first; one page (a cursor is refused).
    Relevance,
    /// P1 first, oldest first within a priority.
    Priority,
}

#[async_trait]
pub trait TicketStore {
    // Categories.
    async fn create_category(&self, actor: Actor, category: &NewCategory) -> StoreResult<Category>;
    async fn category_by_name(&self, tenant_id: Uuid, name: &str) -> StoreResult<Option<Category>>;
    async fn list_categories(
        &self,
        tenant_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Category>>;
    async fn list_categories_where(
        &self,
        tenant_id: Uuid,
        archived: ArchivedFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Category>>;
    async fn get_category(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Category>;
    /// Writes the edited fields of `after` (name, description, schema). A
    /// category that tickets or SLA policies name keeps its name
    /// (`InUse` otherwise): they refer to it by name.
    async fn update_category(
        &self,
        actor: Actor,
        before: &Category,
        after: &Category,
    ) -> StoreResult<Category>;

    // Tickets and comments.
    async fn create_ticket(&self, actor: Actor, ticket: &NewTicket) -> StoreResult<Ticket>;
    async fn get_ticket(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket>;
    /// The id of the ticket numbered `number` (e.g. `TR-000123`), if any.
    async fn ticket_id_by_number(&self, tenant_id: Uuid, number: &str)
    -> StoreResult<Option<Uuid>>;
    async fn list_tickets(
        &self,
        tenant_id: Uuid,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Ticket>>;
    /// Writes `after` if the ticket was not changed since `before` was read
    /// (otherwise `Conflict`), with its audit entry, in one transaction —
    /// and `document`, the change of the ticket's document whose fold
    /// `after` projects (`Conflict` when the document moved on).
    async fn update_ticket(
        &self,
        actor: Actor,
        before: &Ticket,
        after: &Ticket,
        document: Option<&super::documents::DocumentChange>,
    ) -> StoreResult<Ticket>;
    async fn add_comment(
        &self,
        actor: Actor,
        ticket_id: Uuid,
        comment: &NewComment,
    ) -> StoreResult<Comment>;
    async fn list_comments(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
        page: PageRequest,
    ) -> StoreResult<Page<Comment>>;
    /// Every comment on any of `ticket_ids`, by ticket, oldest first within
    /// a ticket: one query for a whole set (the job packets).
    async fn comments_of_tickets(
        &self,
        tenant_id: Uuid,
        ticket_ids: &[Uuid],
    ) -> StoreResult<Vec<Comment>>;
}
