//! The dispatcher: sends the due deliveries of the partitions this worker
//! owns, in log order per (endpoint, account), and records how each ended.
//!
//! Only the first pending delivery of an (endpoint, account) is ever due
//! (`store::deliveries::due`), and it stays pending until a 2xx is recorded
//! in Postgres: a later event of that account is not sent to that endpoint
//! before then, while other accounts flow on. Each endpoint has its own limit
//! of deliveries in flight, so a slow one never takes every slot.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::Delivery;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::schedule::Next;
use crate::secrets::Vault;
use crate::send::{Outcome, Request, Sender};
use crate::store::deliveries::{self, Attempt, Due};
use crate::store::endpoints::{self, Endpoint};

/// Longest wait before the due deliveries are looked at again.
const IDLE: Duration = Duration::from_millis(500);
/// Due deliveries fetched at once.
const FETCH: i64 = 512;

/// What every attempt needs.
#[derive(Clone)]
pub struct Deliverer {
    pub pool: PgPool,
    pub vault: Vault,
    pub sender: Arc<Sender>,
    pub delivery: Delivery,
    pub metrics: Arc<Metrics>,
    /// Rung when deliveries are stored or queued again.
    pub bell: Arc<Notify>,
}

/// The partitions this worker owns (their deliveries are its to send), and a
/// bell rung when new deliveries are stored.
#[derive(Clone)]
pub struct Owned {
    partitions: Arc<Mutex<HashSet<i32>>>,
    pub wake: Arc<Notify>,
}

impl Owned {
    pub fn new(wake: Arc<Notify>) -> Self {
        Owned { partitions: Arc::default(), wake }
    }

    pub fn set(&self, partition: i32, owned: bool) {
        let mut partitions = self.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        if owned {
            partitions.insert(partition);
        } else {
            partitions.remove(&partition);
        }
        drop(partitions);
        self.wake.notify_one();
    }

    fn list(&self) -> Vec<i32> {
        self.partitions.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect()
    }
}

