//! The knowledge base: articles (create, list, read, edit, versions,
//! revert, "this helped"), suggestions for a ticket being written, related
//! articles of a ticket, and the public form's suggestions with deflection
//! counting (no account).

use axum::{Json, extract::State, http::StatusCode};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AppState,
    error::{ApiError, ApiResult, Problem},
    extract::{ApiJson, ApiPath, ApiQuery, AuthUser, ClientAddress, PageBody, Pagination},
    intake::form_settings,
    tickets::visible_ticket,
};
use crate::{
    domain::{
        ValidationErrors,
        duplicates::{DuplicateCandidate, DuplicateProbe, rank},
        knowledge::{Article, ArticleContent, ArticleVersion, Feedback, Visibility},
        permissions::Action,
        validation::check_optional_text,
    },
    knowledge::{Draft, Suggestion, render::render_markdown, suggest},
    store::{
        StoreError,
        knowledge::{ArticleFilter, ViewCounts},
    },
};

/// A public view becomes a deflection when its visitor has not submitted a
/// request this long after opening the article.
pub const DEFLECTION_AFTER: chrono::Duration = chrono::Duration::minutes(30);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_articles, create_article))
        .routes(routes!(get_article, update_article))
        .routes(routes!(list_versions))
        .routes(routes!(revert_article))
        .routes(routes!(vote))
        .routes(routes!(suggest_for_draft))
        .routes(routes!(related_articles))
        .routes(routes!(public_suggest))
        .routes(routes!(public_article))
        .routes(routes!(public_submitted))
        .routes(routes!(duplicates_of_draft))
        .routes(routes!(duplicates_of_ticket))
}

/// An article as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    #[serde(flatten)]
    pub article: Article,
    /// The body rendered from Markdown, without script: raw HTML shows as
    /// text, links other than http(s), mailto and tel lose their address.
    pub body_html: String,
    pub feedback: Feedback,
    /// The public form's views of the article (office only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_views: Option<PublicViews>,
}

/// Public views: opened from the request form, and how many of those
/// visitors did not submit a request within 30 minutes (deflections).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicViews {
    pub views: u64,
    pub deflections: u64,
}

impl From<ViewCounts> for PublicViews {
    fn from(c: ViewCounts) -> Self {
        Self {
            views: c.views,
            deflections: c.deflections,
        }
    }
}

