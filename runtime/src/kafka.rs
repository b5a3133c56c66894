//! Kafka plumbing: the idempotent producer, the topic, watermarks, and reading
//! a partition range in offset order.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};
use tracing::{info, instrument};

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("events topic: {0}")]
    Topic(String),
}

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reader waits for the next record of a range it knows exists.
const READ_STALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The producer every partition writer shares: idempotent, `acks=all`.
pub fn producer(brokers: &str, client_id: &str, linger_ms: u32) -> Result<FutureProducer, Error> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger_ms.to_string())
        .set("message.timeout.ms", "15000")
        .set("request.timeout.ms", "10000")
        .create()
        .map_err(Error::from)
}

/// The headers of a commit record (§1 of docs/log-protocol.md): its id, the
/// aggregate type, the event types, and the trace context when there is one.
pub fn commit_headers(commit: &events::Commit) -> rdkafka::message::OwnedHeaders {
    use events::commit::headers;
    use rdkafka::message::{Header, OwnedHeaders};
    let (commit_id, event_types) = (commit.commit_id.to_string(), commit.event_types());
    let record_headers = OwnedHeaders::new_with_capacity(4)
        .insert(Header { key: headers::COMMIT_ID, value: Some(commit_id.as_bytes()) })
        .insert(Header { key: headers::AGGREGATE_TYPE, value: Some(commit.aggregate_type.as_bytes()) })
        .insert(Header { key: headers::EVENT_TYPES, value: Some(event_types.as_bytes()) });
    match commit.metadata.extra.get("traceparent").and_then(|v| v.as_str()) {
        Some(traceparent) => {
            record_headers.insert(Header { key: headers::TRACEPARENT, value: Some(traceparent.as_bytes()) })
        }
        None => record_headers,
    }
}

/// Makes sure the topic exists and returns its partition count.
#[instrument(skip_all, fields(topic = topic))]
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> Result<i32, Error> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().map_err(Error::from)?;
    if let Some((count, _)) = partition_count(admin.inner(), topic)? {
        return Ok(count);
    }
    // Replication factor -1: the broker's `default.replication.factor` (3 on a
    // cluster, with its `min.insync.replicas=2`; 1 on a single node; docs/kafka.md).
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1)).set("retention.ms", "-1");
    let results = admin.create_topics([&new_topic], &AdminOptions::new()).await.map_err(Error::from)?;
    for result in results {
        match result {
            Ok(_) => info!(partitions, "created events topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(Error::Topic(format!("cannot create topic {name}: {code}"))),
        }
    }
    // Metadata lags creation, and Kafka elects each new partition's leader
    // after it: until then a fetch or produce on it answers
    // NOT_LEADER_OR_FOLLOWER. Wait until every partition has a leader.
    for _ in 0..150 {
        if let Some((count, true)) = partition_count(admin.inner(), topic)? {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::Topic(format!("topic {topic} has no leader for every partition 15 s after its creation")))
}

/// The topic's partition count, and whether every partition has a leader
/// and no error; `None` while the metadata does not list it.
fn partition_count<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<Option<(i32, bool)>, Error> {
    // Ask for all topics: on a broker with `auto.create.topics.enable=true` a
    // metadata request naming the topic may create it with the default partition count.
    let metadata = client.fetch_metadata(None, METADATA_TIMEOUT).map_err(Error::from)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none()) else {
        return Ok(None);
    };
    let led = found.partitions().iter().all(|p| p.leader() >= 0 && p.error().is_none());
    Ok(Some(found.partitions().len() as i32).filter(|n| *n > 0).map(|n| (n, led)))
}

/// The end offset of every partition of the topic (creating it with
/// `partitions` if it is missing), in partition order.
pub async fn log_ends(brokers: &str, topic: &str, partitions: i32) -> Result<Vec<i64>, Error> {
    let producer = Arc::new(producer(brokers, "ledger-log-ends", 0)?);
    let count = ensure_topic(brokers, topic, partitions).await?;
    let mut ends = Vec::with_capacity(count as usize);
    for p in 0..count {
        ends.push(end_offset(&producer, topic, p).await?);
    }
    Ok(ends)
}

/// The offset the next record of `partition` will get (the high watermark).
pub async fn end_offset(producer: &Arc<FutureProducer>, topic: &str, partition: i32) -> Result<i64, Error> {
    let (producer, topic) = (Arc::clone(producer), topic.to_owned());
    let marks = while_leader_moves(move || {
        rdkafka::producer::Producer::client(&*producer).fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
    })
    .await?;
    Ok(marks.1)
}

