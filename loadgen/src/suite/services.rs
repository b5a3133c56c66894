//! Starting the services a scenario measures, opening accounts, and the
//! command load every command scenario sends.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use testkit::{free_port, wait_ready, Process, Stack};

use super::load::MakeRequest;
use crate::sibling;

/// What every service a benchmark starts is given: the stack, a port, test auth, no rate limit.
pub(crate) fn env(stack: &Stack, port: u16) -> Vec<(String, String)> {
    vec![
        ("KAFKA_BROKERS".into(), stack.broker.addr.clone()),
        ("DATABASE_URL".into(), stack.db.url.clone()),
        ("EVENTS_TOPIC".into(), stack.topic.clone()),
        ("HTTP_ADDR".into(), format!("127.0.0.1:{port}")),
        ("RUST_LOG".into(), "warn".into()),
        ("JWT_SECRET".into(), ledger_runtime::TEST_JWT_SECRET.into()),
        // Every bench client is one identity; the per-client limit would cap the run.
        ("RATE_LIMIT_PER_SECOND".into(), "100000000".into()),
        ("RATE_LIMIT_BURST".into(), "100000000".into()),
        // A restarted command service waits this long for its predecessor's group session to expire.
        ("SESSION_TIMEOUT_MS".into(), "3000".into()),
    ]
}

pub(crate) async fn service(name: &str, stack: &Stack) -> anyhow::Result<(Process, String)> {
    service_with(name, stack, Vec::new()).await
}

/// [`service`], with extra variables that override the stack's.
pub(crate) async fn service_with(
    name: &str,
    stack: &Stack,
    extra: Vec<(String, String)>,
) -> anyhow::Result<(Process, String)> {
    service_at(sibling(name)?, stack, extra).await
}

/// [`service_with`], for the binary at `bin`.
pub(crate) async fn service_at(
    bin: PathBuf,
    stack: &Stack,
    extra: Vec<(String, String)>,
) -> anyhow::Result<(Process, String)> {
    let port = free_port();
    let mut vars = env(stack, port);
    vars.extend(extra);
    // A writers' group per topic: services on other topics of this broker are not members.
    let topic = vars.iter().rev().find(|(k, _)| k == "EVENTS_TOPIC").map(|(_, v)| v.clone()).unwrap_or_default();
    if !vars.iter().any(|(k, _)| k == "WRITERS_GROUP") {
        vars.push(("WRITERS_GROUP".into(), format!("{topic}.writers")));
    }
    let mut process = Process::start(bin, vars);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut process, &format!("{base}/readyz")).await;
    Ok((process, base))
}

pub(crate) fn http() -> anyhow::Result<reqwest::Client> {
    let mut auth = reqwest::header::HeaderMap::new();
    let token = testkit::token("bench", &["client", "analyst"]);
    auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1024).default_headers(auth).build()?)
}

pub(crate) async fn open_accounts(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(64) {
        let opens = (0..64.min(n - chunk * 64)).map(|_| async {
            // A group that is rebalancing answers 503 for a moment: ask again,
            // with the same key, until the account is opened (once).
            let key = uuid::Uuid::new_v4().to_string();
            for _ in 0..100 {
                let answer = http
                    .post(format!("{base}/v1/accounts"))
                    .header("idempotency-key", &key)
                    .json(&json!({"currency": "EUR"}))
                    .send()
                    .await?;
                let body: Value = answer.json().await.unwrap_or_default();
                if let Some(id) = body["account_id"].as_str() {
                    return anyhow::Ok(id.to_owned());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            anyhow::bail!("no account opened at {base} in 100 tries")
        });
        for id in futures::future::join_all(opens).await {
            ids.push(id?);
        }
    }
    Ok(ids)
}

pub(crate) fn commands(http: &reqwest::Client, base: &str, ids: &Arc<Vec<String>>) -> MakeRequest {
    let (http, base, ids) = (http.clone(), base.to_owned(), ids.clone());
    Arc::new(move |k| {
        let id = &ids[(k >> 33) as usize % ids.len()];
        let kind = if k % 4 == 0 { "withdrawals" } else { "deposits" };
        http.post(format!("{base}/v1/accounts/{id}/{kind}")).json(&json!({"amount": (k >> 40) % 100 + 1}))
    })
}

/// The read side, a projection worker and the query service (its process and
/// base URL), started and caught up with the log's end.
pub(crate) async fn read_side(stack: &Stack) -> anyhow::Result<(Process, Process, String)> {
    let group = format!("{}-suite", stack.topic);
    let mut worker = crate::start_worker(stack, &sibling("projections")?, &group, 2000).await;
    let (queries, base) = service("query-service", stack).await?;
    let end = crate::analysts::log_end(stack).await?;
    let pool = sqlx::PgPool::connect(&stack.db.url).await?;
    while crate::applied(&pool, &stack.topic).await < end {
        worker.assert_running();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    pool.close().await;
    Ok((worker, queries, base))
}
