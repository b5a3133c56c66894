//! Prometheus metrics per endpoint: attempts by outcome, delivery latency,
//! lag in deliveries and seconds, disabled endpoints.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub endpoint: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    pub endpoint: String,
}

fn latency() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 600.0, 3600.0])
}

/// The service's metrics. Cheap to update; rendered on `/metrics` (role `ops`).
pub struct Metrics {
    registry: Registry,
    /// Attempts by endpoint and outcome (`delivered`, `failed`, `timeout`, `refused`, `network`).
    pub attempts: Family<Outcome, Counter>,
    /// From the event's time to its first 2xx, per endpoint.
    pub delivery_latency: Family<Endpoint, Histogram, fn() -> Histogram>,
    /// Pending deliveries per endpoint, and how old the oldest is.
    pub lag_deliveries: Family<Endpoint, Gauge>,
    pub lag_seconds: Family<Endpoint, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Endpoints disabled (by a 410, by persistent failures, or by request).
    pub disabled: Gauge,
    /// Requests by route and the listener's connections.
    pub http: std::sync::Arc<ledger_runtime::http_metrics::HttpMetrics>,
    pub connections: std::sync::Arc<ledger_runtime::conn_metrics::ConnMetrics>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        ledger_runtime::process_metrics::register(&mut registry);
        let connections = ledger_runtime::conn_metrics::ConnMetrics::register(&mut registry);
        let http = ledger_runtime::http_metrics::HttpMetrics::register(&mut registry);
        let m = Metrics {
            attempts: Family::default(),
            delivery_latency: Family::new_with_constructor(latency),
            lag_deliveries: Family::default(),
            lag_seconds: Family::default(),
            disabled: Gauge::default(),
            http,
            connections,
            registry,
        };
        let mut m = m;
        let r = &mut m.registry;
        r.register("ledger_webhooks_attempts", "Delivery attempts by endpoint and outcome", m.attempts.clone());
        r.register(
            "ledger_webhooks_delivery_latency_seconds",
            "From the event to its first 2xx",
            m.delivery_latency.clone(),
        );
        r.register("ledger_webhooks_lag_deliveries", "Pending deliveries per endpoint", m.lag_deliveries.clone());
        r.register("ledger_webhooks_lag_seconds", "Age of the oldest pending delivery", m.lag_seconds.clone());
        r.register("ledger_webhooks_disabled_endpoints", "Endpoints disabled", m.disabled.clone());
        m
    }

    pub fn outcome(&self, endpoint: uuid::Uuid, outcome: &str) {
        self.attempts.get_or_create(&Outcome { endpoint: endpoint.to_string(), outcome: outcome.to_owned() }).inc();
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
