//! The fold rule, as every reader applies it.

use chrono::DateTime;
use uuid::Uuid;

use super::*;
use crate::account::{AccountEvent, AccountOpened, MoneyMoved, Status};
use crate::commit::{CommandInfo, Event, Metadata};

fn commit(id: u128, expected_version: u64, payload: AccountEvent) -> Commit {
    Commit {
        commit_id: Uuid::from_u128(id),
        aggregate_type: "account".into(),
        aggregate_id: Uuid::from_u128(7),
        expected_version,
        previous_commit_id: None,
        events: vec![Event {
            event_id: Uuid::from_u128(1000 + id),
            sequence: expected_version + 1,
            occurred_at: DateTime::from_timestamp(0, 0).expect("epoch"),
            payload,
        }],
        command: CommandInfo::default(),
        metadata: Metadata::default(),
    }
}

fn opened() -> AccountEvent {
    AccountEvent::AccountOpened(AccountOpened { owner: "o".into(), currency: "EUR".into(), overdraft_limit: 0 })
}

fn withdrawn(amount: i64, balance_after: i64) -> AccountEvent {
    AccountEvent::MoneyWithdrawn(MoneyMoved { amount, reference: None, balance_after })
}

fn deposited(amount: i64, balance_after: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited(MoneyMoved { amount, reference: None, balance_after })
}

#[test]
fn of_two_writers_racing_on_one_version_only_the_first_in_the_log_is_accepted() {
    let mut fold = LogFold::default();
    assert!(fold.fold(&commit(1, 0, opened())).is_accepted());
    assert!(fold.fold(&commit(2, 1, deposited(100, 100))).is_accepted());
    // Two writers both saw version 2 and each withdrew 100.
    assert!(fold.fold(&commit(3, 2, withdrawn(100, 0))).is_accepted());
    assert_eq!(
        fold.fold(&commit(4, 2, withdrawn(100, 0))),
        Verdict::Rejected(Rejection::VersionMismatch { expected: 2, actual: 3 })
    );
    let account = &fold.accounts[&Uuid::from_u128(7)];
    assert_eq!((account.balance, account.version, account.status), (0, 3, Status::Open));
    assert_eq!((fold.accepted, fold.rejected), (3, 1));
}

#[test]
fn a_commit_from_the_future_is_rejected_too() {
    let mut fold = LogFold::default();
    fold.fold(&commit(1, 0, opened()));
    assert!(!fold.fold(&commit(2, 5, deposited(1, 1))).is_accepted());
}

#[test]
fn a_commit_with_misnumbered_events_is_rejected() {
    let mut c = commit(1, 0, opened());
    c.events[0].sequence = 3;
    assert_eq!(judge(&Account::default(), &c), Verdict::Rejected(Rejection::BadSequence));
    c.events.clear();
    assert_eq!(judge(&Account::default(), &c), Verdict::Rejected(Rejection::BadSequence));
}

#[test]
fn a_commit_for_another_aggregate_type_is_rejected() {
    let mut c = commit(1, 0, opened());
    c.aggregate_type = "loan".into();
    assert_eq!(judge(&Account::default(), &c), Verdict::Rejected(Rejection::UnknownAggregateType));
}

#[test]
fn an_undecodable_record_is_rejected_and_changes_nothing() {
    let mut fold = LogFold::default();
    let (commit, verdict) = fold.fold_record(b"not json");
    assert!(commit.is_none());
    assert_eq!(verdict, Verdict::Rejected(Rejection::Malformed));
    assert!(fold.accounts.is_empty());
}

#[test]
fn a_rejected_first_commit_leaves_no_phantom_account() {
    let mut fold = LogFold::default();
    fold.fold(&commit(1, 3, opened()));
    assert!(fold.accounts.is_empty());
}

fn after(previous: u128, mut commit: Commit) -> Commit {
    commit.previous_commit_id = Some(Uuid::from_u128(previous));
    commit
}

#[test]
fn a_commit_chained_onto_a_rejected_one_is_rejected_even_though_its_version_fits() {
    // Given an account opened (commit 1) and funded with 100 (commit 2).
    let mut fold = LogFold::default();
    assert!(fold.fold(&commit(1, 0, opened())).is_accepted());
    assert!(fold.fold(&after(1, commit(2, 1, deposited(100, 100)))).is_accepted());
    // When writer A withdraws 100 (commit 3, version 2) and, before it knows the
    // outcome, chains a second withdrawal of 50 on top of it (commit 4, version 3),
    // while writer B's deposit of 10 (commit 5, version 2) lands first.
    assert!(fold.fold(&after(2, commit(5, 2, deposited(10, 110)))).is_accepted());
    let first = fold.fold(&after(2, commit(3, 2, withdrawn(100, 0))));
    let chained = fold.fold(&after(3, commit(4, 3, withdrawn(50, -50))));
    // Then both of A's are rejected: the second names a commit the log never accepted.
    assert_eq!(first, Verdict::Rejected(Rejection::VersionMismatch { expected: 2, actual: 3 }));
    assert_eq!(
        chained,
        Verdict::Rejected(Rejection::PreviousMismatch { expected: Uuid::from_u128(3), actual: Uuid::from_u128(5) })
    );
    let account = &fold.accounts[&Uuid::from_u128(7)];
    assert_eq!((account.balance, account.version, account.head), (110, 3, Some(Uuid::from_u128(5))));
}

#[test]
fn a_commit_that_names_the_accepted_head_is_accepted_and_becomes_the_head() {
    let mut fold = LogFold::default();
    fold.fold(&commit(1, 0, opened()));
    assert!(fold.fold(&after(1, commit(2, 1, deposited(5, 5)))).is_accepted());
    assert_eq!(fold.accounts[&Uuid::from_u128(7)].head, Some(Uuid::from_u128(2)));
}

#[test]
fn records_older_than_the_previous_field_are_judged_by_the_version_alone() {
    let mut fold = LogFold::default();
    fold.fold(&commit(1, 0, opened()));
    // No previous_commit_id: an old record. A state without a head: an old snapshot.
    assert!(fold.fold(&commit(2, 1, deposited(5, 5))).is_accepted());
    let mut legacy = fold.accounts[&Uuid::from_u128(7)].clone();
    legacy.head = None;
    assert!(judge(&legacy, &after(99, commit(3, 2, deposited(1, 6)))).is_accepted());
}
