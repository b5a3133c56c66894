//! Sending a batch of commits to one partition and collecting the delivery offsets.

use events::Commit;
use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Why a commit has no proven offset.
#[derive(Clone, Debug)]
pub enum DeliveryFailure {
    NotQueued(String),
    Failed(String),
}

/// Per commit of a batch, in order: its offset, or why it has none.
pub type Deliveries = BoxFuture<'static, Vec<Result<i64, DeliveryFailure>>>;

/// Enqueues every commit in order and returns, without waiting, the future of
/// their delivery reports, and whether every commit was queued. The records
/// are in the producer's queue, in order, when this returns: a batch enqueued
/// after it follows it in the partition.
pub fn enqueue(producer: &FutureProducer, topic: &str, partition: i32, commits: &[Commit]) -> (Deliveries, bool) {
    let mut pending = Vec::with_capacity(commits.len());
    let mut queue_failed = None;
    for commit in commits {
        if let Some(error) = &queue_failed {
            // Never send past a commit that is not in the queue: order is the proof.
            pending.push(Err(DeliveryFailure::NotQueued(format!("an earlier commit was not queued: {error}"))));
            continue;
        }
        let key = commit.key();
        let value = commit.encode();
        let record_headers = ledger_runtime::kafka::commit_headers(commit);
        let record = FutureRecord::to(topic).partition(partition).key(&key).payload(&value).headers(record_headers);
        match producer.send_result(record) {
            Ok(future) => pending.push(Ok(future)),
            Err((error, _)) => {
                queue_failed = Some(error.to_string());
                pending.push(Err(DeliveryFailure::NotQueued(error.to_string())));
            }
        }
    }
    let waits = pending.into_iter().map(|p| async move {
        match p {
            Err(failure) => Err(failure),
            Ok(future) => match future.await {
                Ok(Ok(delivery)) => Ok(delivery.offset),
                Ok(Err((error, _))) => Err(DeliveryFailure::Failed(error.to_string())),
                Err(_) => Err(DeliveryFailure::Failed("producer dropped the delivery".into())),
            },
        }
    });
    (join_all(waits).boxed(), queue_failed.is_none())
}

/// The idempotent producer every writer of this instance shares, renewed when
/// librdkafka declares it fatally broken (an `OutOfOrderSequenceNumber` from
/// the broker, say: seen on Nisshi, docs/nisshi.md). A fatal producer fails
/// every later send, so without renewal its partitions would answer 503 for
/// ever. The new producer has a new producer id; what the old one had in
/// flight fails, and each writer settles it by reading the log (§3 of
/// docs/log-protocol.md) before it sends again.
pub struct SharedProducer {
    current: std::sync::RwLock<std::sync::Arc<FutureProducer>>,
    brokers: String,
    client_id: String,
    linger_ms: u32,
}

impl SharedProducer {
    pub fn new(brokers: &str, client_id: &str, linger_ms: u32) -> Result<Self, ledger_runtime::kafka::Error> {
        let producer = ledger_runtime::kafka::producer(brokers, client_id, linger_ms)?;
        Ok(Self {
            current: std::sync::RwLock::new(std::sync::Arc::new(producer)),
            brokers: brokers.to_owned(),
            client_id: client_id.to_owned(),
            linger_ms,
        })
    }

    pub fn get(&self) -> std::sync::Arc<FutureProducer> {
        std::sync::Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Replaces the producer if it is fatally broken (once, however many writers ask).
    pub fn renew_if_fatal(&self) {
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((code, reason)) = rdkafka::producer::Producer::client(&**current).fatal_error() else { return };
        tracing::warn!(?code, %reason, "the producer is fatally broken; replacing it");
        match ledger_runtime::kafka::producer(&self.brokers, &self.client_id, self.linger_ms) {
            Ok(producer) => *current = std::sync::Arc::new(producer),
            Err(error) => tracing::warn!(%error, "cannot create a new producer; the next failure tries again"),
        }
    }
}
