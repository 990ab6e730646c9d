//! Typed configuration: defaults, then an optional TOML file, then `TRUCKROLL_*`
//! environment variables (`TRUCKROLL_AUTH__ACCESS_TOKEN_TTL_SECS=600`).

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

pub use crate::config_error::ConfigError;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the embedded defaults (SQLite file, blobs).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://{data_dir}/truckroll.db`.
    pub database_url: String,
    pub database_max_connections: u32,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Largest accepted request body in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    pub auth: AuthConfig,
    pub dispatch: DispatchConfig,
    pub push: crate::push::PushConfig,
    pub events: EventsConfig,
    pub live: LiveConfig,
    pub web: WebConfig,
    pub leader: crate::leader::LeaderConfig,
    pub sla: crate::sla::SlaConfig,
    pub webhooks: crate::sla::webhooks::WebhookConfig,
    pub media: crate::blob::MediaConfig,
}

/// Which event bus carries state changes between replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventsBackend {
    /// In process: one replica.
    Memory,
    /// PostgreSQL LISTEN/NOTIFY: several replicas on one database.
    Postgres,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub backend: EventsBackend,
    /// Position fixes are gathered this long and sent as a few notifications
    /// (postgres backend).
    pub position_flush_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            backend: EventsBackend::Memory,
            position_flush_ms: 50,
        }
    }
}

/// The live map stream, `GET /v1/live`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// Changes are sent to each viewer at most this often, newest per record.
    pub flush_ms: u64,
    /// A ping frame and a `heartbeat` message this often.
    pub heartbeat_ms: u64,
    /// A viewer that sends nothing (not even a pong) this long is dropped.
    pub idle_timeout_ms: u64,
    /// A viewer that does not take a message within this long is dropped.
    pub send_timeout_ms: u64,
    /// At most this many open tickets in a snapshot.
    pub max_snapshot_tickets: usize,
    /// Changes kept per watched tenant so that a reconnecting viewer gets
    /// only what it missed (`GET /v1/live?since=`); further behind, it gets
    /// a snapshot.
    pub resume_changes: usize,
    /// A tenant's changes are kept this long after its last viewer left.
    pub resume_grace_ms: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            flush_ms: 100,
            heartbeat_ms: 15_000,
            idle_timeout_ms: 45_000,
            send_timeout_ms: 10_000,
            max_snapshot_tickets: 5_000,
            resume_changes: 50_000,
            resume_grace_ms: 120_000,
        }
    }
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    /// Average road speed used to turn distance into travel minutes.
    pub average_speed_kmh: f64,
    /// Score weight per minute of travel (lower scores rank first).
    pub weight_travel_minute: f64,
    /// Score weight per open assignment the technician already has.
    pub weight_open_job: f64,
    /// Score bonus per skill level above the required one.
    pub weight_extra_skill_level: f64,
    /// Pings stamped further than this in the future are refused.
    pub ping_max_future_secs: u64,
    /// Ping trail kept this many days.
    pub location_retention_days: u32,
    /// A check-in is verified when the phone's distance to the site, less
    /// its reported accuracy, is at most this many metres.
    pub checkin_radius_m: f64,
    /// How long a technician has to accept an offer.
    pub offer_window_secs: u64,
    /// How often expired offers are looked for.
    pub offer_poll_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            average_speed_kmh: 40.0,
            weight_travel_minute: 1.0,
            weight_open_job: 15.0,
            weight_extra_skill_level: 5.0,
            ping_max_future_secs: 300,
            location_retention_days: 30,
            checkin_radius_m: 150.0,
            offer_window_secs: 120,
            offer_poll_ms: 1000,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC secret for access tokens. Empty: a random one per process start
    /// (tokens then do not survive a restart and replicas cannot share them).
    pub token_secret: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Login attempts allowed per minute for one account (tenant + email).
    pub login_per_account_per_minute: u32,
    /// Login attempts allowed per minute from one client address.
    pub login_per_address_per_minute: u32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("log_json", &self.log_json)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("auth", &self.auth)
            .field("dispatch", &self.dispatch)
            .field("push", &self.push)
            .field("events", &self.events)
            .field("live", &self.live)
            .field("web", &self.web)
            .field("leader", &self.leader)
            .field("sla", &self.sla)
            .field("webhooks", &self.webhooks)
            .field("media", &self.media)
            .finish()
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
            .finish()
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            database_max_connections: 10,
            log_json: false,
            max_body_bytes: 1024 * 1024,
            auth: AuthConfig::default(),
            dispatch: DispatchConfig::default(),
            push: crate::push::PushConfig::default(),
            events: EventsConfig::default(),
            live: LiveConfig::default(),
            web: WebConfig::default(),
            leader: crate::leader::LeaderConfig::default(),
            sla: crate::sla::SlaConfig::default(),
            webhooks: crate::sla::webhooks::WebhookConfig::default(),
            media: crate::blob::MediaConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_secret: String::new(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            login_per_account_per_minute: 10,
            login_per_address_per_minute: 60,
        }
    }
}

/// Longest access token life the design allows (15 minutes).
const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 900;

