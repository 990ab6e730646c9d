//! "Create an article from this ticket" (issue 22): the content of a new
//! article prefilled from the ticket's problem (title, description) and
//! its work record's resolution (notes, parts, checklist), for the editor
//! to change and save with `POST /v1/knowledge/articles`. Nothing is
//! written here.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::ApiResult,
    error::Problem,
    extract::{ApiPath, AuthUser},
    tickets::visible_ticket,
};
use crate::{
    domain::{
        knowledge::{MAX_BODY_CHARS, MAX_ITEM_CHARS, MAX_LIST_ITEMS, MAX_TITLE_CHARS, Visibility},
        permissions::Action,
        ticket::Ticket,
    },
    store::StoreError,
    work::{self, WorkRecord},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(article_draft))
}

/// A new article's content, prefilled; the fields `POST
/// /v1/knowledge/articles` takes, plus where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleDraft {
    pub title: String,
    /// Markdown: "Problem", then "Resolution" (notes, parts, checklist).
    pub body: String,
    pub category: String,
    pub tags: Vec<String>,
    pub asset_models: Vec<String>,
    pub ticket_categories: Vec<String>,
    /// Always `internal`: a draft from a customer's ticket is not public
    /// until an editor says so.
    pub visibility: Visibility,
    pub source_ticket_id: Uuid,
    pub source_ticket_number: String,
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A line of user text kept on one Markdown line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quantity(q: f64) -> String {
    if q.fract() == 0.0 && q.abs() < 1e15 {
        format!("{}", q as i64)
    } else {
        format!("{q}")
    }
}

/// The Markdown body of a draft from `ticket` and its work record.
pub fn draft_body(ticket: &Ticket, record: &WorkRecord) -> String {
    let mut body = String::new();
    body.push_str("## Problem\n\n");
    let problem = ticket.description.trim();
    body.push_str(if problem.is_empty() {
        ticket.title.trim()
    } else {
        problem
    });
    body.push_str("\n\n## Resolution\n\n");
    let notes = record.notes.trim();
    if !notes.is_empty() {
        body.push_str(notes);
        body.push_str("\n\n");
    }
    if !record.parts.is_empty() {
        body.push_str("### Parts used\n\n");
        for part in &record.parts {
            body.push_str(&format!(
                "- {} × {}\n",
                one_line(&part.part_number),
                quantity(part.quantity)
            ));
        }
        body.push('\n');
    }
    if !record.checklist.is_empty() {
        body.push_str("### Checklist\n\n");
        for line in &record.checklist {
            let mark = if line.done { "x" } else { " " };
            body.push_str(&format!("- [{mark}] {}\n", one_line(&line.label)));
        }
        body.push('\n');
    }
    if notes.is_empty() && record.parts.is_empty() && record.checklist.is_empty() {
        body.push_str("(No work recorded yet.)\n\n");
    }
    body.push_str(&format!("_From ticket {}._\n", ticket.number));
    truncate(&body, MAX_BODY_CHARS)
}

/// The content of a new (internal) article prefilled from this ticket: its
/// title; its description as the problem; the work record's notes, parts
/// and checklist as the resolution; its category and asset model as what
/// the article applies to. Not saved: edit it and `POST
/// /v1/knowledge/articles`. Office roles who write articles.
#[utoipa::path(post, path = "/v1/tickets/{id}/article-draft", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = ArticleDraft), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(ticket = %id))]
async fn article_draft(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ArticleDraft>> {
    user.require(Action::KnowledgeWrite)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let work = work::record(
        state.store.as_ref(),
        user.tenant_id,
        ticket.id,
        ticket.status,
        &[],
    )
    .await?;
    let asset_models = match ticket.asset_id {
        Some(asset_id) => match state.store.get_asset(user.tenant_id, asset_id).await {
            Ok(asset) if !asset.model.trim().is_empty() => {
                vec![truncate(asset.model.trim(), MAX_ITEM_CHARS)]
            }
            Ok(_) | Err(StoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        },
        None => Vec::new(),
    };
    let tags = ticket
        .tags
        .iter()
        .map(|t| truncate(t.trim(), MAX_ITEM_CHARS))
        .filter(|t| !t.is_empty())
        .take(MAX_LIST_ITEMS)
        .collect();
    Ok(Json(ArticleDraft {
        title: truncate(ticket.title.trim(), MAX_TITLE_CHARS),
        body: draft_body(&ticket, &work.record),
        category: String::new(),
        tags,
        asset_models,
        ticket_categories: vec![truncate(&ticket.category, MAX_ITEM_CHARS)],
        visibility: Visibility::Internal,
        source_ticket_id: ticket.id,
        source_ticket_number: ticket.number.clone(),
    }))
}
