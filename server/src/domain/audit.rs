//! The audit log: append-only, hash-chained per tenant.
//!
//! Each entry's hash covers its content and the previous entry's hash; the
//! tenant row keeps the newest hash, so an edited, deleted or truncated entry
//! breaks the chain.
//!
//! Redactable payloads (issue 19, erasure): an entry written since migration
//! 0030 carries a random `payload_salt`, and its hash covers
//! `sha256(salt, before, after)` instead of the payload itself. Erasing a
//! customer replaces such a payload by that digest (and drops the salt), so
//! the entry's hash still recomputes while neither the values nor a guessable
//! hash of them remain. Older entries (no salt) hash their payload directly;
//! when redacted, the verifier accepts their stored hash only if the erasure
//! entry that redacted them (`redacted_by`, itself verified) lists their seq.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// The hash before a tenant's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub tenant_id: Uuid,
    /// The user who made the change; absent for the command line and the system.
    pub actor_id: Option<Uuid>,
    /// e.g. `ticket.update`
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    /// JSON of the record before the change, exactly as hashed.
    pub before: Option<String>,
    /// JSON of the record after the change, exactly as hashed.
    pub after: Option<String>,
    pub at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
    /// The `customer.erase` (or `customer.contact_erase`) entry that removed
    /// this entry's payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_by: Option<i64>,
    /// Present while the payload is (scheme 2, see the module docs).
    #[serde(skip)]
    pub payload_salt: Option<String>,
    /// The digest a redacted scheme-2 payload was replaced by.
    #[serde(skip)]
    pub payload_digest: Option<String>,
}

/// The action of the entry that records an erasure; its `after` lists the
/// seqs it redacted as `redacted_seqs`.
pub const ERASE_ACTION: &str = "customer.erase";

/// The action of the entry that records erasing a customer's contact person
/// (the customer stays); it lists what it redacted the same way.
pub const CONTACT_ERASE_ACTION: &str = "customer.contact_erase";

/// Everything of an entry but its place in the chain.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Random per entry; `Some` makes the payload redactable (module docs).
    pub payload_salt: Option<String>,
}

/// A fresh random salt for a redactable payload.
pub fn new_payload_salt() -> String {
    let mut bytes = [0u8; 16];
    // Falling back to a v7 UUID's randomness only weakens the salt, never the chain.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = *Uuid::now_v7().as_bytes();
    }
    hex::encode(bytes)
}

/// What a redactable entry's hash covers in place of its payload.
pub fn payload_digest(salt: &str, before: Option<&str>, after: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    for bytes in [
        salt.as_bytes(),
        before.unwrap_or("\u{0}").as_bytes(),
        after.unwrap_or("\u{0}").as_bytes(),
    ] {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}

/// The part of an entry its hash covers for the payload.
enum Payload<'a> {
    /// Scheme 1: the payload itself.
    Plain(Option<&'a str>, Option<&'a str>),
    /// Scheme 2: its salted digest.
    Digest(String),
}

