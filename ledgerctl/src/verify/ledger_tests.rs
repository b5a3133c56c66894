use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use events::account::{HoldPosted, HoldReleased, MoneyMoved, TransferCredited, TransferDebited, TransferHeld};
use events::{Account, AccountEvent, Effect, Event};
use uuid::Uuid;

use super::*;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("instant")
}

fn event(secs: i64, payload: AccountEvent) -> Event {
    Event { event_id: Uuid::new_v4(), sequence: 1, occurred_at: at(secs), payload }
}

fn account(currency: &str) -> Account {
    Account { currency: currency.into(), ..Account::default() }
}

fn debit(id: Uuid, to: Uuid, amount: i64) -> AccountEvent {
    AccountEvent::TransferDebited(TransferDebited { transfer_id: id, to, amount, reference: None, balance_after: 0 })
}

fn credit(id: Uuid, from: Uuid, amount: i64) -> AccountEvent {
    AccountEvent::TransferCredited(TransferCredited {
        transfer_id: id,
        from,
        amount,
        reference: None,
        balance_after: amount,
    })
}

fn hold(id: Uuid, to: Uuid, amount: i64, expires_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::TransferHeld(TransferHeld { transfer_id: id, to, amount, reference: None, expires_at })
}

#[test]
fn a_deposit_and_a_transfer_in_flight_conserve_money_and_the_stored_totals_must_match_them() {
    let (a, b, t) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut ledger = Ledger::default();
    let deposit = MoneyMoved { amount: 100, reference: None, balance_after: 100 };
    ledger.record(a, &event(0, AccountEvent::MoneyDeposited(deposit)));
    ledger.record(a, &event(1, debit(t, b, 30)));
    let accounts = HashMap::from([(a, account("EUR")), (b, account("EUR"))]);
    let totals = ledger.totals(&accounts);
    let eur = Effect { balances: 70, in_transit: 30, deposits: 100, ..Effect::default() };
    assert_eq!(totals, BTreeMap::from([("EUR".to_owned(), eur)]));
    assert!(unbalanced(&totals).is_empty());
    assert!(totals_differences(&totals, &totals).is_empty());

    let mut stored = totals.clone();
    stored.insert("EUR".into(), Effect { in_transit: 0, ..eur });
    stored.insert("USD".into(), Effect::default());
    let differences = totals_differences(&totals, &stored);
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(differences[0].starts_with("ledger_totals EUR"), "{differences:?}");
    let missing = totals_differences(&totals, &BTreeMap::new());
    assert_eq!(missing.len(), 1, "a currency missing from the read model is all zeros there");
}

#[test]
fn totals_that_lose_money_are_reported_by_currency() {
    let broken = BTreeMap::from([
        ("EUR".to_owned(), Effect { balances: 10, deposits: 10, ..Effect::default() }),
        ("GBP".to_owned(), Effect { balances: 10, deposits: 5, ..Effect::default() }),
    ]);
    let found = unbalanced(&broken);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("\"GBP\""), "{found:?}");
}

#[test]
fn a_leg_recorded_twice_is_found_and_a_complete_transfer_is_not() {
    let (a, b, t) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut ledger = Ledger::default();
    ledger.record(a, &event(0, debit(t, b, 5)));
    ledger.record(b, &event(1, credit(t, a, 5)));
    assert!(repeated_legs(&ledger.transfers[&t]).is_empty());
    assert_eq!(ledger.transfers[&t].legs.status(), events::TransferStatus::Completed);
    ledger.record(b, &event(2, credit(t, a, 5)));
    assert_eq!(repeated_legs(&ledger.transfers[&t]), vec![("TransferCredited", 2)]);
}

#[test]
fn a_transfer_pending_longer_than_the_bound_is_overdue_and_a_completed_one_never_is() {
    let (a, b, t) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let bound = Duration::seconds(300);
    let mut ledger = Ledger::default();
    ledger.record(a, &event(0, debit(t, b, 5)));
    assert_eq!(overdue(&ledger.transfers[&t], at(300), bound), None);
    assert!(overdue(&ledger.transfers[&t], at(301), bound).is_some_and(|why| why.starts_with("pending for 301 s")));
    ledger.record(b, &event(900, credit(t, a, 5)));
    assert_eq!(overdue(&ledger.transfers[&t], at(10_000), bound), None);
}

#[test]
fn a_hold_is_overdue_only_past_its_expiry_plus_the_bound_and_a_posted_hold_is_pending_from_its_post() {
    let (a, b, t) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let bound = Duration::seconds(300);
    let mut ledger = Ledger::default();
    ledger.record(a, &event(0, hold(t, b, 50, at(3_600))));
    assert_eq!(overdue(&ledger.transfers[&t], at(3_900), bound), None);
    assert!(overdue(&ledger.transfers[&t], at(3_901), bound).is_some_and(|why| why.starts_with("held 301 s")));

    let post = HoldPosted { transfer_id: t, to: b, amount: 40, hold_amount: 50, balance_after: -40 };
    ledger.record(a, &event(1_000, AccountEvent::HoldPosted(post)));
    assert_eq!(overdue(&ledger.transfers[&t], at(1_300), bound), None, "pending counts from the post");
    assert!(overdue(&ledger.transfers[&t], at(1_301), bound).is_some());

    let (u, mut voided) = (Uuid::new_v4(), Ledger::default());
    voided.record(a, &event(0, hold(u, b, 50, at(60))));
    voided.record(a, &event(1, AccountEvent::HoldVoided(HoldReleased { transfer_id: u, amount: 50 })));
    assert_eq!(overdue(&voided.transfers[&u], at(100_000), bound), None);
    let totals = voided.totals(&HashMap::from([(a, account("EUR"))]));
    let eur = totals.get("EUR").copied().unwrap_or_default();
    assert_eq!(eur, Effect::default(), "a voided hold leaves no trace in the totals");
}

#[test]
fn the_flags_of_a_transfers_row_read_back_as_legs_in_column_order() {
    let legs = legs_from_flags([true, false, false, false, false, true, false, false]);
    assert!(legs.debited && legs.credited && !legs.held);
    assert_eq!(legs.status(), events::TransferStatus::Completed);
}
