//! Given/when/then tests of the transfer rules. No I/O.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::account::{apply, decide, AccountOpened, MoneyMoved};
use crate::ledger::{Effect, Legs, TransferStatus};

const SOURCE: Uuid = Uuid::from_u128(1);
const DESTINATION: Uuid = Uuid::from_u128(2);
const T: Uuid = Uuid::from_u128(100);

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
}

fn given(events: &[AccountEvent]) -> Account {
    let mut state = Account::default();
    for e in events {
        apply(&mut state, e);
    }
    state
}

fn opened(currency: &str, overdraft_limit: i64) -> AccountEvent {
    AccountEvent::AccountOpened(AccountOpened { owner: "alice".into(), currency: currency.into(), overdraft_limit })
}

fn funded(balance: i64) -> Vec<AccountEvent> {
    vec![
        opened("EUR", 0),
        AccountEvent::MoneyDeposited(MoneyMoved { amount: balance, reference: None, balance_after: balance }),
    ]
}

fn initiate(amount: i64, pending: bool) -> Command {
    Command::InitiateTransfer {
        transfer_id: T,
        from: SOURCE,
        to: DESTINATION,
        amount,
        reference: None,
        pending,
        timeout_secs: pending.then_some(60),
        destination_currency: None,
        now: now(),
    }
}

fn post(amount: Option<i64>, at: DateTime<Utc>) -> Command {
    Command::PostTransfer { transfer_id: T, amount, now: at }
}

fn credit(amount: i64) -> Command {
    Command::CreditTransfer { transfer_id: T, from: SOURCE, amount, currency: "EUR".into(), reference: None }
}

/// The state after `events` and then whatever `command` decides.
fn after(events: &[AccountEvent], command: &Command) -> Account {
    let mut state = given(events);
    for e in decide(&state, command).expect("accepted") {
        apply(&mut state, &e);
    }
    state
}

fn held_for(balance: i64, amount: i64) -> Vec<AccountEvent> {
    let mut events = funded(balance);
    events.extend(decide(&given(&events), &initiate(amount, true)).expect("held"));
    events
}

#[test]
fn a_one_phase_transfer_takes_the_money_out_of_the_source_into_transit() {
    let events = decide(&given(&funded(100)), &initiate(30, false)).expect("accepted");
    assert_eq!(
        events,
        vec![AccountEvent::TransferDebited(TransferDebited {
            transfer_id: T,
            to: DESTINATION,
            amount: 30,
            reference: None,
            balance_after: 70
        })]
    );
    assert_eq!(Effect::of(&events[0]), Effect { balances: -30, in_transit: 30, ..Effect::default() });
}

#[test]
fn a_transfer_beyond_the_available_balance_and_overdraft_is_refused() {
    let err = decide(&given(&funded(100)), &initiate(101, false)).expect_err("refused");
    assert_eq!(err.code(), "insufficient_funds");
}

#[test]
fn a_hold_reserves_money_without_changing_the_balance_and_limits_what_else_may_leave() {
    let state = given(&held_for(100, 80));
    assert_eq!((state.balance, state.held), (100, 80));
    let withdraw = Command::Withdraw { amount: 21, reference: None };
    assert_eq!(decide(&state, &withdraw).expect_err("refused").code(), "insufficient_funds");
    let mut second = initiate(21, false);
    if let Command::InitiateTransfer { transfer_id, .. } = &mut second {
        *transfer_id = Uuid::from_u128(101);
    }
    assert_eq!(decide(&state, &second).expect_err("refused").code(), "insufficient_funds");
    assert_eq!(decide(&state, &Command::CloseAccount).expect_err("refused").code(), "nonzero_balance");
}

#[test]
fn a_transfer_from_a_frozen_closed_or_unknown_source_is_refused_with_todays_codes() {
    let frozen = given(
        &[funded(100), vec![AccountEvent::AccountFrozen(crate::account::AccountFrozen { reason: None })]].concat(),
    );
    assert_eq!(decide(&frozen, &initiate(1, false)).expect_err("refused").code(), "account_frozen");
    let closed = given(&[opened("EUR", 0), AccountEvent::AccountClosed]);
    assert_eq!(decide(&closed, &initiate(1, false)).expect_err("refused").code(), "account_closed");
    assert_eq!(decide(&given(&[]), &initiate(1, false)).expect_err("refused").code(), "not_found");
}

#[test]
fn a_transfer_to_itself_a_bad_amount_or_a_bad_timeout_is_a_validation_error() {
    let state = given(&funded(100));
    let mut to_self = initiate(1, false);
    if let Command::InitiateTransfer { to, .. } = &mut to_self {
        *to = SOURCE;
    }
    assert_eq!(decide(&state, &to_self).expect_err("refused").code(), "validation_failed");
    assert_eq!(decide(&state, &initiate(0, false)).expect_err("refused").code(), "validation_failed");
    let mut timeout_without_hold = initiate(1, false);
    if let Command::InitiateTransfer { timeout_secs, .. } = &mut timeout_without_hold {
        *timeout_secs = Some(5);
    }
    assert_eq!(decide(&state, &timeout_without_hold).expect_err("refused").code(), "validation_failed");
    let mut too_long = initiate(1, true);
    if let Command::InitiateTransfer { timeout_secs, .. } = &mut too_long {
        *timeout_secs = Some(MAX_TIMEOUT_SECS + 1);
    }
    assert_eq!(decide(&state, &too_long).expect_err("refused").code(), "validation_failed");
}

