//! The wiring: builds the application state from configuration and runs the
//! background work. Only `http/` (and the crate root, which serves it) sees
//! [`AppState`]; services below take the narrow handles it hands out.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::{
        AuthError,
        rate_limit::{FailureDelay, LoginGuard, LoginLimiter},
        tokens::TokenService,
    },
    blob::BlobStore,
    config::Config,
    dispatch::{
        DispatchHandles, assignment::AssignmentFlow, offers::OfferFlow, service::DispatchService,
    },
    events::{EventBus, memory::MemoryBus},
    leader::Leadership,
    live::{LiveDirectory, LiveHub, hub::ResumeLimits},
    store::Store,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    #[error(transparent)]
    Events(#[from] crate::events::EventsError),
    #[error(transparent)]
    Blob(#[from] crate::blob::BlobError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// Everything a handler may use. Handlers are not generic over the backend.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub tokens: Arc<TokenService>,
    pub login_limiter: Arc<LoginGuard>,
    /// The public report check's requests per client address.
    pub report_verify_limiter: Arc<crate::report::limit::VerifyLimiter>,
    /// Requests to the public progress endpoints, per address and per ticket.
    pub progress_limiter: Arc<LoginLimiter>,
    pub dispatch: Arc<DispatchService>,
    /// State changes, published after they commit.
    pub events: Arc<dyn EventBus>,
    /// This replica's live-map viewers.
    pub live: Arc<LiveHub>,
    /// Technician names and site positions the live map shows.
    pub live_directory: Arc<LiveDirectory>,
    pub config: Arc<Config>,
    /// Set once when the replica begins to shut down: long-lived sockets
    /// (the sync WebSocket) close with "going away" instead of being cut.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The public web form's submissions per client address.
    pub form_limiter: Arc<crate::intake::form::FormLimiter>,
    /// Where outbound requests to addresses others chose may go (`[egress]`).
    pub egress: crate::egress::EgressPolicy,
    /// Users' current role and active flag, briefly cached (`[auth] principal_cache_ms`).
    pub principals: Arc<crate::auth::principals::PrincipalCache>,
    /// Token refreshes per client address (per replica).
    pub refresh_limiter: Arc<crate::report::limit::VerifyLimiter>,
    /// Reads of the public pages' data per client address (per replica).
    pub public_read_limiter: Arc<crate::report::limit::VerifyLimiter>,
    /// `[proxy] trusted`: whose forwarding headers name the client.
    pub trusted_proxies: Arc<crate::auth::client_address::TrustedProxies>,
    /// Location pings by group commit.
    pub pings: Arc<crate::dispatch::ingest::PingIngest>,
    /// Parsed trigger rules per tenant, checked against the rules version.
    pub rules: Arc<crate::automation::cache::RulesCache>,
    /// Day plans' road network (`[schedule] osrm_url`) and its cache.
    pub roads: Option<Arc<crate::schedule::travel::RoadNetwork>>,
}

impl AppState {
    /// A state over `store` with an in-process event bus.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        dispatch: Arc<DispatchService>,
    ) -> Result<Self, AuthError> {
        let auth = &config.auth;
        let tokens = TokenService::new(
            &auth.token_secret,
            Duration::from_secs(auth.access_token_ttl_secs),
            Duration::from_secs(auth.refresh_token_ttl_secs),
        )?;
        let nonzero = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
        let login_limiter = LoginGuard::new(
            nonzero(auth.login_per_account_per_minute),
            nonzero(auth.login_per_address_per_minute),
            FailureDelay {
                free: auth.login_failures_before_delay,
                base: Duration::from_millis(auth.login_delay_base_ms),
                cap: Duration::from_secs(auth.login_delay_cap_secs),
            },
            store.clone(),
            auth.token_secret.as_bytes(),
        );
        let public = nonzero(config.notify.public_requests_per_minute);
        let events: Arc<dyn EventBus> = Arc::new(MemoryBus::new());
        let pings = Arc::new(crate::dispatch::ingest::PingIngest::new(
            crate::dispatch::ingest::IngestHandles {
                store: store.clone(),
                dispatch: dispatch.clone(),
                events: events.clone(),
            },
            config.pings.clone(),
        ));
        Ok(Self {
            store,
            blobs,
            tokens: Arc::new(tokens),
            login_limiter: Arc::new(login_limiter),
            report_verify_limiter: Arc::new(crate::report::limit::VerifyLimiter::new(
                config.report.verify_per_address_per_minute,
            )),
            progress_limiter: Arc::new(LoginLimiter::new(public, public)),
            dispatch,
            events,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            live: Arc::new(LiveHub::new(ResumeLimits {
                changes: config.live.resume_changes,
                grace: Duration::from_millis(config.live.resume_grace_ms),
            })),
            live_directory: Arc::default(),
            form_limiter: Arc::new(crate::intake::form::FormLimiter::new(
                config.intake.form_per_address_per_hour,
            )),
            // `Config::validated` refused a bad allow-list already.
            egress: config.egress.policy().unwrap_or_default(),
            principals: Arc::new(crate::auth::principals::PrincipalCache::new(
                Duration::from_millis(auth.principal_cache_ms),
            )),
            pings,
            rules: Arc::default(),
            refresh_limiter: Arc::new(crate::report::limit::VerifyLimiter::new(
                auth.refresh_per_address_per_minute,
            )),
            public_read_limiter: Arc::new(crate::report::limit::VerifyLimiter::new(
                auth.public_reads_per_address_per_minute,
            )),
            // `Config::validated` refused a bad list already.
            trusted_proxies: Arc::new(config.proxy.networks().unwrap_or_default()),
            roads: config.schedule.road_network().map(|settings| {
                Arc::new(crate::schedule::travel::RoadNetwork::new(
                    settings,
                    config.egress.policy().unwrap_or_default(),
                ))
            }),
            config: Arc::new(config),
        })
    }

    /// Replaces the in-process bus (e.g. by PostgreSQL's), for every
    /// service that holds it.
    pub fn set_events(&mut self, events: Arc<dyn EventBus>) {
        self.pings = Arc::new(crate::dispatch::ingest::PingIngest::new(
            crate::dispatch::ingest::IngestHandles {
                store: self.store.clone(),
                dispatch: self.dispatch.clone(),
                events: events.clone(),
            },
            self.config.pings.clone(),
        ));
        self.events = events;
    }

    /// The housekeeping sweeper's handles and windows (tests drive
    /// `run_once` with a moved clock).
    pub fn housekeeping(&self) -> crate::governance::retention::Housekeeping {
        crate::governance::retention::Housekeeping {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            config: self.config.retention.clone(),
            idempotency_ttl: Duration::from_secs(self.config.governance.idempotency_key_ttl_secs),
            default_location_days: self.config.dispatch.location_retention_days,
            login_failure_ttl: Duration::from_secs(self.config.auth.login_delay_cap_secs)
                .max(Duration::from_secs(24 * 3600)),
        }
    }

    /// The handles the assignment and offer flows act through.
    pub fn dispatch_handles(&self) -> DispatchHandles {
        DispatchHandles {
            store: self.store.clone(),
            index: self.dispatch.clone(),
            events: self.events.clone(),
            offer_window: self.offer_window(),
        }
    }

    /// How long a technician has to answer an offer.
    fn offer_window(&self) -> chrono::Duration {
        let secs = i64::try_from(self.config.dispatch.offer_window_secs).unwrap_or(i64::MAX);
        chrono::Duration::seconds(secs)
    }

    /// Assigning, unassigning and what follows a change of assignee or status.
    pub fn assignments(&self) -> AssignmentFlow<'_> {
        AssignmentFlow {
            store: self.store.as_ref(),
            dispatch: self.dispatch.as_ref(),
            events: self.events.as_ref(),
        }
    }

    /// Email and web intake over this state's store, blobs and flows.
    pub fn intake(&self) -> crate::intake::Intake {
        crate::intake::Intake {
            dispatch: self.dispatch_handles(),
            blobs: self.blobs.clone(),
            media: self.config.media.clone(),
            config: self.config.intake.clone(),
            sealer: crate::intake::Sealer::new(&self.config.auth.token_secret),
            egress: self.egress.clone(),
        }
    }

    /// The media flow over this state's store and blob store.
    pub fn media(&self) -> crate::media::MediaService<'_> {
        crate::media::MediaService {
            store: self.store.as_ref(),
            blobs: self.blobs.as_ref(),
            config: &self.config.media,
        }
    }

    /// The offer flow over this state's store and index.
    pub fn offer_flow(&self) -> OfferFlow<'_> {
        OfferFlow {
            store: self.store.as_ref(),
            dispatch: self.dispatch.as_ref(),
            events: self.events.as_ref(),
            window: self.offer_window(),
        }
    }
}

