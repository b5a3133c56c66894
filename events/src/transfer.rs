//! Transfers between accounts: the rules of every leg, and what each leg does
//! to the account that records it.
//!
//! A transfer has no aggregate of its own: each step is a commit on the account
//! that decides it, in that account's partition, judged by the fold rule like
//! any other commit. The source decides at once (`TransferDebited` into transit,
//! or `TransferHeld`); post, void and expiry of a hold are decided by the source
//! too, so a post racing an expiry is settled by the source's log order. The
//! destination decides the credit: `TransferCredited`, or `TransferRefused`
//! (closed, frozen, never opened, other currency), recorded either way so that
//! the outcome is decided exactly once. A refusal is answered by
//! `TransferReversed` on the source. Each account remembers every transfer it
//! took part in (`Account::transfers`), so no leg can be recorded twice.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{check_amount, check_text, invalid, personal, Account, AccountEvent, Command, Status};
use crate::error::DomainError;
use crate::personal::Personal;

/// Longest timeout of a hold, in seconds (30 days).
pub const MAX_TIMEOUT_SECS: u64 = 30 * 86_400;
/// The timeout of a hold when the request names none, in seconds (1 day).
pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;

/// What one account knows of one transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "leg", rename_all = "snake_case")]
pub enum Leg {
    /// One-phase: debited here, in transit to `to`.
    Sent {
        to: Uuid,
        amount: i64,
    },
    /// Two-phase: reserved here until post, void or expiry.
    Held {
        to: Uuid,
        amount: i64,
        expires_at: DateTime<Utc>,
    },
    /// A hold posted: `amount` debited here, in transit to `to`.
    Posted {
        to: Uuid,
        amount: i64,
    },
    Voided,
    Expired,
    /// The destination refused; the money in transit came back (`posted`: it was a posted hold).
    Reversed {
        posted: bool,
    },
    /// Credited here (this account is the destination).
    Received,
    /// Refused here (this account is the destination).
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferDebited {
    pub transfer_id: Uuid,
    pub to: Uuid,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Personal>,
    pub balance_after: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferHeld {
    pub transfer_id: Uuid,
    pub to: Uuid,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Personal>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldPosted {
    pub transfer_id: Uuid,
    pub to: Uuid,
    /// What is captured and sent on; `hold_amount - amount` is released.
    pub amount: i64,
    pub hold_amount: i64,
    pub balance_after: i64,
}

/// A hold released whole: voided, or expired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldReleased {
    pub transfer_id: Uuid,
    pub amount: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferCredited {
    pub transfer_id: Uuid,
    pub from: Uuid,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Personal>,
    pub balance_after: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRefused {
    pub transfer_id: Uuid,
    pub from: Uuid,
    pub amount: i64,
    /// The error code the credit would have got: `not_found`, `account_closed`, ...
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferReversed {
    pub transfer_id: Uuid,
    pub amount: i64,
    pub balance_after: i64,
}

/// The amount may leave the account: `balance - held - amount` stays at or
/// above minus the overdraft limit.
pub fn check_available(state: &Account, amount: i64) -> Result<(), DomainError> {
    let after = state.balance - state.held - amount;
    if after < -state.overdraft_limit {
        return Err(DomainError::InsufficientFunds {
            balance: state.balance,
            held: state.held,
            overdraft_limit: state.overdraft_limit,
            amount,
        });
    }
    Ok(())
}

/// Every rule of a transfer leg: given the account that records it, what events?
pub fn decide(state: &Account, command: &Command) -> Result<Vec<AccountEvent>, DomainError> {
    let event = match command {
        Command::InitiateTransfer {
            transfer_id,
            from,
            to,
            amount,
            reference,
            pending,
            timeout_secs,
            destination_currency,
            now,
        } => {
            check_amount(*amount)?;
            check_text("reference", reference)?;
            if from == to {
                return Err(invalid("from and to must be different accounts"));
            }
            match (pending, timeout_secs) {
                (false, Some(_)) => return Err(invalid("timeout_secs applies to pending transfers only")),
                (true, Some(t)) if !(1..=MAX_TIMEOUT_SECS).contains(t) => {
                    return Err(invalid(format!("timeout_secs must be between 1 and {MAX_TIMEOUT_SECS}")))
                }
                _ => {}
            }
            match state.status {
                Status::NotOpened => return Err(DomainError::NotFound),
                Status::Closed => return Err(DomainError::Closed),
                Status::Frozen => return Err(DomainError::Frozen),
                Status::Open => {}
            }
            if let Some(destination) = destination_currency.as_ref().filter(|c| **c != state.currency) {
                return Err(DomainError::CurrencyMismatch {
                    from_currency: state.currency.clone(),
                    to_currency: destination.clone(),
                });
            }
            if state.transfers.contains_key(transfer_id) {
                return Err(DomainError::TransferExists);
            }
            check_available(state, *amount)?;
            let (transfer_id, to, amount, reference) = (*transfer_id, *to, *amount, personal(reference));
            if *pending {
                let timeout = timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
                let expires_at = *now + Duration::seconds(timeout as i64);
                AccountEvent::TransferHeld(TransferHeld { transfer_id, to, amount, reference, expires_at })
            } else {
                let balance_after = state.balance - amount;
                AccountEvent::TransferDebited(TransferDebited { transfer_id, to, amount, reference, balance_after })
            }
        }
        Command::PostTransfer { transfer_id, amount, now } => {
            let (to, hold) = open_hold(state, transfer_id, *now)?;
            if state.status == Status::Frozen {
                return Err(DomainError::Frozen);
            }
            let posted = amount.unwrap_or(hold);
            if !(1..=hold).contains(&posted) {
                return Err(invalid(format!("amount must be between 1 and the held {hold}")));
            }
            let balance_after = state.balance - posted;
            let transfer_id = *transfer_id;
            AccountEvent::HoldPosted(HoldPosted { transfer_id, to, amount: posted, hold_amount: hold, balance_after })
        }
        Command::VoidTransfer { transfer_id, now } => {
            let (_, amount) = open_hold(state, transfer_id, *now)?;
            AccountEvent::HoldVoided(HoldReleased { transfer_id: *transfer_id, amount })
        }
        Command::ExpireTransfer { transfer_id, now } => match state.transfers.get(transfer_id) {
            Some(Leg::Held { amount, expires_at, .. }) if now >= expires_at => {
                AccountEvent::HoldExpired(HoldReleased { transfer_id: *transfer_id, amount: *amount })
            }
            Some(Leg::Held { .. }) => return Err(DomainError::TransferNotExpired),
            other => return Err(resolved(other)),
        },
        Command::CreditTransfer { transfer_id, from, amount, currency, reference } => {
            check_amount(*amount)?;
            if state.transfers.contains_key(transfer_id) {
                return Err(DomainError::TransferLegRecorded);
            }
            let refusal = match state.status {
                Status::NotOpened => Some(DomainError::NotFound),
                Status::Closed => Some(DomainError::Closed),
                Status::Frozen => Some(DomainError::Frozen),
                Status::Open if state.currency != *currency => Some(DomainError::CurrencyMismatch {
                    from_currency: currency.clone(),
                    to_currency: state.currency.clone(),
                }),
                Status::Open => None,
            };
            let (transfer_id, from, amount) = (*transfer_id, *from, *amount);
            match refusal {
                Some(reason) => AccountEvent::TransferRefused(TransferRefused {
                    transfer_id,
                    from,
                    amount,
                    reason: reason.code().into(),
                }),
                None => AccountEvent::TransferCredited(TransferCredited {
                    transfer_id,
                    from,
                    amount,
                    reference: reference.clone(),
                    balance_after: state.balance + amount,
                }),
            }
        }
        Command::ReverseTransfer { transfer_id } => match state.transfers.get(transfer_id) {
            Some(Leg::Sent { amount, .. } | Leg::Posted { amount, .. }) => {
                AccountEvent::TransferReversed(TransferReversed {
                    transfer_id: *transfer_id,
                    amount: *amount,
                    balance_after: state.balance + amount,
                })
            }
            Some(Leg::Reversed { .. }) => return Err(DomainError::TransferLegRecorded),
            Some(_) => return Err(DomainError::TransferNotPending),
            None => return Err(DomainError::TransferNotFound),
        },
        _ => unreachable!("only transfer commands are decided here"),
    };
    Ok(vec![event])
}

/// The hold `transfer_id` if it is open and not past its timeout: `(to, amount)`.
fn open_hold(state: &Account, transfer_id: &Uuid, now: DateTime<Utc>) -> Result<(Uuid, i64), DomainError> {
    match state.transfers.get(transfer_id) {
        Some(Leg::Held { expires_at, .. }) if now >= *expires_at => Err(DomainError::TransferExpired),
        Some(Leg::Held { to, amount, .. }) => Ok((*to, *amount)),
        other => Err(resolved(other)),
    }
}

/// Why a transfer that is not an open hold cannot be posted, voided or expired.
fn resolved(leg: Option<&Leg>) -> DomainError {
    match leg {
        None | Some(Leg::Received | Leg::Refused) => DomainError::TransferNotFound,
        Some(Leg::Posted { .. } | Leg::Reversed { posted: true }) => DomainError::TransferAlreadyPosted,
        Some(Leg::Voided) => DomainError::TransferAlreadyVoided,
        Some(Leg::Expired) => DomainError::TransferExpired,
        Some(Leg::Sent { .. } | Leg::Reversed { posted: false } | Leg::Held { .. }) => DomainError::TransferNotPending,
    }
}

/// Folds one transfer event into the account that records it. Every amount it
/// needs is in the event, so it is right even on a state that does not carry
/// `transfers` (a read model's).
pub fn apply(state: &mut Account, event: &AccountEvent) {
    let (id, leg) = match event {
        AccountEvent::TransferDebited(e) => {
            state.balance = e.balance_after;
            (e.transfer_id, Leg::Sent { to: e.to, amount: e.amount })
        }
        AccountEvent::TransferHeld(e) => {
            state.held += e.amount;
            (e.transfer_id, Leg::Held { to: e.to, amount: e.amount, expires_at: e.expires_at })
        }
        AccountEvent::HoldPosted(e) => {
            state.held -= e.hold_amount;
            state.balance = e.balance_after;
            (e.transfer_id, Leg::Posted { to: e.to, amount: e.amount })
        }
        AccountEvent::HoldVoided(e) => {
            state.held -= e.amount;
            (e.transfer_id, Leg::Voided)
        }
        AccountEvent::HoldExpired(e) => {
            state.held -= e.amount;
            (e.transfer_id, Leg::Expired)
        }
        AccountEvent::TransferCredited(e) => {
            state.balance = e.balance_after;
            (e.transfer_id, Leg::Received)
        }
        AccountEvent::TransferRefused(e) => (e.transfer_id, Leg::Refused),
        AccountEvent::TransferReversed(e) => {
            state.balance = e.balance_after;
            let posted = matches!(state.transfers.get(&e.transfer_id), Some(Leg::Posted { .. }));
            (e.transfer_id, Leg::Reversed { posted })
        }
        _ => return,
    };
    state.transfers.insert(id, leg);
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
