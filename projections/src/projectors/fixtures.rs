//! Batches for the projectors' unit tests: accounts and accepted commits,
//! without a log or a database.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use events::{Account, AccountEvent, Commit, Event, Status};
use uuid::Uuid;

use crate::batch::{AcceptedCommit, FoldedBatch, StoredAccount};

/// The time of the commit at `offset`.
pub fn at(offset: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap() + Duration::seconds(offset)
}

/// An empty batch of partition 3 knowing `accounts` (id, currency; "" for never opened).
pub fn batch(accounts: &[(Uuid, &str)]) -> FoldedBatch {
    let accounts = accounts
        .iter()
        .map(|(id, currency)| {
            let status = if currency.is_empty() { Status::NotOpened } else { Status::Open };
            let account = Account { status, currency: (*currency).to_owned(), ..Account::default() };
            (*id, StoredAccount { account, opened_at: at(0), updated_at: at(0) })
        })
        .collect::<HashMap<_, _>>();
    FoldedBatch {
        topic: "t".to_owned(),
        partition: 3,
        accepted: Vec::new(),
        accounts,
        erasures: Vec::new(),
        rejected: 0,
    }
}

/// Appends a commit of `events` on `account`, at the next offset.
pub fn commit(batch: &mut FoldedBatch, account: Uuid, events: Vec<AccountEvent>) {
    let offset = 100 + batch.accepted.len() as i64;
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Event {
            event_id: Uuid::new_v4(),
            sequence: i as u64 + 1,
            occurred_at: at(offset),
            payload,
        })
        .collect();
    let commit = Commit {
        commit_id: Uuid::new_v4(),
        aggregate_type: events::account::AGGREGATE_TYPE.to_owned(),
        aggregate_id: account,
        expected_version: 0,
        previous_commit_id: None,
        events,
        command: Default::default(),
        metadata: Default::default(),
    };
    batch.accepted.push(AcceptedCommit { offset, commit });
}
