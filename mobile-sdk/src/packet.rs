//! The job packet on the phone (PROTOCOL.md §4): the server's snapshot of a
//! ticket's site, customer, asset, instructions and office comments, kept in
//! the local database beside the ticket's document and readable offline.
//!
//! A packet arrives whole in a `packet` frame and replaces the stored one;
//! each sync request tells the server the hash held (`packet_have`), so an
//! unchanged packet is not sent again. The packet is deleted with its
//! document when the ticket leaves the device's set (`store::delete_doc`).

use sqlx::SqliteConnection;
use truckroll_sync::packet::JobPacket;
use truckroll_sync::protocol::Message;

use crate::Client;
use crate::error::{SdkError, SdkResult};

/// The local table (created with the rest of the schema in `store.rs`).
pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS job_packets (
        doc_id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        packet TEXT NOT NULL,
        received_at INTEGER NOT NULL)";

/// The bytes of the office's attachments, by SHA-256, kept while a stored
/// packet lists them.
pub(crate) const FILES_TABLE: &str = "CREATE TABLE IF NOT EXISTS packet_files (
        sha256 TEXT PRIMARY KEY,
        bytes BLOB NOT NULL,
        fetched_at INTEGER NOT NULL)";

/// A stored packet and when it arrived.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredPacket {
    pub ticket_id: String,
    /// The server's content hash.
    pub hash: String,
    /// When this device received it (ms since the epoch, device clock).
    pub received_at: i64,
    pub packet: JobPacket,
}

/// Stores (replaces) a document's packet.
pub(crate) async fn put(
    conn: &mut SqliteConnection,
    doc_id: &str,
    hash: &str,
    packet: &JobPacket,
    now_ms: i64,
) -> SdkResult<()> {
    let json = serde_json::to_string(packet).map_err(|e| SdkError::CorruptDocument {
        doc_id: doc_id.to_owned(),
        detail: format!("packet: {e}"),
    })?;
    sqlx::query(
        "INSERT INTO job_packets (doc_id, hash, packet, received_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (doc_id) DO UPDATE SET hash = excluded.hash, packet = excluded.packet,
         received_at = excluded.received_at",
    )
    .bind(doc_id)
    .bind(hash)
    .bind(json)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A document's stored packet.
pub(crate) async fn get(
    conn: &mut SqliteConnection,
    doc_id: &str,
) -> SdkResult<Option<StoredPacket>> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT hash, packet, received_at FROM job_packets WHERE doc_id = ?1")
            .bind(doc_id)
            .fetch_optional(conn)
            .await?;
    row.map(|(hash, json, received_at)| {
        let packet = serde_json::from_str(&json).map_err(|e| SdkError::CorruptDocument {
            doc_id: doc_id.to_owned(),
            detail: format!("stored packet: {e}"),
        })?;
        Ok(StoredPacket {
            ticket_id: doc_id.to_owned(),
            hash,
            received_at,
            packet,
        })
    })
    .transpose()
}

/// A `packet_have` frame for every stored packet whose document is held.
pub(crate) async fn have_frames(conn: &mut SqliteConnection) -> SdkResult<Vec<Message>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.doc_id, p.hash FROM job_packets p JOIN documents d ON d.doc_id = p.doc_id
         ORDER BY p.doc_id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(doc_id, hash)| Message::PacketHave { doc_id, hash })
        .collect())
}

/// One job of the technician's day, in the order to do them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayVisit {
    pub ticket_id: String,
    pub number: String,
    pub title: String,
    pub address: String,
    /// The promised window.
    pub from_ms: i64,
    pub to_ms: i64,
    /// When the office's day plan has the work start, if one was applied.
    pub planned_start_ms: Option<i64>,
}

