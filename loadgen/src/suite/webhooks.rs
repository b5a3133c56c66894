//! Scenario 12: webhook deliveries against a plain HTTP client, and commit →
//! delivered latency at half that rate.
//!
//! A webhooks service of its own, on a topic of its own; one `ops` endpoint
//! (every account, every type) pointing at a receiver inside `loadgen` that
//! answers 204 and notes each message's arrival (it parses the body, as a
//! partner's would). Commits are written straight to the log (the command
//! service's part is scenario 1's), so the figures are the webhooks path's.
//!
//! - **Deliveries/s**: after a warm-up, the service is stopped, records are
//!   written (the projections' pre-fill), and the service is started again;
//!   the rate is the messages received over the time from the first to the
//!   last arrival (log folded, messages and deliveries stored, signed, sent,
//!   answered, outcomes stored). The **ceiling** posts the very requests
//!   received, again, to the same receiver at the endpoint's concurrency
//!   (`WEBHOOKS_ENDPOINT_CONCURRENCY`) with a plain reqwest client.
//! - **Latency** at half the deliveries/s, open loop: deposits written to the
//!   log at that rate; each sample is from the commit's acknowledgement (the
//!   producer's delivery report, acks=all) to the arrival of its message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures::StreamExt;
use serde_json::{json, Value};
use testkit::Stack;

use super::load::{self, Outcome};
use super::{ratio, service_with, Row};

/// Deliveries in flight to one endpoint (the service's default).
const CONCURRENCY: usize = 16;
/// Longest the deliveries of the pre-filled records may take.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Arrival by (account id, account version).
    arrivals: HashMap<(String, u64), Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
    count: u64,
    /// The signed requests, kept for the ceiling.
    kept: Vec<(HeaderMap, Bytes)>,
    keep: bool,
}

type Receiver = Arc<Mutex<Seen>>;
/// A commit the log acknowledged: its message's (account, version), and when.
type Acked = ((String, u64), Instant);

async fn receive(State(seen): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let message: Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = message["account_id"].as_str().unwrap_or_default().to_owned();
    let version = message["account_version"].as_u64().unwrap_or(0);
    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.first.get_or_insert(now);
    seen.last = Some(now);
    seen.count += 1;
    seen.arrivals.entry((key, version)).or_insert(now);
    if seen.keep {
        seen.kept.push((headers, body));
    }
    StatusCode::NO_CONTENT
}

async fn serve_receiver(seen: Receiver) -> anyhow::Result<String> {
    let app = axum::Router::new().route("/hook", post(receive)).with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Posts every kept request again, `CONCURRENCY` at a time: requests/s.
async fn ceiling(url: &str, kept: Vec<(HeaderMap, Bytes)>) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build()?;
    let started = Instant::now();
    let n = kept.len();
    let sends = futures::stream::iter(kept.into_iter().map(|(headers, body)| {
        let (client, url) = (client.clone(), url.to_owned());
        async move {
            let mut request = client.post(url).body(body);
            for name in ["content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "user-agent"] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.clone());
                }
            }
            request.send().await.map(|r| r.status().is_success()).unwrap_or(false)
        }
    }));
    let ok = sends.buffer_unordered(CONCURRENCY).filter(|ok| std::future::ready(*ok)).count().await;
    anyhow::ensure!(ok == n, "the ceiling's client had {} failures", n - ok);
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Writes `accounts` × (1 + `deposits`) records to the topic and waits until
/// the receiver has had them.
async fn prefill_and_wait(
    stack: &Stack,
    topic: &str,
    seen: &Receiver,
    accounts: usize,
    deposits: u64,
) -> anyhow::Result<()> {
    let n = accounts as u64 * (deposits + 1);
    testkit::prefill(&stack.broker.addr, topic, accounts, deposits, 0).await;
    wait_for(stack, seen, n, n).await.map(|_| ())
}

