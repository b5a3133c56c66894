//! Planning a batch, with no I/O.

use events::{Command, Metadata};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::*;
use crate::state::PartitionState;

fn request(account_id: Uuid, command: Command, key: Option<&str>) -> Request {
    let (reply, _) = oneshot::channel();
    Request {
        owner: None,
        account_id,
        command,
        idempotency_key: key.map(str::to_owned),
        if_match: None,
        metadata: Metadata::default(),
        reply,
    }
}

fn open() -> Command {
    Command::OpenAccount { owner: "o".into(), currency: "EUR".into(), overdraft_limit: 0 }
}

fn deposit(amount: i64) -> Command {
    Command::Deposit { amount, reference: None }
}

fn withdraw(amount: i64) -> Command {
    Command::Withdraw { amount, reference: None }
}

#[test]
fn each_command_is_decided_against_the_state_the_previous_ones_left() {
    let id = Uuid::new_v4();
    let batch = [
        request(id, open(), None),
        request(id, deposit(100), None),
        request(id, withdraw(60), None),
        request(id, withdraw(60), None),
    ];
    let plan = plan(&PartitionState::new(0), &batch);
    assert_eq!(plan.commits.len(), 3, "open, deposit and the first withdrawal");
    let versions: Vec<u64> = plan.commits.iter().map(|c| c.expected_version).collect();
    assert_eq!(versions, vec![0, 1, 2]);
    assert!(matches!(
        plan.decisions[3],
        Decision::Answer(Err(Refusal::Domain(events::DomainError::InsufficientFunds { .. })))
    ));
    assert!(plan.has_refusals);
}

#[test]
fn a_key_repeated_in_one_batch_joins_the_first_and_a_reused_key_is_refused() {
    let id = Uuid::new_v4();
    let mut state = PartitionState::new(0);
    let opened = plan(&state, &[request(id, open(), None)]).commits.remove(0);
    state.fold(0, &opened);
    let batch =
        [request(id, deposit(5), Some("k")), request(id, deposit(5), Some("k")), request(id, deposit(6), Some("k"))];
    let plan = plan(&state, &batch);
    assert_eq!(plan.commits.len(), 1);
    assert!(matches!(plan.decisions[0], Decision::Send(0)));
    assert!(matches!(plan.decisions[1], Decision::Join(0)));
    assert!(matches!(plan.decisions[2], Decision::Answer(Err(Refusal::IdempotencyKeyReused))));
    assert!(!plan.has_refusals, "a reused key is not a refusal that a stale view could explain");
}

#[test]
fn a_key_already_in_the_log_is_answered_from_it_without_a_new_commit() {
    let id = Uuid::new_v4();
    let mut state = PartitionState::new(3);
    let first = plan(&state, &[request(id, open(), Some("open-1"))]).commits.remove(0);
    state.fold(41, &first);
    let retry = plan(&state, &[request(id, open(), Some("open-1"))]);
    assert!(retry.commits.is_empty());
    match &retry.decisions[0] {
        Decision::Answer(Ok(reply)) => {
            assert!(reply.replayed);
            assert_eq!(
                (reply.receipt.commit_id, reply.receipt.position.offset, reply.receipt.position.partition),
                (first.commit_id, 41, 3)
            );
        }
        _ => panic!("expected a replay"),
    }
}

#[test]
fn if_match_against_another_version_is_a_version_conflict() {
    let id = Uuid::new_v4();
    let mut req = request(id, open(), None);
    req.if_match = Some(4);
    let plan = plan(&PartitionState::new(0), &[req]);
    assert!(matches!(plan.decisions[0], Decision::Answer(Err(Refusal::VersionConflict { expected: 4, actual: 0 }))));
}
