//! W3C trace context across processes: the HTTP request span (a child of the
//! request's `traceparent`), the `traceparent` a commit carries in the log, and
//! links from a batch of commits to the traces that wrote them. All of it is a
//! no-op unless [`telemetry`](crate::telemetry) exports spans.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, Request, Response};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::exporting;

const TRACEPARENT: &str = "traceparent";

fn context_of(traceparent: &str) -> opentelemetry::Context {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// The span of one HTTP request (`tower_http::trace::TraceLayer::make_span_with`),
/// named after its route template and parented on its `traceparent`, if any.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().as_str();
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if exporting() {
        if let Some(traceparent) = header(request.headers()) {
            let _ = span.set_parent(context_of(traceparent));
        }
    }
    span
}

/// Records the answer's status on the request span (`TraceLayer::on_response`).
pub fn record_response<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

fn header(headers: &HeaderMap) -> Option<&str> {
    headers.get(TRACEPARENT).and_then(|v| v.to_str().ok())
}

/// The `traceparent` a commit written now should carry: the current span's
/// context while exporting, else the one the client sent (passed on as is).
pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    if exporting() {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
        if let Some(current) = carrier.remove(TRACEPARENT) {
            return Some(current);
        }
    }
    header(headers).map(str::to_owned)
}

/// Links `span` to the trace of `traceparent` (a batch applies many commits,
/// each from a trace of its own: links, not one parent).
pub fn link(span: &Span, traceparent: &str) {
    if !exporting() {
        return;
    }
    let context = context_of(traceparent);
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}
