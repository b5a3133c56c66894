//! `account_entries`: one row per money movement. Deposits, withdrawals, and
//! the transfer legs that change a balance (debit, posted hold, credit,
//! reversal), the latter with their `transfer_id`. Holds, voids, expiries and
//! refusals leave the balance as it is: no entry.

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use events::AccountEvent;
use uuid::Uuid;

use crate::batch::FoldedBatch;
use crate::error::Error;
use crate::projector::Projector;
use crate::store::{self, EntryRow};

pub struct Entries;

impl Projector for Entries {
    fn name(&self) -> &'static str {
        "account_entries"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["account_entries"]
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>> {
        let mut rows = Vec::new();
        for accepted in &batch.accepted {
            for event in &accepted.commit.events {
                let Some(Movement { kind, amount, balance_after, reference, transfer_id }) = movement(&event.payload)
                else {
                    continue;
                };
                rows.push(EntryRow {
                    account_id: accepted.commit.aggregate_id,
                    sequence: event.sequence as i64,
                    kind,
                    amount,
                    balance_after,
                    reference: reference.cloned(),
                    transfer_id,
                    commit_id: accepted.commit.commit_id,
                    offset: accepted.offset,
                    occurred_at: event.occurred_at,
                });
            }
        }
        async move { store::insert_entries(tx, batch.partition, &rows).await }.boxed()
    }
}

/// What an entry records of one event.
struct Movement<'a> {
    kind: &'static str,
    amount: i64,
    balance_after: i64,
    reference: Option<&'a events::Personal>,
    transfer_id: Option<Uuid>,
}

/// The entry an event makes, if it changes the balance.
fn movement(event: &AccountEvent) -> Option<Movement<'_>> {
    let (kind, amount, balance_after, reference, transfer_id) = match event {
        AccountEvent::MoneyDeposited(m) => ("deposit", m.amount, m.balance_after, m.reference.as_ref(), None),
        AccountEvent::MoneyWithdrawn(m) => ("withdrawal", m.amount, m.balance_after, m.reference.as_ref(), None),
        AccountEvent::TransferDebited(e) => {
            ("transfer_debit", e.amount, e.balance_after, e.reference.as_ref(), Some(e.transfer_id))
        }
        AccountEvent::HoldPosted(e) => ("hold_posted", e.amount, e.balance_after, None, Some(e.transfer_id)),
        AccountEvent::TransferCredited(e) => {
            ("transfer_credit", e.amount, e.balance_after, e.reference.as_ref(), Some(e.transfer_id))
        }
        AccountEvent::TransferReversed(e) => {
            ("transfer_reversal", e.amount, e.balance_after, None, Some(e.transfer_id))
        }
        _ => return None,
    };
    Some(Movement { kind, amount, balance_after, reference, transfer_id })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use events::account::{AccountFrozen, AccountOpened, HoldPosted, HoldReleased, MoneyMoved, TransferCredited};
    use events::account::{TransferDebited, TransferHeld, TransferRefused, TransferReversed};
    use events::Effect;

    use super::*;

    #[test]
    fn every_event_that_changes_a_balance_makes_an_entry_and_no_other_does() {
        let (t, to) = (Uuid::new_v4(), Uuid::new_v4());
        let moved = MoneyMoved { amount: 5, reference: None, balance_after: 5 };
        let released = HoldReleased { transfer_id: t, amount: 5 };
        let all = [
            AccountEvent::AccountOpened(AccountOpened {
                owner: "o".into(),
                currency: "EUR".into(),
                overdraft_limit: 0,
            }),
            AccountEvent::MoneyDeposited(moved.clone()),
            AccountEvent::MoneyWithdrawn(moved),
            AccountEvent::AccountFrozen(AccountFrozen { reason: None }),
            AccountEvent::AccountUnfrozen,
            AccountEvent::AccountClosed,
            AccountEvent::TransferDebited(TransferDebited {
                transfer_id: t,
                to,
                amount: 5,
                reference: None,
                balance_after: 0,
            }),
            AccountEvent::TransferHeld(TransferHeld {
                transfer_id: t,
                to,
                amount: 5,
                reference: None,
                expires_at: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
            }),
            AccountEvent::HoldPosted(HoldPosted { transfer_id: t, to, amount: 3, hold_amount: 5, balance_after: 2 }),
            AccountEvent::HoldVoided(released.clone()),
            AccountEvent::HoldExpired(released),
            AccountEvent::TransferCredited(TransferCredited {
                transfer_id: t,
                from: to,
                amount: 5,
                reference: None,
                balance_after: 5,
            }),
            AccountEvent::TransferRefused(TransferRefused { transfer_id: t, from: to, amount: 5, reason: "x".into() }),
            AccountEvent::TransferReversed(TransferReversed { transfer_id: t, amount: 5, balance_after: 5 }),
        ];
        for event in &all {
            let entry = movement(event);
            let change = Effect::of(event).balances;
            assert_eq!(entry.is_some(), change != 0, "{}", event.type_name());
            if let Some(entry) = entry {
                assert_eq!(
                    entry.amount,
                    change.abs(),
                    "{}: the entry's amount is what the balance moved",
                    event.type_name()
                );
                let leg = events::ledger::transfer_of(event);
                assert_eq!(entry.transfer_id, leg, "{}", event.type_name());
            }
        }
        let kinds: Vec<&str> = all.iter().filter_map(movement).map(|m| m.kind).collect();
        let expected =
            ["deposit", "withdrawal", "transfer_debit", "hold_posted", "transfer_credit", "transfer_reversal"];
        assert_eq!(kinds, expected);
    }
}
