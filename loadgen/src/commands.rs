//! `loadgen commands`: command throughput and latency over HTTP.
//!
//! Opens accounts, then runs `clients` concurrent keep-alive clients sending a
//! mix of deposits (3 in 4) and withdrawals for a fixed time against the
//! release `command-service` binary. Latencies go into an HDR histogram.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use testkit::{free_port, wait_ready, Process, Stack};

use crate::sibling;

pub async fn run(accounts: usize, clients: &[usize], seconds: u64) -> anyhow::Result<()> {
    let bin = sibling("command-service")?;
    let stack = Stack::new().await;
    let port = free_port();
    let env = vec![
        ("KAFKA_BROKERS".to_owned(), stack.broker.addr.clone()),
        ("DATABASE_URL".to_owned(), stack.db.url.clone()),
        ("EVENTS_TOPIC".to_owned(), stack.topic.clone()),
        ("HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("JWT_SECRET".to_owned(), ledger_runtime::TEST_JWT_SECRET.to_owned()),
        // Every bench client uses one identity; the per-client limit would cap the run.
        ("RATE_LIMIT_PER_SECOND".to_owned(), "10000000".to_owned()),
        ("RATE_LIMIT_BURST".to_owned(), "10000000".to_owned()),
    ];
    let base = format!("http://127.0.0.1:{port}");
    let mut process = Process::start(&bin, env);
    wait_ready(&mut process, &format!("{base}/readyz")).await;
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {}", testkit::token("bench", &["client"])).parse()?);
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).default_headers(auth).build()?;
    let mut ids = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        let body = json!({"currency": "EUR"});
        let answer: serde_json::Value =
            http.post(format!("{base}/v1/accounts")).json(&body).send().await?.json().await?;
        ids.push(answer["account_id"].as_str().unwrap_or_default().to_owned());
    }
    let ids = Arc::new(ids);
    println!("| clients | commands | commands/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in clients {
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(n);
        for c in 0..n {
            let (http, base, ids, stop, errors) =
                (http.clone(), base.clone(), Arc::clone(&ids), Arc::clone(&stop), Arc::clone(&errors));
            tasks.push(tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut k = c as u64;
                while !stop.load(Ordering::Relaxed) {
                    k = k.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let id = &ids[(k >> 33) as usize % ids.len()];
                    let kind = if k % 4 == 0 { "withdrawals" } else { "deposits" };
                    let started = Instant::now();
                    let sent = http
                        .post(format!("{base}/v1/accounts/{id}/{kind}"))
                        .json(&json!({"amount": (k >> 40) % 100 + 1}))
                        .send()
                        .await;
                    // A refusal (insufficient funds) is a served command; only 5xx and transport errors count.
                    match sent {
                        Ok(r) if r.status().is_server_error() => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            let _ = r.bytes().await;
                            let _ = histogram.record(started.elapsed().as_micros() as u64);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                histogram
            }));
        }
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for task in tasks {
            total.add(task.await?)?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {n} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            total.len(),
            total.len() as f64 / elapsed,
            ms(0.5),
            ms(0.99),
            ms(0.999),
            total.max() as f64 / 1000.0,
            errors.load(Ordering::Relaxed)
        );
        process.assert_running();
    }
    Ok(())
}
