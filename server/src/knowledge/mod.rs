//! The knowledge base: articles suggested for a ticket being written (or
//! shown beside one), and Markdown rendered without script (`render.rs`).
//!
//! A suggestion matches ANY word of the draft's title and description
//! (stop words and short Latin words dropped, Chinese as bigrams, the same
//! folding as search) against the article entries of the search index,
//! ranked by the engine's text score; an article that applies to the
//! draft's ticket category or asset model ranks higher, and is suggested
//! even when no word matches.

pub mod config;
pub mod render;

pub use config::KnowledgeConfig;

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::knowledge::{Article, Visibility, suggestion_terms};
use crate::store::{Store, StoreResult};

/// How many text matches are ranked before the best are kept.
const CANDIDATES: u32 = 50;
/// The factor an article's text score gets for applying to the draft's
/// ticket category, and again for its asset model.
const CONTEXT_BOOST: f64 = 1.5;

/// A ticket being written, or an existing ticket.
#[derive(Debug, Clone, Default)]
pub struct Draft<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub ticket_category: Option<&'a str>,
    pub asset_model: Option<&'a str>,
}

/// Why an article is suggested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionReason {
    /// Words of the draft are in the article.
    Text,
    /// The article applies to the draft's ticket category.
    TicketCategory,
    /// The article applies to the draft's asset model.
    AssetModel,
}

/// A suggested article, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    pub article_id: Uuid,
    pub title: String,
    pub category: String,
    pub visibility: Visibility,
    /// Higher is better; comparable within one answer only.
    pub score: f64,
    pub reasons: Vec<SuggestionReason>,
}

fn context_reasons(article: &Article, draft: &Draft<'_>) -> Vec<SuggestionReason> {
    let mut reasons = Vec::new();
    if draft
        .ticket_category
        .is_some_and(|c| article.content.ticket_categories.iter().any(|t| t == c))
    {
        reasons.push(SuggestionReason::TicketCategory);
    }
    if draft
        .asset_model
        .is_some_and(|m| article.content.asset_models.iter().any(|a| a == m))
    {
        reasons.push(SuggestionReason::AssetModel);
    }
    reasons
}

/// The best `limit` articles for `draft`; only public ones with `public_only`.
pub async fn suggest(
    store: &dyn Store,
    tenant_id: Uuid,
    draft: &Draft<'_>,
    public_only: bool,
    limit: usize,
) -> StoreResult<Vec<Suggestion>> {
    let terms = suggestion_terms(&format!("{} {}", draft.title, draft.description));
    let matches = store
        .match_articles(tenant_id, &terms, public_only, CANDIDATES)
        .await?;
    let mut ranked: HashMap<Uuid, Suggestion> = HashMap::new();
    for found in matches {
        let context = context_reasons(&found.article, draft);
        let mut score = found.score.max(f64::MIN_POSITIVE);
        for _ in &context {
            score *= CONTEXT_BOOST;
        }
        let mut reasons = vec![SuggestionReason::Text];
        reasons.extend(context);
        ranked.insert(found.article.id, suggestion(&found.article, score, reasons));
    }
    if draft.ticket_category.is_some() || draft.asset_model.is_some() {
        let category = draft.ticket_category.unwrap_or_default();
        for article in store
            .articles_applying_to(tenant_id, category, draft.asset_model, CANDIDATES)
            .await?
        {
            if ranked.contains_key(&article.id)
                || (public_only && article.content.visibility != Visibility::Public)
            {
                continue;
            }
            let reasons = context_reasons(&article, draft);
            ranked.insert(article.id, suggestion(&article, 0.0, reasons));
        }
    }
    let mut out: Vec<Suggestion> = ranked.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.reasons.len().cmp(&a.reasons.len()))
            .then(b.article_id.cmp(&a.article_id))
    });
    out.truncate(limit);
    Ok(out)
}

fn suggestion(article: &Article, score: f64, reasons: Vec<SuggestionReason>) -> Suggestion {
    Suggestion {
        article_id: article.id,
        title: article.content.title.clone(),
        category: article.content.category.clone(),
        visibility: article.content.visibility,
        score,
        reasons,
    }
}
