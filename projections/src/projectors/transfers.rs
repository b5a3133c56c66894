//! `transfers`: one row per transfer, merged from its legs, and one
//! `transfer_steps` row per leg.
//!
//! A transfer's legs are in the partitions of its two accounts, so workers of
//! different partitions project them, in either order, possibly at once. Each
//! batch first merges the legs of a transfer it holds into one row, then
//! upserts the rows with a commutative merge (see [`store::transfers`]): the
//! source leg is final for what it carries, the others fill what is missing.

use std::collections::HashMap;

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgConnection;

use events::ledger::transfer_of;
use events::{AccountEvent, Event, Legs};
use uuid::Uuid;

use crate::batch::FoldedBatch;
use crate::error::Error;
use crate::projector::Projector;
use crate::store::transfers::{self as store, StepRow, TransferRow};

pub struct Transfers;

impl Projector for Transfers {
    fn name(&self) -> &'static str {
        "transfers"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["transfers", "transfer_steps"]
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, batch: &'a FoldedBatch) -> BoxFuture<'a, Result<(), Error>> {
        let (transfers, steps) = merge(batch);
        async move {
            store::upsert_transfers(tx, &transfers).await?;
            store::insert_steps(tx, batch.partition, &steps).await
        }
        .boxed()
    }
}

/// The batch's transfers (one row each, sorted by id) and steps (in log order).
pub fn merge(batch: &FoldedBatch) -> (Vec<TransferRow>, Vec<StepRow>) {
    let mut rows: HashMap<Uuid, TransferRow> = HashMap::new();
    let mut steps = Vec::new();
    for accepted in &batch.accepted {
        let account = accepted.commit.aggregate_id;
        let currency = batch.accounts.get(&account).map(|s| s.account.currency.as_str()).filter(|c| !c.is_empty());
        for event in &accepted.commit.events {
            let Some(id) = transfer_of(&event.payload) else { continue };
            let row = rows.entry(id).or_insert_with(|| empty(id, event));
            merge_leg(row, account, currency, event);
            steps.push(StepRow {
                transfer_id: id,
                account_id: account,
                step: event.payload.type_name(),
                amount: step_amount(&event.payload),
                offset: accepted.offset,
                occurred_at: event.occurred_at,
            });
        }
    }
    let mut rows: Vec<TransferRow> = rows.into_values().collect();
    rows.sort_unstable_by_key(|r| r.id);
    (rows, steps)
}

fn empty(id: Uuid, event: &Event) -> TransferRow {
    TransferRow {
        id,
        from_account: None,
        to_account: None,
        currency: None,
        amount: None,
        posted_amount: None,
        pending: None,
        reference: None,
        expires_at: None,
        refused_reason: None,
        legs: Legs::default(),
        created_at: event.occurred_at,
        updated_at: event.occurred_at,
    }
}

/// Merges one leg, recorded on `account` (of `currency`), into the row, by the
/// rule the upsert applies between batches.
fn merge_leg(row: &mut TransferRow, account: Uuid, currency: Option<&str>, event: &Event) {
    let currency = currency.map(str::to_owned);
    row.legs.record(&event.payload);
    row.created_at = row.created_at.min(event.occurred_at);
    row.updated_at = row.updated_at.max(event.occurred_at);
    match &event.payload {
        AccountEvent::TransferDebited(e) => {
            source(row, Known { from: account, to: e.to, currency, amount: e.amount, reference: e.reference.clone() });
            (row.pending, row.expires_at) = (Some(false), None);
        }
        AccountEvent::TransferHeld(e) => {
            source(row, Known { from: account, to: e.to, currency, amount: e.amount, reference: e.reference.clone() });
            (row.pending, row.expires_at) = (Some(true), Some(e.expires_at));
        }
        AccountEvent::HoldPosted(e) => {
            fill(row, Some(account), Some(e.to), currency, None, None);
            row.posted_amount = row.posted_amount.or(Some(e.amount));
        }
        AccountEvent::HoldVoided(_) | AccountEvent::HoldExpired(_) | AccountEvent::TransferReversed(_) => {
            fill(row, Some(account), None, currency, None, None);
        }
        AccountEvent::TransferCredited(e) => {
            fill(row, Some(e.from), Some(account), currency, Some(e.amount), e.reference.clone());
        }
        // The destination's currency may be why it refused: only the source's counts.
        AccountEvent::TransferRefused(e) => {
            fill(row, Some(e.from), Some(account), None, Some(e.amount), None);
            row.refused_reason = row.refused_reason.take().or_else(|| Some(e.reason.clone()));
        }
        _ => {}
    }
}

/// What the source leg says of its transfer.
struct Known {
    from: Uuid,
    to: Uuid,
    currency: Option<String>,
    amount: i64,
    reference: Option<events::Personal>,
}

/// The source leg is final for everything it carries.
fn source(row: &mut TransferRow, known: Known) {
    row.from_account = Some(known.from);
    row.to_account = Some(known.to);
    row.currency = known.currency;
    row.amount = Some(known.amount);
    row.reference = known.reference;
}

/// Another leg only fills what is missing, and nothing once the source leg is in.
fn fill(
    row: &mut TransferRow,
    from: Option<Uuid>,
    to: Option<Uuid>,
    currency: Option<String>,
    amount: Option<i64>,
    reference: Option<events::Personal>,
) {
    if row.legs.debited || row.legs.held {
        return;
    }
    row.from_account = row.from_account.or(from);
    row.to_account = row.to_account.or(to);
    row.currency = row.currency.take().or(currency);
    row.amount = row.amount.or(amount);
    row.reference = row.reference.take().or(reference);
}

/// The amount a step records: what the event moves (posted: what was captured).
fn step_amount(event: &AccountEvent) -> i64 {
    match event {
        AccountEvent::TransferDebited(e) => e.amount,
        AccountEvent::TransferHeld(e) => e.amount,
        AccountEvent::HoldPosted(e) => e.amount,
        AccountEvent::HoldVoided(e) | AccountEvent::HoldExpired(e) => e.amount,
        AccountEvent::TransferCredited(e) => e.amount,
        AccountEvent::TransferRefused(e) => e.amount,
        AccountEvent::TransferReversed(e) => e.amount,
        _ => 0,
    }
}

#[cfg(test)]
#[path = "transfers_tests.rs"]
mod tests;
