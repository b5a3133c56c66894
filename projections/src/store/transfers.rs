//! SQL of the transfers read models (`transfers`, `transfer_steps`) and of the
//! ledger totals (`ledger_totals`). Lowercase SQL, binds only.
//!
//! A transfer's row is written by the workers of every partition its legs are
//! in, in either order and possibly at once, so its upsert merges
//! commutatively: flags are OR-ed, times are the least and greatest, and the
//! source leg (`TransferDebited` or `TransferHeld`) is final for the columns
//! it carries, whichever came first; other legs only fill what is still null.
//! Rows are written in id order, so two workers lock them in the same order.

use chrono::{DateTime, Utc};
use events::{Effect, Legs};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Error;

/// What one batch knows of one transfer, merged from its legs in the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    pub id: Uuid,
    pub from_account: Option<Uuid>,
    pub to_account: Option<Uuid>,
    pub currency: Option<String>,
    pub amount: Option<i64>,
    pub posted_amount: Option<i64>,
    pub pending: Option<bool>,
    pub reference: Option<events::Personal>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refused_reason: Option<String>,
    /// The legs seen; `debited || held` means the source leg is among them.
    pub legs: Legs,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One leg of a transfer, with its place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub transfer_id: Uuid,
    pub account_id: Uuid,
    pub step: &'static str,
    pub amount: i64,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

/// Upserts `rows` (at most one per id, sorted by id) into `transfers`. The
/// `status` column is generated from the flags.
pub async fn upsert_transfers(tx: &mut PgConnection, rows: &[TransferRow]) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let from: Vec<Option<Uuid>> = rows.iter().map(|r| r.from_account).collect();
    let to: Vec<Option<Uuid>> = rows.iter().map(|r| r.to_account).collect();
    let currencies: Vec<Option<&str>> = rows.iter().map(|r| r.currency.as_deref()).collect();
    let amounts: Vec<Option<i64>> = rows.iter().map(|r| r.amount).collect();
    let posted_amounts: Vec<Option<i64>> = rows.iter().map(|r| r.posted_amount).collect();
    let pending: Vec<Option<bool>> = rows.iter().map(|r| r.pending).collect();
    let references: Vec<Option<serde_json::Value>> =
        rows.iter().map(|r| r.reference.as_ref().map(super::personal_json)).collect();
    let expires: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.expires_at).collect();
    let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.refused_reason.as_deref()).collect();
    let flag = |f: fn(&Legs) -> bool| -> Vec<bool> { rows.iter().map(|r| f(&r.legs)).collect() };
    let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at).collect();
    let updated: Vec<DateTime<Utc>> = rows.iter().map(|r| r.updated_at).collect();
    sqlx::query(
        "insert into transfers (id, from_account, to_account, currency, amount, posted_amount, pending, reference,
                                expires_at, refused_reason, debited, held, posted, voided, expired, credited,
                                refused, reversed, created_at, updated_at)
         select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int8[], $6::int8[], $7::bool[],
                              $8::jsonb[], $9::timestamptz[], $10::text[], $11::bool[], $12::bool[], $13::bool[],
                              $14::bool[], $15::bool[], $16::bool[], $17::bool[], $18::bool[],
                              $19::timestamptz[], $20::timestamptz[])
                  as u(id, f, t, c, a, pa, p, r, e, rr, d, h, po, v, x, cr, rf, rv, ca, ua)
          order by id
         on conflict (id) do update set
           from_account = case when excluded.debited or excluded.held then excluded.from_account
                               when transfers.debited or transfers.held then transfers.from_account
                               else coalesce(transfers.from_account, excluded.from_account) end,
           to_account = case when excluded.debited or excluded.held then excluded.to_account
                             when transfers.debited or transfers.held then transfers.to_account
                             else coalesce(transfers.to_account, excluded.to_account) end,
           currency = case when excluded.debited or excluded.held then excluded.currency
                           when transfers.debited or transfers.held then transfers.currency
                           else coalesce(transfers.currency, excluded.currency) end,
           amount = case when excluded.debited or excluded.held then excluded.amount
                         when transfers.debited or transfers.held then transfers.amount
                         else coalesce(transfers.amount, excluded.amount) end,
           pending = case when excluded.debited or excluded.held then excluded.pending
                          when transfers.debited or transfers.held then transfers.pending
                          else coalesce(transfers.pending, excluded.pending) end,
           reference = case when excluded.debited or excluded.held then excluded.reference
                            when transfers.debited or transfers.held then transfers.reference
                            else coalesce(transfers.reference, excluded.reference) end,
           expires_at = case when excluded.debited or excluded.held then excluded.expires_at
                             when transfers.debited or transfers.held then transfers.expires_at
                             else coalesce(transfers.expires_at, excluded.expires_at) end,
           posted_amount = coalesce(transfers.posted_amount, excluded.posted_amount),
           refused_reason = coalesce(transfers.refused_reason, excluded.refused_reason),
           debited = transfers.debited or excluded.debited,
           held = transfers.held or excluded.held,
           posted = transfers.posted or excluded.posted,
           voided = transfers.voided or excluded.voided,
           expired = transfers.expired or excluded.expired,
           credited = transfers.credited or excluded.credited,
           refused = transfers.refused or excluded.refused,
           reversed = transfers.reversed or excluded.reversed,
           created_at = least(transfers.created_at, excluded.created_at),
           updated_at = greatest(transfers.updated_at, excluded.updated_at)",
    )
    .bind(&ids)
    .bind(&from)
    .bind(&to)
    .bind(&currencies)
    .bind(&amounts)
    .bind(&posted_amounts)
    .bind(&pending)
    .bind(&references)
    .bind(&expires)
    .bind(&reasons)
    .bind(flag(|l| l.debited))
    .bind(flag(|l| l.held))
    .bind(flag(|l| l.posted))
    .bind(flag(|l| l.voided))
    .bind(flag(|l| l.expired))
    .bind(flag(|l| l.credited))
    .bind(flag(|l| l.refused))
    .bind(flag(|l| l.reversed))
    .bind(&created)
    .bind(&updated)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts the steps of a batch; a step already there is left as it is.
