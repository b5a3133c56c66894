//! Replay: rebuild read models from the log in a shadow schema, then swap them
//! in atomically (blue/green), or compare them with the live ones (dry run).
//!
//! The shadow is folded by the very projectors and fold rule the workers run,
//! so a replayed table is what a worker would have written. It chases the live
//! checkpoints while the workers keep going; once it is within
//! [`SWAP_DELTA`] records it freezes the live models (workers wait; with a
//! swap, readers of the swapped tables wait too), folds the last records up to
//! the frozen checkpoints, and swaps or compares in one transaction. The
//! checkpoints themselves never move: after a swap, workers carry on from
//! where they were, on tables that hold exactly the fold up to there.

use std::collections::HashMap;
use std::time::Instant;

use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;
use tracing::{info, instrument};

use crate::batch::Record;
use crate::error::Error;
use crate::projector::{self, Projector};
use crate::store::{self, shadow};

/// How close to the live checkpoints the shadow gets before it freezes them.
pub const SWAP_DELTA: i64 = 2_000;

/// What to replay, and where.
pub struct Replay {
    pub kafka_brokers: String,
    pub events_topic: String,
    pub database_url: String,
    /// Names of the projectors to rebuild; empty means all.
    pub projectors: Vec<String>,
    /// Records per shadow transaction.
    pub batch_max: usize,
    /// Compare instead of swapping.
    pub dry_run: bool,
    /// Keep the swapped-out tables in the `ledger_retired` schema.
    pub keep_retired: bool,
}

/// Where a replay stands, for progress bars.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Records folded into the shadow.
    pub records: u64,
    /// Accepted events among them.
    pub events: u64,
    /// Records up to the live checkpoints as last read.
    pub target: u64,
}

/// One table's differences between live and shadow (dry run).
#[derive(Debug)]
pub struct TableDiff {
    pub table: &'static str,
    pub live_only: i64,
    pub shadow_only: i64,
    /// Up to ten rows of each side, as JSON, prefixed `live:` or `shadow:`.
    pub samples: Vec<String>,
}

/// What a replay did.
#[derive(Debug)]
pub struct Outcome {
    pub tables: Vec<&'static str>,
    pub records: u64,
    pub events: u64,
    pub seconds: f64,
    /// Per partition, the checkpoint the shadow was folded to.
    pub checkpoints: HashMap<i32, i64>,
    /// Dry run: the differences found (empty: the read models equal the log).
    pub differences: Option<Vec<TableDiff>>,
}

impl Replay {
    /// Runs the replay; `on_progress` is called after each shadow transaction.
    #[instrument(skip_all, fields(topic = %self.events_topic, dry_run = self.dry_run))]
    pub async fn run(&self, mut on_progress: impl FnMut(&Progress)) -> Result<Outcome, Error> {
        let started = Instant::now();
        let all = projector::all();
        let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
        for wanted in &self.projectors {
            if !known.contains(&wanted.as_str()) {
                return Err(Error::UnknownProjector(wanted.clone(), known.join(", ")));
            }
        }
        let selected = |p: &dyn Projector| self.projectors.is_empty() || self.projectors.iter().any(|w| w == p.name());
        // `accounts` is the fold state, so the shadow always folds it; it is
        // swapped only when asked for.
        let running: Vec<Box<dyn Projector>> =
            all.into_iter().filter(|p| selected(p.as_ref()) || p.name() == "accounts").collect();
        let names: Vec<&str> = running.iter().filter(|p| selected(p.as_ref())).map(|p| p.name()).collect();
        let swapped: Vec<&'static str> =
            running.iter().filter(|p| selected(p.as_ref())).flat_map(|p| p.tables().iter().copied()).collect();
        let shadow_tables: Vec<&'static str> = running.iter().flat_map(|p| p.tables().iter().copied()).collect();

        let mut control = PgConnection::connect(&self.database_url).await?;
        if !shadow::lock(&mut control).await? {
            return Err(Error::ReplayRunning);
        }
        store::migrate_connection(&mut control).await?;
        shadow::create(&mut control, &shadow_tables).await?;
        let mut target = PgConnection::connect(&self.database_url).await?;
        shadow::use_shadow(&mut target).await?;

        let partitions = ledger_runtime::kafka::ensure_topic(&self.kafka_brokers, &self.events_topic, 8).await?;
        let mut folder = Folder {
            replay: self,
            projectors: &running,
            positions: vec![0; partitions as usize],
            progress: Progress::default(),
        };
        // Chase the live checkpoints until close enough to freeze them briefly.
        loop {
            let live = shadow::live_checkpoints(&mut control, &self.events_topic, &names).await?;
            let goal = folder.goal(&live);
            if folder.remaining(&goal) <= SWAP_DELTA {
                break;
            }
            folder.fold_to(&mut target, &goal, &mut on_progress).await?;
        }
        if !self.dry_run {
            // A retired schema kept from an earlier replay goes now, not inside the swap.
            shadow::drop_schema(&mut control, shadow::RETIRED).await?;
        }
        let mut tx = control.begin().await?;
        shadow::freeze(&mut tx, &swapped, !self.dry_run).await?;
        let live = shadow::live_checkpoints(&mut tx, &self.events_topic, &names).await?;
        let goal = folder.goal(&live);
        folder.fold_to(&mut target, &goal, &mut on_progress).await?;
        target.close().await?;
        let differences = if self.dry_run {
            let mut diffs = Vec::new();
            for table in &swapped {
                let (live_only, mut samples) =
                    shadow::missing_from(&mut tx, table, shadow::LIVE, shadow::SHADOW, 10).await?;
                let (shadow_only, theirs) =
                    shadow::missing_from(&mut tx, table, shadow::SHADOW, shadow::LIVE, 10).await?;
                samples.iter_mut().for_each(|s| s.insert_str(0, "live: "));
                samples.extend(theirs.into_iter().map(|s| format!("shadow: {s}")));
                if live_only + shadow_only > 0 {
                    diffs.push(TableDiff { table, live_only, shadow_only, samples });
                }
            }
            tx.rollback().await?;
            shadow::drop_schema(&mut control, shadow::SHADOW).await?;
            Some(diffs)
        } else {
            shadow::swap(&mut tx, &swapped).await?;
            tx.commit().await?;
            info!(tables = ?swapped, "shadow swapped in");
            if !self.keep_retired {
                shadow::drop_schema(&mut control, shadow::RETIRED).await?;
            }
            None
        };
        // Ends the session now, so the replay lock is free for whoever is next.
        control.close().await?;
        Ok(Outcome {
            tables: swapped,
            records: folder.progress.records,
            events: folder.progress.events,
            seconds: started.elapsed().as_secs_f64(),
            checkpoints: goal.into_iter().enumerate().map(|(p, o)| (p as i32, o)).collect(),
            differences,
        })
    }
}

