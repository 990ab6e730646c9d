//! Location pings: the app hands the SDK every position it gets; the SDK
//! keeps one per configured interval, stamped with the device's time and
//! the fix's accuracy, buffered in the local store, and sent oldest first
//! in batches (`POST /v1/me/locations`) when the server is reachable.
//!
//! A batch's rows keep the batch's Idempotency-Key until the server has
//! answered it, so a retry after a lost answer resends the same batch and
//! the server stores each ping once (it also ignores a ping whose device
//! time it already has).

use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use crate::Client;
use crate::day::{random_id, rfc3339_ms};
use crate::error::{SdkError, SdkResult};
use crate::store;

/// Pings per request (the server takes up to 5000).
pub const PING_BATCH: i64 = 500;
/// The interval until the app sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

const META_INTERVAL: &str = "location_interval_ms";
const META_LAST: &str = "location_last_ms";

/// A position from the phone's location service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres.
    pub accuracy_m: f64,
    pub speed_mps: Option<f64>,
    /// Degrees clockwise from north, 0 to 360.
    pub heading_deg: Option<f64>,
    /// When the fix was taken (device clock, ms since the epoch); `None`:
    /// now.
    pub device_time_ms: Option<i64>,
}

/// What the SDK did with a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PingDecision {
    /// Buffered (row `seq`); sent with the next flush.
    Recorded { seq: i64 },
    /// Within the interval of the last recorded ping: not kept.
    NotDue { next_due_ms: i64 },
}

/// A buffered ping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingPing {
    pub seq: i64,
    pub device_time_ms: i64,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    pub speed_mps: Option<f64>,
    pub heading_deg: Option<f64>,
}

fn validate(fix: &LocationFix) -> SdkResult<()> {
    let fine = |v: f64, range: std::ops::RangeInclusive<f64>| v.is_finite() && range.contains(&v);
    if !fine(fix.lat, -90.0..=90.0) || !fine(fix.lon, -180.0..=180.0) {
        return Err(SdkError::Invalid(
            "lat must be within ±90 and lon within ±180".into(),
        ));
    }
    if !fix.accuracy_m.is_finite() || fix.accuracy_m < 0.0 {
        return Err(SdkError::Invalid("accuracy_m must be at least 0".into()));
    }
    if fix.speed_mps.is_some_and(|s| !s.is_finite() || s < 0.0) {
        return Err(SdkError::Invalid("speed_mps must be at least 0".into()));
    }
    if fix.heading_deg.is_some_and(|h| !fine(h, 0.0..=360.0)) {
        return Err(SdkError::Invalid("heading_deg must be 0 to 360".into()));
    }
    Ok(())
}

fn pending_ping(row: &sqlx::sqlite::SqliteRow) -> SdkResult<PendingPing> {
    Ok(PendingPing {
        seq: row.try_get("seq")?,
        device_time_ms: row.try_get("device_time")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        accuracy_m: row.try_get("accuracy_m")?,
        speed_mps: row.try_get("speed_mps")?,
        heading_deg: row.try_get("heading_deg")?,
    })
}

const PING_COLUMNS: &str = "seq, device_time, lat, lon, accuracy_m, speed_mps, heading_deg";

