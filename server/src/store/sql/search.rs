//! SQL behind `SearchStore`, and the helpers every write that changes what
//! a record is found by calls inside its own transaction.
//!
//! The index text is folded in Rust (`domain::search`), so both engines
//! only split it at spaces: PostgreSQL matches a `tsvector` (configuration
//! `simple`, GIN index) with a prefix `tsquery` and ranks with `ts_rank`;
//! SQLite matches an FTS5 table with prefix queries and ranks with `bm25`.
//! The match is the one part of the SQL that differs by backend.

use crate::store::Backend;

/// The PostgreSQL `tsquery` for folded terms: all required, the last a
/// prefix (search as you type), the others whole words — a prefix is a
/// partial match the word index cannot skip through, so `tr` of `TR-000123`
/// as a prefix read every entry (DECISIONS.md). Terms hold only letters and
/// digits (`domain::search::words`).
pub(in crate::store) fn pg_tsquery(terms: &[String]) -> String {
    let last = terms.len().saturating_sub(1);
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == last {
                format!("'{t}':*")
            } else {
                format!("'{t}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The FTS5 query for folded terms: all required, the last a prefix.
pub(in crate::store) fn fts5_query(terms: &[String]) -> String {
    let last = terms.len().saturating_sub(1);
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i == last {
                format!("\"{t}\"*")
            } else {
                format!("\"{t}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The match text bound for `backend`.
pub(in crate::store) fn match_text(backend: Backend, terms: &[String]) -> String {
    match backend {
        Backend::Postgres => pg_tsquery(terms),
        Backend::Sqlite => fts5_query(terms),
    }
}

/// How many matching entries a search ranks at most (the newest ones):
/// bounds the work of a word in a large share of the tenant's records. A
/// word in 2 % of them walks 25 000 entries to find 500 (DECISIONS.md,
/// BENCHMARKS.md: 2000 cost four times that and missed the p95 target).
pub(in crate::store) const SEARCH_CANDIDATES: i64 = 500;

/// PostgreSQL's first look: the newest entries walked for matches.
pub(in crate::store) const SEARCH_WINDOW: i64 = 20_000;

/// Matches in the first window (0.5 %) from which a longer walk is cheaper
/// than reading every match through the word index.
pub(in crate::store) const SEARCH_WINDOW_COMMON: i64 = 100;

/// The longer walk (at 0.5 % it holds the 500 newest matches).
pub(in crate::store) const SEARCH_WINDOW_LONG: i64 = 120_000;

/// Where a search's candidates come from.
#[derive(Debug, Clone, Copy)]
pub(in crate::store) enum Candidates {
    /// The newest matches as the engine finds them (SQLite: by rowid).
    Newest,
    /// The matches among the tenant's newest `n` entries (PostgreSQL).
    Window(i64),
    /// Every match through the word index, newest first (PostgreSQL).
    Index,
}

/// `FROM` clause and the condition (before the bound match text, closed by
/// one `)`) of a match over `search_entries e`.
pub(in crate::store) fn match_parts(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Postgres => ("search_entries e", "e.document @@ to_tsquery('simple', "),
        Backend::Sqlite => (
            "search_fts JOIN search_entries e ON e.rowid = search_fts.rowid",
            "search_fts MATCH (",
        ),
    }
}

macro_rules! impl_search_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::QueryBuilder;
            use uuid::Uuid;

            use $crate::domain::{
                lifecycle::MasterKind,
                search::{SearchEntry, SearchHit, SearchKind, TicketText, asset_entry, customer_entry, site_entry},
            };
            use $crate::store::{
                Backend, StoreError, StoreResult,
                search::{SearchQuery, SearchStore},
                sql::search::{Candidates, SEARCH_CANDIDATES, SEARCH_WINDOW, SEARCH_WINDOW_COMMON, SEARCH_WINDOW_LONG, match_parts, match_text},
            };

            type Tx = sqlx::Transaction<'static, $db>;

            impl $store {
                pub(crate) fn search_kind_of(kind: MasterKind) -> Option<SearchKind> {
                    match kind {
                        MasterKind::Customer => Some(SearchKind::Customer),
                        MasterKind::Site => Some(SearchKind::Site),
                        MasterKind::Asset => Some(SearchKind::Asset),
                        _ => None,
                    }
                }

                pub(crate) async fn put_search_entry(tx: &mut Tx, tenant_id: Uuid, entry: &SearchEntry) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO search_entries (tenant_id, kind, id, title, subtitle, ticket_number, head, body) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (tenant_id, kind, id) DO UPDATE SET title = excluded.title, subtitle = excluded.subtitle, \
                         ticket_number = excluded.ticket_number, head = excluded.head, body = excluded.body",
                    )
                    .bind(tenant_id)
                    .bind(entry.kind.as_str())
                    .bind(entry.id)
                    .bind(&entry.title)
                    .bind(&entry.subtitle)
                    .bind(&entry.ticket_number)
                    .bind(&entry.head)
                    .bind(&entry.body)
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                }

                pub(crate) async fn remove_search_entry(tx: &mut Tx, tenant_id: Uuid, kind: SearchKind, id: Uuid) -> StoreResult<()> {
                    sqlx::query("DELETE FROM search_entries WHERE tenant_id = $1 AND kind = $2 AND id = $3")
                        .bind(tenant_id)
                        .bind(kind.as_str())
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                }

                /// Rewrites a ticket's entry from the ticket, its comments
                /// and the customer, site and asset it names.
                pub(crate) async fn index_ticket(tx: &mut Tx, tenant_id: Uuid, ticket_id: Uuid) -> StoreResult<()> {
                    let row: Option<(String, String, String, String, String, String, Option<String>)> = sqlx::query_as(
                        "SELECT t.number, t.title, t.description, c.name, s.name, s.address, a.serial \
                         FROM tickets t \
                         JOIN sites s ON s.tenant_id = t.tenant_id AND s.id = t.site_id \
                         JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id \
                         LEFT JOIN assets a ON a.tenant_id = t.tenant_id AND a.id = t.asset_id \
                         WHERE t.tenant_id = $1 AND t.id = $2",
                    )
                    .bind(tenant_id)
                    .bind(ticket_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let (number, title, description, customer, site, address, serial) = row.ok_or(StoreError::NotFound("ticket"))?;
                    let comments: Vec<String> = sqlx::query_scalar("SELECT body FROM comments WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY id")
                        .bind(tenant_id)
                        .bind(ticket_id)
                        .fetch_all(&mut **tx)
                        .await?;
                    let text = TicketText {
                        number: &number,
                        title: &title,
                        description: &description,
                        comments,
                        customer_name: &customer,
                        site_name: &site,
                        site_address: &address,
                        asset_serial: serial.as_deref(),
                    };
                    Self::put_search_entry(tx, tenant_id, &text.entry(ticket_id)).await
                }

                /// Rewrites the entries of the tickets `condition` selects
                /// (a condition on `t` over `$1` tenant and `$2` id).
                async fn index_tickets_where(tx: &mut Tx, tenant_id: Uuid, id: Uuid, condition: &str) -> StoreResult<()> {
                    let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t.id FROM tickets t WHERE t.tenant_id = $1 AND {condition}"
                    )))
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await?;
                    for ticket_id in ids {
                        Self::index_ticket(tx, tenant_id, ticket_id).await?;
                    }
                    Ok(())
                }

                /// A customer's entry; with `tickets`, also its sites' and tickets' entries, which show its name.
                pub(crate) async fn index_customer(tx: &mut Tx, tenant_id: Uuid, id: Uuid, tickets: bool) -> StoreResult<()> {
                    let (name, email, phone, contact): (String, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
                        "SELECT name, email, phone, contact_person FROM customers WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound("customer"))?;
                    let entry = customer_entry(id, &name, email.as_deref(), phone.as_deref(), contact.as_deref());
                    Self::put_search_entry(tx, tenant_id, &entry).await?;
                    if tickets {
                        let sites: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM sites WHERE tenant_id = $1 AND customer_id = $2")
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_all(&mut **tx)
                            .await?;
                        for site in sites {
                            Self::index_site(tx, tenant_id, site, false).await?;
                        }
                        Self::index_tickets_where(tx, tenant_id, id,
                            "t.site_id IN (SELECT s.id FROM sites s WHERE s.tenant_id = $1 AND s.customer_id = $2)").await?;
                    }
                    Ok(())
                }

                /// A site's entry; with `related`, also its assets' and tickets' entries.
                pub(crate) async fn index_site(tx: &mut Tx, tenant_id: Uuid, id: Uuid, related: bool) -> StoreResult<()> {
                    let (name, address, customer): (String, String, String) = sqlx::query_as(
                        "SELECT s.name, s.address, c.name FROM sites s JOIN customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id \
                         WHERE s.tenant_id = $1 AND s.id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound("site"))?;
                    Self::put_search_entry(tx, tenant_id, &site_entry(id, &name, &address, &customer)).await?;
                    if related {
                        let assets: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM assets WHERE tenant_id = $1 AND site_id = $2")
                            .bind(tenant_id)
                            .bind(id)
                            .fetch_all(&mut **tx)
                            .await?;
                        for asset in assets {
                            Self::index_asset(tx, tenant_id, asset, false).await?;
                        }
                        Self::index_tickets_where(tx, tenant_id, id, "t.site_id = $2").await?;
                    }
                    Ok(())
                }

                /// An asset's entry; with `tickets`, also its tickets' entries (they hold its serial).
                pub(crate) async fn index_asset(tx: &mut Tx, tenant_id: Uuid, id: Uuid, tickets: bool) -> StoreResult<()> {
                    let (serial, model, site): (String, String, String) = sqlx::query_as(
                        "SELECT a.serial, a.model, s.name FROM assets a JOIN sites s ON s.tenant_id = a.tenant_id AND s.id = a.site_id \
                         WHERE a.tenant_id = $1 AND a.id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound("asset"))?;
                    Self::put_search_entry(tx, tenant_id, &asset_entry(id, &serial, &model, &site)).await?;
                    if tickets {
                        Self::index_tickets_where(tx, tenant_id, id, "t.asset_id = $2").await?;
                    }
                    Ok(())
                }

                /// The score of a match (higher is better), as a double.
                fn push_score(query: &mut QueryBuilder<$db>, text: &str) {
                    match Self::BACKEND {
                        Backend::Postgres => {
                            query
                                .push("CAST(ts_rank(e.document, to_tsquery('simple', ")
                                .push_bind(text.to_owned())
                                .push(")) AS DOUBLE PRECISION)");
                        }
                        // bm25 is lower for better matches; head weighs 4× body.
                        Backend::Sqlite => {
                            query.push("(-bm25(search_fts, 4.0, 1.0))");
                        }
                    }
                }

                /// Appends `AND t.id IN (tickets of the tenant matching every term)` to a ticket query over `t`.
                pub(crate) fn push_ticket_match(query: &mut QueryBuilder<$db>, tenant_id: Uuid, terms: &[String]) {
                    let (from, matches) = match_parts(Self::BACKEND);
                    query
                        .push(format!(" AND t.id IN (SELECT e.id FROM {from} WHERE e.tenant_id = "))
                        .push_bind(tenant_id)
                        .push(" AND e.kind = 'ticket' AND ")
                        .push(matches)
                        .push_bind(match_text(Self::BACKEND, terms))
                        .push("))");
                }

                /// A subquery `(hit_id, hit_score)` of the tenant's tickets matching every term, to join for ranking.
                pub(crate) fn push_ticket_scores(query: &mut QueryBuilder<$db>, tenant_id: Uuid, terms: &[String]) {
                    let (from, matches) = match_parts(Self::BACKEND);
                    let text = match_text(Self::BACKEND, terms);
                    query.push("(SELECT e.id AS hit_id, ");
                    Self::push_score(query, &text);
                    query
                        .push(" AS hit_score FROM ")
                        .push(from)
                        .push(" WHERE e.tenant_id = ")
                        .push_bind(tenant_id)
                        .push(" AND e.kind = 'ticket' AND ")
                        .push(matches)
                        .push_bind(text)
                        .push("))");
                }
            }

            impl $store {
                /// One ranked search over the candidates `source` gives, with
                /// how many candidates there were.
                async fn search_candidates(
                    &self,
                    tenant_id: Uuid,
                    search: &SearchQuery,
                    source: Candidates,
                ) -> StoreResult<(Vec<SearchHit>, i64)> {
                    let (from, matches) = match_parts(Self::BACKEND);
                    let text = match_text(Self::BACKEND, &search.terms);
                    let mut query = QueryBuilder::<$db>::new("SELECT c.kind, c.id, c.title, c.subtitle, c.ticket_number, ");
                    match Self::BACKEND {
                        Backend::Postgres => {
                            query
                                .push("CAST(ts_rank(c.document, to_tsquery('simple', ")
                                .push_bind(text.clone())
                                .push(")) AS DOUBLE PRECISION) AS score, COUNT(*) OVER () AS found FROM (SELECT e.kind, e.id, e.title, e.subtitle, e.ticket_number, e.document");
                        }
                        Backend::Sqlite => {
                            query.push("c.score, COUNT(*) OVER () AS found FROM (SELECT e.kind, e.id, e.title, e.subtitle, e.ticket_number, (-bm25(search_fts, 4.0, 1.0)) AS score");
                        }
                    }
                    match source {
                        // Every match as the engine finds it (the order below
                        // decides which are the newest).
                        Candidates::Newest | Candidates::Index => {
                            query.push(" FROM ").push(from);
                        }
                        // The walk over the newest `n` entries, whatever the
                        // planner estimates for the words.
                        Candidates::Window(n) => {
                            query
                                .push(" FROM (SELECT w.kind, w.id, w.title, w.subtitle, w.ticket_number, w.document, w.seq, w.tenant_id FROM search_entries w WHERE w.tenant_id = ")
                                .push_bind(tenant_id)
                                .push(" ORDER BY w.seq DESC LIMIT ")
                                .push_bind(n)
                                .push(") e");
                        }
                    }
                    query
                        .push(" WHERE e.tenant_id = ")
                        .push_bind(tenant_id)
                        .push(" AND ")
                        .push(matches)
                        .push_bind(text)
                        .push(")");
                    if let Some(kind) = search.kind {
                        query.push(" AND e.kind = ").push_bind(kind.as_str());
                    }
                    if let Some(assignee) = search.assignee_id {
                        query
                            .push(" AND e.kind = 'ticket' AND e.id IN (SELECT k.id FROM tickets k WHERE k.tenant_id = ")
                            .push_bind(tenant_id)
                            .push(" AND k.assignee_id = ")
                            .push_bind(assignee)
                            .push(")");
                    }
                    match (Self::BACKEND, source) {
                        (Backend::Sqlite, _) => query.push(" ORDER BY search_fts.rowid DESC"),
                        // Every match through the word index, then the newest:
                        // `seq + 0` keeps the planner off the walk.
                        (Backend::Postgres, Candidates::Index) => query.push(" ORDER BY e.seq + 0 DESC"),
                        (Backend::Postgres, _) => query.push(" ORDER BY e.seq DESC"),
                    };
                    query
                        .push(" LIMIT ")
                        .push_bind(SEARCH_CANDIDATES)
                        .push(") c ORDER BY score DESC, c.id DESC LIMIT ")
                        .push_bind(i64::from(search.limit));
                    // Unprepared: PostgreSQL plans each search for its own words.
                    let rows: Vec<(String, Uuid, String, String, Option<String>, f64, i64)> =
                        query.build_query_as().persistent(false).fetch_all(&self.pool).await?;
                    let found = rows.first().map_or(0, |row| row.6);
                    let hits = rows
                        .into_iter()
                        .map(|(kind, id, title, subtitle, ticket_number, score, _)| {
                            Ok(SearchHit {
                                kind: SearchKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("search entry kind `{kind}`")))?,
                                id,
                                title,
                                subtitle,
                                ticket_number,
                                score,
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    Ok((hits, found))
                }
            }

            #[async_trait]
            impl SearchStore for $store {
                #[tracing::instrument(skip_all)]
                async fn search(&self, tenant_id: Uuid, search: &SearchQuery) -> StoreResult<Vec<SearchHit>> {
                    // The candidates are the newest SEARCH_CANDIDATES matches.
                    // SQLite finds them by walking FTS5 rowids. PostgreSQL's
                    // planner guesses wrong for some word pairs (a walk of
                    // 600 000 entries for 936 matches), so the walk is bounded
                    // and the measured share of matches picks the next step.
                    if Self::BACKEND == Backend::Sqlite {
                        return Ok(self.search_candidates(tenant_id, search, Candidates::Newest).await?.0);
                    }
                    let (hits, found) = self.search_candidates(tenant_id, search, Candidates::Window(SEARCH_WINDOW)).await?;
                    if found >= SEARCH_CANDIDATES {
                        // The newest matches all lie in the window.
                        return Ok(hits);
                    }
                    if found >= SEARCH_WINDOW_COMMON {
                        // Common enough that a longer walk finds them soonest.
                        let (hits, found) = self.search_candidates(tenant_id, search, Candidates::Window(SEARCH_WINDOW_LONG)).await?;
                        if found >= SEARCH_CANDIDATES {
                            return Ok(hits);
                        }
                    }
                    Ok(self.search_candidates(tenant_id, search, Candidates::Index).await?.0)
                }
            }
        };
    };
}

pub(in crate::store) use impl_search_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_conjunctions_with_the_last_word_a_prefix() {
        let terms = vec!["cafe".to_owned(), "空调".to_owned()];
        assert_eq!(pg_tsquery(&terms), "'cafe' & '空调':*");
        assert_eq!(fts5_query(&terms), "\"cafe\" AND \"空调\"*");
        let one = vec!["comp".to_owned()];
        assert_eq!(pg_tsquery(&one), "'comp':*");
        assert_eq!(fts5_query(&one), "\"comp\"*");
    }
}
