//! Truckroll server: configuration, storage, domain rules and the HTTP API.
//!
//! The layers and what each module owns are described in `ARCHITECTURE.md`
//! at the repository root.

pub mod app;
pub mod auth;
pub mod automation;
pub mod blob;
pub mod cli;
pub mod config;
pub mod config_error;
pub mod demo;
pub mod device_sync;
pub mod dispatch;
pub mod domain;
pub mod egress;
pub mod events;
pub mod governance;
pub mod http;
pub mod intake;
pub mod knowledge;
pub mod leader;
pub mod live;
pub mod media;
pub mod notify;
pub mod outbox;
pub mod packet;
pub mod parts;
pub mod progress;
pub mod push;
pub mod report;
pub mod schedule;
pub mod search;
pub mod sla;
pub mod store;
pub mod timeline;
pub mod web;
pub mod work;

pub use app::{BackgroundTasks, ServeError, build_state};
pub use http::{launch_with_listener, launch_with_state, router};
