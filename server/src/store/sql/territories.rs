//! SQL behind `TerritoryStore`: territories and site → territory resolution.
//!
//! Also gives the backend the `resolve_site_territory` helper that
//! `create_site` calls inside its own transaction.

/// Sites updated per statement when a territory write moves many at once.
pub(in crate::store) const SITE_CHUNK: usize = 500;

macro_rules! impl_territory_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::{collections::BTreeMap, sync::Arc};

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::QueryBuilder;
            use uuid::Uuid;

            use $crate::domain::{
                audit::AuditEvent,
                geo::GeoPoint,
                territory::{Boundary, BoundingBox, CompiledBoundary, Territory, TerritoryChange},
            };
            use $crate::store::{
                Actor, Page, PageRequest, StoreError, StoreResult,
                rows::{SitePoint, TerritoryExtent, TerritoryRow, into_page, stored_boundary},
                sql::{TERRITORY_COLUMNS, audit, next_version, now, territories::SITE_CHUNK, write_error},
                territories::{BoundaryCache, TerritoryStore},
            };

            type TerritoryTx = sqlx::Transaction<'static, $db>;

            impl $store {
                /// Takes the tenant row's lock: territory writes and site
                /// creation of one tenant run one after the other, so each
                /// sees the other's committed result.
                async fn lock_tenant_for_territories(tx: &mut TerritoryTx, tenant_id: Uuid) -> StoreResult<()> {
                    sqlx::query("UPDATE tenants SET audit_seq = audit_seq WHERE id = $1")
                        .bind(tenant_id)
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                }

                /// The tenant's territories whose extent holds `point` (all of
                /// them without a point), in creation order, compiled.
                async fn compiled_territories(
                    tx: &mut TerritoryTx,
                    tenant_id: Uuid,
                    point: Option<GeoPoint>,
                ) -> StoreResult<Vec<(Uuid, BoundingBox, Arc<CompiledBoundary>)>> {
                    let mut query = QueryBuilder::<$db>::new(
                        "SELECT id, updated_at, min_lat, min_lon, max_lat, max_lon FROM territories WHERE tenant_id = ",
                    );
                    query.push_bind(tenant_id);
                    if let Some(point) = point {
                        query
                            .push(" AND min_lat <= ").push_bind(point.lat)
                            .push(" AND max_lat >= ").push_bind(point.lat)
                            .push(" AND min_lon <= ").push_bind(point.lon)
                            .push(" AND max_lon >= ").push_bind(point.lon);
                    }
                    query.push(" ORDER BY created_at, id");
                    let extents: Vec<TerritoryExtent> = query.build_query_as().fetch_all(&mut **tx).await?;
                    let cache = BoundaryCache::global();
                    let mut compiled = Vec::with_capacity(extents.len());
                    for extent in extents {
                        let boundary = match cache.get(extent.id, extent.updated_at) {
                            Some(boundary) => boundary,
                            None => {
                                let text: String = sqlx::query_scalar(
                                    "SELECT boundary FROM territories WHERE tenant_id = $1 AND id = $2",
                                )
                                .bind(tenant_id)
                                .bind(extent.id)
                                .fetch_one(&mut **tx)
                                .await?;
                                let boundary = stored_boundary(extent.id, &text)?;
                                cache.put(extent.id, extent.updated_at, Arc::new(boundary.compile()))
                            }
                        };
                        compiled.push((extent.id, extent.bounding_box(), boundary));
                    }
                    Ok(compiled)
                }

                /// The territory a new site at `point` belongs to: the first,
                /// by creation, whose boundary covers it. Takes the tenant
                /// lock; call it inside the site's write transaction.
                async fn resolve_site_territory(
                    tx: &mut TerritoryTx,
                    tenant_id: Uuid,
                    point: GeoPoint,
                ) -> StoreResult<Option<Uuid>> {
                    Self::lock_tenant_for_territories(tx, tenant_id).await?;
                    let territories = Self::compiled_territories(tx, tenant_id, Some(point)).await?;
                    Ok(territories
                        .iter()
                        .find(|(_, _, boundary)| boundary.covers(point))
                        .map(|(id, _, _)| *id))
                }

                /// Re-resolves the sites inside `area` after a territory write
                /// (a site outside the old and new extents cannot change).
                /// Returns how many sites changed territory.
                async fn reresolve_sites(tx: &mut TerritoryTx, tenant_id: Uuid, area: BoundingBox) -> StoreResult<u64> {
                    let sites: Vec<SitePoint> = sqlx::query_as(
                        "SELECT id, lat, lon, territory_id FROM sites WHERE tenant_id = $1 \
                         AND lat >= $2 AND lat <= $3 AND lon >= $4 AND lon <= $5",
                    )
                    .bind(tenant_id)
                    .bind(area.min_lat)
                    .bind(area.max_lat)
                    .bind(area.min_lon)
                    .bind(area.max_lon)
                    .fetch_all(&mut **tx)
                    .await?;
                    if sites.is_empty() {
                        return Ok(0);
                    }
                    let territories = Self::compiled_territories(tx, tenant_id, None).await?;
                    let mut moves: BTreeMap<Option<Uuid>, Vec<Uuid>> = BTreeMap::new();
                    for site in &sites {
                        let point = GeoPoint { lat: site.lat, lon: site.lon };
                        let resolved = territories
                            .iter()
                            .find(|(_, extent, boundary)| extent.contains(point) && boundary.covers(point))
                            .map(|(id, _, _)| *id);
                        if resolved != site.territory_id {
                            moves.entry(resolved).or_default().push(site.id);
                        }
                    }
                    let mut changed = 0;
                    for (territory_id, site_ids) in moves {
                        for chunk in site_ids.chunks(SITE_CHUNK) {
                            let mut update = QueryBuilder::<$db>::new("UPDATE sites SET territory_id = ");
                            update.push_bind(territory_id).push(" WHERE tenant_id = ").push_bind(tenant_id).push(" AND id IN (");
                            let mut ids = update.separated(", ");
                            for id in chunk {
                                ids.push_bind(*id);
                            }
                            update.push(")");
                            changed += update.build().execute(&mut **tx).await?.rows_affected();
                        }
                    }
                    Ok(changed)
                }

                async fn fetch_territory(tx: &mut TerritoryTx, tenant_id: Uuid, id: Uuid) -> StoreResult<Territory> {
                    let row: Option<TerritoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TERRITORY_COLUMNS} FROM territories WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    row.ok_or(StoreError::NotFound("territory"))?.try_into()
                }
            }

            #[async_trait]
            impl TerritoryStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_territory(&self, actor: Actor, name: &str, boundary: &Boundary) -> StoreResult<Territory> {
                    let mut tx = self.begin_write().await?;
                    Self::lock_tenant_for_territories(&mut tx, actor.tenant_id).await?;
                    let at = now();
                    let extent = boundary.bounding_box();
                    let row: TerritoryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO territories (id, tenant_id, name, boundary, min_lat, min_lon, max_lat, max_lon, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {TERRITORY_COLUMNS}"
                    )))
                    .bind(Uuid::now_v7())
                    .bind(actor.tenant_id)
                    .bind(name.trim())
                    .bind(boundary.to_geojson().to_string())
                    .bind(extent.min_lat)
                    .bind(extent.min_lon)
                    .bind(extent.max_lat)
                    .bind(extent.max_lon)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a territory with this name already exists", ("tenant", "no such tenant")))?;
                    let created = Territory::try_from(row)?;
                    BoundaryCache::global().put(created.id, created.updated_at, Arc::new(boundary.compile()));
                    let moved = Self::reresolve_sites(&mut tx, actor.tenant_id, extent).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "territory.create", "territory", Some(created.id), None, Some(&created))).await?;
                    tx.commit().await?;
                    tracing::debug!(territory = %created.id, moved, "sites re-resolved");
                    Ok(created)
                }

                async fn get_territory(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Territory> {
                    let row: Option<TerritoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TERRITORY_COLUMNS} FROM territories WHERE tenant_id = $1 AND id = $2"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.ok_or(StoreError::NotFound("territory"))?.try_into()
                }

                async fn list_territories(&self, tenant_id: Uuid, page: PageRequest) -> StoreResult<Page<Territory>> {
                    self.list_territories_where(tenant_id, $crate::domain::lifecycle::ArchivedFilter::All, page).await
                }

                async fn list_territories_where(&self, tenant_id: Uuid, archived: $crate::domain::lifecycle::ArchivedFilter, page: PageRequest) -> StoreResult<Page<Territory>> {
                    let rows: Vec<TerritoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TERRITORY_COLUMNS} FROM territories \
                         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2){} ORDER BY id LIMIT $3",
                        $crate::store::sql::archived_clause(archived, "territories")
                    )))
                    .bind(tenant_id)
                    .bind(page.after)
                    .bind(i64::from(page.limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                    let territories = rows.into_iter().map(Territory::try_from).collect::<StoreResult<Vec<_>>>()?;
                    Ok(into_page(territories, page.limit, |t: &Territory| t.id))
                }

                #[tracing::instrument(skip_all, fields(territory = %id))]
                async fn update_territory(&self, actor: Actor, id: Uuid, change: &TerritoryChange) -> StoreResult<Territory> {
                    let mut tx = self.begin_write().await?;
                    Self::lock_tenant_for_territories(&mut tx, actor.tenant_id).await?;
                    let before = Self::fetch_territory(&mut tx, actor.tenant_id, id).await?;
                    let name = change.name.as_deref().unwrap_or(&before.name);
                    let boundary = change.boundary.as_ref().unwrap_or(&before.boundary);
                    if name == before.name && *boundary == before.boundary {
                        return Ok(before);
                    }
                    let extent = boundary.bounding_box();
                    let row: TerritoryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "UPDATE territories SET name = $3, boundary = $4, min_lat = $5, min_lon = $6, max_lat = $7, max_lon = $8, \
                         updated_at = $9 WHERE tenant_id = $1 AND id = $2 RETURNING {TERRITORY_COLUMNS}"
                    )))
                    .bind(actor.tenant_id)
                    .bind(id)
                    .bind(name)
                    .bind(boundary.to_geojson().to_string())
                    .bind(extent.min_lat)
                    .bind(extent.min_lon)
                    .bind(extent.max_lat)
                    .bind(extent.max_lon)
                    .bind(next_version(before.updated_at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, "a territory with this name already exists", ("tenant", "no such tenant")))?;
                    let after = Territory::try_from(row)?;
                    BoundaryCache::global().put(after.id, after.updated_at, Arc::new(after.boundary.compile()));
                    if after.boundary != before.boundary {
                        let area = extent.union(&before.boundary.bounding_box());
                        let moved = Self::reresolve_sites(&mut tx, actor.tenant_id, area).await?;
                        tracing::debug!(moved, "sites re-resolved");
                    }
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "territory.update", "territory", Some(id), Some(&before), Some(&after))).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                #[tracing::instrument(skip_all, fields(territory = %id))]
                async fn delete_territory(&self, actor: Actor, id: Uuid) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    Self::lock_tenant_for_territories(&mut tx, actor.tenant_id).await?;
                    let before = Self::fetch_territory(&mut tx, actor.tenant_id, id).await?;
                    sqlx::query("UPDATE sites SET territory_id = NULL WHERE tenant_id = $1 AND territory_id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM territories WHERE tenant_id = $1 AND id = $2")
                        .bind(actor.tenant_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    // Its former sites lie inside its extent; some may belong to a younger territory now.
                    let moved = Self::reresolve_sites(&mut tx, actor.tenant_id, before.boundary.bounding_box()).await?;
                    audit::append(&mut tx, actor.tenant_id, AuditEvent::new(actor.user_id, "territory.delete", "territory", Some(id), Some(&before), None)).await?;
                    tx.commit().await?;
                    BoundaryCache::global().remove(id);
                    tracing::debug!(moved, "sites re-resolved");
                    Ok(())
                }

                async fn territory_boundary(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<Arc<CompiledBoundary>>> {
                    let version: Option<DateTime<Utc>> =
                        sqlx::query_scalar("SELECT updated_at FROM territories WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await?;
                    let Some(version) = version else {
                        return Ok(None);
                    };
                    let cache = BoundaryCache::global();
                    if let Some(boundary) = cache.get(id, version) {
                        return Ok(Some(boundary));
                    }
                    let row: Option<(String, DateTime<Utc>)> =
                        sqlx::query_as("SELECT boundary, updated_at FROM territories WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(match row {
                        Some((text, version)) => {
                            let boundary = stored_boundary(id, &text)?;
                            Some(cache.put(id, version, Arc::new(boundary.compile())))
                        }
                        None => None,
                    })
                }
            }
        };
    };
}

pub(in crate::store) use impl_territory_store;
