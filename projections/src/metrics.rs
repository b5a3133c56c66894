//! Prometheus metrics, per projection and partition.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabels {
    pub projection: String,
}

fn apply_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Labels {
    pub projection: String,
    pub partition: String,
}

/// The worker's metrics. Cheap to update; rendered on `/metrics`.
pub struct Metrics {
    registry: Registry,
    pub checkpoint: Family<Labels, Gauge>,
    pub log_end: Family<Labels, Gauge>,
    pub lag_records: Family<Labels, Gauge>,
    pub lag_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    pub batches: Family<Labels, Counter>,
    pub events: Family<Labels, Counter>,
    pub errors: Family<Labels, Counter>,
    /// One batch's transaction: fold, every read model, the checkpoints.
    pub apply_seconds: Family<ProjectionLabels, Histogram, fn() -> Histogram>,
    /// The ops listener's connections.
    pub connections: std::sync::Arc<ledger_runtime::conn_metrics::ConnMetrics>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            checkpoint: Family::default(),
            log_end: Family::default(),
            lag_records: Family::default(),
            lag_seconds: Family::default(),
            batches: Family::default(),
            events: Family::default(),
            errors: Family::default(),
            apply_seconds: Family::new_with_constructor(apply_histogram as fn() -> Histogram),
            connections: Default::default(),
        };
        m.connections = ledger_runtime::conn_metrics::ConnMetrics::register(&mut m.registry);
        ledger_runtime::process_metrics::register(&mut m.registry);
        let r = &mut m.registry;
        r.register("ledger_projection_checkpoint_offset", "Next offset to apply", m.checkpoint.clone());
        r.register("ledger_projection_log_end_offset", "End of the partition as last seen", m.log_end.clone());
        r.register("ledger_projection_lag_records", "Records in the log not yet applied", m.lag_records.clone());
        r.register("ledger_projection_lag_seconds", "Age of the oldest unapplied commit", m.lag_seconds.clone());
        r.register("ledger_projection_batches", "Batches committed", m.batches.clone());
        r.register("ledger_projection_events_applied", "Events applied", m.events.clone());
        r.register("ledger_projection_errors", "Batches that failed", m.errors.clone());
        let help = "One batch's transaction: fold, read models, checkpoints";
        r.register("ledger_projection_batch_apply_seconds", help, m.apply_seconds.clone());
        m
    }

    pub fn labels(projection: &str, partition: i32) -> Labels {
        Labels { projection: projection.to_owned(), partition: partition.to_string() }
    }

    /// Prometheus/OpenMetrics text.
    pub fn render(&self) -> String {
        ledger_runtime::http_metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
