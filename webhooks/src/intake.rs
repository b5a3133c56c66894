//! The intake: a member of the webhooks consumer group that folds each
//! partition it is assigned from its first offset with the fold rule, and
//! turns every event the log accepted past the partition's cursor into
//! messages and deliveries, stored with the cursor's move in one transaction
//! (`store::enqueue`): each event is enqueued exactly once, whichever worker
//! dies when. Records before the cursor are only folded (for the accounts'
//! owners and balances).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::resume::{Resume, Saved};
use events::{LogFold, Record};
use ledger_runtime::group::{Change, GroupConsumer};
use rdkafka::consumer::Consumer;
use rdkafka::Message as _;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::dispatch::Owned;
use crate::error::Error;
use crate::payload::{self, Message, Owner};
use crate::route::{admits, Target};
use crate::secrets::Vault;
use crate::store::{self, endpoints, NewDelivery};

/// How long read records wait to be stored with others.
const BATCH_WAIT: Duration = Duration::from_millis(5);
/// Messages that are stored at once, without waiting.
const BATCH_MAX: usize = 2000;
/// How long the enabled endpoints are used, unannounced changes aside.
const ENDPOINTS_TTL: Duration = Duration::from_secs(1);
/// Broker calls at assignment.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Intake {
    pub consumer: GroupConsumer,
    pub changes: mpsc::UnboundedReceiver<Change>,
    pub brokers: String,
    pub topic: String,
    pub pool: PgPool,
    pub vault: Vault,
    pub owned: Owned,
    pub ready: Arc<AtomicBool>,
    /// Moves when an endpoint changes (see `Deliverer::endpoints_version`).
    pub endpoints_version: Arc<AtomicU64>,
    /// The enabled endpoints as last read, with the version and time they were read at.
    pub endpoints: std::sync::Mutex<Option<(u64, Instant, Vec<endpoints::Endpoint>)>>,
}

/// One assigned partition.
#[derive(Default)]
struct Part {
    fold: LogFold,
    /// The next offset to fold.
    next: i64,
    /// The stored cursor (`None` until read and proven): messages are made from here.
    cursor: Option<i64>,
    /// The end at assignment: folded to here, the partition is caught up.
    end: i64,
    /// The commit id of the record before `next`.
    last_commit: Option<Uuid>,
    /// Messages made since the cursor, not stored yet.
    batch: Vec<Message>,
    /// The log is not the one the cursor was made on: nothing is done.
    refused: bool,
    /// The last seek back, `(to, because of)`: a record that comes again right
    /// after it is past a real gap in the offsets, and is taken.
    sought: Option<(i64, i64)>,
}

