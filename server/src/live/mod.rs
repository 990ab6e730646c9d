//! The live dispatch map: its `[live]` configuration section.

mod config;

pub use config::LiveConfig;
