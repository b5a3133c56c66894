//! The whole system, in-process, on free ports.

use std::time::{Duration, Instant};

use testkit::Stack;
use tokio_util::sync::CancellationToken;

pub struct System {
    pub _stack: Stack,
    pub commands: String,
    pub queries: String,
    pub worker: CancellationToken,
}

async fn ready(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(url).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "{url} not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn system(consistency_wait_ms: u64) -> System {
    let stack = Stack::new().await;
    let commands = command_service::Application::build(command_service::Config {
        kafka_brokers: stack.broker.addr.clone(),
        database_url: stack.db.url.clone(),
        events_topic: stack.topic.clone(),
        events_partitions: 8,
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        batch_max: 512,
        snapshot_every: 0,
        ignore_snapshots: false,
        idempotency_window_secs: 86_400,
        kafka_linger_ms: 1,
        max_body_bytes: 16 * 1024,
        consistency_token_key: command_service::config::DEV_TOKEN_KEY.to_owned(),
        log_format: command_service::config::LogFormat::Text,
    })
    .await
    .expect("command service");
    let commands_url = format!("http://{}", commands.local_addr().expect("addr"));
    tokio::spawn(commands.run_until_stopped());

    let worker = projections::Application::build(projections::Config {
        kafka_brokers: stack.broker.addr.clone(),
        database_url: stack.db.url.clone(),
        events_topic: stack.topic.clone(),
        group: format!("{}-workers", stack.topic),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        batch_max: 500,
        batch_wait_ms: 2,
        session_timeout_ms: 6000,
        log_format: projections::config::LogFormat::Text,
    })
    .await
    .expect("projections");
    let worker_url = format!("http://{}", worker.local_addr().expect("addr"));
    let worker_stop = CancellationToken::new();
    tokio::spawn(worker.run_until(worker_stop.clone()));
    ready(&format!("{worker_url}/readyz")).await;

    // The read-only role the migrations created, on the test database.
    let query_url_db = stack.db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
    let queries = query_service::Application::build(query_service::Config {
        database_url: query_url_db,
        events_topic: stack.topic.clone(),
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        consistency_wait_ms,
        consistency_token_key: query_service::config::DEV_TOKEN_KEY.to_owned(),
        log_format: query_service::config::LogFormat::Text,
    })
    .await
    .expect("query service");
    let queries_url = format!("http://{}", queries.local_addr().expect("addr"));
    tokio::spawn(queries.run_until(CancellationToken::new()));
    ready(&format!("{commands_url}/readyz")).await;
    ready(&format!("{queries_url}/readyz")).await;
    System { _stack: stack, commands: commands_url, queries: queries_url, worker: worker_stop }
}
