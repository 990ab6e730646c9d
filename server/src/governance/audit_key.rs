//! The keyed audit chain. Every tenant's audit log is a SHA-256 hash chain
//! (`domain::audit`), which anyone with write access to the database can
//! recompute after rewriting history. With `[governance] audit_key` set, a
//! sealer (one replica at a time) adds to each new entry an HMAC-SHA256 of
//! its hash under that key, and writes the newest sealed entry of each
//! tenant as an anchor into the blob store (`audit-anchors/{tenant}.json`,
//! a second system the database's administrator does not control alone).
//! Rewriting an entry then needs the key; stripping seals shows (an
//! unsealed entry before a sealed one); cutting entries off the end shows
//! against the anchor. Each anchor is also queued as an `audit.anchored`
//! webhook event (the one webhook outbox, its egress rules) for the
//! tenant's subscriptions that ask for it, so a copy lands on the tenant's
//! own receiver. The sealer seals only entries younger than
//! `audit_seal_window_secs`, so an old entry whose seal was stripped and
//! content rewritten is never sealed again.
//!
//! # Rotation
//! Set a new `audit_key = "k2:…"` and move the old one to
//! `audit_retired_keys = ["k1:…"]`: new entries are sealed with `k2`,
//! entries sealed with `k1` still verify. Drop a retired key only when no
//! entry sealed with it needs verifying any more.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    blob::{BlobError, BlobStore},
    config_error::ConfigError,
    domain::audit::ChainReport,
    store::{Store, StoreError, audit::AuditSeal},
};

/// One audit key: its id (stored with each seal) and its secret.
#[derive(Clone)]
struct AuditKey {
    id: String,
    secret: Vec<u8>,
}

/// The current key and the retired ones that still verify.
#[derive(Clone, Default)]
pub struct AuditKeyring {
    current: Option<AuditKey>,
    retired: Vec<AuditKey>,
}

impl std::fmt::Debug for AuditKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeyring")
            .field("current", &self.current.as_ref().map(|k| &k.id))
            .field(
                "retired",
                &self.retired.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn parse_key(text: &str, field: &'static str) -> Result<AuditKey, ConfigError> {
    let (id, secret) = text.split_once(':').ok_or_else(|| {
        ConfigError::invalid(
            field,
            "must be `<key id>:<secret>`, e.g. `k1:` and 32 or more characters",
        )
    })?;
    let id_ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(ConfigError::invalid(
            field,
            "the key id must be 1-32 letters, digits, `-` or `_`",
        ));
    }
    if secret.len() < 32 {
        return Err(ConfigError::invalid(
            field,
            "the secret must be at least 32 characters",
        ));
    }
    Ok(AuditKey {
        id: id.to_owned(),
        secret: secret.as_bytes().to_vec(),
    })
}

impl AuditKeyring {
    /// From `audit_key` (empty: unkeyed) and `audit_retired_keys`.
    pub fn from_config(current: &str, retired: &[String]) -> Result<Self, ConfigError> {
        let current = (!current.is_empty())
            .then(|| parse_key(current, "governance.audit_key"))
            .transpose()?;
        let retired = retired
            .iter()
            .map(|key| parse_key(key, "governance.audit_retired_keys"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids: Vec<&str> = current
            .iter()
            .chain(&retired)
            .map(|k| k.id.as_str())
            .collect();
        ids.sort_unstable();
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::invalid(
                "governance.audit_retired_keys",
                "every audit key needs its own id",
            ));
        }
        Ok(Self { current, retired })
    }

    pub fn is_keyed(&self) -> bool {
        self.current.is_some()
    }

    fn key(&self, id: &str) -> Option<&AuditKey> {
        self.current
            .iter()
            .chain(&self.retired)
            .find(|key| key.id == id)
    }

    /// `(key id, seal)` for an entry, under the current key.
    pub fn seal(&self, tenant_id: Uuid, seq: i64, hash: &str) -> Option<(String, String)> {
        let key = self.current.as_ref()?;
        Some((key.id.clone(), mac(&key.secret, tenant_id, seq, hash)))
    }

