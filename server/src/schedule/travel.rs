//! Road travel times for day plans, bookable slots and the schedule board
//! from an OSRM-compatible `table` service (`[schedule] osrm_url`), kept per
//! replica in a cache of point pairs, with the great-circle model as the
//! fallback when the service is unset, down (and for a short rest after a
//! failure), slow, refused by the egress policy, or has no road between two
//! points. What was used is said in the answer ([`TravelNote`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{
        geo::GeoPoint,
        schedule::{Leg, PointKey, RoadMatrix, RoadTravel, TravelModel},
    },
    egress::{EgressPolicy, refused_by_policy},
};

/// Where an answer's driving times came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub struct TravelNote {
    /// `osrm` (every leg from the road network), `osrm_partial` (some legs
    /// estimated: no road between them), or `great_circle` (estimated:
    /// great-circle distance × 1.3 ÷ the average speed).
    pub source: String,
    /// Why, in words: the fallback's cause when the network was not used.
    pub detail: String,
    /// Legs answered by the network (from the cache included).
    pub legs_from_network: usize,
    /// Legs answered from the replica's cache, no request made.
    pub legs_cached: usize,
}

impl TravelNote {
    pub(crate) fn estimated(detail: impl Into<String>) -> Self {
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

/// Coordinates in one `table` request (sources and destinations together):
/// OSRM's default `max-table-size`.
const MAX_COORDINATES: usize = 100;

/// After a failure the network is not asked again for this long: a slot
/// list on the customer's page should not wait for the timeout on every
/// load while the network is down.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Requests of one travel question in flight at once.
const CONCURRENT_REQUESTS: usize = 4;

/// The legs a question needs: from each block's sources to its
/// destinations (a point to itself is never asked).
#[derive(Debug, Clone, Default)]
pub struct LegsWanted {
    blocks: Vec<(Vec<GeoPoint>, Vec<GeoPoint>)>,
}

impl LegsWanted {
    /// Every leg between two of `points`.
    pub fn among(&mut self, points: &[GeoPoint]) -> &mut Self {
        self.between(points, points)
    }

    /// Every leg from one of `sources` to one of `destinations`.
    pub fn between(&mut self, sources: &[GeoPoint], destinations: &[GeoPoint]) -> &mut Self {
        let (sources, destinations) = (unique(sources), unique(destinations));
        if !sources.is_empty() && !destinations.is_empty() {
            self.blocks.push((sources, destinations));
        }
        self
    }

    /// Each wanted leg once.
    fn pairs(&self) -> Vec<(GeoPoint, GeoPoint)> {
        let mut seen = HashSet::new();
        let mut pairs = Vec::new();
        for (sources, destinations) in &self.blocks {
            for from in sources {
                for to in destinations {
                    let key = (PointKey::from(*from), PointKey::from(*to));
                    if key.0 != key.1 && seen.insert(key) {
                        pairs.push((*from, *to));
                    }
                }
            }
        }
        pairs
    }
}

fn unique(points: &[GeoPoint]) -> Vec<GeoPoint> {
    let mut seen = HashSet::new();
    points
        .iter()
        .filter(|p| seen.insert(PointKey::from(**p)))
        .copied()
        .collect()
}

type LegKey = (PointKey, PointKey);

/// An OSRM-compatible `table` service and this replica's cache of its legs.
#[derive(Debug)]
pub struct RoadNetwork {
    settings: RoadNetworkSettings,
    policy: EgressPolicy,
    client: Option<reqwest::Client>,
    cache: Mutex<HashMap<LegKey, Option<Leg>>>,
    /// Until when the network rests after a failure, and that failure.
    resting: Mutex<Option<(Instant, String)>>,
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

/// Travel for `wanted` from the road network when one is configured, else
/// the great-circle model; the note says which.
pub async fn travel_for(
    roads: Option<&RoadNetwork>,
    wanted: &LegsWanted,
    model: TravelModel,
) -> (RoadTravel, TravelNote) {
    match roads {
        Some(roads) => roads.legs(wanted, model).await,
        None => (
            model.into(),
            TravelNote::estimated("no road network configured ([schedule] osrm_url)"),
        ),
    }
}

impl RoadNetwork {
    pub fn new(settings: RoadNetworkSettings, policy: EgressPolicy) -> Self {
        let client = policy.client(settings.timeout).ok();
        Self {
            settings,
            policy,
            client,
            cache: Mutex::new(HashMap::new()),
            resting: Mutex::new(None),
        }
    }

    fn host(&self) -> String {
        url::Url::parse(&self.settings.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<LegKey, Option<Leg>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn rest(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.resting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The legs between every two of `points` (see [`RoadNetwork::legs`]).
    pub async fn travel(
        &self,
        points: &[GeoPoint],
        model: TravelModel,
    ) -> (RoadTravel, TravelNote) {
        self.legs(LegsWanted::default().among(points), model).await
    }

    /// The `wanted` legs: from the cache, else asked of the network (only
    /// the sources and destinations with a leg missing, within the timeout
    /// for the whole question); on any failure the model for every leg, so
    /// one answer never mixes the two, and the note says why.
    pub async fn legs(&self, wanted: &LegsWanted, model: TravelModel) -> (RoadTravel, TravelNote) {
        let pairs = wanted.pairs();
        let mut known: HashMap<LegKey, Option<Leg>> = HashMap::with_capacity(pairs.len());
        {
            let cache = self.cached();
            for (from, to) in &pairs {
                let key = ((*from).into(), (*to).into());
                if let Some(leg) = cache.get(&key) {
                    known.insert(key, *leg);
                }
            }
        }
        let legs_cached = known.len();
        let missing: Vec<(Vec<GeoPoint>, Vec<GeoPoint>)> = wanted
            .blocks
            .iter()
            .filter_map(|(sources, destinations)| {
                let absent = |from: &GeoPoint, to: &GeoPoint| {
                    let key = (PointKey::from(*from), PointKey::from(*to));
                    key.0 != key.1 && !known.contains_key(&key)
                };
                let sources: Vec<GeoPoint> = sources
                    .iter()
                    .filter(|s| destinations.iter().any(|d| absent(s, d)))
                    .copied()
                    .collect();
                let destinations: Vec<GeoPoint> = destinations
                    .iter()
                    .filter(|d| sources.iter().any(|s| absent(s, d)))
                    .copied()
                    .collect();
                (!sources.is_empty()).then_some((sources, destinations))
            })
            .collect();
        if !missing.is_empty() {
            let failure = match self.rest().as_ref() {
                Some((until, cause)) if Instant::now() < *until => Some(format!(
                    "it failed less than {} s ago: {cause}",
                    REST_AFTER_FAILURE.as_secs()
                )),
                _ => None,
            };
            let failure = match failure {
                Some(resting) => Some(resting),
                None => {
                    let limit = self.settings.timeout;
                    let asked =
                        tokio::time::timeout(limit, self.fetch(&missing, model, &mut known));
                    let cause = match asked.await {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(_) => Some(TableError::Slow(limit.as_millis()).to_string()),
                    };
                    if let Some(cause) = &cause {
                        *self.rest() = Some((Instant::now() + REST_AFTER_FAILURE, cause.clone()));
                    }
                    cause
                }
            };
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
        }
        let mut matrix = RoadMatrix::default();
        let mut unroutable = 0;
        for (from, to) in &pairs {
            let key = ((*from).into(), (*to).into());
            match known.get(&key) {
                Some(Some(leg)) => {
                    matrix.legs.insert(key, *leg);
                }
                _ => unroutable += 1,
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
            legs_from_network: pairs.len() - unroutable,
            legs_cached,
        };
        let travel = RoadTravel {
            model,
            matrix: Some(Arc::new(matrix)),
        };
        (travel, note)
    }

    /// Asks for every leg of the `blocks`, a few requests at a time, each
    /// within OSRM's table size; what arrives goes into `known` and the
    /// cache at once, so a question cut short by the timeout is not asked
    /// whole again.
    async fn fetch(
        &self,
        blocks: &[(Vec<GeoPoint>, Vec<GeoPoint>)],
        model: TravelModel,
        known: &mut HashMap<LegKey, Option<Leg>>,
    ) -> Result<(), TableError> {
        self.policy.check_literal(&self.settings.url)?;
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| TableError::Http("no HTTP client".into()))?;
        let mut requests = Vec::new();
        for (sources, destinations) in blocks {
            // A thin side takes few coordinates, the other the rest.
            let per_source = sources
                .len()
                .min(MAX_COORDINATES - destinations.len().min(MAX_COORDINATES / 2))
                .max(1);
            let per_destination = (MAX_COORDINATES - per_source).max(1);
            for s in sources.chunks(per_source) {
                for d in destinations.chunks(per_destination) {
                    requests.push((s, d));
                }
            }
        }
        // Futures built in a loop, not by a closure: a closure over borrowed
        // slices makes the handlers' futures lose `Send` (higher-ranked lifetimes).
        let mut pending = Vec::with_capacity(requests.len());
        for (sources, destinations) in requests {
            pending.push(self.table_legs(client, sources, destinations, model));
        }
        let mut answers = futures_util::stream::iter(pending).buffer_unordered(CONCURRENT_REQUESTS);
        while let Some(legs) = answers.next().await {
            let legs = legs?;
            {
                let mut cache = self.cached();
                if cache.len() + legs.len() > self.settings.cache_pairs {
                    cache.clear();
                }
                cache.extend(legs.iter().copied());
            }
            known.extend(legs);
        }
        Ok(())
    }

    async fn table_legs(
        &self,
        client: &reqwest::Client,
        sources: &[GeoPoint],
        destinations: &[GeoPoint],
        model: TravelModel,
    ) -> Result<Vec<(LegKey, Option<Leg>)>, TableError> {
        let answer = self.table(client, sources, destinations).await?;
        legs_of(&answer, sources, destinations, model)
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

/// The legs of one `table` answer, `None` where it has no road.
fn legs_of(
    answer: &TableAnswer,
    sources: &[GeoPoint],
    destinations: &[GeoPoint],
    model: TravelModel,
) -> Result<Vec<(LegKey, Option<Leg>)>, TableError> {
    let durations = answer
        .durations
        .as_ref()
        .ok_or_else(|| TableError::Body("no durations".into()))?;
    let mut legs = Vec::with_capacity(sources.len() * destinations.len());
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
    Ok(legs)
}
