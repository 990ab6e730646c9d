//! SQL behind `CustomerStore`: customers, sites and assets.

macro_rules! impl_customer_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                customers::{Asset, Customer, NewAsset, NewCustomer, NewSite, Site},
                people::normalize_email,
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                customers::CustomerStore,
                rows::{AssetRow, CustomerRow, SiteRow, convert_all, into_page},
                sql::{audit, now, write_error},
            };

            #[async_trait]
            impl CustomerStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_customer(&self, actor: Actor, customer: &NewCustomer) -> StoreResult<Customer> {
                    let mut tx = self.begin_write().await?;
                    let row: CustomerRow = sqlx::query_as(
                        "INSERT INTO customers (id, tenant_id, name, tier, email, phone, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, name, tier, email, phone, created_at",
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(customer.name.trim())
                    .bind(customer.tier.as_str())
                    .bind(customer.email.as_deref().map(normalize_email))
                    .bind(&customer.phone)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await?;
                    let created = Customer::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "customer.create", "customer", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_customer(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Customer> {
                    let row: Option<CustomerRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, tier, email, phone, created_at FROM customers WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("customer"))?.try_into()
                }

                async fn list_customers(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Customer>> {
                    let rows: Vec<CustomerRow> = sqlx::query_as(
                        "SELECT id, tenant_id, name, tier, email, phone, created_at FROM customers \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |c: &Customer| c.id))
                }

                #[tracing::instrument(skip_all)]
                async fn create_site(&self, actor: Actor, site: &NewSite) -> StoreResult<Site> {
                    let mut tx = self.begin_write().await?;
                    // Resolved under the tenant lock that territory writes take (territories.rs).
                    let territory_id = Self::resolve_site_territory(&mut tx, actor.tenant_id, site.location).await?;
                    let row: SiteRow = sqlx::query_as(
                        "INSERT INTO sites (id, tenant_id, customer_id, name, address, lat, lon, created_at, territory_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         RETURNING id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at",
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
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "site already exists", ("customer_id", "no such customer")))?;
                    let created = Site::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "site.create", "site", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_site(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Site> {
                    let row: Option<SiteRow> = sqlx::query_as(
                        "SELECT id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at FROM sites WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("site"))?.try_into()
                }

                async fn list_sites(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Site>> {
                    let rows: Vec<SiteRow> = sqlx::query_as(
                        "SELECT id, tenant_id, customer_id, name, address, lat, lon, territory_id, created_at FROM sites \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |s: &Site| s.id))
                }

                #[tracing::instrument(skip_all)]
                async fn create_asset(&self, actor: Actor, asset: &NewAsset) -> StoreResult<Asset> {
                    let mut tx = self.begin_write().await?;
                    let row: AssetRow = sqlx::query_as(
                        "INSERT INTO assets (id, tenant_id, site_id, serial, model, warranty_end, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tenant_id, site_id, serial, model, warranty_end, created_at",
                    )
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(asset.site_id)
                    .bind(asset.serial.trim())
                    .bind(asset.model.trim())
                    .bind(asset.warranty_end)
                    .bind(now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "an asset with this serial already exists", ("site_id", "no such site")))?;
                    let created = Asset::try_from(row)?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "asset.create", "asset", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_asset(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Asset> {
                    let row: Option<AssetRow> = sqlx::query_as(
                        "SELECT id, tenant_id, site_id, serial, model, warranty_end, created_at FROM assets WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("asset"))?.try_into()
                }

                async fn list_assets(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Asset>> {
                    let rows: Vec<AssetRow> = sqlx::query_as(
                        "SELECT id, tenant_id, site_id, serial, model, warranty_end, created_at FROM assets \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
                    )
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(into_page(convert_all(rows)?, page.limit, |a: &Asset| a.id))
                }
            }
        };
    };
}

pub(in crate::store) use impl_customer_store;
