//! `loadgen suite`: every path against its ceiling, in one run, on one machine.
//! Writes a Markdown table (stdout and `<out>/results.md`) and `<out>/results.json`.
//!
//! # Layout
//! - [`load`] — closed-loop and fixed-rate load with HDR histograms.
//! - [`ceilings`] — raw producer, direct SQL, pgbench.
//! - [`cluster`] — the write side on 1, 2 and 3 instances, forwarding, failover and handover.
//! - [`minimal`] — the query path's second ceiling: a minimal axum + sqlx handler.
//! - [`queries`] — scenario 6: the query path against pgbench and the minimal handler, with CPU per request.
//! - [`report`] — the table, the targets, results.md and results.json.
//! - [`services`] — starting the services, opening accounts, the command load.
//! - [`sys`] — machine, revision, process memory and CPU.
//! - [`transfers`] — transfers end to end against the deposit rate of the same run.
//! - [`tracing`] — the command scenario with trace export off and on.
//! - [`webhooks`] — webhook deliveries against a plain HTTP client, and commit → delivered latency.

mod backup;
mod ceilings;
mod cluster;
pub mod load;
mod minimal;
mod queries;
mod report;
mod restart;
mod services;
mod sys;
mod tracing;
mod transfers;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use testkit::{prefill, Database, Stack};

use crate::{applied, sibling, start_worker_on};
use load::{Outcome, Probe};
use report::Row;
pub(crate) use services::{commands, env, http, open_accounts, read_side, service, service_at, service_with};

/// Sizes of a run.
struct Plan {
    clients: Vec<usize>,
    secs: f64,
    accounts: usize,
    fold_accounts: usize,
    fold_deposits: u64,
    aggregates_for_rss: usize,
    backup_records: u64,
}

fn ratio(ours: f64, ceiling: f64) -> Option<f64> {
    (ceiling > 0.0).then(|| (ours / ceiling * 100.0).round() / 100.0)
}

/// A scenario `loadgen suite --only` runs alone.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// Scenario 1: commands at each client count against the raw producer.
    Commands,
    /// Scenario 6: the query path against pgbench and the minimal handler.
    Queries,
    /// Scenario 8: transfers end to end beside deposits.
    Transfers,
    /// Scenario 9: the write side on 1, 2 and 3 instances.
    Cluster,
    /// Scenario 10: commands with trace export off and on.
    Tracing,
    /// Scenario 11: `ledgerctl backup` and `restore` of a 1M-record topic (100k with --quick).
    Backup,
    /// Scenario 12: webhook deliveries against a plain client, and commit → delivered latency.
    Webhooks,
}

/// The durability mode of the suite's brokers (docs/kafka.md).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrokerMode {
    /// One Kafka node, Kafka's defaults: acknowledged in the page cache, no fsync.
    Single,
    /// One Kafka node that fsyncs every append before acknowledging it.
    Fsync,
    /// Three Kafka nodes: replication factor 3, `min.insync.replicas=2`.
    Cluster,
    /// Each of the three in turn: `<out>/single`, `<out>/fsync`, `<out>/cluster`.
    All,
}

/// This run's mode: 0 single, 1 fsync, 2 cluster.
static MODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// This run's broker mode.
pub(crate) fn mode() -> testkit::Mode {
    match MODE.load(std::sync::atomic::Ordering::Relaxed) {
        0 => testkit::Mode::Single,
        1 => testkit::Mode::Fsync,
        _ => testkit::Mode::Cluster,
    }
}

/// A broker (of this run's own), database and topic in this run's broker mode.
async fn new_stack() -> Stack {
    Stack::on(testkit::Broker::own(mode())).await
}

