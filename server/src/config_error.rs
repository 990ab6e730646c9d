//! The error every configuration section reports. A leaf: it imports nothing
//! from the crate, so each module can validate its own section without
//! reaching up to `config.rs`, which gathers the sections.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ConfigError {
    /// The value of `key` (dotted, as in the file: `auth.token_secret`) is
    /// not accepted, for the reason `message`.
    pub fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            message: message.into(),
        }
    }
}
