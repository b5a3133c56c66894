//! One partition's fold and the steps its accepted events call for. Pure: no
//! I/O, no clock (the time is passed in).
//!
//! The [`Planner`] folds every record of the partition with the fold rule, from
//! the partition's first offset, so it knows which commits the log accepted and
//! every account's state (a source's currency, a hold's reference). Only
//! accepted events are acted on, and only at offsets at or past `act_from` (the
//! group's committed offset): everything before it is done already. Holds are
//! tracked whatever their offset, since their timers are not checkpointed.
//! [`Outstanding`] turns steps finishing out of order into a checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use events::transfer::Leg;
use events::{AccountEvent, Commit, LogFold};
use uuid::Uuid;

use crate::steps::Step;

/// A hold open in the log: `TransferHeld` accepted, not posted, voided or expired yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// As the source's commit holds it: sealed for the source's owner. Passed on, never opened.
    pub reference: Option<events::Personal>,
    pub expires_at: DateTime<Utc>,
}

/// The fold of one partition, and the steps it calls for.
#[derive(Debug, Default)]
pub struct Planner {
    fold: LogFold,
    act_from: i64,
    /// Open holds by (source account, transfer).
    holds: HashMap<(Uuid, Uuid), Hold>,
    /// Open holds whose expiry has not been issued yet, by due time.
    timers: BTreeSet<(DateTime<Utc>, Uuid, Uuid)>,
}

impl Planner {
    /// A planner that acts on events at offsets `act_from` and later.
    pub fn new(act_from: i64) -> Self {
        Planner { act_from, ..Planner::default() }
    }

    /// Folds the record at `offset` (its raw value) and returns the steps it calls for.
    pub fn record(&mut self, offset: i64, value: &[u8]) -> Vec<Step> {
        match self.fold.fold_record(value) {
            (Some(commit), verdict) if verdict.is_accepted() => self.plan(offset, &commit),
            _ => Vec::new(),
        }
    }

    /// Folds a decoded commit found at `offset` and returns the steps it calls for.
    pub fn commit(&mut self, offset: i64, commit: &Commit) -> Vec<Step> {
        if !self.fold.fold(commit).is_accepted() {
            return Vec::new();
        }
        self.plan(offset, commit)
    }

    /// The steps of an accepted commit (already folded), and its effect on the holds.
    fn plan(&mut self, offset: i64, commit: &Commit) -> Vec<Step> {
        let act = offset >= self.act_from;
        let account = commit.aggregate_id;
        let currency = self.fold.accounts.get(&account).map(|a| a.currency.clone()).unwrap_or_default();
        let mut steps = Vec::new();
        for event in &commit.events {
            match &event.payload {
                AccountEvent::TransferDebited(e) if act => steps.push(Step::Credit {
                    transfer_id: e.transfer_id,
                    from: account,
                    to: e.to,
                    amount: e.amount,
                    currency: currency.clone(),
                    reference: e.reference.clone(),
                }),
                AccountEvent::TransferHeld(e) => {
                    let hold = Hold { reference: e.reference.clone(), expires_at: e.expires_at };
                    self.timers.insert((e.expires_at, account, e.transfer_id));
                    self.holds.insert((account, e.transfer_id), hold);
                }
                AccountEvent::HoldPosted(e) => {
                    let hold = self.resolve(account, e.transfer_id);
                    if act {
                        steps.push(Step::Credit {
                            transfer_id: e.transfer_id,
                            from: account,
                            to: e.to,
                            amount: e.amount,
                            currency: currency.clone(),
                            reference: hold.and_then(|h| h.reference),
                        });
                    }
                }
                AccountEvent::HoldVoided(e) | AccountEvent::HoldExpired(e) => {
                    self.resolve(account, e.transfer_id);
                }
                AccountEvent::TransferRefused(e) if act => {
                    steps.push(Step::Reverse { transfer_id: e.transfer_id, from: e.from })
                }
                _ => {}
            }
        }
        steps
    }

    /// The hold is resolved in the log: no timer for it any more.
    fn resolve(&mut self, account: Uuid, transfer_id: Uuid) -> Option<Hold> {
        let hold = self.holds.remove(&(account, transfer_id))?;
        self.timers.remove(&(hold.expires_at, account, transfer_id));
        Some(hold)
    }

    /// Does the fold already show the leg `step` would record? Only knowable
    /// when the account that records it lives in this partition.
    pub fn is_recorded(&self, step: &Step) -> bool {
        let leg = |account: &Uuid, transfer_id: &Uuid| {
            self.fold.accounts.get(account).and_then(|a| a.transfers.get(transfer_id))
        };
        match step {
            Step::Credit { transfer_id, to, .. } => leg(to, transfer_id).is_some(),
            Step::Reverse { transfer_id, from } => matches!(leg(from, transfer_id), Some(Leg::Reversed { .. })),
            Step::Expire { transfer_id, from } => !matches!(leg(from, transfer_id), Some(Leg::Held { .. })),
        }
    }

    /// When the next expiry is due, if a hold is open and its expiry not issued yet.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// The expiries due at `now`, each issued once.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Step> {
        let mut steps = Vec::new();
        while let Some(&(at, from, transfer_id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            steps.push(Step::Expire { transfer_id, from });
        }
        steps
    }

    /// Holds open in the log (with an expiry issued or not).
    pub fn open_holds(&self) -> usize {
        self.holds.len()
    }

    /// The open holds: `(source, transfer)` to hold.
    pub fn holds(&self) -> &HashMap<(Uuid, Uuid), Hold> {
        &self.holds
    }

    /// The fold of the partition so far.
    pub fn fold(&self) -> &LogFold {
        &self.fold
    }
}

/// The offsets of a partition whose steps are not done yet, with how many each has.
#[derive(Debug, Default)]
pub struct Outstanding {
    offsets: BTreeMap<i64, usize>,
}

impl Outstanding {
    pub fn add(&mut self, offset: i64) {
        *self.offsets.entry(offset).or_default() += 1;
    }

    /// One step of `offset` is done.
    pub fn done(&mut self, offset: i64) {
        if let Some(count) = self.offsets.get_mut(&offset) {
            *count -= 1;
            if *count == 0 {
                self.offsets.remove(&offset);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The offset to commit for the group: the lowest one with a step not done,
    /// or `next` (the next to read) when all are done; never below `floor` (the
    /// offset committed when the partition was assigned).
    pub fn checkpoint(&self, floor: i64, next: i64) -> i64 {
        self.offsets.keys().next().copied().unwrap_or(next).max(floor)
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
