//! The dispatcher: sends the pending deliveries of the partitions this worker
//! owns, in log order per (endpoint, account), and stores how each ended.
//!
//! Pending deliveries are fetched from Postgres into lanes ([`lanes`]), one
//! per (endpoint, account): a lane sends its first delivery only, and the next
//! once that one is done, so a later event of an account never reaches an
//! endpoint before an earlier one's first 2xx, while other accounts flow on.
//! Outcomes are stored in batches ([`outcomes`]): a 2xx that a crash keeps
//! from being stored is sent again (with the same `webhook-id`), never lost.
//! Each endpoint has its own limit of deliveries in flight, so a slow one
//! never takes every slot.
//!
//! # Layout
//! - [`lanes`] — the lanes and their limits (pure).
//! - [`outcomes`] — what an attempt changes, stored in batches; disabling.

pub mod lanes;
pub mod outcomes;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::Delivery;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::secrets::Vault;
use crate::send::{Outcome, Request, Sender};
use crate::store::deliveries::{self, Attempt};
use crate::store::endpoints::Endpoint;
use lanes::{Lanes, Pending, Send};
use outcomes::{Book, Endpoints};

/// Longest wait before the pending deliveries are fetched again.
const IDLE: Duration = Duration::from_millis(500);
/// Shortest time between two fetches while deliveries keep coming.
const FETCH_EVERY: Duration = Duration::from_millis(20);
/// Pending deliveries fetched per lane, and in all.
const PER_LANE: i64 = 256;
const FETCH: i64 = 50_000;
/// Shortest time between two fetches asked for by lanes fetched in part.
const STARVING_EVERY: Duration = Duration::from_millis(200);
/// Held deliveries below which more are fetched at once, if the last fetch hit its limit.
const LOW_WATER: usize = 1000;
/// Held deliveries above which fresh ones are left in Postgres for a later fetch.
const MAX_HELD: usize = 50_000;
/// How long outcomes wait to be stored with others, and how many are stored at once at most.
const STORE_EVERY: Duration = Duration::from_millis(5);
const STORE_MAX: usize = 512;

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
    /// Set by a replay: deliveries before the ones held are pending again.
    pub replayed: Arc<AtomicBool>,
    /// Counts the endpoint changes announced on `endpoints::CHANNEL`: whoever
    /// caches the endpoints reads them again when it moves.
    pub endpoints_version: Arc<AtomicU64>,
}

/// Deliveries the intake has just stored, handed over without a fetch (each
/// `Pending` names its partition).
pub struct Fresh {
    pub rows: Vec<(lanes::Key, lanes::Place, Pending)>,
}

/// The partitions this worker owns (their deliveries are its to send), a
/// bell rung when deliveries are queued again, and the intake's fresh deliveries.
#[derive(Clone)]
pub struct Owned {
    partitions: Arc<Mutex<HashSet<i32>>>,
    pub wake: Arc<Notify>,
    pub fresh: mpsc::UnboundedSender<Fresh>,
}

