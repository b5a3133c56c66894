//! The group consumer: partitions are assigned by the group and read from
//! their first offset; a revoked partition's checkpoint is committed before it
//! goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::Error;
use ledger_runtime::kafka;

/// A change of the partitions this driver owns.
#[derive(Debug)]
pub enum Change {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    /// The rebalance failed and the assignment was dropped: drop every partition.
    Lost,
}

/// The latest checkpoint of each owned partition, shared with the rebalance
/// callback so that a revoked partition's progress is committed on the way out.
pub type Checkpoints = Arc<Mutex<HashMap<i32, i64>>>;

/// Assigns from the beginning (the driver refolds every partition it gets),
/// commits on revocation, and forwards the changes to the worker loop.
pub struct Context {
    topic: String,
    changes: mpsc::UnboundedSender<Change>,
    checkpoints: Checkpoints,
}

impl ClientContext for Context {}

fn partitions(topic: &str, list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect()
}

impl Context {
    fn assign(&self, consumer: &BaseConsumer<Self>, list: &mut TopicPartitionList) -> KafkaResult<()> {
        list.set_all_offsets(Offset::Beginning)?;
        match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(list),
            _ => consumer.assign(list),
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) -> KafkaResult<()> {
        let revoked = partitions(&self.topic, list);
        let checkpoints: Vec<(i32, i64)> = {
            let mut map = self.checkpoints.lock().unwrap_or_else(PoisonError::into_inner);
            revoked.iter().filter_map(|p| map.remove(p).map(|offset| (*p, offset))).collect()
        };
        if !checkpoints.is_empty() && !consumer.assignment_lost() {
            let mut offsets = TopicPartitionList::new();
            for (partition, offset) in &checkpoints {
                offsets.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset))?;
            }
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => debug!(?checkpoints, "committed the revoked partitions"),
                Err(error) => warn!(%error, "could not commit the revoked partitions"),
            }
        }
        match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(list),
            _ => consumer.unassign(),
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, list: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let assigned = partitions(&self.topic, list);
                info!(partitions = ?assigned, "assigned");
                if let Err(error) = self.assign(consumer, list) {
                    warn!(%error, "assignment failed");
                }
                let _ = self.changes.send(Change::Assigned(assigned));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked = partitions(&self.topic, list);
                info!(partitions = ?revoked, "revoked");
                // The worker stops acting on them first: the loop takes changes before records.
                let _ = self.changes.send(Change::Revoked(revoked));
                if let Err(error) = self.revoke(consumer, list) {
                    warn!(%error, "revocation failed");
                }
            }
            other => {
                warn!(error = ?other, "rebalance failed: dropping the assignment");
                let _ = self.changes.send(Change::Lost);
                if let Err(error) = consumer.unassign() {
                    warn!(%error, "unassign failed");
                }
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            debug!(%error, "offset commit failed: the next one carries the same checkpoint");
        }
    }
}

pub type GroupConsumer = StreamConsumer<Context>;

/// A consumer in the transfers group. Its committed offsets are the driver's
/// checkpoints: below them, every step is done.
pub fn group_consumer(
    config: &Config,
    checkpoints: Checkpoints,
) -> Result<(GroupConsumer, mpsc::UnboundedReceiver<Change>), Error> {
    let (changes, receiver) = mpsc::unbounded_channel();
    let context = Context { topic: config.log.events_topic.clone(), changes, checkpoints };
    let consumer =
        kafka::group_config(&config.log.kafka_brokers, &config.group, "ledger-transfers", config.session_timeout_ms)
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "20")
            // A partition is refolded from its start on every assignment: keep the
            // prefetch queue small so that this stays small in memory.
            .set("queued.min.messages", "10000")
            .set("queued.max.messages.kbytes", "8192")
            .set("fetch.queue.backoff.ms", "5")
            .create_with_context(context)?;
    Ok((consumer, receiver))
}
