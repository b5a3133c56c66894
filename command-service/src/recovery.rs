//! Start-up: rebuild each partition's state from its snapshot plus the log tail.

use std::sync::Arc;
use std::time::Instant;

use rdkafka::producer::FutureProducer;
use serde::Serialize;
use sqlx::PgPool;
use tracing::{info, instrument, warn};

use crate::error::Error;
use crate::state::PartitionState;
use crate::store;
use ledger_runtime::kafka;

/// What the start-up fold did; `/readyz` reports it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecoveryReport {
    pub partitions: i32,
    pub snapshots_used: usize,
    pub records_replayed: u64,
    pub aggregates: usize,
    pub elapsed_ms: u64,
}

/// Rebuilds every partition's state so that each is caught up with the log end
/// as it was when recovery started.
#[instrument(skip_all, fields(topic = topic, partitions = partitions))]
pub async fn recover(
    brokers: &str,
    topic: &str,
    partitions: i32,
    pool: &PgPool,
    producer: &Arc<FutureProducer>,
    use_snapshots: bool,
) -> Result<(Vec<(PartitionState, i64)>, RecoveryReport), Error> {
    let started = Instant::now();
    let mut states = Vec::with_capacity(partitions as usize);
    let mut snapshot_offsets = Vec::with_capacity(partitions as usize);
    let mut ranges = Vec::with_capacity(partitions as usize);
    let mut report = RecoveryReport { partitions, ..Default::default() };
    for partition in 0..partitions {
        let end = kafka::end_offset(producer, topic, partition).await?;
        let mut state = PartitionState::new(partition);
        let mut snapshot_offset = 0;
        if use_snapshots {
            if let Some((offset, bytes)) = store::load_snapshot(pool, topic, partition).await? {
                match serde_json::from_slice::<PartitionState>(&bytes) {
                    Ok(snapshot) if offset <= end && snapshot.partition == partition => {
                        state = snapshot;
                        state.next_offset = offset;
                        snapshot_offset = offset;
                        report.snapshots_used += 1;
                    }
                    Ok(_) => warn!(partition, offset, end, "snapshot is ahead of the log, ignoring it"),
                    Err(error) => warn!(partition, %error, "snapshot does not decode, ignoring it"),
                }
            }
        }
        ranges.push((partition, state.next_offset, end));
        states.push(state);
        snapshot_offsets.push(snapshot_offset);
    }
    let consumer = kafka::reader(brokers)?;
    let mut replayed = 0u64;
    kafka::read_ranges(&consumer, topic, &ranges, |partition, offset, bytes| {
        replayed += 1;
        states[partition as usize].fold_record(offset, bytes);
    })
    .await?;
    for (state, &(_, _, end)) in states.iter_mut().zip(&ranges) {
        state.next_offset = state.next_offset.max(end);
    }
    report.records_replayed = replayed;
    report.aggregates = states.iter().map(|s| s.entries.len()).sum();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    info!(
        replayed = report.records_replayed,
        snapshots = report.snapshots_used,
        aggregates = report.aggregates,
        elapsed_ms = report.elapsed_ms,
        "state rebuilt from the log"
    );
    Ok((states.into_iter().zip(snapshot_offsets).collect(), report))
}
