//! Process plumbing shared by Ledgerline's services.
//!
//! It owns how a service logs, how it learns it must stop, the shape of an
//! error response, who a caller is (bearer tokens) and how fast it may go, and the Kafka clients every service builds the same way
//! (idempotent producer, assignment-only reader). It owns no domain logic.
//!
//! # Layout
//! - [`telemetry`] — the tracing subscriber: text or JSON logs, OTLP span export.
//! - [`trace`] — W3C trace context: request spans, commit headers, batch links.
//! - [`process_metrics`] — CPU, memory, file descriptors and start time of the process.
//! - [`shutdown`] — the one graceful-shutdown signal every loop takes.
//! - [`problem`] — `application/problem+json` responses.
//! - [`keys`] — data keys of data subjects (crypto-shredding): sealed by the KEK, cached, erased.
//! - [`kafka`] — producer, topic creation, watermarks, reading partition ranges.
//! - [`group`] — a consumer-group member whose positions are kept outside Kafka.
//! - [`resume`] — whether the log proves a position saved outside it (a checkpoint, a snapshot).
//! - [`ops`] — a worker's `/healthz`, `/readyz` and `/metrics`.
//! - [`http_metrics`] — requests and latency by route, for every HTTP service.
//! - [`serve`] — serving HTTP with timeouts and a connection limit (hostile clients).
//! - [`conn_metrics`] — open, refused and evicted connections, timeouts by kind.
//! - [`auth`] — bearer JWTs checked in one layer; principals and roles.
//! - [`cors`] — which browser origins may call an API (`CORS_ALLOWED_ORIGINS`).
//! - [`rate_limit`] — the per-client command rate limit.
//! - [`args`] — the flags every service shares (the log, the database), flattened into each config.
//! - [`boot`] — one boot path: listen first, wait for the broker and database (back-off), then serve.
//! - [`contract`] — what the OpenAPI documents promise beyond the types: exact patterns, opaque values, links.
//! - [`secret`] — configuration secrets that never print.

pub mod args;
pub mod auth;
pub mod boot;
pub mod conn_metrics;
pub mod contract;
pub mod cors;
pub mod group;
pub mod http_metrics;
pub mod kafka;
pub mod keys;
pub mod ops;
pub mod problem;
pub mod process_metrics;
pub mod rate_limit;
pub mod resume;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod trace;

/// The HS256 secret of `Config::local` and the tests; never for a deployment.
pub const TEST_JWT_SECRET: &str = "ledgerline-test-jwt-secret";

/// The consistency-token key used when none is configured. Fine for a laptop;
/// set `CONSISTENCY_TOKEN_KEY` in any shared deployment (services warn at start).
pub const DEV_TOKEN_KEY: &str = "ledgerline-development-token-key";
