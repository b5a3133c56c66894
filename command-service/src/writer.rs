//! The partition writer: one task per partition, group commit, and the offset
//! check that proves a commit was accepted before anyone is told so.
//!
//! Each batch is decided against the state left by the previous command of the
//! batch, sent as one commit record per command, and answered only after every
//! delivery report is in. A report at exactly the offset the writer expected
//! proves that nothing foreign came in between, so the commit is accepted. At
//! the first gap or failure the writer stops trusting its own view, reads the
//! log from the last proven offset, folds it with the fold rule, and answers the
//! rest by what the fold says.

use std::collections::HashMap;
use std::sync::Arc;

use events::Commit;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};
use uuid::Uuid;

use crate::error::{Error, Refusal};
use crate::plan::{plan, Decision, Outcome, Reply, Request};
use crate::send::send_all;
use crate::snapshot::Snapshotter;
use crate::state::PartitionState;
use ledger_runtime::kafka;

/// What a writer needs from the outside world.
pub struct WriterConfig {
    pub brokers: String,
    pub topic: String,
    pub batch_max: usize,
}

pub struct Writer {
    config: Arc<WriterConfig>,
    state: PartitionState,
    producer: Arc<FutureProducer>,
    reader: Option<StreamConsumer>,
    snapshots: Snapshotter,
    /// The state may be behind the log (after a failed delivery or read): resync before deciding.
    stale: bool,
}

impl Writer {
    pub fn new(
        config: Arc<WriterConfig>,
        state: PartitionState,
        producer: Arc<FutureProducer>,
        snapshots: Snapshotter,
    ) -> Self {
        Self { config, state, producer, reader: None, snapshots, stale: false }
    }

    /// Drains batches until shutdown, then answers nothing more.
    #[instrument(skip_all, fields(partition = self.state.partition))]
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(self.config.batch_max);
        self.snapshots.maybe_take(&mut self.state);
        loop {
            let received = tokio::select! {
                biased;
                n = requests.recv_many(&mut batch, self.config.batch_max) => n,
                () = shutdown.cancelled() => 0,
            };
            if received == 0 {
                break;
            }
            self.process(std::mem::take(&mut batch)).await;
            self.snapshots.maybe_take(&mut self.state);
        }
        self.snapshots.maybe_take(&mut self.state);
        debug!("partition writer stopped");
    }

    async fn process(&mut self, batch: Vec<Request>) {
        if self.stale {
            if let Err(error) = self.resync().await {
                warn!(%error, "partition is behind the log and cannot catch up");
                return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into()));
            }
        }
        let mut planned = plan(&self.state, &batch);
        if planned.has_refusals {
            // A refusal must not come from a stale view: check the log end first.
            match kafka::end_offset(&self.producer, &self.config.topic, self.state.partition).await {
                Ok(end) if end > self.state.next_offset => match self.resync().await {
                    Ok(_) => planned = plan(&self.state, &batch),
                    Err(_) => return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into())),
                },
                Ok(_) => {}
                Err(_) => return answer_all(batch, Refusal::Unavailable("the events log is unavailable".into())),
            }
        }
        let outcomes = self.commit(&planned.commits).await;
        for (request, decision) in batch.into_iter().zip(planned.decisions) {
            let outcome = match decision {
                Decision::Answer(outcome) => outcome,
                Decision::Send(i) => outcomes[i].clone(),
                Decision::Join(i) => outcomes[i].clone().map(|r| Reply { replayed: true, ..r }),
            };
            let _ = request.reply.send(outcome);
        }
    }

    /// Sends the commits and returns, for each, what the log decided.
    async fn commit(&mut self, commits: &[Commit]) -> Vec<Outcome> {
        if commits.is_empty() {
            return Vec::new();
        }
        let deliveries = send_all(&self.producer, &self.config.topic, self.state.partition, commits).await;
        let mut outcomes = Vec::with_capacity(commits.len());
        for (commit, delivery) in commits.iter().zip(&deliveries) {
            match delivery {
                Ok(offset) if *offset == self.state.next_offset => {
                    // Contiguous: the fold up to here is exactly what the batch was decided
                    // against, so the fold rule accepts it. Ask it anyway: it is the judge.
                    let outcome = if self.state.fold(*offset, commit).is_accepted() {
                        Ok(Reply { receipt: self.state.receipt(*offset, commit), replayed: false })
                    } else {
                        Err(Refusal::WriteConflict)
                    };
                    outcomes.push(outcome);
                }
                _ => break,
            }
        }
        if outcomes.len() == commits.len() {
            return outcomes;
        }
        let rest = &commits[outcomes.len()..];
        warn!(
            expected_offset = self.state.next_offset,
            unproven = rest.len(),
            "delivery offsets do not prove the batch; reading the log to decide"
        );
        match self.resync().await {
            Ok(seen) => outcomes.extend(rest.iter().map(|commit| match seen.get(&commit.commit_id) {
                Some((offset, true)) => Ok(Reply { receipt: self.state.receipt(*offset, commit), replayed: false }),
                Some((_, false)) => Err(Refusal::WriteConflict),
                None => Err(Refusal::Unavailable("the commit could not be written to the events log".into())),
            })),
            Err(error) => {
                warn!(%error, "cannot read the log after an unproven delivery");
                outcomes.extend(rest.iter().map(|_| Err(Refusal::Unavailable("the events log is unavailable".into()))));
            }
        }
        outcomes
    }

    /// Folds the log from the last proven offset to its current end. Returns,
    /// per commit id seen, its offset and whether the fold rule accepted it.
    async fn resync(&mut self) -> Result<HashMap<Uuid, (i64, bool)>, Error> {
        self.stale = true;
        let end = kafka::end_offset(&self.producer, &self.config.topic, self.state.partition).await?;
        if self.reader.is_none() {
            self.reader = Some(kafka::reader(&self.config.brokers)?);
        }
        let reader = self.reader.as_ref().expect("reader was just created");
        let from = self.state.next_offset;
        let mut seen = HashMap::new();
        let state = &mut self.state;
        kafka::read_ranges(reader, &self.config.topic, &[(state.partition, from, end)], |_, offset, bytes| {
            if let Some((commit, verdict)) = state.fold_record(offset, bytes) {
                seen.entry(commit.commit_id).or_insert((offset, verdict.is_accepted()));
            }
        })
        .await?;
        self.state.next_offset = self.state.next_offset.max(end);
        self.stale = false;
        debug!(from, to = end, "resynced partition from the log");
        Ok(seen)
    }
}

fn answer_all(batch: Vec<Request>, refusal: Refusal) {
    for request in batch {
        let _ = request.reply.send(Err(refusal.clone()));
    }
}
