//! SQL behind `SlaReportStore`. The report is one GROUP BY over one row per
//! ticket of the range (the ticket joined with its outcome row, reduced to
//! small codes, on-site time from the outcome's summary) and, on SQLite, one
//! window query per target for the percentiles (PostgreSQL computes them in
//! the GROUP BY with `percentile_disc`, which is the nearest-rank percentile
//! the in-app report uses: the smallest value whose cumulative share reaches
//! the fraction).

use super::OPEN_STATUSES;
use crate::store::sla_report::{ReportGrouping, ReportRange};

pub(in crate::store) const TARGETS: [&str; 3] = ["response", "arrival", "resolution"];

/// The key expressions (text, id, number) of a grouping. `month` is per backend.
pub(in crate::store) fn key_columns(grouping: ReportGrouping, month: &str) -> [String; 3] {
    const DAY: &str = "(o.created_us / 86400000000)";
    const NO_TEXT: &str = "CAST(NULL AS TEXT)";
    let (text, id, number) = match grouping {
        ReportGrouping::Category => ("t.category", None, None),
        ReportGrouping::Priority => ("t.priority", None, None),
        ReportGrouping::Technician => (NO_TEXT, Some("t.assignee_id"), None),
        ReportGrouping::Customer => (NO_TEXT, Some("s.customer_id"), None),
        ReportGrouping::Territory => (NO_TEXT, Some("s.territory_id"), None),
        ReportGrouping::Day => (NO_TEXT, None, Some(DAY.to_owned())),
        // 1970-01-01 was a Thursday: its week's Monday is 3 days earlier.
        ReportGrouping::Week => (NO_TEXT, None, Some(format!("({DAY} - ({DAY} + 3) % 7)"))),
        ReportGrouping::Month => (NO_TEXT, None, Some(month.to_owned())),
    };
    [
        text.to_owned(),
        id.unwrap_or("CAST(NULL AS UUID)").to_owned(),
        number.unwrap_or_else(|| "CAST(NULL AS BIGINT)".to_owned()),
    ]
}

/// Joins after `tickets t` for a grouping: the outcome, and the site when keyed by it.
pub(in crate::store) fn joins(grouping: ReportGrouping) -> &'static str {
    match grouping {
        ReportGrouping::Customer | ReportGrouping::Territory => {
            " JOIN sla_outcomes o ON o.tenant_id = t.tenant_id AND o.ticket_id = t.id \
             LEFT JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id"
        }
        _ => " JOIN sla_outcomes o ON o.tenant_id = t.tenant_id AND o.ticket_id = t.id",
    }
}

/// The per-ticket columns the report's GROUP BY reads (from `tickets t` and
/// `sla_outcomes o`): `covered`; `age`, the open ticket's backlog bucket
/// (0–3 for < 1 d, 1–3 d, 3–7 d, ≥ 7 d; NULL when not open); `closed` (0 not
/// closed, 1 closed, 2 closed and fixed the first time); per target `cN`
/// (1 met, 2 met late, 3 breached, by now) and `vN` (seconds to meet);
/// `on_site`, the ticket's whole on-site seconds clipped to `[from, until)`
/// when the outcome's summary gives them exactly (NULL otherwise: the
/// GROUP BY sums that ticket's stretches instead); and the ticket's ids.
pub(in crate::store) fn per_ticket_columns(range: &ReportRange) -> String {
    let day = 86_400_000_000_i64;
    let now_us = range.now_us;
    let bounds = [now_us - day, now_us - 3 * day, now_us - 7 * day];
    let (from_us, until_us) = (range.from_us, range.until_us);
    let mut columns = format!(
        "o.covered AS covered, CASE WHEN {OPEN_STATUSES} THEN CASE WHEN o.created_us > {} THEN 0 \
         WHEN o.created_us > {} THEN 1 WHEN o.created_us > {} THEN 2 ELSE 3 END END AS age, \
         CASE WHEN t.status = 'closed' THEN 1 + o.fixed_first_time ELSE 0 END AS closed",
        bounds[0], bounds[1], bounds[2]
    );
    for (i, target) in TARGETS.into_iter().enumerate() {
        columns.push_str(&format!(
            ", CASE WHEN o.{target}_state = 3 OR (o.{target}_state = 0 AND o.{target}_deadline_us <= {now_us}) \
             THEN 3 ELSE o.{target}_state END AS c{i}, o.{target}_seconds AS v{i}"
        ));
    }
    columns.push_str(&format!(
        ", CASE WHEN o.on_site_first_us IS NULL THEN 0 \
         WHEN o.on_site_first_us >= {from_us} AND (o.on_site_last_end_us IS NULL OR o.on_site_last_end_us <= {until_us}) \
         THEN (o.on_site_closed_us + CASE WHEN o.on_site_open_us < {until_us} THEN {until_us} - o.on_site_open_us ELSE 0 END) \
         / 1000000 END AS on_site, t.tenant_id AS tenant_id, t.id AS ticket_id"
    ));
    columns
}