impl Client {
    /// The jobs on this device that have an appointment, in the order of the
    /// applied day plan (its planned starts), else by window; reads only the
    /// local database, so it works offline.
    pub async fn day(&self) -> SdkResult<Vec<DayVisit>> {
        let mut local = self.local.lock().await;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT p.doc_id FROM job_packets p JOIN documents d ON d.doc_id = p.doc_id ORDER BY p.doc_id",
        )
        .fetch_all(&mut local.conn)
        .await?;
        let mut day = Vec::new();
        for id in ids {
            let Some(stored) = get(&mut local.conn, &id).await? else {
                continue;
            };
            let Some(appointment) = stored.packet.ticket.appointment else {
                continue;
            };
            day.push(DayVisit {
                ticket_id: stored.ticket_id,
                number: stored.packet.ticket.number,
                title: stored.packet.ticket.title,
                address: stored.packet.site.address,
                from_ms: appointment.from_ms,
                to_ms: appointment.to_ms,
                planned_start_ms: appointment.planned_start_ms,
            });
        }
        day.sort_by_key(|v| {
            (
                v.planned_start_ms.unwrap_or(v.from_ms),
                v.from_ms,
                v.ticket_id.clone(),
            )
        });
        Ok(day)
    }

    /// The bytes of an attachment of a stored packet, by its SHA-256, if
    /// they were downloaded; reads only the local database.
    pub async fn packet_attachment(&self, sha256: &str) -> SdkResult<Option<Vec<u8>>> {
        let mut local = self.local.lock().await;
        Ok(
            sqlx::query_scalar("SELECT bytes FROM packet_files WHERE sha256 = ?1")
                .bind(sha256)
                .fetch_optional(&mut local.conn)
                .await?,
        )
    }

    /// After a sync: downloads the attachments the stored packets list and
    /// this device lacks (checked against their SHA-256), and deletes those
    /// no stored packet lists any more. Best effort: a failed download is
    /// tried again after the next sync. Returns how many were downloaded.
    pub(crate) async fn cache_packet_files(&self, access_token: &str) -> SdkResult<usize> {
        type Missing = (Option<String>, Option<String>, Option<String>, String);
        let missing: Vec<Missing> = {
            let mut local = self.local.lock().await;
            sqlx::query(
                "DELETE FROM packet_files WHERE sha256 NOT IN (
                     SELECT json_extract(a.value, '$.sha256')
                     FROM job_packets p, json_each(p.packet, '$.attachments') a
                     WHERE json_extract(a.value, '$.sha256') IS NOT NULL
                     UNION
                     SELECT json_extract(f.value, '$.sha256')
                     FROM job_packets p, json_each(p.packet, '$.articles') r, json_each(r.value, '$.attachments') f
                     WHERE json_extract(f.value, '$.sha256') IS NOT NULL)",
            )
            .execute(&mut local.conn)
            .await?;
            // (office media id or NULL, article id or NULL, attachment id, sha256)
            sqlx::query_as(
                "SELECT json_extract(a.value, '$.media_id'), NULL, NULL, json_extract(a.value, '$.sha256')
                 FROM job_packets p, json_each(p.packet, '$.attachments') a
                 WHERE json_extract(a.value, '$.sha256') NOT IN (SELECT f.sha256 FROM packet_files f)
                 UNION
                 SELECT NULL, json_extract(r.value, '$.id'), json_extract(f.value, '$.id'), json_extract(f.value, '$.sha256')
                 FROM job_packets p, json_each(p.packet, '$.articles') r, json_each(r.value, '$.attachments') f
                 WHERE json_extract(f.value, '$.sha256') NOT IN (SELECT x.sha256 FROM packet_files x)",
            )
            .fetch_all(&mut local.conn)
            .await?
        };
        let mut fetched = 0;
        let mut seen = std::collections::HashSet::new();
        for (media_id, article_id, attachment_id, sha256) in missing {
            if !seen.insert(sha256.clone()) {
                continue;
            }
            let download = match (&media_id, &article_id, &attachment_id) {
                (Some(media_id), _, _) => self.api.media_bytes(access_token, media_id).await,
                (None, Some(article), Some(attachment)) => {
                    self.api
                        .article_attachment_bytes(access_token, article, attachment)
                        .await
                }
                _ => continue,
            };
            let media_id = media_id.or(attachment_id).unwrap_or_default();
            let bytes = match download {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::info!(media = %media_id, error = %e, "attachment not downloaded");
                    continue;
                }
            };
            if crate::media::sha256_hex(&bytes) != sha256 {
                tracing::warn!(media = %media_id, "downloaded attachment does not match its hash; dropped");
                continue;
            }
            let mut local = self.local.lock().await;
            sqlx::query(
                "INSERT INTO packet_files (sha256, bytes, fetched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&sha256)
            .bind(bytes)
            .bind(self.clock.now_ms())
            .execute(&mut local.conn)
            .await?;
            fetched += 1;
        }
        Ok(fetched)
    }

    /// The job packet of a ticket on this device (`None` until the first
    /// sync brought it); reads only the local database, so it works offline.
    pub async fn packet(&self, ticket_id: &str) -> SdkResult<Option<StoredPacket>> {
        let mut local = self.local.lock().await;
        get(&mut local.conn, ticket_id).await
    }
}

