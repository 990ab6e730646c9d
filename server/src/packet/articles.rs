//! The packet's knowledge-base articles (issue 22): those that apply to the
//! ticket's category or its asset's model, rendered once on the server.

use truckroll_sync::packet::{PacketArticle, PacketArticleAttachment};
use uuid::Uuid;

use crate::knowledge::render::render_markdown;
use crate::store::{Store, StoreResult};

/// How many articles a packet carries at most (the most recently edited).
pub const MAX_ARTICLES: u32 = 20;
/// The largest attachment that travels with a job for offline reading;
/// bigger files stay in the console.
pub const MAX_OFFLINE_ATTACHMENT_BYTES: i64 = 1024 * 1024;

/// The articles for a ticket of `category` whose asset (if any) is of
/// `asset_model`.
pub async fn job_articles(
    store: &dyn Store,
    tenant_id: Uuid,
    category: &str,
    asset_model: Option<&str>,
) -> StoreResult<Vec<PacketArticle>> {
    let mut articles = store
        .articles_applying_to(tenant_id, category, asset_model, MAX_ARTICLES)
        .await?;
    // A stable order keeps the packet's hash stable between builds.
    articles.sort_by_key(|a| a.id);
    let mut out = Vec::with_capacity(articles.len());
    for a in articles {
        let attachments = store
            .article_attachments(tenant_id, a.id)
            .await?
            .into_iter()
            .filter(|f| f.size <= MAX_OFFLINE_ATTACHMENT_BYTES)
            .map(|f| PacketArticleAttachment {
                id: f.id.to_string(),
                name: f.name,
                content_type: f.content_type,
                size: f.size,
                sha256: f.sha256,
            })
            .collect();
        out.push(PacketArticle {
            id: a.id.to_string(),
            body_html: render_markdown(&a.content.body),
            title: a.content.title,
            category: a.content.category,
            version: i64::from(a.version),
            body_markdown: a.content.body,
            updated_ms: a.updated_at.timestamp_millis(),
            attachments,
        });
    }
    Ok(out)
}