#[test]
fn a_destination_in_another_currency_is_refused_at_once_when_the_source_knows_it() {
    let mut command = initiate(1, false);
    if let Command::InitiateTransfer { destination_currency, .. } = &mut command {
        *destination_currency = Some("USD".into());
    }
    assert_eq!(decide(&given(&funded(100)), &command).expect_err("refused").code(), "currency_mismatch");
}

#[test]
fn the_same_transfer_id_cannot_leave_the_same_account_twice() {
    let state = after(&funded(100), &initiate(10, false));
    assert_eq!(decide(&state, &initiate(10, false)).expect_err("refused").code(), "transfer_exists");
}

#[test]
fn a_credit_to_an_open_account_of_the_same_currency_lands_once() {
    let events = decide(&given(&[opened("EUR", 0)]), &credit(30)).expect("credited");
    assert!(matches!(&events[0], AccountEvent::TransferCredited(c) if c.balance_after == 30));
    let state = after(&[opened("EUR", 0)], &credit(30));
    assert_eq!(decide(&state, &credit(30)).expect_err("refused").code(), "transfer_leg_recorded");
}

#[test]
fn a_credit_to_a_closed_frozen_unknown_or_foreign_currency_account_is_recorded_as_refused() {
    let cases = [
        (vec![opened("EUR", 0), AccountEvent::AccountClosed], "account_closed"),
        (
            vec![opened("EUR", 0), AccountEvent::AccountFrozen(crate::account::AccountFrozen { reason: None })],
            "account_frozen",
        ),
        (vec![], "not_found"),
        (vec![opened("USD", 0)], "currency_mismatch"),
    ];
    for (history, reason) in cases {
        let events = decide(&given(&history), &credit(30)).expect("a refusal is recorded");
        match &events[0] {
            AccountEvent::TransferRefused(r) => assert_eq!(r.reason, reason),
            other => panic!("{reason}: unexpected {other:?}"),
        }
        assert_eq!(Effect::of(&events[0]), Effect::default());
    }
}

#[test]
fn an_account_that_refused_a_credit_before_it_existed_can_still_be_opened() {
    let state = after(&[], &credit(30));
    assert_eq!((state.version, state.status), (1, Status::NotOpened));
    let open = Command::OpenAccount { owner: "bob".into(), currency: "EUR".into(), overdraft_limit: 0 };
    assert!(decide(&state, &open).is_ok());
}

#[test]
fn a_refused_transfer_is_reversed_once_and_the_source_is_made_whole() {
    let sent = after(&funded(100), &initiate(30, false));
    let reversed = after(
        &[funded(100), decide(&given(&funded(100)), &initiate(30, false)).expect("ok")].concat(),
        &Command::ReverseTransfer { transfer_id: T },
    );
    assert_eq!((sent.balance, reversed.balance), (70, 100));
    assert_eq!(
        decide(&reversed, &Command::ReverseTransfer { transfer_id: T }).expect_err("once").code(),
        "transfer_leg_recorded"
    );
    let unknown = Command::ReverseTransfer { transfer_id: Uuid::from_u128(9) };
    assert_eq!(decide(&sent, &unknown).expect_err("refused").code(), "not_found");
}

#[test]
fn a_reversal_lands_even_on_a_closed_or_frozen_source() {
    let mut events = funded(30);
    events.extend(decide(&given(&events), &initiate(30, false)).expect("sent"));
    events.push(AccountEvent::AccountClosed);
    let state = after(&events, &Command::ReverseTransfer { transfer_id: T });
    assert_eq!((state.status, state.balance), (Status::Closed, 30));
}

#[test]
fn posting_a_hold_in_full_captures_it_and_sends_it_on() {
    let state = after(&held_for(100, 80), &post(None, now()));
    assert_eq!((state.balance, state.held), (20, 0));
    assert_eq!(state.transfers[&T], Leg::Posted { to: DESTINATION, amount: 80 });
}

#[test]
fn a_partial_post_captures_part_and_releases_the_rest() {
    let events = decide(&given(&held_for(100, 80)), &post(Some(50), now())).expect("posted");
    assert_eq!(Effect::of(&events[0]), Effect { balances: -50, held: -80, in_transit: 50, ..Effect::default() });
    let state = after(&held_for(100, 80), &post(Some(50), now()));
    assert_eq!((state.balance, state.held, state.balance - state.held), (50, 0, 50));
}

