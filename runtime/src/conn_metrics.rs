//! Connection metrics of [`crate::serve`]: open, accepted, refused, evicted,
//! and timeouts by kind.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Timeout {
    /// The request head did not arrive in time.
    Header,
    /// The request body did not arrive in time.
    Body,
    /// The handler did not answer in time.
    Request,
    /// A keep-alive connection had no request for too long.
    Idle,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: Timeout,
}

#[derive(Default)]
pub struct ConnMetrics {
    pub open: Gauge,
    pub accepted: Counter,
    pub refused: Counter,
    pub evicted: Counter,
    timeouts: Family<Kind, Counter>,
}

impl ConnMetrics {
    /// Registers the `ledger_http_connections*` families.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Arc::new(Self::default());
        registry.register("ledger_http_connections_open", "Open HTTP connections", m.open.clone());
        registry.register("ledger_http_connections_accepted", "HTTP connections accepted", m.accepted.clone());
        let help = "Connections closed at once: the limit and its health reserve were full of busy connections";
        registry.register("ledger_http_connections_refused", help, m.refused.clone());
        let help = "Connections closed to make room at the limit (the one longest without a request)";
        registry.register("ledger_http_connections_evicted", help, m.evicted.clone());
        registry.register("ledger_http_timeouts", "Connections or requests cut off, by kind", m.timeouts.clone());
        m
    }

    pub fn timeout(&self, kind: Timeout, n: u64) {
        if n > 0 {
            self.timeouts.get_or_create(&Kind { kind }).inc_by(n);
        }
    }
}
