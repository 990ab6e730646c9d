//! Truckroll's end-to-end tests: one binary, so the server is linked once.
//!
//! One module per story; run one with a filter, e.g.
//! `cargo test -p truckroll-tests --test main store::tickets` or
//! `cargo test -p truckroll-tests --test main ::postgres` (one backend).
//! Tests that run on both databases are named `<test>::sqlite` and
//! `<test>::postgres` ([`truckroll_tests::backend_tests!`]); shared helpers
//! and fixtures live in the `truckroll-tests` library (`tests/src`).

#[macro_use]
extern crate truckroll_tests;

/// The HTTP API by resource, a server on a loopback port over a fresh database.
mod api;
/// Governance and hardening: the outside probe's findings (issue 19).
mod govern;
/// Email and web intake: the inbound endpoint, IMAP, the public form.
mod intake;
/// The live map, the event bus between replicas, the demo.
mod live;
/// Push notifications (FCM) and webhooks.
mod notify;
/// Parts and van stock (issue 23): catalogue, ledger, consumption, dispatch, priced jobs.
mod parts;
/// Work record corrections and the signed service report (PDF).
mod report;
/// The phone SDK against a real server: sync, media, convergence, Python.
mod sdk;
/// SLA timers and the SQL report.
mod sla;
/// The `Store` contract on both backends, one file per sub-trait.
mod store;
/// The pages, driven in Chromium.
mod web;