    /// Whether `seal` is the seal of the entry under key `key_id`; `None`
    /// when the key is unknown.
    fn check(
        &self,
        key_id: &str,
        tenant_id: Uuid,
        seq: i64,
        hash: &str,
        seal: &str,
    ) -> Option<bool> {
        let key = self.key(key_id)?;
        let expected = mac(&key.secret, tenant_id, seq, hash);
        Some(expected.as_bytes() == seal.as_bytes())
    }
}

/// Hex HMAC-SHA256 over a domain tag, the tenant, the sequence number and
/// the entry's chain hash.
fn mac(secret: &[u8], tenant_id: Uuid, seq: i64, hash: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts any key length")
    };
    mac.update(b"truckroll-audit-seal-v1\0");
    mac.update(tenant_id.as_bytes());
    mac.update(&seq.to_be_bytes());
    mac.update(hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The newest sealed entry of a tenant, as written to the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditAnchor {
    pub tenant_id: Uuid,
    /// The first entry ever sealed: every entry from it to `seq` must be sealed.
    pub first_seq: i64,
    pub seq: i64,
    pub hash: String,
    pub key_id: String,
    pub mac: String,
    pub at: DateTime<Utc>,
}

/// The webhook event type each anchor is sent as (to subscriptions that
/// ask for it); its `data.anchor` is the [`AuditAnchor`], whose `mac` only
/// the holder of the audit key can make.
pub const ANCHOR_EVENT: &str = "audit.anchored";

pub fn anchor_key(tenant_id: Uuid) -> String {
    format!("audit-anchors/{tenant_id}.json")
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("audit anchor: {0}")]
    Blob(#[from] BlobError),
    #[error("audit anchor: {0}")]
    Json(#[from] serde_json::Error),
}

/// Entries sealed in one round, at most.
const ROUND: u32 = 1000;

/// Seals the unsealed entries younger than `window` and moves each touched
/// tenant's anchor forward. Returns how many entries it sealed.
pub async fn seal_once(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    keyring: &AuditKeyring,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<usize, SealError> {
    if !keyring.is_keyed() {
        return Ok(0);
    }
    let since = window_start(now, window);
    let mut sealed = 0;
    loop {
        let pending = store.unsealed_audit(since, ROUND).await?;
        if pending.is_empty() {
            return Ok(sealed);
        }
        let mut newest: HashMap<Uuid, AuditAnchor> = HashMap::new();
        for entry in &pending {
            let Some((key_id, seal)) = keyring.seal(entry.tenant_id, entry.seq, &entry.hash) else {
                return Ok(sealed);
            };
            if store
                .seal_audit(entry.tenant_id, entry.seq, &key_id, &seal)
                .await?
            {
                sealed += 1;
            }
            let first_seq = newest
                .get(&entry.tenant_id)
                .map_or(entry.seq, |anchor| anchor.first_seq);
            newest.insert(
                entry.tenant_id,
                AuditAnchor {
                    tenant_id: entry.tenant_id,
                    first_seq,
                    seq: entry.seq,
                    hash: entry.hash.clone(),
                    key_id,
                    mac: seal,
                    at: now,
                },
            );
        }
        for anchor in newest.values() {
            if let Some(written) = write_anchor(blobs, anchor).await? {
                // The checkpoint also goes to the tenant's own receivers, if
                // any subscribed: a copy outside this server's reach.
                store
                    .queue_tenant_event_webhooks(
                        written.tenant_id,
                        ANCHOR_EVENT,
                        serde_json::json!({ "anchor": written }),
                    )
                    .await?;
            }
        }
        if pending.len() < ROUND as usize {
            return Ok(sealed);
        }
    }
}

/// `now` minus `window`, or the earliest time when that underflows.
fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|window| now.checked_sub_signed(window))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Writes the anchor unless the stored one is as new; returns what it wrote.
async fn write_anchor(
    blobs: &dyn BlobStore,
    anchor: &AuditAnchor,
) -> Result<Option<AuditAnchor>, SealError> {
    let key = anchor_key(anchor.tenant_id);
    let mut anchor = anchor.clone();
    if let Some(existing) = read_anchor(blobs, anchor.tenant_id).await? {
        // Anchors only move forward (a slower replica never moves one
        // back), and the first sealed entry stays the first.
        if existing.seq >= anchor.seq {
            return Ok(None);
        }
        anchor.first_seq = existing.first_seq.min(anchor.first_seq);
    }
    blobs
        .write(&key, serde_json::to_vec(&anchor)?, "application/json")
        .await?;
    Ok(Some(anchor))
}

pub async fn read_anchor(
    blobs: &dyn BlobStore,
    tenant_id: Uuid,
) -> Result<Option<AuditAnchor>, SealError> {
    match blobs.read(&anchor_key(tenant_id)).await {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(BlobError::NotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The sealer: every `interval`, while this replica holds the lease.
pub async fn seal_loop(
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    keyring: AuditKeyring,
    window: Duration,
    interval: Duration,
    mut leading: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !*leading.borrow_and_update() {
            continue;
        }
        match seal_once(store.as_ref(), blobs.as_ref(), &keyring, window, Utc::now()).await {
            Ok(0) => {}
            Ok(sealed) => tracing::debug!(sealed, "audit entries sealed"),
            Err(error) => tracing::warn!(%error, "audit sealing failed"),
        }
    }
}

/// The whole check of a tenant's audit log: the hash chain, then the seals
/// and the anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditVerification {
    pub valid: bool,
    pub entries: i64,
    pub broken_at_seq: Option<i64>,
    pub problem: Option<String>,
    pub chain: ChainReport,
    pub seals: SealReport,
}

/// Verifies `tenant_id`'s chain, seals and anchor.
pub async fn verify_tenant(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    keyring: &AuditKeyring,
    window: Duration,
    tenant_id: Uuid,
) -> Result<AuditVerification, SealError> {
    let chain = store.verify_audit(tenant_id).await?;
    let seals = store.audit_seals(tenant_id).await?;
    let anchor = read_anchor(blobs, tenant_id).await?;
    let seals = verify_seals(&seals, keyring, anchor.as_ref(), window, Utc::now());
    let (broken_at_seq, problem) = if chain.valid {
        (seals.broken_at_seq, seals.problem.clone())
    } else {
        (chain.broken_at_seq, chain.problem.clone())
    };
    Ok(AuditVerification {
        valid: chain.valid && seals.valid,
        entries: chain.entries,
        broken_at_seq,
        problem,
        chain,
        seals,
    })
}

/// What the keyed check found, beside the hash chain's own report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SealReport {
    /// Sealing is configured (`[governance] audit_key`).
    pub keyed: bool,
    pub valid: bool,
    pub sealed: i64,
    /// Entries from before the first seal (written before a key was set).
    pub unsealed_before_first_seal: i64,
    /// The newest entries, not sealed yet (younger than the seal window).
    pub unsealed_recent: i64,
    pub broken_at_seq: Option<i64>,
    pub problem: Option<String>,
    /// The newest anchor found in the blob store.
    pub anchor_seq: Option<i64>,
}

/// Checks every seal against the keyring, that no sealed stretch has holes,
/// and that the chain still reaches the anchor.
pub fn verify_seals(
    entries: &[AuditSeal],
    keyring: &AuditKeyring,
    anchor: Option<&AuditAnchor>,
    window: Duration,
    now: DateTime<Utc>,
) -> SealReport {
    let mut report = SealReport {
        keyed: keyring.is_keyed(),
        valid: true,
        sealed: 0,
        unsealed_before_first_seal: 0,
        unsealed_recent: 0,
        broken_at_seq: None,
        problem: None,
        anchor_seq: anchor.map(|a| a.seq),
    };
    let broken = |mut report: SealReport, seq: i64, problem: String| {
        report.valid = false;
        report.broken_at_seq = Some(seq);
        report.problem = Some(problem);
        report
    };
    let recent = window_start(now, window);
    let first_sealed = entries.iter().position(|e| e.mac.is_some());
    for (index, entry) in entries.iter().enumerate() {
        match (&entry.key_id, &entry.mac) {
            (Some(key_id), Some(seal)) => {
                match keyring.check(key_id, entry.tenant_id, entry.seq, &entry.hash, seal) {
                    Some(true) => report.sealed += 1,
                    Some(false) => {
                        return broken(
                            report,
                            entry.seq,
                            "the seal does not match the entry".into(),
                        );
                    }
                    None => {
                        return broken(
                            report,
                            entry.seq,
                            format!(
                                "sealed with key `{key_id}`, which is not configured (audit_retired_keys?)"
                            ),
                        );
                    }
                }
            }
            _ if first_sealed.is_none_or(|first| index < first) => {
                report.unsealed_before_first_seal += 1;
            }
            _ => {
                let rest_unsealed_and_recent = entries[index..]
                    .iter()
                    .all(|later| later.mac.is_none() && later.at >= recent);
                if !rest_unsealed_and_recent {
                    return broken(
                        report,
                        entry.seq,
                        "unsealed inside the sealed part of the chain (a seal was removed)".into(),
                    );
                }
                report.unsealed_recent += 1;
            }
        }
    }
    if let Some(anchor) = anchor {
        if let Some(stripped) = entries
            .iter()
            .find(|e| (anchor.first_seq..=anchor.seq).contains(&e.seq) && e.mac.is_none())
        {
            return broken(
                report,
                stripped.seq,
                "unsealed although the anchor says it was sealed (a seal was removed)".into(),
            );
        }
        let at_anchor = entries.iter().find(|e| e.seq == anchor.seq);
        match at_anchor {
            Some(entry) if entry.hash == anchor.hash => {}
            Some(entry) => {
                return broken(
                    report,
                    entry.seq,
                    "differs from the anchor written when it was sealed".into(),
                );
            }
            None => {
                let last = entries.last().map_or(0, |e| e.seq);
                return broken(
                    report,
                    last + 1,
                    format!(
                        "the chain ends at entry {last}, before the anchor's entry {}",
                        anchor.seq
                    ),
                );
            }
        }
        if keyring.check(
            &anchor.key_id,
            anchor.tenant_id,
            anchor.seq,
            &anchor.hash,
            &anchor.mac,
        ) != Some(true)
        {
            return broken(
                report,
                anchor.seq,
                "the anchor's own seal does not verify".into(),
            );
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(current: &str, retired: &[&str]) -> AuditKeyring {
        let retired: Vec<String> = retired.iter().map(|k| (*k).to_owned()).collect();
        AuditKeyring::from_config(current, &retired).expect("keyring")
    }

    const K1: &str = "k1:0123456789abcdef0123456789abcdef";
    const K2: &str = "k2:fedcba9876543210fedcba9876543210";

    fn entries(keyring: &AuditKeyring, n: i64, at: DateTime<Utc>) -> Vec<AuditSeal> {
        let tenant = Uuid::nil();
        (1..=n)
            .map(|seq| {
                let hash = format!("{seq:064x}");
                let (key_id, mac) = keyring.seal(tenant, seq, &hash).expect("keyed");
                AuditSeal {
                    tenant_id: tenant,
                    seq,
                    hash,
                    at,
                    key_id: Some(key_id),
                    mac: Some(mac),
                }
            })
            .collect()
    }

    #[test]
    fn seals_verify_across_a_rotation_and_catch_tampering() {
        let now = Utc::now();
        let window = Duration::from_secs(600);
        let old = keyring(K1, &[]);
        let mut chain = entries(&old, 3, now);
        let rotated = keyring(K2, &[K1]);
        assert!(verify_seals(&chain, &rotated, None, window, now).valid);
        let without_k1 = keyring(K2, &[]);
        assert!(!verify_seals(&chain, &without_k1, None, window, now).valid);

        chain[1].hash = format!("{:064x}", 99);
        let report = verify_seals(&chain, &rotated, None, window, now);
        assert_eq!(report.broken_at_seq, Some(2), "{report:?}");

        let mut stripped = entries(&old, 3, now - chrono::Duration::hours(1));
        stripped[1].mac = None;
        stripped[1].key_id = None;
        let report = verify_seals(&stripped, &old, None, window, now);
        assert_eq!(report.broken_at_seq, Some(2), "{report:?}");

        let mut tail = entries(&old, 3, now);
        tail[2].mac = None;
        tail[2].key_id = None;
        let report = verify_seals(&tail, &old, None, window, now);
        assert!(report.valid && report.unsealed_recent == 1, "{report:?}");
    }

    #[test]
    fn bad_keys_are_refused_by_their_key() {
        assert!(AuditKeyring::from_config("short", &[]).is_err());
        assert!(AuditKeyring::from_config("k1:short", &[]).is_err());
        assert!(AuditKeyring::from_config(K1, &[K1.to_owned()]).is_err());
        assert!(
            !AuditKeyring::from_config("", &[])
                .expect("unkeyed")
                .is_keyed()
        );
    }
}