/// The report's SELECT over the per-ticket rows `r` ([`per_ticket_columns`]),
/// grouped by `k1, k2, k3`: the keys, then tickets, covered, backlog, the
/// four backlog ages, closed, fixed first time, on-site seconds, and per
/// target met, met late, breached (and the median and 90th percentile with
/// `percentile_disc`).
pub(in crate::store) fn per_ticket_select(range: &ReportRange, percentile_disc: bool) -> String {
    let (from_us, until_us) = (range.from_us, range.until_us);
    let mut select = String::from(
        "SELECT k1, k2, k3, COUNT(*), SUM(covered), COUNT(age)\
         , SUM(CASE WHEN age = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN age = 1 THEN 1 ELSE 0 END)\
         , SUM(CASE WHEN age = 2 THEN 1 ELSE 0 END), SUM(CASE WHEN age = 3 THEN 1 ELSE 0 END)\
         , SUM(CASE WHEN closed > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN closed = 2 THEN 1 ELSE 0 END)",
    );
    // A ticket's on-site time in whole seconds (truncated, as the in-app path adds them up).
    select.push_str(&format!(
        ", CAST(SUM(CASE WHEN on_site IS NOT NULL THEN on_site ELSE \
         (SELECT COALESCE(CAST(SUM(CASE WHEN e > b THEN e - b ELSE 0 END) AS BIGINT), 0) / 1000000 FROM (SELECT \
         CASE WHEN x.started_us > {from_us} THEN x.started_us ELSE {from_us} END AS b, \
         CASE WHEN x.ended_us IS NOT NULL AND x.ended_us < {until_us} THEN x.ended_us ELSE {until_us} END AS e \
         FROM sla_on_site x WHERE x.tenant_id = r.tenant_id AND x.ticket_id = r.ticket_id) stretches) END) AS BIGINT)"
    ));
    for i in 0..TARGETS.len() {
        select.push_str(&format!(
            ", SUM(CASE WHEN c{i} = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN c{i} = 2 THEN 1 ELSE 0 END)\
             , SUM(CASE WHEN c{i} = 3 THEN 1 ELSE 0 END)"
        ));
        if percentile_disc {
            select.push_str(&format!(
                ", percentile_disc(0.5) WITHIN GROUP (ORDER BY v{i}), percentile_disc(0.9) WITHIN GROUP (ORDER BY v{i})"
            ));
        }
    }
    select
}

/// Nearest rank (1-based) of the `pct` percentile among `n` values, as the
/// in-app report computes it.
pub(in crate::store) fn nearest_rank(pct: i64, n: i64) -> i64 {
    ((pct * n + 99) / 100).max(1)
}