/// Runs the suite in each broker mode of `broker`.
pub async fn run_modes(quick: bool, only: Option<Only>, out: PathBuf, broker: BrokerMode) -> anyhow::Result<()> {
    let modes: &[(u8, &str)] = match broker {
        BrokerMode::Single => &[(0, "")],
        BrokerMode::Fsync => &[(1, "")],
        BrokerMode::Cluster => &[(2, "")],
        BrokerMode::All => &[(0, "single"), (1, "fsync"), (2, "cluster")],
    };
    for &(mode, sub) in modes {
        MODE.store(mode, std::sync::atomic::Ordering::Relaxed);
        eprintln!("broker: {}", sys::broker());
        run(quick, only, if sub.is_empty() { out.clone() } else { out.join(sub) }).await?;
    }
    Ok(())
}

pub async fn run(quick: bool, only: Option<Only>, out: PathBuf) -> anyhow::Result<()> {
    let plan = if quick {
        Plan {
            clients: vec![16, 64],
            secs: 3.0,
            accounts: 200,
            fold_accounts: 500,
            fold_deposits: 99,
            aggregates_for_rss: 20_000,
            backup_records: 100_000,
        }
    } else {
        Plan {
            clients: vec![1, 16, 64, 256],
            secs: 8.0,
            accounts: 1_000,
            fold_accounts: 2_000,
            fold_deposits: 99,
            aggregates_for_rss: 100_000,
            backup_records: 1_000_000,
        }
    };
    let started = Instant::now();
    let stack = new_stack().await;
    match only {
        Some(Only::Transfers) => {
            let mut rows = transfers::scenario(&stack, &http()?, plan.accounts, plan.secs).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Cluster) => {
            let mut rows =
                cluster::scenario(&stack, &http()?, plan.accounts, plan.secs, plan.aggregates_for_rss).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Tracing) => {
            let mut rows = tracing::scenario(&stack, &http()?, plan.accounts, plan.secs).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Backup) => {
            let mut rows = backup::scenario(&stack, plan.backup_records).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Webhooks) => {
            let mut rows = webhooks::scenario(&stack, quick, plan.secs).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Queries) => {
            let mut rows = queries::alone(&stack, plan.accounts, plan.secs).await?;
            return report::write(&mut rows, quick, started.elapsed(), &out);
        }
        Some(Only::Commands) | None => {}
    }
    let (mut commands_process, cmd) = service("command-service", &stack).await?;
    let http = http()?;
    let ids = Arc::new(open_accounts(&http, &cmd, plan.accounts).await?);

    let (mut rows, peak) = commands_scenario(&stack, &http, &cmd, &ids, &plan).await?;
    if only == Some(Only::Commands) {
        drop(commands_process);
        return report::write(&mut rows, quick, started.elapsed(), &out);
    }
    // 2. At half the peak, in the conditions the peak was measured in (command
    // side only): p99 from the scheduled send (queueing included) and of service.
    let fixed = load::fixed_rate(peak / 2.0, plan.secs, commands(&http, &cmd, &ids), None).await;
    let mut row = Row::new(
        "2. commands at 50% of peak",
        format!("{:.0} cmd/s offered, {:.0} done", peak / 2.0, fixed.scheduled.rate()),
    )
    .latencies(&fixed.scheduled);
    row.note = format!(
        "command side only, as in 1; latency from the scheduled send (queueing included); service time p99 {:.1} ms",
        fixed.service.value_at_quantile(0.99) as f64 / 1000.0
    );
    rows.push(row);
    // The read side joins, and catches up with scenario 1's commits first.
    let (mut worker, mut queries_process, qry) = read_side(&stack).await?;

    // 3. At half the peak, with the read side on: command → read-model lag.
    let rate = peak / 2.0;
    let probe: Probe = {
        let (http, qry) = (http.clone(), qry.clone());
        Arc::new(move |body: Vec<u8>| {
            let (http, qry) = (http.clone(), qry.clone());
            Box::pin(async move {
                let answered = Instant::now();
                let body: Value = serde_json::from_slice(&body).ok()?;
                let (id, token) = (body["account_id"].as_str()?, body["consistency_token"].as_str()?);
                let read =
                    http.get(format!("{qry}/v1/accounts/{id}")).header("consistency-token", token).send().await.ok()?;
                read.status().is_success().then(|| answered.elapsed())
            })
        })
    };
    let fixed = load::fixed_rate(rate, plan.secs, commands(&http, &cmd, &ids), Some((10, probe))).await;
    // A probe that never saw its write is an error of this row, not a missing sample.
    let lag = Outcome { hist: fixed.lag, errors: fixed.probe_failures, seconds: fixed.scheduled.seconds };
    let mut row =
        Row::new("3. command → read model lag at 50% of peak", format!("{} samples", lag.hist.len())).latencies(&lag);
    row.note = format!(
        "2xx to a read with its consistency token that shows it (1 in 10 commands); read side on: {:.0} cmd/s \
         offered, {:.0} done, command p99 {:.1} ms",
        rate,
        fixed.scheduled.rate(),
        fixed.scheduled.ms(0.99)
    );
    rows.push(row);

    // 6. Query path against pgbench and a minimal handler, at the same client counts.
    rows.extend(queries::scenario(&stack, &http, &qry, &ids, queries_process.pid(), plan.secs).await?);

    // 7. Peak memory of each service: the command service's after scenario 1
    // (its heaviest), the read side's after scenarios 2, 3 and 6.
    for (name, process) in
        [("command-service", &commands_process), ("projections", &worker), ("query-service", &queries_process)]
    {
        let peak_kib = process.pid().and_then(|pid| sys::status_kib(pid, "VmHWM:")).unwrap_or(0);
        rows.push(Row::new(format!("7. peak RSS, {name}"), format!("{:.1} MiB", peak_kib as f64 / 1024.0)));
    }

    // 7. Command-service memory per million aggregates held: a fresh service on
    // its own topic, so that memory the allocator kept from the load above
    // does not hide the growth.
    let topic = vec![("EVENTS_TOPIC".to_owned(), format!("{}-rss", stack.topic))];
    let (mut fresh, fresh_base) = service_with("command-service", &stack, topic).await?;
    let pid = fresh.pid().context("command service pid")?;
    open_accounts(&http, &fresh_base, 1_000).await?;
    let before = sys::status_kib(pid, "VmRSS:").unwrap_or(0);
    open_accounts(&http, &fresh_base, plan.aggregates_for_rss).await?;
    let after = sys::status_kib(pid, "VmRSS:").unwrap_or(0);
    fresh.assert_running();
    drop(fresh);
    let per_million = after.saturating_sub(before) as f64 / 1024.0 / plan.aggregates_for_rss as f64 * 1e6;
    let mut row = Row::new("7. command-service RSS per 1M aggregates", format!("{per_million:.0} MiB"));
    row.note = format!(
        "fresh service: RSS {:.1} → {:.1} MiB while opening {} accounts",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        plan.aggregates_for_rss
    );
    rows.push(row);
    commands_process.assert_running();
    queries_process.assert_running();
    worker.assert_running();
    drop((commands_process, worker, queries_process));
    // 8. Transfers against deposits: a command service and a driver of their own.
    rows.extend(transfers::scenario(&stack, &http, plan.accounts, plan.secs).await?);
    // 9. The write side on 1, 2 and 3 instances, on a topic of its own.
    rows.extend(cluster::scenario(&stack, &http, plan.accounts, plan.secs, plan.aggregates_for_rss).await?);
    // 10. What exporting traces costs the command path.
    rows.extend(tracing::scenario(&stack, &http, plan.accounts, plan.secs).await?);
    // 12. Webhook deliveries against a plain client; commit → delivered latency.
    rows.extend(webhooks::scenario(&stack, quick, plan.secs).await?);

    // 4 and 5. Projection fold (1 and 2 workers) and replay on a pre-filled topic, against direct SQL.
    let events = plan.fold_accounts as u64 * (plan.fold_deposits + 1);
    let fold_stack = new_stack().await;
    prefill(&fold_stack.broker.addr, &fold_stack.topic, plan.fold_accounts, plan.fold_deposits, 0).await;
    let batches = ceilings::folded_batches(&fold_stack.broker.addr, &fold_stack.topic, 2000).await?;
    let direct_db = Database::fresh().await;
    let ceiling = ceilings::direct_sql(&direct_db.url, &batches).await?;
    for workers in [1, 2] {
        let db = Database::fresh().await;
        let target = Target { brokers: &fold_stack.broker.addr, db: &db.url, topic: &fold_stack.topic };
        let eps = fold(&target, workers, events).await?;
        let mut row = Row::new(format!("4. projection fold, {workers} worker(s)"), format!("{eps:.0} events/s"));
        (row.ceiling, row.ratio) =
            (format!("{ceiling:.0} events/s direct SQL, same rows and batch"), ratio(eps, ceiling));
        row.note = format!("{events} events, start to caught up");
        rows.push(row);
        if workers == 1 {
            let replayed = replay(&target).await?;
            let mut row = Row::new("5. replay (all read models)", format!("{replayed:.0} events/s"));
            (row.ceiling, row.ratio) = (format!("{ceiling:.0} events/s direct SQL"), ratio(replayed, ceiling));
            rows.push(row);
        }
    }
    report::write(&mut rows, quick, started.elapsed(), &out)
}

