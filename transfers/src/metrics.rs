//! Prometheus metrics: steps per kind, open holds, steps in flight and queued.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::steps::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Labels {
    pub kind: String,
}

/// The driver's metrics. Cheap to update; rendered on `/metrics`.
#[derive(Default)]
pub struct Metrics {
    registry: Registry,
    /// Calls made to the command service (every attempt).
    pub sent: Family<Labels, Counter>,
    /// Steps finished: recorded now, or found recorded already.
    pub done: Family<Labels, Counter>,
    /// Attempts that will be tried again.
    pub retried: Family<Labels, Counter>,
    /// Holds open in the partitions this driver owns.
    pub open_holds: Gauge,
    /// Steps started and not finished (waiting for a slot, calling, or backing off).
    pub in_flight: Gauge,
    /// Steps waiting for a free slot.
    pub queued: Gauge,
    /// The ops listener's connections.
    pub connections: std::sync::Arc<ledger_runtime::conn_metrics::ConnMetrics>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics::default();
        ledger_runtime::process_metrics::register(&mut m.registry);
        m.connections = ledger_runtime::conn_metrics::ConnMetrics::register(&mut m.registry);
        let r = &mut m.registry;
        r.register("ledger_transfers_steps_sent", "Calls made to the command service", m.sent.clone());
        r.register("ledger_transfers_steps_done", "Steps finished", m.done.clone());
        r.register("ledger_transfers_steps_retried", "Attempts to be tried again", m.retried.clone());
        r.register("ledger_transfers_open_holds", "Holds open in the owned partitions", m.open_holds.clone());
        r.register("ledger_transfers_steps_in_flight", "Steps started and not finished", m.in_flight.clone());
        r.register("ledger_transfers_steps_queued", "Steps waiting for a free slot", m.queued.clone());
        m
    }

    pub fn labels(kind: Kind) -> Labels {
        Labels { kind: kind.as_str().to_owned() }
    }

    /// Prometheus/OpenMetrics text.
    pub fn render(&self) -> String {
        ledger_runtime::http_metrics::render(&self.registry)
    }
}
