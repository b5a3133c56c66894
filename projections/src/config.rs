//! Configuration: flags with environment fallbacks.

use std::net::SocketAddr;

use clap::Parser;
pub use ledger_runtime::telemetry::LogFormat;

/// A projection worker's configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "projections", version, about = "Ledgerline projection worker: Kafka log to Postgres read models")]
pub struct Config {
    #[command(flatten)]
    pub log: ledger_runtime::args::LogArgs,
    #[command(flatten)]
    pub db: ledger_runtime::args::DatabaseArgs,
    /// Consumer group shared by all workers.
    #[arg(long, env = "PROJECTIONS_GROUP", default_value = "ledger-projections")]
    pub group: String,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8082")]
    pub http_addr: SocketAddr,
    /// Most records applied in one transaction.
    #[arg(long, env = "BATCH_MAX", default_value_t = 2000)]
    pub batch_max: usize,
    /// Longest a record waits for its batch to fill, in milliseconds.
    #[arg(long, env = "BATCH_WAIT_MS", default_value_t = 20)]
    pub batch_wait_ms: u64,
    /// Kafka consumer session timeout: how soon the group notices a dead worker.
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,
    /// Bearer tokens for `/metrics` (role `ops`).
    #[command(flatten)]
    pub auth: ledger_runtime::auth::AuthArgs,
    /// Timeouts and the connection limit of the HTTP listener.
    #[command(flatten)]
    pub serve: ledger_runtime::serve::ServeArgs,
    /// Log format: text for people, json for machines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// Defaults for everything but Kafka, Postgres, the topic and the group,
    /// listening on a free local port, tokens signed with `TEST_JWT_SECRET`:
    /// for embedding a worker in tests and tools.
    pub fn local(kafka_brokers: &str, database_url: &str, events_topic: &str, group: &str) -> Self {
        let mut config = Self::parse_from([
            "projections",
            "--kafka-brokers",
            kafka_brokers,
            "--database-url",
            database_url,
            "--events-topic",
            events_topic,
            "--group",
            group,
            "--http-addr",
            "127.0.0.1:0",
        ]);
        config.auth = ledger_runtime::auth::AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET);
        config
    }
}
