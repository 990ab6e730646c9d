//! The sync engine: one sync is a series of `POST /v1/sync` exchanges
//! (PROTOCOL.md 3.4) until neither side has anything to send, starting from
//! the persisted sync states; [`Client::sync_with_retries`] repeats failed
//! syncs with exponential backoff and full jitter.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::Connection;
use truckroll_sync::automerge::sync::{BloomFilter, Have};
use truckroll_sync::protocol::{ErrorCode, Exchange, Message, PROTOCOL_VERSION, RemovalReason};
use truckroll_sync::{ChangeHash, SyncState, TicketDoc};

use crate::error::{SdkError, SdkResult};
use crate::{
    Change, Client, Local, LocalDoc, Phase, body_for, incremental_after, parse_actor, store,
};

/// At most this many requests per sync (PROTOCOL.md 3.4: "stop after eight").
const MAX_REQUESTS: usize = 8;

/// A document the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub doc_id: String,
    pub code: ErrorCode,
    pub detail: String,
    /// Where the refused local version went, if it had anything to keep.
    pub quarantine_id: Option<i64>,
}

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub requests: usize,
    /// Request bodies, as sent.
    pub bytes_sent: usize,
    /// Response bodies, as received (re-encoded).
    pub bytes_received: usize,
    pub docs_added: Vec<String>,
    pub docs_removed: Vec<(String, RemovalReason)>,
    pub rejections: Vec<Rejection>,
    /// Local edits the server does not hold yet.
    pub pending_edits: usize,
    /// Both sides had nothing more to send.
    pub converged: bool,
    /// The server asked to retry later (`internal` on a document).
    pub retry_later: bool,
    /// Job packets received (new or changed) and stored.
    pub packets_received: Vec<String>,
    /// Office attachments of the packets downloaded for offline reading.
    pub attachments_downloaded: usize,
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Attempts before giving up (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            attempts: 8,
        }
    }
}

impl Backoff {
    /// The pause before retry number `attempt` (0-based): uniform in
    /// `[0, min(max, initial * 2^attempt)]`.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let cap = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.u64(0..=ms))
    }
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

impl Client {
    /// Syncs until converged, retrying failures (network, server faults)
    /// with `backoff`. Errors that retrying cannot fix end it at once.
    pub async fn sync_with_retries(&self, backoff: &Backoff) -> SdkResult<SyncReport> {
        let mut rng = fastrand::Rng::new();
        let mut attempt = 0;
        loop {
            let result = self.sync_now().await;
            let retry = match &result {
                Ok(report) => report.retry_later || !report.converged,
                Err(e) => e.is_retryable(),
            };
            attempt += 1;
            if !retry || attempt >= backoff.attempts.max(1) {
                return result;
            }
            tokio::time::sleep(backoff.delay(attempt - 1, &mut rng)).await;
        }
    }

    /// One sync: exchanges frames with the server until neither side has
    /// anything to send (or [`MAX_REQUESTS`]). An expired access token is
    /// refreshed once.
    pub async fn sync_now(&self) -> SdkResult<SyncReport> {
        match self.sync_session().await {
            Err(SdkError::Unauthorized(_)) => {
                self.refresh_tokens().await?;
                self.sync_session().await
            }
            other => other,
        }
    }

