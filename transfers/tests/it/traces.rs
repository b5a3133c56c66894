//! One trace from the HTTP command to the read model: every service exports
//! spans by OTLP/HTTP to a receiver in this test, which decodes them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use crate::stack::{call, client, funded_account, System};

/// A span as received: its service, trace, name and the traces it links to.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    trace_id: String,
    parent_span_id: String,
    name: String,
    links: Vec<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn export(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP/HTTP protobuf trace export");
    let mut received = spans.lock().expect("spans");
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(Received {
                service: service.clone(),
                trace_id: hex(&span.trace_id),
                parent_span_id: hex(&span.parent_span_id),
                name: span.name,
                links: span.links.iter().map(|l| hex(&l.trace_id)).collect(),
            });
        }
    }
    ""
}

/// An OTLP/HTTP receiver on a free port; returns its base URL and what it got.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = axum::Router::new().route("/v1/traces", post(export)).with_state(Arc::clone(&spans));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, spans)
}

/// Waits until `spans` holds one that `matches` (at most 30 s).
async fn find(spans: &Spans, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = spans.lock().expect("spans").iter().find(|s| matches(s)) {
            return found.clone();
        }
        if tokio::time::Instant::now() > deadline {
            let seen: Vec<_> =
                spans.lock().expect("spans").iter().map(|s| (s.service.clone(), s.name.clone())).collect();
            panic!("no span {what} within 30 s; received: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_sent_with_a_traceparent_is_traced_through_the_commit_the_projection_and_the_read() {
    let (otlp, spans) = receiver().await;
    let system = System::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("LOG_FORMAT", "json"),
        // tower-http logs each answer at debug, inside the request's span.
        ("RUST_LOG", "info,rdkafka=warn,tower_http=debug"),
    ])
    .await;
    let alice = client("alice", &["client"]);
    let (commands, queries) = (&system.commands.base, &system.queries.base);
    let id = funded_account(&alice, commands, "EUR", 0).await;

    let deposit_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let deposit = alice
        .post(format!("{commands}/v1/accounts/{id}/deposits"))
        .header("traceparent", format!("00-{deposit_trace}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({ "amount": 100 }));
    let (status, deposited) = call(deposit).await.expect("the command service answers");
    assert_eq!(status, 200, "{deposited}");
    let token = deposited["consistency_token"].as_str().expect("a consistency token");

    let read_trace = "0af7651916cd43dd8448eb211c80319c";
    let read = alice
        .get(format!("{queries}/v1/accounts/{id}"))
        .header("consistency-token", token)
        .header("traceparent", format!("00-{read_trace}-b7ad6b7169203331-01"));
    let (status, account) = call(read).await.expect("the query service answers");
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["balance"], 100, "{account}");

    // The command's request span continues the client's trace, under the client's span.
    let command = find(&spans, "of the deposit in the command service", |s| {
        s.service == "command-service" && s.trace_id == deposit_trace && s.name.contains("deposits")
    })
    .await;
    assert_eq!(command.parent_span_id, "00f067aa0ba902b7", "{command:?}");
    // The projection batch that applied the commit links to that trace.
    let batch = find(&spans, "of a projection batch linked to the deposit's trace", |s| {
        s.service == "projections" && s.links.iter().any(|l| l == deposit_trace)
    })
    .await;
    assert_eq!(batch.name, "projection.batch", "{batch:?}");
    assert_ne!(batch.trace_id, deposit_trace, "a batch has a trace of its own and links to its commits'");
    // The read that waited for the token is in the read's own trace, with its wait.
    find(&spans, "of the read's request", |s| {
        s.service == "query-service" && s.trace_id == read_trace && s.name.contains("/v1/accounts/{id}")
    })
    .await;
    find(&spans, "of the read's consistency wait", |s| {
        s.service == "query-service" && s.trace_id == read_trace && s.name == "consistency.wait"
    })
    .await;

    // The command service's JSON log lines inside the request carry its ids.
    let log = std::fs::read_to_string(&system.commands.process.log).expect("the command service's log");
    let traced = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["trace_id"] == deposit_trace)
        .unwrap_or_else(|| {
            panic!("no JSON log line with trace_id {deposit_trace} in {}", system.commands.process.log.display())
        });
    assert_eq!(traced["span_id"].as_str().map(str::len), Some(16), "{traced}");
}
