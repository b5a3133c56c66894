//! How instances find each other: each publishes its advertised URL and the
//! partitions the group gave it in Postgres (`command_instances`), every half
//! second and at once after each rebalance, and reads everybody else's.
//!
//! The table is a directory, not the source of ownership: the consumer group
//! decides who owns a partition, and the offsets prove every acknowledgement.
//! A stale or wrong entry costs a forwarded request a `503` and a retry,
//! never a wrong answer: an instance that does not own a partition forwards
//! nothing further and writes nothing for it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::error::Error;
use crate::partitions::Partitions;
use crate::store::{self, InstanceRow};

/// How often this instance publishes itself and reads the others.
const REFRESH: Duration = Duration::from_millis(500);
/// Requests that find the directory stale read it again at most this often
/// between them (during a failover every request for a moved partition would).
const REREAD_AFTER: Duration = Duration::from_millis(100);

/// One live instance, as `GET /v1/cluster` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Instance {
    pub instance_id: Uuid,
    pub url: String,
    pub partitions: Vec<i32>,
    /// Accounts whose state the instance holds.
    pub aggregates: i64,
    /// The ownership generation of its current assignment.
    pub generation: i64,
    /// Milliseconds since it last published itself.
    pub last_seen_ms: i64,
}

/// The cluster as this instance last read it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterView {
    pub instances: Vec<Instance>,
    /// The newest ownership generation among live instances.
    pub generation: i64,
}

pub struct Registry {
    pool: PgPool,
    topic: String,
    pub instance_id: Uuid,
    pub url: String,
    /// A row older than this is not live (the group's session timeout).
    live_ms: i64,
    generation: AtomicI64,
    view: RwLock<ClusterView>,
    /// When the view was last read, and one reader at a time for `refresh_soon`.
    read_at: std::sync::Mutex<Instant>,
    rereading: tokio::sync::Mutex<()>,
}

impl Registry {
    pub fn new(pool: PgPool, topic: String, url: String, session_timeout: Duration) -> Self {
        Self {
            pool,
            topic,
            instance_id: Uuid::now_v7(),
            url,
            live_ms: session_timeout.as_millis() as i64,
            generation: AtomicI64::new(0),
            view: RwLock::default(),
            read_at: std::sync::Mutex::new(Instant::now().checked_sub(REREAD_AFTER).unwrap_or_else(Instant::now)),
            rereading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn view(&self) -> ClusterView {
        self.view.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The URL of the live instance that claims `partition` with the newest
    /// generation, if it is not this one.
    pub fn owner_of(&self, partition: i32) -> Option<String> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.instances
            .iter()
            .filter(|i| i.partitions.contains(&partition))
            .max_by_key(|i| i.generation)
            .filter(|i| i.instance_id != self.instance_id)
            .map(|i| i.url.clone())
    }

    /// The other live instances, and whether the live instances together claim every partition.
    pub fn peers(&self, partitions: i32) -> (Vec<String>, bool) {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let covered = (0..partitions).all(|p| view.instances.iter().any(|i| i.partitions.contains(&p)));
        let peers = view.instances.iter().filter(|i| i.instance_id != self.instance_id).map(|i| i.url.clone());
        (peers.collect(), covered)
    }

    /// Takes a new generation for an assignment just received.
    pub async fn new_generation(&self) -> Result<i64, Error> {
        let generation = store::next_generation(&self.pool).await?;
        self.generation.store(generation, Ordering::Release);
        Ok(generation)
    }

    /// Publishes this instance's partitions and reads every live instance.
    pub async fn sync(&self, partitions: &Partitions) -> Result<(), Error> {
        let row = InstanceRow {
            instance_id: self.instance_id,
            url: self.url.clone(),
            partitions: partitions.owned(),
            generation: self.generation.load(Ordering::Acquire),
            aggregates: partitions.aggregates() as i64,
            age_ms: 0,
        };
        store::publish_instance(&self.pool, &row, &self.topic).await?;
        self.refresh().await
    }

    /// Reads the directory again unless it was read within `REREAD_AFTER`;
    /// concurrent callers share one read.
    pub async fn refresh_soon(&self) {
        let _one = self.rereading.lock().await;
        if self.read_at.lock().unwrap_or_else(PoisonError::into_inner).elapsed() < REREAD_AFTER {
            return;
        }
        if let Err(error) = self.refresh().await {
            warn!(%error, "cannot read the cluster directory");
        }
    }

    /// Reads every live instance.
    pub async fn refresh(&self) -> Result<(), Error> {
        let rows = store::live_instances(&self.pool, &self.topic, self.live_ms).await?;
        let instances: Vec<Instance> = rows
            .into_iter()
            // Another instance id at this instance's own URL is its predecessor (killed and
            // restarted on the same address): it serves nothing, whatever its row still says.
            .filter(|r| r.instance_id == self.instance_id || r.url != self.url)
            .map(|r| Instance {
                instance_id: r.instance_id,
                url: r.url,
                partitions: r.partitions,
                aggregates: r.aggregates,
                generation: r.generation,
                last_seen_ms: r.age_ms,
            })
            .collect();
        let generation = instances.iter().map(|i| i.generation).max().unwrap_or(0);
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = ClusterView { instances, generation };
        *self.read_at.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        Ok(())
    }

    /// Keeps publishing until `stop`, then removes this instance's row.
    pub async fn run(self: Arc<Self>, partitions: Arc<Partitions>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(REFRESH);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => break,
            }
            if let Err(error) = self.sync(&partitions).await {
                warn!(%error, "cannot publish this instance to the cluster directory; retrying");
            }
        }
        match store::retire_instance(&self.pool, self.instance_id).await {
            Ok(()) => debug!("left the cluster directory"),
            Err(error) => warn!(%error, "cannot remove this instance from the cluster directory"),
        }
    }
}
