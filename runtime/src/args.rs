//! Flags every service and tool shares, flattened into each one's
//! configuration, so that each is declared (and documented) once.

/// Where the log is: the broker and the events topic.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The events topic.
    #[arg(long, env = "EVENTS_TOPIC", default_value = "ledger.events")]
    pub events_topic: String,
    /// Partitions of the events topic, if this process is the first to create it.
    #[arg(long, env = "EVENTS_PARTITIONS", default_value_t = 8)]
    pub events_partitions: i32,
}

/// Where Postgres is.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres URL (the read models, snapshots, the cluster directory and the key store).
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/ledger")]
    pub database_url: String,
}
