//! The system in-process on free ports, and `ledgerctl` as a child process.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{wait_url, Stack};
use tokio_util::sync::CancellationToken;

pub struct System {
    pub stack: Stack,
    pub commands: String,
    pub queries: String,
    worker: CancellationToken,
    worker_task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl System {
    /// Starts the query service, a projection worker and, if asked, the command service.
    pub async fn start(with_commands: bool) -> System {
        let stack = Stack::new().await;
        let mut commands = String::new();
        if with_commands {
            let app = command_service::Application::build(command_service::Config::local(
                &stack.broker.addr,
                &stack.db.url,
                &stack.topic,
            ))
            .await
            .expect("command service");
            commands = format!("http://{}", app.local_addr().expect("addr"));
            tokio::spawn(app.run_until_stopped());
            wait_url(&format!("{commands}/readyz")).await;
        }
        let group = format!("{}-workers", stack.topic);
        let mut config = projections::Config::local(&stack.broker.addr, &stack.db.url, &stack.topic, &group);
        config.batch_wait_ms = 5;
        let worker = projections::Application::build(config).await.expect("worker");
        let worker_url = format!("http://{}", worker.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let worker_task = tokio::spawn(worker.run_until(stop.clone()));
        wait_url(&format!("{worker_url}/readyz")).await;
        let query_db = stack.db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
        let queries = query_service::Application::build(query_service::Config::local(&query_db, &stack.topic))
            .await
            .expect("query service");
        let queries_url = format!("http://{}", queries.local_addr().expect("addr"));
        tokio::spawn(queries.run_until(CancellationToken::new()));
        wait_url(&format!("{queries_url}/readyz")).await;
        System { stack, commands, queries: queries_url, worker: stop, worker_task }
    }

    /// Stops the worker while the broker is still up (a consumer closed after
    /// its broker is gone can hang).
    pub async fn stop_worker(&mut self) {
        self.worker.cancel();
        let task = std::mem::replace(&mut self.worker_task, tokio::spawn(async { Ok(()) }));
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }

    /// Waits until the worker's checkpoints reach the end of every partition.
    pub async fn caught_up(&self) {
        let pool = sqlx::PgPool::connect(&self.stack.db.url).await.expect("db");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ends = ledger_runtime::kafka::log_ends(&self.stack.broker.addr, &self.stack.topic, 8).await;
            let end: i64 = ends.expect("log ends").iter().sum();
            let (applied,): (Option<i64>,) = sqlx::query_as(
                "select sum(next_offset)::int8 from projection_checkpoints where projection = 'accounts'",
            )
            .fetch_one(&pool)
            .await
            .expect("checkpoints");
            if applied == Some(end) {
                return;
            }
            assert!(Instant::now() < deadline, "the worker did not catch up: {applied:?} of {end}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn ledgerctl(&self, args: &[&str]) -> (bool, String) {
        self.ledgerctl_command(args)()
    }

    /// `ledgerctl args` with `env` added.
    pub fn ledgerctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        run(command)
    }

    /// `ledgerctl args`, to run later (e.g. on a blocking thread).
    pub fn ledgerctl_command(&self, args: &[&str]) -> impl FnOnce() -> (bool, String) + Send + 'static {
        let command = self.command(args);
        move || run(command)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledgerctl"));
        command
            .args(args)
            .env("KAFKA_BROKERS", &self.stack.broker.addr)
            .env("EVENTS_TOPIC", &self.stack.topic)
            .env("DATABASE_URL", &self.stack.db.url)
            // Personal fields are opened with the key store (the development KEK, as the services use).
            .env("KEYS_DATABASE_URL", &self.stack.db.url);
        command
    }
}

fn run(mut command: Command) -> (bool, String) {
    let out = command.output().expect("run ledgerctl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{}", if out.status.success() { "" } else { &stderr }))
}

pub async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client.post(url).json(&body).send().await.expect("command").json().await.expect("json")
}

/// Writes raw record values to the topic, keyed like the command service keys them.
pub async fn produce(system: &System, records: &[(uuid::Uuid, Vec<u8>)]) {
    use rdkafka::producer::FutureRecord;
    let brokers = &system.stack.broker.addr;
    let partitions = ledger_runtime::kafka::ensure_topic(brokers, &system.stack.topic, 8).await.expect("topic");
    let producer = ledger_runtime::kafka::producer(brokers, "test-raw", 0).expect("producer");
    for (id, value) in records {
        let key = id.to_string();
        let record = FutureRecord::to(&system.stack.topic)
            .partition(events::partition_for(*id, partitions))
            .key(&key)
            .payload(value);
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("delivered");
    }
}
