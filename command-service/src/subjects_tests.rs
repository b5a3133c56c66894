//! Sealing a batch's personal fields, with no I/O: the keys are given.

use events::personal::{open, DataKey};
use events::{AccountEvent, Command, Metadata};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::*;
use crate::pending::Pending;
use crate::plan::{plan, Decision, Plan, Request};
use crate::state::PartitionState;

const ALICE: Uuid = Uuid::from_u128(0xa11ce);

fn keys(alice: Option<&DataKey>) -> Subjects {
    let mut subjects = Subjects::new([1; 32]);
    match alice {
        Some(key) => subjects.insert_named("alice", ALICE, key.clone()),
        None => {
            subjects.by_id.insert(ALICE, None);
        }
    }
    subjects
}

fn request(account_id: Uuid, command: Command, client: Option<&str>) -> Request {
    let mut metadata = Metadata::default();
    metadata.extra.insert("actor".into(), client.unwrap_or("ops-ana").into());
    let (reply, _) = oneshot::channel();
    let owner = client.map(str::to_owned);
    Request { account_id, command, idempotency_key: None, if_match: None, metadata, owner, reply }
}

fn plan_with(state: &PartitionState, subjects: &Subjects, batch: &[Request]) -> Plan {
    plan(&View { proven: state, pending: &Pending::default() }, batch, subjects)
}

/// Given alice's account, opened under her key.
fn alices_account(key: &DataKey) -> (Uuid, PartitionState) {
    let (id, mut state) = (Uuid::new_v4(), PartitionState::new(0));
    let open = Command::OpenAccount { owner: "alice".into(), currency: "EUR".into(), overdraft_limit: 0 };
    let opened = plan_with(&state, &keys(Some(key)), &[request(id, open, Some("alice"))]).commits.remove(0);
    state.fold(0, &opened);
    (id, state)
}

#[test]
fn the_owner_a_reference_and_the_clients_actor_are_sealed_for_the_owner_and_open_with_her_key() {
    // Given alice's account
    let key = DataKey::generate();
    let (id, state) = alices_account(&key);
    // When she deposits with a reference
    let deposit = Command::Deposit { amount: 5, reference: Some("rent, flat 3".into()) };
    let planned = plan_with(&state, &keys(Some(&key)), &[request(id, deposit, Some("alice"))]);
    // Then the commit holds no clear text, and each field opens with her key in its place
    let commit = &planned.commits[0];
    let wire = String::from_utf8(commit.encode()).expect("utf-8");
    assert!(!wire.contains("rent") && !wire.contains("alice"), "{wire}");
    let AccountEvent::MoneyDeposited(moved) = &commit.events[0].payload else { panic!("a deposit") };
    let Some(Personal::Sealed(sealed)) = &moved.reference else { panic!("sealed") };
    assert_eq!((sealed.subject, open(&key, id, "reference", sealed).as_deref()), (ALICE, Ok("rent, flat 3")));
    let actor: personal::Sealed = serde_json::from_value(commit.metadata.extra["actor"].clone()).expect("sealed");
    assert_eq!(open(&key, id, "actor", &actor).as_deref(), Ok("alice"));
    assert_eq!(state.account(&id).and_then(|a| a.owner.subject()), Some(ALICE));
}

#[test]
fn an_operators_actor_stays_in_clear_and_a_command_without_text_needs_no_key() {
    let key = DataKey::generate();
    let (id, state) = alices_account(&key);
    let freeze = Command::FreezeAccount { reason: None };
    // Even with alice's key unknown to the batch, an operator's freeze without a reason goes through
    let planned = plan_with(&state, &Subjects::new([1; 32]), &[request(id, freeze, None)]);
    assert_eq!(planned.commits[0].metadata.extra["actor"], "ops-ana");
}

#[test]
fn text_for_an_erased_owner_is_refused_and_money_without_text_still_moves() {
    // Given alice's account, and alice erased since
    let key = DataKey::generate();
    let (id, state) = alices_account(&key);
    let with_text = Command::Deposit { amount: 5, reference: Some("rent".into()) };
    let without = Command::Deposit { amount: 5, reference: None };
    // When an operator deposits with and without a reference
    let planned = plan_with(&state, &keys(None), &[request(id, with_text, None), request(id, without, None)]);
    // Then the reference is refused and the plain deposit is written
    assert!(matches!(
        planned.decisions[0],
        Decision::Answer(Err(crate::error::Refusal::Domain(events::DomainError::SubjectErased)))
    ));
    assert_eq!(planned.commits.len(), 1);
}

#[test]
fn a_client_owns_an_account_by_its_subject_id_not_by_a_name_in_the_state() {
    let key = DataKey::generate();
    let (id, state) = alices_account(&key);
    let account = state.account(&id).expect("opened");
    assert!(keys(Some(&key)).owns(account, "alice"));
    assert!(!keys(Some(&key)).owns(account, "mallory"));
    assert!(!Subjects::new([1; 32]).owns(account, "alice"), "an unknown client owns nothing sealed");
}

#[test]
fn fingerprints_are_keyed_so_the_log_holds_no_plain_digest_of_personal_text() {
    let deposit = Command::Deposit { amount: 5, reference: Some("rent".into()) };
    let (one, other) = (Subjects::new([1; 32]), Subjects::new([2; 32]));
    assert_eq!(one.fingerprint(&deposit), one.fingerprint(&deposit.clone()));
    assert_ne!(one.fingerprint(&deposit), other.fingerprint(&deposit));
    assert_ne!(one.fingerprint(&deposit), crate::plan::legacy_fingerprint(&deposit));
}
