//! The read models, one module each.
//!
//! # Layout
//! - [`accounts`] — one row per account: the fold state (balance, held, version, head).
//! - [`entries`] — `account_entries`: every change of a balance (deposits,
//!   withdrawals, transfer legs), with its transfer.
//! - [`archive`] — `event_archive`: every accepted event.
//! - [`transfers`] — `transfers` (one row per transfer, merged from its legs in
//!   any order) and `transfer_steps` (every leg).
//! - [`totals`] — `ledger_totals`: per partition and currency, the sums the
//!   money identity is checked on.

pub mod accounts;
pub mod archive;
pub mod entries;
#[cfg(test)]
mod fixtures;
pub mod totals;
pub mod transfers;
