//! The HTTP API: one state, one router per resource, layers added once.

mod approvals;
mod audit;
mod auth;
mod automation;
mod board;
mod completion;
mod console;
mod directory;
mod dispatch;
pub mod error;
pub mod extract;
mod idempotency;
mod intake;
mod knowledge;
mod knowledge_attachments;
mod knowledge_draft;
mod live;
mod macros;
mod media;
mod metrics;
mod notify;
mod offers;
mod openapi;
mod ops;
mod parts;
mod privacy;
mod progress;
mod report;
mod retention;
mod schedule;
mod search;
mod sla;
mod sync;
mod technicians;
mod territories;
mod ticket_family;
mod ticket_merge;
mod ticket_view;
mod tickets;
mod timeline;
mod users;
mod watchers;
mod webhooks;
mod work;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use axum::{Router, extract::DefaultBodyLimit, http::HeaderName, middleware};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

pub use crate::app::AppState;
use crate::{
    app::{BackgroundTasks, ServeError, build_state},
    config::Config,
    store::Store,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Truckroll API", description = "Field-service backend: tickets, technicians, dispatch."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, tokens, devices"),
        (name = "people", description = "Users and technicians"),
        (name = "customers", description = "Customers, sites and assets"),
        (name = "tickets", description = "Tickets, categories and comments"),
        (name = "dispatch", description = "Positions and candidates"),
        (name = "audit", description = "Hash-chained audit log"),
        (name = "sla", description = "SLA policies and reports"),
        (name = "webhooks", description = "Outgoing webhooks: subscriptions, deliveries, dead letters"),
        (name = "notify", description = "Customer notifications: languages, opt-outs, templates"),
        (name = "media", description = "Photos, documents and signatures"),
        (name = "sync", description = "Ticket documents between phones and the server (sync/PROTOCOL.md)"),
        (name = "live", description = "The live map's WebSocket"),
        (name = "intake", description = "Email and web intake: settings, mailboxes, the inbound endpoint, the public form"),
        (name = "reports", description = "Signed service reports (PDF) and their public check"),
        (name = "schedule", description = "Appointment windows, bookable slots, durations, absences, holidays"),
        (name = "automation", description = "Teams and queues, trigger rules, staff notifications"),
        (name = "knowledge", description = "Knowledge base: articles, versions, suggestions, deflections"),
        (name = "parts", description = "Parts catalogue, van and warehouse stock, required parts, priced jobs"),
        (name = "approvals", description = "Approval policies, requests on tickets, the approvers' inbox and decisions"),
        (name = "governance", description = "Retention policies"),
        (name = "privacy", description = "Masked customer fields and reveals, legal holds, erasure and the customer export"),
    ),
    // Routed by hand (a wildcard path, a body limit of their own); listed
    // here so the document shows them.
    paths(sync::exchange, sync::websocket, live::websocket, media::put_blob, media::get_blob),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(technicians::router())
        .merge(directory::router())
        .merge(tickets::router())
        .merge(dispatch::router())
        .merge(offers::router())
        .merge(territories::router())
        .merge(sla::router())
        .merge(webhooks::router())
        .merge(notify::router())
        .merge(progress::router())
        .merge(audit::router())
        .merge(sync::router())
        .merge(live::router())
        .merge(media::router())
        .merge(work::router())
        .merge(timeline::router())
        .merge(intake::router())
        .merge(console::router())
        .merge(report::router())
        .merge(search::router())
        .merge(schedule::router())
        .merge(board::router())
        // Issue 21: automation.
        .merge(automation::router())
        .merge(watchers::router())
        .merge(knowledge::router())
        .merge(knowledge_draft::router())
        .merge(knowledge_attachments::router())
        .merge(ticket_merge::router())
        .merge(ticket_family::router())
        .merge(parts::router())
        .merge(approvals::router())
        .merge(macros::router())
        .merge(retention::router())
        .merge(privacy::router())
}

/// The OpenAPI document, rendered once per process.
pub(crate) fn openapi_document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(api().split_for_parts().1).unwrap_or_default();
        openapi::complete(&mut document);
        document
    })
}

/// The whole application with its layers.
pub fn router(state: AppState) -> Router {
    // Installed before anything records a metric.
    metrics::recorder();
    let request_id = HeaderName::from_static("x-request-id");
    let (api, _) = api().split_for_parts();
    api.merge(ops::router())
        .merge(crate::web::router(state.config.web.clone()))
        .fallback(|| async { error::ApiError::NotFound("route") })
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(error::problems_only))
        .layer(middleware::from_fn(crate::web::security_headers))
        .layer(middleware::from_fn(metrics::track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost: a client that hangs up never cancels a handler midway.
        .layer(middleware::from_fn(completion::run_to_completion))
        .with_state(state)
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

/// Serves `state` with its background work until `shutdown` resolves.
pub async fn launch_with_state(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let metrics_server = match state.config.governance.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address).await?;
            let mut closed = state.closing.subscribe();
            let metrics_app = ops::metrics_only(state.clone());
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = closed.wait_for(|closing| *closing).await;
                };
                if let Err(error) = axum::serve(listener, metrics_app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::warn!(%error, "metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    let background = BackgroundTasks::spawn(&state)?;
    let closing = state.closing.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.send_replace(true);
        })
        .await;
    background.stop().await;
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    served?;
    Ok(())
}
