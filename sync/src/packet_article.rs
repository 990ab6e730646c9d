//! The knowledge-base articles a job packet carries (issue 22): the repair
//! procedures for the ticket's category and asset model, so the technician
//! reads them on site without signal. An edit changes the packet's hash, so
//! the next sync brings the new version.

use serde::{Deserialize, Serialize};

/// One article as the phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketArticle {
    /// The article's id on the server.
    pub id: String,
    pub title: String,
    /// The article's own grouping; empty for none.
    #[serde(default)]
    pub category: String,
    /// Increases with every edit.
    pub version: i64,
    /// The body as written (Markdown).
    pub body_markdown: String,
    /// The body rendered by the server, without script (raw HTML shown as
    /// text, unsafe link schemes removed): safe for a web view.
    pub body_html: String,
    /// When this version was written (ms since the epoch).
    pub updated_ms: i64,
    /// The article's files small enough to travel with the job (at most
    /// 1 MiB each); the phone downloads their bytes after the sync and keeps
    /// them by SHA-256. Absent when there are none (older packets keep
    /// their hashes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<PacketArticleAttachment>,
}

/// A file of an article as the packet lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketArticleAttachment {
    /// The attachment's id on the server
    /// (`GET /v1/knowledge/articles/{article}/attachments/{id}`).
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// The bytes' SHA-256 (hex); the phone checks a download against it.
    pub sha256: String,
}
