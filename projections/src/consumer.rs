//! The group consumer and its rebalance events.

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::ClientContext;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::Config;
use crate::error::Error;
use ledger_runtime::kafka;

/// A change of the partitions this worker owns.
#[derive(Debug)]
pub enum Change {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Forwards rebalances to the worker loop, which seeks to the stored checkpoints.
pub struct Context {
    topic: String,
    changes: mpsc::UnboundedSender<Change>,
}

impl ClientContext for Context {}

fn partitions(topic: &str, rebalance: &Rebalance<'_>) -> Vec<i32> {
    let list = match rebalance {
        Rebalance::Assign(list) | Rebalance::Revoke(list) => list,
        Rebalance::Error(_) => return Vec::new(),
    };
    list.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect()
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            let _ = self.changes.send(Change::Revoked(partitions(&self.topic, rebalance)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(_) => {
                let _ = self.changes.send(Change::Assigned(partitions(&self.topic, rebalance)));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => warn!(%error, "rebalance failed"),
        }
    }
}

pub type GroupConsumer = StreamConsumer<Context>;

/// A consumer in the projections group. Kafka offsets are committed only for
/// lag tools; the checkpoints in Postgres are the truth.
pub fn group_consumer(config: &Config) -> Result<(GroupConsumer, mpsc::UnboundedReceiver<Change>), Error> {
    let (changes, receiver) = mpsc::unbounded_channel();
    let context = Context { topic: config.log.events_topic.clone(), changes };
    let consumer =
        kafka::group_config(&config.log.kafka_brokers, &config.group, "ledger-projections", config.session_timeout_ms)
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "20")
            .create_with_context(context)?;
    Ok((consumer, receiver))
}
