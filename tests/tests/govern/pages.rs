//! Security headers on every page and asset: a CSP without inline script
//! and no framing, no MIME sniffing, no referrer (progress links carry
//! tokens). The pages still work under it: the Chromium tests in
//! `tests/tests/web` load them with the header set.

use reqwest::{Method, StatusCode};
use truckroll_tests::{TestBackend, app::TestApp};

backend_tests!(every_page_sends_the_security_headers,);

async fn every_page_sends_the_security_headers(backend: TestBackend) {
    let app = TestApp::start(backend).await;
    for path in [
        "/",
        "/dispatch",
        "/reports",
        "/tickets",
        "/tickets/new",
        "/ticket",
        "/technician",
        "/admin",
        "/track",
        "/request/acme",
        "/assets/signin.js",
        "/assets/app.css",
        "/openapi.json",
        "/no-such-page",
    ] {
        let reply = app.send(Method::GET, path, None, None).await;
        assert!(
            reply.status == StatusCode::OK || path == "/no-such-page",
            "{path}: {}",
            reply.status
        );
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let scripts = csp
            .split(';')
            .map(str::trim)
            .find(|directive| directive.starts_with("script-src"))
            .unwrap_or_default();
        assert_eq!(scripts, "script-src 'self'", "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        if path == "/" || path == "/technician" {
            let html = reply.body.as_str().unwrap_or_default();
            assert!(!html.contains("<script>"), "{path} has an inline script");
        }
    }
    app.stop().await;
}
