//! Truckroll server: configuration, storage, domain rules and the HTTP API.

pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod config_error;
pub mod demo;
pub mod dispatch;
pub mod doc_sync;
pub mod domain;
pub mod events;
pub mod http;
pub mod leader;
pub mod live;
pub mod media;
pub mod push;
pub mod sla;
pub mod store;
pub mod web;

use std::{future::Future, net::SocketAddr, sync::Arc};

pub use http::{AppState, router};

use crate::{config::Config, dispatch::service::DispatchService, store::Store};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Push(#[from] push::PushError),
    #[error(transparent)]
    Events(#[from] events::EventsError),
    #[error(transparent)]
    Blob(#[from] blob::BlobError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
}

/// The application state for `config` over a migrated `store`: loads the
/// dispatch index from the database.
pub async fn build_state(config: Config, store: Arc<dyn Store>) -> Result<AppState, ServeError> {
    let dispatch = Arc::new(DispatchService::load(store.as_ref(), config.dispatch.clone()).await?);
    let events = events::connect(&config.events, &config.database_url).await?;
    let blobs = blob::open(&config.media, &config.data_dir, &config.auth.token_secret)?;
    let mut state = AppState::new(config, store, blobs, dispatch)?;
    state.events = events;
    Ok(state)
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight
/// requests. The store must already be migrated.
pub async fn launch_with_listener(
    config: Config,
    store: Arc<dyn Store>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = build_state(config, store).await?;
    launch_with_state(state, listener, shutdown).await
}

/// Serves `state` with its background work (retention sweep, push worker,
/// offer timers) until `shutdown` resolves.
pub async fn launch_with_state(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = state.store.clone();
    let store_for_lead = store.clone();
    let pusher = push::spawn_worker(store.clone(), &state.config.push)?;
    let sweeper = tokio::spawn(sweep_locations(
        store,
        state.config.dispatch.location_retention_days,
    ));
    // Offer timers run on one replica at a time (advisory lock on PostgreSQL).
    let offer_lead =
        leader::Leadership::start(store_for_lead, "offer_timers", &state.config.leader);
    let offers = tokio::spawn(offer_timers(state.clone(), offer_lead.subscribe()));
    let sla_timers = sla::spawn_timers(state.clone());
    let webhooks = sla::webhooks::spawn_worker(state.store.clone(), &state.config.webhooks)?;
    let live = tokio::spawn(http::live::follow_events(state.clone()));
    let media_sweep = tokio::spawn(media::sweep_loop(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    offers.abort();
    offer_lead.stop().await;
    live.abort();
    sla_timers.stop().await;
    webhooks.stop().await;
    media_sweep.abort();
    pusher.stop().await;
    served?;
    Ok(())
}

/// Expires offers whose window has closed and offers their tickets onward,
/// while this replica leads the `offer_timers` job. Offers live in the
/// database, so the timers survive a restart and move with the lead.
async fn offer_timers(state: AppState, leading: tokio::sync::watch::Receiver<bool>) {
    let poll = std::time::Duration::from_millis(state.config.dispatch.offer_poll_ms);
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
        if let Err(error) = state.offer_flow().expire_due(chrono::Utc::now()).await {
            tracing::warn!(%error, "offer timers failed");
        }
    }
}

/// Deletes pings older than the retention period, hourly.
async fn sweep_locations(store: Arc<dyn Store>, retention_days: u32) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days));
        match store.prune_locations(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "old location pings removed"),
            Err(error) => tracing::warn!(%error, "location retention sweep failed"),
        }
    }
}
