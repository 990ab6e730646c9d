//! Attempts per key and per client address (GCRA via `governor`), and the
//! login guard: attempts per (account, address) pair and per address, with
//! an exponentially growing wait after repeated failures of one pair — so a
//! stranger guessing passwords slows only themselves, never the account's
//! owner signing in from elsewhere.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

pub struct LoginLimiter {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter").finish_non_exhaustive()
    }
}

/// Keys kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

impl LoginLimiter {
    pub fn new(per_account_per_minute: NonZeroU32, per_address_per_minute: NonZeroU32) -> Self {
        Self {
            per_account: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_account_per_minute)),
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_address_per_minute)),
        }
    }

    /// `Err(seconds to wait)` when either the account or the address is over its quota.
    pub fn check(&self, tenant: &str, email: &str, address: IpAddr) -> Result<(), u64> {
        if self.per_account.len() > SWEEP_AT {
            self.per_account.retain_recent();
        }
        if self.per_address.len() > SWEEP_AT {
            self.per_address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(clock.now()).as_secs().max(1)
        };
        self.per_address.check_key(&address).map_err(wait)?;
        let account = format!("{tenant}\u{0}{}", email.trim().to_lowercase());
        self.per_account.check_key(&account).map_err(wait)?;
        Ok(())
    }
}

/// How failed logins of one (account, address) pair slow that pair down.
#[derive(Debug, Clone, Copy)]
pub struct FailureDelay {
    /// Failures allowed before the first wait.
    pub free: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl FailureDelay {
    /// The wait after `failures` consecutive failures.
    fn wait(&self, failures: u32) -> Duration {
        if failures < self.free.max(1) {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free.max(1)).min(30);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }
}

type Pair = (String, IpAddr);

/// Sign-in attempts: per address, per (account, address) — both per
/// replica (GCRA in memory) — and the failure delay, whose counts live in
/// the store (`login_failures`) so every replica sharing a database makes a
/// pair wait alike.
pub struct LoginGuard {
    per_pair: DefaultKeyedRateLimiter<Pair>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    delay: FailureDelay,
    store: Arc<dyn Store>,
    /// Mixed into the stored pair hash so the table names no account.
    salt: Vec<u8>,
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard")
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

fn pair(tenant: &str, email: &str, address: IpAddr) -> Pair {
    (
        format!("{tenant}\u{0}{}", email.trim().to_lowercase()),
        address,
    )
}

impl LoginGuard {
    pub fn new(
        per_pair_per_minute: NonZeroU32,
        per_address_per_minute: NonZeroU32,
        delay: FailureDelay,
        store: Arc<dyn Store>,
        salt: &[u8],
    ) -> Self {
        Self {
            per_pair: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_pair_per_minute)),
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_address_per_minute)),
            delay,
            store,
            salt: salt.to_vec(),
        }
    }

    fn pair_hash(&self, pair: &Pair) -> String {
        let mut hasher = Sha256::new();
        hasher.update(&self.salt);
        hasher.update([0]);
        hasher.update(pair.0.as_bytes());
        hasher.update([0]);
        hasher.update(pair.1.to_string().as_bytes());
        hex::encode(hasher.finalize())
    }

    /// `Ok(Some(seconds to wait))` when the address or the pair is over its
    /// quota, or the pair is still waiting after its failures.
    pub async fn check(
        &self,
        tenant: &str,
        email: &str,
        address: IpAddr,
    ) -> Result<Option<u64>, StoreError> {
        let key = pair(tenant, email, address);
        if let Some((count, last)) = self.store.login_failures(&self.pair_hash(&key)).await? {
            let wait = self.delay.wait(count);
            let waited = (Utc::now() - last).to_std().unwrap_or(Duration::ZERO);
            if waited < wait {
                return Ok(Some((wait - waited).as_secs().max(1)));
            }
        }
        if self.per_pair.len() > SWEEP_AT {
            self.per_pair.retain_recent();
        }
        if self.per_address.len() > SWEEP_AT {
            self.per_address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(clock.now()).as_secs().max(1)
        };
        if let Err(not_until) = self.per_address.check_key(&address) {
            return Ok(Some(wait(not_until)));
        }
        if let Err(not_until) = self.per_pair.check_key(&key) {
            return Ok(Some(wait(not_until)));
        }
        Ok(None)
    }

    pub async fn failed(
        &self,
        tenant: &str,
        email: &str,
        address: IpAddr,
    ) -> Result<(), StoreError> {
        let key = self.pair_hash(&pair(tenant, email, address));
        self.store.record_login_failure(&key, Utc::now()).await
    }

    pub async fn succeeded(
        &self,
        tenant: &str,
        email: &str,
        address: IpAddr,
    ) -> Result<(), StoreError> {
        let key = self.pair_hash(&pair(tenant, email, address));
        self.store.clear_login_failures(&key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn limits_each_account_and_each_address() {
        let limiter = LoginLimiter::new(limit(3), limit(4));
        let here: IpAddr = [127, 0, 0, 1].into();
        let there: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.check("acme", "a@x.io", here).is_ok());
        }
        assert!(
            limiter.check("acme", "A@x.io", there).is_err(),
            "same account, other address"
        );
        assert!(limiter.check("acme", "b@x.io", here).is_ok());
        assert!(
            limiter.check("acme", "c@x.io", here).is_err(),
            "address used up (4 attempts)"
        );
    }

    #[test]
    fn the_wait_doubles_up_to_the_cap() {
        let delay = FailureDelay {
            free: 2,
            base: Duration::from_secs(60),
            cap: Duration::from_secs(600),
        };
        assert_eq!(delay.wait(1), Duration::ZERO);
        assert_eq!(delay.wait(2), Duration::from_secs(60));
        assert_eq!(delay.wait(4), Duration::from_secs(240));
        assert_eq!(delay.wait(40), Duration::from_secs(600));
    }
}
