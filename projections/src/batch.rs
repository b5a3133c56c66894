//! Folding a batch of records with the fold rule, against the state stored in
//! the read models. Pure: the caller loads the state and writes the result.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
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
    pub rejected: u64,
}

impl FoldedBatch {
    pub fn events(&self) -> usize {
        self.accepted.iter().map(|c| c.commit.events.len()).sum()
    }
}

/// Decodes the records and the aggregate ids they touch.
pub fn decode(records: &[Record]) -> (Vec<(i64, Option<Commit>)>, Vec<Uuid>) {
    let decoded: Vec<(i64, Option<Commit>)> =
        records.iter().map(|r| (r.offset, Commit::decode(&r.value).ok())).collect();
    let mut ids: Vec<Uuid> = decoded.iter().filter_map(|(_, c)| c.as_ref().map(|c| c.aggregate_id)).collect();
    ids.sort_unstable();
    ids.dedup();
    (decoded, ids)
}

/// Applies the fold rule to `decoded`, starting from `stored` (the read model
/// state as of the batch's first offset).
pub fn fold(
    topic: &str,
    partition: i32,
    decoded: Vec<(i64, Option<Commit>)>,
    mut stored: HashMap<Uuid, StoredAccount>,
) -> FoldedBatch {
    let mut batch =
        FoldedBatch { topic: topic.to_owned(), partition, accepted: Vec::new(), accounts: HashMap::new(), rejected: 0 };
    for (offset, commit) in decoded {
        let Some(commit) = commit else {
            batch.rejected += 1;
            continue;
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
        let (decoded, ids) = decode(&records);
        let batch = fold("t", 0, decoded, HashMap::new());
        assert_eq!((batch.accepted.len(), batch.rejected), (2, 0));
        let account = &batch.accounts[&ids[0]].account;
        assert_eq!((account.balance, account.version, account.owner.as_str()), (700, 2, "legacy"));
    }
}
