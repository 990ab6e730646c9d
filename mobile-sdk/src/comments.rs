//! A ticket's comment thread: read from the server when online (kept for
//! offline reading, deleted with the ticket when it leaves the phone), and
//! comments written on the phone, committed locally first and sent once
//! (`POST /v1/tickets/{id}/comments` with the row's Idempotency-Key).

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::Client;
use crate::day::{ms_of, random_id};
use crate::error::{SdkError, SdkResult};

/// Who may see a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentVisibility {
    /// Staff only.
    Internal,
    /// May be shown to the customer.
    Public,
}

impl CommentVisibility {
    fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::Public => "public",
        }
    }

    fn parse(value: &str) -> Self {
        if value == "public" {
            Self::Public
        } else {
            Self::Internal
        }
    }
}

/// Where a comment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentDelivery {
    /// On the server.
    Sent,
    /// Written on the phone, waiting to be sent.
    Queued,
    /// Refused by the server for good (`error` says why).
    Failed,
}

/// One comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentInfo {
    /// The server's id (`None` until sent).
    pub id: Option<String>,
    pub ticket_id: String,
    /// The author's user id (`None` for one written here and not yet sent).
    pub author_id: Option<String>,
    pub body: String,
    pub visibility: CommentVisibility,
    /// The server's time, or the device's for one not yet sent.
    pub created_at_ms: i64,
    pub delivery: CommentDelivery,
    pub error: Option<String>,
}

/// A ticket's thread, oldest first, then the phone's unsent comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentThread {
    pub ticket_id: String,
    pub comments: Vec<CommentInfo>,
    /// Listed by the server just now; `false`: the phone's copy.
    pub from_server: bool,
}

fn from_server(body: &Value) -> Option<CommentInfo> {
    Some(CommentInfo {
        id: Some(body["id"].as_str()?.to_owned()),
        ticket_id: body["ticket_id"].as_str()?.to_owned(),
        author_id: body["author_id"].as_str().map(str::to_owned),
        body: body["body"].as_str()?.to_owned(),
        visibility: CommentVisibility::parse(body["visibility"].as_str().unwrap_or_default()),
        created_at_ms: ms_of(&body["created_at"]).unwrap_or_default(),
        delivery: CommentDelivery::Sent,
        error: None,
    })
}

