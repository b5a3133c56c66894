//! Ledgerline's command service: the write side.
//!
//! It owns the HTTP command API (accounts, transfers, and the internal legs
//! the transfer driver records), the partition writers that turn commands into
//! commit records in the Kafka events topic (group commit, offset-proven
//! acknowledgement), the write-side state rebuilt from snapshot plus log tail,
//! and the snapshot table. It does not own any read model (see `projections`),
//! nor the meaning of a record (see `events`, whose fold rule it applies).
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`, and the request router to writers.
//! - [`config`] — flags with environment fallbacks.
//! - [`directory`] — account currencies, transfer sources and statuses across partitions, `Prefer: wait`.
//! - [`error`] — the crate's error and refusal types.
//! - [`http`] — routes, extraction, and the one mapping of errors to problem+json.
//! - [`pending`] — the in-flight overlay the next batch is planned against.
//! - [`plan`] — deciding a batch against the state left by the commands before it.
//! - [`recovery`] — rebuilding state from snapshot plus log tail at start-up.
//! - [`send`] — sending a batch of commits and collecting delivery offsets.
//! - [`snapshot`] — taking write-side snapshots.
//! - [`state`] — a partition's folded state and idempotency keys.
//! - [`store`] — the SQL (snapshots) and migrations.
//! - [`writer`] — the per-partition group-commit writer.

pub mod app;
pub mod config;
pub mod directory;
pub mod error;
pub mod http;
pub mod pending;
pub mod plan;
pub mod recovery;
pub mod send;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod writer;

pub use app::Application;
pub use config::Config;
pub use error::Error;
