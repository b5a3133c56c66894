//! Why `decide` refused a command: one variant per stable error code.

/// Why `decide` refused a command. Each maps to one stable error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Validation(String),
    #[error("account not found")]
    NotFound,
    #[error("account already exists")]
    AlreadyExists,
    #[error(
        "insufficient funds: balance {balance}, held {held}, overdraft limit {overdraft_limit}, requested {amount}"
    )]
    InsufficientFunds { balance: i64, held: i64, overdraft_limit: i64, amount: i64 },
    #[error("account is frozen")]
    Frozen,
    #[error("account is not frozen")]
    NotFrozen,
    #[error("account is closed")]
    Closed,
    #[error("account balance is {balance} with {held} held; both must be zero to close")]
    NonzeroBalance { balance: i64, held: i64 },
    #[error("the destination account has currency {to_currency}, the source {from_currency}")]
    CurrencyMismatch { from_currency: String, to_currency: String },
    #[error("transfer not found")]
    TransferNotFound,
    #[error("a transfer with this id was already made from this account")]
    TransferExists,
    #[error("the transfer was already posted")]
    TransferAlreadyPosted,
    #[error("the transfer was already voided")]
    TransferAlreadyVoided,
    #[error("the transfer expired")]
    TransferExpired,
    #[error("the transfer is not a pending (two-phase) transfer")]
    TransferNotPending,
    #[error("this leg of the transfer is already recorded")]
    TransferLegRecorded,
    #[error("the hold has not reached its timeout yet")]
    TransferNotExpired,
    #[error("the data subject is erased")]
    SubjectErased,
}

impl DomainError {
    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Validation(_) => "validation_failed",
            DomainError::NotFound | DomainError::TransferNotFound => "not_found",
            DomainError::AlreadyExists => "account_exists",
            DomainError::InsufficientFunds { .. } => "insufficient_funds",
            DomainError::Frozen => "account_frozen",
            DomainError::NotFrozen => "account_not_frozen",
            DomainError::Closed => "account_closed",
            DomainError::NonzeroBalance { .. } => "nonzero_balance",
            DomainError::CurrencyMismatch { .. } => "currency_mismatch",
            DomainError::TransferExists => "transfer_exists",
            DomainError::TransferAlreadyPosted => "transfer_already_posted",
            DomainError::TransferAlreadyVoided => "transfer_already_voided",
            DomainError::TransferExpired => "transfer_expired",
            DomainError::TransferNotPending => "transfer_not_pending",
            DomainError::TransferLegRecorded => "transfer_leg_recorded",
            DomainError::TransferNotExpired => "transfer_not_expired",
            DomainError::SubjectErased => "subject_erased",
        }
    }
}
