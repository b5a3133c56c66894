//! Planning a batch, with no I/O.

use events::{Command, Metadata};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::*;
use crate::pending::Pending;
use crate::state::PartitionState;

/// Plans against proven state alone (nothing in flight).
fn plan_on(state: &PartitionState, batch: &[Request]) -> Plan {
    plan(&View { proven: state, pending: &Pending::default() }, batch, &subjects())
}

/// The key store as a batch sees it: owner "o" has a live key.
pub(crate) fn subjects() -> Subjects {
    let mut subjects = Subjects::new([7; 32]);
    subjects.insert_named("o", Uuid::from_u128(0x0), events::personal::DataKey::generate());
    subjects
}

pub(crate) fn request(account_id: Uuid, command: Command, key: Option<&str>) -> Request {
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

pub(crate) fn open() -> Command {
    Command::OpenAccount { owner: "o".into(), currency: "EUR".into(), overdraft_limit: 0 }
}

pub(crate) fn deposit(amount: i64) -> Command {
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
    let plan = plan_on(&PartitionState::new(0), &batch);
    assert_eq!(plan.commits.len(), 3, "open, deposit and the first withdrawal");
    let versions: Vec<u64> = plan.commits.iter().map(|c| c.expected_version).collect();
    assert_eq!(versions, vec![0, 1, 2]);
    assert!(matches!(
        plan.decisions[3],
        Decision::Refuse(Refusal::Domain(events::DomainError::InsufficientFunds { .. }))
    ));
    assert!(plan.has_refusals);
}

#[test]
fn a_key_repeated_in_one_batch_joins_the_first_and_a_reused_key_is_refused() {
    let id = Uuid::new_v4();
    let mut state = PartitionState::new(0);
    let opened = plan_on(&state, &[request(id, open(), None)]).commits.remove(0);
    state.fold(0, &opened);
    let batch =
        [request(id, deposit(5), Some("k")), request(id, deposit(5), Some("k")), request(id, deposit(6), Some("k"))];
    let plan = plan_on(&state, &batch);
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
    let first = plan_on(&state, &[request(id, open(), Some("open-1"))]).commits.remove(0);
    state.fold(41, &first);
    let retry = plan_on(&state, &[request(id, open(), Some("open-1"))]);
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
    let plan = plan_on(&PartitionState::new(0), &[req]);
    assert!(matches!(plan.decisions[0], Decision::Refuse(Refusal::VersionConflict { expected: 4, actual: 0 })));
}

/// Given an open account (proven) and a keyed deposit of 100 sent but not yet proven.
fn with_a_deposit_in_flight() -> (Uuid, PartitionState, Plan, Pending) {
    let id = Uuid::new_v4();
    let mut state = PartitionState::new(0);
    let opened = plan_on(&state, &[request(id, open(), None)]).commits.remove(0);
    state.fold(0, &opened);
    let first = plan_on(&state, &[request(id, deposit(100), Some("d1"))]);
    let mut pending = Pending::default();
    pending.add(&first.accounts, &first.commits);
    (id, state, first, pending)
}

#[test]
fn a_batch_planned_behind_one_in_flight_chains_onto_its_commits() {
    let (id, state, first, mut pending) = with_a_deposit_in_flight();
    // When the next batch withdraws 80 on top of it.
    let next = plan(&View { proven: &state, pending: &pending }, &[request(id, withdraw(80), None)], &subjects());
    // Then it expects the in-flight version and names the in-flight commit as the one it follows.
    let commit = &next.commits[0];
    assert_eq!((commit.expected_version, commit.previous_commit_id), (2, Some(first.commits[0].commit_id)));
    assert!(!next.needs_proven_state());
    // And once the first batch is settled the overlay is gone.
    pending.release(&first.commits);
    assert!(pending.is_empty());
}

#[test]
fn refusals_without_a_commit_and_in_flight_keys_planned_on_the_overlay_wait_for_proven_state() {
    let (id, state, _, pending) = with_a_deposit_in_flight();
    let view = View { proven: &state, pending: &pending };
    let overdrawn = plan(&view, &[request(id, withdraw(500), None)], &subjects());
    assert!(overdrawn.has_refusals && overdrawn.needs_proven_state(), "no commit to prove the view");
    let proven_by_a_commit =
        plan(&view, &[request(id, withdraw(500), None), request(id, deposit(1), None)], &subjects());
    assert!(proven_by_a_commit.has_refusals && !proven_by_a_commit.needs_proven_state());
    let retried = plan(&view, &[request(id, deposit(100), Some("d1"))], &subjects());
    assert!(retried.touches_pending_key && retried.commits.is_empty());
}