/// The application state for `config` over a migrated `store`: loads the
/// dispatch index from the database and connects the event bus.
pub async fn build_state(config: Config, store: Arc<dyn Store>) -> Result<AppState, ServeError> {
    crate::device_sync::cache::configure(&config.documents);
    let dispatch = Arc::new(DispatchService::load(store.as_ref(), config.dispatch.clone()).await?);
    let events = crate::events::connect(&config.events, &config.database_url).await?;
    let blobs = crate::blob::open(&config.media, &config.data_dir, &config.auth.token_secret)?;
    let mut state = AppState::new(config, store, blobs, dispatch)?;
    state.set_events(events);
    Ok(state)
}

/// The background work of one replica: retention sweeps, the push and
/// webhook workers, offer and SLA timers, the live feed.
#[derive(Debug)]
pub struct BackgroundTasks {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    offer_lead: Leadership,
    sla_timers: crate::sla::SlaTimersHandle,
    webhooks: crate::sla::webhooks::WebhookWorkerHandle,
    pusher: crate::push::PushWorkerHandle,
    /// The IMAP watchers run on one replica at a time.
    intake_lead: Option<Leadership>,
    /// So does the audit sealer (`[governance] audit_key`).
    audit_lead: Option<Leadership>,
    notify: crate::notify::NotifyWorkers,
    maintenance_lead: Leadership,
    /// Time-based rules: one replica at a time sweeps.
    timed_rules_lead: Leadership,
    /// SLA outcomes on write: one replica at a time recomputes marked tickets.
    sla_outcomes_lead: Option<Leadership>,
    /// Retention and housekeeping: one replica at a time sweeps.
    housekeeping_lead: Leadership,
}

