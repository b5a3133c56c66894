//! Ledgerline's command service: the write side.
//!
//! It owns the HTTP command API (accounts, transfers, and the internal legs
//! the transfer driver records), the partition writers that turn commands into
//! commit records in the Kafka events topic (group commit, offset-proven
//! acknowledgement), the write-side state rebuilt from snapshot plus log tail,
//! the snapshot table, and scale-out: instances share the partitions through
//! a consumer group and forward each request to its partition's owner. It does not own any read model (see `projections`),
//! nor the meaning of a record (see `events`, whose fold rule it applies).
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`: wiring and shutdown order.
//! - [`cluster`] — the writers' consumer group, and the directory of instances (who owns what).
//! - [`config`] — flags with environment fallbacks.
//! - [`directory`] — account currencies, transfer sources and statuses across partitions, `Prefer: wait`.
//! - [`erasure`] — erasing a data subject: its erasure in the log, then its key destroyed.
//! - [`error`] — the crate's error and refusal types.
//! - [`flight`] — a batch sent and not yet answered; answering its requests.
//! - [`http`] — routes, extraction, forwarding, and the one mapping of errors to problem+json.
//! - [`metrics`] — Prometheus metrics: HTTP by route, the writers and their partitions, the process.
//! - [`ownership`] — each partition's life here: assigned, loaded, served, handed over.
//! - [`partitions`] — the routing table: which partitions are served here, by which writer.
//! - [`pending`] — the in-flight overlay the next batch is planned against.
//! - [`plan`] — deciding a batch against the state left by the commands before it.
//! - [`recovery`] — loading a partition: kept state or snapshot, plus the log tail.
//! - [`send`] — sending a batch of commits and collecting delivery offsets.
//! - [`snapshot`] — taking write-side snapshots.
//! - [`state`] — a partition's folded state and idempotency keys.
//! - [`store`] — the SQL (snapshots) and migrations.
//! - [`subjects`] — the data subjects' keys a batch needs; sealing its personal fields.
//! - [`verdict`] — the answer for a commit the log has judged (accepted, another attempt's, or `write_conflict`).
//! - [`writer`] — the per-partition group-commit writer.

pub mod app;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod erasure;
pub mod error;
pub mod flight;
pub mod http;
pub mod metrics;
pub mod ownership;
pub mod partitions;
pub mod pending;
pub mod plan;
pub mod recovery;
pub mod send;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod subjects;
pub mod verdict;
pub mod writer;

pub use app::Application;
pub use config::Config;
pub use error::Error;
