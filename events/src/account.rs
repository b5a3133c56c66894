//! The account aggregate: commands, events, `decide` and `apply`.
//!
//! `decide` holds every business rule and never mutates; `apply` folds one
//! event into the state, cannot fail and does no I/O. Amounts are integer
//! minor units (`i64`); every sum is checked, never wrapped.

use chrono::{DateTime, Utc};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::currency::is_iso4217;
pub use crate::error::DomainError;
use crate::personal::Personal;
use crate::transfer::{self, Leg};
pub use crate::transfer::{
    HoldPosted, HoldReleased, TransferCredited, TransferDebited, TransferHeld, TransferRefused, TransferReversed,
};

/// The aggregate type recorded in every account commit.
pub const AGGREGATE_TYPE: &str = "account";
/// Longest owner, reference or reason text accepted, in characters.
pub const MAX_TEXT_LEN: usize = 256;
/// Largest amount (and overdraft limit) one command may carry, in minor units:
/// 10^15, ten trillion in a two-decimal currency. Keeps every sum far from overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Lifecycle of an account. `NotOpened` is the state of an id with no history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    NotOpened,
    Open,
    Frozen,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotOpened => "not_opened",
            Status::Open => "open",
            Status::Frozen => "frozen",
            Status::Closed => "closed",
        }
    }
}

/// The folded state of one account. `version` counts the events applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub version: u64,
    pub status: Status,
    /// Sealed in every commit written since sealing began (its subject id is
    /// in clear); clear text in older ones.
    pub owner: Personal,
    pub currency: String,
    pub balance: i64,
    pub overdraft_limit: i64,
    /// The sum of this account's open holds: reserved, still in `balance`.
    #[serde(default)]
    pub held: i64,
    /// Every transfer this account took part in, and how far it got here. A
    /// persistent map: the writer clones an account for every command it
    /// plans, and this clone must not grow with the account's history.
    #[serde(default, skip_serializing_if = "OrdMap::is_empty")]
    pub transfers: OrdMap<Uuid, Leg>,
    /// The id of the last commit the fold accepted for this account (`None`
    /// before the first, or when the state was stored before heads were kept).
    #[serde(default)]
    pub head: Option<Uuid>,
}

