//! Ledgerline's webhooks: partners hear about money as it moves, from the
//! log, signed, in order per account, and nothing can lose a delivery.
//!
//! It owns the webhook endpoints, their signing secrets (sealed under the
//! KEK), the messages made from the log, the deliveries and their attempts
//! (every `webhook_` table), and serves `/v1/webhooks/endpoints`. It never
//! writes to Kafka and decides nothing: every message is an event the fold
//! rule accepted.
//!
//! # How it works
//! - **Intake.** A consumer group (`WEBHOOKS_GROUP`) spreads the partitions
//!   over the workers. Each assigned partition is folded from its start with
//!   the fold rule; every accepted event past the partition's cursor becomes a
//!   message and one delivery per endpoint whose filter and scope admit it,
//!   stored with the cursor's move in one transaction: enqueued exactly once.
//! - **Dispatch.** Per (endpoint, account), only the pending delivery first
//!   in log order is sent; it stays pending until the receiver answers 2xx,
//!   so a later event of that account waits, and other accounts flow on.
//!   Failures are retried on the Standard Webhooks schedule with jitter;
//!   `Retry-After` is honoured; a 410 or days of nothing but failures disable
//!   the endpoint. At least once: a crash after the 2xx and before it is
//!   recorded sends it again, with the same `webhook-id`.
//! - **Signing.** Standard Webhooks: `webhook-id`, `webhook-timestamp`,
//!   `webhook-signature` (`v1,` HMAC-SHA256 of `id.timestamp.body`), with the
//!   previous secret's signature beside the new one during a rotation's overlap.
//! - **Egress.** https to public addresses only, checked when a URL is saved
//!   and on the address dialled; redirects are never followed.
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`.
//! - [`config`] — flags with environment fallbacks.
//! - [`dispatch`] — the due deliveries of the owned partitions, sent and recorded.
//! - [`egress`] — which URLs and addresses may be called (SSRF rules; pure).
//! - [`error`] — the crate's error type.
//! - [`http`] — the endpoints API, its OpenAPI document, errors as problem+json.
//! - [`intake`] — the group member folding the log into deliveries.
//! - [`metrics`] — attempts, latency, lag and disabled endpoints.
//! - [`payload`] — an accepted event as a message (pure).
//! - [`route`] — which endpoints a message is for (pure).
//! - [`schedule`] — when a failed delivery is tried again (pure).
//! - [`secrets`] — sealed signing secrets, and personal fields opened per endpoint.
//! - [`send`] — one signed HTTP attempt, with the connect-time address check.
//! - [`signing`] — Standard Webhooks secrets and signatures (pure).
//! - [`state`] — what the handlers share.
//! - [`store`] — the SQL.

pub mod app;
pub mod config;
pub mod dispatch;
pub mod egress;
pub mod error;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod payload;
pub mod route;
pub mod schedule;
pub mod secrets;
pub mod send;
pub mod signing;
pub mod state;
pub mod store;

pub use app::Application;
pub use config::Config;
