//! Who a token's user is now: their role and whether they are active, read
//! from the store on each request and kept for a moment, so a demotion or a
//! deactivation takes effect on the next request instead of when the access
//! token expires. A change made through this replica drops the entry at
//! once ([`PrincipalCache::invalidate`]); other replicas see it within the
//! cache's lifetime (`[auth] principal_cache_ms`).
//!
//! A connection that outlives its request (a WebSocket) follows its user
//! ([`PrincipalCache::follow`]): it is woken by a change made through this
//! replica at once, and otherwise once per cache lifetime, and re-reads the
//! principal then, so a demotion or a deactivation reaches open sockets too.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::{
    domain::people::Role,
    store::{Store, StoreError, StoreResult},
};

/// The user as the store has them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub active: bool,
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct PrincipalCache {
    ttl: Duration,
    entries: Mutex<HashMap<(Uuid, Uuid), (Principal, Instant)>>,
    /// (tenant, user) of every invalidation, for open connections.
    changes: broadcast::Sender<(Uuid, Uuid)>,
}

/// A follower re-reads at least this often, even with the cache off.
const MIN_RECHECK: Duration = Duration::from_secs(1);

impl PrincipalCache {
    /// `ttl` zero: every request reads the store.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
            changes: broadcast::channel(256).0,
        }
    }

    /// The user `user_id` of `tenant_id` now; `None` when there is no such user.
    pub async fn get(
        &self,
        store: &dyn Store,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<Principal>> {
        let key = (tenant_id, user_id);
        if let Some(principal) = self.cached(key) {
            return Ok(Some(principal));
        }
        let principal = match store.get_user(tenant_id, user_id).await {
            Ok(user) => Principal {
                role: user.role,
                active: user.active,
            },
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.lock()
        {
            if entries.len() > SWEEP_AT {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
            }
            entries.insert(key, (principal, Instant::now()));
        }
        Ok(Some(principal))
    }

    fn cached(&self, key: (Uuid, Uuid)) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let (principal, at) = entries.get(&key)?;
        (at.elapsed() < self.ttl).then_some(*principal)
    }

    /// Forgets the user after a change of role, active flag or password.
    pub fn invalidate(&self, tenant_id: Uuid, user_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(tenant_id, user_id));
        }
        // No follower listening is not an error.
        let _ = self.changes.send((tenant_id, user_id));
    }

    /// Follows one user for a connection that stays open.
    pub fn follow(&self, tenant_id: Uuid, user_id: Uuid) -> PrincipalFollower {
        let period = self.ttl.max(MIN_RECHECK);
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        PrincipalFollower {
            key: (tenant_id, user_id),
            changes: self.changes.subscribe(),
            recheck,
        }
    }
}

/// Wakes an open connection when its user may have changed.
#[derive(Debug)]
pub struct PrincipalFollower {
    key: (Uuid, Uuid),
    changes: broadcast::Receiver<(Uuid, Uuid)>,
    recheck: tokio::time::Interval,
}

impl PrincipalFollower {
    /// Resolves when the user was changed through this replica, or when a
    /// cache lifetime passed (a change made on another replica). Cancel
    /// safe: it may lose a `select!` and be called again.
    pub async fn changed(&mut self) {
        loop {
            tokio::select! {
                _ = self.recheck.tick() => return,
                received = self.changes.recv() => match received {
                    Ok(key) if key == self.key => return,
                    Ok(_) => {}
                    // Missed invalidations may have named this user.
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => {
                        self.recheck.tick().await;
                        return;
                    }
                },
            }
        }
    }
}
