//! Ledgerline's benchmark command.
//!
//! `loadgen fold` measures how fast projection workers fold a pre-filled
//! topic into the read models: it starts its own broker (Apache Kafka, one
//! node) and a fresh database, writes the commits straight to the topic,
//! starts the `projections` binary that sits next to this one, and times the
//! workers from start to fully caught up.
//!
//! `loadgen commands` measures command throughput and latency over HTTP at
//! several client counts.
//!
//! `loadgen replay` measures `ledgerctl replay` on a pre-filled topic while
//! clients read from the query service, then runs `ledgerctl verify`.
//!
//! `loadgen export` measures the peak memory of `ledgerctl export` at several
//! topic sizes.
//!
//! `loadgen startup` measures the command service's start-up on a topic of
//! 100k commits: once with no snapshot (folds the whole log), then again
//! after it has stored its snapshots (folds only the tail).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use testkit::{free_port, prefill, wait_ready, Process, Stack};

mod analysts;
mod commands;
mod suite;

#[derive(Parser)]
#[command(name = "loadgen", about = "Ledgerline benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Events/s that projection workers fold from a pre-filled topic.
    Fold {
        /// Accounts in the topic.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
        /// Deposits per account (events = accounts x (deposits + 1)).
        #[arg(long, default_value_t = 99)]
        deposits: u64,
        /// Workers in the group.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Records per transaction.
        #[arg(long, default_value_t = 2000)]
        batch_max: usize,
    },
    /// Commands/s and latency over HTTP, at each client count.
    Commands {
        /// Accounts the load is spread over.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Concurrent keep-alive clients, one run per value.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        clients: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// `ledgerctl replay` events/s on a pre-filled topic while reads go on; then `verify`.
    Replay {
        /// Accounts in the topic.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
        /// Deposits per account (events = accounts x (deposits + 1)).
        #[arg(long, default_value_t = 99)]
        deposits: u64,
        /// Concurrent readers of the query service during the replay.
        #[arg(long, default_value_t = 8)]
        readers: usize,
        /// Projectors to rebuild (default: accounts and account_entries).
        #[arg(long, value_delimiter = ',', default_value = "accounts,account_entries")]
        projectors: Vec<String>,
    },
    /// Every path against its ceiling in one run; Markdown and JSON results.
    Suite {
        /// A short run (under 2 minutes) with smaller sizes.
        #[arg(long)]
        quick: bool,
        /// Run only this scenario (its rows and targets; the others are "not measured").
        #[arg(long, value_enum)]
        only: Option<suite::Only>,
        /// Where results.md and results.json go (a directory per mode with `all`).
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// The broker's durability mode: single, fsync, cluster, or all in turn.
        #[arg(long, value_enum, default_value = "all")]
        broker: suite::BrokerMode,
    },
    /// Peak memory (RSS) of `ledgerctl export` at each topic size.
    Export {
        /// Events in the topic, one run per value.
        #[arg(long, value_delimiter = ',', default_value = "200000,1000000")]
        events: Vec<u64>,
        /// Accounts the events are spread over.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
    },
    /// Command-service start-up time with and without a snapshot.
    Startup {
        /// Accounts in the topic.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Deposits per account (commits = accounts x (deposits + 1)).
        #[arg(long, default_value_t = 99)]
        deposits: u64,
    },
}

pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!("{} not found: build it first (cargo build --release --bins)", path.display());
    }
    Ok(path)
}

/// Starts a `projections` worker process in `group` and waits until it is ready.
pub(crate) async fn start_worker(stack: &Stack, bin: &std::path::Path, group: &str, batch_max: usize) -> Process {
    start_worker_on(&stack.broker.addr, &stack.db.url, &stack.topic, bin, group, batch_max).await
}

