//! What handlers need to know across partitions: each account's currency, each
//! transfer's source account and status, and the requests waiting for a
//! transfer to reach a status (`Prefer: wait`).
//!
//! Fed only by the fold: at start-up from the recovered states, then by every
//! writer for each commit the fold accepts. It is a cache of proven state,
//! never a source of decisions: the source account's writer decides every
//! rule. The currency lets a transfer to a known account in another currency
//! be refused at once (422); an unknown destination decides for itself later.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use events::account::Status;
use events::transfer::Leg;
use events::{AccountEvent, Commit, Legs, TransferStatus};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::state::PartitionState;

/// One transfer as the legs proven so far describe it.
#[derive(Default)]
struct Tracked {
    source: Option<Uuid>,
    legs: Legs,
    waiters: Vec<oneshot::Sender<TransferStatus>>,
}

#[derive(Default)]
pub struct Directory {
    currencies: RwLock<HashMap<Uuid, String>>,
    transfers: Mutex<HashMap<Uuid, Tracked>>,
}

impl Directory {
    /// Fills the directory from recovered partition states.
    pub fn load<'a>(&self, states: impl IntoIterator<Item = &'a PartitionState>) {
        let mut currencies = self.currencies.write().unwrap_or_else(|e| e.into_inner());
        let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        for state in states {
            for (id, entry) in &state.entries {
                let account = &entry.account;
                if account.status != Status::NotOpened {
                    currencies.insert(*id, account.currency.clone());
                }
                for (transfer_id, leg) in &account.transfers {
                    let tracked = transfers.entry(*transfer_id).or_default();
                    if !matches!(leg, Leg::Received | Leg::Refused) {
                        tracked.source = Some(*id);
                    }
                    tracked.legs.record_leg(leg);
                }
            }
        }
    }

    /// Takes note of a commit the fold accepted.
    pub fn observe(&self, commit: &Commit) {
        for event in &commit.events {
            match &event.payload {
                AccountEvent::AccountOpened(opened) => {
                    let mut currencies = self.currencies.write().unwrap_or_else(|e| e.into_inner());
                    currencies.insert(commit.aggregate_id, opened.currency.clone());
                }
                payload => {
                    let Some(transfer_id) = events::ledger::transfer_of(payload) else { continue };
                    let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
                    let tracked = transfers.entry(transfer_id).or_default();
                    if matches!(payload, AccountEvent::TransferDebited(_) | AccountEvent::TransferHeld(_)) {
                        tracked.source = Some(commit.aggregate_id);
                    }
                    tracked.legs.record(payload);
                    let status = tracked.legs.status();
                    for waiter in tracked.waiters.drain(..) {
                        let _ = waiter.send(status);
                    }
                }
            }
        }
    }

    pub fn currency(&self, account: &Uuid) -> Option<String> {
        self.currencies.read().unwrap_or_else(|e| e.into_inner()).get(account).cloned()
    }

    /// The account a transfer leaves from, once its first leg is proven.
    pub fn source_of(&self, transfer: &Uuid) -> Option<Uuid> {
        self.transfers.lock().unwrap_or_else(|e| e.into_inner()).get(transfer).and_then(|t| t.source)
    }

    pub fn status(&self, transfer: &Uuid) -> Option<TransferStatus> {
        let transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        transfers.get(transfer).filter(|t| t.source.is_some()).map(|t| t.legs.status())
    }

    /// Waits up to `timeout` until the transfer's status satisfies `done`;
    /// returns the status it has then.
    pub async fn wait(
        &self,
        transfer: Uuid,
        timeout: Duration,
        done: impl Fn(TransferStatus) -> bool,
    ) -> Option<TransferStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let receiver = {
                let mut transfers = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
                let tracked = transfers.entry(transfer).or_default();
                let status = tracked.legs.status();
                if tracked.source.is_some() && done(status) {
                    return Some(status);
                }
                let (sender, receiver) = oneshot::channel();
                tracked.waiters.push(sender);
                receiver
            };
            if tokio::time::timeout_at(deadline, receiver).await.is_err() {
                return self.status(&transfer);
            }
        }
    }
}