impl AuditEvent {
    pub fn new<T: Serialize>(
        actor_id: Option<Uuid>,
        action: &str,
        entity_type: &str,
        entity_id: Option<Uuid>,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Self {
        Self {
            actor_id,
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id,
            before: before.and_then(|v| serde_json::to_string(v).ok()),
            after: after.and_then(|v| serde_json::to_string(v).ok()),
            payload_salt: Some(new_payload_salt()),
        }
    }
}

/// Timestamps are hashed at microsecond precision, which both databases keep.
pub fn audit_time(now: DateTime<Utc>) -> DateTime<Utc> {
    let micros = now.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(now)
}

pub fn entry_hash(
    tenant_id: Uuid,
    seq: i64,
    prev_hash: &str,
    at: DateTime<Utc>,
    event: &AuditEvent,
) -> String {
    let payload = match &event.payload_salt {
        Some(salt) => Payload::Digest(payload_digest(
            salt,
            event.before.as_deref(),
            event.after.as_deref(),
        )),
        None => Payload::Plain(event.before.as_deref(), event.after.as_deref()),
    };
    hash_with(tenant_id, seq, prev_hash, at, event, payload)
}

fn hash_with(
    tenant_id: Uuid,
    seq: i64,
    prev_hash: &str,
    at: DateTime<Utc>,
    event: &AuditEvent,
    payload: Payload<'_>,
) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        // Length prefixes keep field boundaries unambiguous.
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(tenant_id.as_bytes());
    field(
        event
            .actor_id
            .map(|id| id.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    field(event.action.as_bytes());
    field(event.entity_type.as_bytes());
    field(
        event
            .entity_id
            .map(|id| id.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    match payload {
        Payload::Plain(before, after) => {
            field(before.unwrap_or("\u{0}").as_bytes());
            field(after.unwrap_or("\u{0}").as_bytes());
        }
        Payload::Digest(digest) => field(digest.as_bytes()),
    }
    field(at.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChainReport {
    pub valid: bool,
    pub entries: i64,
    /// The first entry where the chain breaks.
    pub broken_at_seq: Option<i64>,
    pub problem: Option<String>,
}

/// Checks a tenant's whole chain, in `seq` order, against the head the tenant row keeps.
pub fn verify_chain(entries: &[AuditEntry], head_seq: i64, head_hash: &str) -> ChainReport {
    let mut prev = GENESIS_HASH.to_owned();
    let broken = |seq: i64, problem: String| ChainReport {
        valid: false,
        entries: entries.len() as i64,
        broken_at_seq: Some(seq),
        problem: Some(problem),
    };
    for (index, entry) in entries.iter().enumerate() {
        let expected_seq = index as i64 + 1;
        if entry.seq != expected_seq {
            return broken(expected_seq, format!("entry {expected_seq} is missing"));
        }
        if entry.prev_hash != prev {
            return broken(entry.seq, "does not follow the previous entry".into());
        }
        let event = AuditEvent {
            actor_id: entry.actor_id,
            action: entry.action.clone(),
            entity_type: entry.entity_type.clone(),
            entity_id: entry.entity_id,
            before: entry.before.clone(),
            after: entry.after.clone(),
            payload_salt: entry.payload_salt.clone(),
        };
        let matches = match (entry.redacted_by, &entry.payload_digest) {
            (None, _) => {
                entry_hash(
                    entry.tenant_id,
                    entry.seq,
                    &entry.prev_hash,
                    entry.at,
                    &event,
                ) == entry.hash
            }
            (Some(by), digest) => {
                if !erasure_lists(entries, by, entry.seq) {
                    return broken(
                        entry.seq,
                        format!("redacted, but erasure entry {by} does not list it"),
                    );
                }
                match digest {
                    Some(digest) => {
                        hash_with(
                            entry.tenant_id,
                            entry.seq,
                            &entry.prev_hash,
                            entry.at,
                            &event,
                            Payload::Digest(digest.clone()),
                        ) == entry.hash
                    }
                    // Scheme 1: the hash cannot be recomputed; the link to
                    // the next entry and the listing above vouch for it.
                    None => true,
                }
            }
        };
        if !matches {
            return broken(entry.seq, "content does not match its hash".into());
        }
        prev = entry.hash.clone();
    }
    if entries.len() as i64 != head_seq || prev != head_hash {
        return broken(
            entries.len() as i64 + 1,
            format!("the chain should end at entry {head_seq}"),
        );
    }
    ChainReport {
        valid: true,
        entries: entries.len() as i64,
        broken_at_seq: None,
        problem: None,
    }
}

/// Whether entry `by` is an erasure that lists `seq` among those it redacted.
/// `by` comes later in the chain, so its own hash is checked when reached.
fn erasure_lists(entries: &[AuditEntry], by: i64, seq: i64) -> bool {
    let Some(eraser) = usize::try_from(by - 1).ok().and_then(|i| entries.get(i)) else {
        return false;
    };
    if eraser.seq != by
        || (eraser.action != ERASE_ACTION && eraser.action != CONTACT_ERASE_ACTION)
        || by <= seq
    {
        return false;
    }
    eraser
        .after
        .as_deref()
        .and_then(|after| serde_json::from_str::<serde_json::Value>(after).ok())
        .and_then(|after| after.get("redacted_seqs").cloned())
        .and_then(|seqs| serde_json::from_value::<Vec<i64>>(seqs).ok())
        .is_some_and(|seqs| seqs.contains(&seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let tenant = Uuid::now_v7();
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let event =
                    AuditEvent::new(None, "ticket.create", "ticket", None, None, Some(&seq));
                let at = audit_time(Utc::now());
                let hash = entry_hash(tenant, seq, &prev, at, &event);
                let entry = AuditEntry {
                    seq,
                    tenant_id: tenant,
                    actor_id: None,
                    action: event.action,
                    entity_type: event.entity_type,
                    entity_id: None,
                    before: event.before,
                    after: event.after,
                    at,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                    redacted_by: None,
                    payload_salt: event.payload_salt,
                    payload_digest: None,
                };
                prev = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        let head = entries[4].hash.clone();
        assert!(verify_chain(&entries, 5, &head).valid);
    }

    /// Appends an erasure entry listing `seqs` and redacts them as the store does.
    fn erase(entries: &mut Vec<AuditEntry>, seqs: &[i64]) {
        let tenant = entries[0].tenant_id;
        let seq = entries.len() as i64 + 1;
        let prev = entries.last().map(|e| e.hash.clone()).unwrap_or_default();
        let record = serde_json::json!({ "redacted_seqs": seqs });
        let event = AuditEvent::new(None, ERASE_ACTION, "customer", None, None, Some(&record));
        let at = audit_time(Utc::now());
        let hash = entry_hash(tenant, seq, &prev, at, &event);
        entries.push(AuditEntry {
            seq,
            tenant_id: tenant,
            actor_id: None,
            action: event.action,
            entity_type: event.entity_type,
            entity_id: None,
            before: event.before,
            after: event.after,
            at,
            prev_hash: prev,
            hash,
            redacted_by: None,
            payload_salt: event.payload_salt,
            payload_digest: None,
        });
        for target in seqs {
            let entry = &mut entries[usize::try_from(target - 1).expect("seq")];
            entry.payload_digest = entry
                .payload_salt
                .as_deref()
                .map(|salt| payload_digest(salt, entry.before.as_deref(), entry.after.as_deref()));
            entry.before = None;
            entry.after = None;
            entry.payload_salt = None;
            entry.redacted_by = Some(seq);
        }
    }

    #[test]
    fn a_redacted_chain_still_verifies_and_cannot_be_redacted_silently() {
        let mut entries = chain(4);
        erase(&mut entries, &[2, 3]);
        let head = entries[4].hash.clone();
        assert!(verify_chain(&entries, 5, &head).valid);
        assert!(entries[1].after.is_none() && entries[1].payload_digest.is_some());

        // A payload put back differently, or a redaction no erasure lists, breaks it.
        let mut forged = entries.clone();
        forged[1].payload_digest = Some("00".repeat(32));
        assert_eq!(verify_chain(&forged, 5, &head).broken_at_seq, Some(2));
        let mut unlisted = entries.clone();
        unlisted[3].after = None;
        unlisted[3].payload_salt = None;
        unlisted[3].redacted_by = Some(5);
        assert_eq!(verify_chain(&unlisted, 5, &head).broken_at_seq, Some(4));
    }

    #[test]
    fn entries_without_a_salt_hash_their_payload_as_before() {
        let mut entries = chain(3);
        for entry in &mut entries {
            entry.payload_salt = None;
        }
        // Rebuild the hashes the old way (scheme 1).
        let mut prev = GENESIS_HASH.to_owned();
        for entry in &mut entries {
            entry.prev_hash = prev.clone();
            let event = AuditEvent {
                actor_id: entry.actor_id,
                action: entry.action.clone(),
                entity_type: entry.entity_type.clone(),
                entity_id: entry.entity_id,
                before: entry.before.clone(),
                after: entry.after.clone(),
                payload_salt: None,
            };
            entry.hash = entry_hash(entry.tenant_id, entry.seq, &prev, entry.at, &event);
            prev = entry.hash.clone();
        }
        erase(&mut entries, &[2]);
        let head = entries[3].hash.clone();
        assert!(verify_chain(&entries, 4, &head).valid);
    }

    #[test]
    fn edits_deletions_and_truncation_are_detected() {
        let entries = chain(5);
        let head = entries[4].hash.clone();

        let mut edited = entries.clone();
        edited[2].after = Some("999".into());
        assert_eq!(verify_chain(&edited, 5, &head).broken_at_seq, Some(3));

        let mut deleted = entries.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted, 5, &head).broken_at_seq, Some(2));

        let truncated = &entries[..4];
        assert!(!verify_chain(truncated, 5, &head).valid);
    }
}
