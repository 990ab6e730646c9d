//! Offers: the open offers listed from the server (kept for offline
//! reading), and the technician's answers — accept, or decline with a
//! reason — committed locally first and sent once (Idempotency-Key), at
//! once when online, otherwise by [`Client::flush_outboxes`].
//!
//! The server judges an answer by its own clock when the answer arrives:
//! an offer accepted offline reaches it as accepted if its window is still
//! open then, and as [`OfferAnswer::Expired`] otherwise (the ticket may
//! already have been offered to the next technician).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

use crate::Client;
use crate::day::{ms_of, random_id};
use crate::error::{SdkError, SdkResult};

/// An offer's state on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    Pending,
    Accepted,
    Declined,
    Expired,
    /// Taken back (assigned by a dispatcher, cancelled).
    Withdrawn,
}

impl OfferState {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "declined" => Self::Declined,
            "expired" => Self::Expired,
            "withdrawn" => Self::Withdrawn,
            _ => return None,
        })
    }
}

/// What became of an answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OfferAnswer {
    /// The ticket is assigned to and accepted by this technician; its
    /// document arrives with the next sync.
    Accepted {
        ticket_id: String,
    },
    Declined,
    /// Stored on the phone, not answered by the server yet (offline, or
    /// the server unreachable): sent once when back online.
    Queued,
    /// The offer's window had closed when the answer reached the server.
    Expired,
    /// The offer had been closed otherwise: withdrawn by the office, or
    /// answered already.
    Closed {
        state: OfferState,
    },
    /// Refused for another reason (at capacity, the ticket changed, no
    /// such offer); `detail` is the server's explanation.
    Refused {
        status: u16,
        detail: String,
    },
}

/// The technician's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Accept,
    Decline { reason: String },
}

/// An offer as the phone knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferInfo {
    pub id: String,
    pub ticket_id: String,
    /// 1 for the first technician offered, 2 for the next, …
    pub round: u32,
    pub state: OfferState,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    /// This phone's answer, if it gave one.
    pub answer: Option<OfferAnswer>,
}

/// The open offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferList {
    pub offers: Vec<OfferInfo>,
    /// Listed by the server just now; `false`: the phone's copy (offline).
    pub from_server: bool,
    /// When the list was fetched from the server (device clock).
    pub fetched_at_ms: Option<i64>,
}

/// One answer in the phone's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedAnswer {
    pub seq: i64,
    pub offer_id: String,
    pub answer: Answer,
    /// Device time of the tap.
    pub answered_at_ms: i64,
    pub outcome: OfferAnswer,
    pub attempts: i64,
    pub last_error: Option<String>,
}

fn offer_info(body: &Value, answer: Option<OfferAnswer>) -> Option<OfferInfo> {
    Some(OfferInfo {
        id: body["id"].as_str()?.to_owned(),
        ticket_id: body["ticket_id"].as_str()?.to_owned(),
        round: body["round"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1),
        state: body["state"]
            .as_str()
            .and_then(OfferState::parse)
            .unwrap_or(OfferState::Pending),
        expires_at_ms: ms_of(&body["expires_at"]).unwrap_or_default(),
        created_at_ms: ms_of(&body["created_at"]).unwrap_or_default(),
        answer,
    })
}

