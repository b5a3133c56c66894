use events::account::{HoldPosted, HoldReleased, MoneyMoved, TransferCredited, TransferDebited, TransferHeld};
use events::account::{TransferRefused, TransferReversed};
use events::{AccountEvent, Effect, TransferStatus};
use uuid::Uuid;

use super::merge;
use crate::projectors::fixtures::{at, batch, commit};
use crate::projectors::totals::deltas;

fn debited(id: Uuid, to: Uuid, amount: i64) -> AccountEvent {
    let reference = Some("rent".into());
    AccountEvent::TransferDebited(TransferDebited {
        transfer_id: id,
        to,
        amount,
        reference,
        balance_after: 1_000 - amount,
    })
}

fn credited(id: Uuid, from: Uuid, amount: i64) -> AccountEvent {
    let reference = Some("rent".into());
    AccountEvent::TransferCredited(TransferCredited { transfer_id: id, from, amount, reference, balance_after: amount })
}

fn refused(id: Uuid, from: Uuid, amount: i64) -> AccountEvent {
    let reason = "currency_mismatch".to_owned();
    AccountEvent::TransferRefused(TransferRefused { transfer_id: id, from, amount, reason })
}

#[test]
fn a_debit_and_its_credit_in_one_batch_merge_into_one_completed_transfer_with_two_steps() {
    let (id, from, to) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut b = batch(&[(from, "EUR"), (to, "EUR")]);
    commit(&mut b, from, vec![debited(id, to, 300)]);
    commit(&mut b, to, vec![credited(id, from, 300)]);
    let (rows, steps) = merge(&b);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.id, row.from_account, row.to_account), (id, Some(from), Some(to)));
    assert_eq!((row.currency.as_deref(), row.amount, row.pending), (Some("EUR"), Some(300), Some(false)));
    assert_eq!(
        (row.reference.as_ref().and_then(|r| r.clear()), row.created_at, row.updated_at),
        (Some("rent"), at(100), at(101))
    );
    assert!(row.legs.debited && row.legs.credited);
    assert_eq!(row.legs.status(), TransferStatus::Completed);
    let steps: Vec<_> = steps.iter().map(|s| (s.account_id, s.step, s.amount, s.offset)).collect();
    assert_eq!(steps, vec![(from, "TransferDebited", 300, 100), (to, "TransferCredited", 300, 101)]);
}

#[test]
fn a_debit_and_its_credit_in_one_batch_leave_the_totals_unchanged() {
    let (id, from, to) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut b = batch(&[(from, "EUR"), (to, "EUR")]);
    commit(&mut b, from, vec![debited(id, to, 300)]);
    commit(&mut b, to, vec![credited(id, from, 300)]);
    assert_eq!(deltas(&b), vec![], "the money left one balance and reached the other");
}

#[test]
fn a_credit_projected_before_its_debit_keeps_the_money_identity() {
    let (id, from, to) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut credit = batch(&[(to, "EUR")]);
    commit(&mut credit, to, vec![credited(id, from, 300)]);
    let totals = deltas(&credit);
    assert_eq!(totals, vec![("EUR".to_owned(), Effect { balances: 300, in_transit: -300, ..Effect::default() })]);
    assert!(totals[0].1.conserves_money(), "transit is negative until the debit is projected");

    let (rows, _) = merge(&credit);
    let row = &rows[0];
    assert_eq!((row.from_account, row.to_account, row.amount), (Some(from), Some(to), Some(300)));
    assert_eq!((row.currency.as_deref(), row.pending), (Some("EUR"), None));
    assert!(row.legs.credited && !row.legs.debited, "not a source leg: the upsert lets the debit override it");
    assert_eq!(row.legs.status(), TransferStatus::Completed);

    let mut debit = batch(&[(from, "EUR")]);
    commit(&mut debit, from, vec![debited(id, to, 300)]);
    let mut sum = totals[0].1;
    sum.add(deltas(&debit)[0].1);
    assert_eq!(sum, Effect::default(), "both legs projected: nothing in transit");
}

