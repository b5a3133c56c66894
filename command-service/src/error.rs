//! The crate's errors. `http::problem` is the one place that maps them to HTTP.

use events::DomainError;

/// Everything that can go wrong in the command service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command was refused; the client can act on it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Kafka(#[from] ledger_runtime::kafka::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("snapshot: {0}")]
    Snapshot(#[from] serde_json::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Auth(#[from] ledger_runtime::auth::AuthError),
    #[error(transparent)]
    Keys(#[from] ledger_runtime::keys::KeyError),
}

/// Why a command got no commit. Cheap to clone: one outcome can answer several
/// waiters (in-batch retries of one idempotency key).
#[derive(Clone, Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the account is at version {actual}, the request expected {expected}")]
    VersionConflict { expected: u64, actual: u64 },
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The fold rejected this very commit at `position` (another writer appended
    /// to the account first), and the command is in no accepted commit up to
    /// the log's end as the writer read it: retry it with the same key.
    #[error("another writer appended to this account first; commit {commit_id} was rejected at partition {} offset {}; retry the request with the same Idempotency-Key", position.partition, position.offset)]
    WriteConflict { commit_id: uuid::Uuid, position: events::Position },
    #[error("{0}")]
    Unavailable(String),
    /// The account's partition is owned by another instance: forward it there.
    #[error("partition {0} is served by another instance")]
    Elsewhere(i32),
    /// The transfer is not known on the partitions `searched` (those served
    /// here when it was looked up): ask the others, who say which they searched.
    #[error("no transfer with this id")]
    NotHere { searched: Vec<i32> },
    #[error("{0}")]
    BadRequest(String),
    /// No data subject by this id or name.
    #[error("no data subject by this id or name")]
    UnknownSubject,
    #[error("request body is larger than this service accepts")]
    PayloadTooLarge,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// The token's roles or subject do not allow this command.
    #[error("{0}")]
    Forbidden(&'static str),
}
