//! Parsed rules per tenant, kept per replica. Every rule write moves the
//! tenant's rules version in the database (a trigger, whoever writes), so a
//! use reads that one number and takes the cached rules only when they were
//! loaded at the same version: a rule saved on another replica is seen on
//! the next event here, with no message between replicas and no TTL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

use crate::{
    domain::automation::Rule,
    store::{Store, StoreError},
};

/// The rules of one tenant as loaded at one version.
#[derive(Debug, Clone)]
struct Entry {
    version: i64,
    rules: Arc<Vec<Rule>>,
}

/// Per-replica cache of each tenant's parsed rules, checked against the
/// tenant's rules version on every use.
#[derive(Debug, Default)]
pub struct RulesCache {
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl RulesCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tenant's rules in evaluation order, current as of this call.
    pub async fn rules(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
    ) -> Result<Arc<Vec<Rule>>, StoreError> {
        // The version first: rules read after it are at least that new, so
        // an entry is never older than the version it is filed under.
        let version = store.rules_version(tenant_id).await?;
        if let Some(entry) = self.entry(tenant_id)
            && entry.version == version
        {
            metrics::counter!("truckroll_rules_cache_total", "outcome" => "hit").increment(1);
            return Ok(entry.rules);
        }
        metrics::counter!("truckroll_rules_cache_total", "outcome" => "miss").increment(1);
        let rules = Arc::new(store.list_rules(tenant_id).await?);
        if let Ok(mut entries) = self.entries.lock() {
            let newer = entries.get(&tenant_id).is_some_and(|e| e.version > version);
            if !newer {
                entries.insert(
                    tenant_id,
                    Entry {
                        version,
                        rules: rules.clone(),
                    },
                );
            }
        }
        Ok(rules)
    }

    fn entry(&self, tenant_id: Uuid) -> Option<Entry> {
        self.entries.lock().ok()?.get(&tenant_id).cloned()
    }
}
