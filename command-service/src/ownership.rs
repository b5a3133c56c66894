//! The life of each partition on this instance, driven by the writers' group:
//! assigned → loaded (kept state, or snapshot, plus the log tail) → served by
//! its writer → revoked (in-flight commits proven and answered, state parked)
//! → served again if the next assignment gives it back, dropped otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use crate::cluster::membership::Change;
use crate::cluster::registry::Registry;
use crate::config::Config;
use crate::directory::Directory;
use crate::error::Error;
use crate::partitions::{Partitions, Slot};
use crate::recovery::{load, Parked, RecoveryReport, Source};
use crate::send::SharedProducer;
use crate::snapshot::Snapshotter;
use crate::writer::{Writer, WriterConfig};

/// Requests queued per partition before callers wait.
const QUEUE_DEPTH: usize = 4096;

struct Running {
    stop: CancellationToken,
    task: JoinHandle<Parked>,
}

/// A finished load, with the epoch of the assignment it was for.
type Loaded = (u64, Result<(Vec<Parked>, RecoveryReport), Error>);

pub struct Ownership {
    config: Config,
    writer_config: Arc<WriterConfig>,
    pool: PgPool,
    producer: Arc<SharedProducer>,
    partitions: Arc<Partitions>,
    directory: Arc<Directory>,
    registry: Arc<Registry>,
    running: HashMap<i32, Running>,
    /// States of revoked partitions, until the next assignment says whether they come back.
    parked: HashMap<i32, Parked>,
    /// The load of the current assignment, if it is still running.
    loading: Option<JoinHandle<()>>,
    /// Counts assignments; a load for an older one is dropped.
    epoch: u64,
    loaded: (mpsc::UnboundedSender<Loaded>, mpsc::UnboundedReceiver<Loaded>),
}

impl Ownership {
    pub fn new(
        config: Config,
        pool: PgPool,
        producer: Arc<SharedProducer>,
        partitions: Arc<Partitions>,
        directory: Arc<Directory>,
        registry: Arc<Registry>,
        writer_config: Arc<WriterConfig>,
    ) -> Self {
        Self {
            config,
            writer_config,
            pool,
            producer,
            partitions,
            directory,
            registry,
            running: HashMap::new(),
            parked: HashMap::new(),
            loading: None,
            epoch: 0,
            loaded: mpsc::unbounded_channel(),
        }
    }

    /// Follows the group's changes until the membership ends (on shutdown,
    /// after the last revocation), then stops whatever is still running.
    pub async fn run(mut self, mut changes: mpsc::UnboundedReceiver<Change>) {
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(Change::Assigned(assigned)) => self.assign(assigned).await,
                    Some(Change::Revoked(revoked, ack)) => {
                        self.revoke(revoked).await;
                        let _ = ack.send(());
                    }
                    None => break,
                },
                Some((epoch, loaded)) = self.loaded.1.recv() => {
                    if epoch != self.epoch {
                        continue;
                    }
                    self.loading = None;
                    match loaded {
                        Ok((parked, report)) => self.serve(parked, &report),
                        Err(error) => {
                            let owned = self.partitions.owned();
                            warn!(%error, partitions = ?owned, "cannot load the assigned partitions; retrying");
                            self.spawn_load(owned, HashMap::new(), Duration::from_secs(1));
                        }
                    }
                }
            }
        }
        self.revoke(None).await;
    }

    #[instrument(skip_all, fields(partitions = ?assigned))]
    async fn assign(&mut self, assigned: Vec<i32>) {
        self.partitions.mark_joined();
        if let Err(error) = self.registry.new_generation().await {
            warn!(%error, "no new ownership generation: peers keep the last one until this instance publishes");
        }
        self.parked.retain(|p, _| assigned.contains(p));
        if assigned.is_empty() {
            self.publish().await;
            return;
        }
        for &p in &assigned {
            self.partitions.set(p, Slot::Loading);
        }
        self.publish().await;
        let kept = std::mem::take(&mut self.parked);
        self.spawn_load(assigned, kept, Duration::ZERO);
    }

    /// Loads `partitions` in the background, after `delay`.
    fn spawn_load(&mut self, partitions: Vec<i32>, kept: HashMap<i32, Parked>, delay: Duration) {
        self.epoch += 1;
        let (epoch, done) = (self.epoch, self.loaded.0.clone());
        let (config, pool, producer) = (self.config.clone(), self.pool.clone(), Arc::clone(&self.producer));
        self.loading = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let source = Source {
                brokers: &config.log.kafka_brokers,
                topic: &config.log.events_topic,
                pool: &pool,
                producer: &producer,
                use_snapshots: !config.ignore_snapshots,
            };
            let _ = done.send((epoch, load(&source, &partitions, kept).await));
        }));
    }

    /// Starts a writer for each loaded partition.
    fn serve(&mut self, parked: Vec<Parked>, report: &RecoveryReport) {
        self.partitions.add_to_report(report);
        for part in parked {
            let partition = part.state.partition;
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            self.directory.load(&part.state);
            self.partitions.set_aggregates(partition, part.state.entries.len());
            self.writer_config.metrics.snapshot_loaded(partition, part.snapshot_offset);
            let snapshots = Snapshotter::new(
                self.pool.clone(),
                self.config.log.events_topic.clone(),
                (self.config.snapshot_every, self.config.idempotency_window()),
                part.snapshot_offset,
                Arc::clone(&self.writer_config.metrics),
            );
            let writer = Writer::new(
                Arc::clone(&self.writer_config),
                part.state,
                Arc::clone(&self.producer),
                snapshots,
                Arc::clone(&self.directory),
                Arc::clone(&self.partitions),
            );
            let stop = CancellationToken::new();
            let task = tokio::spawn(writer.run(receiver, stop.clone()));
            self.running.insert(partition, Running { stop, task });
            self.partitions.set(partition, Slot::Serving(sender));
        }
        info!(partitions = ?self.partitions.owned(), "serving");
    }

    /// Stops serving `revoked` (every partition when `None`): nothing new is
    /// taken, what is in flight is proven and answered, the state is parked.
    #[instrument(skip_all, fields(partitions = ?revoked))]
    async fn revoke(&mut self, revoked: Option<Vec<i32>>) {
        let revoked = revoked.unwrap_or_else(|| (0..self.partitions.count()).collect());
        if let Some(loading) = self.loading.take() {
            loading.abort();
            self.epoch += 1;
        }
        let mut stopping = Vec::new();
        for &p in &revoked {
            if let Some(running) = self.running.remove(&p) {
                self.partitions.set(p, Slot::Stopping);
                running.stop.cancel();
                stopping.push(running.task);
            } else {
                self.partitions.set(p, Slot::Away);
            }
        }
        for task in stopping {
            match task.await {
                Ok(parked) => {
                    let p = parked.state.partition;
                    self.parked.insert(p, parked);
                }
                Err(error) => warn!(%error, "a partition writer failed"),
            }
        }
        for &p in &revoked {
            self.writer_config.metrics.forget(p);
            self.directory.forget(p);
            self.partitions.set(p, Slot::Away);
        }
        self.publish().await;
    }

    async fn publish(&self) {
        if let Err(error) = self.registry.sync(&self.partitions).await {
            warn!(%error, "cannot publish the new assignment; the next refresh will");
        }
    }
}
