//! The ledger across accounts: what each event does to the totals, and the
//! status of a transfer from the legs seen so far.
//!
//! Money identity: for every event, `balance + in_transit - deposits +
//! withdrawals` does not change. A debit moves money from a balance into
//! transit, a credit or a reversal moves it out of transit into a balance.
//! Each leg's effect is recorded with the account row it changes, in the same
//! transaction, so the identity holds on any snapshot of the read models, even
//! when the credit is projected before its debit (transit is then negative).

use serde::{Deserialize, Serialize};

use crate::account::AccountEvent;
use crate::transfer::Leg;

/// What one event adds to the ledger totals of its account's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub balances: i64,
    pub held: i64,
    pub in_transit: i64,
    pub deposits: i64,
    pub withdrawals: i64,
}

impl Effect {
    pub fn of(event: &AccountEvent) -> Effect {
        let zero = Effect::default();
        match event {
            AccountEvent::MoneyDeposited(e) => Effect { balances: e.amount, deposits: e.amount, ..zero },
            AccountEvent::MoneyWithdrawn(e) => Effect { balances: -e.amount, withdrawals: e.amount, ..zero },
            AccountEvent::TransferDebited(e) => Effect { balances: -e.amount, in_transit: e.amount, ..zero },
            AccountEvent::TransferHeld(e) => Effect { held: e.amount, ..zero },
            AccountEvent::HoldPosted(e) => {
                Effect { balances: -e.amount, held: -e.hold_amount, in_transit: e.amount, ..zero }
            }
            AccountEvent::HoldVoided(e) | AccountEvent::HoldExpired(e) => Effect { held: -e.amount, ..zero },
            AccountEvent::TransferCredited(e) => Effect { balances: e.amount, in_transit: -e.amount, ..zero },
            AccountEvent::TransferReversed(e) => Effect { balances: e.amount, in_transit: -e.amount, ..zero },
            AccountEvent::AccountOpened(_)
            | AccountEvent::AccountFrozen(_)
            | AccountEvent::AccountUnfrozen
            | AccountEvent::AccountClosed
            | AccountEvent::TransferRefused(_) => zero,
        }
    }

    pub fn add(&mut self, other: Effect) {
        self.balances += other.balances;
        self.held += other.held;
        self.in_transit += other.in_transit;
        self.deposits += other.deposits;
        self.withdrawals += other.withdrawals;
    }

    /// `balances + in_transit == deposits - withdrawals`.
    pub fn conserves_money(&self) -> bool {
        self.balances + self.in_transit == self.deposits - self.withdrawals
    }
}

/// Where a transfer stands. Final: `Completed`, `Reversed`, `Voided`, `Expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// Debited (or posted), not yet credited or reversed.
    Pending,
    /// A two-phase transfer waiting for post, void or expiry.
    Held,
    Completed,
    Reversed,
    Voided,
    Expired,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Held => "held",
            TransferStatus::Completed => "completed",
            TransferStatus::Reversed => "reversed",
            TransferStatus::Voided => "voided",
            TransferStatus::Expired => "expired",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, TransferStatus::Pending | TransferStatus::Held)
    }
}

/// The legs of one transfer seen so far, in any order. The projection keeps
/// the same flags as columns and derives the status with the same rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Legs {
    pub debited: bool,
    pub held: bool,
    pub posted: bool,
    pub voided: bool,
    pub expired: bool,
    pub credited: bool,
    pub refused: bool,
    pub reversed: bool,
}

impl Legs {
    /// Records the leg `event` is, if it is one.
    pub fn record(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::TransferDebited(_) => self.debited = true,
            AccountEvent::TransferHeld(_) => self.held = true,
            AccountEvent::HoldPosted(_) => self.posted = true,
            AccountEvent::HoldVoided(_) => self.voided = true,
            AccountEvent::HoldExpired(_) => self.expired = true,
            AccountEvent::TransferCredited(_) => self.credited = true,
            AccountEvent::TransferRefused(_) => self.refused = true,
            AccountEvent::TransferReversed(_) => self.reversed = true,
            _ => {}
        }
    }

    /// Records what one account's memory of the transfer says of its legs
    /// (the state a writer folded, rather than the events themselves).
    pub fn record_leg(&mut self, leg: &Leg) {
        match leg {
            Leg::Sent { .. } => self.debited = true,
            Leg::Held { .. } => self.held = true,
            Leg::Posted { .. } => (self.held, self.posted) = (true, true),
            Leg::Voided => (self.held, self.voided) = (true, true),
            Leg::Expired => (self.held, self.expired) = (true, true),
            Leg::Reversed { posted } => {
                (self.reversed, self.refused) = (true, true);
                if *posted {
                    (self.held, self.posted) = (true, true);
                } else {
                    self.debited = true;
                }
            }
            Leg::Received => self.credited = true,
            Leg::Refused => self.refused = true,
        }
    }

    /// What the legs recorded on two accounts say together.
    pub fn merge(&mut self, other: &Legs) {
        self.debited |= other.debited;
        self.held |= other.held;
        self.posted |= other.posted;
        self.voided |= other.voided;
        self.expired |= other.expired;
        self.credited |= other.credited;
        self.refused |= other.refused;
        self.reversed |= other.reversed;
    }

    /// The status rule. A refusal not yet reversed is still `Pending`: the
    /// money is on its way back.
    pub fn status(&self) -> TransferStatus {
        if self.reversed {
            TransferStatus::Reversed
        } else if self.credited {
            TransferStatus::Completed
        } else if self.voided {
            TransferStatus::Voided
        } else if self.expired {
            TransferStatus::Expired
        } else if self.held && !self.posted {
            TransferStatus::Held
        } else {
            TransferStatus::Pending
        }
    }
}

/// The transfer an event is a leg of.
pub fn transfer_of(event: &AccountEvent) -> Option<uuid::Uuid> {
    match event {
        AccountEvent::TransferDebited(e) => Some(e.transfer_id),
        AccountEvent::TransferHeld(e) => Some(e.transfer_id),
        AccountEvent::HoldPosted(e) => Some(e.transfer_id),
        AccountEvent::HoldVoided(e) | AccountEvent::HoldExpired(e) => Some(e.transfer_id),
        AccountEvent::TransferCredited(e) => Some(e.transfer_id),
        AccountEvent::TransferRefused(e) => Some(e.transfer_id),
        AccountEvent::TransferReversed(e) => Some(e.transfer_id),
        _ => None,
    }
}
