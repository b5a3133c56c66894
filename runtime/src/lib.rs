//! Process plumbing shared by Ledgerline's services.
//!
//! It owns how a service logs, how it learns it must stop, and the shape of an
//! error response, and the Kafka clients every service builds the same way
//! (idempotent producer, assignment-only reader). It owns no domain logic.
//!
//! # Layout
//! - [`telemetry`] — the tracing subscriber, text or JSON logs.
//! - [`shutdown`] — the one graceful-shutdown signal every loop takes.
//! - [`problem`] — `application/problem+json` responses.
//! - [`kafka`] — producer, topic creation, watermarks, reading partition ranges.

pub mod kafka;
pub mod problem;
pub mod shutdown;
pub mod telemetry;

/// The consistency-token key used when none is configured. Fine for a laptop;
/// set `CONSISTENCY_TOKEN_KEY` in any shared deployment (services warn at start).
pub const DEV_TOKEN_KEY: &str = "ledgerline-development-token-key";
