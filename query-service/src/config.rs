//! Configuration: flags with environment fallbacks.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ledger_runtime::secret::Secret;
pub use ledger_runtime::telemetry::LogFormat;
pub use ledger_runtime::DEV_TOKEN_KEY;

/// The query service's configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "query-service", version, about = "Ledgerline read side: read-only HTTP over the read models")]
pub struct Config {
    /// Postgres URL of the read models; the role should only be allowed to SELECT.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://ledger_query@127.0.0.1:5432/ledger")]
    pub database_url: String,
    /// The events topic whose checkpoints consistency tokens refer to.
    #[arg(long, env = "EVENTS_TOPIC", default_value = "ledger.events")]
    pub events_topic: String,
    /// Address the HTTP API listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub http_addr: SocketAddr,
    /// Longest a request with a consistency token waits for the read models, in milliseconds.
    #[arg(long, env = "CONSISTENCY_WAIT_MS", default_value_t = 2000)]
    pub consistency_wait_ms: u64,
    /// Key that checks consistency tokens; the command service signs with the same one.
    #[arg(long, env = "CONSISTENCY_TOKEN_KEY", default_value = DEV_TOKEN_KEY, hide_default_value = true)]
    pub consistency_token_key: Secret,
    #[command(flatten)]
    pub auth: ledger_runtime::auth::AuthArgs,
    /// Timeouts and the connection limit of the HTTP listener.
    /// Browser origins that may call this API.
    #[command(flatten)]
    pub cors: ledger_runtime::cors::CorsArgs,
    #[command(flatten)]
    pub serve: ledger_runtime::serve::ServeArgs,
    #[command(flatten)]
    pub keys: ledger_runtime::keys::KeyArgs,
    /// Log format: text for people, json for machines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// Defaults for everything but Postgres and the topic, listening on a free
    /// local port, tokens signed with `TEST_JWT_SECRET`: for embedding the
    /// service in tests and tools.
    pub fn local(database_url: &str, events_topic: &str) -> Self {
        let mut config = Self::parse_from([
            "query-service",
            "--database-url",
            database_url,
            "--events-topic",
            events_topic,
            "--http-addr",
            "127.0.0.1:0",
        ]);
        config.auth = ledger_runtime::auth::AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET);
        config
    }

    pub fn consistency_wait(&self) -> Duration {
        Duration::from_millis(self.consistency_wait_ms)
    }
}
