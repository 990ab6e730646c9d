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
                locations::{DispatchRow, LocationIngest, LocationStore},
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
