//! Truckroll server: configuration, storage, domain rules and the HTTP API.

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;

use std::{future::Future, net::SocketAddr, sync::Arc};

pub use http::{AppState, router};

use crate::{config::Config, store::Store};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves on `listener` until `shutdown` resolves, then finishes in-flight
/// requests. The store must already be migrated.
pub async fn launch_with_listener(
    config: Config,
    store: Arc<dyn Store>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(config, store)?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