impl Config {
    /// Defaults, then `file` (when given), then `TRUCKROLL_*` variables; validated.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("TRUCKROLL_").split("__"))
            .extract()
            .map_err(Box::new)?;
        config.validated()
    }

    pub fn validated(mut self) -> Result<Self, ConfigError> {
        if self.database_url.trim().is_empty() {
            self.database_url = format!("sqlite://{}/truckroll.db", self.data_dir.display());
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                message: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        if self.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        let auth = &self.auth;
        if auth.access_token_ttl_secs == 0 || auth.access_token_ttl_secs > MAX_ACCESS_TOKEN_TTL_SECS
        {
            return Err(invalid(
                "auth.access_token_ttl_secs",
                "must be between 1 and 900",
            ));
        }
        if auth.refresh_token_ttl_secs < auth.access_token_ttl_secs {
            return Err(invalid(
                "auth.refresh_token_ttl_secs",
                "must not be shorter than auth.access_token_ttl_secs",
            ));
        }
        if !auth.token_secret.is_empty() && auth.token_secret.len() < 32 {
            return Err(invalid(
                "auth.token_secret",
                "must be at least 32 characters",
            ));
        }
        if auth.login_per_account_per_minute == 0 {
            return Err(invalid(
                "auth.login_per_account_per_minute",
                "must be at least 1",
            ));
        }
        if auth.login_per_address_per_minute == 0 {
            return Err(invalid(
                "auth.login_per_address_per_minute",
                "must be at least 1",
            ));
        }
        let dispatch = &self.dispatch;
        if !dispatch.average_speed_kmh.is_finite() || dispatch.average_speed_kmh <= 0.0 {
            return Err(invalid(
                "dispatch.average_speed_kmh",
                "must be a positive number",
            ));
        }
        for (key, weight) in [
            (
                "dispatch.weight_travel_minute",
                dispatch.weight_travel_minute,
            ),
            ("dispatch.weight_open_job", dispatch.weight_open_job),
            (
                "dispatch.weight_extra_skill_level",
                dispatch.weight_extra_skill_level,
            ),
        ] {
            if !weight.is_finite() || weight < 0.0 {
                return Err(invalid(key, "must be a finite number, at least 0"));
            }
        }
        if !(10..=86_400).contains(&dispatch.offer_window_secs) {
            return Err(invalid(
                "dispatch.offer_window_secs",
                "must be between 10 and 86400",
            ));
        }
        if !(50..=60_000).contains(&dispatch.offer_poll_ms) {
            return Err(invalid(
                "dispatch.offer_poll_ms",
                "must be between 50 and 60000",
            ));
        }
        if dispatch.location_retention_days == 0 {
            return Err(invalid(
                "dispatch.location_retention_days",
                "must be at least 1",
            ));
        }
        if !dispatch.checkin_radius_m.is_finite() || dispatch.checkin_radius_m < 0.0 {
            return Err(invalid(
                "dispatch.checkin_radius_m",
                "must be a finite number of metres, at least 0",
            ));
        }
        self.push.validate()?;
        if self.events.backend == EventsBackend::Postgres && self.is_sqlite() {
            return Err(invalid(
                "events.backend",
                "\"postgres\" needs a PostgreSQL database_url",
            ));
        }
        if !(10..=10_000).contains(&self.events.position_flush_ms) {
            return Err(invalid(
                "events.position_flush_ms",
                "must be between 10 and 10000",
            ));
        }
        let live = &self.live;
        if !(10..=10_000).contains(&live.flush_ms) {
            return Err(invalid("live.flush_ms", "must be between 10 and 10000"));
        }
        if live.heartbeat_ms < 10 || live.idle_timeout_ms <= live.heartbeat_ms {
            return Err(invalid(
                "live.idle_timeout_ms",
                "must be longer than live.heartbeat_ms (at least 10)",
            ));
        }
        if live.send_timeout_ms < 10 {
            return Err(invalid("live.send_timeout_ms", "must be at least 10"));
        }
        if live.resume_changes > 10_000_000 {
            return Err(invalid("live.resume_changes", "must be at most 10000000"));
        }
        self.leader.validate()?;
        self.sla.validate()?;
        self.webhooks.validate()?;
        self.media.validate()?;
        Ok(self)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup() {
        let config = Config::default().validated().expect("defaults are valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://./data/truckroll.db");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let mut config = Config::default();
        config.auth.access_token_ttl_secs = 3600;
        let error = config.validated().expect_err("too long a token life");
        assert!(
            error.to_string().contains("auth.access_token_ttl_secs"),
            "{error}"
        );

        let config = Config {
            database_url: "mysql://x".into(),
            ..Config::default()
        };
        let error = config.validated().expect_err("unsupported database");
        assert!(error.to_string().contains("database_url"), "{error}");
    }

    #[test]
    fn unknown_and_mistyped_keys_in_a_file_are_named() {
        let dir = std::env::temp_dir().join(format!("truckroll-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_body_bytes = \"lots\"\n",
        )
        .expect("write");
        let error = Config::load(Some(&path)).expect_err("wrong type");
        assert!(error.to_string().contains("max_body_bytes"), "{error}");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").expect("write");
        let error = Config::load(Some(&path)).expect_err("unknown key");
        assert!(error.to_string().contains("lisen"), "{error}");
    }

    #[test]
    fn redacts_database_password() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}
