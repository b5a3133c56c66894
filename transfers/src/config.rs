//! Configuration: flags with environment fallbacks.

use std::net::SocketAddr;

use clap::Parser;
use ledger_runtime::secret::Secret;
pub use ledger_runtime::telemetry::LogFormat;

/// The transfer driver's configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "transfers", version, about = "Ledgerline transfer driver: records credits, reversals and expiries")]
pub struct Config {
    #[command(flatten)]
    pub log: ledger_runtime::args::LogArgs,
    /// Consumer group shared by all drivers: it spreads the partitions over them.
    #[arg(long, env = "TRANSFERS_GROUP", default_value = "ledger-transfers")]
    pub group: String,
    /// Kafka consumer session timeout: how soon the group notices a dead driver.
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,
    /// Base URL of the command service (plain http: an internal call).
    #[arg(long, env = "COMMAND_URL", default_value = "http://127.0.0.1:8080")]
    pub command_url: String,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8083")]
    pub http_addr: SocketAddr,
    /// Most steps in flight at once (calls to the command service, with their retries).
    #[arg(long, env = "CONCURRENCY", default_value_t = 256)]
    pub concurrency: usize,
    /// A ready bearer token with the `system` role, for RS256/ES256 deployments.
    /// Without it the driver mints its own from `JWT_SECRET`.
    #[arg(long, env = "TRANSFERS_TOKEN", hide_env_values = true)]
    pub transfers_token: Option<Secret>,
    /// Token keys: `JWT_SECRET` mints the driver's own token and checks `/metrics`
    /// tokens (role `ops`); `JWT_PUBLIC_KEY` only checks them.
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
    /// Defaults for everything but Kafka, the topic, the group and the command
    /// service, listening on a free local port, tokens signed with
    /// `TEST_JWT_SECRET`: for embedding a driver in tests and tools.
    pub fn local(kafka_brokers: &str, events_topic: &str, group: &str, command_url: &str) -> Self {
        let mut config = Self::parse_from([
            "transfers",
            "--kafka-brokers",
            kafka_brokers,
            "--events-topic",
            events_topic,
            "--group",
            group,
            "--command-url",
            command_url,
            "--http-addr",
            "127.0.0.1:0",
        ]);
        config.auth = ledger_runtime::auth::AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET);
        config.transfers_token = None;
        config
    }
}
