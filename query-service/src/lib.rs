//! Ledgerline's query service: the read side's HTTP API.
//!
//! A thin, read-only service over the read models that `projections` owns:
//! one account (with `ETag`), pages of accounts, entries and an account's
//! transfers (keyset cursors), one transfer with its steps, the ledger totals
//! (each answer one statement, one snapshot), and read-your-writes through
//! consistency tokens, woken by Postgres `LISTEN/NOTIFY`. It holds no business
//! logic and writes nothing; its database role may only SELECT and its
//! sessions are read-only. Ids that only ever refused a transfer credit
//! (`not_opened` rows) are no accounts: never listed, 404 when asked for.
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`, shared state.
//! - [`config`] — flags with environment fallbacks.
//! - [`consistency`] — waiting for a log position via checkpoint notifications.
//! - [`cursor`] — opaque keyset cursors.
//! - [`error`] — the crate's error type.
//! - [`http`] — routes, parameters, the one mapping of errors to problem+json:
//!   `accounts` (one, list, entries), `history` (as of an instant), `transfers`
//!   (one transfer, an account's transfers), `ledger` (totals), `events` (the
//!   archive), `openapi` (the document).
//! - [`metrics`] — Prometheus metrics: HTTP, consistency waits, lag, pool, process.
//! - [`personal`] — opening sealed personal fields on read (`null` once erased).
//! - [`store`] — the SQL (SELECTs only) of accounts, entries and events;
//!   [`store::transfers`] that of transfers, their steps and the ledger totals.

pub mod app;
pub mod config;
pub mod consistency;
pub mod cursor;
pub mod error;
pub mod http;
pub mod metrics;
pub mod personal;
pub mod store;

pub use app::Application;
pub use config::Config;
