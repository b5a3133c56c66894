//! `accounts`: one row per account, its state after the last applied commit.
//! Its `version` column is also the fold state the worker judges commits by.
//! `erased_subjects`: every data subject erased in the log (the fold state of
//! subject commits); their accounts are marked `erased`.

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use crate::batch::FoldedBatch;
use crate::error::Error;
use crate::projector::Projector;
use crate::store;

pub struct Accounts;

impl Projector for Accounts {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["accounts", "erased_subjects"]
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>> {
        async move {
            store::subjects::record_erasures(tx, batch).await?;
            store::upsert_accounts(tx, &batch.accounts).await
        }
        .boxed()
    }
}
