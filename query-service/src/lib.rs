//! Ledgerline's query service: the read side's HTTP API.
//!
//! A thin, read-only service over the read models that `projections` owns:
//! one account (with `ETag`), pages of accounts and entries (keyset cursors),
//! and read-your-writes through consistency tokens, woken by Postgres
//! `LISTEN/NOTIFY`. It holds no business logic and writes nothing; its
//! database role may only SELECT and its sessions are read-only.
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`, shared state.
//! - [`config`] — flags with environment fallbacks.
//! - [`consistency`] — waiting for a log position via checkpoint notifications.
//! - [`cursor`] — opaque keyset cursors.
//! - [`error`] — the crate's error type.
//! - [`http`] — routes, parameters, the one mapping of errors to problem+json.
//! - [`store`] — the SQL (SELECTs only).

pub mod app;
pub mod config;
pub mod consistency;
pub mod cursor;
pub mod error;
pub mod http;
pub mod store;

pub use app::Application;
pub use config::Config;
