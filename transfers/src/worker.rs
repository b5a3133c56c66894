//! The loop: take assignments, fold each partition from its start, queue the
//! steps its accepted events call for, fire hold expiries, commit
//! checkpoints, and stop cleanly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::consumer::{Change, Checkpoints, GroupConsumer};
use crate::dispatch::{Dispatcher, Queued};
use crate::metrics::Metrics;
use crate::part::{Completion, Part};
use crate::steps::Step;

/// How long in-flight steps may finish after a shutdown request.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often checkpoints are committed and pending partitions are started.
const TICK: Duration = Duration::from_secs(1);
/// Longest sleep before the expiry timers are looked at again.
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(30);
/// Broker calls at assignment (committed offsets, watermarks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Worker {
    pub consumer: GroupConsumer,
    pub changes: mpsc::UnboundedReceiver<Change>,
    pub checkpoints: Checkpoints,
    pub topic: String,
    pub dispatcher: Dispatcher,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
}

/// Everything the loop changes, apart from the consumer its records borrow.
struct Core {
    topic: String,
    dispatcher: Dispatcher,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    checkpoints: Checkpoints,
    parts: HashMap<i32, Part>,
    epochs: u64,
    assigned: bool,
    /// Fetching is paused (backpressure); `repause`: apply that to a new assignment.
    paused: bool,
    repause: bool,
}

impl Worker {
    /// Runs until `shutdown`; then lets steps in flight finish (up to 10 s),
    /// commits the checkpoints and leaves the group.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), crate::error::Error> {
        let Worker { consumer, mut changes, checkpoints, topic, dispatcher, metrics, ready } = self;
        consumer.subscribe(&[&topic])?;
        let mut core = Core {
            topic,
            dispatcher,
            metrics,
            ready,
            checkpoints,
            parts: HashMap::new(),
            epochs: 0,
            assigned: false,
            paused: false,
            repause: false,
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let timer = core.timer_sleep();
            let idle = core.dispatcher.is_idle();
            tokio::select! {
                // Records last: a long refold keeps them ready, and must not starve the rest.
                biased;
                () = shutdown.cancelled() => break,
                Some(change) = changes.recv() => core.on_change(&consumer, change),
                _ = tick.tick() => core.on_tick(&consumer),
                () = tokio::time::sleep(timer) => core.fire_expiries(),
                Some(joined) = core.dispatcher.next(), if !idle => {
                    if let Ok(done) = joined {
                        core.on_done(done);
                    }
                }
                message = consumer.recv() => match message {
                    Ok(m) => core.on_record(&consumer, m.partition(), m.offset(), m.payload().unwrap_or_default()),
                    Err(error) => warn!(%error, "consumer error"),
                },
            }
            core.dispatcher.pump();
            core.flow(&consumer);
        }
        info!("shutting down: no more records");
        for done in core.dispatcher.drain(DRAIN_TIMEOUT).await {
            core.on_done(done);
        }
        core.commit(&consumer, CommitMode::Sync);
        consumer.unsubscribe();
        info!("left the group");
        Ok(())
    }
}

impl Core {
    fn on_change(&mut self, consumer: &GroupConsumer, change: Change) {
        match change {
            Change::Assigned(assigned) => {
                for partition in assigned {
                    self.epochs += 1;
                    if let Some(old) = self.parts.insert(partition, Part::new(self.epochs, CancellationToken::new())) {
                        old.cancel.cancel();
                    }
                }
                self.assigned = true;
                self.repause = self.paused;
                // At once, not at the next tick: records that come before a
                // partition is started are not folded (and must be read again).
                self.start_pending(consumer);
            }
            Change::Revoked(revoked) => revoked.into_iter().for_each(|p| self.drop_part(p)),
            Change::Lost => self.parts.keys().copied().collect::<Vec<_>>().into_iter().for_each(|p| self.drop_part(p)),
        }
        self.update_ready();
    }

