//! SQL behind `LocationStore`: the ping trail and each technician's newest fix.

macro_rules! impl_location_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::QueryBuilder;
            use uuid::Uuid;

            use $crate::domain::{location::LocationPing, people::Technician};
            use $crate::store::{
                StoreError, StoreResult,
                locations::{DispatchRow, LocationIngest, LocationStore, PingBatchItem},
                rows::{PingRow, TechnicianRow},
                sql::{LOAD_STATUSES, TECHNICIAN_COLUMNS, now},
            };

            /// Rows per INSERT, below SQLite's bound-parameter limit.
            const CHUNK: usize = 500;

            #[async_trait]
            impl LocationStore for $store {
                #[tracing::instrument(skip_all, fields(pings = pings.len()))]
                async fn record_locations(&self, tenant_id: Uuid, technician_id: Uuid, pings: &[LocationPing]) -> StoreResult<LocationIngest> {
                    let pings: Vec<LocationPing> = pings.iter().map(|p| p.normalized()).collect();
                    let mut tx = self.begin_write().await?;
                    let last_seen: Option<Option<DateTime<Utc>>> =
                        sqlx::query_scalar("SELECT last_seen_at FROM technicians WHERE tenant_id = $1 AND id = $2")
                            .bind(tenant_id)
                            .bind(technician_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let last_seen = last_seen.ok_or(StoreError::NotFound("technician"))?;
                    let received_at = now();
                    let mut stored = 0usize;
                    for chunk in pings.chunks(CHUNK) {
                        let mut insert = QueryBuilder::<$db>::new(
                            "INSERT INTO technician_locations \
                             (tenant_id, technician_id, device_time, lat, lon, accuracy_m, speed_mps, heading_deg, received_at) ",
                        );
                        insert.push_values(chunk, |mut row, ping| {
                            row.push_bind(tenant_id)
                                .push_bind(technician_id)
                                .push_bind(ping.device_time)
                                .push_bind(ping.lat)
                                .push_bind(ping.lon)
                                .push_bind(ping.accuracy_m)
                                .push_bind(ping.speed_mps)
                                .push_bind(ping.heading_deg)
                                .push_bind(received_at);
                        });
                        insert.push(" ON CONFLICT DO NOTHING");
                        stored += insert.build().execute(&mut *tx).await?.rows_affected() as usize;
                    }
                    // Of equal device times the first is stored (the rest are
                    // duplicates), so it is also the one that may become live.
                    let newest = pings.iter().copied().reduce(|best, p| if p.device_time > best.device_time { p } else { best });
                    let new_position = newest.filter(|p| last_seen.is_none_or(|seen| p.device_time > seen));
                    if let Some(position) = new_position {
                        sqlx::query(
                            "UPDATE technicians SET last_lat = $3, last_lon = $4, last_accuracy_m = $5, last_seen_at = $6 \
                             WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(tenant_id)
                        .bind(technician_id)
                        .bind(position.lat)
                        .bind(position.lon)
                        .bind(position.accuracy_m)
                        .bind(position.device_time)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(LocationIngest { stored, duplicates: pings.len() - stored, new_position })
                }

                #[tracing::instrument(skip_all, fields(requests = items.len()))]
                async fn record_location_batch(&self, items: &[PingBatchItem<'_>]) -> StoreResult<Vec<Option<LocationIngest>>> {
                    use std::collections::{HashMap, HashSet};
                    let items: Vec<(Uuid, Uuid, Vec<LocationPing>)> = items
                        .iter()
                        .map(|item| (item.tenant_id, item.technician_id, item.pings.iter().map(|p| p.normalized()).collect()))
                        .collect();
                    let mut technicians: Vec<Uuid> = items.iter().map(|(_, id, _)| *id).collect();
                    technicians.sort_unstable();
                    technicians.dedup();
                    let mut tx = self.begin_write().await?;
                    // Which technicians exist (in the tenant each request names)
                    // and the time of the live position each holds now.
                    let mut last_seen: HashMap<Uuid, (Uuid, Option<DateTime<Utc>>)> = HashMap::with_capacity(technicians.len());
                    for chunk in technicians.chunks(CHUNK) {
                        let mut select = QueryBuilder::<$db>::new("SELECT id, tenant_id, last_seen_at FROM technicians WHERE id IN (");
                        let mut ids = select.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        select.push(")");
                        let rows: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = select.build_query_as().fetch_all(&mut *tx).await?;
                        last_seen.extend(rows.into_iter().map(|(id, tenant, seen)| (id, (tenant, seen))));
                    }
                    let known = |tenant_id: Uuid, technician_id: Uuid| last_seen.get(&technician_id).is_some_and(|(t, _)| *t == tenant_id);
                    let rows: Vec<(Uuid, Uuid, LocationPing)> = items
                        .iter()
                        .filter(|(tenant_id, technician_id, _)| known(*tenant_id, *technician_id))
                        .flat_map(|(tenant_id, technician_id, pings)| pings.iter().map(move |p| (*tenant_id, *technician_id, *p)))
                        .collect();
                    let received_at = now();
                    let mut inserted: HashSet<(Uuid, DateTime<Utc>)> = HashSet::with_capacity(rows.len());
                    for chunk in rows.chunks(CHUNK) {
                        let mut insert = QueryBuilder::<$db>::new(
                            "INSERT INTO technician_locations \
                             (tenant_id, technician_id, device_time, lat, lon, accuracy_m, speed_mps, heading_deg, received_at) ",
                        );
                        insert.push_values(chunk, |mut row, (tenant_id, technician_id, ping)| {
                            row.push_bind(*tenant_id)
                                .push_bind(*technician_id)
                                .push_bind(ping.device_time)
                                .push_bind(ping.lat)
                                .push_bind(ping.lon)
                                .push_bind(ping.accuracy_m)
                                .push_bind(ping.speed_mps)
                                .push_bind(ping.heading_deg)
                                .push_bind(received_at);
                        });
                        insert.push(" ON CONFLICT DO NOTHING RETURNING technician_id, device_time");
                        let stored: Vec<(Uuid, DateTime<Utc>)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                        inserted.extend(stored);
                    }
                    // Each request in order, as if recorded alone: the first
                    // ping of a (technician, time) is the stored one, and a
                    // request moves the position when its newest ping is newer
                    // than what the requests before it left.
                    let mut outcomes = Vec::with_capacity(items.len());
                    let mut newest: HashMap<Uuid, (Uuid, LocationPing)> = HashMap::new();
                    for (tenant_id, technician_id, pings) in &items {
                        if !known(*tenant_id, *technician_id) {
                            outcomes.push(None);
                            continue;
                        }
                        let stored = pings.iter().filter(|p| inserted.remove(&(*technician_id, p.device_time))).count();
                        let seen = newest
                            .get(technician_id)
                            .map(|(_, p)| Some(p.device_time))
                            .unwrap_or_else(|| last_seen.get(technician_id).and_then(|(_, seen)| *seen));
                        let latest = pings.iter().copied().reduce(|best, p| if p.device_time > best.device_time { p } else { best });
                        let new_position = latest.filter(|p| seen.is_none_or(|seen| p.device_time > seen));
                        if let Some(position) = new_position {
                            newest.insert(*technician_id, (*tenant_id, position));
                        }
                        outcomes.push(Some((*technician_id, LocationIngest { stored, duplicates: pings.len() - stored, new_position })));
                    }
                    // One statement moves every technician of the batch, only
                    // forward: another replica may have written a newer fix.
                    let mut moved: HashSet<Uuid> = HashSet::with_capacity(newest.len());
                    let positions: Vec<(Uuid, Uuid, LocationPing)> = newest.into_iter().map(|(id, (tenant, p))| (tenant, id, p)).collect();
                    for chunk in positions.chunks(CHUNK) {
                        let mut update = QueryBuilder::<$db>::new(
                            "UPDATE technicians SET last_lat = v.lat, last_lon = v.lon, last_accuracy_m = v.accuracy_m, last_seen_at = v.seen_at \
                             FROM (SELECT column1 AS tenant_id, column2 AS id, column3 AS lat, column4 AS lon, column5 AS accuracy_m, column6 AS seen_at FROM (",
                        );
                        update.push_values(chunk, |mut row, (tenant_id, technician_id, ping)| {
                            row.push_bind(*tenant_id)
                                .push_bind(*technician_id)
                                .push_bind(ping.lat)
                                .push_bind(ping.lon)
                                .push_bind(ping.accuracy_m)
                                .push_bind(ping.device_time);
                        });
                        update.push(
                            ") AS fixes) AS v WHERE technicians.tenant_id = v.tenant_id AND technicians.id = v.id \
                             AND (technicians.last_seen_at IS NULL OR technicians.last_seen_at < v.seen_at) RETURNING technicians.id",
                        );
                        let ids: Vec<Uuid> = update.build_query_scalar().fetch_all(&mut *tx).await?;
                        moved.extend(ids);
                    }
                    tx.commit().await?;
                    Ok(outcomes
                        .into_iter()
                        .map(|outcome| {
                            outcome.map(|(technician_id, mut ingest)| {
                                if !moved.contains(&technician_id) {
                                    ingest.new_position = None;
                                }
                                ingest
                            })
                        })
                        .collect())
                }

                async fn locations(&self, tenant_id: Uuid, technician_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, limit: u32) -> StoreResult<Vec<LocationPing>> {
                    let rows: Vec<PingRow> = sqlx::query_as(
                        "SELECT device_time, lat, lon, accuracy_m, speed_mps, heading_deg FROM technician_locations \
                         WHERE tenant_id = $1 AND technician_id = $2 AND device_time >= $3 AND device_time < $4 \
                         ORDER BY device_time LIMIT $5",
                    )
                    .bind(tenant_id)
                    .bind(technician_id)
                    .bind(from)
                    .bind(to)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows.into_iter().map(LocationPing::from).collect())
                }

                async fn prune_locations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query("DELETE FROM technician_locations WHERE device_time < $1")
                        .bind(before)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok(deleted)
                }

                #[tracing::instrument(skip_all)]
                async fn dispatch_rows(&self) -> StoreResult<Vec<DispatchRow>> {
                    #[derive(sqlx::FromRow)]
                    struct Row {
                        #[sqlx(flatten)]
                        technician: TechnicianRow,
                        last_lat: Option<f64>,
                        last_lon: Option<f64>,
                        last_accuracy_m: Option<f64>,
                        last_seen_at: Option<DateTime<Utc>>,
                        load: i64,
                    }
                    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {TECHNICIAN_COLUMNS}, last_lat, last_lon, last_accuracy_m, last_seen_at, \
                         (SELECT COUNT(*) FROM tickets k WHERE k.tenant_id = technicians.tenant_id \
                          AND k.assignee_id = technicians.id AND k.status IN {LOAD_STATUSES}) AS load \
                         FROM technicians WHERE archived_at IS NULL ORDER BY id"
                    )))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|row| {
                            let last_position = match (row.last_lat, row.last_lon, row.last_seen_at) {
                                (Some(lat), Some(lon), Some(device_time)) => Some(LocationPing {
                                    device_time,
                                    lat,
                                    lon,
                                    accuracy_m: row.last_accuracy_m.unwrap_or(0.0),
                                    speed_mps: None,
                                    heading_deg: None,
                                }),
                                _ => None,
                            };
                            Ok(DispatchRow {
                                technician: Technician::try_from(row.technician)?,
                                last_position,
                                load: u32::try_from(row.load).unwrap_or(u32::MAX),
                            })
                        })
                        .collect()
                }

                async fn technician_load(&self, tenant_id: Uuid, technician_id: Uuid) -> StoreResult<u32> {
                    let load: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND assignee_id = $2 AND status IN {LOAD_STATUSES}"
                    )))
                    .bind(tenant_id)
                    .bind(technician_id)
                    .fetch_one(&self.pool)
                    .await?;
                    Ok(u32::try_from(load).unwrap_or(u32::MAX))
                }
            }
        };
    };
}

pub(in crate::store) use impl_location_store;
