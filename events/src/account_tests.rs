//! Given/when/then tests of the account rules. No I/O.

use super::*;

fn given(events: &[AccountEvent]) -> Account {
    let mut state = Account::default();
    for e in events {
        apply(&mut state, e);
    }
    state
}

fn opened(overdraft_limit: i64) -> AccountEvent {
    AccountEvent::AccountOpened(AccountOpened { owner: "alice".into(), currency: "EUR".into(), overdraft_limit })
}

fn deposited(amount: i64, balance_after: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited(MoneyMoved { amount, reference: None, balance_after })
}

fn deposit(amount: i64) -> Command {
    Command::Deposit { amount, reference: None }
}

fn withdraw(amount: i64) -> Command {
    Command::Withdraw { amount, reference: None }
}

fn open(currency: &str, overdraft_limit: i64) -> Command {
    Command::OpenAccount { owner: "alice".into(), currency: currency.into(), overdraft_limit }
}

#[test]
fn opening_a_new_account_records_owner_currency_and_limit() {
    let events = decide(&given(&[]), &open("EUR", 100)).expect("opens");
    assert_eq!(events, vec![opened(100)]);
    let state = given(&events);
    assert_eq!((state.status, state.version, state.balance), (Status::Open, 1, 0));
}

#[test]
fn opening_an_account_twice_is_refused() {
    assert_eq!(decide(&given(&[opened(0)]), &open("EUR", 0)), Err(DomainError::AlreadyExists));
}

#[test]
fn opening_with_a_code_that_is_not_iso_4217_is_refused() {
    let err = decide(&given(&[]), &open("EURO", 0)).expect_err("refused");
    assert_eq!(err.code(), "validation_failed");
}

#[test]
fn opening_with_a_negative_overdraft_limit_or_empty_owner_is_refused() {
    assert_eq!(decide(&given(&[]), &open("EUR", -1)).expect_err("refused").code(), "validation_failed");
    let blank = Command::OpenAccount { owner: "  ".into(), currency: "EUR".into(), overdraft_limit: 0 };
    assert_eq!(decide(&given(&[]), &blank).expect_err("refused").code(), "validation_failed");
}

#[test]
fn a_deposit_carries_the_balance_after_it() {
    let events = decide(&given(&[opened(0), deposited(70, 70)]), &deposit(30)).expect("deposits");
    assert_eq!(events, vec![deposited(30, 100)]);
}

#[test]
fn amounts_must_be_positive() {
    let state = given(&[opened(0)]);
    for amount in [0, -5] {
        assert_eq!(decide(&state, &deposit(amount)).expect_err("refused").code(), "validation_failed");
        assert_eq!(decide(&state, &withdraw(amount)).expect_err("refused").code(), "validation_failed");
    }
}

#[test]
fn a_deposit_that_would_overflow_the_balance_is_refused() {
    let state = given(&[opened(0), deposited(i64::MAX, i64::MAX)]);
    assert_eq!(decide(&state, &deposit(1)).expect_err("refused").code(), "validation_failed");
}

#[test]
fn a_withdrawal_may_use_the_overdraft_but_not_beyond_it() {
    let state = given(&[opened(50), deposited(100, 100)]);
    assert!(decide(&state, &withdraw(150)).is_ok());
    assert_eq!(
        decide(&state, &withdraw(151)),
        Err(DomainError::InsufficientFunds { balance: 100, held: 0, overdraft_limit: 50, amount: 151 })
    );
}

#[test]
fn the_largest_withdrawal_past_the_largest_overdraft_is_insufficient_funds_not_an_overflow() {
    let withdrawn = AccountEvent::MoneyWithdrawn(MoneyMoved { amount: 10, reference: None, balance_after: -10 });
    let state = given(&[opened(crate::account::MAX_AMOUNT), withdrawn]);
    assert_eq!(
        decide(&state, &withdraw(crate::account::MAX_AMOUNT)).expect_err("refused").code(),
        "insufficient_funds"
    );
}

#[test]
fn amounts_above_the_bound_are_refused_as_invalid() {
    let state = given(&[opened(0), deposited(100, 100)]);
    for amount in [crate::account::MAX_AMOUNT + 1, i64::MAX] {
        assert_eq!(decide(&state, &deposit(amount)).expect_err("refused").code(), "validation_failed");
        assert_eq!(decide(&state, &withdraw(amount)).expect_err("refused").code(), "validation_failed");
    }
    assert!(decide(&state, &deposit(crate::account::MAX_AMOUNT)).is_ok());
}

#[test]
fn a_frozen_account_takes_deposits_but_no_withdrawals() {
    let state = given(&[opened(0), deposited(100, 100), AccountEvent::AccountFrozen(AccountFrozen { reason: None })]);
    assert!(decide(&state, &deposit(10)).is_ok());
    assert_eq!(decide(&state, &withdraw(10)), Err(DomainError::Frozen));
    assert_eq!(decide(&state, &Command::CloseAccount), Err(DomainError::Frozen));
    assert_eq!(decide(&state, &Command::UnfreezeAccount), Ok(vec![AccountEvent::AccountUnfrozen]));
}

#[test]
fn unfreezing_an_account_that_is_not_frozen_is_refused() {
    assert_eq!(decide(&given(&[opened(0)]), &Command::UnfreezeAccount), Err(DomainError::NotFrozen));
}

#[test]
fn a_closed_account_takes_nothing() {
    let state = given(&[opened(0), AccountEvent::AccountClosed]);
    for command in [deposit(1), withdraw(1), Command::FreezeAccount { reason: None }, Command::CloseAccount] {
        assert_eq!(decide(&state, &command), Err(DomainError::Closed), "{command:?}");
    }
}

#[test]
fn only_an_account_with_a_zero_balance_can_be_closed() {
    let state = given(&[opened(0), deposited(5, 5)]);
    assert_eq!(decide(&state, &Command::CloseAccount), Err(DomainError::NonzeroBalance { balance: 5, held: 0 }));
    let state = given(&[opened(0)]);
    assert_eq!(decide(&state, &Command::CloseAccount), Ok(vec![AccountEvent::AccountClosed]));
}

#[test]
fn commands_on_an_account_that_was_never_opened_are_not_found() {
    assert_eq!(decide(&given(&[]), &deposit(1)), Err(DomainError::NotFound));
}

#[test]
fn references_longer_than_the_limit_are_refused() {
    let long = "x".repeat(MAX_TEXT_LEN + 1);
    let command = Command::Deposit { amount: 1, reference: Some(long) };
    assert_eq!(decide(&given(&[opened(0)]), &command).expect_err("refused").code(), "validation_failed");
}
