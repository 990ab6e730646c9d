//! The device's local SQLite database: ticket documents (a snapshot plus
//! incremental chunks, like the server's storage), per-document sync state,
//! server snapshots of ticket headers, the quarantine, the outbox of local
//! edits, and the signed-in session.
//!
//! Every write that must survive a crash is one transaction, committed with
//! `synchronous = FULL` before the SDK call returns.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};
use truckroll_sync::ChangeHash;

use crate::error::SdkResult;

/// Once the chunks of a document pass this size, the next write stores one
/// snapshot instead, so loading never replays more than this.
pub const COMPACT_THRESHOLD_BYTES: i64 = 64 * 1024;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // `phase`: receiving (not yet filled from the server), active, or leaving
    // (removed from the set with local changes the server still lacks).
    "CREATE TABLE IF NOT EXISTS documents (
        doc_id TEXT PRIMARY KEY,
        snapshot BLOB NOT NULL,
        incremental_bytes INTEGER NOT NULL DEFAULT 0,
        phase TEXT NOT NULL DEFAULT 'receiving',
        updated_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS document_chunks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        bytes BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS document_chunks_doc ON document_chunks (doc_id, seq)",
    "CREATE TABLE IF NOT EXISTS sync_states (doc_id TEXT PRIMARY KEY, state BLOB NOT NULL)",
    // The heads of a document when a sync message for it was last made
    // (hex hashes, comma-separated): its own changes up to them may have
    // reached the server and are never coalesced again. No row: a document
    // from before coalescing, whose changes are left as they are.
    "CREATE TABLE IF NOT EXISTS sealed_heads (doc_id TEXT PRIMARY KEY, heads TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ticket_headers (
        doc_id TEXT PRIMARY KEY,
        header TEXT NOT NULL,
        fetched_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        code TEXT NOT NULL,
        detail TEXT NOT NULL,
        saved BLOB NOT NULL,
        quarantined_at INTEGER NOT NULL,
        exported_at INTEGER)",
    // One row per local edit: `state` is pending until the server's sync state
    // shows it holds the change, then acked; quarantined if its document was.
    "CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id TEXT NOT NULL,
        change_hash TEXT NOT NULL,
        edit TEXT NOT NULL,
        device_time INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        acked_at INTEGER)",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (doc_id, state)",
    // The bytes of queued photos and signature images, by SHA-256 (one copy
    // however many queue rows name it); deleted once no open row needs them.
    "CREATE TABLE IF NOT EXISTS media_blobs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL)",
    // One row per photo or signature to upload. `client_id` is generated on
    // the device (the signature's Idempotency-Key); `step` says what is
    // done: queued → begun (media id and presigned PUT kept) → uploaded →
    // done, or failed (refused for good, `last_error` says why).
    "CREATE TABLE IF NOT EXISTS media_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        signature TEXT,
        step TEXT NOT NULL DEFAULT 'queued',
        media_id TEXT,
        upload TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS media_outbox_step ON media_outbox (step, seq)",
    // ---- the technician's day (crate::day) ----
    // Open offers as the server last listed them (`body`: its JSON).
    "CREATE TABLE IF NOT EXISTS offers_cache (
        offer_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        fetched_at INTEGER NOT NULL)",
    // One answer per offer. `client_id` is the Idempotency-Key; `state`:
    // queued (not yet answered by the server) or done; `outcome` the typed
    // answer (crate::offers::OfferAnswer as JSON) once done.
    "CREATE TABLE IF NOT EXISTS offer_answers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL UNIQUE,
        offer_id TEXT NOT NULL UNIQUE,
        answer TEXT NOT NULL,
        reason TEXT,
        answered_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        outcome TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at INTEGER NOT NULL)",
    // Position fixes not yet on the server, oldest first; `batch` is the
    // Idempotency-Key of the request they were put in (kept until it is
    // answered, so a retry resends the same batch). Deleted once stored.
    "CREATE TABLE IF NOT EXISTS location_pings (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device_time INTEGER NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        accuracy_m REAL NOT NULL,
        speed_mps REAL,
        heading_deg REAL,
        batch TEXT)",
    "CREATE INDEX IF NOT EXISTS location_pings_batch ON location_pings (batch, seq)",
    // A ticket's comment thread as the server last listed it.
    "CREATE TABLE IF NOT EXISTS comments_cache (
        comment_id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS comments_cache_doc ON comments_cache (doc_id, created_at)",
    // Comments written on the phone: queued → sent (with the server's id)
    // or failed (refused for good). `client_id` is the Idempotency-Key.
    "CREATE TABLE IF NOT EXISTS comment_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL UNIQUE,
        doc_id TEXT NOT NULL,
        body TEXT NOT NULL,
        visibility TEXT NOT NULL,
        written_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        comment_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT)",
    // The job packet of each held document (packet.rs).
    crate::packet::TABLE,
    crate::packet::FILES_TABLE,
];