fn queued_answer(row: &sqlx::sqlite::SqliteRow) -> SdkResult<QueuedAnswer> {
    let answer: String = row.try_get("answer")?;
    let reason: Option<String> = row.try_get("reason")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(QueuedAnswer {
        seq: row.try_get("seq")?,
        offer_id: row.try_get("offer_id")?,
        answer: match answer.as_str() {
            "accept" => Answer::Accept,
            _ => Answer::Decline {
                reason: reason.unwrap_or_default(),
            },
        },
        answered_at_ms: row.try_get("answered_at")?,
        outcome: outcome
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(OfferAnswer::Queued),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

const ANSWER_COLUMNS: &str =
    "seq, client_id, offer_id, answer, reason, answered_at, outcome, attempts, last_error";

impl Client {
    /// The technician's open offers: from the server when online (and kept
    /// for offline reading), otherwise as last listed. Each carries this
    /// phone's answer, if any.
    pub async fn offers(&self) -> SdkResult<OfferList> {
        let now = self.clock.now_ms();
        let fetched = match self.call(Method::GET, "/v1/me/offers", None, None).await {
            Ok(reply) if reply.ok() => Some(reply.body),
            Ok(reply) if reply.retryable() => None,
            Ok(reply) => return Err(reply.into_error()),
            Err(SdkError::Transport(_)) => None,
            Err(e) => return Err(e),
        };
        let mut local = self.local.lock().await;
        let from_server = fetched.is_some();
        if let Some(Value::Array(items)) = fetched {
            let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
            sqlx::query("DELETE FROM offers_cache")
                .execute(&mut *tx)
                .await?;
            for item in &items {
                if let Some(id) = item["id"].as_str() {
                    sqlx::query(
                        "INSERT INTO offers_cache (offer_id, body, fetched_at) VALUES (?1, ?2, ?3)",
                    )
                    .bind(id)
                    .bind(item.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        }
        let rows = sqlx::query("SELECT body, fetched_at FROM offers_cache ORDER BY offer_id")
            .fetch_all(&mut local.conn)
            .await?;
        let answers = self.answers_in(&mut local.conn).await?;
        let mut fetched_at_ms = None;
        let mut offers = Vec::with_capacity(rows.len());
        for row in rows {
            let body: String = row.try_get("body")?;
            fetched_at_ms = Some(row.try_get::<i64, _>("fetched_at")?);
            let Ok(body) = serde_json::from_str::<Value>(&body) else {
                continue;
            };
            let answer = answers
                .iter()
                .find(|a| Some(a.offer_id.as_str()) == body["id"].as_str())
                .map(|a| a.outcome.clone());
            offers.extend(offer_info(&body, answer));
        }
        Ok(OfferList {
            offers,
            from_server,
            fetched_at_ms,
        })
    }

    async fn answers_in(&self, conn: &mut sqlx::SqliteConnection) -> SdkResult<Vec<QueuedAnswer>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ANSWER_COLUMNS} FROM offer_answers ORDER BY seq"
        )))
        .fetch_all(conn)
        .await?;
        rows.iter().map(queued_answer).collect()
    }

    /// Every answer this phone gave, oldest first, with its outcome.
    pub async fn offer_answers(&self) -> SdkResult<Vec<QueuedAnswer>> {
        let mut local = self.local.lock().await;
        self.answers_in(&mut local.conn).await
    }

    /// Accepts an offer. Works offline: the answer is stored and
    /// [`OfferAnswer::Queued`] returned; it is sent when back online.
    pub async fn accept_offer(&self, offer_id: &str) -> SdkResult<OfferAnswer> {
        self.answer_offer(offer_id, Answer::Accept).await
    }

    /// Declines an offer with a reason (1 to 500 characters). Works offline
    /// like [`accept_offer`](Self::accept_offer).
    pub async fn decline_offer(&self, offer_id: &str, reason: &str) -> SdkResult<OfferAnswer> {
        self.answer_offer(
            offer_id,
            Answer::Decline {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Stores the answer, then sends it if the device is online. An offer
    /// already answered by the server keeps that answer; a queued answer is
    /// replaced by the new one (the technician changed their mind offline).
    pub async fn answer_offer(&self, offer_id: &str, answer: Answer) -> SdkResult<OfferAnswer> {
        if offer_id.trim().is_empty() || offer_id.len() > 64 {
            return Err(SdkError::Invalid(
                "offer id must be 1 to 64 characters".into(),
            ));
        }
        let reason = match &answer {
            Answer::Accept => None,
            Answer::Decline { reason } => {
                let trimmed = reason.trim();
                if trimmed.is_empty() || trimmed.chars().count() > 500 {
                    return Err(SdkError::Invalid(
                        "a decline needs a reason of 1 to 500 characters".into(),
                    ));
                }
                Some(trimmed.to_owned())
            }
        };
        let kind = match answer {
            Answer::Accept => "accept",
            Answer::Decline { .. } => "decline",
        };
        let now = self.clock.now_ms();
        let seq = {
            let mut local = self.local.lock().await;
            let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ANSWER_COLUMNS}, state FROM offer_answers WHERE offer_id = ?1"
            )))
            .bind(offer_id)
            .fetch_optional(&mut local.conn)
            .await?;
            match existing {
                Some(row) if row.try_get::<String, _>("state")? == "done" => {
                    return Ok(queued_answer(&row)?.outcome);
                }
                Some(row) => {
                    let seq: i64 = row.try_get("seq")?;
                    // A new key: the first answer may have reached the server.
                    sqlx::query(
                        "UPDATE offer_answers SET client_id = ?2, answer = ?3, reason = ?4, answered_at = ?5, updated_at = ?5 WHERE seq = ?1",
                    )
                    .bind(seq)
                    .bind(random_id())
                    .bind(kind)
                    .bind(&reason)
                    .bind(now)
                    .execute(&mut local.conn)
                    .await?;
                    seq
                }
                None => sqlx::query(
                    "INSERT INTO offer_answers (client_id, offer_id, answer, reason, answered_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                )
                .bind(random_id())
                .bind(offer_id)
                .bind(kind)
                .bind(&reason)
                .bind(now)
                .execute(&mut local.conn)
                .await?
                .last_insert_rowid(),
            }
        };
        self.wake.notify_one();
        match self.send_answer(seq).await {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.is_retryable() || matches!(e, SdkError::Unauthorized(_)) => {
                Ok(OfferAnswer::Queued)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends one queued answer; records and returns the server's answer.
    /// A network failure or a 5xx leaves it queued (the error is returned).
    async fn send_answer(&self, seq: i64) -> SdkResult<OfferAnswer> {
        let (client_id, row) = {
            let mut local = self.local.lock().await;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ANSWER_COLUMNS} FROM offer_answers WHERE seq = ?1"
            )))
            .bind(seq)
            .fetch_one(&mut local.conn)
            .await?;
            let client_id: String = row.try_get("client_id")?;
            (client_id, queued_answer(&row)?)
        };
        let (path, body) = match &row.answer {
            Answer::Accept => (format!("/v1/offers/{}/accept", row.offer_id), None),
            Answer::Decline { reason } => (
                format!("/v1/offers/{}/decline", row.offer_id),
                Some(json!({"reason": reason})),
            ),
        };
        let reply = match self
            .call(Method::POST, &path, body.as_ref(), Some(&client_id))
            .await
        {
            Ok(reply) if reply.retryable() => Err(reply.into_error()),
            Ok(reply) => Ok(reply),
            Err(e) => Err(e),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                let mut local = self.local.lock().await;
                sqlx::query(
                    "UPDATE offer_answers SET attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE seq = ?1",
                )
                .bind(seq)
                .bind(e.to_string())
                .bind(self.clock.now_ms())
                .execute(&mut local.conn)
                .await?;
                return Err(e);
            }
        };
        let outcome = match (reply.status, &row.answer) {
            (200, Answer::Accept) => OfferAnswer::Accepted {
                ticket_id: reply.body["ticket"]["id"]
                    .as_str()
                    .or_else(|| reply.body["offer"]["ticket_id"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            },
            (200, Answer::Decline { .. }) => OfferAnswer::Declined,
            (409, _) => match reply.body["offer_state"]
                .as_str()
                .and_then(OfferState::parse)
            {
                Some(OfferState::Expired) => OfferAnswer::Expired,
                Some(state) => OfferAnswer::Closed { state },
                None => OfferAnswer::Refused {
                    status: 409,
                    detail: reply.detail(),
                },
            },
            (status, _) => OfferAnswer::Refused {
                status,
                detail: reply.detail(),
            },
        };
        let cached_state = match &outcome {
            OfferAnswer::Accepted { .. } => Some(OfferState::Accepted),
            OfferAnswer::Declined => Some(OfferState::Declined),
            OfferAnswer::Expired => Some(OfferState::Expired),
            OfferAnswer::Closed { state } => Some(*state),
            _ => None,
        };
        let mut local = self.local.lock().await;
        let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
        sqlx::query(
            "UPDATE offer_answers SET state = 'done', outcome = ?2, attempts = attempts + 1, last_error = NULL, updated_at = ?3 WHERE seq = ?1",
        )
        .bind(seq)
        .bind(serde_json::to_string(&outcome).unwrap_or_default())
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await?;
        if let Some(state) = cached_state {
            let body: Option<String> =
                sqlx::query_scalar("SELECT body FROM offers_cache WHERE offer_id = ?1")
                    .bind(&row.offer_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(mut body) = body.and_then(|b| serde_json::from_str::<Value>(&b).ok()) {
                body["state"] = serde_json::to_value(state).unwrap_or_default();
                sqlx::query("UPDATE offers_cache SET body = ?2 WHERE offer_id = ?1")
                    .bind(&row.offer_id)
                    .bind(body.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Sends the queued answers, oldest first; stops at the first that
    /// cannot be sent now. Returns how many got their final answer.
    pub(crate) async fn flush_offer_answers(&self) -> SdkResult<usize> {
        let queued: Vec<i64> = {
            let mut local = self.local.lock().await;
            sqlx::query_scalar("SELECT seq FROM offer_answers WHERE state = 'queued' ORDER BY seq")
                .fetch_all(&mut local.conn)
                .await?
        };
        let mut done = 0;
        for seq in queued {
            self.send_answer(seq).await?;
            done += 1;
        }
        Ok(done)
    }
}
