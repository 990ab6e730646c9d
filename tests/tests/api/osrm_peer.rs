//! A local HTTP peer answering OSRM's `table` service (for the API tests;
//! `axum` is a dev-dependency of the test crate, so it lives here)
//! (`/table/v1/driving/{lon,lat;…}?sources=…&destinations=…`) in OSRM's
//! format, with driving times and distances the test decides per pair of
//! coordinates. It counts the requests it answers and stops on demand.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use serde_json::json;

/// One point of a request, as (latitude, longitude).
pub type Coordinate = (f64, f64);

/// What the peer answers for a leg between two different points: seconds
/// and metres, or `None` for "no road" (OSRM's `null`).
pub type LegRule = dyn Fn(Coordinate, Coordinate) -> Option<(f64, f64)> + Send + Sync;

/// A running peer.
#[derive(Debug)]
pub struct OsrmPeer {
    /// Base URL for `[schedule] osrm_url`.
    pub url: String,
    /// `table` requests answered so far.
    pub hits: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn coordinate(text: &str) -> Option<Coordinate> {
    let (lon, lat) = text.split_once(',')?;
    Some((lat.parse().ok()?, lon.parse().ok()?))
}

impl OsrmPeer {
    /// Every leg between two different points: `seconds` and `meters`.
    pub async fn uniform(seconds: f64, meters: f64) -> Self {
        Self::start(move |_, _| Some((seconds, meters))).await
    }

    /// Legs as `rule` says; a point to itself is 0 s and 0 m.
    pub async fn start(
        rule: impl Fn(Coordinate, Coordinate) -> Option<(f64, f64)> + Send + Sync + 'static,
    ) -> Self {
        let rule: Arc<LegRule> = Arc::new(rule);
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (counted, rule) = (counted.clone(), rule.clone());
            async move {
                let not_found = || {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        axum::Json(json!({"code": "InvalidUrl"})),
                    )
                };
                let Some(coordinates) = uri.path().strip_prefix("/table/v1/driving/") else {
                    return not_found();
                };
                let Some(points) = coordinates
                    .split(';')
                    .map(coordinate)
                    .collect::<Option<Vec<Coordinate>>>()
                else {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        axum::Json(json!({"code": "InvalidValue", "message": "coordinates"})),
                    );
                };
                let query = uri.query().unwrap_or_default();
                let list = |key: &str| -> Vec<usize> {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(key))
                        .map(|v| v.split(';').filter_map(|i| i.parse().ok()).collect())
                        .unwrap_or_else(|| (0..points.len()).collect())
                };
                let (sources, destinations) = (list("sources="), list("destinations="));
                if sources.iter().chain(&destinations).any(|&i| i >= points.len()) {
                    return not_found();
                }
                let leg = |s: usize, d: usize| {
                    if points[s] == points[d] {
                        Some((0.0, 0.0))
                    } else {
                        rule(points[s], points[d])
                    }
                };
                let table = |pick: fn((f64, f64)) -> f64| -> Vec<Vec<Option<f64>>> {
                    sources
                        .iter()
                        .map(|&s| destinations.iter().map(|&d| leg(s, d).map(pick)).collect())
                        .collect()
                };
                counted.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"code": "Ok", "durations": table(|l| l.0), "distances": table(|l| l.1)})),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the OSRM peer binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
                .expect("the OSRM peer runs");
        });
        Self {
            url,
            hits,
            stop: Some(stop),
        }
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops the peer and waits until its port refuses connections.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        let address = self.url.trim_start_matches("http://").to_owned();
        while tokio::net::TcpStream::connect(&address).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Hands over the stop signal (for tests that stop the peer themselves).
    pub fn into_parts(mut self) -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
        let stop = self.stop.take().expect("not stopped yet");
        (self.url.clone(), self.hits.clone(), stop)
    }
}
