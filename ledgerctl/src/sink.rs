//! Writing records into a topic in order, a window of deliveries at a time,
//! and checking where each one landed: the copy tools (`reseal`, `restore`,
//! `repartition`) rely on every record keeping its order, and `restore` on it
//! keeping its very offset.

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// Records sent before their deliveries are awaited.
const WINDOW: usize = 1000;

/// One record to write.
pub struct Outgoing<'a> {
    pub partition: i32,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub headers: Vec<(&'a str, Option<Vec<u8>>)>,
    pub timestamp_ms: Option<i64>,
    /// The offset it must land at (`restore`), if any.
    pub offset: Option<i64>,
}

pub struct Sink {
    producer: FutureProducer,
    topic: String,
    window: Vec<(DeliveryFuture, Option<i64>)>,
    pub written: u64,
}

impl Sink {
    pub fn new(brokers: &str, topic: &str) -> anyhow::Result<Self> {
        let producer = ledger_runtime::kafka::producer(brokers, "ledgerctl-copy", 5)?;
        Ok(Self { producer, topic: topic.to_owned(), window: Vec::with_capacity(WINDOW), written: 0 })
    }

    pub async fn send(&mut self, record: Outgoing<'_>) -> anyhow::Result<()> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key, value: value.as_deref() });
        }
        let mut out = FutureRecord::to(&self.topic).partition(record.partition).key(record.key).payload(record.value);
        out = out.headers(headers);
        if let Some(timestamp) = record.timestamp_ms {
            out = out.timestamp(timestamp);
        }
        let delivery = self.producer.send_result(out).map_err(|(e, _)| e)?;
        self.window.push((delivery, record.offset));
        self.written += 1;
        if self.window.len() == WINDOW {
            self.settle().await?;
        }
        Ok(())
    }

    /// Waits for every delivery sent so far; fails if one failed or landed off its offset.
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        let window = std::mem::take(&mut self.window);
        let (deliveries, expected): (Vec<_>, Vec<_>) = window.into_iter().unzip();
        for (delivery, expected) in join_all(deliveries).await.into_iter().zip(expected) {
            let delivery = delivery.map_err(|_| anyhow::anyhow!("the producer dropped a delivery"))?;
            let delivery = delivery.map_err(|(e, _)| e)?;
            if let Some(expected) = expected {
                anyhow::ensure!(
                    delivery.offset == expected,
                    "partition {}: a record meant for offset {expected} landed at {}: this topic does not keep \
                     offsets (it is not empty, or it is compacted); stop and restore into a new, empty topic",
                    delivery.partition,
                    delivery.offset
                );
            }
        }
        Ok(())
    }
}