impl Owned {
    pub fn new(wake: Arc<Notify>) -> (Self, mpsc::UnboundedReceiver<Fresh>) {
        let (fresh, receiver) = mpsc::unbounded_channel();
        (Owned { partitions: Arc::default(), wake, fresh }, receiver)
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

/// A sent delivery and how it went.
struct Back {
    send: Send,
    outcome: Outcome,
}

/// Runs until `shutdown`; attempts in flight are let finish for up to `drain`.
pub async fn run(
    deliverer: Deliverer,
    owned: Owned,
    mut fresh: mpsc::UnboundedReceiver<Fresh>,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let mut lanes = Lanes::default();
    let mut book = Book::default();
    let mut endpoints = Endpoints::default();
    let mut tasks: JoinSet<Back> = JoinSet::new();
    let (mut fetch, mut fetched_at, mut more) = (true, Instant::now() - IDLE, false);
    let mut partitions: Vec<i32> = Vec::new();
    // Partitions whose every pending delivery the last fetch saw (fresh ones may join lanes).
    let mut exhaustive: HashSet<i32> = HashSet::new();
    let mut storing: Option<outcomes::Storing> = None;
    let mut endpoints_seen = u64::MAX;
    let mut store_tick = tokio::time::interval(STORE_EVERY);
    store_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if deliverer.replayed.swap(false, Ordering::Relaxed) {
            fetch = true;
        }
        let now_owned = owned.list();
        if now_owned != partitions {
            let kept: HashSet<i32> = now_owned.iter().copied().collect();
            lanes.retain(|p| kept.contains(&p));
            partitions = now_owned;
            exhaustive.clear();
            fetch = true;
        }
        let version = deliverer.endpoints_version.load(Ordering::Relaxed);
        if version != endpoints_seen || endpoints.stale() {
            endpoints_seen = version;
            endpoints.refresh(&deliverer).await;
        }
        if (fetch || fetched_at.elapsed() >= IDLE) && fetched_at.elapsed() >= FETCH_EVERY && !partitions.is_empty() {
            match deliveries::window(&deliverer.pool, &partitions, PER_LANE, FETCH).await {
                Ok(rows) => {
                    let mut per_lane: std::collections::HashMap<(Uuid, Uuid), i64> = Default::default();
                    for row in &rows {
                        *per_lane.entry((row.endpoint_id, row.account_id)).or_default() += 1;
                    }
                    // The fetch's limit was reached: lanes may be waiting behind it.
                    let truncated = rows.len() as i64 >= FETCH;
                    more = truncated;
                    lanes.mark_every(!truncated);
                    exhaustive = if truncated { HashSet::new() } else { partitions.iter().copied().collect() };
                    for row in rows {
                        let (key, place) = ((row.endpoint_id, row.account_id), (row.offset, row.event_index));
                        let pending = Pending {
                            event_id: row.event_id,
                            attempts: row.attempts,
                            due: row.next_attempt_at,
                            partition: row.partition,
                            event_type: Arc::from(row.event_type.as_str()),
                            body: Arc::new(row.body),
                        };
                        lanes.add(key, place, pending);
                    }
                    for (key, n) in per_lane {
                        lanes.mark_complete(key, !truncated && n < PER_LANE);
                    }
                    fetch = false;
                }
                Err(error) => warn!(%error, "cannot read the pending deliveries: retrying"),
            }
            fetched_at = Instant::now();
        }
        let limits = (deliverer.delivery.endpoint_concurrency, deliverer.delivery.concurrency);
        for send in lanes.take_due(Utc::now(), limits.0, limits.1) {
            match endpoints.prepare(&deliverer, &send).await {
                Some((endpoint, body)) => {
                    let deliverer = deliverer.clone();
                    tasks.spawn(async move {
                        let id = crate::payload::webhook_id(send.pending.event_id);
                        let outcome = deliverer.sign_and_send(&endpoint, &id, body).await;
                        Back { send, outcome: outcome.unwrap_or_else(Outcome::local_failure) }
                    });
                }
                // Its endpoint is gone or disabled: nothing is sent.
                None => lanes.drop_endpoint(send.key.0),
            }
        }
        if (more && lanes.queued() < LOW_WATER) || (lanes.starving() && fetched_at.elapsed() >= STARVING_EVERY) {
            fetch = true;
        }
        let wait = lanes
            .next_due()
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(IDLE)
            .min(IDLE)
            .min(if fetch { FETCH_EVERY.saturating_sub(fetched_at.elapsed()) } else { IDLE })
            .max(Duration::from_millis(1));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = owned.wake.notified() => fetch = true,
            Some(new) = fresh.recv() => {
                for (key, place, pending) in new.rows {
                    let whole = exhaustive.contains(&pending.partition);
                    if lanes.queued() >= MAX_HELD || !lanes.add_new(key, place, pending, whole) {
                        fetch = true;
                    }
                }
            }
            Some(Ok(back)) = tasks.join_next(), if !tasks.is_empty() => {
                book.attempted(&deliverer, &mut endpoints, &mut lanes, back.send, back.outcome).await;
                if book.len() >= STORE_MAX && storing.is_none() {
                    storing = Some(book.start_storing(&deliverer));
                }
            }
            _ = store_tick.tick(), if !book.is_empty() && storing.is_none() => {
                storing = Some(book.start_storing(&deliverer));
            }
            ended = async { (&mut storing.as_mut().expect("guarded").0).await }, if storing.is_some() => {
                storing = None;
                if let Ok(ended) = ended {
                    book.stored(&mut lanes, ended);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    info!(in_flight = tasks.len(), "dispatcher stopping: letting attempts in flight finish");
    let _ = tokio::time::timeout(drain, async {
        while let Some(Ok(back)) = tasks.join_next().await {
            book.attempted(&deliverer, &mut endpoints, &mut lanes, back.send, back.outcome).await;
        }
    })
    .await;
    if let Some(Ok(ended)) = match storing {
        Some(s) => Some(s.0.await),
        None => None,
    } {
        book.stored(&mut lanes, ended);
    }
    book.store_now(&deliverer, &mut lanes).await;
}

/// Listens for endpoint changes until shutdown: each moves `endpoints_version` and
/// rings the bell. A lost connection counts as a change (some may be missed).
pub async fn listen_for_changes(deliverer: Deliverer, shutdown: CancellationToken) {
    let mut listener = loop {
        match sqlx::postgres::PgListener::connect_with(&deliverer.pool).await {
            Ok(mut listener) => match listener.listen(crate::store::endpoints::CHANNEL).await {
                Ok(()) => break listener,
                Err(error) => warn!(%error, "cannot listen for endpoint changes"),
            },
            Err(error) => warn!(%error, "cannot connect the endpoint-change listener"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    loop {
        let notification = tokio::select! {
            () = shutdown.cancelled() => return,
            n = listener.recv() => n,
        };
        if let Err(error) = notification {
            warn!(%error, "endpoint-change listener interrupted: reading the endpoints again");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        deliverer.endpoints_version.fetch_add(1, Ordering::Relaxed);
        deliverer.bell.notify_one();
    }
}

impl Fresh {
    /// The lane rows of `deliveries`, just stored with their `messages` (each
    /// body shared by the message's deliveries).
    pub fn of(messages: Vec<crate::payload::Message>, deliveries: &[crate::store::NewDelivery]) -> Fresh {
        let shared: std::collections::HashMap<Uuid, (crate::payload::Message, Arc<str>, Arc<serde_json::Value>)> =
            messages
                .into_iter()
                .map(|mut m| {
                    let body = Arc::new(std::mem::take(&mut m.body));
                    let event_type = Arc::from(m.event_type);
                    (m.event_id, (m, event_type, body))
                })
                .collect();
        let now = Utc::now();
        let rows = deliveries
            .iter()
            .filter_map(|d| {
                let (m, event_type, body) = shared.get(&d.event_id)?;
                let pending = Pending {
                    event_id: m.event_id,
                    attempts: 0,
                    due: now,
                    partition: m.partition,
                    event_type: Arc::clone(event_type),
                    body: Arc::clone(body),
                };
                Some(((d.endpoint_id, m.account_id), (m.offset, m.index), pending))
            })
            .collect();
        Fresh { rows }
    }
}

impl Deliverer {
    /// Tells the dispatcher that deliveries before the ones it holds are pending again.
    pub fn wake_after_replay(&self) {
        self.replayed.store(true, Ordering::Relaxed);
        self.bell.notify_one();
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

    /// Adds one attempt (a test ping) to the endpoint's list and to the metrics.
    pub async fn record(
        &self,
        endpoint: &Endpoint,
        event_id: Option<Uuid>,
        event_type: &str,
        attempt: i32,
        outcome: &Outcome,
    ) -> Result<(), Error> {
        self.metrics.outcome(endpoint.id, outcome.outcome);
        let row = Attempt::of(endpoint.id, event_id, event_type, attempt, outcome);
        deliveries::record(&self.pool, &row).await
    }
}
