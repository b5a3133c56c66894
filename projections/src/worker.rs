//! The worker loop: buffer records per partition, apply each batch and its
//! checkpoints in one Postgres transaction, seek to checkpoints on assignment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::resume::{Resume, Saved};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, instrument, warn};

use crate::batch::Record;
use crate::consumer::{Change, GroupConsumer};
use crate::error::Error;
use crate::metrics::{Metrics, ProjectionLabels};
use crate::projector::Projector;
use crate::store;

const SEEK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the worker asks the broker where each partition ends (for lag).
const LOG_END_REFRESH: Duration = Duration::from_secs(1);

/// A partition this worker owns.
struct Part {
    /// The checkpoint: everything before it is applied.
    applied: i64,
    buffer: Vec<Record>,
    first_buffered: Option<Instant>,
    /// The end of the partition as last asked of the broker.
    log_end: i64,
}

impl Part {
    fn expected(&self) -> i64 {
        self.applied + self.buffer.len() as i64
    }
}

pub struct Worker {
    pub consumer: GroupConsumer,
    pub changes: mpsc::UnboundedReceiver<Change>,
    pub pool: PgPool,
    pub brokers: String,
    pub topic: String,
    pub projectors: Vec<Box<dyn Projector>>,
    /// The projectors' names, in order: the checkpoints this worker moves.
    pub names: Vec<&'static str>,
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
}

