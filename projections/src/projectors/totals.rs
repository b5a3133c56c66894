//! `ledger_totals`: per partition and currency, the sums of every event's
//! [`Effect`]. Each batch adds its deltas in the transaction that writes the
//! account rows, so `balances + in_transit = deposits - withdrawals` holds in
//! every row after every transaction, and in their sum on any snapshot.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use events::Effect;

use crate::batch::FoldedBatch;
use crate::error::Error;
use crate::projector::Projector;
use crate::store::transfers as store;

pub struct Totals;

impl Projector for Totals {
    fn name(&self) -> &'static str {
        "ledger_totals"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["ledger_totals"]
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>> {
        let deltas = deltas(batch);
        async move { store::add_totals(tx, batch.partition, &deltas).await }.boxed()
    }
}

/// The batch's effect per currency (of the account each event is recorded
/// on), sorted by currency, leaving out currencies it does not change.
pub fn deltas(batch: &FoldedBatch) -> Vec<(String, Effect)> {
    let mut sums: BTreeMap<&str, Effect> = BTreeMap::new();
    for accepted in &batch.accepted {
        let id = accepted.commit.aggregate_id;
        let currency = batch.accounts.get(&id).map_or("", |s| s.account.currency.as_str());
        for event in &accepted.commit.events {
            sums.entry(currency).or_default().add(Effect::of(&event.payload));
        }
    }
    sums.into_iter()
        .filter(|(_, effect)| *effect != Effect::default())
        .map(|(currency, effect)| (currency.to_owned(), effect))
        .collect()
}
