//! Taking write-side snapshots: every `every` records, off the writer's hot path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tracing::{debug, warn};

use crate::metrics::WriterMetrics;
use crate::state::PartitionState;
use crate::store;

pub struct Snapshotter {
    pool: PgPool,
    topic: String,
    every: i64,
    idempotency_window: Duration,
    last_offset: i64,
    metrics: Arc<WriterMetrics>,
}

impl Snapshotter {
    /// `last_offset`: where the snapshot the state was loaded from ends (0: none).
    pub fn new(
        pool: PgPool,
        topic: String,
        (every, idempotency_window): (i64, Duration),
        last_offset: i64,
        metrics: Arc<WriterMetrics>,
    ) -> Self {
        Self { pool, topic, every, idempotency_window, last_offset, metrics }
    }

    /// The offset of the last snapshot taken (or loaded).
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Takes a snapshot if `every` records have been folded since the last one.
    /// Serialises on the caller; the write to Postgres happens in the background.
    pub fn maybe_take(&mut self, state: &mut PartitionState) {
        if self.every <= 0 || state.next_offset - self.last_offset < self.every {
            return;
        }
        if let Some(save) = self.take(state) {
            tokio::spawn(save);
        }
    }

    /// On handover: a snapshot of everything folded, stored before returning,
    /// so that the next owner loads it without reading the log's tail.
    pub async fn hand_over(&mut self, state: &mut PartitionState) {
        if self.every > 0 && state.next_offset > self.last_offset {
            if let Some(save) = self.take(state) {
                save.await;
            }
        }
    }

    /// Serialises `state` (keys past the window pruned) and returns its write.
    fn take(&mut self, state: &mut PartitionState) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let window = chrono::Duration::from_std(self.idempotency_window).unwrap_or(chrono::Duration::days(1));
        state.prune_keys(Utc::now() - window);
        let bytes = match serde_json::to_vec(&*state) {
            Ok(bytes) => bytes,
            Err(error) => {
                warn!(%error, "cannot serialise snapshot");
                return None;
            }
        };
        self.last_offset = state.next_offset;
        self.metrics.snapshot_taken(state.partition, state.next_offset, Instant::now());
        let (pool, topic, partition, offset) =
            (self.pool.clone(), self.topic.clone(), state.partition, state.next_offset);
        Some(async move {
            match store::save_snapshot(&pool, &topic, partition, offset, &bytes).await {
                Ok(_) => debug!(partition, offset, bytes = bytes.len(), "snapshot stored"),
                Err(error) => warn!(partition, %error, "snapshot not stored"),
            }
        })
    }
}
