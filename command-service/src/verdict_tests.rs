//! Answers for commits the log has judged, with no I/O: two writers' attempts
//! at one command, as after a kill -9 and a retry at the other writer.

use events::Command;
use uuid::Uuid;

use super::*;
use crate::pending::{Pending, View};
use crate::plan::plan;
use crate::plan::tests::{deposit, open, request, subjects};

/// One writer's commit for `command`, decided on `state` as that writer sees it.
fn decided(state: &PartitionState, id: Uuid, command: Command, key: Option<&str>) -> Commit {
    let planned =
        plan(&View { proven: state, pending: &Pending::default() }, &[request(id, command, key)], &subjects());
    planned.commits.into_iter().next().expect("the command is decided into a commit")
}

/// An account opened at offset 0 with 100 deposited at offset 1.
fn funded() -> (PartitionState, Uuid) {
    let (mut state, id) = (PartitionState::new(3), Uuid::new_v4());
    let opened = decided(&state, id, open(), None);
    assert!(state.fold(0, &opened).is_accepted());
    let funded = decided(&state, id, deposit(100), None);
    assert!(state.fold(1, &funded).is_accepted());
    (state, id)
}

#[test]
fn a_rejected_attempt_of_a_command_another_attempt_of_which_was_accepted_is_answered_by_that_attempt() {
    // Given writer A's attempt at deposit "k" accepted at offset 2, and writer
    // B's attempt at the same command, decided before B saw A's, at offset 3
    let (mut state, id) = funded();
    let first = decided(&state, id, deposit(421), Some("k"));
    let retry = decided(&state, id, deposit(421), Some("k"));
    assert!(state.fold(2, &first).is_accepted());
    assert!(!state.fold(3, &retry).is_accepted(), "the retry expects the version the first one took");
    // When B answers for its own attempt
    let outcome = answer(&state, 3, &retry, false);
    // Then the client hears the accepted attempt's receipt, as a replay, never write_conflict
    let reply = outcome.expect("the command was applied: a 2xx");
    assert!(reply.replayed);
    assert_eq!(reply.receipt.commit_id, first.commit_id);
    assert_eq!(reply.receipt.position, Position { partition: 3, offset: 2 });
}

#[test]
fn a_rejected_commit_whose_command_is_nowhere_in_the_log_is_a_write_conflict_naming_the_commit_and_its_position() {
    // Given a foreign deposit accepted at offset 2 and this writer's keyed deposit at offset 3, both on version 2
    let (mut state, id) = funded();
    let foreign = decided(&state, id, deposit(5), Some("other"));
    let ours = decided(&state, id, deposit(288), Some("k"));
    assert!(state.fold(2, &foreign).is_accepted());
    assert!(!state.fold(3, &ours).is_accepted());
    // When the writer answers for its commit
    let outcome = answer(&state, 3, &ours, false);
    // Then it is a write_conflict that a client or auditor can check against the log
    match outcome {
        Err(Refusal::WriteConflict { commit_id, position }) => {
            assert_eq!(commit_id, ours.commit_id);
            assert_eq!(position, Position { partition: 3, offset: 3 });
        }
        other => panic!("expected write_conflict, got {other:?}"),
    }
}

#[test]
fn a_rejected_commit_whose_key_was_taken_by_a_different_command_is_refused_as_a_reused_key() {
    // Given the key "k" accepted for a deposit of 1, and this writer's deposit of 2 under "k" rejected
    let (mut state, id) = funded();
    let other = decided(&state, id, deposit(1), Some("k"));
    let ours = decided(&state, id, deposit(2), Some("k"));
    assert!(state.fold(2, &other).is_accepted());
    assert!(!state.fold(3, &ours).is_accepted());
    // When the writer answers, Then it is the answer a retry would get: the key is taken
    assert!(matches!(answer(&state, 3, &ours, false), Err(Refusal::IdempotencyKeyReused)));
}

#[test]
fn an_accepted_commit_is_answered_with_its_own_receipt() {
    // Given a keyed deposit accepted at offset 2
    let (mut state, id) = funded();
    let ours = decided(&state, id, deposit(7), Some("k"));
    assert!(state.fold(2, &ours).is_accepted());
    // When the writer answers, Then it is the commit's own receipt, not a replay
    let reply = answer(&state, 2, &ours, true).expect("accepted");
    assert!(!reply.replayed);
    assert_eq!((reply.receipt.commit_id, reply.receipt.version), (ours.commit_id, 3));
}
