//! What handlers need to know across the partitions this instance serves:
//! each account's currency, each transfer's source and destination accounts
//! and the legs recorded on them, and the requests waiting for a transfer to
//! change (`Prefer: wait`).
//!
//! Fed only by the fold, one part per partition: loaded from a partition's
//! state when this instance takes it, then told by its writer of each commit
//! the fold accepts, and forgotten when the partition leaves. It is a cache of
//! proven state, never a source of decisions: the source account's writer
//! decides every rule. What lives on partitions served elsewhere is asked of
//! their owners (see `http::transfers`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};

use events::account::Status;
use events::transfer::Leg;
use events::{partition_for, AccountEvent, Commit, Legs};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::state::PartitionState;

/// One transfer as the legs on one partition's accounts describe it.
#[derive(Clone, Copy, Default)]
pub struct Known {
    pub source: Option<Uuid>,
    pub destination: Option<Uuid>,
    pub legs: Legs,
}

impl Known {
    pub fn merge(&mut self, other: &Known) {
        self.source = self.source.or(other.source);
        self.destination = self.destination.or(other.destination);
        self.legs.merge(&other.legs);
    }
}

#[derive(Default)]
struct Part {
    currencies: HashMap<Uuid, String>,
    transfers: HashMap<Uuid, Known>,
}

/// Currencies remembered from other instances, at most this many.
const REMOTE_CURRENCIES: usize = 100_000;

pub struct Directory {
    parts: Vec<RwLock<Part>>,
    /// Currencies of accounts served elsewhere, as their owners said (never changes once opened).
    remote_currencies: RwLock<HashMap<Uuid, String>>,
    waiters: Mutex<HashMap<Uuid, Vec<oneshot::Sender<()>>>>,
}

impl Directory {
    pub fn new(partitions: i32) -> Self {
        Self {
            parts: (0..partitions).map(|_| RwLock::default()).collect(),
            remote_currencies: RwLock::default(),
            waiters: Mutex::default(),
        }
    }

    fn part(&self, partition: i32) -> Option<&RwLock<Part>> {
        self.parts.get(usize::try_from(partition).ok()?)
    }

    /// Replaces a partition's part with what its (loaded) state says.
    pub fn load(&self, state: &PartitionState) {
        let mut part = Part::default();
        for (id, entry) in &state.entries {
            let account = &entry.account;
            if account.status != Status::NotOpened {
                part.currencies.insert(*id, account.currency.clone());
            }
            for (transfer_id, leg) in &account.transfers {
                let known = part.transfers.entry(*transfer_id).or_default();
                match leg {
                    Leg::Received | Leg::Refused => known.destination = Some(*id),
                    Leg::Sent { to, .. } | Leg::Held { to, .. } | Leg::Posted { to, .. } => {
                        (known.source, known.destination) = (Some(*id), Some(*to));
                    }
                    _ => known.source = Some(*id),
                }
                known.legs.record_leg(leg);
            }
        }
        if let Some(slot) = self.part(state.partition) {
            *slot.write().unwrap_or_else(PoisonError::into_inner) = part;
        }
    }

    /// Forgets a partition that is no longer served here.
    pub fn forget(&self, partition: i32) {
        if let Some(slot) = self.part(partition) {
            *slot.write().unwrap_or_else(PoisonError::into_inner) = Part::default();
        }
    }

    /// Takes note of a commit the fold accepted on `partition`.
    pub fn observe(&self, partition: i32, commit: &Commit) {
        let Some(slot) = self.part(partition) else { return };
        for event in &commit.events {
            let account = commit.aggregate_id;
            if let AccountEvent::AccountOpened(opened) = &event.payload {
                let mut part = slot.write().unwrap_or_else(PoisonError::into_inner);
                part.currencies.insert(account, opened.currency.clone());
                continue;
            }
            let Some(transfer_id) = events::ledger::transfer_of(&event.payload) else { continue };
            {
                let mut part = slot.write().unwrap_or_else(PoisonError::into_inner);
                let known = part.transfers.entry(transfer_id).or_default();
                match &event.payload {
                    AccountEvent::TransferDebited(e) => (known.source, known.destination) = (Some(account), Some(e.to)),
                    AccountEvent::TransferHeld(e) => (known.source, known.destination) = (Some(account), Some(e.to)),
                    AccountEvent::TransferCredited(_) | AccountEvent::TransferRefused(_) => {
                        known.destination = Some(account);
                    }
                    _ => {}
                }
                known.legs.record(&event.payload);
            }
            self.wake(transfer_id);
        }
    }

    fn wake(&self, transfer: Uuid) {
        let waiting = self.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&transfer);
        for waiter in waiting.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }

    /// The currency of an account on a partition served here.
    pub fn currency(&self, account: &Uuid) -> Option<String> {
        let part = self.part(partition_for(*account, self.parts.len() as i32))?;
        part.read().unwrap_or_else(PoisonError::into_inner).currencies.get(account).cloned()
    }

    pub fn remote_currency(&self, account: &Uuid) -> Option<String> {
        self.remote_currencies.read().unwrap_or_else(PoisonError::into_inner).get(account).cloned()
    }

    pub fn remember_currency(&self, account: Uuid, currency: &str) {
        let mut remembered = self.remote_currencies.write().unwrap_or_else(PoisonError::into_inner);
        if remembered.len() >= REMOTE_CURRENCIES {
            remembered.clear();
        }
        remembered.insert(account, currency.to_owned());
    }

    /// What the partitions served here know of a transfer.
    pub fn known(&self, transfer: &Uuid) -> Option<Known> {
        let mut found: Option<Known> = None;
        for part in &self.parts {
            let part = part.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(known) = part.transfers.get(transfer) {
                found.get_or_insert_with(Known::default).merge(known);
            }
        }
        found
    }

    /// The account a transfer leaves from, if its partition is served here.
    pub fn source_of(&self, transfer: &Uuid) -> Option<Uuid> {
        self.known(transfer).and_then(|k| k.source)
    }

    /// Resolves when a leg of `transfer` is next recorded here. Subscribe
    /// before reading what is known, so that no leg falls in between.
    pub fn subscribe(&self, transfer: Uuid) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if waiters.len() >= 1024 {
            // Waiters that timed out on transfers that never moved.
            waiters.retain(|_, senders| {
                senders.retain(|s| !s.is_closed());
                !senders.is_empty()
            });
        }
        waiters.entry(transfer).or_default().push(sender);
        receiver
    }
}
