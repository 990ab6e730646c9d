//! Location pings by group commit.
//!
//! A phone sends a ping or a few per request; one transaction per request
//! costs six round trips to the database for a few dozen bytes. Here the
//! requests wait in a bounded queue (a full queue makes new requests wait:
//! back-pressure, not loss); a writer takes what is queued — lingering
//! [`IngestConfig::linger_us`] at most for more —, stores it in one
//! transaction with multi-row statements
//! ([`LocationStore::record_location_batch`]), moves the dispatch index and
//! publishes one `Positions` event per tenant for the whole batch, and only
//! then answers each request. A request is answered after its rows
//! committed, never before; a batch whose transaction fails is retried
//! request by request, so one bad request fails alone.
//!
//! The user → technician lookup is cached: a technician's `user_id` is set
//! at creation and never changes, and technician rows are archived, not
//! deleted. The batch's own read of the technicians checks every cached
//! entry anyway; one it does not find is dropped from the cache.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::service::DispatchService;
use crate::{
    config_error::ConfigError,
    domain::location::LocationPing,
    events::{Event, EventBus, EventKind, PositionEvent},
    store::{
        Store, StoreError,
        locations::{LocationIngest, PingBatchItem},
    },
};

/// `[pings]`: how pings are gathered into transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Gather concurrent requests into one transaction. Off: each request
    /// is its own transaction (the behaviour before group commit).
    pub group_commit: bool,
    /// Requests waiting for a writer; when full, new requests wait.
    pub queue: usize,
    /// Requests per transaction at most.
    pub max_batch: usize,
    /// How long a writer waits for more requests after the first, in
    /// microseconds (0: takes only what is already queued).
    pub linger_us: u64,
    /// Transactions in flight at once.
    pub writers: usize,
    /// Users whose technician is remembered.
    pub cached_technicians: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            group_commit: true,
            queue: 4096,
            max_batch: 256,
            linger_us: 1000,
            writers: 2,
            cached_technicians: 1_000_000,
        }
    }
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("pings.queue", self.queue),
            ("pings.max_batch", self.max_batch),
            ("pings.writers", self.writers),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.linger_us > 100_000 {
            return Err(ConfigError::invalid(
                "pings.linger_us",
                "must be at most 100000 (0.1 s)",
            ));
        }
        Ok(())
    }
}

/// Why pings were not recorded.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("your user has no technician profile")]
    NoTechnician,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writers stopped (the server is shutting down).
    #[error("ping ingest is shutting down")]
    Stopped,
}

/// One request waiting for its batch.
struct Job {
    tenant_id: Uuid,
    user_id: Uuid,
    technician_id: Uuid,
    pings: Vec<LocationPing>,
    reply: oneshot::Sender<Result<LocationIngest, IngestError>>,
}

/// The handles a batch acts through.
#[derive(Debug, Clone)]
pub struct IngestHandles {
    pub store: Arc<dyn Store>,
    pub dispatch: Arc<DispatchService>,
    pub events: Arc<dyn EventBus>,
}

/// The ping path of one replica: cache, queue and writers.
pub struct PingIngest {
    handles: IngestHandles,
    config: IngestConfig,
    technicians: Arc<TechnicianCache>,
    /// Started on first use, so building the state needs no runtime.
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for PingIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingIngest")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PingIngest {
    pub fn new(handles: IngestHandles, config: IngestConfig) -> Self {
        Self {
            technicians: Arc::new(TechnicianCache::new(config.cached_technicians)),
            handles,
            config,
            queue: OnceLock::new(),
        }
    }

    /// Records `pings` (already validated) for the technician of
    /// `user_id`; answers once they are committed and the index moved.
    pub async fn record(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        pings: Vec<LocationPing>,
    ) -> Result<LocationIngest, IngestError> {
        let technician_id = self.technician_of(tenant_id, user_id).await?;
        if !self.config.group_commit {
            let ingest = self
                .handles
                .store
                .record_locations(tenant_id, technician_id, &pings)
                .await?;
            after_commit(&self.handles, &[(tenant_id, technician_id, &ingest)]).await?;
            return Ok(ingest);
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            tenant_id,
            user_id,
            technician_id,
            pings,
            reply,
        };
        self.sender()
            .send(job)
            .await
            .map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }

    async fn technician_of(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Uuid, IngestError> {
        if let Some(id) = self.technicians.get(tenant_id, user_id) {
            return Ok(id);
        }
        let technician = self
            .handles
            .store
            .technician_for_user(tenant_id, user_id)
            .await?
            .ok_or(IngestError::NoTechnician)?;
        self.technicians.insert(tenant_id, user_id, technician.id);
        Ok(technician.id)
    }

    fn sender(&self) -> &mpsc::Sender<Job> {
        self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(self.config.queue);
            let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
            for _ in 0..self.config.writers {
                tokio::spawn(write_batches(
                    receiver.clone(),
                    self.handles.clone(),
                    self.technicians.clone(),
                    self.config.clone(),
                ));
            }
            sender
        })
    }
}