impl BackgroundTasks {
    pub fn spawn(state: &AppState) -> Result<Self, ServeError> {
        let config = &state.config;
        let pusher = crate::push::spawn_worker(state.store.clone(), &config.push)?;
        // Offer timers run on one replica at a time (advisory lock on PostgreSQL).
        let offer_lead = Leadership::start(state.store.clone(), "offer_timers", &config.leader);
        let offer_poll = Duration::from_millis(config.dispatch.offer_poll_ms);
        let housekeeping_lead =
            Leadership::start(state.store.clone(), "housekeeping", &config.leader);
        let tasks = vec![
            tokio::spawn(crate::governance::retention::run(
                state.housekeeping(),
                housekeeping_lead.subscribe(),
            )),
            tokio::spawn(offer_timers(
                state.dispatch_handles(),
                offer_poll,
                offer_lead.subscribe(),
            )),
            tokio::spawn(crate::live::feed::follow(
                state.store.clone(),
                state.events.clone(),
                state.dispatch.clone(),
                state.live.clone(),
                state.live_directory.clone(),
            )),
            tokio::spawn(crate::media::sweep_loop(
                state.store.clone(),
                state.blobs.clone(),
                config.media.clone(),
            )),
            tokio::spawn(crate::report::job_loop(
                state.store.clone(),
                state.blobs.clone(),
                config.report.clone(),
                config.media.clone(),
            )),
        ];
        let mut tasks = tasks;
        // Preventive maintenance tickets: one replica at a time makes them.
        let maintenance_lead =
            Leadership::start(state.store.clone(), "maintenance", &config.leader);
        tasks.push(tokio::spawn(crate::schedule::maintenance::run(
            state.store.clone(),
            state.events.clone(),
            Duration::from_millis(config.schedule.maintenance_poll_ms),
            maintenance_lead.subscribe(),
        )));
        let timed_rules_lead =
            Leadership::start(state.store.clone(), "timed_rules", &config.leader);
        tasks.push(tokio::spawn(crate::automation::timed::run(
            state.dispatch_handles(),
            state.rules.clone(),
            config.automation.timed_sweep(),
            timed_rules_lead.subscribe(),
        )));
        let sla_outcomes_lead = config.sla.outcomes_enabled.then(|| {
            let lead = Leadership::start(state.store.clone(), "sla_outcomes", &config.leader);
            tasks.push(tokio::spawn(crate::sla::outcomes::run(
                state.store.clone(),
                Duration::from_millis(config.sla.poll_ms),
                lead.subscribe(),
            )));
            lead
        });
        let intake_lead = config.intake.imap_enabled.then(|| {
            let lead = Leadership::start(state.store.clone(), "intake_imap", &config.leader);
            tasks.push(tokio::spawn(crate::intake::imap::run(
                state.intake(),
                lead.subscribe(),
            )));
            lead
        });
        let keyring = config.governance.keyring().unwrap_or_default();
        let audit_lead = keyring.is_keyed().then(|| {
            let lead = Leadership::start(state.store.clone(), "audit_seal", &config.leader);
            tasks.push(tokio::spawn(crate::governance::audit_key::seal_loop(
                state.store.clone(),
                state.blobs.clone(),
                keyring,
                Duration::from_secs(config.governance.audit_seal_window_secs),
                Duration::from_millis(config.governance.audit_seal_interval_ms),
                lead.subscribe(),
            )));
            lead
        });
        let sla_timers =
            crate::sla::spawn_timers(state.dispatch_handles(), &config.sla, &config.leader);
        let webhooks = crate::sla::webhooks::spawn_worker(
            state.store.clone(),
            &config.webhooks,
            &state.egress,
        )?;
        let notify = crate::notify::NotifyWorkers::spawn(
            state.store.clone(),
            &config.notify,
            &config.smtp,
            &config.sms,
            &state.egress,
        )?;
        Ok(Self {
            tasks,
            offer_lead,
            sla_timers,
            webhooks,
            pusher,
            intake_lead,
            audit_lead,
            notify,
            maintenance_lead,
            timed_rules_lead,
            sla_outcomes_lead,
            housekeeping_lead,
        })
    }

