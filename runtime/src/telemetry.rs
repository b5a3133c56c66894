//! Logs and traces through `tracing`: readable text locally, JSON with
//! `LOG_FORMAT=json`, and spans exported by OTLP/HTTP (protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
//! The standard `OTEL_*` variables apply (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, …). Without
//! an endpoint no exporter runs and spans stay as cheap as plain `tracing`.
//! `RUST_LOG` filters the logs only; `OTEL_TRACES_FILTER` (same syntax,
//! default `info`) chooses the spans exported.
//! JSON log lines carry `trace_id` and `span_id` while traces are exported.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OtelData;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an OTLP endpoint was configured).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Flushes and stops the span exporter when dropped: keep it until `main` returns.
#[must_use = "dropping the guard stops the trace exporter"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // The exporter's blocking HTTP client must not be dropped on the async runtime.
            let _ = std::thread::spawn(move || provider.shutdown()).join();
        }
    }
}

fn endpoint_configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// The tracer provider, built off the async runtime (the exporter's blocking
/// HTTP client must be), or `None` without an endpoint or if it cannot be built.
fn provider(service: &'static str) -> Option<SdkTracerProvider> {
    if !endpoint_configured() {
        return None;
    }
    let built = std::thread::spawn(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
        let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
        let resource = Resource::builder().with_service_name(name).build();
        Ok::<_, opentelemetry_otlp::ExporterBuildError>(
            SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build(),
        )
    })
    .join();
    match built {
        Ok(Ok(provider)) => Some(provider),
        Ok(Err(error)) => {
            eprintln!("traces are not exported: {error}");
            None
        }
        Err(_) => None,
    }
}

/// Installs the global subscriber for `service` (its default `service.name`).
/// `RUST_LOG` overrides the default `info` level.
pub fn init(format: LogFormat, service: &'static str) -> Telemetry {
    // Each layer has its own filter: `RUST_LOG=warn` quietens the logs, not the traces.
    let logs = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"));
    let provider = provider(service);
    let otel = provider.as_ref().map(|p| {
        let traces = EnvFilter::new(std::env::var("OTEL_TRACES_FILTER").unwrap_or_else(|_| "info".into()));
        tracing_opentelemetry::layer().with_tracer(p.tracer(service)).with_filter(traces)
    });
    let registry = tracing_subscriber::registry().with(otel);
    match format {
        LogFormat::Json => registry.with(json_lines().with_filter(logs())).init(),
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_filter(logs())).init(),
    }
    if provider.is_some() {
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::info!("exporting spans by OTLP/HTTP");
    }
    Telemetry { provider }
}

/// One JSON object per line: time, level, target, the event's fields, the
/// current span and its parents, and the OpenTelemetry ids when exporting.
fn json_lines<S>() -> json_subscriber::JsonLayer<S, fn() -> std::io::Stdout>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let mut layer = json_subscriber::JsonLayer::stdout();
    layer
        .with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
        .with_level("level")
        .with_target("target")
        .with_event("fields")
        .with_current_span("span")
        .with_span_list("spans");
    layer.add_from_extension::<OtelData, _, _>("trace_id", |data| data.trace_id().map(|id| id.to_string()));
    layer.add_from_extension::<OtelData, _, _>("span_id", |data| data.span_id().map(|id| id.to_string()));
    layer
}