/// One writer: takes a batch off the queue, writes it, answers it; ends
/// when the queue's sender is gone.
async fn write_batches(
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    handles: IngestHandles,
    technicians: Arc<TechnicianCache>,
    config: IngestConfig,
) {
    let linger = Duration::from_micros(config.linger_us);
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < config.max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) if linger.is_zero() => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(deadline, queue.recv()).await {
                            Ok(Some(job)) => batch.push(job),
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
            }
            batch
        };
        write_batch(&handles, &technicians, batch).await;
    }
}

async fn write_batch(handles: &IngestHandles, technicians: &TechnicianCache, batch: Vec<Job>) {
    let items: Vec<PingBatchItem<'_>> = batch
        .iter()
        .map(|job| PingBatchItem {
            tenant_id: job.tenant_id,
            technician_id: job.technician_id,
            pings: &job.pings,
        })
        .collect();
    let outcomes: Vec<Result<LocationIngest, IngestError>> = match handles
        .store
        .record_location_batch(&items)
        .await
    {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|outcome| outcome.ok_or(IngestError::NoTechnician))
            .collect(),
        Err(error) => {
            // One transaction for all failed: each request on its own, so
            // whatever caused it fails only the request it concerns.
            tracing::warn!(%error, requests = batch.len(), "ping batch failed; retrying its requests one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in &batch {
                let outcome = handles
                    .store
                    .record_locations(job.tenant_id, job.technician_id, &job.pings)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound(_) => IngestError::NoTechnician,
                        other => IngestError::Store(other),
                    });
                outcomes.push(outcome);
            }
            outcomes
        }
    };
    drop(items);
    let committed: Vec<(Uuid, Uuid, &LocationIngest)> = batch
        .iter()
        .zip(&outcomes)
        .filter_map(|(job, outcome)| {
            outcome
                .as_ref()
                .ok()
                .map(|ingest| (job.tenant_id, job.technician_id, ingest))
        })
        .collect();
    if let Err(error) = after_commit(handles, &committed).await {
        // The rows are committed, which is what the answer promises; the
        // index is this replica's cache and the next ping moves it again.
        tracing::warn!(%error, "ping batch committed but the dispatch index was not moved");
    }
    drop(committed);
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        if matches!(outcome, Err(IngestError::NoTechnician)) {
            technicians.forget(job.tenant_id, job.user_id);
        }
        // The client may have gone; its pings are stored all the same.
        let _ = job.reply.send(outcome);
    }
}

/// Moves the index once per technician (to the newest position of the
/// batch) and publishes one event per tenant.
async fn after_commit(
    handles: &IngestHandles,
    committed: &[(Uuid, Uuid, &LocationIngest)],
) -> Result<(), StoreError> {
    let mut newest: BTreeMap<Uuid, HashMap<Uuid, PositionEvent>> = BTreeMap::new();
    for (tenant_id, technician_id, ingest) in committed {
        let Some(position) = &ingest.new_position else {
            continue;
        };
        let fixes = newest.entry(*tenant_id).or_default();
        let newer = fixes
            .get(technician_id)
            .is_none_or(|fix| position.device_time > fix.at);
        if newer {
            fixes.insert(
                *technician_id,
                PositionEvent {
                    technician_id: *technician_id,
                    lat: position.lat,
                    lon: position.lon,
                    at: position.device_time,
                },
            );
        }
    }
    for (tenant_id, fixes) in newest {
        let event = Event::new(
            tenant_id,
            EventKind::Positions {
                fixes: fixes.into_values().collect(),
            },
        );
        handles
            .dispatch
            .apply(handles.store.as_ref(), &event)
            .await?;
        handles.events.publish(event);
    }
    Ok(())
}

/// (tenant, user) → technician, bounded: when full it starts over.
#[derive(Debug)]
struct TechnicianCache {
    capacity: usize,
    entries: Mutex<HashMap<(Uuid, Uuid), Uuid>>,
}

impl TechnicianCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, tenant_id: Uuid, user_id: Uuid) -> Option<Uuid> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(tenant_id, user_id)).copied()
    }

    fn insert(&self, tenant_id: Uuid, user_id: Uuid, technician_id: Uuid) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert((tenant_id, user_id), technician_id);
    }

    fn forget(&self, tenant_id: Uuid, user_id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(tenant_id, user_id));
    }
}
