//! A topic deleted and created again under the same name: a new log that
//! readers with progress saved from the old one must not take for it.

use std::time::{Duration, Instant};

use ledger_runtime::kafka;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Deletes `topic` and creates it again with `partitions` partitions, empty.
pub async fn recreate(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let deleted = admin.delete_topics(&[topic], &AdminOptions::new()).await.expect("delete topics");
    for result in deleted {
        result.unwrap_or_else(|(name, code)| panic!("cannot delete topic {name}: {code}"));
    }
    // Kafka removes a deleted topic's partitions in the background; creating
    // it again is refused (or finds the old one) until then.
    let producer = std::sync::Arc::new(kafka::producer(brokers, "ledger-test-recreate", 0).expect("producer"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if kafka::ensure_topic(brokers, topic, partitions).await.is_ok() {
            let mut ends = Vec::new();
            for p in 0..partitions {
                ends.push(kafka::end_offset(&producer, topic, p).await.unwrap_or(-1));
            }
            if ends.iter().all(|&end| end == 0) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "topic {topic} was not created again within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
