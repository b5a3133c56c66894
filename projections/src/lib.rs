//! Ledgerline's projection workers: the read side's writers.
//!
//! A worker joins a consumer group on the events topic and folds commits into
//! PostgreSQL read models with the fold rule of `events`, exactly once: a
//! batch's read-model writes and its checkpoints go into one transaction, and
//! the checkpoint only moves from the offset the batch started at. It owns the
//! read-model tables and their migrations. It does not serve reads (that is
//! `query-service`) and never writes to Kafka.
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`.
//! - [`batch`] — decoding and folding a batch against the stored state (pure).
//! - [`config`] — flags with environment fallbacks.
//! - [`consumer`] — the group consumer and its rebalance events.
//! - [`error`] — the crate's error type.
//! - [`metrics`] — per projection and partition metrics.
//! - [`projector`] — the trait a read model implements, and the list of them.
//! - [`projectors`] — `accounts`, `account_entries`, `event_archive`,
//!   `transfers` (with `transfer_steps`), `ledger_totals`.
//! - [`replay`] — rebuild read models in a shadow schema; swap or compare.
//! - [`store`] — the SQL: set-based writes, guarded checkpoints, migrations,
//!   the transfers and ledger totals, and the shadow schema of a replay.
//! - [`worker`] — the consume, batch, apply, checkpoint loop.

pub mod app;
pub mod batch;
pub mod config;
pub mod consumer;
pub mod error;
pub mod metrics;
pub mod projector;
pub mod projectors;
pub mod replay;
pub mod store;
pub mod worker;

pub use app::Application;
pub use config::Config;