/// [`start_worker`] on a given broker, database and topic.
pub(crate) async fn start_worker_on(
    brokers: &str,
    database_url: &str,
    topic: &str,
    bin: &std::path::Path,
    group: &str,
    batch_max: usize,
) -> Process {
    let port = free_port();
    let env: HashMap<&str, String> = HashMap::from([
        ("KAFKA_BROKERS", brokers.to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("EVENTS_TOPIC", topic.to_owned()),
        ("PROJECTIONS_GROUP", group.to_owned()),
        ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("BATCH_MAX", batch_max.to_string()),
        ("RUST_LOG", "warn".to_owned()),
        ("JWT_SECRET", ledger_runtime::TEST_JWT_SECRET.to_owned()),
    ]);
    let mut process = Process::start(bin, env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    wait_ready(&mut process, &format!("http://127.0.0.1:{port}/readyz")).await;
    process
}

pub(crate) async fn applied(pool: &sqlx::PgPool, topic: &str) -> i64 {
    sqlx::query_as::<_, (Option<i64>,)>(
        "select sum(next_offset)::int8 from projection_checkpoints where projection = 'accounts' and topic = $1",
    )
    .bind(topic)
    .fetch_one(pool)
    .await
    .map_or(0, |(n,)| n.unwrap_or(0))
}

async fn fold(accounts: usize, deposits: u64, workers: usize, batch_max: usize) -> anyhow::Result<()> {
    let bin = sibling("projections")?;
    let stack = Stack::new().await;
    let started = Instant::now();
    prefill(&stack.broker.addr, &stack.topic, accounts, deposits, 0).await;
    let total = analysts::log_end(&stack).await?;
    eprintln!("prefilled {total} commits in {:.1?}", started.elapsed());

    let pool = sqlx::PgPool::connect(&stack.db.url).await.context("database")?;
    let started = Instant::now();
    let mut procs = Vec::new();
    for _ in 0..workers {
        procs.push(start_worker(&stack, &bin, &format!("{}-bench", stack.topic), batch_max).await);
    }
    let mut first_progress = None;
    loop {
        let done = applied(&pool, &stack.topic).await;
        if done > 0 && first_progress.is_none() {
            first_progress = Some(Instant::now());
        }
        if done >= total {
            break;
        }
        for p in &mut procs {
            p.assert_running();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let folding = first_progress.map_or(elapsed, |t| t.elapsed());
    println!("| bench | workers | batch | events | wall (start to caught up) | events/s (wall) | events/s (first batch on) |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| fold | {workers} | {batch_max} | {total} | {:.2} s | {:.0} | {:.0} |",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / folding.as_secs_f64()
    );
    Ok(())
}

async fn startup(accounts: usize, deposits: u64) -> anyhow::Result<()> {
    let bin = sibling("command-service")?;
    let stack = Stack::new().await;
    prefill(&stack.broker.addr, &stack.topic, accounts, deposits, 0).await;
    let commits = accounts as u64 * (deposits + 1);
    let port = free_port();
    let mut env = suite::env(&stack, port);
    // Small enough that every one of the 8 partitions takes a snapshot, or the wait below never ends.
    let every = (commits / 16).clamp(1, 5000);
    env.push(("SNAPSHOT_EVERY".to_owned(), every.to_string()));
    let url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let mut process = Process::start(&bin, env);
    let cold = wait_ready(&mut process, &url).await;
    let cold_wall = started.elapsed();
    let pool = sqlx::PgPool::connect(&stack.db.url).await.context("database")?;
    loop {
        let (n,): (i64,) = sqlx::query_as("select count(*) from command_snapshots").fetch_one(&pool).await?;
        if n == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process.restart();
    let started = Instant::now();
    let warm = wait_ready(&mut process, &url).await;
    let warm_wall = started.elapsed();
    println!("| start-up over {commits} commits | records folded | fold time | process start to ready |");
    println!("|---|---|---|---|");
    for (name, report, wall) in [("no snapshot", &cold, cold_wall), ("from snapshot", &warm, warm_wall)] {
        let r = &report["recovery"];
        println!("| {name} | {} | {} ms | {} ms |", r["records_replayed"], r["elapsed_ms"], wall.as_millis());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::Fold { accounts, deposits, workers, batch_max } => fold(accounts, deposits, workers, batch_max).await,
        Bench::Startup { accounts, deposits } => startup(accounts, deposits).await,
        Bench::Replay { accounts, deposits, readers, projectors } => {
            analysts::replay(accounts, deposits, readers, &projectors).await
        }
        Bench::Export { events, accounts } => analysts::export(&events, accounts).await,
        Bench::Suite { quick, only, out, broker } => suite::run_modes(quick, only, out, broker).await,
        Bench::Commands { accounts, clients, seconds } => commands::run(accounts, &clients, seconds).await,
    }
}