impl Worker {
    fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Runs until `shutdown`; then applies what is buffered, commits, and leaves the group.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), Error> {
        self.consumer.subscribe(&[&self.topic])?;
        let mut parts: HashMap<i32, Part> = HashMap::new();
        let mut tick = tokio::time::interval(self.batch_wait.max(Duration::from_millis(5)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ends = tokio::time::interval(LOG_END_REFRESH);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(change) = self.changes.recv() => self.on_change(&mut parts, change).await?,
                message = self.consumer.recv() => match message {
                    Ok(message) => {
                        let partition = message.partition();
                        let record = Record {
                            offset: message.offset(),
                            value: message.payload().unwrap_or_default().to_vec(),
                            timestamp_ms: message.timestamp().to_millis(),
                        };
                        self.on_record(&mut parts, partition, record).await;
                    }
                    Err(error) => warn!(%error, "consumer error"),
                },
                _ = tick.tick() => self.flush_due(&mut parts, false).await,
                _ = ends.tick() => self.refresh_log_ends(&mut parts),
            }
        }
        info!("shutting down: applying buffered records");
        self.flush_due(&mut parts, true).await;
        self.consumer.unsubscribe();
        info!("left the group");
        Ok(())
    }

    async fn on_change(&self, parts: &mut HashMap<i32, Part>, change: Change) -> Result<(), Error> {
        match change {
            Change::Revoked(revoked) => {
                for p in revoked {
                    parts.remove(&p);
                }
            }
            Change::Assigned(assigned) => {
                let (saved, judged) = self.judge(&assigned).await;
                let mut refused = false;
                for ((p, position), (_, resume)) in saved.into_iter().zip(judged) {
                    let applied = position.next_offset;
                    match resume {
                        Resume::Foreign(why) => {
                            error!(
                                partition = p,
                                checkpoint = applied,
                                "refusing to carry on: {why}. These read models were built from another log: \
                                 point the workers at that log, or build them from this one in a new database"
                            );
                            refused = true;
                            continue;
                        }
                        Resume::Unproven(why) => {
                            info!(partition = p, checkpoint = applied, "carrying on unproven: {why}")
                        }
                        Resume::FromStart | Resume::Proven | Resume::Check(_) => {}
                    }
                    self.seek(p, applied);
                    parts.insert(p, Part { applied, buffer: Vec::new(), first_buffered: None, log_end: applied });
                }
                info!(partitions = ?parts.keys().collect::<Vec<_>>(), "assignment");
                self.ready.store(!refused, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The checkpoints of `assigned`, and whether the log proves each
    /// (docs/log-protocol.md §11). Asked again while Postgres or the broker is
    /// unreachable: a missing dependency is waited for.
    async fn judge(&self, assigned: &[i32]) -> (Vec<(i32, Saved)>, Vec<(i32, Resume)>) {
        let mut pause = Duration::from_millis(200);
        loop {
            let attempt = async {
                let mut saved = Vec::with_capacity(assigned.len());
                for &p in assigned {
                    saved.push((p, store::checkpoint(&self.pool, self.names(), &self.topic, p).await?));
                }
                let judged = ledger_runtime::resume::prove(&self.brokers, &self.topic, &saved).await?;
                Ok::<_, Error>((saved, judged))
            };
            match attempt.await {
                Ok(answer) => return answer,
                Err(error) => warn!(%error, "cannot check the checkpoints against the log yet; asking again"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    fn seek(&self, partition: i32, offset: i64) {
        if let Err(error) = self.consumer.seek(&self.topic, partition, Offset::Offset(offset), SEEK_TIMEOUT) {
            // The next record that is not the expected one triggers another seek.
            debug!(partition, offset, %error, "seek deferred");
        }
    }

    async fn on_record(&self, parts: &mut HashMap<i32, Part>, partition: i32, record: Record) {
        let Some(part) = parts.get_mut(&partition) else { return };
        let expected = part.expected();
        if record.offset < expected {
            return; // fetched before the seek took effect: already applied
        }
        if record.offset > expected {
            debug!(partition, expected, got = record.offset, "record past the checkpoint: seeking back");
            self.seek(partition, expected);
            return;
        }
        part.first_buffered.get_or_insert_with(Instant::now);
        part.buffer.push(record);
        if part.buffer.len() >= self.batch_max {
            self.flush(partition, part).await;
        }
    }

    async fn flush_due(&self, parts: &mut HashMap<i32, Part>, all: bool) {
        for (partition, part) in parts.iter_mut() {
            let due = part.first_buffered.is_some_and(|t| t.elapsed() >= self.batch_wait);
            if !part.buffer.is_empty() && (all || due) {
                self.flush(*partition, part).await;
            }
            self.observe(*partition, part);
        }
    }

    /// Applies the buffered records of one partition.
    #[instrument(name = "projection.batch", skip_all, fields(partition, from = part.applied, records = part.buffer.len()))]
    async fn flush(&self, partition: i32, part: &mut Part) {
        let records = std::mem::take(&mut part.buffer);
        part.first_buffered = None;
        let from = part.applied;
        let to = from + records.len() as i64;
        let log_end = part.log_end.max(to);
        let started = Instant::now();
        match self.apply(partition, from, to, log_end, &records).await {
            Ok(events) => {
                part.applied = to;
                let took = started.elapsed().as_secs_f64();
                for name in self.names() {
                    let projection = ProjectionLabels { projection: (*name).to_owned() };
                    self.metrics.apply_seconds.get_or_create(&projection).observe(took);
                    let labels = Metrics::labels(name, partition);
                    self.metrics.batches.get_or_create(&labels).inc();
                    self.metrics.events.get_or_create(&labels).inc_by(events as u64);
                }
                let mut offsets = TopicPartitionList::new();
                if offsets.add_partition_offset(&self.topic, partition, Offset::Offset(to)).is_ok() {
                    let _ = self.consumer.commit(&offsets, CommitMode::Async);
                }
            }
            Err(error) => {
                for name in self.names() {
                    self.metrics.errors.get_or_create(&Metrics::labels(name, partition)).inc();
                }
                let applied = match &error {
                    Error::LostPartition { .. } => {
                        info!(%error, "checkpoint moved: reloading it");
                        store::checkpoint(&self.pool, self.names(), &self.topic, partition)
                            .await
                            .map_or(from, |saved| saved.next_offset)
                    }
                    _ => {
                        warn!(%error, "batch failed: retrying from the checkpoint");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        from
                    }
                };
                part.applied = applied;
                self.seek(partition, applied);
            }
        }
    }

    /// One transaction: fold, write every read model, move the checkpoints.
    async fn apply(
        &self,
        partition: i32,
        from: i64,
        to: i64,
        log_end: i64,
        records: &[Record],
    ) -> Result<usize, Error> {
        let mut tx = self.pool.begin().await?;
        let folded = store::fold_batch(&mut tx, &self.topic, partition, records).await?;
        // This batch's span is linked to the trace of every commit it applies.
        let span = tracing::Span::current();
        for accepted in &folded.accepted {
            if let Some(traceparent) = accepted.commit.metadata.extra.get("traceparent").and_then(|v| v.as_str()) {
                ledger_runtime::trace::link(&span, traceparent);
            }
        }
        for projector in &self.projectors {
            projector.apply(&mut tx, &folded).await?;
        }
        let last_commit = records.last().and_then(|r| events::Commit::decode(&r.value).ok()).map(|c| c.commit_id);
        if !store::advance(&mut tx, self.names(), &self.topic, partition, from, to, log_end, last_commit).await? {
            tx.rollback().await?;
            return Err(Error::LostPartition { partition, expected: from });
        }
        tx.commit().await?;
        debug!(events = folded.events(), rejected = folded.rejected, "batch applied");
        Ok(folded.events())
    }

    fn refresh_log_ends(&self, parts: &mut HashMap<i32, Part>) {
        for (partition, part) in parts.iter_mut() {
            let fetched = tokio::task::block_in_place(|| {
                self.consumer.fetch_watermarks(&self.topic, *partition, Duration::from_millis(500))
            });
            if let Ok((_, high)) = fetched {
                part.log_end = high;
            }
            self.observe(*partition, part);
        }
    }

    fn observe(&self, partition: i32, part: &Part) {
        let end = part.log_end.max(part.applied);
        let now_ms = chrono::Utc::now().timestamp_millis();
        // Age of the oldest unapplied commit: known when it is buffered; unknown
        // (left as it was) when the worker has not fetched it yet.
        let age = match part.buffer.first().and_then(|r| r.timestamp_ms) {
            Some(ts) => Some((now_ms - ts).max(0) as f64 / 1000.0),
            None if end == part.applied => Some(0.0),
            None => None,
        };
        for name in self.names() {
            let labels = Metrics::labels(name, partition);
            self.metrics.checkpoint.get_or_create(&labels).set(part.applied);
            self.metrics.log_end.get_or_create(&labels).set(end);
            self.metrics.lag_records.get_or_create(&labels).set(end - part.applied);
            if let Some(age) = age {
                self.metrics.lag_seconds.get_or_create(&labels).set(age);
            }
        }
    }
}