    async fn sync_session(&self) -> SdkResult<SyncReport> {
        let session = self.require_session().await?;
        let mut report = SyncReport::default();
        // In-memory states of this sync; every sync starts from the persisted
        // ones (PROTOCOL.md 3.2), so a failed request loses nothing.
        let mut states: HashMap<String, SyncState> = HashMap::new();
        let hello = Message::Hello {
            version: PROTOCOL_VERSION,
            device_id: session.device_id.clone(),
        };
        let mut frames = {
            let mut local = self.local.lock().await;
            // The burst of edits since the last sync travels as one change
            // per document (issue 18): before anything of it is offered.
            coalesce(&mut local, self.clock.now_ms()).await?;
            let mut frames = vec![hello.clone()];
            generate(&mut local, &mut states, &mut frames).await?;
            frames
        };
        for _ in 0..MAX_REQUESTS {
            // The packets held, so the server sends only changed ones (§4).
            let haves = {
                let mut local = self.local.lock().await;
                crate::packet::have_frames(&mut local.conn).await?
            };
            frames.splice(1..1, haves);
            let request = Exchange { frames };
            report.bytes_sent += request.encode().len();
            let response = match self
                .transport
                .exchange(&session.access_token, &request)
                .await
            {
                Ok(response) => response,
                Err(SdkError::Api {
                    status: 413,
                    detail,
                }) => {
                    // The body is over the server's limit: the largest
                    // document message cannot be sent, ever. Set that local
                    // version aside (like a refusal) so the rest can sync.
                    let largest = request
                        .frames
                        .iter()
                        .filter_map(|f| match f {
                            Message::Sync { doc_id, data } => Some((data.len(), doc_id.clone())),
                            _ => None,
                        })
                        .max();
                    let Some((_, doc_id)) = largest else {
                        return Err(SdkError::Api {
                            status: 413,
                            detail,
                        });
                    };
                    let mut local = self.local.lock().await;
                    let code = ErrorCode::FrameTooLarge;
                    let quarantine_id = self
                        .quarantine_doc(
                            &mut local,
                            &mut states,
                            &doc_id,
                            code,
                            &detail,
                            true,
                            &session.actor_hex,
                        )
                        .await?;
                    report.rejections.push(Rejection {
                        doc_id,
                        code,
                        detail,
                        quarantine_id,
                    });
                    frames = vec![hello.clone()];
                    generate(&mut local, &mut states, &mut frames).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.bytes_received += response.encode().len();
            report.requests += 1;
            let mut local = self.local.lock().await;
            // Each exchange is a new session on the server, which announces
            // the whole set (PROTOCOL.md 3.4). A document held here but not
            // announced left the set even if its `doc_removed` was lost with
            // an earlier answer.
            let announced: HashSet<String> = response
                .frames
                .iter()
                .filter_map(|f| match f {
                    Message::DocAdded { doc_id } => Some(doc_id.clone()),
                    _ => None,
                })
                .collect();
            let explicit: HashSet<String> = response
                .frames
                .iter()
                .filter_map(|f| match f {
                    Message::DocRemoved { doc_id, .. } => Some(doc_id.clone()),
                    _ => None,
                })
                .collect();
            let answered = response
                .frames
                .iter()
                .any(|f| matches!(f, Message::Hello { .. }));
            for frame in response.frames {
                self.apply_frame(
                    &mut local,
                    &session.actor_hex,
                    &mut states,
                    frame,
                    &mut report,
                )
                .await?;
            }
            if answered {
                for doc_id in store::doc_ids(&mut local.conn).await? {
                    if announced.contains(&doc_id) || explicit.contains(&doc_id) {
                        continue;
                    }
                    if local.doc(&doc_id).await?.phase == Phase::Leaving {
                        continue;
                    }
                    let removed = Message::DocRemoved {
                        doc_id,
                        reason: RemovalReason::NotInSet,
                    };
                    self.apply_frame(
                        &mut local,
                        &session.actor_hex,
                        &mut states,
                        removed,
                        &mut report,
                    )
                    .await?;
                }
            }
            self.settle(&mut local, &states, &mut report).await?;
            frames = vec![hello.clone()];
            generate(&mut local, &mut states, &mut frames).await?;
            if frames.len() == 1 {
                report.converged = true;
                // Documents that were waiting for the server's version have it.
                let ids: Vec<String> = local
                    .docs
                    .iter()
                    .filter(|(_, d)| d.phase == Phase::Receiving)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    store::set_phase(&mut local.conn, &id, Phase::Active.as_str()).await?;
                    if let Some(d) = local.docs.get_mut(&id) {
                        d.phase = Phase::Active;
                    }
                    self.emit(Change::Ready { doc_id: id });
                }
                break;
            }
        }
        {
            let mut local = self.local.lock().await;
            report.pending_edits = store::outbox(&mut local.conn, None, Some("pending"))
                .await?
                .len();
        }
        let added = report.docs_added.clone();
        self.fetch_headers(&session.access_token, &added).await;
        match self.cache_packet_files(&session.access_token).await {
            Ok(n) => report.attachments_downloaded = n,
            Err(e) => tracing::info!(error = %e, "caching the packets' attachments failed"),
        }
        Ok(report)
    }

    /// Best effort: the server's header of newly arrived tickets, for lists.
    async fn fetch_headers(&self, token: &str, ids: &[String]) {
        for id in ids {
            match self.api.ticket(token, id).await {
                Ok(header) => {
                    let now = self.clock.now_ms();
                    let mut local = self.local.lock().await;
                    if let Err(e) = store::put_header(&mut local.conn, id, &header, now).await {
                        tracing::info!(ticket = %id, error = %e, "storing the ticket header failed");
                    }
                }
                Err(e) => {
                    tracing::info!(ticket = %id, error = %e, "fetching the ticket header failed")
                }
            }
        }
    }

    async fn apply_frame(
        &self,
        local: &mut Local,
        actor_hex: &str,
        states: &mut HashMap<String, SyncState>,
        frame: Message,
        report: &mut SyncReport,
    ) -> SdkResult<()> {
        match frame {
            Message::Hello { version, .. } if version != PROTOCOL_VERSION => {
                return Err(SdkError::Session {
                    code: ErrorCode::UnsupportedVersion,
                    detail: format!("server speaks version {version}"),
                });
            }
            Message::Hello { .. } => {}
            Message::DocAdded { doc_id } => {
                match store::load_doc(&mut local.conn, &doc_id).await? {
                    None => {
                        create_doc(local, &doc_id, actor_hex, self.clock.now_ms()).await?;
                        report.docs_added.push(doc_id.clone());
                        self.emit(Change::Added { doc_id });
                    }
                    Some(stored) if stored.phase == Phase::Leaving.as_str() => {
                        store::set_phase(&mut local.conn, &doc_id, Phase::Active.as_str()).await?;
                        if let Some(d) = local.docs.get_mut(&doc_id) {
                            d.phase = Phase::Active;
                        }
                    }
                    Some(_) => {}
                }
            }
            Message::DocRemoved { doc_id, reason } => {
                if store::load_doc(&mut local.conn, &doc_id).await?.is_none() {
                    return Ok(());
                }
                // The server dropped its sync state for us: start over too.
                states.insert(doc_id.clone(), SyncState::new());
                store::put_sync_state(&mut local.conn, &doc_id, None).await?;
                let pending = store::outbox(&mut local.conn, Some(&doc_id), Some("pending"))
                    .await?
                    .len();
                if pending > 0 {
                    // Finish sending what the server lacks first (3.3, step 6).
                    store::set_phase(&mut local.conn, &doc_id, Phase::Leaving.as_str()).await?;
                    if let Some(d) = local.docs.get_mut(&doc_id) {
                        d.phase = Phase::Leaving;
                    }
                } else {
                    store::delete_doc(&mut local.conn, &doc_id).await?;
                    local.docs.remove(&doc_id);
                    states.remove(&doc_id);
                    report.docs_removed.push((doc_id.clone(), reason));
                    self.emit(Change::Removed { doc_id });
                }
            }
            Message::Sync { doc_id, data } => {
                if store::load_doc(&mut local.conn, &doc_id).await?.is_none() {
                    tracing::info!(ticket = %doc_id, "sync for a document this device does not hold; ignored");
                    return Ok(());
                }
                let mut state = take_state(local, states, &doc_id).await?;
                let entry = local.doc(&doc_id).await?;
                let before = entry.doc.heads();
                if let Err(e) = entry.doc.receive_sync_message(&mut state, &data) {
                    tracing::warn!(ticket = %doc_id, error = %e, "unreadable sync message from the server; starting over");
                    states.insert(doc_id, SyncState::new());
                    return Ok(());
                }
                let changed = entry.doc.heads() != before;
                let body = changed.then(|| body_for(entry, &before));
                let now = self.clock.now_ms();
                let encoded = state.encode();
                let mut tx = local.conn.begin().await?;
                let mut incremental = None;
                if let Some(body) = body {
                    incremental = Some(incremental_after(&body));
                    store::put_doc(&mut tx, &doc_id, body, now).await?;
                }
                store::put_sync_state(&mut tx, &doc_id, Some(&encoded)).await?;
                tx.commit().await?;
                if let (Some(inc), Some(entry)) = (incremental, local.docs.get_mut(&doc_id)) {
                    entry.incremental_bytes = inc;
                }
                states.insert(doc_id.clone(), state);
                if changed {
                    self.emit(Change::Received { doc_id });
                }
            }
            Message::Packet {
                doc_id,
                hash,
                packet,
            } => {
                if store::load_doc(&mut local.conn, &doc_id).await?.is_none() {
                    tracing::info!(ticket = %doc_id, "packet for a document this device does not hold; ignored");
                    return Ok(());
                }
                crate::packet::put(
                    &mut local.conn,
                    &doc_id,
                    &hash,
                    &packet,
                    self.clock.now_ms(),
                )
                .await?;
                report.packets_received.push(doc_id);
            }
            // Device → server only.
            Message::PacketHave { .. } => {}
            Message::Error {
                doc_id: None,
                code,
                detail,
            } => {
                return Err(if code == ErrorCode::Unauthorized {
                    SdkError::Unauthorized(detail)
                } else {
                    SdkError::Session { code, detail }
                });
            }
            Message::Error {
                doc_id: Some(doc_id),
                code,
                detail,
            } => {
                let mut quarantine_id = None;
                if code.requires_reset() {
                    quarantine_id = self
                        .quarantine_doc(local, states, &doc_id, code, &detail, true, actor_hex)
                        .await?;
                } else if code == ErrorCode::NotInSet {
                    let pending = store::outbox(&mut local.conn, Some(&doc_id), Some("pending"))
                        .await?
                        .len();
                    if pending > 0 {
                        quarantine_id = self
                            .quarantine_doc(local, states, &doc_id, code, &detail, false, actor_hex)
                            .await?;
                    } else if store::load_doc(&mut local.conn, &doc_id).await?.is_some() {
                        store::delete_doc(&mut local.conn, &doc_id).await?;
                        local.docs.remove(&doc_id);
                        states.remove(&doc_id);
                        self.emit(Change::Removed {
                            doc_id: doc_id.clone(),
                        });
                    }
                } else if matches!(
                    code,
                    ErrorCode::Internal | ErrorCode::SessionLimit | ErrorCode::Other
                ) {
                    report.retry_later = true;
                }
                report.rejections.push(Rejection {
                    doc_id,
                    code,
                    detail,
                    quarantine_id,
                });
            }
        }
        Ok(())
    }

    /// Moves the local version of `doc_id` to the quarantine (PROTOCOL.md
    /// 3.5); with `restart`, starts the document over from an empty one that
    /// the server fills, else drops it from the device.
    #[allow(clippy::too_many_arguments)]
    async fn quarantine_doc(
        &self,
        local: &mut Local,
        states: &mut HashMap<String, SyncState>,
        doc_id: &str,
        code: ErrorCode,
        detail: &str,
        restart: bool,
        actor_hex: &str,
    ) -> SdkResult<Option<i64>> {
        if store::load_doc(&mut local.conn, doc_id).await?.is_none() {
            return Ok(None);
        }
        let saved = local.doc(doc_id).await?.doc.save();
        let now = self.clock.now_ms();
        let mut tx = local.conn.begin().await?;
        let id = store::insert_quarantine(&mut tx, doc_id, &code_name(code), detail, &saved, now)
            .await?;
        store::quarantine_outbox(&mut tx, doc_id).await?;
        store::delete_doc(&mut tx, doc_id).await?;
        tx.commit().await?;
        local.docs.remove(doc_id);
        states.remove(doc_id);
        if restart {
            create_doc(local, doc_id, actor_hex, now).await?;
            states.insert(doc_id.to_owned(), SyncState::new());
        }
        self.emit(Change::Quarantined {
            doc_id: doc_id.to_owned(),
            quarantine_id: id,
        });
        Ok(Some(id))
    }

    /// Marks outbox entries the server now holds as acked, and drops leaving
    /// documents whose changes all reached the server.
    async fn settle(
        &self,
        local: &mut Local,
        states: &HashMap<String, SyncState>,
        report: &mut SyncReport,
    ) -> SdkResult<()> {
        let pending = store::outbox(&mut local.conn, None, Some("pending")).await?;
        let docs: HashSet<String> = pending.iter().map(|e| e.doc_id.clone()).collect();
        let now = self.clock.now_ms();
        for doc_id in docs {
            let Some(state) = states.get(&doc_id) else {
                continue;
            };
            if store::load_doc(&mut local.conn, &doc_id).await?.is_none() {
                continue;
            }
            let entry = local.doc(&doc_id).await?;
            let acked = acked_hashes(&entry.doc, &state.shared_heads);
            for e in pending.iter().filter(|e| e.doc_id == doc_id) {
                if ChangeHash::from_str(&e.change_hash).is_ok_and(|h| acked.contains(&h)) {
                    store::set_outbox_state(&mut local.conn, e.seq, "acked", now).await?;
                }
            }
        }
        let ids = store::doc_ids(&mut local.conn).await?;
        for doc_id in ids {
            let phase = local.doc(&doc_id).await?.phase;
            if phase != Phase::Leaving {
                continue;
            }
            let still = store::outbox(&mut local.conn, Some(&doc_id), Some("pending"))
                .await?
                .len();
            if still == 0 {
                store::delete_doc(&mut local.conn, &doc_id).await?;
                local.docs.remove(&doc_id);
                report
                    .docs_removed
                    .push((doc_id.clone(), RemovalReason::NotInSet));
                self.emit(Change::Removed { doc_id });
            }
        }
        Ok(())
    }
}

/// The changes of `doc` that `shared_heads` (what the server is known to
/// hold) include.
fn acked_hashes(doc: &TicketDoc, shared_heads: &[ChangeHash]) -> HashSet<ChangeHash> {
    if shared_heads.is_empty() || !doc.contains_heads(shared_heads) {
        return HashSet::new();
    }
    let automerge = doc.as_automerge();
    let beyond: HashSet<ChangeHash> = automerge
        .get_changes(shared_heads)
        .iter()
        .map(|c| c.hash())
        .collect();
    automerge
        .get_changes(&[])
        .iter()
        .map(|c| c.hash())
        .filter(|h| !beyond.contains(h))
        .collect()
}

async fn take_state(
    local: &mut Local,
    states: &mut HashMap<String, SyncState>,
    doc_id: &str,
) -> SdkResult<SyncState> {
    if let Some(s) = states.remove(doc_id) {
        return Ok(s);
    }
    Ok(store::sync_state(&mut local.conn, doc_id)
        .await?
        .and_then(|b| SyncState::decode(&b).ok())
        .map(offering_since_shared)
        .unwrap_or_default())
}

/// A persisted state as the start of a sync that sends, in its first
/// message, the changes after the heads the server is known to hold (it said
/// so in an earlier sync): as if the server had answered "I have exactly
/// those". Without it Automerge sends no change before the server's first
/// answer asks for them, so a catch-up costs a request more and sends its
/// heads, Bloom filters and packet hashes twice (issue 18). If the server
/// lacks one of those heads after all, its answer names the change in
/// `need` and the next request carries it (PROTOCOL.md §3.4).
fn offering_since_shared(mut state: SyncState) -> SyncState {
    if !state.shared_heads.is_empty() {
        state.their_need = Some(Vec::new());
        state.their_have = Some(vec![Have {
            last_sync: state.shared_heads.clone(),
            bloom: BloomFilter::default(),
        }]);
    }
    state
}

/// A fresh document for a ticket the server announced: the shared skeleton
/// (identical on every replica), filled by the next sync.
async fn create_doc(local: &mut Local, doc_id: &str, actor_hex: &str, now: i64) -> SdkResult<()> {
    let doc = TicketDoc::new(doc_id, parse_actor(actor_hex)?)?;
    let mut tx = local.conn.begin().await?;
    store::put_doc(&mut tx, doc_id, store::DocBody::Snapshot(doc.save()), now).await?;
    store::set_phase(&mut tx, doc_id, Phase::Receiving.as_str()).await?;
    store::put_sync_state(&mut tx, doc_id, None).await?;
    // Nothing of this device's is in the skeleton: its edits may be coalesced.
    store::put_sealed_heads(&mut tx, doc_id, &doc.heads()).await?;
    tx.commit().await?;
    local.docs.insert(
        doc_id.to_owned(),
        LocalDoc {
            doc,
            incremental_bytes: 0,
            phase: Phase::Receiving,
        },
    );
    Ok(())
}

/// Coalesces each active document's own changes made since its seal into
/// one change ([`TicketDoc::coalesce_own_changes`]): the document is stored
/// anew and the outbox rows of the replaced changes name the new one, in one
/// transaction. Changes up to the seal, or that the server holds, stay as
/// they are (they may have been sent: a second version of them would clash).
async fn coalesce(local: &mut Local, now: i64) -> SdkResult<()> {
    for doc_id in store::doc_ids(&mut local.conn).await? {
        let Some(mut keep) = store::sealed_heads(&mut local.conn, &doc_id).await? else {
            continue;
        };
        if let Some(state) = store::sync_state(&mut local.conn, &doc_id)
            .await?
            .and_then(|b| SyncState::decode(&b).ok())
        {
            keep.extend(state.shared_heads);
        }
        keep.sort();
        keep.dedup();
        let entry = local.doc(&doc_id).await?;
        if entry.phase != Phase::Active || !entry.doc.contains_heads(&keep) {
            continue;
        }
        let Some(coalesced) = entry.doc.coalesce_own_changes(&keep) else {
            continue;
        };
        let mut tx = local.conn.begin().await?;
        store::put_doc(
            &mut tx,
            &doc_id,
            store::DocBody::Snapshot(coalesced.doc.save()),
            now,
        )
        .await?;
        store::rehash_outbox(&mut tx, &doc_id, &coalesced.replaced, &coalesced.hash).await?;
        tx.commit().await?;
        if let Some(entry) = local.docs.get_mut(&doc_id) {
            entry.doc = coalesced.doc;
            entry.incremental_bytes = 0;
        }
    }
    Ok(())
}

/// Appends a `sync` frame for every held document that has something to
/// send, and seals the heads of those documents (never coalesced again).
async fn generate(
    local: &mut Local,
    states: &mut HashMap<String, SyncState>,
    frames: &mut Vec<Message>,
) -> SdkResult<()> {
    let mut offered: Vec<(String, Vec<ChangeHash>)> = Vec::new();
    for doc_id in store::doc_ids(&mut local.conn).await? {
        let mut state = take_state(local, states, &doc_id).await?;
        // Every HTTP request is a new session on the server, which keeps no
        // Automerge queue between requests: a change it could not apply yet
        // (a Bloom-filter false positive hid a dependency) is gone there, so
        // "already sent" must not stop us from sending it again.
        state.sent_hashes.clear();
        let entry = local.doc(&doc_id).await?;
        if let Some(data) = entry.doc.generate_sync_message(&mut state) {
            offered.push((doc_id.clone(), entry.doc.heads()));
            frames.push(Message::Sync {
                doc_id: doc_id.clone(),
                data,
            });
        }
        states.insert(doc_id, state);
    }
    if !offered.is_empty() {
        let mut tx = local.conn.begin().await?;
        for (doc_id, heads) in &offered {
            if store::sealed_heads(&mut tx, doc_id).await?.as_ref() != Some(heads) {
                store::put_sealed_heads(&mut tx, doc_id, heads).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 8,
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..12u32 {
            let cap = (100u128 << attempt).min(1000);
            let delays: Vec<u128> = (0..400)
                .map(|_| backoff.delay(attempt, &mut rng).as_millis())
                .collect();
            assert!(delays.iter().all(|d| *d <= cap), "attempt {attempt}");
            // Spread over the whole range, so phones that lost the network
            // together do not come back together.
            assert!(delays.iter().any(|d| *d < cap / 4), "attempt {attempt}");
            assert!(delays.iter().any(|d| *d > cap * 3 / 4), "attempt {attempt}");
        }
        assert!(backoff.delay(u32::MAX, &mut rng) <= backoff.max);
    }
}
