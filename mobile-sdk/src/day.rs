//! The technician's day besides the ticket documents: offers
//! ([`crate::offers`]), location pings ([`crate::location`]), the push
//! token ([`crate::push`]), comments ([`crate::comments`]) and availability
//! ([`crate::availability`]).
//!
//! Each works offline: what the technician does is committed to the local
//! store first, then sent when the server is reachable — at once when
//! online, otherwise by [`Client::flush_outboxes`], which
//! [`Client::run_sync_loop`] calls whenever it syncs. Every POST carries an
//! `Idempotency-Key` kept with the queued row, so a retry after a lost
//! answer gets the first answer back instead of acting twice; PUT and PATCH
//! are idempotent by themselves.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::Client;
use crate::error::{SdkError, SdkResult};

/// The answer to one request of the day's API.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn detail(&self) -> String {
        self.body["detail"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.body.to_string())
    }

    /// Whether retrying later may get another answer (5xx, 429, a key
    /// still in progress).
    pub fn retryable(&self) -> bool {
        self.status >= 500
            || self.status == 429
            || self.body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/idempotency-key-in-progress"))
    }

    pub fn into_error(self) -> SdkError {
        if self.status == 401 {
            SdkError::Unauthorized(self.detail())
        } else {
            SdkError::Api {
                status: self.status,
                detail: self.detail(),
            }
        }
    }
}

/// What one [`Client::flush_outboxes`] sent, and what still waits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    /// Offer answers that got their final answer from the server.
    pub offer_answers: usize,
    pub comments: usize,
    pub pings: usize,
    /// Pings the server refused for good (e.g. a device time far in the future).
    pub pings_dropped: usize,
    /// The availability reached the server in this flush.
    pub availability: bool,
    /// The push token reached the server in this flush.
    pub push_token: bool,
    /// Rows still queued (offer answers, comments, pings).
    pub waiting: usize,
    /// Why a part stopped early (it is retried on the next flush).
    pub errors: Vec<String>,
}

pub(crate) fn random_id() -> String {
    let mut rng = fastrand::Rng::new();
    (0..16).map(|_| format!("{:02x}", rng.u8(..))).collect()
}

pub(crate) fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the epoch of an RFC 3339 field, if present.
pub(crate) fn ms_of(value: &Value) -> Option<i64> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

impl Client {
    /// One authenticated JSON request to the server; refreshes the tokens
    /// once on 401. A network failure (or the device reported offline) is
    /// [`SdkError::Transport`]; any HTTP answer is returned as it came.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> SdkResult<Reply> {
        if !self.is_online() {
            return Err(SdkError::Transport("the device is offline".into()));
        }
        let mut session = self.require_session().await?;
        let mut refreshed = false;
        loop {
            let mut request = self
                .api
                .http()
                .request(method.clone(), self.api.base_url.join(path))
                .bearer_auth(&session.access_token);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            let response = request
                .send()
                .await
                .map_err(|e| SdkError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| SdkError::Transport(format!("the answer was cut off: {e}")))?;
            if status == 401 && !refreshed {
                refreshed = true;
                session = self.refresh_tokens().await?;
                continue;
            }
            let body = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            return Ok(Reply { status, body });
        }
    }

    /// Sends everything the day's outboxes hold: offer answers first (they
    /// race a window), then availability, the push token, comments and
    /// location pings in order. A part that fails stops (its rows stay
    /// queued, the reason is in `errors`) and the others still run.
    pub async fn flush_outboxes(&self) -> SdkResult<FlushReport> {
        let mut report = FlushReport::default();
        if !self.is_online() {
            report.waiting = self.waiting_rows().await?;
            report.errors.push("the device is offline".into());
            return Ok(report);
        }
        if self.session().await?.is_none() {
            report.waiting = self.waiting_rows().await?;
            report.errors.push("not signed in".into());
            return Ok(report);
        }
        match self.flush_offer_answers().await {
            Ok(n) => report.offer_answers = n,
            Err(e) => report.errors.push(format!("offer answers: {e}")),
        }
        match self.flush_availability().await {
            Ok(sent) => report.availability = sent,
            Err(e) => report.errors.push(format!("availability: {e}")),
        }
        match self.flush_push_token().await {
            Ok(sent) => report.push_token = sent,
            Err(e) => report.errors.push(format!("push token: {e}")),
        }
        match self.flush_comments().await {
            Ok(n) => report.comments = n,
            Err(e) => report.errors.push(format!("comments: {e}")),
        }
        match self.flush_pings().await {
            Ok((sent, dropped)) => {
                report.pings = sent;
                report.pings_dropped = dropped;
            }
            Err(e) => report.errors.push(format!("location pings: {e}")),
        }
        report.waiting = self.waiting_rows().await?;
        Ok(report)
    }

    async fn waiting_rows(&self) -> SdkResult<usize> {
        let mut local = self.local.lock().await;
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM offer_answers WHERE state = 'queued')
                  + (SELECT COUNT(*) FROM comment_outbox WHERE state = 'queued')
                  + (SELECT COUNT(*) FROM location_pings)",
        )
        .fetch_one(&mut local.conn)
        .await?;
        Ok(usize::try_from(n).unwrap_or_default())
    }
}