/// Runs a blocking metadata request (`ask`) off the runtime's threads. A
/// partition whose leader is moving (a new topic, a broker that died) answers
/// NOT_LEADER_OR_FOLLOWER or LEADER_NOT_AVAILABLE for a moment: asked again,
/// for up to 15 s.
pub async fn while_leader_moves<T: Send + 'static>(
    ask: impl Fn() -> rdkafka::error::KafkaResult<T> + Send + Sync + 'static,
) -> Result<T, Error> {
    let ask = Arc::new(ask);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let once = Arc::clone(&ask);
        let answer = tokio::task::spawn_blocking(move || once())
            .await
            .map_err(|e| Error::Topic(format!("metadata task failed: {e}")))?;
        match answer {
            Ok(value) => return Ok(value),
            Err(rdkafka::error::KafkaError::MetadataFetch(
                RDKafkaErrorCode::NotLeaderForPartition | RDKafkaErrorCode::LeaderNotAvailable,
            )) if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(error) => return Err(Error::from(error)),
        }
    }
}

/// The settings every consumer-group member shares: its group, no automatic
/// commits or offset stores (each service decides what it commits), and the
/// session timeout with heartbeats at a third of it. Callers add their own.
pub fn group_config(brokers: &str, group: &str, client_id: &str, session_timeout_ms: u32) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("session.timeout.ms", session_timeout_ms.to_string())
        .set("heartbeat.interval.ms", (session_timeout_ms / 3).max(100).to_string());
    config
}

/// A consumer that reads by assignment only: it joins no group and commits nothing.
pub fn reader(brokers: &str) -> Result<StreamConsumer, Error> {
    reader_with_wait(brokers, 10)
}

/// A [`reader`] for long ranges known to exist (loading a partition's tail):
/// it lets the broker fill each fetch for up to 500 ms. Nisshi's memory
/// storage spends most of a fetch's time budget, which it takes from this
/// wait, locating the offset; with 10 ms it returns about one record batch
/// per fetch (docs/nisshi.md). Apache Kafka answers as soon as it has data.
pub fn bulk_reader(brokers: &str) -> Result<StreamConsumer, Error> {
    reader_with_wait(brokers, 500)
}

fn reader_with_wait(brokers: &str, fetch_wait_ms: u32) -> Result<StreamConsumer, Error> {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("ledger-reader-{}-{nonce}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        // Bounds the prefetch queue (default: 100k records or 64 MiB per
        // partition), so a reader of a long topic stays small.
        .set("queued.min.messages", "10000")
        .set("queued.max.messages.kbytes", "8192")
        // ...and fetches again soon once it drains (default back-off: 1 s).
        .set("fetch.queue.backoff.ms", "5")
        .create()
        .map_err(Error::from)
}

/// Reads `[from, to)` of each listed partition in offset order, calling
/// `on_record(partition, offset, value)` for each record.
pub async fn read_ranges(
    consumer: &StreamConsumer,
    topic: &str,
    ranges: &[(i32, i64, i64)],
    mut on_record: impl FnMut(i32, i64, &[u8]),
) -> Result<(), Error> {
    let mut reader = RangeReader::assign(consumer, topic, ranges)?;
    while let Some(message) = reader.next().await? {
        on_record(message.partition(), message.offset(), message.payload().unwrap_or_default());
    }
    Ok(())
}

/// A reader of partition ranges: each partition in offset order, partitions
/// interleaved as the broker serves them. Nothing is buffered here beyond the
/// client's own fetch queue, so memory does not grow with the range.
pub struct RangeReader<'a> {
    consumer: &'a StreamConsumer,
    ends: std::collections::HashMap<i32, i64>,
    remaining: usize,
}

impl<'a> RangeReader<'a> {
    /// Assigns the consumer to `(partition, from, to)` ranges; empty ones are skipped.
    pub fn assign(consumer: &'a StreamConsumer, topic: &str, ranges: &[(i32, i64, i64)]) -> Result<Self, Error> {
        let mut assignment = TopicPartitionList::new();
        let mut ends = std::collections::HashMap::new();
        for &(partition, from, to) in ranges {
            if from < to {
                assignment.add_partition_offset(topic, partition, Offset::Offset(from)).map_err(Error::from)?;
                ends.insert(partition, to);
            }
        }
        let remaining = ends.len();
        if remaining > 0 {
            consumer.assign(&assignment).map_err(Error::from)?;
        }
        Ok(Self { consumer, ends, remaining })
    }

    /// The next record of a range, or `None` when every range is read.
    pub async fn next(&mut self) -> Result<Option<rdkafka::message::BorrowedMessage<'a>>, Error> {
        while self.remaining > 0 {
            let message = tokio::time::timeout(READ_STALL_TIMEOUT, self.consumer.recv())
                .await
                .map_err(|_| Error::Topic("timed out reading the events topic".into()))?
                .map_err(Error::from)?;
            let (partition, offset) = (message.partition(), message.offset());
            let Some(&to) = self.ends.get(&partition) else { continue };
            if offset >= to {
                continue;
            }
            if offset + 1 >= to {
                self.ends.insert(partition, i64::MIN);
                self.remaining -= 1;
                if self.remaining == 0 {
                    self.consumer.unassign().map_err(Error::from)?;
                }
            }
            return Ok(Some(message));
        }
        Ok(None)
    }
}
