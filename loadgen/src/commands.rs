//! `loadgen commands`: command throughput and latency over HTTP.
//!
//! Opens accounts, then runs `clients` concurrent keep-alive clients sending a
//! mix of deposits (3 in 4) and withdrawals for a fixed time against the
//! release `command-service` binary. Latencies go into an HDR histogram.

use std::sync::Arc;

use testkit::Stack;

use crate::suite::{commands, http, load, open_accounts, service};

pub async fn run(accounts: usize, clients: &[usize], seconds: u64) -> anyhow::Result<()> {
    let stack = Stack::new().await;
    let (mut process, base) = service("command-service", &stack).await?;
    let http = http()?;
    let ids = Arc::new(open_accounts(&http, &base, accounts).await?);
    println!("| clients | commands | commands/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in clients {
        let outcome = load::closed(n, seconds as f64, commands(&http, &base, &ids)).await;
        println!(
            "| {n} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            outcome.hist.len(),
            outcome.rate(),
            outcome.ms(0.5),
            outcome.ms(0.99),
            outcome.ms(0.999),
            outcome.hist.max() as f64 / 1000.0,
            outcome.errors
        );
        process.assert_running();
    }
    Ok(())
}
