//! Folding a batch of records with the fold rule, against the state stored in
//! the read models. Pure: the caller loads the state and writes the result.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::subject::{self, Subject, SubjectCommit};
use events::{fold_commit, Account, Commit};
use uuid::Uuid;

/// A record as consumed: its offset and raw value.
pub struct Record {
    pub offset: i64,
    pub value: Vec<u8>,
    /// The record's Kafka timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// An account as the `accounts` table holds it: the fold state plus times.
#[derive(Clone, Debug)]
pub struct StoredAccount {
    pub account: Account,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A commit the fold rule accepted, with where it sits.
pub struct AcceptedCommit {
    pub offset: i64,
    pub commit: Commit,
}

/// What projectors get: the accepted commits in log order and the account
/// states after them. Rejected commits are already gone.
pub struct FoldedBatch {
    pub topic: String,
    pub partition: i32,
    pub accepted: Vec<AcceptedCommit>,
    /// Accounts touched by an accepted commit, as they stand after the batch.
    pub accounts: HashMap<Uuid, StoredAccount>,
    /// Data subjects erased by an accepted commit of the batch, in log order.
    pub erasures: Vec<(i64, SubjectCommit)>,
    pub rejected: u64,
}

impl FoldedBatch {
    pub fn events(&self) -> usize {
        self.accepted.iter().map(|c| c.commit.events.len()).sum()
    }
}

/// A batch's records decoded, and the accounts and subjects they touch.
pub struct Decoded {
    pub records: Vec<(i64, Option<events::Record>)>,
    pub accounts: Vec<Uuid>,
    pub subjects: Vec<Uuid>,
}

/// Decodes the records and the aggregate ids they touch.
pub fn decode(records: &[Record]) -> Decoded {
    let records: Vec<(i64, Option<events::Record>)> =
        records.iter().map(|r| (r.offset, events::Record::decode(&r.value).ok())).collect();
    let (mut accounts, mut subjects) = (Vec::new(), Vec::new());
    for (_, record) in &records {
        match record {
            Some(events::Record::Account(c)) => accounts.push(c.aggregate_id),
            Some(events::Record::Subject(c)) => subjects.push(c.subject),
            None => {}
        }
    }
    for ids in [&mut accounts, &mut subjects] {
        ids.sort_unstable();
        ids.dedup();
    }
    Decoded { records, accounts, subjects }
}

/// Applies the fold rule to `decoded`, starting from `stored` and
/// `stored_subjects` (the read model state as of the batch's first offset).
pub fn fold(
    topic: &str,
    partition: i32,
    decoded: Decoded,
    mut stored: HashMap<Uuid, StoredAccount>,
    mut stored_subjects: HashMap<Uuid, Subject>,
) -> FoldedBatch {
    let mut batch = FoldedBatch {
        topic: topic.to_owned(),
        partition,
        accepted: Vec::new(),
        accounts: HashMap::new(),
        erasures: Vec::new(),
        rejected: 0,
    };
    for (offset, record) in decoded.records {
        let commit = match record {
            Some(events::Record::Account(commit)) => commit,
            Some(events::Record::Subject(commit)) => {
                if subject::fold_commit(stored_subjects.entry(commit.subject).or_default(), &commit).is_accepted() {
                    batch.erasures.push((offset, commit));
                } else {
                    batch.rejected += 1;
                }
                continue;
            }
            None => {
                batch.rejected += 1;
                continue;
            }
        };
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let entry = stored.entry(commit.aggregate_id).or_insert_with(|| StoredAccount {
            account: Account::default(),
            opened_at: epoch,
            updated_at: epoch,
        });
        if !fold_commit(&mut entry.account, &commit).is_accepted() {
            batch.rejected += 1;
            continue;
        }
        for event in &commit.events {
            if matches!(event.payload, events::AccountEvent::AccountOpened(_)) {
                entry.opened_at = event.occurred_at;
            }
            entry.updated_at = event.occurred_at;
        }
        batch.accounts.insert(commit.aggregate_id, entry.clone());
        batch.accepted.push(AcceptedCommit { offset, commit });
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_events_from_an_old_log_fold_into_the_read_models_through_the_upcaster() {
        let records = vec![
            Record {
                offset: 0,
                value: include_bytes!("../../events/tests/fixtures/commit_account_opened_v1.json").to_vec(),
                timestamp_ms: None,
            },
            Record {
                offset: 1,
                value: include_bytes!("../../events/tests/fixtures/commit_money_deposited_v1.json").to_vec(),
                timestamp_ms: None,
            },
        ];
        let decoded = decode(&records);
        let id = decoded.accounts[0];
        let batch = fold("t", 0, decoded, HashMap::new(), HashMap::new());
        assert_eq!((batch.accepted.len(), batch.rejected), (2, 0));
        let account = &batch.accounts[&id].account;
        assert_eq!((account.balance, account.version, account.owner.clear()), (700, 2, Some("legacy")));
    }
}
