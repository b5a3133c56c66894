//! Steps waiting for a slot, and the tasks taking them: at most `CONCURRENCY`
//! at once, so a backlog (a long refold, the command service away) is a queue
//! of small values, not of tasks.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::part::Completion;
use crate::steps::{Step, StepClient};

/// A step and whom to tell when it ends.
pub struct Queued {
    pub partition: i32,
    pub epoch: u64,
    /// The offset of the event that called for it (`None`: a hold expiry).
    pub offset: Option<i64>,
    /// The partition's token: cancelled on revocation.
    pub cancel: CancellationToken,
    pub step: Step,
}

pub struct Dispatcher {
    client: StepClient,
    concurrency: usize,
    metrics: Arc<Metrics>,
    queue: VecDeque<Queued>,
    tasks: JoinSet<Completion>,
}

impl Dispatcher {
    pub fn new(client: StepClient, concurrency: usize, metrics: Arc<Metrics>) -> Self {
        let concurrency = concurrency.max(1);
        Dispatcher { client, concurrency, metrics, queue: VecDeque::new(), tasks: JoinSet::new() }
    }

    pub fn push(&mut self, queued: Queued) {
        self.queue.push_back(queued);
    }

    /// Starts queued steps while there are free slots.
    pub fn pump(&mut self) {
        while self.tasks.len() < self.concurrency {
            let Some(Queued { partition, epoch, offset, cancel, step }) = self.queue.pop_front() else { break };
            if cancel.is_cancelled() {
                continue;
            }
            let client = self.client.clone();
            self.tasks.spawn(async move {
                let done = client.run(&step, &cancel).await;
                Completion { partition, epoch, offset, done }
            });
        }
        self.metrics.in_flight.set(self.tasks.len() as i64);
        self.metrics.queued.set(self.queue.len() as i64);
    }

    /// Forgets the queued steps of a partition no longer owned.
    pub fn forget(&mut self, partition: i32) {
        self.queue.retain(|q| q.partition != partition);
    }

    pub fn is_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Steps waiting for a slot.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The next step task to end. Pending forever when none runs (for `select!`, guard with `is_idle`).
    pub async fn next(&mut self) -> Option<Result<Completion, JoinError>> {
        self.tasks.join_next().await
    }

    /// Lets the steps in flight finish for up to `grace`, then stops the rest.
    /// Queued steps are not started. Returns what the finished ones reported.
    pub async fn drain(&mut self, grace: Duration) -> Vec<Completion> {
        info!(in_flight = self.tasks.len(), queued = self.queue.len(), "letting steps in flight finish");
        self.queue.clear();
        let mut finished = Vec::new();
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(joined) = self.tasks.join_next() => {
                    finished.extend(joined.ok());
                }
                () = &mut deadline => break,
            }
        }
        if !self.tasks.is_empty() {
            warn!(left = self.tasks.len(), "steps still in flight after the drain time: stopping them");
        }
        self.tasks.shutdown().await;
        self.metrics.in_flight.set(0);
        finished
    }
}