async fn article_view(
    state: &AppState,
    article: Article,
    with_views: bool,
) -> ApiResult<ArticleView> {
    let feedback = state
        .store
        .article_feedback(article.tenant_id, article.id)
        .await?;
    let public_views = if with_views {
        Some(
            state
                .store
                .article_view_counts(article.tenant_id, article.id, Utc::now() - DEFLECTION_AFTER)
                .await?
                .into(),
        )
    } else {
        None
    };
    Ok(ArticleView {
        body_html: render_markdown(&article.content.body),
        article,
        feedback,
        public_views,
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ArticleQuery {
    /// 1 to 200; default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// `internal` or `public`.
    #[param(value_type = Option<String>)]
    pub visibility: Option<Visibility>,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub asset_model: Option<String>,
    pub ticket_category: Option<String>,
}

/// Articles in creation order, filtered.
#[utoipa::path(get, path = "/v1/knowledge/articles", tag = "knowledge", params(ArticleQuery), security(("bearer" = [])),
    responses((status = 200, body = PageBody<Article>), (status = 403, body = Problem)))]
async fn list_articles(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ArticleQuery>,
) -> ApiResult<Json<PageBody<Article>>> {
    user.require(Action::KnowledgeRead)?;
    let page = Pagination {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let filter = ArticleFilter {
        public_only: query.visibility == Some(Visibility::Public),
        category: query.category,
        tag: query.tag,
        asset_model: query.asset_model,
        ticket_category: query.ticket_category,
    };
    let mut page = state
        .store
        .list_articles(user.tenant_id, &filter, page)
        .await?;
    if query.visibility == Some(Visibility::Internal) {
        page.items
            .retain(|a| a.content.visibility == Visibility::Internal);
    }
    Ok(Json(page.into()))
}

/// A new article's content. Its own type (not `ArticleContent`) so that
/// an unknown (misspelt) field is refused while the article, which
/// flattens `ArticleContent` into its own fields, keeps an open schema.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    pub title: String,
    /// Markdown; raw HTML in it is shown as text, never run.
    #[serde(default)]
    pub body: String,
    /// The article's own grouping (e.g. "Heating"); empty for none.
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Asset models (as written on the asset) the article applies to.
    #[serde(default)]
    pub asset_models: Vec<String>,
    /// Ticket categories the article applies to.
    #[serde(default)]
    pub ticket_categories: Vec<String>,
    pub visibility: Visibility,
}

impl From<NewArticle> for ArticleContent {
    fn from(n: NewArticle) -> Self {
        ArticleContent {
            title: n.title,
            body: n.body,
            category: n.category,
            tags: n.tags,
            asset_models: n.asset_models,
            ticket_categories: n.ticket_categories,
            visibility: n.visibility,
        }
    }
}

/// Write an article (version 1). An unknown field is refused (422).
#[utoipa::path(post, path = "/v1/knowledge/articles", tag = "knowledge", request_body = NewArticle, security(("bearer" = [])),
    responses((status = 201, body = ArticleView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn create_article(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewArticle>,
) -> ApiResult<(StatusCode, Json<ArticleView>)> {
    user.require(Action::KnowledgeWrite)?;
    let content = ArticleContent::from(new);
    content.validate()?;
    let created = state.store.create_article(user.actor(), &content).await?;
    Ok((
        StatusCode::CREATED,
        Json(article_view(&state, created, true).await?),
    ))
}

/// One article with its body as safe HTML and its votes.
#[utoipa::path(get, path = "/v1/knowledge/articles/{id}", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem)))]
async fn get_article(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ArticleView>> {
    user.require(Action::KnowledgeRead)?;
    let article = state.store.get_article(user.tenant_id, id).await?;
    let office = user.can(Action::KnowledgeWrite);
    Ok(Json(article_view(&state, article, office).await?))
}

/// An edit: the whole content and the version it was made from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleEdit {
    /// The version the edit was made from; a newer one answers 409.
    pub version: i32,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub asset_models: Vec<String>,
    #[serde(default)]
    pub ticket_categories: Vec<String>,
    pub visibility: Visibility,
}

impl ArticleEdit {
    fn content(self) -> (i32, ArticleContent) {
        (
            self.version,
            ArticleContent {
                title: self.title,
                body: self.body,
                category: self.category,
                tags: self.tags,
                asset_models: self.asset_models,
                ticket_categories: self.ticket_categories,
                visibility: self.visibility,
            },
        )
    }
}

/// Replace the content as a new version (every version is kept).
#[utoipa::path(put, path = "/v1/knowledge/articles/{id}", tag = "knowledge", request_body = ArticleEdit, security(("bearer" = [])),
    responses((status = 200, body = ArticleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(article = %id))]
async fn update_article(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(edit): ApiJson<ArticleEdit>,
) -> ApiResult<Json<ArticleView>> {
    user.require(Action::KnowledgeWrite)?;
    let (version, content) = edit.content();
    content.validate()?;
    let updated = state
        .store
        .update_article(user.actor(), id, version, &content, None)
        .await?;
    Ok(Json(article_view(&state, updated, true).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleVersions {
    /// Oldest first; the last is the current content.
    pub versions: Vec<ArticleVersion>,
}

/// Every version of an article: content, who and when.
#[utoipa::path(get, path = "/v1/knowledge/articles/{id}/versions", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = ArticleVersions), (status = 404, body = Problem)))]
async fn list_versions(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ArticleVersions>> {
    user.require(Action::KnowledgeRead)?;
    let versions = state.store.article_versions(user.tenant_id, id).await?;
    Ok(Json(ArticleVersions { versions }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertBody {
    /// The version whose content becomes current again.
    pub to_version: i32,
    /// The current version the revert was decided on; a newer one answers 409.
    pub version: i32,
}

/// Restore an earlier version's content as a new version.
#[utoipa::path(post, path = "/v1/knowledge/articles/{id}/revert", tag = "knowledge", request_body = RevertBody, security(("bearer" = [])),
    responses((status = 200, body = ArticleView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(article = %id))]
async fn revert_article(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RevertBody>,
) -> ApiResult<Json<ArticleView>> {
    user.require(Action::KnowledgeWrite)?;
    state.store.get_article(user.tenant_id, id).await?;
    let old = state
        .store
        .article_version(user.tenant_id, id, body.to_version)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => {
                ApiError::Validation(ValidationErrors::single("to_version", "no such version"))
            }
            other => other.into(),
        })?;
    let updated = state
        .store
        .update_article(
            user.actor(),
            id,
            body.version,
            &old.content,
            Some(old.version),
        )
        .await?;
    Ok(Json(article_view(&state, updated, true).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    pub helpful: bool,
}

/// "This helped" (or not): one vote per user, changeable.
#[utoipa::path(post, path = "/v1/knowledge/articles/{id}/feedback", tag = "knowledge", request_body = VoteBody, security(("bearer" = [])),
    responses((status = 200, body = Feedback), (status = 404, body = Problem)))]
async fn vote(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<VoteBody>,
) -> ApiResult<Json<Feedback>> {
    user.require(Action::KnowledgeRead)?;
    let voter = format!("user:{}", user.user_id);
    let feedback = state
        .store
        .record_article_feedback(user.tenant_id, id, &voter, body.helpful)
        .await?;
    Ok(Json(feedback))
}

/// A ticket being written.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The ticket category chosen so far.
    pub category: Option<String>,
    /// The asset chosen so far (its model counts).
    pub asset_id: Option<Uuid>,
    /// 1 to 20; default 5.
    pub limit: Option<usize>,
}

impl DraftBody {
    fn validate(&self) -> Result<usize, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        check_optional_text(&mut errors, "title", &self.title, 200);
        check_optional_text(&mut errors, "description", &self.description, 20_000);
        if let Some(category) = &self.category {
            check_optional_text(&mut errors, "category", category, 100);
        }
        let limit = self.limit.unwrap_or(5);
        if !(1..=20).contains(&limit) {
            errors.add("limit", "must be between 1 and 20");
        }
        errors.into_result().map(|()| limit)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// Best first.
    pub suggestions: Vec<Suggestion>,
}

/// Articles for a ticket being written, best first: any word of its title
/// and description (Chinese included), ranked higher when an article
/// applies to its category or its asset's model.
#[utoipa::path(post, path = "/v1/knowledge/suggest", tag = "knowledge", request_body = DraftBody, security(("bearer" = [])),
    responses((status = 200, body = Suggestions), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn suggest_for_draft(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DraftBody>,
) -> ApiResult<Json<Suggestions>> {
    user.require(Action::KnowledgeRead)?;
    let limit = body.validate()?;
    let asset_model = match body.asset_id {
        Some(asset_id) => match state.store.get_asset(user.tenant_id, asset_id).await {
            Ok(asset) => Some(asset.model),
            Err(StoreError::NotFound(_)) => {
                return Err(ValidationErrors::single("asset_id", "no such asset").into());
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let draft = Draft {
        title: &body.title,
        description: &body.description,
        ticket_category: body.category.as_deref().filter(|c| !c.is_empty()),
        asset_model: asset_model.as_deref(),
    };
    let suggestions = suggest(state.store.as_ref(), user.tenant_id, &draft, false, limit).await?;
    Ok(Json(Suggestions { suggestions }))
}

/// The articles for a ticket: by its title, description, category and asset model.
#[utoipa::path(get, path = "/v1/tickets/{id}/articles", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, body = Suggestions), (status = 404, body = Problem)))]
async fn related_articles(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Suggestions>> {
    user.require(Action::KnowledgeRead)?;
    let ticket = visible_ticket(&state, &user, id).await?;
    let asset_model = match ticket.asset_id {
        Some(asset_id) => match state.store.get_asset(user.tenant_id, asset_id).await {
            Ok(asset) => Some(asset.model),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let draft = Draft {
        title: &ticket.title,
        description: &ticket.description,
        ticket_category: Some(&ticket.category),
        asset_model: asset_model.as_deref(),
    };
    let suggestions = suggest(state.store.as_ref(), user.tenant_id, &draft, false, 5).await?;
    Ok(Json(Suggestions { suggestions }))
}

/// A request being written on the public form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicDraftBody {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub category: Option<String>,
}

/// Public articles for a request being written on the public form.
#[utoipa::path(post, path = "/v1/public/{tenant}/knowledge/suggest", tag = "knowledge",
    params(("tenant" = String, Path, description = "The tenant's intake slug (or id)")),
    request_body = PublicDraftBody,
    responses((status = 200, body = Suggestions), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn public_suggest(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(body): ApiJson<PublicDraftBody>,
) -> ApiResult<Json<Suggestions>> {
    client.limit_public_reads(&state)?;
    let settings = form_settings(&state, &tenant).await?;
    let draft = DraftBody {
        title: body.title,
        description: body.description,
        category: body.category,
        asset_id: None,
        limit: Some(5),
    };
    let limit = draft.validate()?;
    let suggestion_draft = Draft {
        title: &draft.title,
        description: &draft.description,
        ticket_category: draft.category.as_deref().filter(|c| !c.is_empty()),
        asset_model: None,
    };
    let suggestions = suggest(
        state.store.as_ref(),
        settings.tenant_id,
        &suggestion_draft,
        true,
        limit,
    )
    .await?;
    Ok(Json(Suggestions { suggestions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VisitorQuery {
    /// The visitor's random key for this visit (16 to 64 letters, digits, `-`, `_`).
    pub visitor: String,
}

fn check_visitor(visitor: &str) -> Result<(), ValidationErrors> {
    let ok = (16..=64).contains(&visitor.len())
        && visitor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "visitor",
            "must be 16 to 64 letters, digits, '-' or '_'",
        ))
    }
}

/// A public article opened from the form; the view is counted for the
/// visitor (a deflection unless they submit a request).
#[utoipa::path(get, path = "/v1/public/{tenant}/knowledge/articles/{id}", tag = "knowledge",
    params(("tenant" = String, Path, description = "The tenant's intake slug (or id)"), ("id" = Uuid, Path), VisitorQuery),
    responses((status = 200, body = ArticleView), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn public_article(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
    ApiQuery(query): ApiQuery<VisitorQuery>,
) -> ApiResult<Json<ArticleView>> {
    client.limit_public_reads(&state)?;
    check_visitor(&query.visitor)?;
    let settings = form_settings(&state, &tenant).await?;
    let article = match state.store.get_article(settings.tenant_id, id).await {
        Ok(a) if a.content.visibility == Visibility::Public => a,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::NotFound("article")),
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .record_article_view(settings.tenant_id, id, &query.visitor)
        .await?;
    Ok(Json(article_view(&state, article, false).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmittedBody {
    pub visitor: String,
}

/// The visitor submitted a request after all: the articles they opened
/// did not deflect it.
#[utoipa::path(post, path = "/v1/public/{tenant}/knowledge/submitted", tag = "knowledge",
    params(("tenant" = String, Path, description = "The tenant's intake slug (or id)")),
    request_body = SubmittedBody,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn public_submitted(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(body): ApiJson<SubmittedBody>,
) -> ApiResult<StatusCode> {
    client.limit_public_reads(&state)?;
    check_visitor(&body.visitor)?;
    let settings = form_settings(&state, &tenant).await?;
    state
        .store
        .mark_visitor_submitted(settings.tenant_id, &body.visitor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many of the customer's newest open tickets are compared at most.
const DUPLICATE_POOL: u32 = 500;

/// A ticket being created, as the duplicate check compares it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateDraft {
    pub site_id: Uuid,
    pub asset_id: Option<Uuid>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Look back this many days (1 to 365); default `knowledge.duplicate_window_days` (14).
    pub window_days: Option<u32>,
    /// 1 to 20; default 5.
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DuplicateQuery {
    /// Look back this many days (1 to 365); default `knowledge.duplicate_window_days` (14).
    pub window_days: Option<u32>,
    /// 1 to 20; default 5.
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Duplicates {
    /// Best first.
    pub candidates: Vec<DuplicateCandidate>,
}

fn duplicate_limits(
    state: &AppState,
    window_days: Option<u32>,
    limit: Option<usize>,
) -> Result<(u32, usize), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let window = window_days.unwrap_or(state.config.knowledge.duplicate_window_days);
    if !(1..=365).contains(&window) {
        errors.add("window_days", "must be between 1 and 365");
    }
    let limit = limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        errors.add("limit", "must be between 1 and 20");
    }
    errors.into_result().map(|()| (window, limit))
}

async fn find_duplicates(
    state: &AppState,
    tenant_id: Uuid,
    probe: &DuplicateProbe<'_>,
    exclude: Option<Uuid>,
    (window, limit): (u32, usize),
) -> ApiResult<Vec<DuplicateCandidate>> {
    let since = Utc::now() - chrono::Duration::days(i64::from(window));
    let pool = state
        .store
        .duplicate_pool(tenant_id, probe.customer_id, since, exclude, DUPLICATE_POOL)
        .await?;
    Ok(rank(probe, &pool, limit))
}

/// Likely duplicates of a ticket being created: open tickets of the same
/// customer, site or asset within the window whose words are similar, with
/// a score and the reasons.
#[utoipa::path(post, path = "/v1/tickets/duplicates", tag = "tickets", request_body = DuplicateDraft, security(("bearer" = [])),
    responses((status = 200, body = Duplicates), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
async fn duplicates_of_draft(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(draft): ApiJson<DuplicateDraft>,
) -> ApiResult<Json<Duplicates>> {
    user.require(Action::TicketsReadAll)?;
    let limits = duplicate_limits(&state, draft.window_days, draft.limit)?;
    let mut errors = ValidationErrors::new();
    check_optional_text(&mut errors, "title", &draft.title, 200);
    check_optional_text(&mut errors, "description", &draft.description, 20_000);
    errors.into_result()?;
    let site = match state.store.get_site(user.tenant_id, draft.site_id).await {
        Ok(site) => site,
        Err(StoreError::NotFound(_)) => {
            return Err(ValidationErrors::single("site_id", "no such site").into());
        }
        Err(e) => return Err(e.into()),
    };
    let probe = DuplicateProbe {
        customer_id: site.customer_id,
        site_id: site.id,
        asset_id: draft.asset_id,
        title: &draft.title,
        description: &draft.description,
    };
    let candidates = find_duplicates(&state, user.tenant_id, &probe, None, limits).await?;
    Ok(Json(Duplicates { candidates }))
}

/// Likely duplicates of an existing ticket (itself left out).
#[utoipa::path(get, path = "/v1/tickets/{id}/duplicates", tag = "tickets", params(DuplicateQuery), security(("bearer" = [])),
    responses((status = 200, body = Duplicates), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn duplicates_of_ticket(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DuplicateQuery>,
) -> ApiResult<Json<Duplicates>> {
    user.require(Action::TicketsReadAll)?;
    let limits = duplicate_limits(&state, query.window_days, query.limit)?;
    let ticket = state.store.get_ticket(user.tenant_id, id).await?;
    let site = state.store.get_site(user.tenant_id, ticket.site_id).await?;
    let probe = DuplicateProbe {
        customer_id: site.customer_id,
        site_id: site.id,
        asset_id: ticket.asset_id,
        title: &ticket.title,
        description: &ticket.description,
    };
    let candidates = find_duplicates(&state, user.tenant_id, &probe, Some(id), limits).await?;
    Ok(Json(Duplicates { candidates }))
}