/// Scenario 1: command throughput and latency, against a raw producer with
/// the same settings. Only the command service runs, as only the producer
/// does. Returns the rows and the best rate.
async fn commands_scenario(
    stack: &Stack,
    http: &reqwest::Client,
    cmd: &str,
    ids: &Arc<Vec<String>>,
    plan: &Plan,
) -> anyhow::Result<(Vec<Row>, f64)> {
    let mut rows = Vec::new();
    let mut peak: f64 = 0.0;
    for &n in &plan.clients {
        let ours = load::closed(n, plan.secs, commands(http, cmd, ids)).await;
        let ceiling =
            ceilings::raw_producer(&stack.broker.addr, &format!("{}-ceiling", stack.topic), n, plan.secs).await?;
        eprintln!("commands at {n} clients: {:.0}/s (raw producer {ceiling:.0}/s)", ours.rate());
        peak = peak.max(ours.rate());
        let mut row =
            Row::new(format!("1. commands, {n} clients"), format!("{:.0} cmd/s", ours.rate())).latencies(&ours);
        (row.ceiling, row.ratio) =
            (format!("{ceiling:.0} rec/s raw producer, {n} in flight"), ratio(ours.rate(), ceiling));
        rows.push(row);
    }
    Ok((rows, peak))
}

/// A broker, a database and a topic.
struct Target<'a> {
    brokers: &'a str,
    db: &'a str,
    topic: &'a str,
}

/// Events/s of `workers` fresh workers folding the whole topic.
async fn fold(target: &Target<'_>, workers: usize, events: u64) -> anyhow::Result<f64> {
    let pool = sqlx::PgPool::connect(target.db).await?;
    let started = Instant::now();
    let mut procs = Vec::new();
    let bin = sibling("projections")?;
    let group = format!("{}-fold-{workers}", target.topic);
    for _ in 0..workers {
        procs.push(start_worker_on(target.brokers, target.db, target.topic, &bin, &group, 2000).await);
    }
    while applied(&pool, target.topic).await < events as i64 {
        for p in &mut procs {
            p.assert_running();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// Events/s that `ledgerctl replay` reports on `target`.
async fn replay(target: &Target<'_>) -> anyhow::Result<f64> {
    let mut command = std::process::Command::new(sibling("ledgerctl")?);
    command
        .arg("replay")
        .env("KAFKA_BROKERS", target.brokers)
        .env("EVENTS_TOPIC", target.topic)
        .env("DATABASE_URL", target.db);
    let out = tokio::task::spawn_blocking(move || command.output()).await??;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "replay failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text.split_once(" s (")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("no events/s in the replay's report")
}
