//! The physical ceilings our paths are set against: a raw producer, direct
//! SQL writes of the same rows, and pgbench.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use events::account::{MoneyMoved, AGGREGATE_TYPE};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
use ledger_runtime::kafka;
use projections::batch::{self, FoldedBatch, Record, StoredAccount};
use rdkafka::producer::FutureRecord;
use uuid::Uuid;

/// A commit as the command service writes it for a deposit.
fn sample_commit(id: Uuid, version: u64) -> Commit {
    let moved = MoneyMoved { amount: 42, reference: None, balance_after: 42 * version as i64 };
    Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: AGGREGATE_TYPE.into(),
        aggregate_id: id,
        expected_version: version,
        // Same size as the service's records, which name the commit they follow.
        previous_commit_id: Some(Uuid::now_v7()),
        events: vec![Event {
            event_id: Uuid::now_v7(),
            sequence: version + 1,
            occurred_at: chrono::Utc::now(),
            payload: AccountEvent::MoneyDeposited(moved),
        }],
        command: CommandInfo { name: "Deposit".into(), idempotency_key: None, fingerprint: None },
        metadata: Metadata { correlation_id: Uuid::now_v7().to_string(), ..Default::default() },
    }
}

/// Records/s of a raw idempotent producer (the command service's settings:
/// `acks=all`, linger 1 ms) with `in_flight` sends outstanding, for `secs`.
pub async fn raw_producer(brokers: &str, topic: &str, in_flight: usize, secs: f64) -> anyhow::Result<f64> {
    let partitions = kafka::ensure_topic(brokers, topic, 8).await?;
    let producer = Arc::new(kafka::producer(brokers, "ceiling", 1)?);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..in_flight {
        let (producer, stop, sent, topic) = (producer.clone(), stop.clone(), sent.clone(), topic.to_owned());
        tasks.push(tokio::spawn(async move {
            let id = Uuid::new_v4();
            let key = id.to_string();
            let partition = events::partition_for(id, partitions);
            let mut version = c as u64;
            while !stop.load(Ordering::Relaxed) {
                // The same record as the service's: key, value and headers.
                let commit = sample_commit(id, version);
                let value = commit.encode();
                let record = FutureRecord::to(&topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value)
                    .headers(kafka::commit_headers(&commit));
                if producer.send(record, Duration::from_secs(10)).await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                version += 1;
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    Ok(sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// The whole topic, folded into batches of `batch_max` records per partition
/// in memory (fold state kept in memory too): the rows the workers write.
pub async fn folded_batches(brokers: &str, topic: &str, batch_max: usize) -> anyhow::Result<Vec<FoldedBatch>> {
    let reader = kafka::reader(brokers)?;
    let mut batches = Vec::new();
    for (p, end) in kafka::log_ends(brokers, topic, 8).await?.into_iter().enumerate() {
        let p = p as i32;
        let mut records = Vec::new();
        kafka::read_ranges(&reader, topic, &[(p, 0, end)], |_, offset, value| {
            records.push(Record { offset, value: value.to_vec(), timestamp_ms: None });
        })
        .await?;
        let mut state: HashMap<Uuid, StoredAccount> = HashMap::new();
        for chunk in records.chunks(batch_max) {
            let decoded = batch::decode(chunk);
            let stored = decoded.accounts.iter().filter_map(|id| state.get(id).map(|a| (*id, a.clone()))).collect();
            let folded = batch::fold(topic, p, decoded, stored, HashMap::new());
            state.extend(folded.accounts.iter().map(|(id, a)| (*id, a.clone())));
            batches.push(folded);
        }
    }
    Ok(batches)
}

/// Events/s of writing `batches` straight into fresh read-model tables with the
/// projectors' own set-based SQL, one transaction per batch: no Kafka, no
/// fold, no reads.
pub async fn direct_sql(database_url: &str, batches: &[FoldedBatch]) -> anyhow::Result<f64> {
    let pool = sqlx::PgPool::connect(database_url).await.context("database")?;
    projections::store::migrate(&pool).await?;
    let projectors = projections::projector::all();
    let events: usize = batches.iter().map(FoldedBatch::events).sum();
    let started = Instant::now();
    for batch in batches {
        let mut tx = pool.begin().await?;
        for projector in &projectors {
            projector.apply(&mut tx, batch).await?;
        }
        tx.commit().await?;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// `pgbench -S -M prepared` (select-only, prepared) at `clients` for `secs`,
/// on a database initialised at scale 10. Returns transactions/s.
pub fn pgbench(database_url: &str, clients: usize, secs: u64) -> anyhow::Result<f64> {
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out =
            Command::new("pgbench").args(args).arg(database_url).output().context("pgbench (postgresql-contrib)")?;
        anyhow::ensure!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (c, t) = (clients.to_string(), secs.to_string());
    let out = run(&["-S", "-M", "prepared", "-n", "-c", &c, "-j", "2", "-T", &t])?;
    out.lines()
        .find_map(|l| l.strip_prefix("tps = ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .context("no tps line in pgbench output")
}

/// Initialises pgbench's tables (scale 10) in `database_url`.
pub fn pgbench_init(database_url: &str) -> anyhow::Result<()> {
    let out = Command::new("pgbench").args(["-i", "-q", "-s", "10"]).arg(database_url).output().context("pgbench")?;
    anyhow::ensure!(out.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