fn date_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The packet as text for a person (the CLI phone's `packet` command).
pub fn render(stored: &StoredPacket) -> String {
    use std::fmt::Write as _;
    let p = &stored.packet;
    let mut out = String::new();
    let t = &p.ticket;
    let _ = writeln!(
        out,
        "{} {} [{}, {}]",
        t.number, t.title, t.priority, t.category
    );
    if !t.description.is_empty() {
        let _ = writeln!(out, "  {}", t.description);
    }
    if !t.required_skills.is_empty() {
        let skills: Vec<String> = t
            .required_skills
            .iter()
            .map(|s| format!("{} {}", s.skill, s.level))
            .collect();
        let _ = writeln!(out, "  skills: {}", skills.join(", "));
    }
    for (key, value) in &t.custom_fields {
        let _ = writeln!(out, "  {key}: {value}");
    }
    for d in &t.sla {
        let _ = writeln!(out, "  SLA {} due {}", d.target, date_of(d.deadline_ms));
    }
    let site = &p.site;
    let _ = writeln!(out, "Site: {}", site.name);
    let _ = writeln!(out, "  Address: {}", site.address);
    let _ = writeln!(out, "  Position: {:.5}, {:.5}", site.lat, site.lon);
    if !site.opening_hours.is_empty() {
        let _ = writeln!(out, "  Opening hours: {}", site.opening_hours);
    }
    if !site.access_notes.is_empty() {
        let _ = writeln!(out, "  Access: {}", site.access_notes);
    }
    let c = &p.customer;
    let _ = writeln!(out, "Customer: {}", c.name);
    if let Some(contact) = &c.contact_person {
        let _ = writeln!(out, "  Contact: {contact}");
    }
    if let Some(phone) = &c.phone {
        let _ = writeln!(out, "  Phone: {phone}");
    }
    if let Some(email) = &c.email {
        let _ = writeln!(out, "  Email: {email}");
    }
    if let Some(a) = &p.asset {
        let _ = writeln!(out, "Asset: {} (serial {})", a.model, a.serial);
        if let Some(installed) = &a.installed_on {
            let _ = writeln!(out, "  Installed: {installed}");
        }
        let _ = writeln!(out, "  Warranty: {}", a.warranty_text());
        for h in &a.history {
            let _ = writeln!(
                out,
                "  {} {} ({}, {}){}",
                h.number,
                h.title,
                h.status,
                date_of(h.created_ms),
                if h.work_done.is_empty() {
                    String::new()
                } else {
                    format!(": {}", h.work_done)
                }
            );
        }
    }
    for comment in &p.comments {
        let _ = writeln!(
            out,
            "Office ({}, {}): {}",
            comment.author,
            date_of(comment.created_ms),
            comment.body
        );
    }
    for a in &p.attachments {
        let _ = writeln!(
            out,
            "Attachment: {} {} bytes (GET /v1/media/{})",
            a.content_type, a.size, a.media_id
        );
    }
    out
}
