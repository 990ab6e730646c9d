//! Leases for singleton work: whichever process holds the lease named after a
//! job runs it. PostgreSQL: a session-level advisory lock on a dedicated
//! connection, held for as long as the connection lives. SQLite: the database
//! is one process's file, so that process always holds every lease.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::StoreResult;

#[async_trait]
pub trait LeaderStore {
    /// Tries once, without waiting, to take the lease for `job`. `None` when
    /// another process holds it.
    async fn try_acquire_lease(&self, job: &str) -> StoreResult<Option<Box<dyn HeldLease>>>;
}

/// A lease this process holds. Dropping it gives it up (on PostgreSQL by
/// closing the connection that holds the lock).
#[async_trait]
pub trait HeldLease: Send + Sync + std::fmt::Debug {
    /// Whether the lease is still ours: on PostgreSQL, whether the session
    /// that holds the lock still answers (the lock dies with the session).
    async fn still_held(&mut self) -> bool;
    /// Gives the lease up now, so another process may take it at once.
    async fn release(self: Box<Self>);
}

/// The 64-bit advisory lock key of a job: the first 8 bytes of the SHA-256 of
/// a namespaced name, so unrelated users of advisory locks in the same
/// database are unlikely to collide with ours.
pub fn advisory_key(job: &str) -> i64 {
    let digest = Sha256::digest(format!("truckroll.leader.{job}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The lease a single SQLite process always holds.
#[derive(Debug)]
pub struct ProcessLease;

#[async_trait]
impl HeldLease for ProcessLease {
    async fn still_held(&mut self) -> bool {
        true
    }

    async fn release(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct_per_job() {
        assert_eq!(advisory_key("sla"), advisory_key("sla"));
        assert_ne!(advisory_key("sla"), advisory_key("offers"));
    }
}
