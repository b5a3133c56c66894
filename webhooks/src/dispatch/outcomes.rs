//! What an attempt's outcome changes: the lane (next delivery, or a retry),
//! the endpoint (failing since when; disabled by a 410 or by failing for
//! `WEBHOOKS_DISABLE_AFTER`), the metrics, and the rows stored in batches.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::warn;
use uuid::Uuid;

use super::lanes::{Key, Lanes, Place, Send};
use super::Deliverer;
use crate::schedule::Next;
use crate::send::Outcome;
use crate::store::deliveries::{self, Attempt, Stored};
use crate::store::endpoints::{self, Endpoint};

/// How long the enabled endpoints are used before they are read again.
const ENDPOINTS_TTL: Duration = Duration::from_secs(1);

/// The enabled endpoints, as last read.
#[derive(Default)]
pub struct Endpoints {
    by_id: HashMap<Uuid, Endpoint>,
    read_at: Option<Instant>,
}

impl Endpoints {
    pub fn stale(&self) -> bool {
        self.read_at.is_none_or(|at| at.elapsed() >= ENDPOINTS_TTL)
    }

    pub async fn refresh(&mut self, deliverer: &Deliverer) {
        match endpoints::enabled(&deliverer.pool).await {
            Ok(list) => {
                self.by_id = list.into_iter().map(|e| (e.id, e)).collect();
                self.read_at = Some(Instant::now());
            }
            Err(error) => warn!(%error, "cannot read the endpoints: using the last ones read"),
        }
    }

    /// The endpoint of a delivery and its body as that endpoint receives it;
    /// `None` if the endpoint is not enabled (read again once to be sure).
    pub async fn prepare(&mut self, deliverer: &Deliverer, send: &Send) -> Option<(Endpoint, Vec<u8>)> {
        if !self.by_id.contains_key(&send.key.0) {
            self.refresh(deliverer).await;
        }
        let endpoint = self.by_id.get(&send.key.0)?.clone();
        match deliverer.vault.render(&endpoint, &send.pending.body).await {
            Ok(body) => Some((endpoint, body)),
            Err(error) => {
                warn!(endpoint = %endpoint.id, %error, "cannot open the message's personal fields: sent without them");
                Some((endpoint.clone(), crate::payload::render(&send.pending.body, |_, _| None)))
            }
        }
    }
}

/// Outcomes not stored yet, and the lane places they free once stored.
#[derive(Default)]
pub struct Book {
    rows: Vec<Stored>,
    places: Vec<(Key, Place)>,
}

impl Book {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Takes one attempt's outcome into the lane, the endpoint and the book.
    pub async fn attempted(
        &mut self,
        deliverer: &Deliverer,
        endpoints: &mut Endpoints,
        lanes: &mut Lanes,
        send: Send,
        outcome: Outcome,
    ) {
        let (endpoint_id, attempt) = (send.key.0, send.pending.attempts + 1);
        deliverer.metrics.outcome(endpoint_id, outcome.outcome);
        let (status, next_at) = if outcome.delivered() {
            let created = send.pending.body["created_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
            if let Some(at) = created {
                let latency = (Utc::now() - at).to_std().unwrap_or_default().as_secs_f64();
                let label = crate::metrics::Endpoint { endpoint: endpoint_id.to_string() };
                deliverer.metrics.delivery_latency.get_or_create(&label).observe(latency);
            }
            ("delivered", None)
        } else {
            let jitter = rand_unit() * 2.0 - 1.0;
            match deliverer.delivery.schedule.next(attempt as usize, outcome.retry_after, jitter) {
                Next::RetryIn(delay) => {
                    ("pending", Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()))
                }
                Next::GiveUp => ("failed", None),
            }
        };
        lanes.back(&send, next_at);
        self.places.push((send.key, send.place));
        self.rows.push(Stored {
            attempt: Attempt::of(endpoint_id, Some(send.pending.event_id), &send.pending.event_type, attempt, &outcome),
            account_id: send.key.1,
            place: send.place,
            status,
            next_at,
        });
        if let Some(endpoint) = endpoints.by_id.get_mut(&endpoint_id) {
            if let Some(reason) = judge(deliverer, endpoint, &outcome).await {
                warn!(endpoint = %endpoint_id, %reason, "endpoint disabled");
                if let Err(error) = endpoints::disable(&deliverer.pool, endpoint_id, &reason).await {
                    warn!(endpoint = %endpoint_id, %error, "cannot store that the endpoint is disabled");
                }
                let _ = endpoints::announce(&deliverer.pool, endpoint_id).await;
                endpoints.by_id.remove(&endpoint_id);
                lanes.drop_endpoint(endpoint_id);
            }
        }
    }

    /// Takes the outcomes to store, in the background (see [`Storing`]).
    pub fn start_storing(&mut self, deliverer: &Deliverer) -> Storing {
        let (rows, places) = (std::mem::take(&mut self.rows), std::mem::take(&mut self.places));
        let pool = deliverer.pool.clone();
        Storing(tokio::spawn(async move {
            let result = deliveries::store_batch(&pool, &rows).await;
            (result, rows, places)
        }))
    }

    /// A background store ended: free the lanes, or keep the outcomes for the next try.
    pub fn stored(&mut self, lanes: &mut Lanes, ended: StoreResult) {
        match ended {
            (Ok(()), _, places) => lanes.stored(&places),
            (Err(error), mut rows, mut places) => {
                warn!(%error, pending = rows.len(), "cannot store the attempts yet: retrying");
                rows.append(&mut self.rows);
                places.append(&mut self.places);
                (self.rows, self.places) = (rows, places);
            }
        }
    }

    /// Stores what is left, now (at shutdown).
    pub async fn store_now(&mut self, deliverer: &Deliverer, lanes: &mut Lanes) {
        if !self.rows.is_empty() {
            let ended = self.start_storing(deliverer).0.await;
            if let Ok(ended) = ended {
                self.stored(lanes, ended);
            }
        }
    }
}

/// What a background store gives back: its result, and the outcomes it stored.
pub type StoreResult = (Result<(), crate::error::Error>, Vec<Stored>, Vec<(Key, Place)>);

/// A store of outcomes running in the background, so that sending goes on
/// meanwhile; one at a time, in the order the outcomes came.
pub struct Storing(pub tokio::task::JoinHandle<StoreResult>);

/// Whether this outcome disables the endpoint, and why. Keeps the endpoint's
/// "failing since" in step (stored only when it changes).
async fn judge(deliverer: &Deliverer, endpoint: &mut Endpoint, outcome: &Outcome) -> Option<String> {
    if outcome.delivered() {
        if endpoint.failing_since.take().is_some() {
            let _ = endpoints::succeeded(&deliverer.pool, endpoint.id).await;
        }
        return None;
    }
    if outcome.gone() {
        return Some("the receiver answered 410 Gone".into());
    }
    if endpoint.failing_since.is_none() {
        endpoint.failing_since =
            endpoints::failed(&deliverer.pool, endpoint.id).await.ok().flatten().or(Some(Utc::now()));
    }
    let limit = chrono::Duration::from_std(deliverer.delivery.disable_after).unwrap_or(chrono::Duration::MAX);
    let since = endpoint.failing_since?;
    (Utc::now() - since >= limit)
        .then(|| format!("every attempt failed for {}", humanize(deliverer.delivery.disable_after)))
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
