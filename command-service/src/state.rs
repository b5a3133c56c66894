//! The folded state of one partition, as the writer holds it: accounts plus the
//! idempotency keys of their accepted commits. Built only by the fold rule.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::{fold_commit, Account, Commit, Position, Verdict};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a client gets back for an accepted commit, and again on a retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub account_id: Uuid,
    pub version: u64,
    pub commit_id: Uuid,
    pub position: Position,
    pub command: String,
}

/// An idempotency key remembered from the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    pub fingerprint: Option<String>,
    pub receipt: Receipt,
    pub at: DateTime<Utc>,
}

/// One account with the idempotency keys of its accepted commits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Entry {
    pub account: Account,
    pub keys: HashMap<String, KeyRecord>,
}

/// The state of one partition, folded from offset 0 up to `next_offset`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PartitionState {
    pub partition: i32,
    pub next_offset: i64,
    /// The commit at `next_offset - 1`, if that record is one: the log must
    /// still hold it there for a snapshot of this state to be used (events::resume).
    #[serde(default)]
    pub last_commit: Option<Uuid>,
    pub entries: HashMap<Uuid, Entry>,
    /// Idempotency keys held, over every entry (kept as keys come and go).
    #[serde(skip)]
    keys: usize,
}

impl PartitionState {
    pub fn new(partition: i32) -> Self {
        Self { partition, next_offset: 0, last_commit: None, entries: HashMap::new(), keys: 0 }
    }

    /// Moves past records up to `end` that were not folded here (the record
    /// before the new position is then unknown).
    pub fn reach(&mut self, end: i64) {
        if end > self.next_offset {
            self.next_offset = end;
            self.last_commit = None;
        }
    }

    /// Idempotency keys held.
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// Counts the keys again (after the state was decoded from a snapshot).
    pub fn count_keys(&mut self) {
        self.keys = self.entries.values().map(|e| e.keys.len()).sum();
    }

    pub fn account(&self, id: &Uuid) -> Option<&Account> {
        self.entries.get(id).map(|e| &e.account)
    }

    pub fn key(&self, id: &Uuid, key: &str) -> Option<&KeyRecord> {
        self.entries.get(id).and_then(|e| e.keys.get(key))
    }

    /// Folds the record at `offset` (raw bytes) through the fold rule.
    pub fn fold_record(&mut self, offset: i64, bytes: &[u8]) -> Option<(Commit, Verdict)> {
        self.next_offset = offset + 1;
        self.last_commit = None;
        let commit = Commit::decode(bytes).ok()?;
        let verdict = self.fold(offset, &commit);
        Some((commit, verdict))
    }

    /// Folds a decoded commit that sits at `offset`.
    pub fn fold(&mut self, offset: i64, commit: &Commit) -> Verdict {
        self.next_offset = offset + 1;
        self.last_commit = Some(commit.commit_id);
        let entry = self.entries.entry(commit.aggregate_id).or_default();
        let verdict = fold_commit(&mut entry.account, commit);
        if verdict.is_accepted() {
            if let Some(key) = &commit.command.idempotency_key {
                let receipt = self.receipt(offset, commit);
                let at = commit.events.first().map_or_else(Utc::now, |e| e.occurred_at);
                let record = KeyRecord { fingerprint: commit.command.fingerprint.clone(), receipt, at };
                if let Some(entry) = self.entries.get_mut(&commit.aggregate_id) {
                    if entry.keys.insert(key.clone(), record).is_none() {
                        self.keys += 1;
                    }
                }
            }
        } else if entry.account.version == 0 {
            self.entries.remove(&commit.aggregate_id);
        }
        verdict
    }

    /// The receipt of an accepted commit at `offset`.
    pub fn receipt(&self, offset: i64, commit: &Commit) -> Receipt {
        Receipt {
            account_id: commit.aggregate_id,
            version: commit.resulting_version(),
            commit_id: commit.commit_id,
            position: Position { partition: self.partition, offset },
            command: commit.command.name.clone(),
        }
    }

    /// Forgets idempotency keys older than `cutoff`.
    pub fn prune_keys(&mut self, cutoff: DateTime<Utc>) {
        for entry in self.entries.values_mut() {
            entry.keys.retain(|_, record| record.at >= cutoff);
        }
        self.count_keys();
    }
}
