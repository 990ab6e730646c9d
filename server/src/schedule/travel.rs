//! Road travel times for day plans from an OSRM-compatible `table` service
//! (`[schedule] osrm_url`), kept per replica in a cache of point pairs, with
//! the great-circle model as the fallback when the service is unset, down,
//! slow, refused by the egress policy, or has no road between two points.
//! What was used is said in the plan ([`TravelNote`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{
        geo::GeoPoint,
        schedule::{Leg, PointKey, RoadMatrix, RoadTravel, TravelModel},
    },
    egress::{EgressPolicy, refused_by_policy},
};

/// Points per side of one `table` request: OSRM's default `max-table-size`
/// is 100 coordinates, and a request carries a block of sources and one of
/// destinations.
const BLOCK: usize = 50;

/// Where a plan's driving times came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct TravelNote {
    /// `osrm` (every leg from the road network), `osrm_partial` (some legs
    /// estimated: no road between them), or `great_circle` (estimated:
    /// great-circle distance × 1.3 ÷ the average speed).
    pub source: String,
    /// Why, in words: the fallback's cause when the network was not used.
    pub detail: String,
    /// Legs answered by the network in this plan (from the cache included).
    pub legs_from_network: usize,
    /// Legs of this plan answered from the replica's cache, no request made.
    pub legs_cached: usize,
}

impl TravelNote {
    fn estimated(detail: impl Into<String>) -> Self {
        Self {
            source: "great_circle".into(),
            detail: detail.into(),
            legs_from_network: 0,
            legs_cached: 0,
        }
    }
}

/// The `[schedule]` settings of the road network.
#[derive(Debug, Clone)]
pub struct RoadNetworkSettings {
    pub url: String,
    pub profile: String,
    pub timeout: Duration,
    pub cache_pairs: usize,
}

