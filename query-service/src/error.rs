//! The crate's one error type. `http::problem` maps it to HTTP.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Validation(String),
    #[error("the cursor is not one this service handed out")]
    BadCursor,
    #[error("the read models did not reach the requested position within {0} ms")]
    NotYetConsistent(u64),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// An archived event this build cannot read (written by a newer one).
    #[error("archived event: {0}")]
    Decode(#[from] events::DecodeError),
    #[error(transparent)]
    Auth(#[from] ledger_runtime::auth::AuthError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the key store is unavailable")]
    KeysUnavailable,
    #[error(transparent)]
    Keys(#[from] ledger_runtime::keys::KeyError),
}
