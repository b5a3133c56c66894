//! The partition writer: one task per partition, group commit, and the offset
//! check that proves a commit was accepted before anyone is told so.
//!
//! Each batch is decided against the state left by the batches still in flight
//! and by the previous commands of the batch, sent as one commit record per
//! command, and answered only after its delivery reports are in. Up to
//! `pipeline_depth` batches are in flight at once; they are proven in the order
//! they were sent. A report at exactly the offset the writer expected proves
//! that nothing foreign came in between, so the commit is accepted. At the first
//! gap or failure the writer waits for every batch in flight, stops trusting its
//! own view, reads the log from the last proven offset, folds it with the fold
//! rule, and answers every unproven commit by what the fold says.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rdkafka::consumer::StreamConsumer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};
use uuid::Uuid;

use crate::directory::Directory;
use crate::error::{Error, Refusal};
use crate::flight::{answer_all, oldest, InFlight};
use crate::metrics::{PartitionGauges, WriterMetrics};
use crate::partitions::Partitions;
use crate::pending::{Pending, View};
use crate::plan::{Outcome, Plan, Request};
use crate::recovery::Parked;
use crate::send::{enqueue, DeliveryFailure, SharedProducer};
use crate::snapshot::Snapshotter;
use crate::state::PartitionState;
use crate::subjects;
use crate::verdict;
use ledger_runtime::kafka;
use ledger_runtime::keys::SubjectKeys;

/// What a writer needs from the outside world.
pub struct WriterConfig {
    pub brokers: String,
    pub topic: String,
    pub batch_max: usize,
    /// Batches in flight at once (at least 1).
    pub pipeline_depth: usize,
    pub metrics: Arc<WriterMetrics>,
    /// The data subjects' keys: personal fields are sealed with them.
    pub keys: Arc<SubjectKeys>,
    /// Keys command fingerprints ([`subjects::fingerprint_key`]).
    pub fingerprint_key: [u8; 32],
}

impl WriterConfig {
    pub fn new(config: &crate::config::Config, metrics: Arc<WriterMetrics>, keys: Arc<SubjectKeys>) -> Self {
        Self {
            brokers: config.log.kafka_brokers.clone(),
            topic: config.log.events_topic.clone(),
            batch_max: config.batch_max,
            pipeline_depth: usize::from(config.pipeline_depth),
            metrics,
            fingerprint_key: subjects::fingerprint_key(&keys),
            keys,
        }
    }
}

pub struct Writer {
    config: Arc<WriterConfig>,
    /// Proven: the fold of the partition up to `state.next_offset`.
    state: PartitionState,
    /// What the batches in flight will add to `state` if the log accepts them.
    pending: Pending,
    in_flight: VecDeque<InFlight>,
    producer: Arc<SharedProducer>,
    reader: Option<StreamConsumer>,
    snapshots: Snapshotter,
    /// Told of every commit the fold accepts.
    directory: Arc<Directory>,
    /// Told how many accounts the partition holds.
    partitions: Arc<Partitions>,
    /// The state may be behind the log (after a failed delivery or read): resync before deciding.
    stale: bool,
    /// A batch in flight could not be queued whole: send nothing more until it is settled.
    broken: bool,
    gauges: PartitionGauges,
}

impl Writer {
    pub fn new(
        config: Arc<WriterConfig>,
        state: PartitionState,
        producer: Arc<SharedProducer>,
        snapshots: Snapshotter,
        directory: Arc<Directory>,
        partitions: Arc<Partitions>,
    ) -> Self {
        let gauges = config.metrics.partition(state.partition);
        Self {
            config,
            state,
            pending: Pending::default(),
            in_flight: VecDeque::new(),
            producer,
            reader: None,
            snapshots,
            directory,
            partitions,
            stale: false,
            broken: false,
            gauges,
        }
    }