/// What a client asks of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "PascalCase")]
pub enum Command {
    OpenAccount {
        owner: String,
        currency: String,
        overdraft_limit: i64,
    },
    Deposit {
        amount: i64,
        reference: Option<String>,
    },
    Withdraw {
        amount: i64,
        reference: Option<String>,
    },
    FreezeAccount {
        reason: Option<String>,
    },
    UnfreezeAccount,
    CloseAccount,
    /// On the source: take `amount` out of the available balance, into transit
    /// (one-phase) or into a hold (`pending`). `now` and `destination_currency`
    /// (when the caller knows it) are context, not content: not fingerprinted.
    InitiateTransfer {
        transfer_id: Uuid,
        from: Uuid,
        to: Uuid,
        amount: i64,
        reference: Option<String>,
        pending: bool,
        timeout_secs: Option<u64>,
        #[serde(skip)]
        destination_currency: Option<String>,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// On the source: capture a hold, all of it or `amount` of it (the rest is released).
    PostTransfer {
        transfer_id: Uuid,
        amount: Option<i64>,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// On the source: release a hold.
    VoidTransfer {
        transfer_id: Uuid,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// On the source, from the transfer driver: release a hold past its timeout.
    ExpireTransfer {
        transfer_id: Uuid,
        #[serde(skip)]
        now: DateTime<Utc>,
    },
    /// On the destination, from the transfer driver: credit, or record the refusal.
    CreditTransfer {
        transfer_id: Uuid,
        from: Uuid,
        amount: i64,
        currency: String,
        /// The source's reference as its commit holds it (sealed for the
        /// source's owner, or clear in an old log).
        reference: Option<Personal>,
    },
    /// On the source, from the transfer driver: the destination refused; give the money back.
    ReverseTransfer {
        transfer_id: Uuid,
    },
}

impl Command {
    /// A command whose rules live in the transfer module.
    pub fn is_transfer(&self) -> bool {
        matches!(
            self,
            Command::InitiateTransfer { .. }
                | Command::PostTransfer { .. }
                | Command::VoidTransfer { .. }
                | Command::ExpireTransfer { .. }
                | Command::CreditTransfer { .. }
                | Command::ReverseTransfer { .. }
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::OpenAccount { .. } => "OpenAccount",
            Command::Deposit { .. } => "Deposit",
            Command::Withdraw { .. } => "Withdraw",
            Command::FreezeAccount { .. } => "FreezeAccount",
            Command::UnfreezeAccount => "UnfreezeAccount",
            Command::CloseAccount => "CloseAccount",
            Command::InitiateTransfer { .. } => "InitiateTransfer",
            Command::PostTransfer { .. } => "PostTransfer",
            Command::VoidTransfer { .. } => "VoidTransfer",
            Command::ExpireTransfer { .. } => "ExpireTransfer",
            Command::CreditTransfer { .. } => "CreditTransfer",
            Command::ReverseTransfer { .. } => "ReverseTransfer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountOpened {
    pub owner: Personal,
    pub currency: String,
    pub overdraft_limit: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyMoved {
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Personal>,
    pub balance_after: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFrozen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Personal>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// What happened to an account. Each carries the balance after it where it moves money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountEvent {
    AccountOpened(AccountOpened),
    MoneyDeposited(MoneyMoved),
    MoneyWithdrawn(MoneyMoved),
    AccountFrozen(AccountFrozen),
    AccountUnfrozen,
    AccountClosed,
    TransferDebited(TransferDebited),
    TransferHeld(TransferHeld),
    HoldPosted(HoldPosted),
    HoldVoided(HoldReleased),
    HoldExpired(HoldReleased),
    TransferCredited(TransferCredited),
    TransferRefused(TransferRefused),
    TransferReversed(TransferReversed),
}

impl AccountEvent {
    /// The event's type name on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            AccountEvent::AccountOpened(_) => "AccountOpened",
            AccountEvent::MoneyDeposited(_) => "MoneyDeposited",
            AccountEvent::MoneyWithdrawn(_) => "MoneyWithdrawn",
            AccountEvent::AccountFrozen(_) => "AccountFrozen",
            AccountEvent::AccountUnfrozen => "AccountUnfrozen",
            AccountEvent::AccountClosed => "AccountClosed",
            AccountEvent::TransferDebited(_) => "TransferDebited",
            AccountEvent::TransferHeld(_) => "TransferHeld",
            AccountEvent::HoldPosted(_) => "HoldPosted",
            AccountEvent::HoldVoided(_) => "HoldVoided",
            AccountEvent::HoldExpired(_) => "HoldExpired",
            AccountEvent::TransferCredited(_) => "TransferCredited",
            AccountEvent::TransferRefused(_) => "TransferRefused",
            AccountEvent::TransferReversed(_) => "TransferReversed",
        }
    }

    /// Its personal fields, by name: what is sealed for the account's owner.
    pub fn personal_mut(&mut self) -> Vec<(&'static str, &mut Personal)> {
        let (name, field) = match self {
            AccountEvent::AccountOpened(e) => return vec![("owner", &mut e.owner)],
            AccountEvent::MoneyDeposited(e) | AccountEvent::MoneyWithdrawn(e) => ("reference", &mut e.reference),
            AccountEvent::AccountFrozen(e) => ("reason", &mut e.reason),
            AccountEvent::TransferDebited(e) => ("reference", &mut e.reference),
            AccountEvent::TransferHeld(e) => ("reference", &mut e.reference),
            AccountEvent::TransferCredited(e) => ("reference", &mut e.reference),
            _ => return Vec::new(),
        };
        field.as_mut().map(|f| (name, f)).into_iter().collect()
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::Validation(msg.into())
}

pub(crate) fn check_text(field: &str, value: &Option<String>) -> Result<(), DomainError> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT_LEN => {
            Err(invalid(format!("{field} is longer than {MAX_TEXT_LEN} characters")))
        }
        Some(v) if v.chars().any(char::is_control) => Err(invalid(format!("{field} contains control characters"))),
        _ => Ok(()),
    }
}

/// An owner's name: not blank, at most [`MAX_TEXT_LEN`] characters, no control characters.
pub fn check_owner(owner: &str) -> Result<(), DomainError> {
    if owner.trim().is_empty() {
        return Err(invalid("owner must not be empty"));
    }
    check_text("owner", &Some(owner.to_owned()))
}

/// A command's text as an event's personal field (in clear until the writer seals it).
pub(crate) fn personal(text: &Option<String>) -> Option<Personal> {
    text.as_deref().map(Personal::from)
}

pub(crate) fn check_amount(amount: i64) -> Result<(), DomainError> {
    if amount <= 0 {
        return Err(invalid("amount must be a positive integer in minor units"));
    }
    if amount > MAX_AMOUNT {
        return Err(invalid(format!("amount must be at most {MAX_AMOUNT} minor units")));
    }
    Ok(())
}

/// Every rule of the account: given its state, what events does `command` cause?
pub fn decide(state: &Account, command: &Command) -> Result<Vec<AccountEvent>, DomainError> {
    if command.is_transfer() {
        return transfer::decide(state, command);
    }
    if let Command::OpenAccount { owner, currency, overdraft_limit } = command {
        if state.status != Status::NotOpened {
            return Err(DomainError::AlreadyExists);
        }
        check_owner(owner)?;
        if !is_iso4217(currency) {
            return Err(invalid(format!("currency {currency:?} is not an ISO-4217 code")));
        }
        if !(0..=MAX_AMOUNT).contains(overdraft_limit) {
            return Err(invalid(format!("overdraft_limit must be between 0 and {MAX_AMOUNT}")));
        }
        return Ok(vec![AccountEvent::AccountOpened(AccountOpened {
            owner: owner.as_str().into(),
            currency: currency.clone(),
            overdraft_limit: *overdraft_limit,
        })]);
    }
    match state.status {
        Status::NotOpened => return Err(DomainError::NotFound),
        Status::Closed => return Err(DomainError::Closed),
        Status::Open | Status::Frozen => {}
    }
    let frozen = state.status == Status::Frozen;
    let event = match command {
        Command::OpenAccount { .. } => unreachable!("handled above"),
        Command::Deposit { amount, reference } => {
            check_amount(*amount)?;
            check_text("reference", reference)?;
            let balance_after =
                state.balance.checked_add(*amount).ok_or_else(|| invalid("deposit would overflow the balance"))?;
            AccountEvent::MoneyDeposited(MoneyMoved { amount: *amount, reference: personal(reference), balance_after })
        }
        Command::Withdraw { amount, reference } => {
            check_amount(*amount)?;
            check_text("reference", reference)?;
            if frozen {
                return Err(DomainError::Frozen);
            }
            transfer::check_available(state, *amount)?;
            let balance_after = state.balance - amount;
            AccountEvent::MoneyWithdrawn(MoneyMoved { amount: *amount, reference: personal(reference), balance_after })
        }
        Command::FreezeAccount { reason } => {
            check_text("reason", reason)?;
            if frozen {
                return Err(DomainError::Frozen);
            }
            AccountEvent::AccountFrozen(AccountFrozen { reason: personal(reason) })
        }
        Command::UnfreezeAccount => {
            if !frozen {
                return Err(DomainError::NotFrozen);
            }
            AccountEvent::AccountUnfrozen
        }
        Command::CloseAccount => {
            if frozen {
                return Err(DomainError::Frozen);
            }
            if state.balance != 0 || state.held != 0 {
                return Err(DomainError::NonzeroBalance { balance: state.balance, held: state.held });
            }
            AccountEvent::AccountClosed
        }
        _ => unreachable!("transfer commands are decided by the transfer module"),
    };
    Ok(vec![event])
}

/// Folds one event into the state. It cannot fail: the log already decided.
pub fn apply(state: &mut Account, event: &AccountEvent) {
    state.version += 1;
    match event {
        AccountEvent::AccountOpened(e) => {
            state.status = Status::Open;
            state.owner.clone_from(&e.owner);
            state.currency.clone_from(&e.currency);
            state.overdraft_limit = e.overdraft_limit;
            state.balance = 0;
        }
        AccountEvent::MoneyDeposited(e) | AccountEvent::MoneyWithdrawn(e) => state.balance = e.balance_after,
        AccountEvent::AccountFrozen(_) => state.status = Status::Frozen,
        AccountEvent::AccountUnfrozen => state.status = Status::Open,
        AccountEvent::AccountClosed => state.status = Status::Closed,
        transfer_event => transfer::apply(state, transfer_event),
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