pub async fn insert_steps(tx: &mut PgConnection, partition: i32, rows: &[StepRow]) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let transfers: Vec<Uuid> = rows.iter().map(|r| r.transfer_id).collect();
    let accounts: Vec<Uuid> = rows.iter().map(|r| r.account_id).collect();
    let steps: Vec<&str> = rows.iter().map(|r| r.step).collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    let offsets: Vec<i64> = rows.iter().map(|r| r.offset).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.occurred_at).collect();
    sqlx::query(
        "insert into transfer_steps (transfer_id, account_id, step, amount, partition, \"offset\", occurred_at)
         select x, a, s, m, $5, o, t
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $6::int8[], $7::timestamptz[])
                as u(x, a, s, m, o, t)
         on conflict do nothing",
    )
    .bind(&transfers)
    .bind(&accounts)
    .bind(&steps)
    .bind(&amounts)
    .bind(partition)
    .bind(&offsets)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds each currency's effect of a batch to the partition's `ledger_totals` row.
pub async fn add_totals(tx: &mut PgConnection, partition: i32, deltas: &[(String, Effect)]) -> Result<(), Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    let currencies: Vec<&str> = deltas.iter().map(|(c, _)| c.as_str()).collect();
    let column = |f: fn(&Effect) -> i64| -> Vec<i64> { deltas.iter().map(|(_, e)| f(e)).collect() };
    sqlx::query(
        "insert into ledger_totals (partition, currency, balances, held, in_transit, deposits, withdrawals)
         select $1, c, b, h, t, d, w
           from unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[]) as u(c, b, h, t, d, w)
          order by c
         on conflict (partition, currency) do update set
           balances = ledger_totals.balances + excluded.balances,
           held = ledger_totals.held + excluded.held,
           in_transit = ledger_totals.in_transit + excluded.in_transit,
           deposits = ledger_totals.deposits + excluded.deposits,
           withdrawals = ledger_totals.withdrawals + excluded.withdrawals",
    )
    .bind(partition)
    .bind(&currencies)
    .bind(column(|e| e.balances))
    .bind(column(|e| e.held))
    .bind(column(|e| e.in_transit))
    .bind(column(|e| e.deposits))
    .bind(column(|e| e.withdrawals))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
