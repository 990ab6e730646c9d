//! Governance and hardening (issue 19): the `[governance]` section — how
//! long idempotency keys live, who may scrape `/metrics`, the sync caps,
//! who may capture a customer's signature — and the keyed audit chain
//! (`audit_key.rs`).

pub mod audit_key;
pub mod backup;
mod config;
pub mod export;
pub mod privacy;
pub mod retention;

pub use config::GovernanceConfig;
