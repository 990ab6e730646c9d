//! The `[auth]` configuration section.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// Longest access token life the design allows (15 minutes).
const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 900;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC secret for access tokens. Empty: a random one per process start
    /// (tokens then do not survive a restart and replicas cannot share them).
    pub token_secret: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Login attempts allowed per minute for one account (tenant + email)
    /// from one client address. Counted per pair, so attempts from
    /// elsewhere never lock the account's owner out.
    pub login_per_account_per_minute: u32,
    /// Login attempts allowed per minute from one client address.
    pub login_per_address_per_minute: u32,
    /// Failed logins of one account from one address before each further
    /// attempt from there must wait.
    pub login_failures_before_delay: u32,
    /// The first wait; it doubles with each further failure.
    pub login_delay_base_ms: u64,
    /// The longest wait.
    pub login_delay_cap_secs: u64,
    /// How long a user's role and active flag are cached between store
    /// reads (0: read on every request). A change through this replica
    /// clears the entry at once; this bounds how long other replicas lag.
    pub principal_cache_ms: u64,
    /// Token refreshes allowed per minute from one client address (per
    /// replica: refresh tokens are single-use random secrets, the limit
    /// only bounds the work one address causes).
    pub refresh_per_address_per_minute: u32,
    /// Reads of the public pages' data (the intake form's definition,
    /// knowledge suggestions and articles) per minute from one client
    /// address (per replica).
    pub public_reads_per_address_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_secret: String::new(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            login_per_account_per_minute: 10,
            login_per_address_per_minute: 60,
            login_failures_before_delay: 5,
            login_delay_base_ms: 1000,
            login_delay_cap_secs: 900,
            principal_cache_ms: 2000,
            refresh_per_address_per_minute: 60,
            public_reads_per_address_per_minute: 120,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("token_secret", &"<redacted>")
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field(
                "login_per_account_per_minute",
                &self.login_per_account_per_minute,
            )
            .field(
                "login_per_address_per_minute",
                &self.login_per_address_per_minute,
            )
            .field(
                "login_failures_before_delay",
                &self.login_failures_before_delay,
            )
            .field("login_delay_base_ms", &self.login_delay_base_ms)
            .field("login_delay_cap_secs", &self.login_delay_cap_secs)
            .field("principal_cache_ms", &self.principal_cache_ms)
            .field(
                "refresh_per_address_per_minute",
                &self.refresh_per_address_per_minute,
            )
            .field(
                "public_reads_per_address_per_minute",
                &self.public_reads_per_address_per_minute,
            )
            .finish()
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > MAX_ACCESS_TOKEN_TTL_SECS
        {
            return Err(ConfigError::invalid(
                "auth.access_token_ttl_secs",
                "must be between 1 and 900",
            ));
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(ConfigError::invalid(
                "auth.refresh_token_ttl_secs",
                "must not be shorter than auth.access_token_ttl_secs",
            ));
        }
        if !self.token_secret.is_empty() && self.token_secret.len() < 32 {
            return Err(ConfigError::invalid(
                "auth.token_secret",
                "must be at least 32 characters",
            ));
        }
        if self.login_per_account_per_minute == 0 {
            return Err(ConfigError::invalid(
                "auth.login_per_account_per_minute",
                "must be at least 1",
            ));
        }
        if self.login_per_address_per_minute == 0 {
            return Err(ConfigError::invalid(
                "auth.login_per_address_per_minute",
                "must be at least 1",
            ));
        }
        if self.login_delay_base_ms == 0
            || self.login_delay_cap_secs.saturating_mul(1000) < self.login_delay_base_ms
        {
            return Err(ConfigError::invalid(
                "auth.login_delay_base_ms",
                "must be positive and at most auth.login_delay_cap_secs",
            ));
        }
        if self.refresh_per_address_per_minute == 0 || self.public_reads_per_address_per_minute == 0
        {
            return Err(ConfigError::invalid(
                "auth.refresh_per_address_per_minute",
                "must be at least 1",
            ));
        }
        if self.principal_cache_ms > 60_000 {
            return Err(ConfigError::invalid(
                "auth.principal_cache_ms",
                "must be at most 60000 (a minute)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_secret_is_refused_by_its_key() {
        assert!(AuthConfig::default().validate().is_ok());
        let config = AuthConfig {
            token_secret: "short".into(),
            ..AuthConfig::default()
        };
        let error = config.validate().expect_err("too short a secret");
        assert_eq!(
            error.to_string(),
            "configuration key `auth.token_secret`: must be at least 32 characters"
        );
    }
}
