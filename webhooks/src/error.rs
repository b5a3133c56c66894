//! The crate's one error type. `http::problem` maps it to HTTP.

use crate::egress::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Validation(String),
    /// The endpoint's URL is refused (SSRF rules), with its stable code.
    #[error(transparent)]
    Url(#[from] Refusal),
    /// The body or query string cannot be read.
    #[error("{0}")]
    Malformed(String),
    #[error("the body must be application/json")]
    MediaType,
    #[error("the body is too large")]
    TooLarge,
    #[error("the cursor is not one this service handed out")]
    BadCursor,
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Auth(#[from] ledger_runtime::auth::AuthError),
    #[error(transparent)]
    Keys(#[from] ledger_runtime::keys::KeyError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
