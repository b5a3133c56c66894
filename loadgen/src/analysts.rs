//! Benchmarks of the analyst tools: `replay` under reads, and `export` memory.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use ledger_runtime::kafka;
use testkit::{free_port, prefill, wait_ready, Process, Stack};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{applied, sibling, start_worker};

/// Log end of every partition, summed.
pub(crate) async fn log_end(stack: &Stack) -> anyhow::Result<i64> {
    Ok(kafka::log_ends(&stack.broker.addr, &stack.topic, 8).await?.iter().sum())
}

fn ledgerctl(stack: &Stack, args: &[&str]) -> anyhow::Result<Command> {
    let mut command = Command::new(sibling("ledgerctl")?);
    command
        .args(args)
        .env("KAFKA_BROKERS", &stack.broker.addr)
        .env("EVENTS_TOPIC", &stack.topic)
        .env("DATABASE_URL", &stack.db.url);
    Ok(command)
}

#[derive(Default)]
struct Reads {
    latency: Option<Histogram<u64>>,
    by_class: [u64; 6],
}

/// Rebuilds read models with `ledgerctl replay` on a pre-filled topic while
/// `readers` clients read accounts from the query service; then `verify`.
pub async fn replay(accounts: usize, deposits: u64, readers: usize, projectors: &[String]) -> anyhow::Result<()> {
    let stack = Stack::new().await;
    let ids = prefill(&stack.broker.addr, &stack.topic, accounts, deposits, 0).await;
    let total = log_end(&stack).await?;
    let mut worker = start_worker(&stack, &sibling("projections")?, &format!("{}-bench", stack.topic), 2000).await;
    let pool = sqlx::PgPool::connect(&stack.db.url).await.context("database")?;
    while applied(&pool, &stack.topic).await < total {
        worker.assert_running();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{total} records folded by the live worker; starting readers and the replay");

    let port = free_port();
    let env = vec![
        ("DATABASE_URL".to_owned(), stack.db.url.clone()),
        ("EVENTS_TOPIC".to_owned(), stack.topic.clone()),
        ("HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("JWT_SECRET".to_owned(), ledger_runtime::TEST_JWT_SECRET.to_owned()),
    ];
    let mut queries = Process::start(sibling("query-service")?, env);
    wait_ready(&mut queries, &format!("http://127.0.0.1:{port}/readyz")).await;
    let reads = Arc::new(Mutex::new(Reads { latency: Some(Histogram::new(3)?), ..Reads::default() }));
    let stop = CancellationToken::new();
    let ids = Arc::new(ids);
    let mut tasks = Vec::new();
    for n in 0..readers {
        let (reads, stop, ids) = (reads.clone(), stop.clone(), ids.clone());
        let client = testkit::client("bench-analyst", &["analyst"]);
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (n as u64 + 1);
            while !stop.is_cancelled() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let id = ids[(seed % ids.len() as u64) as usize];
                let started = Instant::now();
                let status = client.get(format!("http://127.0.0.1:{port}/v1/accounts/{id}")).send().await;
                let micros = started.elapsed().as_micros() as u64;
                let class = status.map_or(0, |r| (r.status().as_u16() / 100) as usize).min(5);
                let mut reads = reads.lock().await;
                reads.by_class[class] += 1;
                if let Some(h) = reads.latency.as_mut() {
                    let _ = h.record(micros);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut args = vec!["replay"];
    for p in projectors {
        args.extend(["--projector", p.as_str()]);
    }
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let mut command = ledgerctl(&stack, &args)?;
        move || command.output()
    })
    .await??;
    let wall = started.elapsed();
    stop.cancel();
    for task in tasks {
        task.await?;
    }
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("replay failed: {report}{}", String::from_utf8_lossy(&out.stderr));
    }
    let verify = ledgerctl(&stack, &["verify"])?.output()?;
    let verified = String::from_utf8_lossy(&verify.stdout);
    let reads = reads.lock().await;
    let h = reads.latency.as_ref().context("histogram")?;
    println!("{}", report.trim());
    println!("| bench | records | replay wall | events/s | reads during | 2xx | 5xx | no answer | read p50 | read p99 | verify |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| replay {} | {total} | {:.2} s | {:.0} | {} | {} | {} | {} | {:.1} ms | {:.1} ms | {} |",
        if projectors.is_empty() { "all".to_owned() } else { projectors.join("+") },
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64(),
        h.len(),
        reads.by_class[2],
        reads.by_class[5],
        reads.by_class[0],
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        if verify.status.success() { "pass" } else { "FAIL" },
    );
    if !verify.status.success() {
        bail!("verify failed after the replay:\n{verified}");
    }
    Ok(())
}

/// Peak memory of `ledgerctl export` over a topic of each size, by `/usr/bin/time -v`.
pub async fn export(sizes: &[u64], accounts: usize) -> anyhow::Result<()> {
    println!("| bench | events in topic | lines written | wall | lines/s | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let stack = Stack::new().await;
        let deposits = (size / accounts as u64).saturating_sub(1);
        prefill(&stack.broker.addr, &stack.topic, accounts, deposits, 0).await;
        let total = log_end(&stack).await?;
        let mut command = Command::new("/usr/bin/time");
        command
            .arg("-v")
            .arg(sibling("ledgerctl")?)
            .args(["export", "--output", "/dev/null"])
            .env("KAFKA_BROKERS", &stack.broker.addr)
            .env("EVENTS_TOPIC", &stack.topic);
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || command.output()).await??;
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("export failed: {stderr}");
        }
        let field = |name: &str| {
            stderr.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned())).unwrap_or_default()
        };
        let rss_kb: u64 = field("Maximum resident set size (kbytes):").parse().unwrap_or(0);
        let lines: u64 = field("exported").split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        println!(
            "| export ndjson | {total} | {lines} | {:.2} s | {:.0} | {:.1} MiB |",
            wall.as_secs_f64(),
            lines as f64 / wall.as_secs_f64(),
            rss_kb as f64 / 1024.0
        );
    }
    Ok(())
}
