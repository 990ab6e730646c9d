//! Reading one tenant's rows out of every table, for `truckroll export`
//! (issue 19). The tables are found in the database's own catalogue, so a
//! table a later migration adds is exported without a change here. Rows come
//! as one JSON object each, streamed from the database in primary-key order,
//! so memory stays bounded whatever the tenant's size and a resumed export
//! can find where it stopped.

use std::str::FromStr;

use futures_util::{StreamExt, stream::BoxStream};
use sqlx::{
    PgPool, Row, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use uuid::Uuid;

use super::StoreResult;

/// Which rows of a table belong to the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantScope {
    /// The `tenants` row itself (`id`).
    TenantRow,
    /// Rows whose `tenant_id` is the tenant.
    TenantColumn,
    /// Rows without a tenant column that hang off one of its tickets
    /// (`ticket_id`): document chunks, tags.
    TicketColumn,
}

/// One table to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTable {
    pub name: String,
    pub scope: TenantScope,
    /// The primary key's columns, in key order (empty: none declared).
    pub key_columns: Vec<String>,
    pub columns: Vec<String>,
}

/// The tables of the database: those holding tenant data, and the others
/// (the migration ledger, full-text index internals), named so an export
/// can say what it left out.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub tables: Vec<ExportTable>,
    pub skipped: Vec<String>,
}

/// One exported row: its JSON object and its primary key (a JSON array),
/// by which a resumed export recognises the last row it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub json: String,
    pub key: String,
}

/// A read-only view of the database for exports: its own small pool.
#[derive(Debug, Clone)]
pub enum ExportSource {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn scope_of(name: &str, columns: &[String]) -> Option<TenantScope> {
    let has = |column: &str| columns.iter().any(|c| c == column);
    if name == "tenants" {
        Some(TenantScope::TenantRow)
    } else if has("tenant_id") {
        Some(TenantScope::TenantColumn)
    } else if has("ticket_id") {
        Some(TenantScope::TicketColumn)
    } else {
        None
    }
}

fn where_clause(scope: TenantScope) -> &'static str {
    match scope {
        TenantScope::TenantRow => "\"id\" = $1",
        TenantScope::TenantColumn => "\"tenant_id\" = $1",
        TenantScope::TicketColumn => {
            "\"ticket_id\" IN (SELECT \"id\" FROM \"tickets\" WHERE \"tenant_id\" = $1)"
        }
    }
}

