//! The command service's Prometheus metrics: HTTP requests by route, and what
//! the partition writers do (batches, accepted commits, conflicts, resyncs).

use std::sync::Arc;

use ledger_runtime::http_metrics::{self, HttpMetrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// What the writers report. Shared by every writer of the instance.
pub struct WriterMetrics {
    /// Commits per batch sent.
    pub batch_size: Histogram,
    /// Commits proven accepted (acknowledged).
    pub accepted: Counter,
    /// Requests answered `409 write_conflict`.
    pub write_conflicts: Counter,
    /// Times a writer read the log because its offsets did not prove a batch.
    pub resyncs: Counter,
}

pub struct Metrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
    pub writers: Arc<WriterMetrics>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        let writers = Arc::new(WriterMetrics {
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            accepted: Counter::default(),
            write_conflicts: Counter::default(),
            resyncs: Counter::default(),
        });
        registry.register("ledger_writer_batch_commits", "Commits per batch sent", writers.batch_size.clone());
        registry.register("ledger_writer_commits_accepted", "Commits proven accepted", writers.accepted.clone());
        registry.register(
            "ledger_writer_write_conflicts",
            "Requests answered 409 write_conflict (another writer on the partition)",
            writers.write_conflicts.clone(),
        );
        registry.register(
            "ledger_writer_resyncs",
            "Log reads after delivery offsets did not prove a batch",
            writers.resyncs.clone(),
        );
        Self { registry, http, writers }
    }

    pub fn render(&self) -> String {
        http_metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
