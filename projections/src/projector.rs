//! The projector trait: adding a read model is one module implementing it.

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::batch::FoldedBatch;
use crate::error::Error;

/// One read model. It receives each batch already folded by the fold rule and
/// writes it with set-based statements inside the worker's transaction. It
/// must not commit, and must be a pure function of the batch and its own rows.
pub trait Projector: Send + Sync {
    /// The name of its checkpoints.
    fn name(&self) -> &'static str;

    /// The tables it owns (in the live schema): what a replay rebuilds and swaps.
    fn tables(&self) -> &'static [&'static str];

    /// Writes the batch's changes. Runs in the same transaction as the checkpoint.
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>>;
}

/// Every projector a worker runs, in the order they write (and so lock).
/// `accounts` also holds the fold state. `transfers` is the only one whose rows
/// the workers of other partitions write too (it sorts them, so all lock in one order).
pub fn all() -> Vec<Box<dyn Projector>> {
    vec![
        Box::new(crate::projectors::accounts::Accounts),
        Box::new(crate::projectors::entries::Entries),
        Box::new(crate::projectors::archive::Archive),
        Box::new(crate::projectors::transfers::Transfers),
        Box::new(crate::projectors::totals::Totals),
    ]
}