async fn cache(conn: &mut sqlx::SqliteConnection, comment: &Value) -> SdkResult<()> {
    let (Some(id), Some(ticket)) = (comment["id"].as_str(), comment["ticket_id"].as_str()) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO comments_cache (comment_id, doc_id, body, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (comment_id) DO UPDATE SET body = excluded.body",
    )
    .bind(id)
    .bind(ticket)
    .bind(comment.to_string())
    .bind(ms_of(&comment["created_at"]).unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(())
}

impl Client {
    /// The ticket's comments: from the server when online (and kept),
    /// otherwise as last read; the phone's unsent (or refused) comments
    /// follow.
    pub async fn comments(&self, ticket_id: &str) -> SdkResult<CommentThread> {
        let listed = match self.list_comments(ticket_id).await {
            Ok(items) => Some(items),
            Err(e) if e.is_retryable() => None,
            Err(e) => return Err(e),
        };
        let mut local = self.local.lock().await;
        if let Some(items) = &listed {
            let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
            sqlx::query("DELETE FROM comments_cache WHERE doc_id = ?1")
                .bind(ticket_id)
                .execute(&mut *tx)
                .await?;
            for item in items {
                cache(&mut tx, item).await?;
            }
            tx.commit().await?;
        }
        let cached: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM comments_cache WHERE doc_id = ?1 ORDER BY created_at, comment_id",
        )
        .bind(ticket_id)
        .fetch_all(&mut local.conn)
        .await?;
        let mut comments: Vec<CommentInfo> = cached
            .iter()
            .filter_map(|text| serde_json::from_str::<Value>(text).ok())
            .filter_map(|v| from_server(&v))
            .collect();
        let unsent = sqlx::query(
            "SELECT body, visibility, written_at, state, last_error FROM comment_outbox
             WHERE doc_id = ?1 AND state IN ('queued', 'failed') ORDER BY seq",
        )
        .bind(ticket_id)
        .fetch_all(&mut local.conn)
        .await?;
        for row in unsent {
            let state: String = row.try_get("state")?;
            comments.push(CommentInfo {
                id: None,
                ticket_id: ticket_id.to_owned(),
                author_id: None,
                body: row.try_get("body")?,
                visibility: CommentVisibility::parse(&row.try_get::<String, _>("visibility")?),
                created_at_ms: row.try_get("written_at")?,
                delivery: if state == "failed" {
                    CommentDelivery::Failed
                } else {
                    CommentDelivery::Queued
                },
                error: row.try_get("last_error")?,
            });
        }
        Ok(CommentThread {
            ticket_id: ticket_id.to_owned(),
            comments,
            from_server: listed.is_some(),
        })
    }

    /// Every page of the server's thread.
    async fn list_comments(&self, ticket_id: &str) -> SdkResult<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/tickets/{ticket_id}/comments?limit=200&cursor={c}"),
                None => format!("/v1/tickets/{ticket_id}/comments?limit=200"),
            };
            let reply = self.call(Method::GET, &path, None, None).await?;
            if !reply.ok() {
                return Err(reply.into_error());
            }
            items.extend(reply.body["items"].as_array().cloned().unwrap_or_default());
            match reply.body["next_cursor"].as_str() {
                Some(next) if Some(next) != cursor.as_deref() => cursor = Some(next.to_owned()),
                _ => return Ok(items),
            }
        }
    }

    /// Writes a comment (1 to 10 000 characters). Works offline: stored at
    /// once, sent now when online, otherwise with the next flush; sent
    /// once however often the sending is retried.
    pub async fn add_comment(
        &self,
        ticket_id: &str,
        body: &str,
        visibility: CommentVisibility,
    ) -> SdkResult<CommentInfo> {
        if body.trim().is_empty() || body.chars().count() > 10_000 {
            return Err(SdkError::Invalid(
                "a comment is 1 to 10000 characters".into(),
            ));
        }
        if body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(SdkError::Invalid(
                "a comment must not contain control characters".into(),
            ));
        }
        let now = self.clock.now_ms();
        let seq = {
            let mut local = self.local.lock().await;
            sqlx::query(
                "INSERT INTO comment_outbox (client_id, doc_id, body, visibility, written_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(random_id())
            .bind(ticket_id)
            .bind(body)
            .bind(visibility.as_str())
            .bind(now)
            .execute(&mut local.conn)
            .await?
            .last_insert_rowid()
        };
        self.wake.notify_one();
        let queued = CommentInfo {
            id: None,
            ticket_id: ticket_id.to_owned(),
            author_id: None,
            body: body.to_owned(),
            visibility,
            created_at_ms: now,
            delivery: CommentDelivery::Queued,
            error: None,
        };
        match self.send_comment(seq).await {
            Ok(sent) => Ok(sent),
            Err(e) if e.is_retryable() || matches!(e, SdkError::Unauthorized(_)) => Ok(queued),
            Err(SdkError::Api { detail, .. }) => Ok(CommentInfo {
                delivery: CommentDelivery::Failed,
                error: Some(detail),
                ..queued
            }),
            Err(e) => Err(e),
        }
    }

    /// Sends one queued comment. A refusal (4xx) marks it failed and is
    /// returned as [`SdkError::Api`]; a network failure or 5xx leaves it
    /// queued.
    async fn send_comment(&self, seq: i64) -> SdkResult<CommentInfo> {
        let row = {
            let mut local = self.local.lock().await;
            sqlx::query(
                "SELECT client_id, doc_id, body, visibility FROM comment_outbox WHERE seq = ?1",
            )
            .bind(seq)
            .fetch_one(&mut local.conn)
            .await?
        };
        let client_id: String = row.try_get("client_id")?;
        let ticket_id: String = row.try_get("doc_id")?;
        let body = json!({
            "body": row.try_get::<String, _>("body")?,
            "visibility": row.try_get::<String, _>("visibility")?,
        });
        let reply = self
            .call(
                Method::POST,
                &format!("/v1/tickets/{ticket_id}/comments"),
                Some(&body),
                Some(&client_id),
            )
            .await;
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        let reply = match reply {
            Ok(reply) if reply.ok() => reply,
            Ok(reply) if !reply.retryable() && reply.status != 401 => {
                let error = reply.detail();
                sqlx::query(
                    "UPDATE comment_outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
                )
                .bind(seq)
                .bind(&error)
                .execute(&mut local.conn)
                .await?;
                return Err(reply.into_error());
            }
            other => {
                let e = match other {
                    Ok(reply) => reply.into_error(),
                    Err(e) => e,
                };
                sqlx::query(
                    "UPDATE comment_outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
                )
                .bind(seq)
                .bind(e.to_string())
                .execute(&mut local.conn)
                .await?;
                return Err(e);
            }
        };
        let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
        sqlx::query(
            "UPDATE comment_outbox SET state = 'sent', comment_id = ?2, attempts = attempts + 1, last_error = NULL WHERE seq = ?1",
        )
        .bind(seq)
        .bind(reply.body["id"].as_str())
        .execute(&mut *tx)
        .await?;
        cache(&mut tx, &reply.body).await?;
        tx.commit().await?;
        let _ = now;
        from_server(&reply.body).ok_or_else(|| {
            SdkError::Transport(format!(
                "the comment's answer is not a comment: {}",
                reply.body
            ))
        })
    }

    /// Sends the queued comments, oldest first; a refused one is marked
    /// failed and the others go on; a network failure stops the run.
    pub(crate) async fn flush_comments(&self) -> SdkResult<usize> {
        let queued: Vec<i64> = {
            let mut local = self.local.lock().await;
            sqlx::query_scalar("SELECT seq FROM comment_outbox WHERE state = 'queued' ORDER BY seq")
                .fetch_all(&mut local.conn)
                .await?
        };
        let mut sent = 0;
        for seq in queued {
            match self.send_comment(seq).await {
                Ok(_) => sent += 1,
                Err(SdkError::Api { status, .. }) if status < 500 && status != 429 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}