macro_rules! impl_sla_report_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use std::collections::HashMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use $crate::domain::ticket::Priority;
            use $crate::store::{
                StoreError, StoreResult,
                sla_report::{GroupKey, OutcomeDue, ReportRange, ReportRow, SlaOutcome, SlaReportStore, StaleTicket},
                sql::{
                    sla_report::{TARGETS, joins, key_columns, nearest_rank, per_ticket_columns, per_ticket_select},
                },
            };

            /// `AND`-conditions selecting the range's tickets of the tenant.
            fn push_range(query: &mut QueryBuilder<$db>, range: &ReportRange) {
                query
                    .push(" WHERE t.tenant_id = ")
                    .push_bind(range.tenant_id)
                    .push(" AND t.created_at >= ")
                    .push_bind(range.from)
                    .push(" AND t.created_at < ")
                    .push_bind(range.to)
                    // A ticket merged into another is counted once, as the other (issue 22).
                    .push(" AND NOT EXISTS (SELECT 1 FROM ticket_merges m WHERE m.source_id = t.id)");
            }

            fn key_of(row: &<$db as sqlx::Database>::Row) -> StoreResult<GroupKey> {
                Ok(GroupKey {
                    text: row.try_get(0)?,
                    id: row.try_get(1)?,
                    number: row.try_get(2)?,
                })
            }

            #[async_trait]
            impl SlaReportStore for $store {
                async fn stale_sla_outcomes(&self, range: &ReportRange) -> StoreResult<Vec<OutcomeDue>> {
                    let tenant_id = range.tenant_id;
                    let marked: Vec<(Uuid, i64)> = sqlx::query_as(
                        "SELECT d.ticket_id, d.mark FROM sla_outcome_dirty d \
                         JOIN tickets t ON t.tenant_id = d.tenant_id AND t.id = d.ticket_id \
                         WHERE d.tenant_id = $1 AND t.created_at >= $2 AND t.created_at < $3",
                    )
                    .bind(tenant_id)
                    .bind(range.from)
                    .bind(range.to)
                    .fetch_all(&self.pool)
                    .await?;
                    let expired: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT ticket_id FROM sla_outcomes WHERE tenant_id = $1 AND valid_until_us IS NOT NULL \
                         AND valid_until_us <= $2 AND created_us >= $3 AND created_us < $4",
                    )
                    .bind(tenant_id)
                    .bind(range.now_us)
                    .bind(range.from_us)
                    .bind(range.to.timestamp_micros())
                    .fetch_all(&self.pool)
                    .await?;
                    let mut due: Vec<OutcomeDue> = marked
                        .into_iter()
                        .map(|(ticket_id, mark)| OutcomeDue { tenant_id, ticket_id, mark: Some(mark) })
                        .collect();
                    let seen: std::collections::HashSet<Uuid> = due.iter().map(|d| d.ticket_id).collect();
                    due.extend(
                        expired
                            .into_iter()
                            .filter(|id| !seen.contains(id))
                            .map(|ticket_id| OutcomeDue { tenant_id, ticket_id, mark: None }),
                    );
                    Ok(due)
                }

                async fn marked_sla_outcomes(
                    &self,
                    after: Option<(Uuid, Uuid)>,
                    limit: i64,
                ) -> StoreResult<Vec<OutcomeDue>> {
                    // Walked in key order from a cursor: a queue read from its
                    // start would step over every row deleted since the last vacuum.
                    let mut query = QueryBuilder::<$db>::new("SELECT tenant_id, ticket_id, mark FROM sla_outcome_dirty");
                    if let Some((tenant_id, ticket_id)) = after {
                        query
                            .push(" WHERE (tenant_id, ticket_id) > (")
                            .push_bind(tenant_id)
                            .push(", ")
                            .push_bind(ticket_id)
                            .push(")");
                    }
                    query.push(" ORDER BY tenant_id, ticket_id LIMIT ").push_bind(limit);
                    let marked: Vec<(Uuid, Uuid, i64)> = query.build_query_as().fetch_all(&self.pool).await?;
                    Ok(marked
                        .into_iter()
                        .map(|(tenant_id, ticket_id, mark)| OutcomeDue { tenant_id, ticket_id, mark: Some(mark) })
                        .collect())
                }

                async fn expired_sla_outcomes(&self, now_us: i64, limit: i64) -> StoreResult<Vec<OutcomeDue>> {
                    let expired: Vec<(Uuid, Uuid)> = sqlx::query_as(
                        "SELECT tenant_id, ticket_id FROM sla_outcomes \
                         WHERE valid_until_us IS NOT NULL AND valid_until_us <= $1 LIMIT $2",
                    )
                    .bind(now_us)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(expired
                        .into_iter()
                        .map(|(tenant_id, ticket_id)| OutcomeDue { tenant_id, ticket_id, mark: None })
                        .collect())
                }

                async fn sla_outcome_inputs(&self, tenant_id: Uuid, ticket_ids: &[Uuid]) -> StoreResult<Vec<StaleTicket>> {
                    let mut found = Vec::with_capacity(ticket_ids.len());
                    for chunk in ticket_ids.chunks(500) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT t.id, t.site_id, t.category, t.priority, t.created_at, t.updated_at FROM tickets t WHERE t.tenant_id = ",
                        );
                        query.push_bind(tenant_id).push(" AND t.id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        let rows: Vec<(Uuid, Uuid, String, String, DateTime<Utc>, DateTime<Utc>)> =
                            query.build_query_as().fetch_all(&self.pool).await?;
                        for (id, site_id, category, priority, created_at, updated_at) in rows {
                            found.push(StaleTicket {
                                id,
                                site_id,
                                category,
                                priority: Priority::parse(&priority)
                                    .ok_or_else(|| StoreError::Corrupt(format!("unknown priority `{priority}`")))?,
                                created_at,
                                updated_at,
                            });
                        }
                    }
                    Ok(found)
                }

                async fn write_sla_outcomes(
                    &self,
                    tenant_id: Uuid,
                    outcomes: &[SlaOutcome],
                    computed: &[OutcomeDue],
                ) -> StoreResult<()> {
                    if outcomes.is_empty() && computed.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    // An outcome is written only if the mark it was computed for is
                    // still there (cleared here): when a later change marked the
                    // ticket again, or another writer already cleared the mark with
                    // a newer computation, this one is stale and is left out.
                    let marks: Vec<(Uuid, i64)> = computed
                        .iter()
                        .filter(|due| due.tenant_id == tenant_id)
                        .filter_map(|due| due.mark.map(|mark| (due.ticket_id, mark)))
                        .collect();
                    let mut writable: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
                    for chunk in marks.chunks(1000) {
                        let mut delete = QueryBuilder::<$db>::new("DELETE FROM sla_outcome_dirty WHERE tenant_id = ");
                        delete.push_bind(tenant_id).push(" AND (ticket_id, mark) IN (VALUES ");
                        let mut rows = delete.separated(", ");
                        for (ticket_id, mark) in chunk {
                            rows.push("(")
                                .push_bind_unseparated(*ticket_id)
                                .push_unseparated(", ")
                                .push_bind_unseparated(*mark)
                                .push_unseparated(")");
                        }
                        delete.push(") RETURNING ticket_id");
                        let cleared: Vec<Uuid> = delete.build_query_scalar().fetch_all(&mut *tx).await?;
                        writable.extend(cleared);
                    }
                    // Expired outcomes (no mark) are written unless a change marked them meanwhile.
                    let unmarked: Vec<Uuid> = computed
                        .iter()
                        .filter(|due| due.tenant_id == tenant_id && due.mark.is_none())
                        .map(|due| due.ticket_id)
                        .collect();
                    for chunk in unmarked.chunks(1000) {
                        let mut query = QueryBuilder::<$db>::new("SELECT ticket_id FROM sla_outcome_dirty WHERE tenant_id = ");
                        query.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = query.separated(", ");
                        for id in chunk {
                            ids.push_bind(*id);
                        }
                        query.push(")");
                        let marked: std::collections::HashSet<Uuid> =
                            query.build_query_scalar().fetch_all(&mut *tx).await?.into_iter().collect();
                        writable.extend(chunk.iter().filter(|id| !marked.contains(id)));
                    }
                    let asked: std::collections::HashSet<Uuid> = computed.iter().map(|due| due.ticket_id).collect();
                    let outcomes: Vec<&SlaOutcome> = outcomes
                        .iter()
                        .filter(|o| writable.contains(&o.ticket_id) || !asked.contains(&o.ticket_id))
                        .collect();
                    for chunk in outcomes.chunks(500) {
                        let mut delete = QueryBuilder::<$db>::new("DELETE FROM sla_on_site WHERE tenant_id = ");
                        delete.push_bind(tenant_id).push(" AND ticket_id IN (");
                        let mut ids = delete.separated(", ");
                        for outcome in chunk {
                            ids.push_bind(outcome.ticket_id);
                        }
                        delete.push(")");
                        delete.build().execute(&mut *tx).await?;

                        let mut insert = QueryBuilder::<$db>::new(
                            "INSERT INTO sla_outcomes (tenant_id, ticket_id, ticket_version, policy_epoch, valid_until_us, \
                             created_us, covered, fixed_first_time, response_state, response_deadline_us, response_seconds, \
                             arrival_state, arrival_deadline_us, arrival_seconds, resolution_state, resolution_deadline_us, \
                             resolution_seconds, on_site_closed_us, on_site_first_us, on_site_last_end_us, on_site_open_us) ",
                        );
                        insert.push_values(chunk, |mut row, o| {
                            row.push_bind(tenant_id)
                                .push_bind(o.ticket_id)
                                .push_bind(o.ticket_version)
                                .push_bind(o.policy_epoch.clone())
                                .push_bind(o.valid_until_us)
                                .push_bind(o.created_us)
                                .push_bind(i16::from(o.covered))
                                .push_bind(i16::from(o.fixed_first_time));
                            for target in &o.targets {
                                row.push_bind(target.state)
                                    .push_bind(target.deadline_us)
                                    .push_bind(target.seconds);
                            }
                            let on_site = o.on_site_summary();
                            row.push_bind(on_site.closed_us)
                                .push_bind(on_site.first_us)
                                .push_bind(on_site.last_end_us)
                                .push_bind(on_site.open_us);
                        });
                        insert.push(
                            " ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET ticket_version = excluded.ticket_version, \
                             policy_epoch = excluded.policy_epoch, valid_until_us = excluded.valid_until_us, \
                             created_us = excluded.created_us, covered = excluded.covered, \
                             fixed_first_time = excluded.fixed_first_time, response_state = excluded.response_state, \
                             response_deadline_us = excluded.response_deadline_us, response_seconds = excluded.response_seconds, \
                             arrival_state = excluded.arrival_state, arrival_deadline_us = excluded.arrival_deadline_us, \
                             arrival_seconds = excluded.arrival_seconds, resolution_state = excluded.resolution_state, \
                             resolution_deadline_us = excluded.resolution_deadline_us, \
                             resolution_seconds = excluded.resolution_seconds, \
                             on_site_closed_us = excluded.on_site_closed_us, on_site_first_us = excluded.on_site_first_us, \
                             on_site_last_end_us = excluded.on_site_last_end_us, on_site_open_us = excluded.on_site_open_us",
                        );
                        insert.build().execute(&mut *tx).await?;

                        let stretches: Vec<(Uuid, i32, i64, Option<i64>)> = chunk
                            .iter()
                            .flat_map(|o| {
                                o.on_site
                                    .iter()
                                    .enumerate()
                                    .map(|(i, (start, end))| (o.ticket_id, i32::try_from(i).unwrap_or(i32::MAX), *start, *end))
                            })
                            .collect();
                        for stretch_chunk in stretches.chunks(2000) {
                            let mut insert = QueryBuilder::<$db>::new(
                                "INSERT INTO sla_on_site (tenant_id, ticket_id, seq, started_us, ended_us) ",
                            );
                            insert.push_values(stretch_chunk, |mut row, (ticket_id, seq, start, end)| {
                                row.push_bind(tenant_id)
                                    .push_bind(*ticket_id)
                                    .push_bind(*seq)
                                    .push_bind(*start)
                                    .push_bind(*end);
                            });
                            insert.build().execute(&mut *tx).await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn analyze_sla_outcomes(&self) -> StoreResult<()> {
                    sqlx::query("ANALYZE sla_outcomes").execute(&self.pool).await?;
                    sqlx::query("ANALYZE sla_on_site").execute(&self.pool).await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn sla_report_rows(&self, range: &ReportRange) -> StoreResult<Vec<ReportRow>> {
                    let [k1, k2, k3] = key_columns(range.grouping, Self::REPORT_MONTH);
                    let keys = format!("{k1}, {k2}, {k3}");
                    let aliased = format!("{k1} AS k1, {k2} AS k2, {k3} AS k3");
                    let joins = joins(range.grouping);
                    // One row per ticket with its figures reduced to small codes
                    // (computed once per ticket, in PostgreSQL's parallel workers),
                    // then one GROUP BY over them.
                    let query = per_ticket_select(range, Self::PERCENTILE_DISC);
                    let mut query = QueryBuilder::<$db>::new(format!("{query} FROM (SELECT {aliased}, {}", per_ticket_columns(range)));
                    query.push(format!(" FROM tickets t{joins}"));
                    push_range(&mut query, range);
                    query.push(format!("{}) r GROUP BY k1, k2, k3", Self::SUBQUERY_FENCE));
                    let rows = match Self::REPORT_SETUP {
                        Some(setup) => {
                            let mut tx = self.pool.begin().await?;
                            sqlx::query(setup).execute(&mut *tx).await?;
                            let rows = query.build().fetch_all(&mut *tx).await?;
                            tx.commit().await?;
                            rows
                        }
                        None => query.build().fetch_all(&self.pool).await?,
                    };
                    let mut groups: Vec<ReportRow> = Vec::with_capacity(rows.len());
                    let mut index: HashMap<GroupKey, usize> = HashMap::new();
                    for row in &rows {
                        let key = key_of(row)?;
                        let mut group = ReportRow {
                            key: key.clone(),
                            tickets: row.try_get(3)?,
                            covered: row.try_get(4)?,
                            backlog: row.try_get(5)?,
                            backlog_age: [row.try_get(6)?, row.try_get(7)?, row.try_get(8)?, row.try_get(9)?],
                            closed: row.try_get(10)?,
                            fixed_first_time: row.try_get(11)?,
                            on_site_seconds: row.try_get(12)?,
                            ..ReportRow::default()
                        };
                        let per_target = if Self::PERCENTILE_DISC { 5 } else { 3 };
                        for (i, target) in group.targets.iter_mut().enumerate() {
                            let at = 13 + i * per_target;
                            target.met = row.try_get(at)?;
                            target.met_late = row.try_get(at + 1)?;
                            target.breached = row.try_get(at + 2)?;
                            if Self::PERCENTILE_DISC {
                                target.median_seconds = row.try_get(at + 3)?;
                                target.p90_seconds = row.try_get(at + 4)?;
                            }
                        }
                        index.insert(key, groups.len());
                        groups.push(group);
                    }

                    if !Self::PERCENTILE_DISC {
                        // SQLite has no percentile aggregate: rank within each group.
                        for (i, target) in TARGETS.into_iter().enumerate() {
                            let mut query = QueryBuilder::<$db>::new(format!(
                                "SELECT k1, k2, k3, v, rn, n FROM (SELECT {aliased}, o.{target}_seconds AS v, \
                                 ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY o.{target}_seconds) AS rn, \
                                 COUNT(*) OVER (PARTITION BY {keys}) AS n FROM tickets t{joins}"
                            ));
                            push_range(&mut query, range);
                            query.push(format!(
                                " AND o.{target}_seconds IS NOT NULL) q \
                                 WHERE q.rn = (50 * q.n + 99) / 100 OR q.rn = (90 * q.n + 99) / 100"
                            ));
                            for row in query.build().fetch_all(&self.pool).await? {
                                let key = key_of(&row)?;
                                let (value, rank, n): (i64, i64, i64) = (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
                                let Some(&at) = index.get(&key) else { continue };
                                let figures = &mut groups[at].targets[i];
                                if rank == nearest_rank(50, n) {
                                    figures.median_seconds = Some(value);
                                }
                                if rank == nearest_rank(90, n) {
                                    figures.p90_seconds = Some(value);
                                }
                            }
                        }
                    }
                    Ok(groups)
                }
            }
        };
    };
}

pub(in crate::store) use impl_sla_report_store;
