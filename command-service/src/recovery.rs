//! Loading partitions: each one's state from the state this instance kept, or
//! its snapshot, plus the log tail up to the end as it was when the load began.

use std::collections::HashMap;
use std::time::Instant;

use events::resume::{Resume, Saved};
use serde::Serialize;
use sqlx::PgPool;
use tracing::{info, instrument, warn};

use crate::error::Error;
use crate::send::SharedProducer;
use crate::state::PartitionState;
use crate::store;
use ledger_runtime::kafka;

/// What the loads did; `/readyz` reports their sum.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecoveryReport {
    pub partitions: i32,
    pub snapshots_used: usize,
    pub records_replayed: u64,
    pub aggregates: usize,
    pub elapsed_ms: u64,
}

/// A partition's state while no writer runs it: kept across a rebalance that
/// gives the partition back, dropped otherwise.
pub struct Parked {
    pub state: PartitionState,
    /// The offset of the last snapshot taken or loaded.
    pub snapshot_offset: i64,
}

/// Where loads read from.
pub struct Source<'a> {
    pub brokers: &'a str,
    pub topic: &'a str,
    pub pool: &'a PgPool,
    pub producer: &'a SharedProducer,
    pub use_snapshots: bool,
}

/// Brings each partition of `partitions` up to the log end: from `kept` when
/// this instance held it last, else from its snapshot, else from offset 0.
#[instrument(skip_all, fields(topic = source.topic, partitions = ?partitions))]
pub async fn load(
    source: &Source<'_>,
    partitions: &[i32],
    mut kept: HashMap<i32, Parked>,
) -> Result<(Vec<Parked>, RecoveryReport), Error> {
    let started = Instant::now();
    let mut parked = Vec::with_capacity(partitions.len());
    let mut ranges = Vec::with_capacity(partitions.len());
    let mut report = RecoveryReport { partitions: partitions.len() as i32, ..Default::default() };
    let mut ends = Vec::with_capacity(partitions.len());
    let mut snapshots = Vec::new();
    for &partition in partitions {
        ends.push(kafka::end_offset(&source.producer.get(), source.topic, partition).await?);
        let part = match kept.remove(&partition) {
            Some(part) => part,
            None => {
                let part = from_snapshot(source, partition).await?;
                if part.snapshot_offset > 0 {
                    snapshots.push(parked.len());
                }
                part
            }
        };
        parked.push(part);
    }
    report.snapshots_used = use_proven(source, &mut parked, &snapshots).await?;
    for (part, &end) in parked.iter().zip(&ends) {
        ranges.push((part.state.partition, part.state.next_offset, end));
    }
    let prepared_ms = started.elapsed().as_millis() as u64;
    let consumer = kafka::bulk_reader(source.brokers)?;
    let mut replayed = 0u64;
    let index: HashMap<i32, usize> = partitions.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    kafka::read_ranges(&consumer, source.topic, &ranges, |partition, offset, bytes| {
        replayed += 1;
        parked[index[&partition]].state.fold_record(offset, bytes);
    })
    .await?;
    for (part, &(_, _, end)) in parked.iter_mut().zip(&ranges) {
        part.state.reach(end);
    }
    report.records_replayed = replayed;
    report.aggregates = parked.iter().map(|p| p.state.entries.len()).sum();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    info!(
        replayed = report.records_replayed,
        snapshots = report.snapshots_used,
        aggregates = report.aggregates,
        elapsed_ms = report.elapsed_ms,
        prepared_ms,
        "partitions loaded from the log"
    );
    Ok((parked, report))
}

/// A snapshot is a cache of the fold of this log: one made on another log
/// (the topic created again) would decide commands on a history that is not
/// there. Keeps the snapshots at `loaded` the log proves (one check for all,
/// docs/log-protocol.md §11), folds the others from their start; returns how
/// many are used.
async fn use_proven(source: &Source<'_>, parked: &mut [Parked], loaded: &[usize]) -> Result<usize, Error> {
    let saved: Vec<(i32, Saved)> = loaded
        .iter()
        .map(|&i| {
            let state = &parked[i].state;
            (state.partition, Saved { next_offset: state.next_offset, last_commit: state.last_commit })
        })
        .collect();
    let judged = ledger_runtime::resume::prove(source.brokers, source.topic, &saved).await?;
    let mut used = 0;
    for (&i, (partition, resume)) in loaded.iter().zip(judged) {
        let offset = parked[i].snapshot_offset;
        match resume {
            Resume::Foreign(why) => {
                warn!(partition, offset, "snapshot ignored, the partition is folded from its start: {why}");
                parked[i] = Parked { state: PartitionState::new(partition), snapshot_offset: 0 };
                continue;
            }
            Resume::Unproven(why) => info!(partition, offset, "snapshot used unproven: {why}"),
            Resume::FromStart | Resume::Check(_) | Resume::Proven => {}
        }
        used += 1;
    }
    Ok(used)
}

/// The stored snapshot of `partition`, decoded, or an empty state.
async fn from_snapshot(source: &Source<'_>, partition: i32) -> Result<Parked, Error> {
    let empty = Parked { state: PartitionState::new(partition), snapshot_offset: 0 };
    if !source.use_snapshots {
        return Ok(empty);
    }
    let Some((offset, bytes)) = store::load_snapshot(source.pool, source.topic, partition).await? else {
        return Ok(empty);
    };
    match serde_json::from_slice::<PartitionState>(&bytes) {
        Ok(mut state) if state.partition == partition => {
            if state.next_offset != offset {
                state.last_commit = None;
            }
            state.next_offset = offset;
            state.count_keys();
            Ok(Parked { state, snapshot_offset: offset })
        }
        Ok(_) => {
            warn!(partition, offset, "snapshot is of another partition, ignoring it");
            Ok(empty)
        }
        Err(error) => {
            warn!(partition, %error, "snapshot does not decode, ignoring it");
            Ok(empty)
        }
    }
}
