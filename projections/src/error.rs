//! The crate's one error type.

/// What can go wrong in a projection worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] ledger_runtime::kafka::Error),
    #[error("kafka: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The checkpoint moved under us: another worker owns the partition now.
    #[error("partition {partition} was taken over: checkpoint is no longer at {expected}")]
    LostPartition { partition: i32, expected: i64 },
    #[error(transparent)]
    Auth(#[from] ledger_runtime::auth::AuthError),
    /// Another replay holds the replay lock of this database.
    #[error("another replay is running on this database")]
    ReplayRunning,
    /// A replay was asked for a projector this build does not have.
    #[error("no projector named {0:?} (known: {1})")]
    UnknownProjector(String, String),
}
