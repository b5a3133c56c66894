//! The commits still in flight, as an overlay on the proven state: the view a
//! partition writer plans its next batch against while earlier batches wait
//! for their offsets.
//!
//! The overlay assumes every in-flight commit will be accepted. That is safe to
//! plan on because each commit names the one it follows (`previous_commit_id`):
//! if an earlier commit is not accepted, every commit planned on top of it is
//! rejected by the fold rule too, and the writer tells its client so. What the
//! overlay may not do is *refuse*: a refusal planned on unproven state waits
//! until the pipeline is empty and is decided again on proven state.

use std::collections::HashMap;

use events::{Account, Commit};
use uuid::Uuid;

use crate::state::{KeyRecord, PartitionState};

/// Accounts and idempotency keys touched by in-flight commits, with how many
/// in-flight commits touch each.
#[derive(Debug, Default)]
pub struct Pending {
    accounts: HashMap<Uuid, (Account, usize)>,
    keys: HashMap<(Uuid, String), usize>,
}

impl Pending {
    pub fn account(&self, id: &Uuid) -> Option<&Account> {
        self.accounts.get(id).map(|(account, _)| account)
    }

    pub fn has_key(&self, id: &Uuid, key: &str) -> bool {
        !self.keys.is_empty() && self.keys.contains_key(&(*id, key.to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Records a batch sent: `after` holds each account as the batch leaves it.
    pub fn add(&mut self, after: &HashMap<Uuid, Account>, commits: &[Commit]) {
        for commit in commits {
            let id = commit.aggregate_id;
            let Some(account) = after.get(&id) else { continue };
            let entry = self.accounts.entry(id).or_insert_with(|| (account.clone(), 0));
            entry.0.clone_from(account);
            entry.1 += 1;
            if let Some(key) = &commit.command.idempotency_key {
                *self.keys.entry((id, key.clone())).or_default() += 1;
            }
        }
    }

    /// Forgets commits that are settled (folded into the proven state).
    pub fn release(&mut self, commits: &[Commit]) {
        for commit in commits {
            let id = commit.aggregate_id;
            if let Some(entry) = self.accounts.get_mut(&id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    self.accounts.remove(&id);
                }
            }
            if let Some(key) = &commit.command.idempotency_key {
                let slot = (id, key.clone());
                if let Some(count) = self.keys.get_mut(&slot) {
                    *count -= 1;
                    if *count == 0 {
                        self.keys.remove(&slot);
                    }
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.accounts.clear();
        self.keys.clear();
    }
}

/// What a batch is planned against: the proven state with the overlay on top.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub proven: &'a PartitionState,
    pub pending: &'a Pending,
}

impl<'a> View<'a> {
    pub fn account(&self, id: &Uuid) -> Option<&'a Account> {
        self.pending.account(id).or_else(|| self.proven.account(id))
    }

    /// A key whose commit is proven accepted.
    pub fn proven_key(&self, id: &Uuid, key: &str) -> Option<&'a KeyRecord> {
        self.proven.key(id, key)
    }

    /// A key whose commit is still in flight: its answer is not known yet.
    pub fn pending_key(&self, id: &Uuid, key: &str) -> bool {
        self.pending.has_key(id, key)
    }
}