impl Intake {
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), Error> {
        self.consumer.subscribe(&[&self.topic])?;
        let mut parts: HashMap<i32, Part> = HashMap::new();
        let mut flush = tokio::time::interval(BATCH_WAIT);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(change) = self.changes.recv() => self.on_change(&mut parts, change),
                _ = tick.tick() => self.start_pending(&mut parts).await,
                _ = flush.tick() => self.flush(&mut parts).await,
                message = self.consumer.recv() => match message {
                    Ok(m) => match on_record(&mut parts, m.partition(), m.offset(), m.payload().unwrap_or_default()) {
                        Taken::Full => self.flush(&mut parts).await,
                        Taken::SeekTo(to) => self.seek(m.partition(), to),
                        Taken::Folded => {}
                    },
                    Err(error) => warn!(%error, "consumer error"),
                },
            }
            let ready = !parts.is_empty() && parts.values().all(|p| p.cursor.is_some() && p.next >= p.end);
            self.ready.store(ready, Ordering::Relaxed);
        }
        self.flush(&mut parts).await;
        self.consumer.unsubscribe();
        info!("intake stopped: left the group");
        Ok(())
    }

    fn on_change(&self, parts: &mut HashMap<i32, Part>, change: Change) {
        match change {
            Change::Assigned(assigned) => {
                for partition in assigned {
                    parts.insert(partition, Part::default());
                    self.owned.set(partition, true);
                }
            }
            Change::Revoked(revoked) => {
                for partition in revoked {
                    parts.remove(&partition);
                    self.owned.set(partition, false);
                }
            }
        }
    }

    /// Reads and proves the cursor of each partition that has none yet.
    async fn start_pending(&self, parts: &mut HashMap<i32, Part>) {
        let pending: Vec<i32> =
            parts.iter().filter(|(_, p)| p.cursor.is_none() && !p.refused).map(|(k, _)| *k).collect();
        for partition in pending {
            let stored = match store::cursor(&self.pool, &self.topic, partition).await {
                Ok(stored) => stored.unwrap_or((0, None)),
                Err(error) => return warn!(partition, %error, "cannot read the cursor yet: retrying"),
            };
            let saved = Saved { next_offset: stored.0, last_commit: stored.1 };
            let proof = ledger_runtime::resume::prove(&self.brokers, &self.topic, &[(partition, saved)]).await;
            let high = tokio::task::block_in_place(|| {
                self.consumer.fetch_watermarks(&self.topic, partition, BROKER_TIMEOUT).map(|(_, h)| h)
            });
            let (proof, high) = match (proof, high) {
                (Ok(mut proof), Ok(high)) => (proof.pop().map(|(_, r)| r), high),
                (Err(error), _) => return warn!(partition, %error, "cannot check the cursor against the log yet"),
                (_, Err(error)) => return warn!(partition, %error, "cannot read the partition's end yet"),
            };
            let Some(part) = parts.get_mut(&partition) else { continue };
            if let Some(Resume::Foreign(why)) = proof {
                error!(partition, %why, "refusing to carry on: the cursor was made on another log");
                part.refused = true;
                continue;
            }
            info!(partition, cursor = saved.next_offset, end = high, "cursor read: making deliveries from there");
            part.cursor = Some(saved.next_offset);
            part.end = high;
            part.batch.retain(|m| m.offset >= saved.next_offset);
        }
    }

    /// Stores each partition's new messages with their deliveries and moves its cursor.
    async fn flush(&self, parts: &mut HashMap<i32, Part>) {
        let dirty = |p: &Part| p.cursor.is_some_and(|c| p.next > c);
        if !parts.values().any(dirty) {
            return;
        }
        let sealed_for: HashSet<Uuid> = parts
            .values()
            .flat_map(|p| p.batch.iter())
            .filter_map(|m| if let Some(Owner::Subject(s)) = &m.owner { Some(*s) } else { None })
            .collect();
        let targets = match self.targets(&sealed_for).await {
            Ok(targets) => targets,
            Err(error) => return warn!(%error, "cannot read the endpoints: deliveries wait"),
        };
        // Every dirty partition in one transaction: one commit per flush, not per partition.
        let mut spans = Vec::new();
        let (mut messages, mut deliveries) = (Vec::new(), Vec::new());
        for (partition, part) in parts.iter_mut().filter(|(_, p)| dirty(p)) {
            let Some(cursor) = part.cursor else { continue };
            for message in &part.batch {
                for (endpoint, subject) in &targets {
                    if admits(&Target { endpoint, subject: *subject }, message) {
                        deliveries.push(NewDelivery { endpoint_id: endpoint.id, event_id: message.event_id });
                    }
                }
            }
            spans.push(store::Span {
                partition: *partition,
                from: cursor,
                to: part.next,
                last_commit: part.last_commit,
            });
            messages.append(&mut part.batch);
        }
        match store::enqueue(&self.pool, &self.topic, &spans, &messages, &deliveries).await {
            Ok(moved) if moved.is_empty() => {
                for span in &spans {
                    if let Some(part) = parts.get_mut(&span.partition) {
                        part.cursor = Some(span.to);
                    }
                }
                if !deliveries.is_empty() {
                    let _ = self.owned.fresh.send(crate::dispatch::Fresh::of(messages, &deliveries));
                }
            }
            Ok(moved) => {
                // Another worker moved these cursors (a rebalance overlap): nothing
                // was stored; fold them again from their start, the others retry.
                for partition in moved {
                    warn!(partition, "the cursor moved under this worker: folding the partition again");
                    parts.insert(partition, Part::default());
                    self.seek(partition, 0);
                }
                restore(parts, messages);
            }
            Err(error) => {
                warn!(%error, "cannot store deliveries yet: retrying");
                restore(parts, messages);
            }
        }
    }

    fn seek(&self, partition: i32, to: i64) {
        if let Err(error) = self.consumer.seek(&self.topic, partition, rdkafka::Offset::Offset(to), Duration::ZERO) {
            warn!(partition, to, %error, "seek failed: retried on the next record");
        }
    }

    /// The enabled endpoints: read again when one changed (announced) or after
    /// `ENDPOINTS_TTL`, not at every flush.
    async fn enabled_endpoints(&self) -> Result<Vec<endpoints::Endpoint>, Error> {
        let version = self.endpoints_version.load(Ordering::Relaxed);
        let cached = self.endpoints.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some((_, _, list)) = cached.filter(|(v, at, _)| *v == version && at.elapsed() < ENDPOINTS_TTL) {
            return Ok(list);
        }
        let list = endpoints::enabled(&self.pool).await?;
        *self.endpoints.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((version, Instant::now(), list.clone()));
        Ok(list)
    }

    /// The enabled endpoints, each with its owner's data subject. When the
    /// batch holds fields sealed for a subject no endpoint is known to have,
    /// the owners without one are looked up afresh: a subject is created
    /// before anything is sealed for it, so the look-up then finds it.
    async fn targets(&self, sealed_for: &HashSet<Uuid>) -> Result<Vec<(endpoints::Endpoint, Option<Uuid>)>, Error> {
        let mut targets = Vec::new();
        for endpoint in self.enabled_endpoints().await? {
            let subject =
                if endpoint.scope == "own" { self.vault.subject_of(&endpoint.owner_sub).await? } else { None };
            targets.push((endpoint, subject));
        }
        let known: HashSet<Uuid> = targets.iter().filter_map(|(_, s)| *s).collect();
        if sealed_for.iter().any(|s| !known.contains(s)) {
            for (endpoint, subject) in targets.iter_mut().filter(|(e, s)| e.scope == "own" && s.is_none()) {
                *subject = self.vault.subject_of_fresh(&endpoint.owner_sub).await?;
            }
        }
        Ok(targets)
    }
}