/// Opens (creating if needed) the database at `path`.
pub async fn open(path: &Path) -> SdkResult<SqliteConnection> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed edit survives power loss, not only process death.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(10));
    let mut conn = SqliteConnection::connect_with(&options).await?;
    for statement in SCHEMA {
        sqlx::query(*statement).execute(&mut conn).await?;
    }
    Ok(conn)
}

// ---- meta -----------------------------------------------------------------

pub async fn meta(conn: &mut SqliteConnection, key: &str) -> SdkResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

pub async fn set_meta(conn: &mut SqliteConnection, key: &str, value: &str) -> SdkResult<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_meta(conn: &mut SqliteConnection, key: &str) -> SdkResult<()> {
    sqlx::query("DELETE FROM meta WHERE key = ?1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- documents ------------------------------------------------------------

/// A document as stored: its bytes (snapshot followed by chunks, loadable in
/// one go) and bookkeeping.
#[derive(Debug)]
pub struct StoredDoc {
    pub bytes: Vec<u8>,
    pub incremental_bytes: i64,
    pub phase: String,
}

pub async fn doc_ids(conn: &mut SqliteConnection) -> SdkResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT doc_id FROM documents ORDER BY doc_id")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn load_doc(conn: &mut SqliteConnection, doc_id: &str) -> SdkResult<Option<StoredDoc>> {
    let Some(row) =
        sqlx::query("SELECT snapshot, incremental_bytes, phase FROM documents WHERE doc_id = ?1")
            .bind(doc_id)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let mut bytes: Vec<u8> = row.try_get("snapshot")?;
    let chunks: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT bytes FROM document_chunks WHERE doc_id = ?1 ORDER BY seq")
            .bind(doc_id)
            .fetch_all(conn)
            .await?;
    for chunk in chunks {
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(StoredDoc {
        bytes,
        incremental_bytes: row.try_get("incremental_bytes")?,
        phase: row.try_get("phase")?,
    }))
}

/// How a document's new state is written.
#[derive(Debug)]
pub enum DocBody {
    /// Replace everything with this saved document.
    Snapshot(Vec<u8>),
    /// Append this `save_after` chunk; `incremental_bytes` is the new total.
    Chunk {
        bytes: Vec<u8>,
        incremental_bytes: i64,
    },
}

pub async fn put_doc(
    conn: &mut SqliteConnection,
    doc_id: &str,
    body: DocBody,
    now_ms: i64,
) -> SdkResult<()> {
    match body {
        DocBody::Snapshot(snapshot) => {
            sqlx::query(
                "INSERT INTO documents (doc_id, snapshot, incremental_bytes, updated_at) VALUES (?1, ?2, 0, ?3)
                 ON CONFLICT (doc_id) DO UPDATE SET snapshot = excluded.snapshot, incremental_bytes = 0, updated_at = excluded.updated_at",
            )
            .bind(doc_id)
            .bind(snapshot)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM document_chunks WHERE doc_id = ?1")
                .bind(doc_id)
                .execute(conn)
                .await?;
        }
        DocBody::Chunk {
            bytes,
            incremental_bytes,
        } => {
            if bytes.is_empty() {
                return Ok(());
            }
            sqlx::query("INSERT INTO document_chunks (doc_id, bytes) VALUES (?1, ?2)")
                .bind(doc_id)
                .bind(bytes)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE documents SET incremental_bytes = ?2, updated_at = ?3 WHERE doc_id = ?1",
            )
            .bind(doc_id)
            .bind(incremental_bytes)
            .bind(now_ms)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

pub async fn set_phase(conn: &mut SqliteConnection, doc_id: &str, phase: &str) -> SdkResult<()> {
    sqlx::query("UPDATE documents SET phase = ?2 WHERE doc_id = ?1")
        .bind(doc_id)
        .bind(phase)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes a document with its chunks, sync state and header (not its outbox
/// history nor quarantined copies).
pub async fn delete_doc(conn: &mut SqliteConnection, doc_id: &str) -> SdkResult<()> {
    for sql in [
        "DELETE FROM documents WHERE doc_id = ?1",
        "DELETE FROM document_chunks WHERE doc_id = ?1",
        "DELETE FROM sync_states WHERE doc_id = ?1",
        "DELETE FROM sealed_heads WHERE doc_id = ?1",
        "DELETE FROM ticket_headers WHERE doc_id = ?1",
        "DELETE FROM comments_cache WHERE doc_id = ?1",
        // Personal data: gone with the document (PROTOCOL.md §4).
        "DELETE FROM job_packets WHERE doc_id = ?1",
    ] {
        sqlx::query(sql).bind(doc_id).execute(&mut *conn).await?;
    }
    Ok(())
}

// ---- sync state -----------------------------------------------------------

pub async fn sync_state(conn: &mut SqliteConnection, doc_id: &str) -> SdkResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT state FROM sync_states WHERE doc_id = ?1")
            .bind(doc_id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn put_sync_state(
    conn: &mut SqliteConnection,
    doc_id: &str,
    state: Option<&[u8]>,
) -> SdkResult<()> {
    match state {
        Some(state) => {
            sqlx::query(
                "INSERT INTO sync_states (doc_id, state) VALUES (?1, ?2)
                 ON CONFLICT (doc_id) DO UPDATE SET state = excluded.state",
            )
            .bind(doc_id)
            .bind(state)
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM sync_states WHERE doc_id = ?1")
                .bind(doc_id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

// ---- sealed heads (coalescing) ---------------------------------------------

pub async fn sealed_heads(
    conn: &mut SqliteConnection,
    doc_id: &str,
) -> SdkResult<Option<Vec<ChangeHash>>> {
    let heads: Option<String> =
        sqlx::query_scalar("SELECT heads FROM sealed_heads WHERE doc_id = ?1")
            .bind(doc_id)
            .fetch_optional(conn)
            .await?;
    // A head that does not parse seals nothing it could name: no row.
    Ok(heads.and_then(|heads| {
        heads
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| ChangeHash::from_str(h).ok())
            .collect()
    }))
}

pub async fn put_sealed_heads(
    conn: &mut SqliteConnection,
    doc_id: &str,
    heads: &[ChangeHash],
) -> SdkResult<()> {
    let heads = heads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO sealed_heads (doc_id, heads) VALUES (?1, ?2)
         ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads",
    )
    .bind(doc_id)
    .bind(heads)
    .execute(conn)
    .await?;
    Ok(())
}

/// Points the outbox rows of coalesced changes at the change that replaced them.
pub async fn rehash_outbox(
    conn: &mut SqliteConnection,
    doc_id: &str,
    replaced: &[ChangeHash],
    hash: &ChangeHash,
) -> SdkResult<()> {
    let hash = hash.to_string();
    for old in replaced {
        sqlx::query("UPDATE outbox SET change_hash = ?3 WHERE doc_id = ?1 AND change_hash = ?2")
            .bind(doc_id)
            .bind(old.to_string())
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---- ticket headers -------------------------------------------------------

pub async fn put_header(
    conn: &mut SqliteConnection,
    doc_id: &str,
    header: &serde_json::Value,
    now_ms: i64,
) -> SdkResult<()> {
    sqlx::query(
        "INSERT INTO ticket_headers (doc_id, header, fetched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (doc_id) DO UPDATE SET header = excluded.header, fetched_at = excluded.fetched_at",
    )
    .bind(doc_id)
    .bind(header.to_string())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn header(
    conn: &mut SqliteConnection,
    doc_id: &str,
) -> SdkResult<Option<serde_json::Value>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT header FROM ticket_headers WHERE doc_id = ?1")
            .bind(doc_id)
            .fetch_optional(conn)
            .await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

// ---- outbox ---------------------------------------------------------------

/// One local edit as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxEntry {
    pub seq: i64,
    pub doc_id: String,
    /// The Automerge change the edit made (hex hash).
    pub change_hash: String,
    /// The edit as JSON ([`crate::Edit`]).
    pub edit: String,
    pub device_time: i64,
    /// `pending`, `acked` or `quarantined`.
    pub state: String,
}

pub async fn insert_outbox(
    conn: &mut SqliteConnection,
    doc_id: &str,
    change_hash: &str,
    edit: &str,
    device_time: i64,
) -> SdkResult<i64> {
    let result = sqlx::query(
        "INSERT INTO outbox (doc_id, change_hash, edit, device_time) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(doc_id)
    .bind(change_hash)
    .bind(edit)
    .bind(device_time)
    .execute(conn)
    .await?;
    Ok(result.last_insert_rowid())
}

pub async fn outbox(
    conn: &mut SqliteConnection,
    doc_id: Option<&str>,
    state: Option<&str>,
) -> SdkResult<Vec<OutboxEntry>> {
    let rows = sqlx::query(
        "SELECT seq, doc_id, change_hash, edit, device_time, state FROM outbox
         WHERE (?1 IS NULL OR doc_id = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY seq",
    )
    .bind(doc_id)
    .bind(state)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxEntry {
                seq: r.try_get("seq")?,
                doc_id: r.try_get("doc_id")?,
                change_hash: r.try_get("change_hash")?,
                edit: r.try_get("edit")?,
                device_time: r.try_get("device_time")?,
                state: r.try_get("state")?,
            })
        })
        .collect()
}

pub async fn set_outbox_state(
    conn: &mut SqliteConnection,
    seq: i64,
    state: &str,
    now_ms: i64,
) -> SdkResult<()> {
    sqlx::query("UPDATE outbox SET state = ?2, acked_at = ?3 WHERE seq = ?1")
        .bind(seq)
        .bind(state)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn quarantine_outbox(conn: &mut SqliteConnection, doc_id: &str) -> SdkResult<()> {
    sqlx::query("UPDATE outbox SET state = 'quarantined' WHERE doc_id = ?1 AND state = 'pending'")
        .bind(doc_id)
        .execute(conn)
        .await?;
    Ok(())
}

// ---- media outbox ---------------------------------------------------------

/// One photo or signature waiting for (or done with) its upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaEntry {
    pub seq: i64,
    /// Generated on the device; the Idempotency-Key of a signature upload.
    pub client_id: String,
    pub doc_id: String,
    /// `photo` or `signature`.
    pub kind: String,
    /// The reference's id in the ticket document.
    pub ref_id: String,
    pub sha256: String,
    pub content_type: String,
    pub size: i64,
    /// The signature's body for `POST /v1/tickets/{id}/signature` (JSON).
    #[serde(skip)]
    pub signature: Option<String>,
    /// `queued`, `begun`, `uploaded`, `done` or `failed`.
    pub step: String,
    /// The server's media id, once known.
    pub media_id: Option<String>,
    /// The presigned PUT while `begun` (JSON: url, headers, expires_at).
    #[serde(skip)]
    pub upload: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`insert_media`] records.
#[derive(Debug, Clone)]
pub struct NewMediaEntry<'a> {
    pub client_id: &'a str,
    pub doc_id: &'a str,
    pub kind: &'a str,
    pub ref_id: &'a str,
    pub sha256: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
    pub signature: Option<&'a str>,
}

pub async fn insert_media(
    conn: &mut SqliteConnection,
    entry: &NewMediaEntry<'_>,
    now_ms: i64,
) -> SdkResult<i64> {
    sqlx::query(
        "INSERT INTO media_blobs (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(entry.sha256)
    .bind(entry.bytes)
    .execute(&mut *conn)
    .await?;
    let result = sqlx::query(
        "INSERT INTO media_outbox (client_id, doc_id, kind, ref_id, sha256, content_type, size, signature, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )
    .bind(entry.client_id)
    .bind(entry.doc_id)
    .bind(entry.kind)
    .bind(entry.ref_id)
    .bind(entry.sha256)
    .bind(entry.content_type)
    .bind(i64::try_from(entry.bytes.len()).unwrap_or(i64::MAX))
    .bind(entry.signature)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.last_insert_rowid())
}

const MEDIA_COLUMNS: &str = "seq, client_id, doc_id, kind, ref_id, sha256, content_type, size, signature, step, media_id, upload, attempts, last_error, created_at, updated_at";

fn media_entry(r: &sqlx::sqlite::SqliteRow) -> SdkResult<MediaEntry> {
    Ok(MediaEntry {
        seq: r.try_get("seq")?,
        client_id: r.try_get("client_id")?,
        doc_id: r.try_get("doc_id")?,
        kind: r.try_get("kind")?,
        ref_id: r.try_get("ref_id")?,
        sha256: r.try_get("sha256")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        signature: r.try_get("signature")?,
        step: r.try_get("step")?,
        media_id: r.try_get("media_id")?,
        upload: r.try_get("upload")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Media rows, oldest first; `open`: only those not yet done or failed.
pub async fn media_entries(conn: &mut SqliteConnection, open: bool) -> SdkResult<Vec<MediaEntry>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEDIA_COLUMNS} FROM media_outbox
         WHERE (?1 = 0 OR step IN ('queued', 'begun', 'uploaded')) ORDER BY seq"
    )))
    .bind(open)
    .fetch_all(conn)
    .await?;
    rows.iter().map(media_entry).collect()
}

pub async fn media_entry_by_seq(
    conn: &mut SqliteConnection,
    seq: i64,
) -> SdkResult<Option<MediaEntry>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEDIA_COLUMNS} FROM media_outbox WHERE seq = ?1"
    )))
    .bind(seq)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(media_entry).transpose()
}

/// Records a step reached (and what came with it), clearing the last error.
pub async fn set_media_step(
    conn: &mut SqliteConnection,
    seq: i64,
    step: &str,
    media_id: Option<&str>,
    upload: Option<&str>,
    now_ms: i64,
) -> SdkResult<()> {
    sqlx::query(
        "UPDATE media_outbox SET step = ?2, media_id = ?3, upload = ?4, last_error = NULL, updated_at = ?5 WHERE seq = ?1",
    )
    .bind(seq)
    .bind(step)
    .bind(media_id)
    .bind(upload)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt (the step stays).
pub async fn media_attempt_failed(
    conn: &mut SqliteConnection,
    seq: i64,
    error: &str,
    now_ms: i64,
) -> SdkResult<()> {
    sqlx::query(
        "UPDATE media_outbox SET attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE seq = ?1",
    )
    .bind(seq)
    .bind(error)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a row failed for good.
pub async fn media_failed(
    conn: &mut SqliteConnection,
    seq: i64,
    error: &str,
    now_ms: i64,
) -> SdkResult<()> {
    sqlx::query(
        "UPDATE media_outbox SET step = 'failed', upload = NULL, attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE seq = ?1",
    )
    .bind(seq)
    .bind(error)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn media_blob(conn: &mut SqliteConnection, sha256: &str) -> SdkResult<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT bytes FROM media_blobs WHERE sha256 = ?1")
            .bind(sha256)
            .fetch_optional(conn)
            .await?,
    )
}

/// Deletes the bytes once no open row needs them.
pub async fn release_media_blob(conn: &mut SqliteConnection, sha256: &str) -> SdkResult<()> {
    sqlx::query(
        "DELETE FROM media_blobs WHERE sha256 = ?1 AND NOT EXISTS (
            SELECT 1 FROM media_outbox WHERE sha256 = ?1 AND step IN ('queued', 'begun', 'uploaded'))",
    )
    .bind(sha256)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- quarantine -----------------------------------------------------------

/// A local document version the server refused, kept for the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub doc_id: String,
    /// The protocol error code (`foreign_actor`, `not_in_set`, …).
    pub code: String,
    pub detail: String,
    #[serde(skip)]
    pub saved: Vec<u8>,
    pub quarantined_at: i64,
    pub exported_at: Option<i64>,
}

pub async fn insert_quarantine(
    conn: &mut SqliteConnection,
    doc_id: &str,
    code: &str,
    detail: &str,
    saved: &[u8],
    now_ms: i64,
) -> SdkResult<i64> {
    let result = sqlx::query(
        "INSERT INTO quarantine (doc_id, code, detail, saved, quarantined_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(doc_id)
    .bind(code)
    .bind(detail)
    .bind(saved)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(result.last_insert_rowid())
}

pub async fn quarantine(conn: &mut SqliteConnection) -> SdkResult<Vec<QuarantineRow>> {
    let rows = sqlx::query(
        "SELECT id, doc_id, code, detail, saved, quarantined_at, exported_at FROM quarantine ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(QuarantineRow {
                id: r.try_get("id")?,
                doc_id: r.try_get("doc_id")?,
                code: r.try_get("code")?,
                detail: r.try_get("detail")?,
                saved: r.try_get("saved")?,
                quarantined_at: r.try_get("quarantined_at")?,
                exported_at: r.try_get("exported_at")?,
            })
        })
        .collect()
}

pub async fn mark_exported(conn: &mut SqliteConnection, id: i64, now_ms: i64) -> SdkResult<bool> {
    let result = sqlx::query("UPDATE quarantine SET exported_at = ?2 WHERE id = ?1")
        .bind(id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes a quarantined copy — only on the user's explicit request.
pub async fn discard_quarantine(conn: &mut SqliteConnection, id: i64) -> SdkResult<bool> {
    let result = sqlx::query("DELETE FROM quarantine WHERE id = ?1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}
