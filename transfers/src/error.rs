//! The crate's one error type. Only start-up can fail: once running, the driver
//! waits out a missing broker or command service instead of exiting.

/// What can stop the driver from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] ledger_runtime::kafka::Error),
    #[error("kafka: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Auth(#[from] ledger_runtime::auth::AuthError),
    /// A setting that cannot work, found at start-up.
    #[error("configuration: {0}")]
    Config(String),
}
