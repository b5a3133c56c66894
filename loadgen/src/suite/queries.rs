//! Scenario 6: `GET /v1/accounts/{id}` against `pgbench -S -M prepared` and a
//! minimal axum + sqlx handler serving the same SELECT, at 16 and 64
//! connections, with the CPU each process spends per request.

use std::sync::Arc;

use testkit::{Database, Stack};

use super::load::{self, MakeRequest};
use super::report::Row;
use super::{ceilings, minimal, ratio, sys};

/// Scenario 6 alone (`--only queries`): the command service opens the
/// accounts and stops, the read side catches up, then the reads.
pub(super) async fn alone(stack: &Stack, accounts: usize, secs: f64) -> anyhow::Result<Vec<Row>> {
    let http = super::http()?;
    let (commands_process, cmd) = super::service("command-service", stack).await?;
    let ids = Arc::new(super::open_accounts(&http, &cmd, accounts).await?);
    drop(commands_process);
    let (_worker, queries_process, qry) = super::read_side(stack).await?;
    scenario(stack, &http, &qry, &ids, queries_process.pid(), secs).await
}

pub(super) async fn scenario(
    stack: &Stack,
    http: &reqwest::Client,
    qry: &str,
    ids: &Arc<Vec<String>>,
    service_pid: Option<u32>,
    secs: f64,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let pgbench_db = Database::fresh().await;
    ceilings::pgbench_init(&pgbench_db.url)?;
    for n in [16, 64] {
        let reads = |base: &str| -> MakeRequest {
            let (http, base, ids) = (http.clone(), base.to_owned(), ids.clone());
            Arc::new(move |k| http.get(format!("{base}/v1/accounts/{}", ids[(k >> 33) as usize % ids.len()])))
        };
        // Where each run's CPU goes, per request (the two cores are shared by all).
        let split = sys::CpuSplit::start(service_pid);
        let ours = load::closed(n, secs, reads(qry)).await;
        let ours_cpu = split.per_request(ours.hist.len() as f64, "query service", "client");
        let split = sys::CpuSplit::start(None);
        let tps = ceilings::pgbench(&pgbench_db.url, n, secs.ceil() as u64)?;
        let pgbench_cpu = split.per_request(tps * secs.ceil(), "", "pgbench");
        let (bare, bare_pool) = minimal::serve(&stack.db.url).await?;
        let split = sys::CpuSplit::start(None);
        let minimal = load::closed(n, secs, reads(&bare)).await;
        let minimal_cpu = split.per_request(minimal.hist.len() as f64, "", "client and handler");
        bare_pool.close().await;
        let mut row =
            Row::new(format!("6. GET /v1/accounts/{{id}}, {n} connections"), format!("{:.0} req/s", ours.rate()))
                .latencies(&ours);
        (row.ceiling, row.ratio) = (format!("{tps:.0} tps pgbench -S -M prepared -c {n}"), ratio(ours.rate(), tps));
        row.of_minimal = ratio(ours.rate(), minimal.rate());
        row.note = format!(
            "{:.2} of the minimal handler below (our layers: JWT, ownership, ETag, lag header); {ours_cpu}; \
             pgbench: {pgbench_cpu}",
            ours.rate() / minimal.rate().max(1.0)
        );
        rows.push(row);
        let mut row = Row::new(
            format!("6. minimal axum + sqlx handler, same SELECT, {n} connections"),
            format!("{:.0} req/s", minimal.rate()),
        )
        .latencies(&minimal);
        (row.ceiling, row.ratio) = (format!("{tps:.0} tps pgbench"), ratio(minimal.rate(), tps));
        row.note = format!("in the loadgen process; no auth, no ETag, no lag header: HTTP + JSON only; {minimal_cpu}");
        rows.push(row);
    }
    Ok(rows)
}