/// Puts messages that were not stored back into their partitions' batches
/// (of the partitions still held with a cursor), in order.
fn restore(parts: &mut HashMap<i32, Part>, messages: Vec<Message>) {
    for message in messages {
        if let Some(part) = parts.get_mut(&message.partition).filter(|p| p.cursor.is_some()) {
            part.batch.push(message);
        }
    }
}

/// What became of a record.
enum Taken {
    Folded,
    /// Folded, and the partition's batch should be stored now.
    Full,
    /// Records before it were not folded (a fetch from before a seek): seek back.
    SeekTo(i64),
}

/// Folds one record, in offset order: a stale one (folded already) is
/// skipped; one past the next offset asks for a seek back, unless it comes
/// again right after that seek (then the offsets before it do not exist:
/// the start of a partition whose first records were deleted).
fn on_record(parts: &mut HashMap<i32, Part>, partition: i32, offset: i64, value: &[u8]) -> Taken {
    let Some(part) = parts.get_mut(&partition) else { return Taken::Folded };
    if offset < part.next || part.refused {
        return Taken::Folded;
    }
    if offset > part.next && part.sought != Some((part.next, offset)) {
        part.sought = Some((part.next, offset));
        return Taken::SeekTo(part.next);
    }
    part.sought = None;
    part.next = offset + 1;
    let Ok(Record::Account(commit)) = Record::decode(value) else {
        part.last_commit = None;
        return Taken::Folded;
    };
    let before = part.fold.accounts.get(&commit.aggregate_id).cloned().unwrap_or_default();
    part.last_commit = Some(commit.commit_id);
    if !part.fold.fold(&commit).is_accepted() || part.cursor.is_some_and(|c| offset < c) {
        return Taken::Folded;
    }
    part.batch.extend(payload::messages(partition, offset, &commit, &before));
    if part.batch.len() >= BATCH_MAX {
        Taken::Full
    } else {
        Taken::Folded
    }
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;
