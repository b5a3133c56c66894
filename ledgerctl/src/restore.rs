//! `restore`: a backup into an empty topic, every record at the offset it had;
//! and `repartition`: the accepted history into a new topic with another
//! partition count, each aggregate's commits in order on its new partition.

use std::path::Path;

use events::{partition_for, LogFold, Record};
use ledger_runtime::kafka;
use rdkafka::message::{Headers, Message};

use crate::archive::{read_segment, Manifest};
use crate::sink::{Outgoing, Sink};
use crate::{backup, log, Sources};

/// Fails unless `topic` is empty (created here with `partitions` if missing).
async fn empty_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let ends = kafka::log_ends(brokers, topic, partitions).await?;
    anyhow::ensure!(
        ends.len() as i32 == partitions,
        "{topic} has {} partitions, {partitions} are needed: restore into a new topic",
        ends.len()
    );
    anyhow::ensure!(ends.iter().all(|&end| end == 0), "{topic} is not empty: restore only into a new, empty topic");
    Ok(())
}

/// Restores the backup in `dir` into `sources.events_topic`; returns the records written.
pub async fn restore(sources: &Sources, dir: &Path) -> anyhow::Result<u64> {
    let checked = backup::verify(dir)?;
    anyhow::ensure!(
        checked.failures.is_empty(),
        "the backup is damaged, nothing was restored:\n{}",
        checked.failures.join("\n")
    );
    let manifest = Manifest::read(dir)?.ok_or_else(|| anyhow::anyhow!("{} has no manifest.json", dir.display()))?;
    empty_topic(&sources.kafka_brokers, &sources.events_topic, manifest.partitions).await?;
    let bar = crate::export::progress_bar(checked.records);
    let mut sink = Sink::new(&sources.kafka_brokers, &sources.events_topic)?;
    for partition in 0..manifest.partitions {
        for segment in manifest.of(partition) {
            for record in read_segment(dir, segment)? {
                bar.inc(1);
                sink.send(Outgoing {
                    partition,
                    key: &record.key,
                    value: &record.value,
                    headers: record.headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
                    timestamp_ms: record.timestamp_ms,
                    offset: Some(record.offset),
                })
                .await?;
            }
        }
        sink.settle().await?;
    }
    bar.finish_and_clear();
    let restored = kafka::log_ends(&sources.kafka_brokers, &sources.events_topic, manifest.partitions).await?;
    for (partition, end) in restored.iter().enumerate() {
        let want = manifest.end_of(partition as i32);
        anyhow::ensure!(*end == want, "partition {partition} ends at {end} after the restore, the backup at {want}");
    }
    Ok(sink.written)
}

/// What `repartition` copied.
#[derive(Debug, Default)]
pub struct Repartitioned {
    pub copied: u64,
    /// Commits the fold rule rejected (and undecodable records): not copied.
    pub dropped: u64,
}

/// Copies the accepted history of `sources.events_topic` into `to_topic` with `partitions` partitions.
pub async fn repartition(sources: &Sources, to_topic: &str, partitions: i32) -> anyhow::Result<Repartitioned> {
    anyhow::ensure!(partitions > 0, "--partitions must be at least 1");
    let ends = log::ends(sources).await?;
    empty_topic(&sources.kafka_brokers, to_topic, partitions).await?;
    let bar = crate::export::progress_bar(ends.iter().sum::<i64>() as u64);
    let reader = kafka::reader(&sources.kafka_brokers)?;
    let mut sink = Sink::new(&sources.kafka_brokers, to_topic)?;
    let mut done = Repartitioned::default();
    for (partition, &end) in ends.iter().enumerate() {
        let mut fold = LogFold::default();
        let mut records = kafka::RangeReader::assign(&reader, &sources.events_topic, &[(partition as i32, 0, end)])?;
        while let Some(message) = records.next().await? {
            bar.inc(1);
            let value = message.payload().unwrap_or_default();
            let aggregate = match fold.fold_any(value) {
                (Some(Record::Account(commit)), verdict) if verdict.is_accepted() => commit.aggregate_id,
                (Some(Record::Subject(commit)), verdict) if verdict.is_accepted() => commit.subject,
                _ => {
                    done.dropped += 1;
                    continue;
                }
            };
            let headers = message.headers().into_iter().flat_map(|h| h.iter());
            sink.send(Outgoing {
                partition: partition_for(aggregate, partitions),
                key: message.key().unwrap_or_default(),
                value,
                headers: headers.map(|h| (h.key, h.value.map(<[u8]>::to_vec))).collect(),
                timestamp_ms: message.timestamp().to_millis(),
                offset: None,
            })
            .await?;
            done.copied += 1;
        }
    }
    sink.settle().await?;
    bar.finish_and_clear();
    Ok(done)
}
