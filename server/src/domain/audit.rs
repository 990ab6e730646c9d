//! The audit log: append-only, hash-chained per tenant.
//!
//! Each entry's hash covers its content and the previous entry's hash; the
//! tenant row keeps the newest hash, so an edited, deleted or truncated entry
//! breaks the chain.

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
}

/// Everything of an entry but its place in the chain.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub before: Option<String>,
    pub after: Option<String>,
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
    field(event.before.as_deref().unwrap_or("\u{0}").as_bytes());
    field(event.after.as_deref().unwrap_or("\u{0}").as_bytes());
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
        };
        if entry_hash(
            entry.tenant_id,
            entry.seq,
            &entry.prev_hash,
            entry.at,
            &event,
        ) != entry.hash
        {
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
