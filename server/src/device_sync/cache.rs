//! Hot ticket documents kept decoded in memory, keyed by the stored version.
//!
//! Loading a document reads its snapshot and every change chunk and decodes
//! them (`Automerge::load`), before every merge and every reply. The cache
//! keeps the decoded document with the version it was read or written at;
//! a load asks the database for the current version only (one small row)
//! and uses the cached copy when it is the same, so a write from any path
//! or any replica (each bumps the version) is never missed. Bounded by an
//! estimate of its memory; the least recently used documents go first.

use std::{
    collections::HashMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use truckroll_sync::{TicketDoc, automerge::ReadDoc};
use uuid::Uuid;

use crate::config_error::ConfigError;

/// `[documents]`: the decoded-document cache of this replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentCacheConfig {
    /// Estimated memory for cached documents, in bytes; 0 turns it off.
    pub cache_bytes: usize,
}

impl Default for DocumentCacheConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

impl DocumentCacheConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// A decoded document takes several times its saved size in memory.
const MEMORY_PER_SAVED_BYTE: usize = 8;

struct Entry {
    version: i64,
    incremental_bytes: i64,
    doc: TicketDoc,
    size: usize,
    used: u64,
}

#[derive(Default)]
struct Entries {
    by_ticket: HashMap<Uuid, Entry>,
    bytes: usize,
    clock: u64,
}

/// The process's cache: documents are keyed by ticket id (unique across
/// tenants) and checked against the tenant-scoped version query.
pub(super) struct DocumentCache {
    max_bytes: AtomicUsize,
    entries: Mutex<Entries>,
}

pub(super) fn global() -> &'static DocumentCache {
    static CACHE: OnceLock<DocumentCache> = OnceLock::new();
    CACHE.get_or_init(|| DocumentCache {
        max_bytes: AtomicUsize::new(DocumentCacheConfig::default().cache_bytes),
        entries: Mutex::new(Entries::default()),
    })
}

/// Sets the cache's bound (a server start does, from `[documents]`).
pub fn configure(config: &DocumentCacheConfig) {
    let cache = global();
    cache.max_bytes.store(config.cache_bytes, Ordering::Relaxed);
    cache.shrink();
}

impl DocumentCache {
    pub(super) fn enabled(&self) -> bool {
        self.max_bytes.load(Ordering::Relaxed) > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the document at `version`, with its incremental bytes.
    pub(super) fn get(&self, ticket_id: Uuid, version: i64) -> Option<(TicketDoc, i64)> {
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_ticket.get_mut(&ticket_id)?;
        if entry.version != version {
            return None;
        }
        entry.used = now;
        let doc = entry.doc.fork_with_actor(truckroll_sync::ActorId::random());
        Some((doc, entry.incremental_bytes))
    }

    /// Remembers `doc` as the stored document at `version` (taking it: the
    /// caller is done with it, so no copy is made). A document with changes
    /// queued for missing dependencies is not what storage holds, so it is
    /// not kept.
    pub(super) fn put(
        &self,
        ticket_id: Uuid,
        version: i64,
        incremental_bytes: i64,
        doc: TicketDoc,
        saved_bytes: usize,
    ) {
        if !self.enabled() || !doc.as_automerge().get_missing_deps(&[]).is_empty() {
            return;
        }
        let size = saved_bytes.saturating_mul(MEMORY_PER_SAVED_BYTE).max(1024);
        if size > self.max_bytes.load(Ordering::Relaxed) / 4 {
            return;
        }
        {
            let mut entries = self.lock();
            entries.clock += 1;
            let used = entries.clock;
            let entry = Entry {
                version,
                incremental_bytes,
                doc,
                size,
                used,
            };
            if let Some(old) = entries.by_ticket.insert(ticket_id, entry) {
                entries.bytes -= old.size;
            }
            entries.bytes += size;
        }
        self.shrink();
    }

    /// Drops least recently used documents until under the bound.
    fn shrink(&self) {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let mut entries = self.lock();
        if entries.bytes <= max {
            return;
        }
        let mut by_age: Vec<(u64, Uuid)> = entries
            .by_ticket
            .iter()
            .map(|(id, e)| (e.used, *id))
            .collect();
        by_age.sort_unstable();
        // Down to three quarters, so a full cache does not sort on every put.
        let target = max / 4 * 3;
        for (_, id) in by_age {
            if entries.bytes <= target {
                break;
            }
            if let Some(old) = entries.by_ticket.remove(&id) {
                entries.bytes -= old.size;
            }
        }
    }
}
