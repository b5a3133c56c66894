//! Configuration: flags with environment fallbacks.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use ledger_runtime::secret::Secret;
pub use ledger_runtime::telemetry::LogFormat;
pub use ledger_runtime::DEV_TOKEN_KEY;

/// The command service's configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "command-service", version, about = "Ledgerline write side: HTTP commands to Kafka commits")]
pub struct Config {
    #[command(flatten)]
    pub log: ledger_runtime::args::LogArgs,
    #[command(flatten)]
    pub db: ledger_runtime::args::DatabaseArgs,
    /// Address the HTTP API listens on.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The consumer group the command-service instances share the partitions through.
    #[arg(long, env = "WRITERS_GROUP", default_value = "ledger-writers")]
    pub writers_group: String,
    /// Kafka session timeout of the writers' group: how soon a dead instance's
    /// partitions move to the others.
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,
    /// Static membership of the writers' group (`group.instance.id`): a stable
    /// id per instance (e.g. its pod or host name). A restart under the same id
    /// within the session timeout keeps its partitions without a rebalance; a
    /// stop without a restart moves them only after the session timeout.
    #[arg(long, env = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// The URL other instances forward requests to (default: `http://` and the
    /// address the HTTP API listens on; set it when that is not reachable by peers).
    #[arg(long, env = "ADVERTISED_URL")]
    pub advertised_url: Option<String>,
    /// Most commands a partition writer puts in one group commit.
    #[arg(long, env = "BATCH_MAX", default_value_t = 512)]
    pub batch_max: usize,
    /// Batches a partition writer keeps in flight before it waits for the
    /// oldest to be proven (1: one batch at a time).
    #[arg(long, env = "PIPELINE_DEPTH", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub pipeline_depth: u16,
    /// Take a snapshot of a partition's state after this many new records.
    #[arg(long, env = "SNAPSHOT_EVERY", default_value_t = 10_000)]
    pub snapshot_every: i64,
    /// Ignore stored snapshots on start-up and fold every partition from offset 0.
    #[arg(long, env = "IGNORE_SNAPSHOTS", default_value_t = false)]
    pub ignore_snapshots: bool,
    /// Idempotency keys are honoured for at least this many seconds.
    #[arg(long, env = "IDEMPOTENCY_WINDOW_SECS", default_value_t = 86_400)]
    pub idempotency_window_secs: u64,
    /// Producer linger in milliseconds (librdkafka `linger.ms`).
    #[arg(long, env = "KAFKA_LINGER_MS", default_value_t = 1)]
    pub kafka_linger_ms: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
    /// Key that signs consistency tokens; the query service needs the same one.
    #[arg(long, env = "CONSISTENCY_TOKEN_KEY", default_value = DEV_TOKEN_KEY, hide_default_value = true)]
    pub consistency_token_key: Secret,
    /// Commands per second each client (token `sub`) may send, sustained.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 1000)]
    pub rate_limit_per_second: u32,
    /// Commands a client may send in a burst above the sustained rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 2000)]
    pub rate_limit_burst: u32,
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
    /// Defaults for everything but Kafka, Postgres and the topic, listening on
    /// a free local port, tokens signed with `TEST_JWT_SECRET`: for embedding
    /// the service in tests and tools.
    pub fn local(kafka_brokers: &str, database_url: &str, events_topic: &str) -> Self {
        let mut config = Self::parse_from([
            "command-service",
            "--kafka-brokers",
            kafka_brokers,
            "--database-url",
            database_url,
            "--events-topic",
            events_topic,
            "--http-addr",
            "127.0.0.1:0",
        ]);
        config.auth = ledger_runtime::auth::AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET);
        // A group per topic: services of other tests on the same broker are not members.
        config.writers_group = format!("{events_topic}.writers");
        config.session_timeout_ms = 3_000;
        config
    }

    pub fn idempotency_window(&self) -> Duration {
        Duration::from_secs(self.idempotency_window_secs)
    }
}
