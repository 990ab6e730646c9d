//! SQL behind `CustomerStore`: customers, sites and assets.

macro_rules! impl_customer_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                customers::{Asset, Customer, NewAsset, NewCustomer, NewSite, Site},
                lifecycle::ArchivedFilter,
                ticket::Ticket,
                people::normalize_email,
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                customers::{CustomerStore, TicketReference},
                rows::{AssetRow, CustomerRow, SiteRow, TicketRow, convert_all, into_page},
                sql::{ASSET_COLUMNS, CUSTOMER_COLUMNS, SITE_COLUMNS, TICKET_COLUMNS, archived_clause, audit, now, write_error},
            };

            #[async_trait]
            impl CustomerStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer> {
                    let mut tx = self.begin_write().await?;
                    let row: CustomerRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO customers (id, tenant_id, name, tier, email, phone, created_at, contact_person) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CUSTOMER_COLUMNS}")),
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(customer.name.trim())
                    .bind(customer.tier.as_str())
                    .bind(customer.email.as_deref().map(normalize_email))
                    .bind(&customer.phone)
                    .bind(now())
                    .bind(customer.contact_person.as_deref().map(str::trim))
                    .fetch_one(&mut *tx)
                    .await?;
                    let created = Customer::try_from(row)?;
                    Self::index_customer(&mut tx, actor.tenant_id, created.id, false).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "customer.create", "customer", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer> {
                    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2")),
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("customer"))?.try_into()
                }

                async fn list_customers(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Customer>> {
                    self.list_customers_where(tenant_id, ArchivedFilter::All, page).await
                }

                async fn list_customers_where(&self, tenant_id: Uuid, archived: ArchivedFilter, page: PageRequest) -> StoreResult<Page<Customer>> {
                    let rows: Vec<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {CUSTOMER_COLUMNS} FROM customers \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3", archived_clause(archived, "customers"))),
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |x: &Customer| x.id))
                }

                #[tracing::instrument(skip_all)]
                async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site> {
                    let mut tx = self.begin_write().await?;
                    // Resolved under the tenant lock that territory writes take (territories.rs).
                    let territory_id = Self::resolve_site_territory(&mut tx, actor.tenant_id, site.location).await?;
                    let row: SiteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at, territory_id, access_notes, opening_hours) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         RETURNING {SITE_COLUMNS}")),
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(site.customer_id)
                    .bind(site.name.trim())
                    .bind(site.address.trim())
                    .bind(site.location.lat)
                    .bind(site.location.lon)
                    .bind(now())
                    .bind(territory_id)
                    .bind(&site.access_notes)
                    .bind(&site.opening_hours)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "site already exists", ("customer_id", "no such customer")))?;
                    let created = Site::try_from(row)?;
                    Self::index_site(&mut tx, actor.tenant_id, created.id, false).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "site.create", "site", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site> {
                    let row: Option<SiteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SITE_COLUMNS} FROM sites WHERE tenant_id = $1 AND id = $2")),
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("site"))?.try_into()
                }

                async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>> {
                    self.list_sites_where(tenant_id, ArchivedFilter::All, page).await
                }

                async fn list_sites_where(&self, tenant_id: Uuid, archived: ArchivedFilter, page: PageRequest) -> StoreResult<Page<Site>> {
                    let rows: Vec<SiteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {SITE_COLUMNS} FROM sites \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3", archived_clause(archived, "sites"))),
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |x: &Site| x.id))
                }

                #[tracing::instrument(skip_all)]
                async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset> {
                    let mut tx = self.begin_write().await?;
                    let row: AssetRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO assets (id, tenant_id, site_id, serial, model, warranty_end, created_at, installed_on) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ASSET_COLUMNS}")),
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(asset.site_id)
                    .bind(asset.serial.trim())
                    .bind(asset.model.trim())
                    .bind(asset.warranty_end)
                    .bind(now())
                    .bind(asset.installed_on)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "an asset with this serial already exists", ("site_id", "no such site")))?;
                    let created = Asset::try_from(row)?;
                    Self::index_asset(&mut tx, actor.tenant_id, created.id, false).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "asset.create", "asset", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset> {
                    let row: Option<AssetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ASSET_COLUMNS} FROM assets WHERE tenant_id = $1 AND id = $2")),
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("asset"))?.try_into()
                }

                async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>> {
                    self.list_assets_where(tenant_id, ArchivedFilter::All, page).await
                }

                async fn list_assets_where(&self, tenant_id: Uuid, archived: ArchivedFilter, page: PageRequest) -> StoreResult<Page<Asset>> {
                    let rows: Vec<AssetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ASSET_COLUMNS} FROM assets \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3", archived_clause(archived, "assets"))),
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |x: &Asset| x.id))
                }
                #[tracing::instrument(skip_all)]
                async fn update_customer(&self, actor: Actor, before: &Customer, after: &Customer) -> StoreResult<Customer> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE customers SET name = $3, tier = $4, email = $5, phone = $6, contact_person = $7 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {CUSTOMER_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(&after.name)
                    .bind(after.tier.as_str())
                    .bind(&after.email)
                    .bind(&after.phone)
                    .bind(&after.contact_person)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let updated = Customer::try_from(row.ok_or(StoreError::NotFound("customer"))?)?;
                    Self::index_customer(&mut tx, actor.tenant_id, updated.id, before.name != updated.name).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "customer.update", "customer", Some(updated.id), Some(before), Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                #[tracing::instrument(skip_all)]
                async fn update_site(&self, actor: Actor, before: &Site, after: &Site) -> StoreResult<Site> {
                    let mut tx = self.begin_write().await?;
                    // A moved site is resolved again, under the tenant lock territory writes take.
                    let territory_id = if after.location == before.location {
                        before.territory_id
                    } else {
                        Self::resolve_site_territory(&mut tx, actor.tenant_id, after.location).await?
                    };
                    let row: Option<SiteRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE sites SET name = $3, address = $4, access_notes = $5, opening_hours = $6, \
                         customer_id = $7, lat = $8, lon = $9, territory_id = $10 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {SITE_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(&after.name)
                    .bind(&after.address)
                    .bind(&after.access_notes)
                    .bind(&after.opening_hours)
                    .bind(after.customer_id)
                    .bind(after.location.lat)
                    .bind(after.location.lon)
                    .bind(territory_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "conflicting site", ("customer_id", "no such customer")))?;
                    let updated = Site::try_from(row.ok_or(StoreError::NotFound("site"))?)?;
                    let shown = (&before.name, &before.address, before.customer_id) != (&updated.name, &updated.address, updated.customer_id);
                    Self::index_site(&mut tx, actor.tenant_id, updated.id, shown).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "site.update", "site", Some(updated.id), Some(before), Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                #[tracing::instrument(skip_all)]
                async fn update_asset(&self, actor: Actor, before: &Asset, after: &Asset) -> StoreResult<Asset> {
                    let mut tx = self.begin_write().await?;
                    let row: Option<AssetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE assets SET model = $3, warranty_end = $4, installed_on = $5, serial = $6, site_id = $7 \
                         WHERE tenant_id = $1 AND id = $2 RETURNING {ASSET_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(before.id)
                    .bind(&after.model)
                    .bind(after.warranty_end)
                    .bind(after.installed_on)
                    .bind(after.serial.trim())
                    .bind(after.site_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "an asset with this serial already exists", ("site_id", "no such site")))?;
                    let updated = Asset::try_from(row.ok_or(StoreError::NotFound("asset"))?)?;
                    Self::index_asset(&mut tx, actor.tenant_id, updated.id, before.serial != updated.serial).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "asset.update", "asset", Some(updated.id), Some(before), Some(&updated))).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn asset_history(&self, tenant_id: Uuid, asset_id: Uuid, except: Uuid, limit: u32) -> StoreResult<Vec<Ticket>> {
                    let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND asset_id = $2 AND id <> $3 \
                         ORDER BY created_at DESC, id DESC LIMIT $4"
                    )))
                    .bind(tenant_id)
                    .bind(asset_id)
                    .bind(except)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    convert_all(rows)
                }
                async fn assigned_ticket_references(&self, tenant_id: Uuid, technician_id: Uuid, reference: TicketReference) -> StoreResult<bool> {
                    let (sql, id) = match reference {
                        TicketReference::Site(id) => ("SELECT t.id FROM tickets t WHERE t.tenant_id = $1 AND t.assignee_id = $2 AND t.site_id = $3 LIMIT 1", id),
                        TicketReference::Asset(id) => ("SELECT t.id FROM tickets t WHERE t.tenant_id = $1 AND t.assignee_id = $2 AND t.asset_id = $3 LIMIT 1", id),
                        TicketReference::Customer(id) => (
                            "SELECT t.id FROM tickets t JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                             WHERE t.tenant_id = $1 AND t.assignee_id = $2 AND s.customer_id = $3 LIMIT 1",
                            id,
                        ),
                    };
                    let found: Option<Uuid> = sqlx::query_scalar(sql)
                        .bind(tenant_id)
                        .bind(technician_id)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(found.is_some())
                }
            }
        };
    };
}

pub(in crate::store) use impl_customer_store;