    /// Takes batches until `stop` (shutdown, or the partition is revoked), then
    /// proves and answers what is in flight, and hands the state back.
    #[instrument(skip_all, fields(partition = self.state.partition))]
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>, stop: CancellationToken) -> Parked {
        let depth = self.config.pipeline_depth.max(1);
        let mut batch = Vec::with_capacity(self.config.batch_max);
        // A batch that may only be planned on proven state, waiting for the pipeline to empty.
        let mut held: Option<Vec<Request>> = None;
        let mut closing = false;
        self.snapshots.maybe_take(&mut self.state);
        loop {
            if self.in_flight.is_empty() {
                if let Some(waiting) = held.take() {
                    self.launch_on_proven_state(waiting).await;
                    continue;
                }
                if closing {
                    break;
                }
            }
            let settling = !self.in_flight.is_empty();
            let taking = !closing && held.is_none() && self.in_flight.len() < depth;
            tokio::select! {
                biased;
                deliveries = oldest(&mut self.in_flight), if settling => {
                    let mut again = self.settle(deliveries).await;
                    if !again.is_empty() {
                        again.extend(held.take().unwrap_or_default());
                        held = Some(again);
                    }
                    self.snapshots.maybe_take(&mut self.state);
                    self.observe();
                }
                received = requests.recv_many(&mut batch, self.config.batch_max), if taking => {
                    if received == 0 {
                        closing = true;
                    } else {
                        held = self.launch(std::mem::take(&mut batch)).await;
                    }
                }
                () = stop.cancelled(), if !closing => closing = true,
            }
        }
        // The next owner (or this instance, if the partition comes back) starts from here.
        self.snapshots.hand_over(&mut self.state).await;
        debug!("partition writer stopped");
        Parked { snapshot_offset: self.snapshots.last_offset(), state: self.state }
    }

    /// Plans and sends a batch behind the ones in flight, or hands it back when
    /// it can only be planned on proven state.
    async fn launch(&mut self, batch: Vec<Request>) -> Option<Vec<Request>> {
        if self.in_flight.is_empty() {
            self.launch_on_proven_state(batch).await;
            return None;
        }
        if self.stale || self.broken {
            return Some(batch);
        }
        let Some(planned) =
            subjects::plan_with_keys(&self.config.keys, self.config.fingerprint_key, &self.view(), &batch).await
        else {
            answer_all(batch, Refusal::Unavailable("the key store is unavailable".into()));
            return None;
        };
        if planned.needs_proven_state() {
            return Some(batch);
        }
        self.send(batch, planned);
        None
    }

    /// Nothing is in flight: plans on the proven state and sends. A plan that
    /// refuses and sends nothing has no offset to prove its view by, so the
    /// log's end is checked first.
    async fn launch_on_proven_state(&mut self, batch: Vec<Request>) {
        debug_assert!(self.in_flight.is_empty() && self.pending.is_empty());
        if self.stale {
            if let Err(error) = self.resync().await {
                warn!(%error, "partition is behind the log and cannot catch up");
                return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into()));
            }
        }
        let Some(mut planned) =
            subjects::plan_with_keys(&self.config.keys, self.config.fingerprint_key, &self.view(), &batch).await
        else {
            return answer_all(batch, Refusal::Unavailable("the key store is unavailable".into()));
        };
        if planned.has_refusals && planned.commits.is_empty() {
            // A refusal must not come from a stale view: check the log end first.
            match kafka::end_offset(&self.producer.get(), &self.config.topic, self.state.partition).await {
                Ok(end) if end > self.state.next_offset => match self.resync().await {
                    Ok(_) => match subjects::plan_with_keys(
                        &self.config.keys,
                        self.config.fingerprint_key,
                        &self.view(),
                        &batch,
                    )
                    .await
                    {
                        Some(again) => planned = again,
                        None => return answer_all(batch, Refusal::Unavailable("the key store is unavailable".into())),
                    },
                    Err(_) => return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into())),
                },
                Ok(_) => {}
                Err(_) => return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into())),
            }
        }
        self.send(batch, planned);
    }

    /// The proven state with the batches in flight on top.
    fn view(&self) -> View<'_> {
        View { proven: &self.state, pending: &self.pending }
    }

    /// Queues the plan's commits behind everything in flight.
    fn send(&mut self, requests: Vec<Request>, planned: Plan) {
        self.config.metrics.batch_size.observe(planned.commits.len() as f64);
        let (deliveries, queued) =
            enqueue(&self.producer.get(), &self.config.topic, self.state.partition, &planned.commits);
        self.broken |= !queued;
        self.pending.add(&planned.accounts, &planned.commits);
        self.in_flight.push_back(InFlight {
            requests,
            decisions: planned.decisions,
            commits: planned.commits,
            deliveries,
            sent: Instant::now(),
        });
        self.gauges.in_flight.set(self.in_flight.len() as i64);
    }

    /// Publishes what the partition holds, after a batch is settled.
    fn observe(&self) {
        let state = &self.state;
        self.partitions.set_aggregates(state.partition, state.entries.len());
        self.gauges.in_flight.set(self.in_flight.len() as i64);
        self.gauges.next_offset.set(state.next_offset);
        self.gauges.keys.set(state.keys() as i64);
    }

    /// The oldest batch's reports are in: proves it, or settles everything in
    /// flight by the log. Returns the requests to decide again on proven state.
    async fn settle(&mut self, deliveries: Vec<Result<i64, DeliveryFailure>>) -> Vec<Request> {
        let flight = self.in_flight.pop_front().expect("settling the oldest batch in flight");
        self.config.metrics.delivery.observe(flight.sent.elapsed().as_secs_f64());
        let mut outcomes = Vec::with_capacity(flight.commits.len());
        for (commit, delivery) in flight.commits.iter().zip(&deliveries) {
            match delivery {
                Ok(offset) if *offset == self.state.next_offset => {
                    // Contiguous: the fold up to here is exactly what the commit was decided
                    // against, so the fold rule accepts it. Ask it anyway: it is the judge.
                    let accepted = self.state.fold(*offset, commit).is_accepted();
                    if accepted {
                        self.directory.observe(self.state.partition, commit);
                    }
                    outcomes.push(self.judged(*offset, commit, accepted));
                }
                _ => break,
            }
        }
        if outcomes.len() == flight.commits.len() {
            // Every commit sits where the plan put it: the view each decision of the
            // batch was made on is the log as it stood, after the requests arrived.
            self.pending.release(&flight.commits);
            return flight.answer(outcomes, true);
        }
        warn!(
            expected_offset = self.state.next_offset,
            delivered = ?deliveries.get(outcomes.len()),
            unproven = flight.commits.len() - outcomes.len(),
            batches_behind = self.in_flight.len(),
            "delivery offsets do not prove the batch; reading the log to decide"
        );
        self.config.metrics.resyncs.inc();
        self.producer.renew_if_fatal();
        // Every later batch was planned on top of this one: wait for all their
        // reports so that the log's end covers whatever they wrote, then judge all.
        let mut flights = vec![(flight, outcomes)];
        for mut later in std::mem::take(&mut self.in_flight) {
            let _ = (&mut later.deliveries).await;
            flights.push((later, Vec::new()));
        }
        self.pending.clear();
        self.broken = false;
        let seen = self.resync().await;
        if let Err(error) = &seen {
            warn!(%error, "cannot read the log after an unproven delivery");
        }
        let mut again = Vec::new();
        for (flight, mut outcomes) in flights {
            let rest = &flight.commits[outcomes.len()..];
            outcomes.extend(rest.iter().map(|commit| match &seen {
                // Judged against the state folded to the log's end: an attempt of the same
                // command that another writer got accepted is in it (crate::verdict).
                Ok(seen) => match seen.get(&commit.commit_id) {
                    Some(&(offset, accepted)) => self.judged(offset, commit, accepted),
                    None => Err(Refusal::Unavailable("the commit could not be written to the events log".into())),
                },
                Err(_) => Err(Refusal::Unavailable("the events log is unavailable".into())),
            }));
            again.extend(flight.answer(outcomes, false));
        }
        again
    }

    /// The answer for a commit of this writer the fold judged at `offset`, counted.
    fn judged(&self, offset: i64, commit: &events::Commit, accepted: bool) -> Outcome {
        let outcome = verdict::answer(&self.state, offset, commit, accepted);
        match &outcome {
            Ok(reply) if !reply.replayed => self.config.metrics.accepted.inc(),
            Ok(_) => self.config.metrics.lost_to_own_retry.inc(),
            Err(Refusal::WriteConflict { .. }) => self.config.metrics.write_conflicts.inc(),
            Err(_) => 0,
        };
        outcome
    }

    /// Folds the log from the last proven offset to its current end. Returns,
    /// per commit id seen, its offset and whether the fold rule accepted it.
    async fn resync(&mut self) -> Result<HashMap<Uuid, (i64, bool)>, Error> {
        self.stale = true;
        let end = kafka::end_offset(&self.producer.get(), &self.config.topic, self.state.partition).await?;
        if self.reader.is_none() {
            self.reader = Some(kafka::reader(&self.config.brokers)?);
        }
        let reader = self.reader.as_ref().expect("reader was just created");
        let from = self.state.next_offset;
        let mut seen = HashMap::new();
        let (state, directory, rejected) = (&mut self.state, &self.directory, &self.config.metrics.resync_rejected);
        let partition = state.partition;
        kafka::read_ranges(reader, &self.config.topic, &[(state.partition, from, end)], |_, offset, bytes| {
            if let Some((commit, verdict)) = state.fold_record(offset, bytes) {
                if verdict.is_accepted() {
                    directory.observe(partition, &commit);
                } else {
                    rejected.inc();
                }
                seen.entry(commit.commit_id).or_insert((offset, verdict.is_accepted()));
            }
        })
        .await?;
        self.state.reach(end);
        self.stale = false;
        if end <= from {
            warn!(from, end, "the log end is not past the last proven offset");
        }
        debug!(from, to = end, "resynced partition from the log");
        Ok(seen)
    }
}
