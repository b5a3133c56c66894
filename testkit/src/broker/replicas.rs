//! What a test asks a cluster about its partitions: who leads one, which is
//! the busiest, and whether every replica is back in sync, read from the
//! brokers' metadata (never assumed).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::Broker;

fn metadata_client(addr: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("a metadata client")
}

impl Broker {
    /// The node index (for [`Broker::kill9_node`]) leading `topic`'s
    /// partition with the most records: the busiest one. `None` while the
    /// metadata names no live leader.
    pub fn busiest_leader(&self, topic: &str) -> Option<(usize, i32)> {
        let client = metadata_client(&self.addr);
        let metadata = client.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
        let partitions = metadata.topics().first()?.partitions();
        let (partition, leader) = partitions
            .iter()
            .map(|p| {
                let high = client.fetch_watermarks(topic, p.id(), Duration::from_secs(5)).map(|w| w.1).unwrap_or(-1);
                (high, p.id(), p.leader())
            })
            .max()
            .map(|(_, partition, leader)| (partition, leader))?;
        (0..self.nodes()).find(|i| self.node_id(*i) == leader).map(|i| (i, partition))
    }

    /// Waits until every partition of every topic (`__consumer_offsets`
    /// included) has all its replicas in sync and a leader: the cluster can
    /// lose any one node again. Panics after `within`.
    pub fn wait_in_sync(&self, within: Duration) {
        let client = metadata_client(&self.addr);
        let deadline = Instant::now() + within;
        loop {
            let lagging: Vec<String> = match client.fetch_metadata(None, Duration::from_secs(5)) {
                Ok(metadata) if metadata.brokers().len() == self.nodes().max(1) => metadata
                    .topics()
                    .iter()
                    .flat_map(|t| t.partitions().iter().map(move |p| (t.name(), p)))
                    .filter(|(_, p)| p.leader() < 0 || p.isr().len() < p.replicas().len())
                    .map(|(t, p)| format!("{t}/{} isr {:?} of {:?}", p.id(), p.isr(), p.replicas()))
                    .collect(),
                Ok(metadata) => vec![format!("{} of {} brokers registered", metadata.brokers().len(), self.nodes())],
                Err(e) => vec![format!("no metadata: {e}")],
            };
            if lagging.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "replicas not in sync after {within:?}: {lagging:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
