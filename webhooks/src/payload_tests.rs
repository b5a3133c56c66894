use chrono::DateTime;
use events::account::{AccountOpened, MoneyMoved};
use events::personal::{seal, DataKey};
use events::{CommandInfo, Event, Metadata};

use super::*;

const ACCOUNT: Uuid = Uuid::from_u128(7);

fn commit(expected_version: u64, payloads: Vec<AccountEvent>) -> Commit {
    let events = payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Event {
            event_id: Uuid::from_u128(1000 + expected_version as u128 * 10 + i as u128),
            sequence: expected_version + 1 + i as u64,
            occurred_at: DateTime::from_timestamp(1_700_000_000, 0).expect("a time"),
            payload,
        })
        .collect();
    Commit {
        commit_id: Uuid::from_u128(expected_version as u128 + 1),
        aggregate_type: "account".into(),
        aggregate_id: ACCOUNT,
        expected_version,
        previous_commit_id: None,
        events,
        command: CommandInfo::default(),
        metadata: Metadata::default(),
    }
}

fn sealed_owner(key: &DataKey, subject: Uuid) -> Personal {
    Personal::Sealed(seal(key, subject, ACCOUNT, "owner", "alice"))
}

fn opened_by(owner: Personal) -> Account {
    let mut account = Account::default();
    let opened = AccountEvent::AccountOpened(AccountOpened { owner, currency: "EUR".into(), overdraft_limit: 0 });
    events::apply(&mut account, &opened);
    account
}

#[test]
fn given_an_open_account_when_a_deposit_is_accepted_then_its_message_carries_the_balance_and_version_after_it() {
    let account = opened_by("alice".into());
    let deposit = MoneyMoved { amount: 250, reference: None, balance_after: 250 };
    let messages = messages(3, 41, &commit(1, vec![AccountEvent::MoneyDeposited(deposit)]), &account);

    let [m] = messages.as_slice() else { panic!("one message: {messages:?}") };
    assert_eq!((m.event_type, m.partition, m.offset, m.index), ("account.deposited", 3, 41, 0));
    assert_eq!(m.owner, Some(Owner::Clear("alice".into())));
    assert_eq!(m.body["type"], "account.deposited");
    assert_eq!(m.body["account_version"], 2);
    assert_eq!(m.body["data"]["amount"], 250);
    assert_eq!(m.body["data"]["balance_after"], 250);
    assert_eq!(m.body["data"]["currency"], "EUR");
    assert_eq!(m.body["api_version"], API_VERSION);
    assert_eq!(m.body["position"], ledger_runtime::contract::event_cursor(m.occurred_at, m.event_id));
    assert_eq!(m.body["log"], json!({"partition": 3, "offset": 41, "index": 0}));
}

#[test]
fn given_a_new_account_when_it_is_opened_then_the_message_names_its_owner_subject_and_a_zero_balance() {
    let (key, subject) = (DataKey::generate(), Uuid::from_u128(99));
    let opened = AccountEvent::AccountOpened(AccountOpened {
        owner: sealed_owner(&key, subject),
        currency: "EUR".into(),
        overdraft_limit: 5,
    });
    let messages = messages(0, 0, &commit(0, vec![opened]), &Account::default());

    assert_eq!(messages[0].event_type, "account.opened");
    assert_eq!(messages[0].owner, Some(Owner::Subject(subject)));
    assert_eq!(messages[0].body["data"]["balance_after"], 0);
    let owner: Personal = serde_json::from_value(messages[0].body["data"]["owner"].clone()).expect("a personal field");
    assert_eq!(owner.subject(), Some(subject));
}

#[test]
fn given_a_commit_of_two_events_then_each_message_has_its_own_place_and_balance() {
    let account = opened_by("alice".into());
    let two = vec![
        AccountEvent::MoneyDeposited(MoneyMoved { amount: 10, reference: None, balance_after: 10 }),
        AccountEvent::MoneyWithdrawn(MoneyMoved { amount: 4, reference: None, balance_after: 6 }),
    ];
    let messages = messages(1, 5, &commit(1, two), &account);
    let places: Vec<(i64, i32, i64)> =
        messages.iter().map(|m| (m.offset, m.index, m.body["data"]["balance_after"].as_i64().unwrap_or(-1))).collect();
    assert_eq!(places, vec![(5, 0, 10), (5, 1, 6)]);
}

#[test]
fn when_rendered_personal_fields_are_opened_only_where_the_opener_allows_and_are_null_elsewhere() {
    let (key, subject) = (DataKey::generate(), Uuid::from_u128(99));
    let account = opened_by(sealed_owner(&key, subject));
    let reference = Personal::Sealed(seal(&key, subject, ACCOUNT, "reference", "rent"));
    let deposit = MoneyMoved { amount: 1, reference: Some(reference), balance_after: 1 };
    let body = &messages(0, 1, &commit(1, vec![AccountEvent::MoneyDeposited(deposit)]), &account)[0].body;

    let theirs = |field: &str, p: &Personal| match p {
        Personal::Sealed(s) => events::personal::open(&key, ACCOUNT, field, s).ok(),
        Personal::Clear(t) => Some(t.clone()),
    };
    let opened: Value = serde_json::from_slice(&render(body, theirs)).expect("JSON");
    assert_eq!(opened["data"]["reference"], "rent");

    let withheld: Value = serde_json::from_slice(&render(body, |_, _| None)).expect("JSON");
    assert_eq!(withheld["data"]["reference"], Value::Null);
    assert_eq!(withheld["data"]["amount"], 1, "the rest is unchanged");
}

#[test]
fn every_event_type_has_a_message_type_in_the_published_list() {
    let samples = [
        AccountEvent::AccountUnfrozen,
        AccountEvent::AccountClosed,
        AccountEvent::MoneyDeposited(MoneyMoved { amount: 1, reference: None, balance_after: 1 }),
    ];
    for event in samples {
        assert!(TYPES.contains(&message_type(&event)));
    }
    assert_eq!(webhook_id(Uuid::from_u128(1)), "msg_00000000000000000000000000000001");
}
