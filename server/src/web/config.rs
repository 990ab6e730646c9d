//! The `[web]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// The pages `/` and `/dispatch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Map tile URL template (`{z}/{x}/{y}`); empty: no tiles, the map
    /// still shows markers on a plain background (offline use).
    pub tile_url: String,
    /// Attribution shown for the tiles.
    pub tile_attribution: String,
}

impl WebConfig {
    /// Every value is accepted: any tile URL (or none) and any attribution.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
