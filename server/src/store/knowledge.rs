//! Knowledge-base articles with their versions, the asset models and ticket
//! categories they apply to, votes, and the public form's article views.
//! Every write keeps the article's search entry current in its transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, Page, PageRequest, StoreResult};
use crate::domain::duplicates::{MergeRecord, PoolTicket};
use crate::domain::knowledge::{
    Article, ArticleAttachment, ArticleContent, ArticleVersion, Feedback, NewAttachment,
};
use crate::domain::subtickets::FamilyMember;
use crate::domain::ticket::Ticket;

/// Which articles a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleFilter {
    /// Only public articles (the public form).
    pub public_only: bool,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub asset_model: Option<String>,
    pub ticket_category: Option<String>,
}

/// An article matched by a suggestion's words, with its text score
/// (higher is better; comparable within one answer).
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleMatch {
    pub article: Article,
    pub score: f64,
}

/// The public form's views of an article: opened, and opened by a visitor
/// who then did not submit a request (a deflection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewCounts {
    pub views: u64,
    pub deflections: u64,
}

#[async_trait]
pub trait KnowledgeStore {
    /// Creates version 1, its audit entry and its search entry.
    async fn create_article(&self, actor: Actor, content: &ArticleContent) -> StoreResult<Article>;
    /// Writes `content` as the next version if the article is still at
    /// `expected_version` (`Conflict` otherwise). `reverted_from` names the
    /// version a revert restores.
    async fn update_article(
        &self,
        actor: Actor,
        id: Uuid,
        expected_version: i32,
        content: &ArticleContent,
        reverted_from: Option<i32>,
    ) -> StoreResult<Article>;
    async fn get_article(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Article>;
    async fn list_articles(
        &self,
        tenant_id: Uuid,
        filter: &ArticleFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Article>>;
    /// Every version, oldest first.
    async fn article_versions(&self, tenant_id: Uuid, id: Uuid)
    -> StoreResult<Vec<ArticleVersion>>;
    async fn article_version(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        version: i32,
    ) -> StoreResult<ArticleVersion>;
    /// The best `limit` articles matching ANY of the folded `terms` (each
    /// a prefix), best first.
    async fn match_articles(
        &self,
        tenant_id: Uuid,
        terms: &[String],
        public_only: bool,
        limit: u32,
    ) -> StoreResult<Vec<ArticleMatch>>;
    /// Articles that apply to a ticket category or an asset model, newest
    /// edit first.
    async fn articles_applying_to(
        &self,
        tenant_id: Uuid,
        ticket_category: &str,
        asset_model: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Article>>;
    /// Records (or changes) `voter`'s vote; returns the article's votes.
    async fn record_article_feedback(
        &self,
        tenant_id: Uuid,
        article_id: Uuid,
        voter: &str,
        helpful: bool,
    ) -> StoreResult<Feedback>;
    async fn article_feedback(&self, tenant_id: Uuid, article_id: Uuid) -> StoreResult<Feedback>;
    /// A public visitor opened an article.
    async fn record_article_view(
        &self,
        tenant_id: Uuid,
        article_id: Uuid,
        visitor: &str,
    ) -> StoreResult<()>;
    /// The visitor submitted a request after all: their views are not deflections.
    async fn mark_visitor_submitted(&self, tenant_id: Uuid, visitor: &str) -> StoreResult<()>;
    /// Views and deflections of an article; a view counts as a deflection
    /// once it is older than `settled_before` without a submission.
    async fn article_view_counts(
        &self,
        tenant_id: Uuid,
        article_id: Uuid,
        settled_before: DateTime<Utc>,
    ) -> StoreResult<ViewCounts>;
    /// The customer's open tickets created since `since`, newest first,
    /// without `exclude`: where likely duplicates of a new ticket are
    /// looked for (`domain::duplicates`).
    async fn duplicate_pool(
        &self,
        tenant_id: Uuid,
        customer_id: Uuid,
        since: DateTime<Utc>,
        exclude: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<PoolTicket>>;
    /// Merges `before` (the duplicate) into `target_id` in one transaction:
    /// writes `after` (the duplicate cancelled, with `document`, the change
    /// of its document that cancels it) if the ticket was not changed since
    /// `before` (`Conflict` otherwise), moves its comments to the target,
    /// leaves a note on each ticket, records the merge and audits it. A
    /// ticket merges once, and never into a merged ticket (`Conflict`).
    async fn merge_ticket(
        &self,
        actor: Actor,
        before: &Ticket,
        after: &Ticket,
        document: Option<&super::documents::DocumentChange>,
        target_id: Uuid,
    ) -> StoreResult<(Ticket, MergeRecord)>;
    /// The merges a ticket took part in, as duplicate or as target.
    async fn ticket_merges(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<Vec<MergeRecord>>;
    /// Makes `child_id` a sub-ticket of `parent_id`: both of the tenant and
    /// of one customer, one level deep (a parent is no child, a child no
    /// parent), a child has one parent (`Conflict` otherwise); audited.
    async fn link_child(&self, actor: Actor, parent_id: Uuid, child_id: Uuid) -> StoreResult<()>;
    /// `NotFound` when `child_id` is not a sub-ticket of `parent_id`; audited.
    async fn unlink_child(&self, actor: Actor, parent_id: Uuid, child_id: Uuid) -> StoreResult<()>;
    /// A ticket's parent (if it is a sub-ticket) and children, oldest first.
    async fn ticket_family(
        &self,
        tenant_id: Uuid,
        ticket_id: Uuid,
    ) -> StoreResult<(Option<FamilyMember>, Vec<FamilyMember>)>;
    /// Records an attachment whose bytes are stored; audited
    /// (`article.attachment_add`). `NotFound` for no such article,
    /// `Conflict` when it has `max_per_article` already.
    async fn add_article_attachment(
        &self,
        actor: Actor,
        article_id: Uuid,
        new: &NewAttachment,
        max_per_article: u32,
    ) -> StoreResult<ArticleAttachment>;
    /// An article's attachments, oldest first.
    async fn article_attachments(
        &self,
        tenant_id: Uuid,
        article_id: Uuid,
    ) -> StoreResult<Vec<ArticleAttachment>>;
    async fn article_attachment(
        &self,
        tenant_id: Uuid,
        article_id: Uuid,
        id: Uuid,
    ) -> StoreResult<ArticleAttachment>;
    /// Removes an attachment; audited (`article.attachment_delete`). True
    /// when another attachment of the tenant still has the same content
    /// (its object must stay).
    async fn delete_article_attachment(
        &self,
        actor: Actor,
        article_id: Uuid,
        id: Uuid,
    ) -> StoreResult<(ArticleAttachment, bool)>;
    /// Tickets merged into others, among those created in `[from, to)`:
    /// reports leave them out.
    async fn merged_tickets(
        &self,
        tenant_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>>;
}
