//! HTTP request metrics, the same for every service: requests by route
//! template (never the raw path), method and status class, and a latency
//! histogram by route with buckets from half a millisecond to 16 seconds.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::auth::{Principal, Role};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    /// `2xx`, `4xx`, `5xx`, …
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
}

impl HttpMetrics {
    /// Registers `ledger_http_requests_total` and `ledger_http_request_duration_seconds`.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Arc::new(Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        });
        registry.register("ledger_http_requests", "HTTP requests answered", metrics.requests.clone());
        registry.register(
            "ledger_http_request_duration_seconds",
            "Time from a request's arrival to its answer",
            metrics.latency.clone(),
        );
        metrics
    }
}

/// The layer (`Router::layer`, so that the matched route is known).
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    metrics.requests.get_or_create(&RequestLabels { route: route.clone(), method: method.clone(), status }).inc();
    metrics.latency.get_or_create(&RouteLabels { route, method }).observe(started.elapsed().as_secs_f64());
    response
}

/// A registry rendered in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// A `/metrics` answer: the text for a token with role `ops`, else 403.
pub fn exposition(principal: &Principal, text: impl FnOnce() -> String) -> Response {
    if let Err(refused) = principal.require_any(&[Role::Ops]) {
        return refused.into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text()).into_response()
}