    /// Stop acting on a partition: its steps stop retrying, its state goes.
    fn drop_part(&mut self, partition: i32) {
        if let Some(part) = self.parts.remove(&partition) {
            part.cancel.cancel();
        }
        self.dispatcher.forget(partition);
        self.checkpoints.lock().unwrap_or_else(PoisonError::into_inner).remove(&partition);
    }

    fn on_record(&mut self, consumer: &GroupConsumer, partition: i32, offset: i64, value: &[u8]) {
        let Some(part) = self.parts.get_mut(&partition) else { return };
        let (epoch, cancel) = (part.epoch, &part.cancel);
        let Some(run) = part.run.as_mut() else { return };
        match run.accept(offset) {
            Ok(true) => run.seek_to_start = false,
            Ok(false) => return,
            Err(seek_to) => {
                if let Err(error) = consumer.seek(&self.topic, partition, Offset::Offset(seek_to), Duration::ZERO) {
                    warn!(partition, seek_to, %error, "seek failed: retried on the next record");
                }
                return;
            }
        }
        for step in run.planner.record(offset, value) {
            run.outstanding.add(offset);
            if run.live {
                self.dispatcher.push(queued(partition, epoch, cancel, Some(offset), step));
            } else {
                run.held_back.push((offset, step));
            }
        }
        if !run.live && run.caught_up() {
            self.go_live(partition);
        }
    }

    /// The partition is folded to the end it had at assignment: queue the steps
    /// found on the way (but those its own fold shows done), arm the expiries.
    #[instrument(skip_all, fields(partition))]
    fn go_live(&mut self, partition: i32) {
        let Some(part) = self.parts.get_mut(&partition) else { return };
        let (epoch, cancel) = (part.epoch, &part.cancel);
        let Some(run) = part.run.as_mut() else { return };
        run.live = true;
        let (mut sent, mut known) = (0usize, 0usize);
        for (offset, step) in std::mem::take(&mut run.held_back) {
            if run.planner.is_recorded(&step) {
                run.outstanding.done(offset);
                known += 1;
            } else {
                self.dispatcher.push(queued(partition, epoch, cancel, Some(offset), step));
                sent += 1;
            }
        }
        let holds = run.planner.open_holds();
        info!(next = run.next, act_from = run.floor, sent, known, holds, "partition folded: acting live");
        self.update_ready();
        self.fire_expiries();
    }

    fn on_done(&mut self, done: Completion) {
        let Some(part) = self.parts.get_mut(&done.partition).filter(|p| p.epoch == done.epoch) else { return };
        if let (Some(run), Some(offset), true) = (part.run.as_mut(), done.offset, done.done) {
            run.outstanding.done(offset);
        }
    }

    /// How long until the first expiry due among the live partitions.
    fn timer_sleep(&self) -> Duration {
        let live = self.parts.values().filter_map(|p| p.run.as_ref()).filter(|r| r.live);
        match live.filter_map(|r| r.planner.next_expiry()).min() {
            Some(at) => (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO).min(MAX_TIMER_SLEEP),
            None => MAX_TIMER_SLEEP,
        }
    }

    fn fire_expiries(&mut self) {
        let now = chrono::Utc::now();
        for (partition, part) in &mut self.parts {
            let due = match part.run.as_mut() {
                Some(run) if run.live => run.planner.due(now),
                _ => continue,
            };
            for step in due {
                self.dispatcher.push(queued(*partition, part.epoch, &part.cancel, None, step));
            }
        }
    }

    fn on_tick(&mut self, consumer: &GroupConsumer) {
        self.start_pending(consumer);
        self.seek_starts(consumer);
        self.commit(consumer, CommitMode::Async);
        let holds = self.parts.values().filter_map(|p| p.run.as_ref()).map(|r| r.planner.open_holds()).sum::<usize>();
        self.metrics.open_holds.set(holds as i64);
    }

