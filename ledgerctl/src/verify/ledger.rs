//! The ledger checks of `verify`, on the re-fold of the log: the money
//! identity per currency, each transfer's legs, and transfers left open too
//! long. Pure: the caller reads the log and the read models.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use events::ledger::transfer_of;
use events::{Account, AccountEvent, Effect, Event, Legs, TransferStatus};
use uuid::Uuid;

/// What the re-fold says about one transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferFold {
    pub legs: Legs,
    /// How many legs of each kind (event type) the log accepted: one at most.
    pub counts: BTreeMap<&'static str, u32>,
    /// When the first leg occurred.
    pub first_at: Option<DateTime<Utc>>,
    /// When the hold was posted, for a two-phase transfer.
    pub posted_at: Option<DateTime<Utc>>,
    /// When the hold expires, for a two-phase transfer.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The money and transfers of the whole log, as the fold accepted them.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per account, the sum of the effects of its accepted events.
    effects: HashMap<Uuid, Effect>,
    pub transfers: HashMap<Uuid, TransferFold>,
}

impl Ledger {
    /// Records one accepted event of `account`.
    pub fn record(&mut self, account: Uuid, event: &Event) {
        let effect = Effect::of(&event.payload);
        if effect != Effect::default() {
            self.effects.entry(account).or_default().add(effect);
        }
        let Some(id) = transfer_of(&event.payload) else { return };
        let transfer = self.transfers.entry(id).or_default();
        transfer.legs.record(&event.payload);
        *transfer.counts.entry(event.payload.type_name()).or_default() += 1;
        let at = event.occurred_at;
        transfer.first_at = Some(transfer.first_at.map_or(at, |first| first.min(at)));
        match &event.payload {
            AccountEvent::TransferHeld(held) => transfer.expires_at = Some(held.expires_at),
            AccountEvent::HoldPosted(_) => transfer.posted_at = Some(at),
            _ => {}
        }
    }

    /// Per currency (of the account each event is on), the sum of every accepted event's effect.
    pub fn totals(&self, accounts: &HashMap<Uuid, Account>) -> BTreeMap<String, Effect> {
        let mut totals: BTreeMap<String, Effect> = BTreeMap::new();
        for (id, effect) in &self.effects {
            let currency = accounts.get(id).map(|a| a.currency.clone()).unwrap_or_default();
            totals.entry(currency).or_default().add(*effect);
        }
        totals
    }
}

fn show(e: &Effect) -> String {
    format!(
        "balances={} held={} in_transit={} deposits={} withdrawals={}",
        e.balances, e.held, e.in_transit, e.deposits, e.withdrawals
    )
}

/// The currencies whose totals break `balances + in_transit = deposits - withdrawals`.
pub fn unbalanced(totals: &BTreeMap<String, Effect>) -> Vec<String> {
    totals
        .iter()
        .filter(|(_, t)| !t.conserves_money())
        .map(|(currency, t)| format!("money identity broken in {currency:?}: {}", show(t)))
        .collect()
}

/// Where the stored totals differ from the re-folded ones; a currency missing
/// on one side counts as all zeros there.
pub fn totals_differences(folded: &BTreeMap<String, Effect>, stored: &BTreeMap<String, Effect>) -> Vec<String> {
    let zero = Effect::default();
    let mut currencies: Vec<&String> = folded.keys().chain(stored.keys()).collect();
    currencies.sort();
    currencies.dedup();
    currencies
        .into_iter()
        .filter_map(|currency| {
            let (want, have) = (folded.get(currency).unwrap_or(&zero), stored.get(currency).unwrap_or(&zero));
            (want != have).then(|| format!("ledger_totals {currency}: read model {}, log {}", show(have), show(want)))
        })
        .collect()
}

/// The leg kinds this transfer recorded more than once, with how often.
pub fn repeated_legs(transfer: &TransferFold) -> Vec<(&'static str, u32)> {
    transfer.counts.iter().filter(|(_, n)| **n > 1).map(|(kind, n)| (*kind, *n)).collect()
}

/// Why an open transfer is overdue, if it is: pending for longer than `bound`
/// (since its first leg, or since the post of a hold), or held beyond its
/// expiry plus `bound` (the driver should have expired it).
pub fn overdue(transfer: &TransferFold, now: DateTime<Utc>, bound: Duration) -> Option<String> {
    match transfer.legs.status() {
        TransferStatus::Pending => {
            let since = transfer.posted_at.or(transfer.first_at)?;
            let open = now - since;
            (open > bound).then(|| format!("pending for {} s (since {since})", open.num_seconds()))
        }
        TransferStatus::Held => {
            let expires_at = transfer.expires_at?;
            let late = now - expires_at;
            (late > bound).then(|| format!("held {} s past its expiry at {expires_at}", late.num_seconds()))
        }
        _ => None,
    }
}

/// The flags of a `transfers` row, in the order of its columns.
pub fn legs_from_flags(flags: [bool; 8]) -> Legs {
    let [debited, held, posted, voided, expired, credited, refused, reversed] = flags;
    Legs { debited, held, posted, voided, expired, credited, refused, reversed }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
