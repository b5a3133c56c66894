//! `backup`: the events topic into a directory (see [`crate::archive`]),
//! incrementally; and `backup verify`: checksums, contiguous offsets and a
//! re-fold of the backup with the fold rule, without any broker.

use std::collections::HashMap;
use std::path::Path;

use events::LogFold;
use ledger_runtime::kafka;
use rdkafka::message::{Headers, Message};

use crate::archive::{read_segment, write_segment, Manifest, Stored};
use crate::verify::ledger::{unbalanced, Ledger};
use crate::{log, Sources};

/// Records per segment file: bounds the memory of one run.
const SEGMENT_RECORDS: usize = 200_000;

/// What one backup run added.
#[derive(Debug, Default)]
pub struct Added {
    pub records: u64,
    pub bytes: u64,
    pub segments: usize,
}

/// Appends to `dir` every record written since its last run (all of them, the first time).
pub async fn run(sources: &Sources, dir: &Path) -> anyhow::Result<Added> {
    std::fs::create_dir_all(dir)?;
    let ends = log::ends(sources).await?;
    let mut manifest = Manifest::read(dir)?.unwrap_or_else(|| Manifest {
        topic: sources.events_topic.clone(),
        partitions: ends.len() as i32,
        ..Manifest::default()
    });
    anyhow::ensure!(
        manifest.topic == sources.events_topic && manifest.partitions == ends.len() as i32,
        "{} holds a backup of {} ({} partitions), not of {} ({} partitions)",
        dir.display(),
        manifest.topic,
        manifest.partitions,
        sources.events_topic,
        ends.len()
    );
    let total: i64 = ends.iter().enumerate().map(|(p, end)| end - manifest.end_of(p as i32)).sum();
    let bar = crate::export::progress_bar(total.max(0) as u64);
    let reader = kafka::reader(&sources.kafka_brokers)?;
    let mut added = Added::default();
    for (partition, &end) in ends.iter().enumerate() {
        let partition = partition as i32;
        let mut start = manifest.end_of(partition);
        if end <= start {
            continue;
        }
        let mut records = kafka::RangeReader::assign(&reader, &sources.events_topic, &[(partition, start, end)])?;
        let mut chunk = Vec::new();
        while let Some(message) = records.next().await? {
            bar.inc(1);
            let headers = message.headers().into_iter().flat_map(|h| h.iter());
            chunk.push(Stored {
                offset: message.offset(),
                timestamp_ms: message.timestamp().to_millis(),
                key: message.key().unwrap_or_default().to_vec(),
                value: message.payload().unwrap_or_default().to_vec(),
                headers: headers.map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect(),
            });
            if chunk.len() == SEGMENT_RECORDS || message.offset() + 1 == end {
                let next = message.offset() + 1;
                let segment = write_segment(dir, partition, start, next, &chunk)?;
                (added.records, added.bytes, added.segments) =
                    (added.records + chunk.len() as u64, added.bytes + segment.bytes, added.segments + 1);
                manifest.segments.push(segment);
                chunk.clear();
                start = next;
            }
        }
    }
    bar.finish_and_clear();
    manifest.tool_version = env!("CARGO_PKG_VERSION").to_owned();
    manifest.write(dir)?;
    Ok(added)
}

/// What `backup verify` found.
#[derive(Debug, Default)]
pub struct Checked {
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Per partition, the offsets the backup covers.
    pub ranges: Vec<(i32, i64, i64)>,
    pub failures: Vec<String>,
}

/// Checks every segment of the backup in `dir` and re-folds it.
pub fn verify(dir: &Path) -> anyhow::Result<Checked> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| anyhow::anyhow!("{} has no manifest.json", dir.display()))?;
    let mut checked = Checked::default();
    let mut ledger = Ledger::default();
    let mut accounts = HashMap::new();
    for partition in 0..manifest.partitions {
        let mut fold = LogFold::default();
        let mut next = 0;
        for segment in manifest.of(partition) {
            if segment.start != next {
                checked
                    .failures
                    .push(format!("partition {partition}: offsets {next} to {} are missing", segment.start));
            }
            next = segment.end;
            match read_segment(dir, segment) {
                Ok(records) => {
                    for record in records {
                        checked.records += 1;
                        if let (Some(commit), verdict) = fold.fold_record(&record.value) {
                            if verdict.is_accepted() {
                                commit.events.iter().for_each(|e| ledger.record(commit.aggregate_id, e));
                            }
                        }
                    }
                }
                Err(error) => checked.failures.push(error.to_string()),
            }
        }
        checked.ranges.push((partition, 0, next));
        (checked.accepted, checked.rejected) = (checked.accepted + fold.accepted, checked.rejected + fold.rejected);
        accounts.extend(fold.accounts);
    }
    checked.failures.extend(unbalanced(&ledger.totals(&accounts)));
    Ok(checked)
}
