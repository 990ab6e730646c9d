//! SQL behind `KnowledgeStore`. An article's row, its version, its links
//! (asset models, ticket categories), its search entry and its audit entry
//! are written in one transaction.
//!
//! Suggestions match ANY word of a draft, unlike a search (all words):
//! PostgreSQL through the partial GIN index on article entries, SQLite
//! through `article_fts`, the FTS5 index over article entries only.

use crate::store::Backend;

/// Article columns in the order `ArticleRow` reads them.
pub(in crate::store) const ARTICLE_COLUMNS: &str = "a.id, a.tenant_id, a.title, a.body, a.category, a.tags, a.asset_models, a.ticket_categories, a.visibility, a.version, a.created_by, a.created_at, a.updated_by, a.updated_at";

/// The match text for ANY of `terms`, each a prefix.
pub(in crate::store) fn any_term_query(backend: Backend, terms: &[String]) -> String {
    match backend {
        Backend::Postgres => terms
            .iter()
            .map(|t| format!("'{t}':*"))
            .collect::<Vec<_>>()
            .join(" | "),
        Backend::Sqlite => terms
            .iter()
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" OR "),
    }
}

macro_rules! impl_knowledge_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, types::Json};
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                duplicates::{MergeRecord, PoolTicket},
                subtickets::FamilyMember,
                ticket::Ticket,
                knowledge::{Article, ArticleContent, ArticleVersion, Feedback, Visibility},
            };
            use $crate::store::{
                Actor, Backend, Page, PageRequest, StoreError, StoreResult,
                documents::DocumentChange,
                knowledge::{ArticleFilter, ArticleMatch, KnowledgeStore, ViewCounts},
                rows::TicketRow,
                sql::{OPEN_STATUSES, TICKET_COLUMNS, audit, next_version, knowledge::{ARTICLE_COLUMNS, any_term_query}, now},
            };

            type Tx = sqlx::Transaction<'static, $db>;
            type ArticleRow = (
                Uuid, Uuid, String, String, String,
                Json<Vec<String>>, Json<Vec<String>>, Json<Vec<String>>,
                String, i32, Option<Uuid>, DateTime<Utc>, Option<Uuid>, DateTime<Utc>,
            );
            type VersionRow = (
                i32, String, String, String,
                Json<Vec<String>>, Json<Vec<String>>, Json<Vec<String>>,
                String, Option<Uuid>, DateTime<Utc>, Option<i32>,
            );

            fn visibility(value: &str) -> StoreResult<Visibility> {
                Visibility::parse(value).ok_or_else(|| StoreError::Corrupt(format!("article visibility `{value}`")))
            }

            fn article(row: ArticleRow) -> StoreResult<Article> {
                let (id, tenant_id, title, body, category, tags, asset_models, ticket_categories, vis, version, created_by, created_at, updated_by, updated_at) = row;
                Ok(Article {
                    id,
                    tenant_id,
                    content: ArticleContent {
                        title,
                        body,
                        category,
                        tags: tags.0,
                        asset_models: asset_models.0,
                        ticket_categories: ticket_categories.0,
                        visibility: visibility(&vis)?,
                    },
                    version,
                    created_by,
                    created_at,
                    updated_by,
                    updated_at,
                })
            }

            fn version(row: VersionRow) -> StoreResult<ArticleVersion> {
                let (version, title, body, category, tags, asset_models, ticket_categories, vis, edited_by, edited_at, reverted_from) = row;
                Ok(ArticleVersion {
                    version,
                    content: ArticleContent {
                        title,
                        body,
                        category,
                        tags: tags.0,
                        asset_models: asset_models.0,
                        ticket_categories: ticket_categories.0,
                        visibility: visibility(&vis)?,
                    },
                    edited_by,
                    edited_at,
                    reverted_from,
                })
            }

            type AttachmentRow = (Uuid, Uuid, String, String, i64, String, Option<Uuid>, DateTime<Utc>);

            fn attachment(row: AttachmentRow) -> $crate::domain::knowledge::ArticleAttachment {
                let (id, article_id, name, content_type, size, sha256, created_by, created_at) = row;
                $crate::domain::knowledge::ArticleAttachment { id, article_id, name, content_type, size, sha256, created_by, created_at }
            }

            type MergeRow = (Uuid, String, Uuid, String, i64, Option<Uuid>, DateTime<Utc>);

            fn merge_record(row: MergeRow) -> MergeRecord {
                let (source_id, source_number, target_id, target_number, comments_moved, merged_by, merged_at) = row;
                MergeRecord { source_id, source_number, target_id, target_number, comments_moved, merged_by, merged_at }
            }

            const MERGE_SELECT: &str = "SELECT m.source_id, s.number, m.target_id, t.number, CAST(m.comments_moved AS BIGINT), m.merged_by, m.merged_at \
                 FROM ticket_merges m JOIN tickets s ON s.id = m.source_id JOIN tickets t ON t.id = m.target_id";

            impl $store {
                /// A note on a ticket from the merging user, written in the merge's transaction.
                async fn merge_note(tx: &mut Tx, tenant_id: Uuid, ticket_id: Uuid, author: Uuid, body: &str) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO comments (id, tenant_id, ticket_id, author_id, body, visibility, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 'internal', $6)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(author)
                    .bind(body)
                    .bind(now())
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }

                /// The version row, links and search entry of `article` as it now is.
                async fn write_article_parts(tx: &mut Tx, article: &Article, reverted_from: Option<i32>) -> StoreResult<()> {
                    let c = &article.content;
                    sqlx::query(
                        "INSERT INTO article_versions (tenant_id, article_id, version, title, body, category, tags, asset_models, \
                         ticket_categories, visibility, edited_by, edited_at, reverted_from) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(article.tenant_id)
                    .bind(article.id)
                    .bind(article.version)
                    .bind(&c.title)
                    .bind(&c.body)
                    .bind(&c.category)
                    .bind(Json(&c.tags))
                    .bind(Json(&c.asset_models))
                    .bind(Json(&c.ticket_categories))
                    .bind(c.visibility.as_str())
                    .bind(article.updated_by)
                    .bind(article.updated_at)
                    .bind(reverted_from)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query("DELETE FROM article_links WHERE article_id = $1")
                        .bind(article.id)
                        .execute(&mut **tx)
                        .await?;
                    let links = c.asset_models.iter().map(|m| ("asset_model", m)).chain(c.ticket_categories.iter().map(|t| ("ticket_category", t)));
                    for (kind, value) in links {
                        sqlx::query("INSERT INTO article_links (tenant_id, article_id, kind, value) VALUES ($1, $2, $3, $4)")
                            .bind(article.tenant_id)
                            .bind(article.id)
                            .bind(kind)
                            .bind(value)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Self::put_search_entry(tx, article.tenant_id, &c.search_entry(article.id)).await
                }

                async fn article_row(tenant_id: Uuid, id: Uuid, pool: &sqlx::Pool<$db>) -> StoreResult<Article> {
                    let row: Option<ArticleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.tenant_id = $1 AND a.id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                    article(row.ok_or(StoreError::NotFound("article"))?)
                }
            }

            #[async_trait]
            impl KnowledgeStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_article(&self, actor: Actor, content: &ArticleContent) -> StoreResult<Article> {
                    let c = content.normalized();
                    let at = now();
                    let created = Article {
                        id: Uuid::now_v7(),
                        tenant_id: actor.tenant_id,
                        content: c,
                        version: 1,
                        created_by: actor.user_id,
                        created_at: at,
                        updated_by: actor.user_id,
                        updated_at: at,
                    };
                    let c = &created.content;
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO articles (id, tenant_id, title, body, category, tags, asset_models, ticket_categories, visibility, \
                         version, created_by, created_at, updated_by, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11, $12)",
                    )
                    .bind(created.id)
                    .bind(created.tenant_id)
                    .bind(&c.title)
                    .bind(&c.body)
                    .bind(&c.category)
                    .bind(Json(&c.tags))
                    .bind(Json(&c.asset_models))
                    .bind(Json(&c.ticket_categories))
                    .bind(c.visibility.as_str())
                    .bind(created.version)
                    .bind(created.created_by)
                    .bind(created.created_at)
                    .execute(&mut *tx)
                    .await?;
                    Self::write_article_parts(&mut tx, &created, None).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "article.create", "article", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                #[tracing::instrument(skip_all)]
                async fn update_article(&self, actor: Actor, id: Uuid, expected_version: i32, content: &ArticleContent, reverted_from: Option<i32>) -> StoreResult<Article> {
                    let c = content.normalized();
                    let mut tx = self.begin_write().await?;
                    let row: Option<ArticleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.tenant_id = $1 AND a.id = $2"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let before = article(row.ok_or(StoreError::NotFound("article"))?)?;
                    if before.version != expected_version {
                        return Err(StoreError::Conflict(format!(
                            "the article changed since version {expected_version}; it is at version {} now",
                            before.version
                        )));
                    }
                    let after = Article {
                        content: c,
                        version: before.version + 1,
                        updated_by: actor.user_id,
                        updated_at: crate::store::sql::next_version(before.updated_at),
                        ..before.clone()
                    };
                    let c = &after.content;
                    let changed = sqlx::query(
                        "UPDATE articles SET title = $3, body = $4, category = $5, tags = $6, asset_models = $7, ticket_categories = $8, \
                         visibility = $9, version = $10, updated_by = $11, updated_at = $12 \
                         WHERE tenant_id = $1 AND id = $2 AND version = $13",
                    )
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(&c.title)
                    .bind(&c.body)
                    .bind(&c.category)
                    .bind(Json(&c.tags))
                    .bind(Json(&c.asset_models))
                    .bind(Json(&c.ticket_categories))
                    .bind(c.visibility.as_str())
                    .bind(after.version)
                    .bind(after.updated_by)
                    .bind(after.updated_at)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed != 1 {
                        return Err(StoreError::Conflict("the article changed meanwhile; read it again".into()));
                    }
                    Self::write_article_parts(&mut tx, &after, reverted_from).await?;
                    let action = if reverted_from.is_some() { "article.revert" } else { "article.update" };
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, action, "article", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn get_article(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Article> {
                    Self::article_row(tenant_id, id, &self.pool).await
                }

                #[tracing::instrument(skip_all)]
                async fn list_articles(&self, tenant_id: Uuid, filter: &ArticleFilter, page: PageRequest) -> StoreResult<Page<Article>> {
                    let mut query = QueryBuilder::<$db>::new(format!("SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.tenant_id = "));
                    query.push_bind(tenant_id);
                    if let Some(after) = page.after {
                        query.push(" AND a.id > ").push_bind(after);
                    }
                    if filter.public_only {
                        query.push(" AND a.visibility = 'public'");
                    }
                    if let Some(category) = &filter.category {
                        query.push(" AND a.category = ").push_bind(category.clone());
                    }
                    for (kind, value) in [("asset_model", &filter.asset_model), ("ticket_category", &filter.ticket_category)] {
                        if let Some(value) = value {
                            query
                                .push(" AND EXISTS (SELECT 1 FROM article_links l WHERE l.article_id = a.id AND l.kind = ")
                                .push_bind(kind)
                                .push(" AND l.value = ")
                                .push_bind(value.clone())
                                .push(")");
                        }
                    }
                    query.push(" ORDER BY a.id LIMIT ").push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<ArticleRow> = query.build_query_as().fetch_all(&self.pool).await?;
                    let mut items = rows.into_iter().map(article).collect::<StoreResult<Vec<_>>>()?;
                    if let Some(tag) = &filter.tag {
                        // Tags live in the row's JSON; a page is filtered after reading.
                        items.retain(|a| a.content.tags.iter().any(|t| t == tag));
                    }
                    let more = items.len() > page.limit as usize;
                    items.truncate(page.limit as usize);
                    let next_after = if more { items.last().map(|a| a.id) } else { None };
                    Ok(Page { items, next_after })
                }

                async fn article_versions(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Vec<ArticleVersion>> {
                    Self::article_row(tenant_id, id, &self.pool).await?;
                    let rows: Vec<VersionRow> = sqlx::query_as(
                        "SELECT version, title, body, category, tags, asset_models, ticket_categories, visibility, edited_by, edited_at, reverted_from \
                         FROM article_versions WHERE tenant_id = $1 AND article_id = $2 ORDER BY version",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(version).collect()
                }

                async fn article_version(&self, tenant_id: Uuid, id: Uuid, number: i32) -> StoreResult<ArticleVersion> {
                    let row: Option<VersionRow> = sqlx::query_as(
                        "SELECT version, title, body, category, tags, asset_models, ticket_categories, visibility, edited_by, edited_at, reverted_from \
                         FROM article_versions WHERE tenant_id = $1 AND article_id = $2 AND version = $3",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await?;
                    version(row.ok_or(StoreError::NotFound("article version"))?)
                }

                #[tracing::instrument(skip_all)]
                async fn match_articles(&self, tenant_id: Uuid, terms: &[String], public_only: bool, limit: u32) -> StoreResult<Vec<ArticleMatch>> {
                    if terms.is_empty() {
                        return Ok(Vec::new());
                    }
                    let text = any_term_query(Self::BACKEND, terms);
                    let mut query = QueryBuilder::<$db>::new("");
                    match Self::BACKEND {
                        Backend::Postgres => {
                            query
                                .push("SELECT e.id, CAST(ts_rank(e.document, to_tsquery('simple', ")
                                .push_bind(text.clone())
                                .push(")) AS DOUBLE PRECISION) AS score FROM search_entries e WHERE e.tenant_id = ")
                                .push_bind(tenant_id)
                                .push(" AND e.kind = 'article' AND e.document @@ to_tsquery('simple', ")
                                .push_bind(text)
                                .push(")");
                        }
                        Backend::Sqlite => {
                            query
                                .push("SELECT e.id, (-bm25(article_fts, 4.0, 1.0)) AS score FROM article_fts \
                                       JOIN search_entries e ON e.rowid = article_fts.rowid WHERE e.tenant_id = ")
                                .push_bind(tenant_id)
                                .push(" AND e.kind = 'article' AND article_fts MATCH ")
                                .push_bind(text);
                        }
                    }
                    if public_only {
                        query
                            .push(" AND e.id IN (SELECT p.id FROM articles p WHERE p.tenant_id = ")
                            .push_bind(tenant_id)
                            .push(" AND p.visibility = 'public')");
                    }
                    query.push(" ORDER BY score DESC, e.id DESC LIMIT ").push_bind(i64::from(limit));
                    let hits: Vec<(Uuid, f64)> = query.build_query_as().fetch_all(&self.pool).await?;
                    let mut out = Vec::with_capacity(hits.len());
                    for (id, score) in hits {
                        match Self::article_row(tenant_id, id, &self.pool).await {
                            Ok(article) => out.push(ArticleMatch { article, score }),
                            Err(StoreError::NotFound(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(out)
                }

                #[tracing::instrument(skip_all)]
                async fn articles_applying_to(&self, tenant_id: Uuid, ticket_category: &str, asset_model: Option<&str>, limit: u32) -> StoreResult<Vec<Article>> {
                    let rows: Vec<ArticleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.tenant_id = $1 AND a.id IN (\
                         SELECT l.article_id FROM article_links l WHERE l.tenant_id = $1 AND \
                         ((l.kind = 'ticket_category' AND l.value = $2) OR (l.kind = 'asset_model' AND l.value = $3))) \
                         ORDER BY a.updated_at DESC, a.id LIMIT $4"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_category)
                    .bind(asset_model)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(article).collect()
                }

                async fn record_article_feedback(&self, tenant_id: Uuid, article_id: Uuid, voter: &str, helpful: bool) -> StoreResult<Feedback> {
                    let mut tx = self.begin_write().await?;
                    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM articles WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant_id)
                        .bind(article_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    exists.ok_or(StoreError::NotFound("article"))?;
                    sqlx::query(
                        "INSERT INTO article_feedback (tenant_id, article_id, voter, helpful, at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (article_id, voter) DO UPDATE SET helpful = excluded.helpful, at = excluded.at",
                    )
                    .bind(tenant_id)
                    .bind(article_id)
                    .bind(voter)
                    .bind(helpful)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    self.article_feedback(tenant_id, article_id).await
                }

                async fn article_feedback(&self, tenant_id: Uuid, article_id: Uuid) -> StoreResult<Feedback> {
                    let (helpful, not_helpful): (i64, i64) = sqlx::query_as(
                        "SELECT COALESCE(SUM(CASE WHEN helpful THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN helpful THEN 0 ELSE 1 END), 0) \
                         FROM article_feedback WHERE tenant_id = $1 AND article_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(article_id)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(Feedback { helpful: helpful.max(0) as u64, not_helpful: not_helpful.max(0) as u64 })
                }

                async fn record_article_view(&self, tenant_id: Uuid, article_id: Uuid, visitor: &str) -> StoreResult<()> {
                    sqlx::query("INSERT INTO article_views (id, tenant_id, article_id, visitor, opened_at, submitted_at) VALUES ($1, $2, $3, $4, $5, NULL)")
                        .bind(Uuid::now_v7())
                        .bind(tenant_id)
                        .bind(article_id)
                        .bind(visitor)
                        .bind(now())
                        .execute(&self.pool)
                        .await
                        .map_err(|e| crate::store::sql::write_error(e, "view already recorded", ("article_id", "no such article")))?;
                    Ok(())
                }

                async fn mark_visitor_submitted(&self, tenant_id: Uuid, visitor: &str) -> StoreResult<()> {
                    sqlx::query("UPDATE article_views SET submitted_at = $3 WHERE tenant_id = $1 AND visitor = $2 AND submitted_at IS NULL")
                        .bind(tenant_id)
                        .bind(visitor)
                        .bind(now())
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn article_view_counts(&self, tenant_id: Uuid, article_id: Uuid, settled_before: DateTime<Utc>) -> StoreResult<ViewCounts> {
                    let (views, deflections): (i64, i64) = sqlx::query_as(
                        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN submitted_at IS NULL AND opened_at < $3 THEN 1 ELSE 0 END), 0) \
                         FROM article_views WHERE tenant_id = $1 AND article_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(article_id)
                    .bind(settled_before)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(ViewCounts { views: views.max(0) as u64, deflections: deflections.max(0) as u64 })
                }

                #[tracing::instrument(skip_all)]
                async fn merge_ticket(&self, actor: Actor, before: &Ticket, after: &Ticket, document: Option<&DocumentChange>, target_id: Uuid) -> StoreResult<(Ticket, MergeRecord)> {
                    let author = actor.user_id.ok_or(StoreError::Reference { field: "merged_by", message: "tickets are merged by a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    let target = Self::fetch_ticket(&mut tx, actor.tenant_id, target_id).await?;
                    let merged: Option<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT source_id, target_id FROM ticket_merges WHERE tenant_id = $1 AND source_id IN ($2, $3) LIMIT 1",
                    )
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(target_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((source, _)) = merged {
                        return Err(StoreError::Conflict(if source == before.id {
                            "this ticket is already merged into another".into()
                        } else {
                            format!("{} is itself merged into another ticket; merge into that one", target.number)
                        }));
                    }
                    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE tickets SET status = $4, hold_reason = $5, assignee_id = $6, updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(before.updated_at)
                    .bind(after.status.as_str())
                    .bind(after.hold_reason.map(|r| r.as_str()))
                    .bind(after.assignee_id)
                    .bind(next_version(before.updated_at))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        Self::fetch_ticket(&mut tx, actor.tenant_id, before.id).await?;
                        return Err(StoreError::Conflict("the ticket was changed by someone else; reload and retry".into()));
                    };
                    let updated = Ticket::try_from(row)?;
                    if let Some(change) = document {
                        Self::write_document_change_in(&mut tx, actor.tenant_id, updated.id, change).await?;
                    }
                    if (before.status, before.hold_reason) != (updated.status, updated.hold_reason) {
                        Self::append_status_history(&mut tx, actor.tenant_id, updated.id, updated.updated_at, updated.status, updated.hold_reason).await?;
                    }
                    Self::enqueue_ticket_webhooks_in(&mut tx, Some(before), &updated).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.update", "ticket", Some(updated.id), Some(before), Some(&updated))).await?;
                    let moved = sqlx::query("UPDATE comments SET ticket_id = $3 WHERE tenant_id = $1 AND ticket_id = $2")
                        .bind(actor.tenant_id)
                        .bind(before.id)
                        .bind(target_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let moved = i64::try_from(moved).unwrap_or(i64::MAX);
                    Self::merge_note(&mut tx, actor.tenant_id, before.id, author, &format!("Duplicate of {}: merged into it.", target.number)).await?;
                    Self::merge_note(&mut tx, actor.tenant_id, target_id, author, &format!("{} merged into this ticket (comments moved: {moved}).", before.number)).await?;
                    let record = MergeRecord {
                        source_id: before.id,
                        source_number: before.number.clone(),
                        target_id,
                        target_number: target.number.clone(),
                        comments_moved: moved,
                        merged_by: actor.user_id,
                        merged_at: now(),
                    };
                    sqlx::query(
                        "INSERT INTO ticket_merges (source_id, tenant_id, target_id, comments_moved, merged_by, merged_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(record.source_id)
                    .bind(actor.tenant_id)
                    .bind(record.target_id)
                    .bind(i32::try_from(moved).unwrap_or(i32::MAX))
                    .bind(record.merged_by)
                    .bind(record.merged_at)
                    .execute(&mut *tx)
                    .await?;
                    // The customer hears of it once: one message per channel,
                    // keyed by the merge (a ticket is merged at most once).
                    let context = |contact_name: &str| $crate::store::notify::NoticeContext {
                        ticket_number: before.number.clone(),
                        ticket_title: before.title.clone(),
                        customer_name: contact_name.to_owned(),
                        merged_into: Some(target.number.clone()),
                        merged_into_id: Some(target_id),
                        ..Default::default()
                    };
                    Self::enqueue_notices_in(
                        &mut tx,
                        (actor.tenant_id, before.id, before.site_id),
                        $crate::store::notify::NoticeEvent::TicketMerged,
                        &format!("merged:{target_id}"),
                        &context,
                    )
                    .await?;
                    Self::index_ticket(&mut tx, actor.tenant_id, before.id).await?;
                    Self::index_ticket(&mut tx, actor.tenant_id, target_id).await?;
                    for entity in [before.id, target_id] {
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.merge", "ticket", Some(entity), None, Some(&record))).await?;
                    }
                    tx.commit().await?;
                    Ok((updated, record))
                }

                async fn ticket_merges(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<Vec<MergeRecord>> {
                    let rows: Vec<MergeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "{MERGE_SELECT} WHERE m.tenant_id = $1 AND (m.source_id = $2 OR m.target_id = $2) ORDER BY m.merged_at, m.source_id"
                    )))
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(merge_record).collect())
                }

                #[tracing::instrument(skip_all)]
                async fn link_child(&self, actor: Actor, parent_id: Uuid, child_id: Uuid) -> StoreResult<()> {
                    if parent_id == child_id {
                        return Err(StoreError::Reference { field: "ticket_id", message: "a ticket cannot be its own sub-ticket".into() });
                    }
                    let mut tx = self.begin_write().await?;
                    let parent = Self::fetch_ticket(&mut tx, actor.tenant_id, parent_id).await?;
                    let child = match Self::fetch_ticket(&mut tx, actor.tenant_id, child_id).await {
                        Ok(child) => child,
                        Err(StoreError::NotFound(_)) => return Err(StoreError::Reference { field: "ticket_id", message: "no such ticket".into() }),
                        Err(e) => return Err(e),
                    };
                    let customers: Vec<Uuid> = sqlx::query_scalar("SELECT customer_id FROM sites WHERE tenant_id = $1 AND id IN ($2, $3)")
                        .bind(actor.tenant_id)
                        .bind(parent.site_id)
                        .bind(child.site_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    if customers.windows(2).any(|w| w[0] != w[1]) {
                        return Err(StoreError::Reference { field: "ticket_id", message: "a sub-ticket is for the same customer as its parent".into() });
                    }
                    let links: Vec<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT child_id, parent_id FROM ticket_children WHERE tenant_id = $1 AND (child_id IN ($2, $3) OR parent_id = $3)",
                    )
                    .bind(actor.tenant_id)
                    .bind(parent_id)
                    .bind(child_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (linked_child, linked_parent) in links {
                        let why = if linked_child == parent_id {
                            format!("{} is itself a sub-ticket; split its parent instead", parent.number)
                        } else if linked_child == child_id {
                            format!("{} is already a sub-ticket", child.number)
                        } else if linked_parent == child_id {
                            format!("{} has sub-tickets of its own", child.number)
                        } else {
                            continue;
                        };
                        return Err(StoreError::Conflict(why));
                    }
                    sqlx::query("INSERT INTO ticket_children (child_id, tenant_id, parent_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(child_id)
                        .bind(actor.tenant_id)
                        .bind(parent_id)
                        .bind(actor.user_id)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    let link = serde_json::json!({"parent": parent.number, "child": child.number});
                    for entity in [parent_id, child_id] {
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.child_link", "ticket", Some(entity), None, Some(&link))).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn unlink_child(&self, actor: Actor, parent_id: Uuid, child_id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let removed = sqlx::query("DELETE FROM ticket_children WHERE tenant_id = $1 AND parent_id = $2 AND child_id = $3")
                        .bind(actor.tenant_id)
                        .bind(parent_id)
                        .bind(child_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if removed == 0 {
                        return Err(StoreError::NotFound("sub-ticket"));
                    }
                    let link = serde_json::json!({"parent": parent_id, "child": child_id});
                    for entity in [parent_id, child_id] {
                        audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.child_unlink", "ticket", Some(entity), Some(&link), None)).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn ticket_family(&self, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<(Option<FamilyMember>, Vec<FamilyMember>)> {
                    type MemberRow = (Uuid, String, String, String);
                    let member = |(id, number, title, status): MemberRow| FamilyMember { id, number, title, status };
                    let parent: Option<MemberRow> = sqlx::query_as(
                        "SELECT t.id, t.number, t.title, t.status FROM ticket_children c JOIN tickets t ON t.id = c.parent_id \
                         WHERE c.tenant_id = $1 AND c.child_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let children: Vec<MemberRow> = sqlx::query_as(
                        "SELECT t.id, t.number, t.title, t.status FROM ticket_children c JOIN tickets t ON t.id = c.child_id \
                         WHERE c.tenant_id = $1 AND c.parent_id = $2 ORDER BY t.id",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok((parent.map(member), children.into_iter().map(member).collect()))
                }

                #[tracing::instrument(skip_all, fields(article = %article_id))]
                async fn add_article_attachment(&self, actor: Actor, article_id: Uuid, new: &$crate::domain::knowledge::NewAttachment, max_per_article: u32) -> StoreResult<$crate::domain::knowledge::ArticleAttachment> {
                    let mut tx = self.begin_write().await?;
                    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM articles WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(article_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    exists.ok_or(StoreError::NotFound("article"))?;
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM article_attachments WHERE tenant_id = $1 AND article_id = $2")
                        .bind(actor.tenant_id)
                        .bind(article_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if count >= i64::from(max_per_article) {
                        return Err(StoreError::Conflict(format!("an article has at most {max_per_article} attachments; delete one first")));
                    }
                    let attachment = $crate::domain::knowledge::ArticleAttachment {
                        id: Uuid::now_v7(),
                        article_id,
                        name: new.name.clone(),
                        content_type: new.content_type.clone(),
                        size: new.size,
                        sha256: new.sha256.clone(),
                        created_by: actor.user_id,
                        created_at: now(),
                    };
                    sqlx::query(
                        "INSERT INTO article_attachments (id, tenant_id, article_id, name, content_type, size, sha256, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(attachment.id)
                    .bind(actor.tenant_id)
                    .bind(article_id)
                    .bind(&attachment.name)
                    .bind(&attachment.content_type)
                    .bind(attachment.size)
                    .bind(&attachment.sha256)
                    .bind(attachment.created_by)
                    .bind(attachment.created_at)
                    .execute(&mut *tx)
                    .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "article.attachment_add", "article", Some(article_id), None, Some(&attachment))).await?;
                    tx.commit().await?;
                    Ok(attachment)
                }

                async fn article_attachments(&self, tenant_id: Uuid, article_id: Uuid) -> StoreResult<Vec<$crate::domain::knowledge::ArticleAttachment>> {
                    let rows: Vec<AttachmentRow> = sqlx::query_as(
                        "SELECT id, article_id, name, content_type, size, sha256, created_by, created_at FROM article_attachments \
                         WHERE tenant_id = $1 AND article_id = $2 ORDER BY created_at, id",
                    )
                    .bind(tenant_id)
                    .bind(article_id)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(attachment).collect())
                }

                async fn article_attachment(&self, tenant_id: Uuid, article_id: Uuid, id: Uuid) -> StoreResult<$crate::domain::knowledge::ArticleAttachment> {
                    let row: Option<AttachmentRow> = sqlx::query_as(
                        "SELECT id, article_id, name, content_type, size, sha256, created_by, created_at FROM article_attachments \
                         WHERE tenant_id = $1 AND article_id = $2 AND id = $3",
                    )
                    .bind(tenant_id)
                    .bind(article_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(attachment).ok_or(StoreError::NotFound("attachment"))
                }

                #[tracing::instrument(skip_all, fields(article = %article_id))]
                async fn delete_article_attachment(&self, actor: Actor, article_id: Uuid, id: Uuid) -> StoreResult<($crate::domain::knowledge::ArticleAttachment, bool)> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<AttachmentRow> = sqlx::query_as(
                        "SELECT id, article_id, name, content_type, size, sha256, created_by, created_at FROM article_attachments \
                         WHERE tenant_id = $1 AND article_id = $2 AND id = $3",
                    )
                    .bind(actor.tenant_id)
                    .bind(article_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let gone = row.map(attachment).ok_or(StoreError::NotFound("attachment"))?;
                    sqlx::query("DELETE FROM article_attachments WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM article_attachments WHERE tenant_id = $1 AND sha256 = $2")
                        .bind(actor.tenant_id)
                        .bind(&gone.sha256)
                        .fetch_one(&mut *tx)
                        .await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "article.attachment_delete", "article", Some(article_id), Some(&gone), None)).await?;
                    tx.commit().await?;
                    Ok((gone, others > 0))
                }

                async fn merged_tickets(&self, tenant_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
                    Ok(sqlx::query_scalar(
                        "SELECT m.source_id FROM ticket_merges m JOIN tickets t ON t.id = m.source_id \
                         WHERE m.tenant_id = $1 AND t.created_at >= $2 AND t.created_at < $3",
                    )
                    .bind(tenant_id)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn duplicate_pool(&self, tenant_id: Uuid, customer_id: Uuid, since: DateTime<Utc>, exclude: Option<Uuid>, limit: u32) -> StoreResult<Vec<PoolTicket>> {
                    type PoolRow = (Uuid, String, String, String, String, Uuid, Uuid, Option<Uuid>, DateTime<Utc>);
                    let rows: Vec<PoolRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT t.id, t.number, t.title, t.description, t.status, s.customer_id, t.site_id, t.asset_id, t.created_at \
                         FROM tickets t JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         WHERE t.tenant_id = $1 AND s.customer_id = $2 AND t.created_at >= $3 AND {OPEN_STATUSES} \
                         AND ($4 IS NULL OR t.id <> $4) ORDER BY t.created_at DESC LIMIT $5"
                    )))
                    .bind(tenant_id)
                    .bind(customer_id)
                    .bind(since)
                    .bind(exclude)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, number, title, description, status, customer_id, site_id, asset_id, created_at)| PoolTicket {
                            id, number, title, description, status, customer_id, site_id, asset_id, created_at,
                        })
                        .collect())
                }
            }
        };
    };
}

pub(in crate::store) use impl_knowledge_store;
