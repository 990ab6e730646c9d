//! Truckroll server: configuration, storage, domain rules and the HTTP API.

pub mod config;
pub mod domain;
pub mod store;
