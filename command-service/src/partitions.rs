//! The routing table: which partitions this instance serves, and the writer of
//! each. Requests for a partition served here go to its writer; a partition
//! being loaded or handed over answers `503` with `Retry-After`; a partition
//! owned by another instance is [`Refusal::Elsewhere`], which the HTTP layer
//! forwards to its owner.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use events::{partition_for, Command};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::Refusal;
use crate::http::CommandHeaders;
use crate::plan::{Reply, Request};
use crate::recovery::RecoveryReport;

/// What this instance does with one partition.
#[derive(Clone, Debug)]
pub enum Slot {
    /// Owned by another instance (or by nobody yet).
    Away,
    /// Assigned here; the state is being loaded.
    Loading,
    /// Served here by this writer.
    Serving(mpsc::Sender<Request>),
    /// Being handed over: in-flight commits are proven, nothing new is taken.
    Stopping,
}

/// The partitions of the events topic as this instance sees them.
pub struct Partitions {
    slots: RwLock<Vec<Slot>>,
    /// Accounts held per partition (0 when not served here).
    aggregates: Vec<AtomicUsize>,
    /// The group has given this instance an assignment at least once.
    joined: AtomicBool,
    /// What the loads of this instance's partitions did, summed.
    report: Mutex<RecoveryReport>,
}

impl Partitions {
    pub fn new(count: i32) -> Self {
        let count = usize::try_from(count).unwrap_or(0);
        Self {
            slots: RwLock::new(vec![Slot::Away; count]),
            aggregates: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            joined: AtomicBool::new(false),
            report: Mutex::new(RecoveryReport { partitions: count as i32, ..Default::default() }),
        }
    }

    pub fn count(&self) -> i32 {
        self.aggregates.len() as i32
    }

    pub fn partition_of(&self, account: &Uuid) -> i32 {
        partition_for(*account, self.count())
    }

    pub fn set(&self, partition: i32, slot: Slot) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = slots.get_mut(partition as usize) {
            *entry = slot;
        }
        if !matches!(slots.get(partition as usize), Some(Slot::Serving(_))) {
            self.set_aggregates(partition, 0);
        }
    }

    pub fn slot(&self, partition: i32) -> Slot {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(partition as usize).cloned().unwrap_or(Slot::Away)
    }

    /// Partitions served here, or being loaded here.
    pub fn owned(&self) -> Vec<i32> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        (0..slots.len() as i32)
            .filter(|p| matches!(slots[*p as usize], Slot::Serving(_) | Slot::Loading | Slot::Stopping))
            .collect()
    }

    /// The partitions served here now (loaded, taking commands).
    pub fn serving(&self) -> Vec<i32> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        (0..slots.len() as i32).filter(|p| matches!(slots[*p as usize], Slot::Serving(_))).collect()
    }

    pub fn set_aggregates(&self, partition: i32, count: usize) {
        if let Some(slot) = self.aggregates.get(partition as usize) {
            slot.store(count, Ordering::Relaxed);
        }
    }

    /// Accounts held for `partition` (0 unless it is served here).
    pub fn aggregates_of(&self, partition: i32) -> usize {
        self.aggregates.get(partition as usize).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    pub fn aggregates(&self) -> usize {
        self.aggregates.iter().map(|a| a.load(Ordering::Relaxed)).sum()
    }

    pub fn mark_joined(&self) {
        self.joined.store(true, Ordering::Release);
    }

    /// Ready: joined the group, and every partition assigned here is served.
    pub fn ready(&self) -> bool {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        self.joined.load(Ordering::Acquire) && !slots.iter().any(|s| matches!(s, Slot::Loading | Slot::Stopping))
    }

    pub fn add_to_report(&self, load: &RecoveryReport) {
        let mut report = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        report.snapshots_used += load.snapshots_used;
        report.records_replayed += load.records_replayed;
        report.elapsed_ms += load.elapsed_ms;
    }

    /// The loads so far, with the accounts held now.
    pub fn report(&self) -> RecoveryReport {
        let mut report = self.report.lock().unwrap_or_else(PoisonError::into_inner).clone();
        report.aggregates = self.aggregates();
        report
    }

    /// A new account id whose partition is served here when one is (a few
    /// tries: ids spread evenly over partitions), so that an open without an
    /// idempotency key is decided here and never forwarded; any id otherwise.
    pub fn new_local_id(&self) -> Uuid {
        let mut id = Uuid::now_v7();
        for _ in 0..64 {
            if matches!(self.slot(self.partition_of(&id)), Slot::Serving(_)) {
                break;
            }
            id = Uuid::now_v7();
        }
        id
    }

    /// Hands the command to its partition's writer and waits for the answer.
    pub async fn submit(&self, account_id: Uuid, command: Command, headers: CommandHeaders) -> Result<Reply, Refusal> {
        let partition = self.partition_of(&account_id);
        let sender = match self.slot(partition) {
            Slot::Serving(sender) => sender,
            Slot::Loading => return Err(Refusal::Unavailable(format!("partition {partition} is loading here"))),
            Slot::Stopping => return Err(Refusal::Unavailable(format!("partition {partition} is being handed over"))),
            Slot::Away => return Err(Refusal::Elsewhere(partition)),
        };
        let (reply, answer) = oneshot::channel();
        let request = Request {
            account_id,
            command,
            idempotency_key: headers.idempotency_key,
            if_match: headers.if_match,
            metadata: headers.metadata,
            owner: headers.owner,
            reply,
        };
        let moving = || Refusal::Unavailable(format!("partition {partition} is being handed over"));
        sender.send(request).await.map_err(|_| moving())?;
        answer.await.map_err(|_| moving())?
    }
}