/// Runs until `shutdown`; attempts in flight are let finish for up to `drain`.
pub async fn run(deliverer: Deliverer, owned: Owned, shutdown: CancellationToken, drain: Duration) {
    let mut tasks: JoinSet<(Uuid, Uuid)> = JoinSet::new();
    let mut busy: HashSet<(Uuid, Uuid)> = HashSet::new();
    let mut per_endpoint: HashMap<Uuid, usize> = HashMap::new();
    loop {
        let partitions = owned.list();
        let mut wait = IDLE;
        if !partitions.is_empty() && tasks.len() < deliverer.delivery.concurrency {
            match deliveries::due(&deliverer.pool, &partitions, FETCH).await {
                Ok(due) => {
                    for d in due {
                        let count = per_endpoint.entry(d.endpoint_id).or_default();
                        let full = *count >= deliverer.delivery.endpoint_concurrency
                            || tasks.len() >= deliverer.delivery.concurrency;
                        if full || !busy.insert((d.endpoint_id, d.account_id)) {
                            continue;
                        }
                        *count += 1;
                        let deliverer = deliverer.clone();
                        tasks.spawn(async move {
                            let key = (d.endpoint_id, d.account_id);
                            if let Err(error) = deliverer.attempt(&d).await {
                                warn!(endpoint = %d.endpoint_id, event = %d.event_id, %error, "attempt not recorded: retried");
                            }
                            key
                        });
                    }
                }
                Err(error) => {
                    warn!(%error, "cannot read the due deliveries: retrying");
                    wait = Duration::from_secs(1);
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = owned.wake.notified() => {}
            Some(Ok((endpoint, account))) = tasks.join_next(), if !tasks.is_empty() => {
                busy.remove(&(endpoint, account));
                if let Some(count) = per_endpoint.get_mut(&endpoint) {
                    *count = count.saturating_sub(1);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    info!(in_flight = tasks.len(), "dispatcher stopping: letting attempts in flight finish");
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
}

impl Deliverer {
    /// Tells the dispatcher that deliveries are waiting.
    pub fn wake(&self) {
        self.bell.notify_one();
    }

    /// One attempt of a due delivery, and what follows from its outcome.
    async fn attempt(&self, due: &Due) -> Result<(), Error> {
        let Some(endpoint) = endpoints::get(&self.pool, due.endpoint_id).await?.filter(|e| e.enabled) else {
            return Ok(());
        };
        let Some((event_type, body)) = deliveries::message(&self.pool, due.event_id).await? else { return Ok(()) };
        let rendered = self.vault.render(&endpoint, &body).await?;
        let outcome = self.sign_and_send(&endpoint, &crate::payload::webhook_id(due.event_id), rendered).await?;
        let attempt = due.attempts + 1;
        self.record(&endpoint, Some(due.event_id), &event_type, attempt, &outcome).await?;
        if outcome.delivered() {
            deliveries::delivered(&self.pool, endpoint.id, due.event_id, attempt).await?;
            endpoints::succeeded(&self.pool, endpoint.id).await?;
            if let Some(at) = body["created_at"].as_str().and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok()) {
                let latency = (Utc::now() - at).to_std().unwrap_or_default().as_secs_f64();
                let label = crate::metrics::Endpoint { endpoint: endpoint.id.to_string() };
                self.metrics.delivery_latency.get_or_create(&label).observe(latency);
            }
            return Ok(());
        }
        let jitter = (rand_unit() * 2.0) - 1.0;
        let next = match self.delivery.schedule.next(attempt as usize, outcome.retry_after, jitter) {
            Next::RetryIn(delay) => Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()),
            Next::GiveUp => None,
        };
        deliveries::failed(&self.pool, endpoint.id, due.event_id, attempt, next).await?;
        self.after_failure(&endpoint, &outcome).await
    }

    /// Signs `body` with the endpoint's live secrets and sends it.
    pub async fn sign_and_send(&self, endpoint: &Endpoint, id: &str, body: Vec<u8>) -> Result<Outcome, Error> {
        let timestamp = Utc::now().timestamp();
        let secrets = self.vault.signing(endpoint, Utc::now())?;
        let refs: Vec<&crate::signing::SigningSecret> = secrets.iter().collect();
        let signature = crate::signing::signature_header(&refs, id, timestamp, &body);
        let request = Request { url: &endpoint.url, id, timestamp, signature: &signature, body };
        Ok(self.sender.send(request).await)
    }

    /// Adds the attempt to the endpoint's list and to the metrics.
    pub async fn record(
        &self,
        endpoint: &Endpoint,
        event_id: Option<Uuid>,
        event_type: &str,
        attempt: i32,
        outcome: &Outcome,
    ) -> Result<(), Error> {
        self.metrics.outcome(endpoint.id, outcome.outcome);
        let duration_ms = i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX);
        let row = Attempt {
            endpoint_id: endpoint.id,
            event_id,
            event_type,
            attempt,
            status_code: outcome.status.map(i32::from),
            outcome: outcome.outcome,
            duration_ms,
            response: &outcome.response,
            error: outcome.error.as_deref(),
        };
        deliveries::record(&self.pool, &row).await
    }

    /// A 410 disables the endpoint; so does failing for `disable_after` with no success.
    async fn after_failure(&self, endpoint: &Endpoint, outcome: &Outcome) -> Result<(), Error> {
        if outcome.gone() {
            warn!(endpoint = %endpoint.id, "the receiver answered 410 Gone: endpoint disabled");
            return endpoints::disable(&self.pool, endpoint.id, "the receiver answered 410 Gone").await;
        }
        let since = endpoints::failed(&self.pool, endpoint.id).await?;
        let limit = chrono::Duration::from_std(self.delivery.disable_after).unwrap_or(chrono::Duration::MAX);
        if since.is_some_and(|since| Utc::now() - since >= limit) {
            warn!(endpoint = %endpoint.id, "every attempt failed for too long: endpoint disabled");
            let reason = format!("every attempt failed for {}", humanize(self.delivery.disable_after));
            endpoints::disable(&self.pool, endpoint.id, &reason).await?;
        }
        Ok(())
    }
}

fn humanize(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{s} s"),
    }
}

/// A number in `[0, 1)` for the retries' jitter (not for secrets).
fn rand_unit() -> f64 {
    (Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}
