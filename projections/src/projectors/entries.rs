//! `account_entries`: one row per money movement.

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use events::AccountEvent;

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
                let (kind, moved) = match &event.payload {
                    AccountEvent::MoneyDeposited(m) => ("deposit", m),
                    AccountEvent::MoneyWithdrawn(m) => ("withdrawal", m),
                    _ => continue,
                };
                rows.push(EntryRow {
                    account_id: accepted.commit.aggregate_id,
                    sequence: event.sequence as i64,
                    kind,
                    amount: moved.amount,
                    balance_after: moved.balance_after,
                    reference: moved.reference.clone(),
                    commit_id: accepted.commit.commit_id,
                    offset: accepted.offset,
                    occurred_at: event.occurred_at,
                });
            }
        }
        async move { store::insert_entries(tx, batch.partition, &rows).await }.boxed()
    }
}
