//! The HTTP API: one state, one router per resource, layers added once.

mod audit;
mod auth;
mod directory;
mod dispatch;
pub(crate) use dispatch::after_assignment_change;
pub mod error;
pub mod extract;
mod idempotency;
pub mod live;
mod media;
mod metrics;
mod offers;
mod ops;
mod sla;
mod sync;
mod technicians;
mod territories;
mod tickets;
mod users;
mod webhooks;

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, http::HeaderName, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::{AuthError, rate_limit::LoginLimiter, tokens::TokenService},
    config::Config,
    dispatch::service::DispatchService,
    domain::ticket::Ticket,
    events::{Event, EventBus, live::LiveHub, memory::MemoryBus},
    store::Store,
};

/// Everything a handler may use. Handlers are not generic over the backend.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn crate::blob::BlobStore>,
    pub tokens: Arc<TokenService>,
    pub login_limiter: Arc<LoginLimiter>,
    pub dispatch: Arc<DispatchService>,
    /// State changes, published after they commit.
    pub events: Arc<dyn EventBus>,
    /// This replica's live-map viewers.
    pub live: Arc<LiveHub>,
    /// Technician names and site positions the live map shows.
    pub live_directory: Arc<live::LiveDirectory>,
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, rendered once.
    pub openapi: Arc<serde_json::Value>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        blobs: Arc<dyn crate::blob::BlobStore>,
        dispatch: Arc<DispatchService>,
    ) -> Result<Self, AuthError> {
        let auth = &config.auth;
        let tokens = TokenService::new(
            &auth.token_secret,
            Duration::from_secs(auth.access_token_ttl_secs),
            Duration::from_secs(auth.refresh_token_ttl_secs),
        )?;
        let nonzero = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
        let login_limiter = LoginLimiter::new(
            nonzero(auth.login_per_account_per_minute),
            nonzero(auth.login_per_address_per_minute),
        );
        Ok(Self {
            store,
            blobs,
            tokens: Arc::new(tokens),
            login_limiter: Arc::new(login_limiter),
            dispatch,
            events: Arc::new(MemoryBus::new()),
            live: Arc::new(LiveHub::new(crate::events::live::ResumeLimits {
                changes: config.live.resume_changes,
                grace: Duration::from_millis(config.live.resume_grace_ms),
            })),
            live_directory: Arc::default(),
            metrics: metrics::recorder(),
            openapi: Arc::new(serde_json::to_value(api().split_for_parts().1).unwrap_or_default()),
            config: Arc::new(config),
        })
    }
}

impl AppState {
    /// Publishes the change of a ticket (`before` is `None` when it was created).
    pub fn ticket_changed(&self, before: Option<&Ticket>, after: &Ticket) {
        if let Some(event) = Event::for_ticket(before, after) {
            self.events.publish(event);
        }
    }

    /// The offer flow over this state's store and index.
    pub fn offer_flow(&self) -> crate::dispatch::offers::OfferFlow<'_> {
        let window = i64::try_from(self.config.dispatch.offer_window_secs).unwrap_or(i64::MAX);
        crate::dispatch::offers::OfferFlow {
            store: self.store.as_ref(),
            dispatch: self.dispatch.as_ref(),
            events: self.events.as_ref(),
            window: chrono::Duration::seconds(window),
        }
    }
}

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
        (name = "media", description = "Photos, documents and signatures"),
    )
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
        .merge(audit::router())
        .merge(sync::router())
        .merge(live::router())
        .merge(media::router())
}

/// The whole application with its layers.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (api, _) = api().split_for_parts();
    api.merge(ops::router())
        .merge(crate::web::router())
        .fallback(|| async { error::ApiError::NotFound("route") })
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
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
        .with_state(state)
}