impl Client {
    /// How often a ping is kept (persisted; [`DEFAULT_INTERVAL`] until set).
    pub async fn location_interval(&self) -> SdkResult<Duration> {
        let mut local = self.local.lock().await;
        Ok(store::meta(&mut local.conn, META_INTERVAL)
            .await?
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_INTERVAL, Duration::from_millis))
    }

    /// Sets how often a ping is kept: 1 s to 1 hour.
    pub async fn set_location_interval(&self, interval: Duration) -> SdkResult<()> {
        if interval < Duration::from_secs(1) || interval > Duration::from_secs(3600) {
            return Err(SdkError::Invalid(
                "the location interval must be 1 s to 1 hour".into(),
            ));
        }
        let mut local = self.local.lock().await;
        store::set_meta(
            &mut local.conn,
            META_INTERVAL,
            &interval.as_millis().to_string(),
        )
        .await
    }

    /// Whether a new position is due now (the app may skip asking the
    /// location service otherwise).
    pub async fn location_due(&self) -> SdkResult<bool> {
        let interval = self.location_interval().await?;
        let now = self.clock.now_ms();
        let mut local = self.local.lock().await;
        let last = store::meta(&mut local.conn, META_LAST)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        Ok(last.is_none_or(|last| now >= last + interval_ms(interval)))
    }

    /// Keeps `fix` if a ping is due at its device time (the first one
    /// always is), buffered until [`flush_outboxes`](Self::flush_outboxes)
    /// sends it. Works offline.
    pub async fn record_location(&self, fix: LocationFix) -> SdkResult<PingDecision> {
        validate(&fix)?;
        let interval = interval_ms(self.location_interval().await?);
        let at = fix.device_time_ms.unwrap_or_else(|| self.clock.now_ms());
        let mut local = self.local.lock().await;
        let last = store::meta(&mut local.conn, META_LAST)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        if let Some(last) = last
            && at < last + interval
            && at >= last
        {
            return Ok(PingDecision::NotDue {
                next_due_ms: last + interval,
            });
        }
        let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
        let seq = sqlx::query(
            "INSERT INTO location_pings (device_time, lat, lon, accuracy_m, speed_mps, heading_deg) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(at)
        .bind(fix.lat)
        .bind(fix.lon)
        .bind(fix.accuracy_m)
        .bind(fix.speed_mps)
        .bind(fix.heading_deg)
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        store::set_meta(&mut tx, META_LAST, &at.to_string()).await?;
        tx.commit().await?;
        drop(local);
        self.wake.notify_one();
        Ok(PingDecision::Recorded { seq })
    }

    /// The pings not yet on the server, oldest first.
    pub async fn pending_pings(&self) -> SdkResult<Vec<PendingPing>> {
        let mut local = self.local.lock().await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PING_COLUMNS} FROM location_pings ORDER BY seq"
        )))
        .fetch_all(&mut local.conn)
        .await?;
        rows.iter().map(pending_ping).collect()
    }

    /// Sends the buffered pings, oldest first, in batches of
    /// [`PING_BATCH`]. Returns (stored, dropped): pings the server refuses
    /// for good (named by index in its validation problem) are dropped and
    /// the rest of their batch is sent again.
    pub(crate) async fn flush_pings(&self) -> SdkResult<(usize, usize)> {
        let (mut sent, mut dropped) = (0, 0);
        loop {
            let (key, rows) = {
                let mut local = self.local.lock().await;
                // A batch already sent once goes first, as it was (its
                // answer may have been lost).
                let open: Option<String> = sqlx::query_scalar(
                    "SELECT batch FROM location_pings WHERE batch IS NOT NULL ORDER BY seq LIMIT 1",
                )
                .fetch_optional(&mut local.conn)
                .await?;
                let key = match open {
                    Some(key) => key,
                    None => {
                        let key = random_id();
                        let marked = sqlx::query(
                            "UPDATE location_pings SET batch = ?1 WHERE seq IN (
                                SELECT seq FROM location_pings WHERE batch IS NULL ORDER BY seq LIMIT ?2)",
                        )
                        .bind(&key)
                        .bind(PING_BATCH)
                        .execute(&mut local.conn)
                        .await?
                        .rows_affected();
                        if marked == 0 {
                            return Ok((sent, dropped));
                        }
                        key
                    }
                };
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {PING_COLUMNS} FROM location_pings WHERE batch = ?1 ORDER BY seq"
                )))
                .bind(&key)
                .fetch_all(&mut local.conn)
                .await?;
                let rows = rows
                    .iter()
                    .map(pending_ping)
                    .collect::<SdkResult<Vec<_>>>()?;
                (key, rows)
            };
            let pings: Vec<Value> = rows
                .iter()
                .map(|p| {
                    json!({
                        "device_time": rfc3339_ms(p.device_time_ms),
                        "lat": p.lat,
                        "lon": p.lon,
                        "accuracy_m": p.accuracy_m,
                        "speed_mps": p.speed_mps,
                        "heading_deg": p.heading_deg,
                    })
                })
                .collect();
            let reply = self
                .call(
                    Method::POST,
                    "/v1/me/locations",
                    Some(&json!({ "pings": pings })),
                    Some(&key),
                )
                .await?;
            let mut local = self.local.lock().await;
            if reply.ok() {
                sqlx::query("DELETE FROM location_pings WHERE batch = ?1")
                    .bind(&key)
                    .execute(&mut local.conn)
                    .await?;
                sent += rows.len();
                continue;
            }
            if reply.status != 422 {
                return Err(reply.into_error());
            }
            if reply.body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/idempotency-key-mismatch"))
            {
                // The key was used for other pings (a phone restored from a
                // backup): the same rows again under a new key; the server
                // ignores any it already holds.
                sqlx::query("UPDATE location_pings SET batch = NULL WHERE batch = ?1")
                    .bind(&key)
                    .execute(&mut local.conn)
                    .await?;
                continue;
            }
            // Refused for good: drop the pings the problem names, send the
            // rest again under a new key; if none is named, the batch goes.
            let bad: Vec<i64> = reply.body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let field = e["field"].as_str()?;
                    let index = field.strip_prefix("pings[")?.split(']').next()?;
                    rows.get(index.parse::<usize>().ok()?).map(|p| p.seq)
                })
                .collect();
            let mut tx = sqlx::Connection::begin(&mut local.conn).await?;
            if bad.is_empty() {
                tracing::warn!(detail = %reply.detail(), "location batch refused; dropped");
                sqlx::query("DELETE FROM location_pings WHERE batch = ?1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                dropped += rows.len();
            } else {
                let mut unique = bad.clone();
                unique.sort_unstable();
                unique.dedup();
                for seq in &unique {
                    sqlx::query("DELETE FROM location_pings WHERE seq = ?1")
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                }
                dropped += unique.len();
                sqlx::query("UPDATE location_pings SET batch = NULL WHERE batch = ?1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
}

fn interval_ms(interval: Duration) -> i64 {
    i64::try_from(interval.as_millis()).unwrap_or(i64::MAX)
}
