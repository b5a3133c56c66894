//! `/metrics`: requests counted by route template and status class, latency
//! observed once per request, the writers' commits counted; ops only.

use crate::client::Api;
use crate::harness::service;
use testkit::Stack;

/// The value of the sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// The sum of every sample whose line starts with `prefix` (a family over partitions).
fn sum(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test]
async fn every_command_is_counted_under_its_route_template_and_its_commit_under_the_writers() {
    let stack = Stack::new().await;
    let service = service(&stack, &[]).await;
    let api = Api::new(&service.base);
    let account = api.open("EUR", 0).await;
    const DEPOSITS: u32 = 37;
    for _ in 0..DEPOSITS {
        assert_eq!(api.money(account, "deposits", 5).await.status, 200);
    }
    let refused = api.money(account, "withdrawals", 1_000_000).await;
    assert_eq!(refused.code(), "insufficient_funds");

    let ops = testkit::client("ops", &["ops"]);
    let answer = ops.get(format!("{}/metrics", service.base)).send().await.expect("metrics");
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.expect("body");
    let deposits = r#"{route="/v1/accounts/{id}/deposits",method="POST""#;
    let counted = sample(&text, &format!(r#"ledger_http_requests_total{deposits},status="2xx"}}"#));
    assert_eq!(counted, Some(f64::from(DEPOSITS)), "{text}");
    let withdrawals = r#"ledger_http_requests_total{route="/v1/accounts/{id}/withdrawals",method="POST",status="4xx"}"#;
    assert_eq!(sample(&text, withdrawals), Some(1.0), "{text}");
    let observed = sample(&text, &format!("ledger_http_request_duration_seconds_count{deposits}}}"));
    assert_eq!(observed, Some(f64::from(DEPOSITS)), "{text}");
    // The open and every deposit were proven accepted.
    assert_eq!(sample(&text, "ledger_writer_commits_accepted_total"), Some(f64::from(DEPOSITS + 1)), "{text}");
    assert_eq!(sample(&text, "ledger_writer_write_conflicts_total"), Some(0.0), "{text}");
    // Per partition: what the writers hold and how far they have folded the log.
    assert_eq!(sum(&text, "ledger_writer_aggregates{"), 1.0, "{text}");
    assert_eq!(sum(&text, "ledger_writer_next_offset{"), f64::from(DEPOSITS + 1), "{text}");
    assert_eq!(sum(&text, "ledger_writer_batches_in_flight{"), 0.0, "{text}");
    assert_eq!(
        sample(&text, "ledger_writer_delivery_seconds_count"),
        sample(&text, "ledger_writer_batch_commits_count")
    );
    let partitions = text.lines().filter(|l| l.starts_with("ledger_writer_next_offset{")).count() as f64;
    assert_eq!(sample(&text, "ledger_writer_partitions_owned"), Some(partitions), "{text}");
    assert!(partitions >= 1.0, "{text}");
    // The process, as Prometheus' client libraries name it.
    assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|rss| rss > 1e6), "{text}");
    assert!(sample(&text, "process_open_fds").is_some_and(|fds| fds > 3.0), "{text}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let started = sample(&text, "process_start_time_seconds").expect("a start time");
    assert!((now - 600.0..=now + 1.0).contains(&started), "started at {started}, now {now}");

    let client = testkit::client("tester", &["client"]);
    let denied = client.get(format!("{}/metrics", service.base)).send().await.expect("answer");
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn metrics_public_serves_the_metrics_without_a_token_and_nothing_else() {
    let stack = Stack::new().await;
    let service = service(&stack, &[("METRICS_PUBLIC", "true")]).await;
    let anyone = reqwest::Client::new();
    let answer = anyone.get(format!("{}/metrics", service.base)).send().await.expect("metrics");
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.expect("body").contains("ledger_http_requests_total"));
    let cluster = anyone.get(format!("{}/v1/cluster", service.base)).send().await.expect("answer");
    assert_eq!(cluster.status(), 401, "only /metrics is opened");
}
