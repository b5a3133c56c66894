//! The system in-process on free ports (`testkit::system`), and `ledgerctl`
//! as a child process.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub use testkit::system::System;

/// `ledgerctl` as a child process, on the system's broker, topic and database.
pub trait Ledgerctl {
    fn ledgerctl(&self, args: &[&str]) -> (bool, String);
    /// `ledgerctl args` with `env` added.
    fn ledgerctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String);
    /// `ledgerctl args`, to run later (e.g. on a blocking thread).
    fn ledgerctl_command(&self, args: &[&str]) -> impl FnOnce() -> (bool, String) + Send + 'static;
}

impl Ledgerctl for System {
    fn ledgerctl(&self, args: &[&str]) -> (bool, String) {
        self.ledgerctl_command(args)()
    }

    fn ledgerctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let mut command = command(self, args);
        command.envs(env.iter().copied());
        run(command)
    }

    fn ledgerctl_command(&self, args: &[&str]) -> impl FnOnce() -> (bool, String) + Send + 'static {
        let command = command(self, args);
        move || run(command)
    }
}

fn command(system: &System, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ledgerctl"));
    command
        .args(args)
        .env("KAFKA_BROKERS", &system.stack.broker.addr)
        .env("EVENTS_TOPIC", &system.stack.topic)
        .env("DATABASE_URL", &system.stack.db.url)
        // Personal fields are opened with the key store (the development KEK, as the services use).
        .env("KEYS_DATABASE_URL", &system.stack.db.url);
    command
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
