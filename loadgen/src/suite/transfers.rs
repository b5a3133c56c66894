//! Scenario 8: transfers end to end, from the request to `completed`, beside
//! the deposit rate of the same run.
//!
//! A command service of its own, on a topic of its own (same broker), so that
//! the other scenarios' figures and this one's do not share a log.
//!
//! - **Throughput, accepted to completed**: `n` clients send transfers back to
//!   back; each is answered 202 once its debit is proven. The rate is the
//!   transfers accepted over the time from the start until the driver has
//!   completed the last of them (its credit proven: the driver's
//!   `ledger_transfers_steps_done_total{kind="credit"}`). Two commits and a hop
//!   per transfer, against the deposit rate measured just before on the same
//!   command service at the same client count (command service alone, as in
//!   scenario 1; the driver not yet started).
//! - **Completion latency** at half the 64-client rate, open loop: one
//!   `POST /v1/transfers` with `Prefer: wait=30`, counted only when answered
//!   200 `completed`. Anything else is tallied by answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::Stack;

use super::load::{self, Check, MakeRequest, Outcome};
use super::{open_accounts, ratio, service_with, Row};

/// Client counts of the closed-loop runs; the fixed rate is half the last one's.
const CLIENTS: [usize; 2] = [16, 64];
/// Longest the driver may take to complete what was accepted.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// The transfer rows of the report.
pub(super) async fn scenario(
    stack: &Stack,
    http: &reqwest::Client,
    accounts: usize,
    secs: f64,
) -> anyhow::Result<Vec<Row>> {
    let topic = format!("{}-transfers", stack.topic);
    let on_topic = vec![("EVENTS_TOPIC".to_owned(), topic.clone())];
    let (mut commands, cmd) = service_with("command-service", stack, on_topic).await?;
    let ids = Arc::new(open_accounts(http, &cmd, accounts).await?);
    fund(http, &cmd, &ids).await?;
    let mut deposits = Vec::new();
    for n in CLIENTS {
        let d = load::closed(n, secs, deposit(http, &cmd, &ids)).await;
        eprintln!("deposits at {n} clients: {:.0}/s, p99 {:.1} ms, {} errors", d.rate(), d.ms(0.99), d.errors);
        deposits.push(d);
    }
    let driver_env = vec![
        ("EVENTS_TOPIC".to_owned(), topic.clone()),
        ("COMMAND_URL".to_owned(), cmd.clone()),
        ("TRANSFERS_GROUP".to_owned(), format!("{topic}-driver")),
    ];
    let (mut driver, driver_base) = service_with("transfers", stack, driver_env).await?;
    let ops = ops_client()?;
    let credits = |ops: &reqwest::Client| credits_done(ops.clone(), format!("{driver_base}/metrics"));
    let tally = Tally::default();
    let mut rows = Vec::new();
    let mut last = 0.0;
    for (n, deposits) in CLIENTS.into_iter().zip(&deposits) {
        let before = credits(&ops).await?;
        let started = Instant::now();
        let accepted = load::closed_checked(n, secs, transfer(http, &cmd, &ids, false), Some(tally.check(202))).await;
        let target = before + accepted.hist.len() as usize;
        while credits(&ops).await? < target {
            anyhow::ensure!(started.elapsed() < DRAIN_LIMIT, "the driver did not complete {target} credits in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed().as_secs_f64();
        let rate = accepted.hist.len() as f64 / took;
        let other = tally.take(accepted.errors);
        eprintln!(
            "transfers at {n} clients: {rate:.0}/s accepted to completed ({} in {took:.1} s; deposits {:.0}/s); \
             not accepted: {other}",
            accepted.hist.len(),
            deposits.rate()
        );
        last = rate;
        rows.push(closed_row(n, rate, &accepted, took, deposits, &other));
    }
    rows.push(completion_row(http, &cmd, &ids, last / 2.0, secs, &tally).await);
    driver.assert_running();
    commands.assert_running();
    Ok(rows)
}

/// A client with the `ops` role, for the driver's `/metrics`.
pub(super) fn ops_client() -> anyhow::Result<reqwest::Client> {
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {}", testkit::token("bench-ops", &["ops"])).parse()?);
    Ok(reqwest::Client::builder().default_headers(auth).build()?)
}

/// The credits the driver has completed so far.
async fn credits_done(ops: reqwest::Client, url: String) -> anyhow::Result<usize> {
    let text = ops.get(&url).send().await?.error_for_status()?.text().await?;
    let line = text.lines().find(|l| l.starts_with("ledger_transfers_steps_done_total{") && l.contains("\"credit\""));
    Ok(line.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as usize)
}

/// A throughput row: transfers/s accepted to completed against deposits/s at `n` clients.
fn closed_row(n: usize, rate: f64, accepted: &Outcome, took: f64, deposits: &Outcome, other: &str) -> Row {
    let scenario = format!("8. transfers, {n} clients");
    let measured = !accepted.hist.is_empty() && !deposits.hist.is_empty();
    let mut row = if accepted.hist.is_empty() {
        Row::new(scenario, "not measured: no transfer accepted")
    } else {
        Row::new(scenario, format!("{rate:.0} transfers/s"))
    };
    row.errors = Some(accepted.errors);
    row.ceiling = if deposits.hist.is_empty() {
        "deposits not measured".to_owned()
    } else {
        format!("{:.0} deposits/s, {n} clients", deposits.rate())
    };
    // No ratio unless both figures were measured: an unmeasured row is never "met".
    row.ratio = if measured { ratio(rate, deposits.rate()) } else { None };
    row.note = format!(
        "accepted to completed: {} transfers accepted (202, p99 {:.1} ms) and all credited in {took:.1} s; \
         deposits on the same command service just before, driver not yet started (p99 {:.1} ms, {} errors); \
         not accepted: {other}",
        accepted.hist.len(),
        accepted.ms(0.99),
        deposits.ms(0.99),
        deposits.errors
    );
    row
}

/// Open loop at `rate`: completion latency from the scheduled send.
async fn completion_row(
    http: &reqwest::Client,
    cmd: &str,
    ids: &Arc<Vec<String>>,
    rate: f64,
    secs: f64,
    tally: &Tally,
) -> Row {
    let scenario = "8. transfer completion at 50% of the 64-client rate";
    if rate < 1.0 {
        return Row::new(scenario, "not measured: no 64-client rate");
    }
    let fixed =
        load::fixed_rate_checked(rate, secs, transfer(http, cmd, ids, true), None, Some(tally.check(200))).await;
    let other = tally.take(fixed.scheduled.errors);
    eprintln!("transfers at {rate:.0}/s offered: {:.0}/s completed; not completed: {other}", fixed.scheduled.rate());
    let ours = format!("{rate:.0} transfers/s offered, {:.0} completed", fixed.scheduled.rate());
    let mut row = if fixed.scheduled.hist.is_empty() {
        let mut row = Row::new(scenario, format!("not measured: {ours}"));
        row.errors = Some(fixed.scheduled.errors);
        row
    } else {
        Row::new(scenario, ours).latencies(&fixed.scheduled)
    };
    row.note = format!(
        "latency from the scheduled send to 200 completed (queueing included); service time p99 {:.1} ms; \
         not completed: {other}",
        fixed.service.value_at_quantile(0.99) as f64 / 1000.0
    );
    row
}

/// Enough money in every account that no transfer of the run is refused.
async fn fund(http: &reqwest::Client, cmd: &str, ids: &[String]) -> anyhow::Result<()> {
    for chunk in ids.chunks(64) {
        let deposits = chunk.iter().map(|id| async move {
            let url = format!("{cmd}/v1/accounts/{id}/deposits");
            let answer = http.post(url).json(&json!({"amount": 1_000_000_000_i64})).send().await?;
            anyhow::ensure!(answer.status().is_success(), "funding {id}: {}", answer.status());
            anyhow::Ok(())
        });
        for funded in futures::future::join_all(deposits).await {
            funded?;
        }
    }
    Ok(())
}

fn deposit(http: &reqwest::Client, cmd: &str, ids: &Arc<Vec<String>>) -> MakeRequest {
    let (http, cmd, ids) = (http.clone(), cmd.to_owned(), ids.clone());
    Arc::new(move |k| {
        let id = &ids[(k >> 33) as usize % ids.len()];
        http.post(format!("{cmd}/v1/accounts/{id}/deposits")).json(&json!({"amount": 1}))
    })
}

/// A transfer of 1 between two different random accounts; with `wait`, answered once final.
fn transfer(http: &reqwest::Client, cmd: &str, ids: &Arc<Vec<String>>, wait: bool) -> MakeRequest {
    let (http, cmd, ids) = (http.clone(), cmd.to_owned(), ids.clone());
    Arc::new(move |k| {
        let from = (k >> 33) as usize % ids.len();
        let to = (from + 1 + (k >> 17) as usize % (ids.len() - 1)) % ids.len();
        let request = http.post(format!("{cmd}/v1/transfers"));
        let request = if wait { request.header("prefer", "wait=30") } else { request };
        request.json(&json!({"from": ids[from], "to": ids[to], "amount": 1}))
    })
}

/// Answers other than 200 `completed`, by HTTP status and status or problem code.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    /// A transfer counts when it is answered `expected` (202 accepted, or 200
    /// `completed` after a wait); anything else is tallied.
    fn check(&self, expected: u16) -> Check {
        let tally = self.0.clone();
        Arc::new(move |status, body| {
            let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
            if status == expected && (expected == 202 || body["status"] == "completed") {
                return true;
            }
            let what = body["status"].as_str().or(body["code"].as_str()).unwrap_or("-");
            *tally.lock().expect("tally").entry(format!("{status} {what}")).or_default() += 1;
            false
        })
    }

    /// The tally so far, emptied, with `errors` answered by nothing (transport) added.
    fn take(&self, errors: u64) -> String {
        let counts = std::mem::take(&mut *self.0.lock().expect("tally"));
        let answered: u64 = counts.values().sum();
        let mut parts: Vec<String> = counts.iter().map(|(what, n)| format!("{what} ×{n}")).collect();
        if errors > answered {
            parts.push(format!("transport ×{}", errors - answered));
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}