/// Folds ranges of the log into the shadow, remembering how far each partition got.
struct Folder<'a> {
    replay: &'a Replay,
    projectors: &'a [Box<dyn Projector>],
    positions: Vec<i64>,
    progress: Progress,
}

impl Folder<'_> {
    fn goal(&self, live: &HashMap<i32, i64>) -> Vec<i64> {
        (0..self.positions.len()).map(|p| live.get(&(p as i32)).copied().unwrap_or(0)).collect()
    }

    fn remaining(&self, goal: &[i64]) -> i64 {
        goal.iter().zip(&self.positions).map(|(g, p)| (g - p).max(0)).sum()
    }

    /// Reads `[position, goal)` of every partition and applies it in batches;
    /// Kafka reads run in their own task, overlapping the Postgres writes.
    async fn fold_to(
        &mut self,
        conn: &mut PgConnection,
        goal: &[i64],
        on_progress: &mut impl FnMut(&Progress),
    ) -> Result<(), Error> {
        let ranges: Vec<(i32, i64, i64)> =
            goal.iter().enumerate().map(|(p, g)| (p as i32, self.positions[p], (*g).max(self.positions[p]))).collect();
        self.progress.target = self.progress.records + self.remaining(goal) as u64;
        let (tx, mut rx) = mpsc::channel::<(i32, Vec<Record>)>(4);
        let reader = ledger_runtime::kafka::reader(&self.replay.kafka_brokers)?;
        let (topic, batch_max) = (self.replay.events_topic.clone(), self.replay.batch_max.max(1));
        let reading = tokio::spawn(async move { read_batches(reader, topic, ranges, batch_max, tx).await });
        while let Some((partition, records)) = rx.recv().await {
            let mut shadow_tx = conn.begin().await?;
            let folded = store::fold_batch(&mut shadow_tx, &self.replay.events_topic, partition, &records).await?;
            for projector in self.projectors {
                projector.apply(&mut shadow_tx, &folded).await?;
            }
            shadow_tx.commit().await?;
            self.positions[partition as usize] += records.len() as i64;
            self.progress.records += records.len() as u64;
            self.progress.events += folded.events() as u64;
            on_progress(&self.progress);
        }
        reading.await.map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }
}

async fn read_batches(
    reader: rdkafka::consumer::StreamConsumer,
    topic: String,
    ranges: Vec<(i32, i64, i64)>,
    batch_max: usize,
    out: mpsc::Sender<(i32, Vec<Record>)>,
) -> Result<(), Error> {
    use rdkafka::Message;
    let ends: HashMap<i32, i64> = ranges.iter().map(|&(p, _, to)| (p, to)).collect();
    let mut buffers: HashMap<i32, Vec<Record>> = HashMap::new();
    let mut ranges_reader = ledger_runtime::kafka::RangeReader::assign(&reader, &topic, &ranges)?;
    while let Some(message) = ranges_reader.next().await? {
        let partition = message.partition();
        let buffer = buffers.entry(partition).or_default();
        buffer.push(Record {
            offset: message.offset(),
            value: message.payload().unwrap_or_default().to_vec(),
            timestamp_ms: message.timestamp().to_millis(),
        });
        if buffer.len() >= batch_max || message.offset() + 1 >= ends[&partition] {
            let records = std::mem::take(buffer);
            if out.send((partition, records)).await.is_err() {
                break; // the folder failed and went away
            }
        }
    }
    Ok(())
}
