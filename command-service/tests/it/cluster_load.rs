//! Load for the cluster tests: clients that send deposits round-robin to every
//! instance, retry each one with its idempotency key on a `503`, a
//! `write_conflict` or a lost connection (as a well-behaved client behind a load balancer would), and
//! record every answer they got along the way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::client::{Answer, Api};

/// Longest one client waits for one answer: past it, the request "hung".
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a client keeps retrying one deposit.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// One deposit and its final answer.
pub struct Done {
    pub account: Uuid,
    pub amount: i64,
    pub answer: Answer,
}

#[derive(Default)]
pub struct Seen {
    /// Every answer's status (first tries and retries), by status.
    pub statuses: HashMap<u16, usize>,
    /// 503s without `Retry-After`.
    pub unavailable_without_retry_after: usize,
    /// Requests that got no answer within the client timeout.
    pub hangs: usize,
    /// Connections refused or reset (an instance died under the request).
    pub connection_errors: usize,
    pub write_conflicts: usize,
    pub done: Vec<Done>,
    /// Deposits that never got a final answer.
    pub failed: usize,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
    seen: Arc<Mutex<Seen>>,
}

impl Load {
    /// `clients` clients send deposits to `accounts`, cycling through `bases`.
    pub fn start(bases: Vec<String>, accounts: Vec<Uuid>, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let mut headers = reqwest::header::HeaderMap::new();
        let bearer = format!("Bearer {}", testkit::token("bulk", &["client"]));
        headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().expect("header"));
        let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).default_headers(headers).build().expect("client");
        let tasks = (0..clients)
            .map(|c| {
                let (stop, seen, http) = (Arc::clone(&stop), Arc::clone(&seen), http.clone());
                let (bases, accounts) = (bases.clone(), accounts.clone());
                tokio::spawn(async move {
                    let mut turn = c;
                    for n in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let account = accounts[(c + n as usize * 7) % accounts.len()];
                        let amount = (n % 50 + 1) as i64;
                        let key = format!("c{c}-{n}");
                        deposit(&http, &bases, &mut turn, &seen, account, amount, &key).await;
                    }
                })
            })
            .collect();
        Load { stop, clients: tasks, seen }
    }

    /// Stops sending; every deposit under way is finished (retried to an answer).
    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.expect("client task");
        }
        std::mem::take(&mut *self.seen.lock().await)
    }
}

/// One deposit, retried with its key on 503, `write_conflict` or a lost
/// connection, each try to the next instance.
async fn deposit(
    http: &reqwest::Client,
    bases: &[String],
    turn: &mut usize,
    seen: &Mutex<Seen>,
    account: Uuid,
    amount: i64,
    key: &str,
) {
    let started = Instant::now();
    while started.elapsed() < RETRY_FOR {
        *turn += 1;
        let api = Api::with_client(http.clone(), &bases[*turn % bases.len()], "bulk");
        let body = json!({ "amount": amount, "reference": key });
        let path = format!("/v1/accounts/{account}/deposits");
        match api.try_post(&path, &body, &[("idempotency-key", key)]).await {
            Ok(answer) => {
                let mut seen = seen.lock().await;
                *seen.statuses.entry(answer.status).or_default() += 1;
                if answer.code() == "write_conflict" {
                    // Another writer got there first (split ownership): safe to retry.
                    seen.write_conflicts += 1;
                    drop(seen);
                    continue;
                }
                if answer.status == 503 {
                    seen.unavailable_without_retry_after += usize::from(answer.retry_after.is_none());
                    drop(seen);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                seen.done.push(Done { account, amount, answer });
                return;
            }
            Err(error) => {
                let mut seen = seen.lock().await;
                if error.is_timeout() {
                    seen.hangs += 1;
                } else {
                    seen.connection_errors += 1;
                }
                drop(seen);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    seen.lock().await.failed += 1;
}
