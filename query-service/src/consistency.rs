//! Read-your-writes: wait until the read models have applied a log position.
//!
//! Workers `NOTIFY ledger_checkpoints, '<topic>\t<partition>\t<next_offset>'`
//! in the transaction that moves a checkpoint, so the notification arrives
//! exactly when the write is visible. One listener connection per process
//! feeds a `watch` channel; waiters check Postgres once, then sleep on the
//! channel until their position is reached or the deadline passes. No polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::Position;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};

use crate::error::Error;
use crate::store;

/// The channel workers notify on (see `projections::store::CHECKPOINT_CHANNEL`).
pub const CHECKPOINT_CHANNEL: &str = "ledger_checkpoints";

/// Checkpoints seen through notifications, by partition.
#[derive(Clone)]
pub struct Checkpoints {
    topic: String,
    seen: Arc<Mutex<HashMap<i32, i64>>>,
    changed: watch::Sender<u64>,
}

impl Checkpoints {
    pub fn new(topic: String) -> Self {
        let (changed, _) = watch::channel(0);
        Self { topic, seen: Arc::default(), changed }
    }

    fn record(&self, partition: i32, next_offset: i64) {
        if let Ok(mut seen) = self.seen.lock() {
            let entry = seen.entry(partition).or_insert(next_offset);
            *entry = (*entry).max(next_offset);
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn seen(&self, partition: i32) -> Option<i64> {
        self.seen.lock().ok().and_then(|seen| seen.get(&partition).copied())
    }

    async fn reload(&self, pool: &PgPool) {
        match store::checkpoints(pool, &self.topic).await {
            Ok(rows) => rows.into_iter().for_each(|(p, o)| self.record(p, o)),
            Err(error) => warn!(%error, "cannot reload checkpoints"),
        }
    }

    /// Listens for checkpoint notifications until shutdown.
    pub async fn listen(self, pool: PgPool, shutdown: CancellationToken) {
        let mut listener = loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(CHECKPOINT_CHANNEL).await {
                    Ok(()) => break listener,
                    Err(error) => warn!(%error, "cannot listen for checkpoints"),
                },
                Err(error) => warn!(%error, "cannot connect the checkpoint listener"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        loop {
            let notification = tokio::select! {
                () = shutdown.cancelled() => return,
                n = listener.recv() => n,
            };
            match notification {
                Ok(n) => {
                    let mut parts = n.payload().split('\t');
                    if let (Some(topic), Some(p), Some(o)) = (parts.next(), parts.next(), parts.next()) {
                        if let (true, Ok(p), Ok(o)) = (topic == self.topic, p.parse(), o.parse()) {
                            self.record(p, o);
                        }
                    }
                }
                Err(error) => {
                    // PgListener reconnects on the next recv. Notifications may have been
                    // missed meanwhile, so take the checkpoints from Postgres again.
                    warn!(%error, "checkpoint listener lost its connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.reload(&pool).await;
                }
            }
        }
    }

    /// Waits until every one of `projections` has applied `position`, at most `wait`.
    #[instrument(name = "consistency.wait", skip_all, fields(partition = position.partition, offset = position.offset))]
    pub async fn wait_for(
        &self,
        pool: &PgPool,
        position: Position,
        projections: &[&str],
        wait: Duration,
    ) -> Result<(), Error> {
        let target = position.offset + 1;
        let mut changed = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        let mut look = true;
        loop {
            // Postgres is the truth; a notification only says when to look again.
            if look
                && store::checkpoint(pool, &self.topic, position.partition, projections)
                    .await?
                    .is_some_and(|a| a >= target)
            {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => look = self.seen(position.partition).is_some_and(|s| s >= target),
                Ok(Err(_)) | Err(_) => {
                    debug!(?position, "consistency wait timed out");
                    return Err(Error::NotYetConsistent(wait.as_millis() as u64));
                }
            }
        }
    }
}
