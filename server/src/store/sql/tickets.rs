//! SQL behind `TicketStore`: categories, ticket headers and comments, and the
//! ticket helpers other writes call inside their own transactions.

macro_rules! impl_ticket_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::{QueryBuilder, types::Json};
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                lifecycle::ArchivedFilter,
                search::query_terms,
                ticket::{Category, Comment, NewCategory, NewComment, NewTicket, Ticket, ticket_number},
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult, TicketFilter,
                tickets::TicketOrder,
                rows::{CategoryRow, CommentRow, TicketRow, convert_all, into_page},
                sql::{CATEGORY_COLUMNS, TICKET_COLUMNS, archived_clause, audit, like_pattern, next_version, now, search_text, write_error},
                documents::DocumentChange,
                tickets::TicketStore,
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// [`TicketStore::update_ticket`] inside a caller's transaction (a rule chain's one write).
                pub(crate) async fn update_ticket_in(tx: &mut Tx, actor: Actor, before: &Ticket, after: &Ticket, document: Option<&DocumentChange>) -> StoreResult<Ticket> {
                    if after.asset_id != before.asset_id && after.asset_id.is_some() {
                        Self::check_choosable(tx, actor.tenant_id, after.site_id, after.asset_id, None).await?;
                    }
                    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE tickets SET title = $4, description = $5, priority = $6, required_skills = $7, asset_id = $8, \
                         tags = $9, custom_fields = $10, status = $11, hold_reason = $12, assignee_id = $13, updated_at = $14, search_text = $15, \
                         checkin_verified = $16, checkin_distance_m = $17, checkin_accuracy_m = $18, checkin_at = $19 \
                         WHERE tenant_id = $1 AND id = $2 AND updated_at = $3 RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(before.updated_at)
                    .bind(after.title.trim())
                    .bind(&after.description)
                    .bind(after.priority.as_str())
                    .bind(Json(&after.required_skills))
                    .bind(after.asset_id)
                    .bind(Json(&after.tags))
                    .bind(Json(&after.custom_fields))
                    .bind(after.status.as_str())
                    .bind(after.hold_reason.map(|r| r.as_str()))
                    .bind(after.assignee_id)
                    .bind(next_version(before.updated_at))
                    .bind(search_text(&after.title, &after.description))
                    .bind(after.check_in.and_then(|c| c.verified))
                    .bind(after.check_in.and_then(|c| c.distance_m))
                    .bind(after.check_in.and_then(|c| c.accuracy_m))
                    .bind(after.check_in.map(|c| c.at))
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(|e| write_error(e, "conflicting ticket", ("assignee_id", "no such technician or asset in this tenant")))?;
                    let Some(row) = row else {
                        // Either gone or changed since `before` was read.
                        Self::fetch_ticket(tx, actor.tenant_id, before.id).await?;
                        return Err(StoreError::Conflict("the ticket was changed by someone else; reload and retry".into()));
                    };
                    if before.tags != after.tags {
                        Self::replace_tags(tx, before.id, &after.tags).await?;
                    }
                    let updated = Ticket::try_from(row)?;
                    if (&before.title, &before.description, before.asset_id) != (&updated.title, &updated.description, updated.asset_id) {
                        Self::index_ticket(tx, actor.tenant_id, updated.id).await?;
                    }
                    if let Some(change) = document {
                        Self::write_document_change_in(tx, actor.tenant_id, updated.id, change).await?;
                    }
                    if (before.status, before.hold_reason) != (updated.status, updated.hold_reason) {
                        Self::append_status_history(tx, actor.tenant_id, updated.id, updated.updated_at, updated.status, updated.hold_reason).await?;
                    }
                    Self::enqueue_ticket_webhooks_in(tx, Some(before), &updated).await?;
                    audit::append(tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.update", "ticket", Some(updated.id), Some(before), Some(&updated))).await?;
                    Ok(updated)
                }

                /// [`TicketStore::add_comment`] inside a caller's transaction.
                pub(crate) async fn add_comment_in(tx: &mut Tx, actor: Actor, ticket_id: Uuid, comment: &NewComment) -> StoreResult<Comment> {
                    let author_id = actor.user_id.ok_or(StoreError::Reference { field: "author_id", message: "comments are written by a user".into() })?;
                    let row: CommentRow = sqlx::query_as(
                        "INSERT INTO comments (id, tenant_id, ticket_id, author_id, body, visibility, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, ticket_id, author_id, body, visibility, created_at",
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(ticket_id)
                    .bind(author_id)
                    .bind(&comment.body)
                    .bind(comment.visibility.as_str())
                    .bind(now())
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(|e| match write_error(e, "comment already exists", ("ticket_id", "")) {
                        StoreError::Reference { .. } => StoreError::NotFound("ticket"),
                        other => other,
                    })?;
                    let created = Comment::try_from(row)?;
                    Self::index_ticket(tx, actor.tenant_id, ticket_id).await?;
                    audit::append(tx, actor.tenant_id, AuditEvent::new(actor.user_id, "comment.create", "comment", Some(created.id), None, Some(&created))).await?;
                    Self::enqueue_comment_notice_in(tx, &created).await?;
                    Ok(created)
                }

                async fn fetch_ticket(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket> {
                    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    row.ok_or(StoreError::NotFound("ticket"))?.try_into()
                }

                /// Refuses archived records for a ticket: its site, the
                /// site's customer, its asset, its category.
                async fn check_choosable(tx: &mut Tx, tenant_id: Uuid, site_id: Uuid, asset_id: Option<Uuid>, category: Option<&str>) -> StoreResult<()> {
                    let refused = |field: &'static str, message: &str| StoreError::Reference { field, message: message.to_owned() };
                    let site: Option<(bool, bool)> = sqlx::query_as(
                        "SELECT s.archived_at IS NOT NULL, c.archived_at IS NOT NULL FROM sites s \
                         JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id WHERE s.tenant_id = $1 AND s.id = $2",
                    )
                    .bind(tenant_id)
                    .bind(site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    match site {
                        Some((true, _)) => return Err(refused("site_id", "the site is archived; restore it or choose another site")),
                        Some((_, true)) => return Err(refused("site_id", "the site's customer is archived; restore the customer or choose another site")),
                        _ => {}
                    }
                    if let Some(asset_id) = asset_id {
                        let archived: Option<bool> = sqlx::query_scalar("SELECT archived_at IS NOT NULL FROM assets WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(asset_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                        if archived == Some(true) {
                            return Err(refused("asset_id", "the asset is archived; restore it or choose another asset"));
                        }
                    }
                    if let Some(category) = category {
                        let archived: Option<bool> = sqlx::query_scalar("SELECT archived_at IS NOT NULL FROM categories WHERE tenant_id = $1 AND name = $2")
                            .bind(tenant_id)
                            .bind(category)
                            .fetch_optional(&mut **tx)
                            .await?;
                        if archived == Some(true) {
                            return Err(refused("category", "the category is archived; restore it or choose another category"));
                        }
                    }
                    Ok(())
                }

                async fn replace_tags(tx: &mut Tx, ticket_id: Uuid, tags: &[String]) -> StoreResult<()> {
                    sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1")
                        .bind(ticket_id)
                        .execute(&mut **tx)
                        .await?;
                    let mut unique: Vec<&String> = tags.iter().collect();
                    unique.sort();
                    unique.dedup();
                    for tag in unique {
                        sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
                            .bind(ticket_id)
                            .bind(tag)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Ok(())
                }
            }

            #[async_trait]
            impl TicketStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_category(&self, actor: Actor, category: &NewCategory) -> StoreResult<Category> {
                    let mut tx = self.begin_write().await?;
                    let row: CategoryRow = sqlx::query_as(
                        "INSERT INTO categories (id, tenant_id, name, description, custom_fields_schema, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, tenant_id, name, description, custom_fields_schema, created_at, archived_at",
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(&category.name)
                    .bind(category.description.trim())
                    .bind(Json(&category.custom_fields_schema))
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a category with this name already exists", ("tenant", "no such tenant")))?;
                    let created = Category::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "category.create", "category", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn category_by_name(&self, tenant_id: Uuid, name: &str) -> StoreResult<Option<Category>> {
                    let row: Option<CategoryRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, description, custom_fields_schema, created_at, archived_at FROM categories WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(tenant_id)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(Category::try_from).transpose()
                }

                async fn list_categories(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Category>> {
                    self.list_categories_where(tenant_id, ArchivedFilter::All, page).await
                }

                async fn get_category(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Category> {
                    let row: Option<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CATEGORY_COLUMNS} FROM categories WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("category"))?.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn update_category(&self, actor: Actor, before: &Category, after: &Category) -> StoreResult<Category> {
                    let mut tx = self.begin_write().await?;
                    if before.name != after.name {
                        let named: i64 = sqlx::query_scalar(
                            "SELECT (SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND category = $2) \
                             + (SELECT COUNT(*) FROM sla_policies WHERE tenant_id = $1 AND category = $2)",
                        )
                        .bind(actor.tenant_id)
                        .bind(&before.name)
                        .fetch_one(&mut *tx)
                        .await?;
                        if named > 0 {
                            return Err(StoreError::InUse(format!(
                                "category keeps its name: {named} tickets or SLA policies refer to it by name"
                            )));
                        }
                    }
                    let row: Option<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE categories SET name = $3, description = $4, custom_fields_schema = $5 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {CATEGORY_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(&after.name)
                    .bind(after.description.trim())
                    .bind(Json(&after.custom_fields_schema))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a category with this name already exists", ("tenant", "no such tenant")))?;
                    let updated = Category::try_from(row.ok_or(StoreError::NotFound("category"))?)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "category.update", "category", Some(updated.id), Some(before), Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn list_categories_where(&self, tenant_id: Uuid, archived: ArchivedFilter, page: PageRequest) -> StoreResult<Page<Category>> {
                    let rows: Vec<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CATEGORY_COLUMNS} FROM categories \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3",
                        archived_clause(archived, "categories")
                    )))
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |c: &Category| c.id))
                }

                #[tracing::instrument(skip_all)]
                async fn create_ticket(&self, actor: Actor, ticket: &NewTicket) -> StoreResult<Ticket> {
                    let created_by = actor.user_id.ok_or(StoreError::Reference { field: "created_by", message: "tickets are created by a user".into() })?;
                    let mut tx = self.begin_write().await?;
                    Self::check_choosable(&mut tx, actor.tenant_id, ticket.site_id, ticket.asset_id, Some(&ticket.category)).await?;
                    let sequence: i64 = sqlx::query_scalar("UPDATE tenants SET ticket_seq = ticket_seq + 1 WHERE id = $1 RETURNING ticket_seq")
                        .bind(actor.tenant_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let at = now();
                    let id = Uuid::now_v7();
                    let row: TicketRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO tickets ({TICKET_COLUMNS}, search_text) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $14, $15, $15, NULL, NULL, NULL, NULL, $16) \
                         RETURNING {TICKET_COLUMNS}"
                    )))
                    .bind(id)
                    .bind(actor.tenant_id)
                    .bind(ticket_number(sequence))
                    .bind(ticket.title.trim())
                    .bind(&ticket.description)
                    .bind(&ticket.category)
                    .bind(ticket.priority.as_str())
                    .bind(Json(&ticket.required_skills))
                    .bind(ticket.site_id)
                    .bind(ticket.asset_id)
                    .bind(Json(&ticket.tags))
                    .bind(Json(&ticket.custom_fields))
                    .bind(truckroll_sync::Status::New.as_str())
                    .bind(created_by)
                    .bind(at)
                    .bind(search_text(&ticket.title, &ticket.description))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "ticket already exists", ("site_id", "no such site (or asset) in this tenant")))?;
                    Self::replace_tags(&mut tx, id, &ticket.tags).await?;
                    Self::index_ticket(&mut tx, actor.tenant_id, id).await?;
                    let created = Ticket::try_from(row)?;
                    Self::append_status_history(&mut tx, actor.tenant_id, created.id, created.created_at, created.status, created.hold_reason).await?;
                    Self::enqueue_ticket_webhooks_in(&mut tx, None, &created).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "ticket.create", "ticket", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                #[tracing::instrument(skip_all)]
                async fn ticket_id_by_number(&self, tenant_id: Uuid, number: &str) -> StoreResult<Option<Uuid>> {
                    Ok(sqlx::query_scalar("SELECT id FROM tickets WHERE tenant_id = $1 AND number = $2")
                        .bind(tenant_id)
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn get_ticket(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Ticket> {
                    let row: Option<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("ticket"))?.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn list_tickets(&self, tenant_id: Uuid, filter: &TicketFilter, page: PageRequest) -> StoreResult<Page<Ticket>> {
                    let terms = filter.search.as_deref().map(query_terms);
                    if terms.as_ref().is_some_and(Vec::is_empty) {
                        // A search without a word finds nothing.
                        return Ok(Page { items: Vec::new(), next_after: None });
                    }
                    let ranked = filter.order == TicketOrder::Relevance && terms.is_some();
                    let mut query = QueryBuilder::<$db>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets t"));
                    if let (true, Some(terms)) = (ranked, &terms) {
                        query.push(" JOIN ");
                        Self::push_ticket_scores(&mut query, tenant_id, terms);
                        query.push(" r ON r.hit_id = t.id");
                    }
                    query.push(" WHERE tenant_id = ");
                    query.push_bind(tenant_id);
                    match (filter.order, page.after) {
                        (_, None) | (TicketOrder::Relevance, _) => {}
                        (TicketOrder::Created, Some(after)) => {
                            query.push(" AND id > ").push_bind(after);
                        }
                        (TicketOrder::CreatedDesc, Some(after)) => {
                            query.push(" AND id < ").push_bind(after);
                        }
                        (TicketOrder::Priority, Some(after)) => {
                            // Priorities `P1`…`P4` sort as text; the cursor's row gives its place.
                            query
                                .push(" AND (priority, id) > (SELECT a.priority, a.id FROM tickets a WHERE a.tenant_id = t.tenant_id AND a.id = ")
                                .push_bind(after)
                                .push(")");
                        }
                    }
                    if filter.open_only {
                        query.push(" AND status NOT IN ('closed', 'cancelled')");
                    }
                    if let Some(customer) = filter.customer_id {
                        query.push(" AND site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = t.tenant_id AND s.customer_id = ")
                            .push_bind(customer)
                            .push(")");
                    }
                    if let Some(asset) = filter.asset_id {
                        query.push(" AND asset_id = ").push_bind(asset);
                    }
                    if let (false, Some(terms)) = (ranked, &terms) {
                        Self::push_ticket_match(&mut query, tenant_id, terms);
                    }
                    if let Some(status) = filter.status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    if let Some(assignee) = filter.assignee_id {
                        query.push(" AND assignee_id = ").push_bind(assignee);
                    }
                    if let Some(priority) = filter.priority {
                        query.push(" AND priority = ").push_bind(priority.as_str());
                    }
                    if let Some(category) = &filter.category {
                        query.push(" AND category = ").push_bind(category.clone());
                    }
                    if let Some(site) = filter.site_id {
                        query.push(" AND site_id = ").push_bind(site);
                    }
                    if let Some(territory) = filter.territory_id {
                        query.push(" AND site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = t.tenant_id AND s.territory_id = ")
                            .push_bind(territory)
                            .push(")");
                    }
                    if let Some(tag) = &filter.tag {
                        query.push(" AND EXISTS (SELECT 1 FROM ticket_tags tt WHERE tt.ticket_id = t.id AND tt.tag = ").push_bind(tag.clone()).push(")");
                    }
                    if let Some(from) = filter.created_from {
                        query.push(" AND created_at >= ").push_bind(from);
                    }
                    if let Some(to) = filter.created_to {
                        query.push(" AND created_at < ").push_bind(to);
                    }
                    if let Some(from) = filter.completed_from {
                        query.push(" AND completed_at >= ").push_bind(from);
                    }
                    if let Some(to) = filter.completed_to {
                        query.push(" AND completed_at < ").push_bind(to);
                    }
                    if let Some(text) = &filter.text {
                        let pattern = like_pattern(text);
                        query.push(" AND search_text LIKE ").push_bind(pattern).push(" ESCAPE '\\'");
                    }
                    let order = match filter.order {
                        _ if ranked => " ORDER BY r.hit_score DESC, id DESC LIMIT ",
                        TicketOrder::CreatedDesc => " ORDER BY id DESC LIMIT ",
                        TicketOrder::Priority => " ORDER BY priority, id LIMIT ",
                        TicketOrder::Created | TicketOrder::Relevance => " ORDER BY id LIMIT ",
                    };
                    query.push(order).push_bind(i64::from(page.limit) + 1);
                    let rows: Vec<TicketRow> = query.build_query_as().fetch_all(&self.pool).await?;
                    let mut page = into_page(convert_all(rows)?, page.limit, |t: &Ticket| t.id);
                    if ranked {
                        // Ranked answers are one page: a cursor is an id, not a rank.
                        page.next_after = None;
                    }
                    Ok(page)
                }

                #[tracing::instrument(skip_all)]
                async fn update_ticket(&self, actor: Actor, before: &Ticket, after: &Ticket, document: Option<&DocumentChange>) -> StoreResult<Ticket> {
                    let mut tx = self.begin_write().await?;
                    let updated = Self::update_ticket_in(&mut tx, actor, before, after, document).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                #[tracing::instrument(skip_all)]
                async fn add_comment(&self, actor: Actor, ticket_id: Uuid, comment: &NewComment) -> StoreResult<Comment> {
                    let mut tx = self.begin_write().await?;
                    let created = Self::add_comment_in(&mut tx, actor, ticket_id, comment).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn list_comments(&self, tenant_id: Uuid, ticket_id: Uuid, page: PageRequest) -> StoreResult<Page<Comment>> {
                    let rows: Vec<CommentRow> = sqlx::query_as(
                        "SELECT id, tenant_id, ticket_id, author_id, body, visibility, created_at FROM comments \
                         WHERE tenant_id = $1 AND ticket_id = $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |c: &Comment| c.id))
                }

                async fn comments_of_tickets(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<Comment>> {
                    let mut out = Vec::new();
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT id, tenant_id, ticket_id, author_id, body, visibility, created_at FROM comments WHERE tenant_id = ",
                        );
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(") ORDER BY id");
                        let rows: Vec<CommentRow> = query.build_query_as().fetch_all(&self.pool).await?;
                        out.extend(convert_all::<CommentRow, Comment>(rows)?);
                    }
                    Ok(out)
                }
            }
        };
    };
}

pub(in crate::store) use impl_ticket_store;