    /// Learns where each newly assigned partition stands: the group's committed
    /// offset (acting starts there) and the log's bounds (folding ends there).
    fn start_pending(&mut self, consumer: &GroupConsumer) {
        let pending: Vec<i32> = self.parts.iter().filter(|(_, p)| p.run.is_none()).map(|(k, _)| *k).collect();
        if pending.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for partition in &pending {
            list.add_partition(&self.topic, *partition);
        }
        let committed = match tokio::task::block_in_place(|| consumer.committed_offsets(list, BROKER_TIMEOUT)) {
            Ok(committed) => committed,
            Err(error) => return warn!(%error, "cannot read the committed offsets yet: retrying"),
        };
        for partition in pending {
            let floor = match committed.find_partition(&self.topic, partition).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => 0,
            };
            let bounds =
                tokio::task::block_in_place(|| consumer.fetch_watermarks(&self.topic, partition, BROKER_TIMEOUT));
            let (low, high) = match bounds {
                Ok(bounds) => bounds,
                Err(error) => return warn!(partition, %error, "cannot read the partition's bounds yet: retrying"),
            };
            let Some(part) = self.parts.get_mut(&partition) else { continue };
            info!(partition, floor, low, high, "folding the partition from its start");
            part.start(floor.min(high), low, high);
            if part.run.as_ref().is_some_and(|r| r.caught_up()) {
                self.go_live(partition);
            }
        }
        self.seek_starts(consumer);
    }

    /// Seeks each started partition that has folded nothing yet back to its
    /// start: records fetched before it was started were dropped, and on a
    /// quiet topic no later record would reveal the gap. Retried every tick
    /// until a seek succeeds or a record at the expected offset arrives.
    fn seek_starts(&mut self, consumer: &GroupConsumer) {
        for (partition, part) in &mut self.parts {
            let Some(run) = part.run.as_mut().filter(|r| r.seek_to_start) else { continue };
            match consumer.seek(&self.topic, *partition, Offset::Offset(run.next), Duration::ZERO) {
                Ok(()) => run.seek_to_start = false,
                Err(error) => debug!(partition, %error, "seek to the partition's start deferred"),
            }
        }
    }

    /// Commits each started partition's checkpoint (and shares it with the revocation callback).
    fn commit(&mut self, consumer: &GroupConsumer, mode: CommitMode) {
        let mut offsets = TopicPartitionList::new();
        let mut shared = self.checkpoints.lock().unwrap_or_else(PoisonError::into_inner);
        for (partition, part) in &self.parts {
            let Some(run) = part.run.as_ref() else { continue };
            let checkpoint = run.checkpoint();
            shared.insert(*partition, checkpoint);
            let _ = offsets.add_partition_offset(&self.topic, *partition, Offset::Offset(checkpoint));
        }
        drop(shared);
        if offsets.count() > 0 {
            if let Err(error) = consumer.commit(&offsets, mode) {
                warn!(%error, "offset commit failed: retried on the next tick");
            }
        }
    }

    /// Backpressure: stop fetching while a slot's worth of steps waits for slots.
    fn flow(&mut self, consumer: &GroupConsumer) {
        let (backlog, limit) = (self.dispatcher.backlog(), self.dispatcher.concurrency());
        let pause = match self.paused {
            false if backlog >= limit => true,
            true if backlog <= limit / 2 => false,
            paused if self.repause => paused,
            _ => return,
        };
        let result =
            consumer.assignment().and_then(|list| if pause { consumer.pause(&list) } else { consumer.resume(&list) });
        match result {
            Ok(()) => (self.paused, self.repause) = (pause, false),
            Err(error) => warn!(%error, pause, "cannot pause or resume fetching"),
        }
    }

    fn update_ready(&self) {
        let ready = self.assigned && self.parts.values().all(|p| p.run.as_ref().is_some_and(|r| r.live));
        self.ready.store(ready, Ordering::Relaxed);
    }
}

fn queued(partition: i32, epoch: u64, cancel: &CancellationToken, offset: Option<i64>, step: Step) -> Queued {
    Queued { partition, epoch, offset, cancel: cancel.clone(), step }
}
