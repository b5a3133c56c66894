//! Scenario 12: webhook deliveries against a plain HTTP client, and commit →
//! delivered latency at half that rate.
//!
//! A command service and a webhooks service of their own, on a topic of
//! their own; one `ops` endpoint (every account, every type) pointing at a
//! receiver inside `loadgen` that answers 204 and notes each message's
//! arrival (it parses the body, as a partner's would).
//!
//! - **Deliveries/s**: records are written straight to the topic (the
//!   projections' pre-fill); the rate is the messages received over the time
//!   from the first to the last arrival (log read, messages stored, signed,
//!   sent, answered, recorded). The **ceiling** posts the very bodies and
//!   headers received, again, to the same receiver at the endpoint's
//!   concurrency (`WEBHOOKS_ENDPOINT_CONCURRENCY`) with a plain reqwest client.
//! - **Latency** at half the deliveries/s, open loop: deposits through the
//!   command service; each sample is from the command's 2xx to the arrival
//!   of its `account.deposited` message (matched by account and version).

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

use super::load::{self, Outcome, Probe};
use super::{open_accounts, ratio, service_with, Row};

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

pub(super) async fn scenario(
    stack: &Stack,
    http: &reqwest::Client,
    quick: bool,
    secs: f64,
) -> anyhow::Result<Vec<Row>> {
    let topic = format!("{}-webhooks", stack.topic);
    let on_topic = |extra: &[(&str, &str)]| {
        let mut env = vec![("EVENTS_TOPIC".to_owned(), topic.clone())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let (mut commands, cmd) = service_with("command-service", stack, on_topic(&[])).await?;
    let group = format!("{topic}-webhooks");
    let hooks_env = on_topic(&[("WEBHOOKS_GROUP", &group), ("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1")]);
    let (mut hooks, hooks_base) = service_with("webhooks", stack, hooks_env).await?;
    let seen: Receiver = Arc::new(Mutex::new(Seen { keep: true, ..Seen::default() }));
    let receiver = serve_receiver(Arc::clone(&seen)).await?;
    let ops = super::transfers::ops_client()?;
    let created =
        ops.post(format!("{hooks_base}/v1/webhooks/endpoints")).json(&json!({"url": receiver})).send().await?;
    anyhow::ensure!(created.status() == 201, "endpoint not created: {}", created.text().await?);

    // Deliveries/s: records straight into the topic.
    let (accounts, deposits) = if quick { (50, 99) } else { (200, 99) };
    let expected = accounts as u64 * (deposits + 1);
    testkit::prefill(&stack.broker.addr, &topic, accounts, deposits, 0).await;
    let started = Instant::now();
    loop {
        let count = seen.lock().map(|s| s.count).unwrap_or(0);
        if count >= expected {
            break;
        }
        anyhow::ensure!(started.elapsed() < DRAIN_LIMIT, "{count} of {expected} deliveries in {DRAIN_LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
        "{count} messages of {expected} pre-filled records, first to last arrival; one endpoint, \
         {CONCURRENCY} in flight, {accounts} accounts; the ceiling re-posts the same signed requests"
    );
    let mut rows = vec![row];

    // Latency at half the rate: deposits through the command service.
    let ids = Arc::new(open_accounts(http, &cmd, if quick { 100 } else { 500 }).await?);
    let probe: Probe = {
        let seen = Arc::clone(&seen);
        Arc::new(move |body: Vec<u8>| {
            let seen = Arc::clone(&seen);
            Box::pin(async move {
                let answered = Instant::now();
                let body: Value = serde_json::from_slice(&body).ok()?;
                let key = (body["account_id"].as_str()?.to_owned(), body["version"].as_u64()?);
                let deadline = answered + Duration::from_secs(10);
                loop {
                    if let Some(at) = seen.lock().ok()?.arrivals.get(&key).copied() {
                        return Some(at.saturating_duration_since(answered));
                    }
                    if Instant::now() > deadline {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
    };
    let deposit = {
        let (http, cmd, ids) = (http.clone(), cmd.clone(), Arc::clone(&ids));
        Arc::new(move |k: u64| {
            let id = &ids[(k >> 33) as usize % ids.len()];
            http.post(format!("{cmd}/v1/accounts/{id}/deposits")).json(&json!({"amount": 1 + k % 100}))
        }) as load::MakeRequest
    };
    let half = rate / 2.0;
    let fixed = load::fixed_rate(half, secs, deposit, Some((1, probe))).await;
    let lag = Outcome { hist: fixed.lag, errors: fixed.probe_failures, seconds: fixed.scheduled.seconds };
    let mut row =
        Row::new("12. webhook commit → delivered at 50%", format!("{} samples", lag.hist.len())).latencies(&lag);
    row.note = format!(
        "from a deposit's 2xx to its message's arrival; {half:.0} deposits/s offered, {:.0} done \
         (command p99 {:.1} ms, {} errors)",
        fixed.scheduled.rate(),
        fixed.scheduled.ms(0.99),
        fixed.scheduled.errors
    );
    rows.push(row);
    hooks.assert_running();
    commands.assert_running();
    Ok(rows)
}
