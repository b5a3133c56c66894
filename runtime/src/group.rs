//! A consumer-group member whose positions are kept outside Kafka (in
//! Postgres): rebalances are forwarded to the worker's loop, which decides
//! where each partition is read from. It commits nothing itself.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::ClientContext;
use tokio::sync::mpsc;
use tracing::warn;

/// A change of the partitions this member owns.
#[derive(Debug)]
pub enum Change {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Forwards rebalances of `topic` to the worker loop.
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

/// A member made from `config` (see [`crate::kafka::group_config`]), and the
/// changes of its assignment on `topic`.
pub fn consumer(config: &ClientConfig, topic: &str) -> KafkaResult<(GroupConsumer, mpsc::UnboundedReceiver<Change>)> {
    let (changes, receiver) = mpsc::unbounded_channel();
    let context = Context { topic: topic.to_owned(), changes };
    Ok((config.create_with_context(context)?, receiver))
}
