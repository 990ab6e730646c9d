//! The public check's rate limit: requests per client address (GCRA via
//! `governor`, like the login limiter).

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};

pub struct VerifyLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for VerifyLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyLimiter").finish_non_exhaustive()
    }
}

/// Addresses kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

impl VerifyLimiter {
    pub fn new(per_address_per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_address_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            per_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// `Err(seconds to wait)` when `address` is over its quota.
    pub fn check(&self, address: IpAddr) -> Result<(), u64> {
        if self.per_address.len() > SWEEP_AT {
            self.per_address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        self.per_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(clock.now()).as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address() {
        let limiter = VerifyLimiter::new(2);
        let here: IpAddr = [127, 0, 0, 1].into();
        let there: IpAddr = [127, 0, 0, 2].into();
        assert!(limiter.check(here).is_ok());
        assert!(limiter.check(here).is_ok());
        assert!(limiter.check(here).is_err());
        assert!(limiter.check(there).is_ok());
    }
}
