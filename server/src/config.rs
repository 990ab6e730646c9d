//! Typed configuration: defaults, then an optional TOML file, then `TRUCKROLL_*`
//! environment variables (`TRUCKROLL_AUTH__ACCESS_TOKEN_TTL_SECS=600`).
//!
//! Each section is owned, with its defaults and its `validate()`, by the
//! module it configures (`[auth]` by [`crate::auth`], `[events]` by
//! [`crate::events`], …); this file gathers them under the top-level keys
//! and checks what no single section can.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

pub use crate::config_error::ConfigError;
use crate::{
    auth::AuthConfig,
    blob::MediaConfig,
    dispatch::DispatchConfig,
    egress::EgressConfig,
    events::{EventsBackend, EventsConfig},
    governance::GovernanceConfig,
    intake::IntakeConfig,
    knowledge::KnowledgeConfig,
    leader::LeaderConfig,
    live::LiveConfig,
    notify::{NotifyConfig, SmsConfig, SmtpConfig},
    push::PushConfig,
    report::ReportConfig,
    schedule::ScheduleConfig,
    sla::{SlaConfig, webhooks::WebhookConfig},
    web::WebConfig,
};

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
    pub push: PushConfig,
    pub events: EventsConfig,
    pub live: LiveConfig,
    pub web: WebConfig,
    pub leader: LeaderConfig,
    pub sla: SlaConfig,
    pub webhooks: WebhookConfig,
    pub media: MediaConfig,
    pub intake: IntakeConfig,
    pub notify: NotifyConfig,
    pub smtp: SmtpConfig,
    pub sms: SmsConfig,
    pub report: ReportConfig,
    pub egress: EgressConfig,
    pub governance: GovernanceConfig,
    /// Location pings: group commit (issue 18).
    pub pings: crate::dispatch::ingest::IngestConfig,
    /// Decoded ticket documents kept in memory (issue 18).
    pub documents: crate::device_sync::cache::DocumentCacheConfig,
    pub schedule: ScheduleConfig,
    pub knowledge: KnowledgeConfig,
    /// Trigger rules: the time-based rules' sweep (issue 21).
    pub automation: crate::automation::AutomationConfig,
    /// Housekeeping windows (issue 19).
    pub retention: crate::governance::retention::RetentionConfig,
    /// Proxies whose forwarding headers name the client (issue 19).
    pub proxy: crate::auth::client_address::ProxyConfig,
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
            .field("intake", &self.intake)
            .field("notify", &self.notify)
            .field("smtp", &self.smtp)
            .field("sms", &self.sms)
            .field("report", &self.report)
            .field("egress", &self.egress)
            .field("governance", &self.governance)
            .field("pings", &self.pings)
            .field("documents", &self.documents)
            .field("schedule", &self.schedule)
            .field("knowledge", &self.knowledge)
            .field("automation", &self.automation)
            .field("retention", &self.retention)
            .field("proxy", &self.proxy)
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
            push: PushConfig::default(),
            events: EventsConfig::default(),
            live: LiveConfig::default(),
            web: WebConfig::default(),
            leader: LeaderConfig::default(),
            sla: SlaConfig::default(),
            webhooks: WebhookConfig::default(),
            media: MediaConfig::default(),
            intake: IntakeConfig::default(),
            notify: NotifyConfig::default(),
            smtp: SmtpConfig::default(),
            sms: SmsConfig::default(),
            report: ReportConfig::default(),
            egress: EgressConfig::default(),
            governance: GovernanceConfig::default(),
            pings: Default::default(),
            documents: Default::default(),
            schedule: ScheduleConfig::default(),
            knowledge: KnowledgeConfig::default(),
            automation: Default::default(),
            retention: Default::default(),
            proxy: Default::default(),
        }
    }
}

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

    /// Fills in the derived `database_url`, then checks the top-level keys,
    /// every section (in the order of the file) and the checks that span
    /// sections; the first problem found is the error.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        if self.database_url.trim().is_empty() {
            self.database_url = format!("sqlite://{}/truckroll.db", self.data_dir.display());
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::invalid(
                "database_max_connections",
                "must be at least 1",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                "must be at least 1024",
            ));
        }
        self.auth.validate()?;
        self.dispatch.validate()?;
        self.push.validate()?;
        // Spans sections: the events bus and the top-level `database_url`
        // (which `[events]` does not hold) must name the same kind of
        // database, since the postgres bus listens on that database.
        if self.events.backend == EventsBackend::Postgres && self.is_sqlite() {
            return Err(ConfigError::invalid(
                "events.backend",
                "\"postgres\" needs a PostgreSQL database_url",
            ));
        }
        self.events.validate()?;
        self.live.validate()?;
        self.web.validate()?;
        self.leader.validate()?;
        self.sla.validate()?;
        self.webhooks.validate()?;
        self.media.validate()?;
        self.intake.validate()?;
        self.notify.validate()?;
        self.smtp.validate()?;
        self.sms.validate()?;
        self.report.validate()?;
        self.egress.validate()?;
        self.governance.validate()?;
        self.pings.validate()?;
        self.documents.validate()?;
        self.schedule.validate()?;
        self.knowledge.validate()?;
        self.automation.validate()?;
        self.retention.validate()?;
        self.proxy.validate()?;
        Ok(self)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
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
    fn every_section_is_checked_by_its_own_keys() {
        type Spoil = fn(&mut Config);
        let cases: [(Spoil, &str); 10] = [
            (
                |c| c.auth.login_per_address_per_minute = 0,
                "auth.login_per_address_per_minute",
            ),
            (|c| c.dispatch.offer_poll_ms = 1, "dispatch.offer_poll_ms"),
            (|c| c.push.max_attempts = 0, "push.max_attempts"),
            (
                |c| c.events.position_flush_ms = 1,
                "events.position_flush_ms",
            ),
            (|c| c.live.flush_ms = 1, "live.flush_ms"),
            (|c| c.leader.retry_ms = 1, "leader.retry_ms"),
            (|c| c.sla.poll_ms = 1, "sla.poll_ms"),
            (|c| c.webhooks.timeout_ms = 1, "webhooks.timeout_ms"),
            (|c| c.media.thumbnail_px = 1, "media.thumbnail_px"),
            (|c| c.max_body_bytes = 1, "max_body_bytes"),
        ];
        for (spoil, expected) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            match config.validated() {
                Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_postgres_bus_needs_a_postgres_database() {
        let mut config = Config::default();
        config.events.backend = EventsBackend::Postgres;
        let error = config
            .clone()
            .validated()
            .expect_err("postgres bus on sqlite");
        assert_eq!(
            error.to_string(),
            "configuration key `events.backend`: \"postgres\" needs a PostgreSQL database_url"
        );
        config.database_url = "postgres://u:p@localhost/truckroll".into();
        config.validated().expect("postgres bus on postgres");
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