/// Waits until `stored` deliveries are stored in all and the receiver has
/// had `n` messages; returns how long the storing took.
async fn wait_for(stack: &Stack, seen: &Receiver, stored_n: u64, n: u64) -> anyhow::Result<Duration> {
    let pool = sqlx::PgPool::connect(&stack.db.url).await?;
    let started = Instant::now();
    let mut stored_in = None;
    loop {
        if stored_in.is_none() {
            let stored: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries").fetch_one(&pool).await?;
            if stored as u64 >= stored_n {
                stored_in = Some(started.elapsed());
            }
        }
        let count = seen.lock().map(|s| s.count).unwrap_or(0);
        if let (true, Some(took)) = (count >= n, stored_in) {
            pool.close().await;
            return Ok(took);
        }
        anyhow::ensure!(started.elapsed() < DRAIN_LIMIT, "{count} of {n} deliveries in {DRAIN_LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Writes a deposit to one of `ids` every `1 / rate` s for `secs` and waits
/// for each one's message at the receiver: from the commit's acknowledgement
/// by the log to its arrival.
async fn log_to_receiver(
    stack: &Stack,
    topic: &str,
    seen: &Receiver,
    ids: &[uuid::Uuid],
    versions: &mut [u64],
    rate: f64,
    secs: f64,
) -> anyhow::Result<Outcome> {
    use events::account::{MoneyMoved, AGGREGATE_TYPE};
    use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
    use rdkafka::producer::FutureRecord;

    let partitions = ledger_runtime::kafka::ensure_topic(&stack.broker.addr, topic, 8).await?;
    let producer = ledger_runtime::kafka::producer(&stack.broker.addr, "ledger-bench-webhooks", 5)?;
    let acks: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut sends = tokio::task::JoinSet::new();
    let (started, total) = (Instant::now(), (rate * secs) as u64);
    for k in 0..total {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let i = k as usize % ids.len();
        let (id, version) = (ids[i], versions[i]);
        versions[i] += 1;
        let commit = Commit {
            commit_id: uuid::Uuid::now_v7(),
            aggregate_type: AGGREGATE_TYPE.into(),
            aggregate_id: id,
            expected_version: version,
            previous_commit_id: None,
            events: vec![Event {
                event_id: uuid::Uuid::now_v7(),
                sequence: version + 1,
                occurred_at: chrono::Utc::now(),
                payload: AccountEvent::MoneyDeposited(MoneyMoved {
                    amount: 1,
                    reference: None,
                    balance_after: version as i64,
                }),
            }],
            command: CommandInfo { name: "Deposit".into(), idempotency_key: None, fingerprint: None },
            metadata: Metadata { correlation_id: "bench".into(), ..Default::default() },
        };
        let (producer, acks, topic) = (producer.clone(), Arc::clone(&acks), topic.to_owned());
        let partition = events::partition_for(id, partitions);
        sends.spawn(async move {
            let (key, value) = (id.to_string(), commit.encode());
            let record = FutureRecord::to(&topic).partition(partition).key(&key).payload(&value);
            let sent = producer.send(record, Duration::from_secs(10)).await;
            if sent.is_ok() {
                acks.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(((key, version + 1), Instant::now()));
            }
        });
    }
    while sends.join_next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(10);
    let acks = std::mem::take(&mut *acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut outcome = Outcome { hist: load::histogram(), errors: total - acks.len() as u64, seconds: secs };
    for (key, acked) in acks {
        loop {
            let arrived = seen.lock().ok().and_then(|s| s.arrivals.get(&key).copied());
            match arrived {
                Some(at) => {
                    let micros = at.saturating_duration_since(acked).as_micros().max(1) as u64;
                    let _ = outcome.hist.record(micros.min(120_000_000));
                    break;
                }
                None if Instant::now() > deadline => {
                    outcome.errors += 1;
                    break;
                }
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    Ok(outcome)
}

pub(super) async fn scenario(stack: &Stack, quick: bool, secs: f64) -> anyhow::Result<Vec<Row>> {
    let topic = format!("{}-webhooks", stack.topic);
    let on_topic = |extra: &[(&str, &str)]| {
        let mut env = vec![("EVENTS_TOPIC".to_owned(), topic.clone())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let group = format!("{topic}-webhooks");
    let hooks_env = on_topic(&[("WEBHOOKS_GROUP", &group), ("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1")]);
    let warm_up = 1_000;
    let (mut hooks, hooks_base) = service_with("webhooks", stack, hooks_env.clone()).await?;
    let seen: Receiver = Arc::new(Mutex::new(Seen { keep: true, ..Seen::default() }));
    let receiver = serve_receiver(Arc::clone(&seen)).await?;
    let ops = super::transfers::ops_client()?;
    let created =
        ops.post(format!("{hooks_base}/v1/webhooks/endpoints")).json(&json!({"url": receiver})).send().await?;
    anyhow::ensure!(created.status() == 201, "endpoint not created: {}", created.text().await?);

    // A warm-up round (the broker's JIT, the pools), then deliveries/s:
    // records straight into the topic.
    prefill_and_wait(stack, &topic, &seen, warm_up / 100, 99).await?;
    *seen.lock().map_err(|_| anyhow::anyhow!("receiver poisoned"))? = Seen { keep: true, ..Seen::default() };
    // The service is stopped while the records are written, so that the
    // pre-fill's own pace is not what is measured: started again, it folds
    // the log, stores the deliveries and sends them, all at its own pace.
    let (accounts, deposits) = if quick { (50, 99) } else { (200, 99) };
    let expected = accounts as u64 * (deposits + 1);
    hooks.terminate();
    testkit::prefill(&stack.broker.addr, &topic, accounts, deposits, 0).await;
    let (mut hooks, _) = service_with("webhooks", stack, hooks_env).await?;
    let stored_in = wait_for(stack, &seen, warm_up as u64 + expected, expected).await?;
    let (rate, kept, count) = {
        let mut s = seen.lock().map_err(|_| anyhow::anyhow!("receiver poisoned"))?;
        let span = s.last.zip(s.first).map(|(l, f)| (l - f).as_secs_f64()).unwrap_or(0.0);
        s.keep = false;
        ((s.count as f64 / span.max(1e-9)), std::mem::take(&mut s.kept), s.count)
    };
    let plain = ceiling(&receiver, kept).await?;
    eprintln!("webhooks: {rate:.0} deliveries/s; a plain client {plain:.0}/s with the same bodies");
    let mut row = Row::new("12. webhook deliveries", format!("{rate:.0} deliveries/s"));
    (row.ceiling, row.ratio) =
        (format!("{plain:.0} posts/s plain client, {CONCURRENCY} in flight"), ratio(rate, plain));
    row.note = format!(
        "{count} messages of {expected} pre-filled records (after a warm-up of 1 000), first to last arrival; \
         one endpoint, {CONCURRENCY} in flight, {accounts} accounts; the service was started after the pre-fill \
         and had stored every delivery {:.2} s later ({:.0}/s); the ceiling re-posts the same signed requests",
        stored_in.as_secs_f64(),
        expected as f64 / stored_in.as_secs_f64().max(1e-9)
    );
    let mut rows = vec![row];

    let half = rate / 2.0;
    let ids = testkit::prefill(&stack.broker.addr, &topic, if quick { 100 } else { 500 }, 0, 0).await;
    let mut versions = vec![1; ids.len()];
    // First below saturation, for what a partner sees on a normal day.
    let lag = log_to_receiver(stack, &topic, &seen, &ids, &mut versions, 1000.0, secs).await?;
    let mut row =
        Row::new("12. webhook commit → delivered at 1000/s", format!("{} samples", lag.hist.len())).latencies(&lag);
    row.note =
        "as the next row, at 1 000 deposits/s, before it (not a target: what a partner sees below saturation)".into();
    rows.push(row);
    // Latency at half the rate: deposits written to the log at that rate,
    // from each commit's acknowledgement (the producer's delivery report) to
    // its message's arrival.
    let lag = log_to_receiver(stack, &topic, &seen, &ids, &mut versions, half, secs).await?;
    let mut row =
        Row::new("12. webhook commit → delivered at 50%", format!("{} samples", lag.hist.len())).latencies(&lag);
    row.note = format!(
        "{half:.0} deposits/s written straight to the log (a raw producer, acks=all, linger 5 ms, as the command service's), from each one's delivery \
         report to its message's arrival; a message not there within 10 s is an error"
    );
    rows.push(row);
    hooks.assert_running();
    Ok(rows)
}
