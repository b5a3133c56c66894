//! Scenario 11: `ledgerctl backup` and `restore` of a prefilled topic, as
//! child processes: records/s, MiB/s and peak RSS, against the raw consumer
//! (a read of the same topic) and the raw producer of this run's broker.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ledger_runtime::kafka;
use testkit::Stack;

use super::report::Row;
use super::{ceilings, ratio, sys};

/// Runs `ledgerctl args` to its end; returns the seconds it took and its peak RSS (MiB).
fn timed(stack: &Stack, topic: &str, args: &[&str]) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let mut child = Command::new(crate::sibling("ledgerctl")?)
        .args(args)
        .env("KAFKA_BROKERS", &stack.broker.addr)
        .env("EVENTS_TOPIC", topic)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let mut peak_kib = 0;
    loop {
        peak_kib = peak_kib.max(sys::status_kib(child.id(), "VmHWM:").unwrap_or(0));
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "ledgerctl {args:?} failed: {status}");
            return Ok((started.elapsed().as_secs_f64(), peak_kib as f64 / 1024.0));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Records/s of one consumer reading the whole topic.
async fn raw_consumer(brokers: &str, topic: &str) -> anyhow::Result<f64> {
    let ends = kafka::log_ends(brokers, topic, 8).await?;
    let ranges: Vec<(i32, i64, i64)> = ends.iter().enumerate().map(|(p, end)| (p as i32, 0, *end)).collect();
    let reader = kafka::reader(brokers)?;
    let (started, mut read) = (Instant::now(), 0u64);
    kafka::read_ranges(&reader, topic, &ranges, |_, _, _| read += 1).await?;
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

fn dir_mib(dir: &Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    bytes as f64 / (1024.0 * 1024.0)
}

pub async fn scenario(stack: &Stack, records: u64) -> anyhow::Result<Vec<Row>> {
    let (brokers, topic) = (stack.broker.addr.as_str(), stack.topic.as_str());
    // Accounts of 100 deposits each (and their opens): `records` in all.
    let accounts = (records / 101).max(1) as usize;
    testkit::prefill(brokers, topic, accounts, 100, 0).await;
    let total: i64 = kafka::log_ends(brokers, topic, 8).await?.iter().sum();
    let consumer = raw_consumer(brokers, topic).await?;
    let dir = std::env::temp_dir().join(format!("ledgerline-bench-backup-{}", uuid::Uuid::new_v4().simple()));
    let out = dir.to_string_lossy().into_owned();
    let (backup_secs, backup_rss) = timed(stack, topic, &["backup", "--out", &out])?;
    let mib = dir_mib(&dir);
    let restored = format!("{topic}.restored");
    let (restore_secs, restore_rss) = timed(stack, &restored, &["restore", "--from", &out])?;
    let producer = ceilings::raw_producer(brokers, &format!("{topic}.ceiling"), 1000, 5.0).await?;
    let _ = std::fs::remove_dir_all(&dir);
    let per_sec = |secs: f64| total as f64 / secs;
    let mut backup = Row::new(format!("11. backup, {total} records"), format!("{:.0} rec/s", per_sec(backup_secs)));
    backup.ceiling = format!("{consumer:.0} rec/s (raw consumer)");
    backup.ratio = ratio(per_sec(backup_secs), consumer);
    backup.note = format!(
        "{backup_secs:.1} s; {mib:.1} MiB of gzip segments ({:.1} MiB/s written); peak RSS {backup_rss:.0} MiB",
        mib / backup_secs
    );
    let mut restore = Row::new(format!("11. restore, {total} records"), format!("{:.0} rec/s", per_sec(restore_secs)));
    restore.ceiling = format!("{producer:.0} rec/s (raw producer, 1000 in flight)");
    restore.ratio = ratio(per_sec(restore_secs), producer);
    restore.note = format!(
        "{restore_secs:.1} s, every record checked at its offset; {:.1} MiB/s read; peak RSS {restore_rss:.0} MiB",
        mib / restore_secs
    );
    for row in [&mut backup, &mut restore] {
        row.errors = Some(0);
    }
    Ok(vec![backup, restore])
}
