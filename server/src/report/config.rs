//! The `[report]` configuration section: the service report job, the
//! built-in font, the public check.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// How often the report job looks for done tickets, in milliseconds.
    pub poll_ms: u64,
    /// Tickets the job looks at per pass, at most.
    pub batch: u32,
    /// How long after completion the job waits for photos and the signature
    /// still uploading before it reports without them.
    pub pending_media_wait_secs: u64,
    /// A TrueType/OpenType file used instead of the built-in DejaVu Sans
    /// (after the tenant's own font, if it set one); empty: built-in.
    pub font_path: PathBuf,
    /// Put before `/v1/reports/verify/{code}` on the PDF
    /// (`https://api.example.com`); empty prints the path alone.
    pub verify_base_url: String,
    /// Public verification requests per client address per minute.
    pub verify_per_address_per_minute: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            poll_ms: 5_000,
            batch: 20,
            pending_media_wait_secs: 600,
            font_path: PathBuf::new(),
            verify_base_url: String::new(),
            verify_per_address_per_minute: 30,
        }
    }
}

impl ReportConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_ms < 10 {
            return Err(ConfigError::invalid(
                "report.poll_ms",
                "must be at least 10",
            ));
        }
        if self.batch == 0 {
            return Err(ConfigError::invalid("report.batch", "must be at least 1"));
        }
        if self.verify_per_address_per_minute == 0 {
            return Err(ConfigError::invalid(
                "report.verify_per_address_per_minute",
                "must be at least 1",
            ));
        }
        if !self.font_path.as_os_str().is_empty() && !self.font_path.is_file() {
            return Err(ConfigError::invalid(
                "report.font_path",
                format!("{} is not a readable file", self.font_path.display()),
            ));
        }
        Ok(())
    }
}
