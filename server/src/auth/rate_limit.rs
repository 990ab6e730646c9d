//! Login attempts per account and per client address (GCRA via `governor`).

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

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
}
