//! Configuration: flags with environment fallbacks.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
pub use ledger_runtime::telemetry::LogFormat;

use crate::egress::Egress;
use crate::error::Error;
use crate::schedule::{parse_duration, Schedule};

/// The webhooks service's configuration.
#[derive(Clone, Debug, Parser)]
#[command(name = "webhooks", version, about = "Ledgerline webhooks: signed deliveries of the log's events to partners")]
pub struct Config {
    #[command(flatten)]
    pub log: ledger_runtime::args::LogArgs,
    #[command(flatten)]
    pub db: ledger_runtime::args::DatabaseArgs,
    /// Consumer group shared by all webhooks workers: it spreads the partitions over them.
    #[arg(long, env = "WEBHOOKS_GROUP", default_value = "ledger-webhooks")]
    pub group: String,
    /// Kafka consumer session timeout: how soon the group notices a dead worker.
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,
    /// Address of the endpoints API, /healthz, /readyz and /metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8084")]
    pub http_addr: SocketAddr,
    /// Delays between attempts after a failure (comma-separated: 5s, 5m, 2h…).
    #[arg(long, env = "WEBHOOKS_RETRY_SCHEDULE", default_value = crate::schedule::DEFAULT)]
    pub retry_schedule: String,
    /// Host names and CIDR ranges admitted despite the egress rules, plain http included (tests, local use).
    #[arg(long, env = "WEBHOOKS_ALLOWED_HOSTS", default_value = "")]
    pub allowed_hosts: String,
    /// Deliveries in flight at once to one endpoint.
    #[arg(long, env = "WEBHOOKS_ENDPOINT_CONCURRENCY", default_value_t = 16)]
    pub endpoint_concurrency: usize,
    /// Deliveries in flight at once in all.
    #[arg(long, env = "WEBHOOKS_CONCURRENCY", default_value_t = 256)]
    pub concurrency: usize,
    /// How long one request may take.
    #[arg(long, env = "WEBHOOKS_REQUEST_TIMEOUT", default_value = "15s")]
    pub request_timeout: String,
    /// An endpoint whose every attempt failed for this long is disabled.
    #[arg(long, env = "WEBHOOKS_DISABLE_AFTER", default_value = "5d")]
    pub disable_after: String,
    /// How long the previous secret still signs after a rotation.
    #[arg(long, env = "WEBHOOKS_ROTATION_OVERLAP", default_value = "24h")]
    pub rotation_overlap: String,
    /// A file of `host address` lines consulted before DNS, read at every
    /// look-up: for tests (a name that rebinds), never in a deployment.
    #[arg(long, env = "WEBHOOKS_RESOLVE_FILE")]
    pub resolve_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub auth: ledger_runtime::auth::AuthArgs,
    #[command(flatten)]
    pub keys: ledger_runtime::keys::KeyArgs,
    /// Timeouts and the connection limit of the HTTP listener.
    /// Browser origins that may call this API.
    #[command(flatten)]
    pub cors: ledger_runtime::cors::CorsArgs,
    #[command(flatten)]
    pub serve: ledger_runtime::serve::ServeArgs,
    /// Log format: text for people, json for machines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// The delivery settings, checked.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub schedule: Schedule,
    pub egress: Egress,
    pub endpoint_concurrency: usize,
    pub concurrency: usize,
    pub request_timeout: Duration,
    pub disable_after: Duration,
    pub rotation_overlap: Duration,
}

impl Config {
    /// Defaults for everything but Kafka, the topic and Postgres, listening
    /// on a free local port, tokens signed with `TEST_JWT_SECRET`.
    pub fn local(kafka_brokers: &str, events_topic: &str, database_url: &str) -> Self {
        let mut config = Self::parse_from([
            "webhooks",
            "--kafka-brokers",
            kafka_brokers,
            "--events-topic",
            events_topic,
            "--database-url",
            database_url,
            "--http-addr",
            "127.0.0.1:0",
        ]);
        config.auth = ledger_runtime::auth::AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET);
        config
    }

    pub fn delivery(&self) -> Result<Delivery, Error> {
        let duration = |name: &str, text: &str| parse_duration(text).map_err(|e| Error::Config(format!("{name}: {e}")));
        Ok(Delivery {
            schedule: Schedule::parse(&self.retry_schedule).map_err(Error::Config)?,
            egress: Egress::parse(&self.allowed_hosts).map_err(Error::Config)?,
            endpoint_concurrency: self.endpoint_concurrency.max(1),
            concurrency: self.concurrency.max(1),
            request_timeout: duration("WEBHOOKS_REQUEST_TIMEOUT", &self.request_timeout)?,
            disable_after: duration("WEBHOOKS_DISABLE_AFTER", &self.disable_after)?,
            rotation_overlap: duration("WEBHOOKS_ROTATION_OVERLAP", &self.rotation_overlap)?,
        })
    }
}
