//! Scenario 10: what exporting traces costs. The command scenario (closed
//! loop, deposits and withdrawals) against two command services of the same
//! run, one without `OTEL_EXPORTER_OTLP_ENDPOINT` and one exporting every
//! span by OTLP/HTTP to a receiver in this process, alternated so that drift
//! of the machine falls on both. A run where the receiver got nothing is an
//! error, not a result. With `BASELINE_COMMAND_SERVICE` set to the binary of
//! an earlier revision, that one runs alternated with them too: what the
//! instrumentation costs with export off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use testkit::{Process, Stack};

use super::load::{self, Outcome};
use super::report::Row;
use super::{commands, open_accounts, service_at, sibling};

const CLIENTS: [usize; 2] = [16, 64];
const ROUNDS: usize = 2;

/// Export requests and bytes received.
#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn export(State(received): State<Arc<Received>>, body: Bytes) -> &'static str {
    received.requests.fetch_add(1, Ordering::Relaxed);
    received.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    ""
}

/// An OTLP/HTTP receiver that counts and drops what it gets.
async fn receiver() -> anyhow::Result<(String, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(export)).with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, received))
}

struct Side {
    _process: Process,
    base: String,
    ids: Arc<Vec<String>>,
    runs: Vec<Vec<Outcome>>,
}

pub async fn scenario(stack: &Stack, http: &reqwest::Client, accounts: usize, secs: f64) -> anyhow::Result<Vec<Row>> {
    let (otlp, received) = receiver().await?;
    let baseline = std::env::var_os("BASELINE_COMMAND_SERVICE").map(std::path::PathBuf::from);
    let mut sides = Vec::new();
    let this = sibling("command-service")?;
    let mut plan = vec![("off", this.clone()), ("on", this)];
    plan.extend(baseline.iter().map(|bin| ("baseline", bin.clone())));
    for (label, bin) in plan {
        let mut env = vec![("EVENTS_TOPIC".to_owned(), format!("{}-otel-{label}", stack.topic))];
        if label == "on" {
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), otlp.clone()));
        }
        let (process, base) = service_at(bin, stack, env).await?;
        let ids = Arc::new(open_accounts(http, &base, accounts).await?);
        sides.push(Side { _process: process, base, ids, runs: CLIENTS.iter().map(|_| Vec::new()).collect() });
    }
    for _ in 0..ROUNDS {
        for (i, &n) in CLIENTS.iter().enumerate() {
            for side in &mut sides {
                let outcome = load::closed(n, secs, commands(http, &side.base, &side.ids)).await;
                side.runs[i].push(outcome);
            }
        }
    }
    let (requests, bytes) = (received.requests.load(Ordering::Relaxed), received.bytes.load(Ordering::Relaxed));
    anyhow::ensure!(requests > 0, "the exporting command service sent no spans: no result");
    let mut rows = Vec::new();
    for (i, &n) in CLIENTS.iter().enumerate() {
        let [off, on] = [&sides[0].runs[i], &sides[1].runs[i]].map(|runs| merged(runs));
        let cost = 1.0 - on.rate() / off.rate();
        if let (Some(side), Some(bin)) = (sides.get(2), &baseline) {
            let before = merged(&side.runs[i]);
            let mut row = Row::new(
                format!("10. commands, {n} clients, baseline revision"),
                format!("{:.0} cmd/s", before.rate()),
            )
            .latencies(&before);
            row.note = format!(
                "{} (BASELINE_COMMAND_SERVICE), alternated with the two below; export off costs {:+.1} % against it",
                bin.display(),
                (1.0 - off.rate() / before.rate()) * 100.0
            );
            rows.push(row);
        }
        for (label, outcome) in [("off", &off), ("on", &on)] {
            let mut row = Row::new(
                format!("10. commands, {n} clients, trace export {label}"),
                format!("{:.0} cmd/s", outcome.rate()),
            )
            .latencies(outcome);
            if label == "on" {
                row.note = format!(
                    "cost {:+.1} % of the commands/s with export off (same run, alternated); every span sampled: \
                     {requests} OTLP requests, {:.1} MiB received in all",
                    cost * 100.0,
                    bytes as f64 / 1048576.0
                );
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The rounds of one side at one client count, as one outcome.
fn merged(runs: &[Outcome]) -> Outcome {
    let first = &runs[0];
    let mut all = Outcome { hist: first.hist.clone(), errors: first.errors, seconds: first.seconds };
    for run in &runs[1..] {
        let _ = all.hist.add(&run.hist);
        all.errors += run.errors;
        all.seconds += run.seconds;
    }
    all
}
