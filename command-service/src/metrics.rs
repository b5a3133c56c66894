//! The command service's Prometheus metrics: HTTP requests by route, what the
//! partition writers do (batches, deliveries, accepted commits, conflicts,
//! resyncs), what each partition holds, snapshots, rate limiting, the process.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ledger_runtime::conn_metrics::ConnMetrics;
use ledger_runtime::http_metrics::{self, HttpMetrics};
use ledger_runtime::rate_limit::RateLimit;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::partitions::Partitions;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    partition: String,
}

fn labels(partition: i32) -> PartitionLabels {
    PartitionLabels { partition: partition.to_string() }
}

/// What the writers report. Shared by every writer of the instance.
pub struct WriterMetrics {
    /// Commits per batch sent.
    pub batch_size: Histogram,
    /// From a batch's send to the delivery reports that prove (or disprove) it.
    pub delivery: Histogram,
    /// Commits proven accepted (acknowledged).
    pub accepted: Counter,
    /// Requests answered `409 write_conflict`.
    pub write_conflicts: Counter,
    /// Rejected commits answered by another accepted attempt of the same command (its key).
    pub lost_to_own_retry: Counter,
    /// Times a writer read the log because its offsets did not prove a batch.
    pub resyncs: Counter,
    /// Commits the fold rule rejected in those reads (foreign or conflicting writes).
    pub resync_rejected: Counter,
    in_flight: Family<PartitionLabels, Gauge>,
    next_offset: Family<PartitionLabels, Gauge>,
    keys: Family<PartitionLabels, Gauge>,
    snapshot_offset: Family<PartitionLabels, Gauge>,
    snapshot_age: Family<PartitionLabels, Gauge<f64, AtomicU64>>,
    snapshot_at: Mutex<HashMap<i32, Instant>>,
}

/// One partition's gauges, held by its writer.
pub struct PartitionGauges {
    pub in_flight: Gauge,
    pub next_offset: Gauge,
    pub keys: Gauge,
}

impl WriterMetrics {
    fn new() -> Self {
        Self {
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            delivery: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            accepted: Counter::default(),
            write_conflicts: Counter::default(),
            lost_to_own_retry: Counter::default(),
            resyncs: Counter::default(),
            resync_rejected: Counter::default(),
            in_flight: Family::default(),
            next_offset: Family::default(),
            keys: Family::default(),
            snapshot_offset: Family::default(),
            snapshot_age: Family::default(),
            snapshot_at: Mutex::default(),
        }
    }

    /// The gauges of `partition`, for the writer that serves it.
    pub fn partition(&self, partition: i32) -> PartitionGauges {
        let l = labels(partition);
        PartitionGauges {
            in_flight: self.in_flight.get_or_create(&l).clone(),
            next_offset: self.next_offset.get_or_create(&l).clone(),
            keys: self.keys.get_or_create(&l).clone(),
        }
    }

    /// A snapshot of `partition` up to `offset` was taken at `at`.
    pub fn snapshot_taken(&self, partition: i32, offset: i64, at: Instant) {
        self.snapshot_offset.get_or_create(&labels(partition)).set(offset);
        self.snapshot_at.lock().unwrap_or_else(PoisonError::into_inner).insert(partition, at);
    }

    /// `partition` is served from a state that a snapshot up to `offset` began (0: none).
    pub fn snapshot_loaded(&self, partition: i32, offset: i64) {
        self.snapshot_offset.get_or_create(&labels(partition)).set(offset);
    }

    /// `partition` is no longer served here: its series go away.
    pub fn forget(&self, partition: i32) {
        let l = labels(partition);
        for family in [&self.in_flight, &self.next_offset, &self.keys, &self.snapshot_offset] {
            family.remove(&l);
        }
        self.snapshot_age.remove(&l);
        self.snapshot_at.lock().unwrap_or_else(PoisonError::into_inner).remove(&partition);
    }

    fn refresh_snapshot_ages(&self) {
        let taken = self.snapshot_at.lock().unwrap_or_else(PoisonError::into_inner);
        for (partition, at) in taken.iter() {
            self.snapshot_age.get_or_create(&labels(*partition)).set(at.elapsed().as_secs_f64());
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
    pub writers: Arc<WriterMetrics>,
    pub connections: Arc<ConnMetrics>,
    owned: Gauge,
    /// Read from the routing table at each scrape.
    aggregates: Family<PartitionLabels, Gauge>,
}

impl Metrics {
    pub fn new(rate_limit: &RateLimit) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        ledger_runtime::process_metrics::register(&mut registry);
        let connections = ConnMetrics::register(&mut registry);
        registry.register("ledger_rate_limited", "Requests answered 429 rate_limited", rate_limit.refused().clone());
        let w = Arc::new(WriterMetrics::new());
        let r = &mut registry;
        r.register("ledger_writer_batch_commits", "Commits per batch sent", w.batch_size.clone());
        r.register("ledger_writer_delivery_seconds", "From a batch's send to its delivery reports", w.delivery.clone());
        r.register("ledger_writer_commits_accepted", "Commits proven accepted", w.accepted.clone());
        let help = "Requests answered 409 write_conflict (another writer on the partition)";
        r.register("ledger_writer_write_conflicts", help, w.write_conflicts.clone());
        let help = "Rejected commits answered with another accepted attempt of the same command (same key)";
        r.register("ledger_writer_superseded_attempts", help, w.lost_to_own_retry.clone());
        let help = "Log reads after delivery offsets did not prove a batch";
        r.register("ledger_writer_resyncs", help, w.resyncs.clone());
        let help = "Commits the fold rule rejected while a writer read the log to resync";
        r.register("ledger_writer_resync_rejected_commits", help, w.resync_rejected.clone());
        r.register("ledger_writer_batches_in_flight", "Batches sent and not yet proven", w.in_flight.clone());
        r.register(
            "ledger_writer_next_offset",
            "Next offset of the partition as the writer has folded it",
            w.next_offset.clone(),
        );
        let aggregates = Family::default();
        r.register("ledger_writer_aggregates", "Accounts held in memory", aggregates.clone());
        r.register("ledger_writer_idempotency_keys", "Idempotency keys held in memory", w.keys.clone());
        r.register(
            "ledger_writer_snapshot_offset",
            "Offset up to which the last snapshot holds the partition",
            w.snapshot_offset.clone(),
        );
        let help = "Seconds since this instance last took a snapshot of the partition";
        r.register("ledger_writer_snapshot_age_seconds", help, w.snapshot_age.clone());
        let owned = Gauge::default();
        r.register("ledger_writer_partitions_owned", "Partitions served by this instance", owned.clone());
        Self { registry, http, writers: w, connections, owned, aggregates }
    }

    /// The exposition text, with the partitions served here as they stand now.
    pub fn render(&self, partitions: &Partitions) -> String {
        let owned = partitions.owned();
        self.owned.set(owned.len() as i64);
        self.aggregates.clear();
        for partition in owned {
            self.aggregates.get_or_create(&labels(partition)).set(partitions.aggregates_of(partition) as i64);
        }
        self.writers.refresh_snapshot_ages();
        http_metrics::render(&self.registry)
    }
}
