//! The answer checks on a hand-made log: no I/O.

use events::account::{MoneyMoved, AGGREGATE_TYPE};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
use serde_json::json;
use uuid::Uuid;

use super::*;

fn deposit(account: Uuid, expected_version: u64, key: &str) -> Commit {
    let moved = MoneyMoved { amount: 5, reference: None, balance_after: 5 };
    Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: AGGREGATE_TYPE.into(),
        aggregate_id: account,
        expected_version,
        previous_commit_id: None,
        events: vec![Event {
            event_id: Uuid::now_v7(),
            sequence: expected_version + 1,
            occurred_at: chrono::Utc::now(),
            payload: AccountEvent::MoneyDeposited(moved),
        }],
        command: CommandInfo { name: "Deposit".into(), idempotency_key: Some(key.into()), fingerprint: None },
        metadata: Metadata::default(),
    }
}

fn answer(account: Uuid, key: &str, status: u16, body: serde_json::Value) -> Answer {
    Answer { account_id: account, idempotency_key: Some(key.into()), status, body }
}

/// Writer A's attempt at "k" accepted at offset 4 of partition 1; writer B's attempt rejected at offset 5.
fn raced() -> (Log, Uuid, Commit, Commit) {
    let account = Uuid::new_v4();
    let (won, lost) = (deposit(account, 1, "k"), deposit(account, 1, "k"));
    let mut log = Log::default();
    log.record(1, 4, &won, true);
    log.record(1, 5, &lost, false);
    (log, account, won, lost)
}

#[test]
fn a_write_conflict_for_a_command_whose_other_attempt_was_accepted_fails_the_check() {
    // Given the race, When B's client was told write_conflict for its (rejected) attempt
    let (log, account, _, lost) = raced();
    let told =
        json!({"code": "write_conflict", "commit_id": lost.commit_id, "position": {"partition": 1, "offset": 5}});
    let failures = check(&log, &[answer(account, "k", 409, told)]);
    // Then the check fails: the command was applied
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("accepted"), "{failures:?}");
}

#[test]
fn the_accepted_attempts_receipt_and_a_true_write_conflict_pass() {
    // Given the race, and another command "j" whose only attempt was rejected at offset 6
    let (mut log, account, won, _) = raced();
    let other = deposit(account, 1, "j");
    log.record(1, 6, &other, false);
    // When the clients were told the receipt of "k" and write_conflict for "j"
    let receipt = json!({"commit_id": won.commit_id, "position": {"partition": 1, "offset": 4}});
    let conflict =
        json!({"code": "write_conflict", "commit_id": other.commit_id, "position": {"partition": 1, "offset": 6}});
    let failures = check(&log, &[answer(account, "k", 200, receipt), answer(account, "j", 409, conflict)]);
    // Then nothing fails
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn a_2xx_naming_a_rejected_commit_and_a_write_conflict_at_the_wrong_position_both_fail() {
    // Given the race, When B's attempt is told 200, and A's accepted one write_conflict
    let (log, account, won, lost) = raced();
    let acked = json!({"commit_id": lost.commit_id, "position": {"partition": 1, "offset": 5}});
    let wrong =
        json!({"code": "write_conflict", "commit_id": won.commit_id, "position": {"partition": 1, "offset": 5}});
    let failures = check(&log, &[answer(account, "x", 200, acked), answer(account, "y", 409, wrong)]);
    // Then both fail
    assert_eq!(failures.len(), 2, "{failures:?}");
}