impl ExportSource {
    /// Opens two connections to `database_url` (never creating a database).
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        if database_url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(database_url)?
                .create_if_missing(false)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(database_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// Every table, sorted by name, with how its tenant's rows are found.
    pub async fn catalogue(&self) -> StoreResult<Catalogue> {
        let mut catalogue = Catalogue::default();
        for (name, columns, key_columns) in self.tables().await? {
            match scope_of(&name, &columns) {
                Some(scope) => catalogue.tables.push(ExportTable {
                    name,
                    scope,
                    key_columns,
                    columns,
                }),
                None => catalogue.skipped.push(name),
            }
        }
        Ok(catalogue)
    }

    /// `(name, columns, primary key columns)` of every ordinary table.
    async fn tables(&self) -> StoreResult<Vec<(String, Vec<String>, Vec<String>)>> {
        let mut tables = Vec::new();
        match self {
            Self::Sqlite(pool) => {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                     AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
                     AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?;
                for name in names {
                    let rows =
                        sqlx::query("SELECT name, pk FROM pragma_table_info($1) ORDER BY cid")
                            .bind(&name)
                            .fetch_all(pool)
                            .await?;
                    let mut columns = Vec::with_capacity(rows.len());
                    let mut keyed: Vec<(i64, String)> = Vec::new();
                    for row in &rows {
                        let column: String = row.try_get("name")?;
                        let position: i64 = row.try_get("pk")?;
                        if position > 0 {
                            keyed.push((position, column.clone()));
                        }
                        columns.push(column);
                    }
                    keyed.sort();
                    tables.push((name, columns, keyed.into_iter().map(|(_, c)| c).collect()));
                }
            }
            Self::Postgres(pool) => {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?;
                for name in names {
                    let columns: Vec<String> = sqlx::query_scalar(
                        "SELECT column_name::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1 \
                         ORDER BY ordinal_position",
                    )
                    .bind(&name)
                    .fetch_all(pool)
                    .await?;
                    let key_columns: Vec<String> = sqlx::query_scalar(
                        "SELECT a.attname::text FROM pg_index i \
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                         WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary \
                         ORDER BY array_position(i.indkey::int2[], a.attnum)",
                    )
                    .bind(&name)
                    .fetch_all(pool)
                    .await?;
                    tables.push((name, columns, key_columns));
                }
            }
        }
        Ok(tables)
    }

    /// The tenant's rows of `table`, in primary-key order, one at a time.
    pub fn rows<'a>(
        &'a self,
        table: &ExportTable,
        tenant_id: Uuid,
    ) -> BoxStream<'a, StoreResult<ExportRow>> {
        let filter = where_clause(table.scope);
        let name = quoted(&table.name);
        match self {
            Self::Sqlite(pool) => {
                // UUIDs are 16-byte blobs here; they are written as the
                // text PostgreSQL's `row_to_json` gives, other bytes as `\x…` hex.
                let value = |column: &String| {
                    let c = quoted(column);
                    format!(
                        "CASE WHEN typeof({c}) = 'blob' AND length({c}) = 16 THEN \
                         lower(substr(hex({c}), 1, 8) || '-' || substr(hex({c}), 9, 4) || '-' || \
                         substr(hex({c}), 13, 4) || '-' || substr(hex({c}), 17, 4) || '-' || substr(hex({c}), 21)) \
                         WHEN typeof({c}) = 'blob' THEN '\\x' || lower(hex({c})) ELSE {c} END"
                    )
                };
                let object = table
                    .columns
                    .iter()
                    .map(|c| format!("'{}', {}", c.replace('\'', "''"), value(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let order: Vec<String> = if table.key_columns.is_empty() {
                    vec!["rowid".to_owned()]
                } else {
                    table.key_columns.iter().map(|c| quoted(c)).collect()
                };
                let key = order
                    .iter()
                    .map(|c| format!("CASE WHEN typeof({c}) = 'blob' THEN hex({c}) ELSE {c} END"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT json_object({object}) AS row_json, json_array({key}) AS row_key \
                     FROM {name} WHERE {filter} ORDER BY {}",
                    order.join(", ")
                );
                sqlite_rows(pool, sql, tenant_id).boxed()
            }
            Self::Postgres(pool) => {
                let (order, key) = if table.key_columns.is_empty() {
                    (
                        "t::text".to_owned(),
                        "json_build_array(md5(t::text))".to_owned(),
                    )
                } else {
                    let order = table
                        .key_columns
                        .iter()
                        .map(|c| format!("t.{}", quoted(c)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let key = format!("json_build_array({order})");
                    (order, key)
                };
                let sql = format!(
                    "SELECT row_to_json(t)::text AS row_json, ({key})::text AS row_key \
                     FROM {name} t WHERE {filter} ORDER BY {order}"
                );
                pg_rows(pool, sql, tenant_id).boxed()
            }
        }
    }
}

fn sqlite_rows(
    pool: &SqlitePool,
    sql: String,
    tenant_id: Uuid,
) -> impl futures_util::Stream<Item = StoreResult<ExportRow>> + Send + '_ {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch(pool)
        .map(|row| {
            let row = row?;
            Ok(ExportRow {
                json: row.try_get("row_json")?,
                key: row.try_get("row_key")?,
            })
        })
}

fn pg_rows(
    pool: &PgPool,
    sql: String,
    tenant_id: Uuid,
) -> impl futures_util::Stream<Item = StoreResult<ExportRow>> + Send + '_ {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .fetch(pool)
        .map(|row| {
            let row = row?;
            Ok(ExportRow {
                json: row.try_get("row_json")?,
                key: row.try_get("row_key")?,
            })
        })
}
