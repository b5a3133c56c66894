//! `event_archive`: every accepted event, as analysts query it with SQL.

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use crate::batch::FoldedBatch;
use crate::error::Error;
use crate::projector::Projector;
use crate::store;

pub struct Archive;

impl Projector for Archive {
    fn name(&self) -> &'static str {
        "event_archive"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["event_archive"]
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>> {
        async move { store::insert_archive(tx, batch).await }.boxed()
    }
}