    /// Stops every task and gives up the leases.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.offer_lead.stop().await;
        self.maintenance_lead.stop().await;
        self.timed_rules_lead.stop().await;
        if let Some(lead) = self.sla_outcomes_lead {
            lead.stop().await;
        }
        self.housekeeping_lead.stop().await;
        if let Some(lead) = self.intake_lead {
            lead.stop().await;
        }
        if let Some(lead) = self.audit_lead {
            lead.stop().await;
        }
        self.sla_timers.stop().await;
        self.webhooks.stop().await;
        self.pusher.stop().await;
        self.notify.stop().await;
    }
}

/// Expires offers whose window has closed and offers their tickets onward,
/// while this replica leads the `offer_timers` job. Offers live in the
/// database, so the timers survive a restart and move with the lead.
async fn offer_timers(
    handles: DispatchHandles,
    poll: Duration,
    leading: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(poll);
    loop {
        ticks.tick().await;
        let lead = *leading.borrow();
        metrics::gauge!("truckroll_leader", "job" => "offer_timers").set(if lead {
            1.0
        } else {
            0.0
        });
        if !lead {
            continue;
        }
        if let Err(error) = handles.offers().expire_due(chrono::Utc::now()).await {
            tracing::warn!(%error, "offer timers failed");
        }
    }
}
