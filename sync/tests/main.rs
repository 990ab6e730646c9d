//! `truckroll-sync`'s integration tests, one binary: the ticket document
//! (`ticket::…`: the document, its schema, the status fold and state
//! machine, field edits) and the sync protocol (`protocol::…`: the envelope
//! and the seeded simulation). Run one with e.g.
//! `cargo test -p truckroll-sync --test main ticket::fold`.

mod common;
mod protocol;
mod ticket;