#[test]
fn posting_more_than_the_hold_or_nothing_is_a_validation_error() {
    let state = given(&held_for(100, 80));
    assert_eq!(decide(&state, &post(Some(81), now())).expect_err("refused").code(), "validation_failed");
    assert_eq!(decide(&state, &post(Some(0), now())).expect_err("refused").code(), "validation_failed");
}

#[test]
fn a_hold_is_resolved_at_most_once() {
    let posted = [held_for(100, 80), decide(&given(&held_for(100, 80)), &post(None, now())).expect("ok")].concat();
    let voided = [
        held_for(100, 80),
        decide(&given(&held_for(100, 80)), &Command::VoidTransfer { transfer_id: T, now: now() }).expect("ok"),
    ]
    .concat();
    let void = Command::VoidTransfer { transfer_id: T, now: now() };
    assert_eq!(decide(&given(&posted), &void).expect_err("void after post").code(), "transfer_already_posted");
    assert_eq!(decide(&given(&posted), &post(None, now())).expect_err("post twice").code(), "transfer_already_posted");
    assert_eq!(
        decide(&given(&voided), &post(None, now())).expect_err("post after void").code(),
        "transfer_already_voided"
    );
    assert_eq!(decide(&given(&voided), &void).expect_err("void twice").code(), "transfer_already_voided");
    assert_eq!(given(&voided).held, 0);
}

#[test]
fn a_post_after_the_timeout_is_refused_as_expired_even_before_the_expiry_is_recorded() {
    let late = now() + Duration::seconds(60);
    let state = given(&held_for(100, 80));
    assert_eq!(decide(&state, &post(None, late)).expect_err("refused").code(), "transfer_expired");
    let void = Command::VoidTransfer { transfer_id: T, now: late };
    assert_eq!(decide(&state, &void).expect_err("refused").code(), "transfer_expired");
}

#[test]
fn a_hold_expires_only_at_its_timeout_and_then_releases_the_money() {
    let early = Command::ExpireTransfer { transfer_id: T, now: now() + Duration::seconds(59) };
    let due = Command::ExpireTransfer { transfer_id: T, now: now() + Duration::seconds(60) };
    assert_eq!(decide(&given(&held_for(100, 80)), &early).expect_err("not yet").code(), "transfer_not_expired");
    let expired = after(&held_for(100, 80), &due);
    assert_eq!((expired.balance, expired.held, expired.transfers[&T].clone()), (100, 0, Leg::Expired));
    assert_eq!(decide(&expired, &post(None, now())).expect_err("post after expiry").code(), "transfer_expired");
    assert_eq!(decide(&expired, &due).expect_err("twice").code(), "transfer_expired");
}

#[test]
fn of_a_post_and_an_expiry_racing_whichever_the_source_records_first_wins() {
    let posted = after(&held_for(100, 80), &post(None, now()));
    let due = Command::ExpireTransfer { transfer_id: T, now: now() + Duration::seconds(60) };
    assert_eq!(decide(&posted, &due).expect_err("the post won").code(), "transfer_already_posted");
    let expired = after(&held_for(100, 80), &due);
    assert_eq!(decide(&expired, &post(None, now())).expect_err("the expiry won").code(), "transfer_expired");
}

#[test]
fn posting_or_voiding_a_one_phase_or_unknown_transfer_is_refused() {
    let sent = after(&funded(100), &initiate(10, false));
    assert_eq!(decide(&sent, &post(None, now())).expect_err("refused").code(), "transfer_not_pending");
    let unknown = Command::PostTransfer { transfer_id: Uuid::from_u128(7), amount: None, now: now() };
    assert_eq!(decide(&sent, &unknown).expect_err("refused").code(), "not_found");
}

#[test]
fn a_frozen_source_may_not_post_but_may_void() {
    let mut events = held_for(100, 80);
    events.push(AccountEvent::AccountFrozen(crate::account::AccountFrozen { reason: None }));
    assert_eq!(decide(&given(&events), &post(None, now())).expect_err("refused").code(), "account_frozen");
    assert!(decide(&given(&events), &Command::VoidTransfer { transfer_id: T, now: now() }).is_ok());
}

#[test]
fn every_leg_keeps_the_money_identity_and_the_status_follows_the_legs_in_any_order() {
    let debit = decide(&given(&funded(100)), &initiate(30, false)).expect("ok").remove(0);
    let credited = decide(&given(&[opened("EUR", 0)]), &credit(30)).expect("ok").remove(0);
    let mut total = Effect::default();
    for e in [&debit, &credited] {
        let effect = Effect::of(e);
        assert!(effect.conserves_money(), "{e:?}");
        total.add(effect);
    }
    assert_eq!(total.in_transit, 0);
    let (mut in_order, mut credit_first) = (Legs::default(), Legs::default());
    in_order.record(&debit);
    assert_eq!(in_order.status(), TransferStatus::Pending);
    in_order.record(&credited);
    credit_first.record(&credited);
    credit_first.record(&debit);
    assert_eq!((in_order.status(), credit_first.status()), (TransferStatus::Completed, TransferStatus::Completed));
}