#[test]
fn the_legs_of_one_transfer_merge_to_the_same_row_in_either_order() {
    let (id, from, to) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let legs = [(from, debited(id, to, 300)), (to, refused(id, from, 300)), (from, reversed(id, 300))];
    let mut forward = batch(&[(from, "EUR"), (to, "USD")]);
    let mut backward = batch(&[(from, "EUR"), (to, "USD")]);
    for (account, event) in legs.iter().cloned() {
        commit(&mut forward, account, vec![event]);
    }
    for (account, event) in legs.iter().rev().cloned() {
        commit(&mut backward, account, vec![event]);
    }
    let (forward, _) = merge(&forward);
    let (backward, _) = merge(&backward);
    assert_eq!(forward, backward);
    let row = &forward[0];
    assert_eq!((row.from_account, row.to_account, row.currency.as_deref()), (Some(from), Some(to), Some("EUR")));
    assert_eq!(
        (row.refused_reason.as_deref(), row.legs.status()),
        (Some("currency_mismatch"), TransferStatus::Reversed)
    );
}

#[test]
fn a_refusal_projected_first_leaves_the_currency_to_the_source() {
    let (id, from, to) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut b = batch(&[(to, "")]);
    commit(&mut b, to, vec![refused(id, from, 300)]);
    let (rows, steps) = merge(&b);
    assert_eq!((rows[0].currency.as_deref(), rows[0].amount, rows[0].to_account), (None, Some(300), Some(to)));
    assert_eq!(rows[0].legs.status(), TransferStatus::Pending, "the money is on its way back");
    assert_eq!((steps[0].step, steps[0].amount), ("TransferRefused", 300));
    assert_eq!(deltas(&b), vec![], "a refusal moves no money, and a never-opened account has no currency");
}

#[test]
fn a_partly_posted_hold_keeps_its_held_amount_and_records_what_was_posted() {
    let (id, from, to, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut b = batch(&[(from, "EUR"), (other, "EUR")]);
    let held = TransferHeld { transfer_id: id, to, amount: 500, reference: None, expires_at: at(3_600) };
    let posted = HoldPosted { transfer_id: id, to, amount: 200, hold_amount: 500, balance_after: 800 };
    let deposit = MoneyMoved { amount: 1_000, reference: None, balance_after: 1_000 };
    commit(&mut b, from, vec![AccountEvent::MoneyDeposited(deposit), AccountEvent::TransferHeld(held)]);
    commit(&mut b, from, vec![AccountEvent::HoldPosted(posted)]);
    let released = HoldReleased { transfer_id: Uuid::new_v4(), amount: 50 };
    commit(&mut b, other, vec![AccountEvent::HoldVoided(released)]);
    let (rows, steps) = merge(&b);
    let row = rows.iter().find(|r| r.id == id).expect("the posted transfer");
    assert_eq!((row.amount, row.posted_amount, row.pending), (Some(500), Some(200), Some(true)));
    assert_eq!((row.expires_at, row.legs.status()), (Some(at(3_600)), TransferStatus::Pending));
    let amounts: Vec<_> = steps.iter().filter(|s| s.transfer_id == id).map(|s| (s.step, s.amount)).collect();
    assert_eq!(amounts, vec![("TransferHeld", 500), ("HoldPosted", 200)]);
    let mut ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    ids.dedup();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "rows are sorted by id, so every worker locks in one order");
    let effect = Effect { balances: 800, held: -50, in_transit: 200, deposits: 1_000, ..Effect::default() };
    assert_eq!(deltas(&b), vec![("EUR".to_owned(), effect)], "the rest of the hold was released when it was posted");
}

fn reversed(id: Uuid, amount: i64) -> AccountEvent {
    AccountEvent::TransferReversed(TransferReversed { transfer_id: id, amount, balance_after: 1_000 })
}
