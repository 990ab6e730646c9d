//! The live dispatch map: what this replica's map viewers see, kept current
//! from the event bus.
//!
//! - [`hub`]: the connected viewers, their pending changes coalesced per
//!   record, and the ring of recent changes a reconnecting viewer resumes
//!   from.
//! - [`directory`]: technician names and site positions, cached per replica.
//! - [`snapshots`]: one snapshot read and rendered for all viewers of a view.
//! - [`feed`]: a viewer's snapshot, and [`feed::follow`], which turns every
//!   bus event into the hub's changes.
//! - its `[live]` configuration section, [`LiveConfig`].
//!
//! The WebSocket that carries them to a browser is `GET /v1/live` in the
//! HTTP layer; it only upgrades, authenticates and runs the send loop.

mod config;
pub mod directory;
pub mod feed;
pub mod hub;
pub mod snapshots;

pub use config::LiveConfig;
pub use directory::LiveDirectory;
pub use hub::LiveHub;