#[derive(Debug, thiserror::Error)]
enum TableError {
    #[error("{0}")]
    Egress(#[from] crate::egress::EgressError),
    #[error("request failed: {0}")]
    Http(String),
    #[error("answered {0}")]
    Status(u16),
    #[error("not a table answer: {0}")]
    Body(String),
    #[error("no answer within {0} ms")]
    Slow(u128),
}

/// An OSRM-compatible `table` service and this replica's cache of its legs.
#[derive(Debug)]
pub struct RoadNetwork {
    settings: RoadNetworkSettings,
    policy: EgressPolicy,
    client: Option<reqwest::Client>,
    cache: Mutex<HashMap<(PointKey, PointKey), Option<Leg>>>,
}

#[derive(Debug, Deserialize)]
struct TableAnswer {
    code: String,
    #[serde(default)]
    message: Option<String>,
    durations: Option<Vec<Vec<Option<f64>>>>,
    #[serde(default)]
    distances: Option<Vec<Vec<Option<f64>>>>,
}

impl RoadNetwork {
    pub fn new(settings: RoadNetworkSettings, policy: EgressPolicy) -> Self {
        let client = policy.client(settings.timeout).ok();
        Self {
            settings,
            policy,
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn host(&self) -> String {
        url::Url::parse(&self.settings.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<(PointKey, PointKey), Option<Leg>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The legs between every two of `points`: from the cache, else asked
    /// of the network (every block pair at once, within the timeout); on any
    /// failure the model for what is missing, and the note says so.
    pub async fn travel(
        &self,
        points: &[GeoPoint],
        model: TravelModel,
    ) -> (RoadTravel, TravelNote) {
        let mut unique: Vec<GeoPoint> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for point in points {
            if seen.insert(PointKey::from(*point)) {
                unique.push(*point);
            }
        }
        let pairs = unique.len() * unique.len().saturating_sub(1);
        let missing = {
            let cache = self.cached();
            unique.iter().enumerate().any(|(i, a)| {
                unique
                    .iter()
                    .enumerate()
                    .any(|(j, b)| i != j && !cache.contains_key(&((*a).into(), (*b).into())))
            })
        };
        let mut failure = None;
        let mut cached_legs = pairs;
        if missing {
            cached_legs = 0;
            let limit = self.settings.timeout;
            match tokio::time::timeout(limit, self.fetch(&unique, model)).await {
                Ok(Ok(fetched)) => {
                    let mut cache = self.cached();
                    if cache.len() + fetched.len() > self.settings.cache_pairs {
                        cache.clear();
                    }
                    cache.extend(fetched);
                }
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(TableError::Slow(limit.as_millis())),
            }
        }
        if let Some(failure) = failure {
            tracing::warn!(host = %self.host(), error = %failure, "road network unavailable; estimating travel");
            let note = TravelNote::estimated(format!(
                "the road network at {} was not used ({failure}); great-circle distance × {} ÷ {} km/h instead",
                self.host(),
                model.detour_factor,
                model.speed_kmh
            ));
            return (model.into(), note);
        }
        let mut matrix = RoadMatrix::default();
        let mut unroutable = 0;
        {
            let cache = self.cached();
            for (i, a) in unique.iter().enumerate() {
                for (j, b) in unique.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let key = ((*a).into(), (*b).into());
                    match cache.get(&key) {
                        Some(Some(leg)) => {
                            matrix.legs.insert(key, *leg);
                        }
                        _ => unroutable += 1,
                    }
                }
            }
        }
        let note = TravelNote {
            source: if unroutable == 0 {
                "osrm"
            } else {
                "osrm_partial"
            }
            .into(),
            detail: if unroutable == 0 {
                format!("road network at {}", self.host())
            } else {
                format!(
                    "road network at {}; {unroutable} legs without a road estimated by great circle",
                    self.host()
                )
            },
            legs_from_network: pairs - unroutable,
            legs_cached: cached_legs,
        };
        let travel = RoadTravel {
            model,
            matrix: Some(Arc::new(matrix)),
        };
        (travel, note)
    }

    async fn fetch(
        &self,
        points: &[GeoPoint],
        model: TravelModel,
    ) -> Result<Vec<((PointKey, PointKey), Option<Leg>)>, TableError> {
        self.policy.check_literal(&self.settings.url)?;
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| TableError::Http("no HTTP client".into()))?;
        let blocks: Vec<&[GeoPoint]> = points.chunks(BLOCK).collect();
        let mut legs = Vec::with_capacity(points.len() * points.len());
        for sources in &blocks {
            for destinations in &blocks {
                let answer = self.table(client, sources, destinations).await?;
                let durations = answer
                    .durations
                    .ok_or_else(|| TableError::Body("no durations".into()))?;
                for (i, from) in sources.iter().enumerate() {
                    for (j, to) in destinations.iter().enumerate() {
                        let seconds = durations
                            .get(i)
                            .and_then(|row| row.get(j))
                            .ok_or_else(|| TableError::Body("a short durations row".into()))?;
                        let meters = answer
                            .distances
                            .as_ref()
                            .and_then(|d| d.get(i)?.get(j).copied().flatten());
                        let leg = seconds.filter(|s| s.is_finite() && *s >= 0.0).map(|s| Leg {
                            seconds: s.ceil() as i64,
                            // Without OSRM's distances: the model's metres.
                            meters: meters.unwrap_or_else(|| model.meters(*from, *to)),
                        });
                        legs.push((((*from).into(), (*to).into()), leg));
                    }
                }
            }
        }
        Ok(legs)
    }

    async fn table(
        &self,
        client: &reqwest::Client,
        sources: &[GeoPoint],
        destinations: &[GeoPoint],
    ) -> Result<TableAnswer, TableError> {
        let coordinates: Vec<String> = sources
            .iter()
            .chain(destinations)
            .map(|p| format!("{:.6},{:.6}", p.lon, p.lat))
            .collect();
        let indices = |range: std::ops::Range<usize>| {
            range.map(|i| i.to_string()).collect::<Vec<_>>().join(";")
        };
        let url = format!(
            "{}/table/v1/{}/{}?sources={}&destinations={}&annotations=duration,distance",
            self.settings.url.trim_end_matches('/'),
            self.settings.profile,
            coordinates.join(";"),
            indices(0..sources.len()),
            indices(sources.len()..sources.len() + destinations.len()),
        );
        let response = client.get(&url).send().await.map_err(|e| {
            refused_by_policy(&e)
                .map(TableError::Egress)
                .unwrap_or_else(|| TableError::Http(e.without_url().to_string()))
        })?;
        if !response.status().is_success() {
            return Err(TableError::Status(response.status().as_u16()));
        }
        let answer: TableAnswer = response
            .json()
            .await
            .map_err(|e| TableError::Body(e.without_url().to_string()))?;
        if answer.code != "Ok" {
            return Err(TableError::Body(format!(
                "code {}: {}",
                answer.code,
                answer.message.unwrap_or_default()
            )));
        }
        Ok(answer)
    }
}
