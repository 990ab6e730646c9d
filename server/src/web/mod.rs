//! The pages, embedded in the binary: `/` (sign-in), `/dispatch` (the live
//! map), `/reports` (the manager's SLA report), the console (`/tickets`, the
//! queue; `/ticket?id=`, one ticket; `/tickets/new`; `/technician`, a
//! technician's landing; `/admin?kind=`, master data; `/schedule`, the schedule
//! board), their scripts and styles, the shared language
//! module (`assets/i18n.js`),
//! vendored Leaflet and Chart.js. Nothing is
//! built at run time and nothing is fetched from elsewhere; map tiles come
//! from `web.tile_url` when it is set, and the map works without them.
//!
//! A page is a static HTML file that signs in through `assets/session.js`
//! and talks to the JSON API; add one by listing it in [`PAGES`] and its
//! files in [`ASSETS`].

mod config;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

pub use config::WebConfig;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!($file),
        }
    };
}

/// Served under `/assets/`.
static ASSETS: &[Asset] = &[
    asset!("app.css", "assets/app.css", "text/css; charset=utf-8"),
    asset!(
        "session.js",
        "assets/session.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "signin.js",
        "assets/signin.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "technician.js",
        "assets/technician.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "dispatch.js",
        "assets/dispatch.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "dispatch.css",
        "assets/dispatch.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "reports.js",
        "assets/reports.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "reports.css",
        "assets/reports.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "intake.js",
        "assets/intake.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("intake.css", "assets/intake.css", "text/css; charset=utf-8"),
    asset!(
        "i18n.js",
        "assets/i18n.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "console.js",
        "assets/console.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "console.css",
        "assets/console.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "admin.js",
        "assets/admin.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "queue.js",
        "assets/queue.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "ticket.js",
        "assets/ticket.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "new_ticket.js",
        "assets/new_ticket.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "progress.js",
        "assets/progress.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "progress.css",
        "assets/progress.css",
        "text/css; charset=utf-8"
    ),
    // Issue 21: automation.
    asset!(
        "watch.js",
        "assets/watch.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "automation.js",
        "assets/automation.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "automation.css",
        "assets/automation.css",
        "text/css; charset=utf-8"
    ),
    // Knowledge base (issue 22).
    asset!(
        "knowledge.js",
        "assets/knowledge.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "knowledge_panel.js",
        "assets/knowledge_panel.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "knowledge_public.js",
        "assets/knowledge_public.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "knowledge.css",
        "assets/knowledge.css",
        "text/css; charset=utf-8"
    ),
    // Issue 23: the parts and stock page.
    asset!(
        "parts.js",
        "assets/parts.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("parts.css", "assets/parts.css", "text/css; charset=utf-8"),
    // Issue 21: the approvals inbox.
    asset!(
        "approvals.js",
        "assets/approvals.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "approvals.css",
        "assets/approvals.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "macro_picker.js",
        "assets/macro_picker.js",
        "text/javascript; charset=utf-8"
    ),
    // Issue 20: the schedule board and the ticket page's booking card.
    asset!(
        "board.js",
        "assets/board.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("board.css", "assets/board.css", "text/css; charset=utf-8"),
    asset!(
        "ticket_schedule.js",
        "assets/ticket_schedule.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/chartjs/chart.umd.js",
        "vendor/chartjs/chart.umd.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/leaflet/leaflet.css",
        "vendor/leaflet/leaflet.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "vendor/leaflet.markercluster/MarkerCluster.css",
        "vendor/leaflet.markercluster/MarkerCluster.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "vendor/leaflet.markercluster/MarkerCluster.Default.css",
        "vendor/leaflet.markercluster/MarkerCluster.Default.css",
        "text/css; charset=utf-8"
    ),
];

/// Pages by path.
static PAGES: &[(&str, &str)] = &[
    ("/", include_str!("signin.html")),
    ("/dispatch", include_str!("dispatch.html")),
    ("/reports", include_str!("reports.html")),
    // The public request form; the page reads the tenant from its path.
    ("/request/{tenant}", include_str!("intake.html")),
    ("/tickets", include_str!("tickets.html")),
    ("/tickets/new", include_str!("new_ticket.html")),
    ("/ticket", include_str!("ticket.html")),
    ("/technician", include_str!("technician.html")),
    ("/admin", include_str!("admin.html")),
    ("/track", include_str!("progress.html")),
    ("/track/{token}", include_str!("progress.html")),
    ("/automation", include_str!("automation.html")),
    ("/knowledge", include_str!("knowledge.html")),
    // Issue 23: the parts and stock page.
    ("/parts", include_str!("parts.html")),
    // Issue 21: the approvals inbox.
    ("/approvals", include_str!("approvals.html")),
    // Issue 20: the schedule board.
    ("/schedule", include_str!("board.html")),
];

/// The pages, their assets, and what the pages need to know of `config`.
/// An unknown asset is left to the caller's fallback (`http` answers it
/// as a problem).
pub fn router<S: Clone + Send + Sync + 'static>(config: WebConfig) -> Router<S> {
    let mut router = Router::new().route("/web/config.json", get(web_config));
    for asset in ASSETS {
        router = router.route(
            &format!("/assets/{}", asset.path),
            get(move || serve(asset)),
        );
    }
    for (path, html) in PAGES {
        router = router.route(path, get(move || page(html)));
    }
    router.with_state(std::sync::Arc::new(config))
}

/// The policy every response carries: scripts and styles only from this
/// server (no inline script: the pages load theirs from `/assets/`), no
/// framing, no plugins. Images may come from elsewhere: map tiles
/// (`web.tile_url`) and photos behind presigned S3 URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; \
     font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response that lacks them.
pub async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ] {
        headers.entry(name).or_insert(value);
    }
    response
}

async fn page(html: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        html,
    )
        .into_response()
}

async fn serve(asset: &'static Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        asset.body,
    )
        .into_response()
}

/// What the pages need to know about this installation (no secrets).
async fn web_config(State(config): State<std::sync::Arc<WebConfig>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        Json(json!({
            "tile_url": config.tile_url,
            "tile_attribution": config.tile_attribution,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_links_only_embedded_assets() {
        for (path, html) in PAGES {
            for linked in html.split("/assets/").skip(1) {
                let name = linked.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.path == name),
                    "{path} links /assets/{name}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn no_page_has_inline_script_or_handlers() {
        for (path, html) in PAGES {
            for tag in html.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap_or_default();
                assert!(open.contains("src="), "{path} has an inline <script>");
            }
            let lower = html.to_lowercase();
            for handler in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " onchange=",
                "javascript:",
            ] {
                assert!(!lower.contains(handler), "{path} has {handler}");
            }
        }
    }
}
