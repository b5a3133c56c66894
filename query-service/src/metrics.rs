//! The query service's Prometheus metrics: HTTP requests by route, the
//! consistency waits of read-your-writes reads, the lag reads report, the
//! database pool, and the process.

use std::sync::Arc;

use ledger_runtime::conn_metrics::ConnMetrics;
use ledger_runtime::http_metrics::{self, HttpMetrics};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    /// `in_use` or `idle`.
    state: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub http: Arc<HttpMetrics>,
    pub connections: Arc<ConnMetrics>,
    /// How long reads with a consistency token waited (answered or not).
    pub consistency_wait: Histogram,
    /// Reads answered `504 not_yet_consistent`.
    pub not_yet_consistent: Counter,
    /// The last `Read-Lag-Records` a read reported.
    pub read_lag: Gauge,
    pool: Family<PoolLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry);
        ledger_runtime::process_metrics::register(&mut registry);
        let connections = ConnMetrics::register(&mut registry);
        let consistency_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let (not_yet_consistent, read_lag, pool) = (Counter::default(), Gauge::default(), Family::default());
        registry.register(
            "ledger_query_consistency_wait_seconds",
            "Time reads with a consistency token waited for the read models",
            consistency_wait.clone(),
        );
        registry.register(
            "ledger_query_not_yet_consistent",
            "Reads answered 504 not_yet_consistent",
            not_yet_consistent.clone(),
        );
        registry.register(
            "ledger_query_read_lag_records",
            "Read-Lag-Records last reported: log records not yet in the read models",
            read_lag.clone(),
        );
        registry.register("ledger_db_pool_connections", "Database pool connections by state", pool.clone());
        Self { registry, http, connections, consistency_wait, not_yet_consistent, read_lag, pool }
    }

    /// The exposition text, with the pool as it stands now.
    pub fn render(&self, pool: &PgPool) -> String {
        let idle = pool.num_idle() as i64;
        self.pool.get_or_create(&PoolLabels { state: "idle" }).set(idle);
        self.pool.get_or_create(&PoolLabels { state: "in_use" }).set((i64::from(pool.size()) - idle).max(0));
        http_metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
