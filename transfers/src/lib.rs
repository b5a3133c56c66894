//! Ledgerline's transfer driver: the process manager that carries a transfer
//! across accounts.
//!
//! A transfer is recorded as legs, each a commit on the account that decides
//! it (see `events::transfer`). The source decides its own legs (debit, hold,
//! post, void); the driver records the ones it cannot: the destination's
//! credit (or refusal) after a debit or a posted hold, the source's reversal
//! after a refusal, and the source's expiry of a hold past its timeout. It
//! reads the log and calls the command service's internal endpoints
//! (`/v1/internal/transfers/{id}/credit|reverse|expire`, role `system`).
//!
//! It owns no state of its own: everything is re-derived from the log, and
//! every step is idempotent on the command side (a leg is recorded at most
//! once per account), so `kill -9` at any point is safe. It decides nothing
//! either: the command service decides each leg. It never writes to Kafka
//! except its consumer group's offsets, and serves no reads.
//!
//! # How it works
//! - **Ownership.** A consumer group (`TRANSFERS_GROUP`) on the events topic
//!   assigns the partitions and notices dead drivers; ops scale by starting
//!   more. Each driver acts only on the partitions it is assigned, expiries
//!   included.
//! - **Folding.** Each assigned partition is read from its first offset and
//!   folded with the fold rule (`events::LogFold`), so only commits the log
//!   accepted are acted on. Rebuilding from the start on every assignment
//!   makes start-up cost linear in the partition's length; snapshots are
//!   future work. `/readyz` answers 200 once every assigned partition is
//!   folded to the end it had at assignment.
//! - **Acting.** Events at or past the group's committed offset (none: 0,
//!   i.e. everything) call for steps: `TransferDebited` → credit of the
//!   destination in the source's currency; `HoldPosted` → credit of the posted
//!   amount; `TransferRefused` → reversal on the source. Steps found while
//!   folding up to the end wait until then, and are dropped if the
//!   partition's own fold shows their leg recorded already.
//! - **Holds.** Every hold open in the fold (`Leg::Held`) gets a timer at its
//!   `expires_at`; a post, void or expiry later in the log cancels it.
//!   Expiries are not checkpointed: they are rebuilt from the fold.
//! - **Retries.** A step is retried until done: capped exponential back-off
//!   (50 ms to 2 s) on no answer, 5xx, 429 or `write_conflict`; every second
//!   on `transfer_not_expired`; every 5 s, logged as an error, on any other
//!   refusal (a bug: dropping the step would leave money stuck).
//!   `CONCURRENCY` bounds the steps in flight; the others wait in a queue,
//!   and fetching pauses while that queue is long.
//! - **Checkpoints.** Steps finish out of order; a partition's committed
//!   offset is the lowest offset with a step not done (or the next to read).
//!   It is committed every second and when the partition is revoked; a
//!   revoked partition's state is dropped and its steps stop retrying.
//! - **Stopping.** On SIGTERM: stop taking records, let steps in flight
//!   finish for up to 10 s, commit, leave the group, exit 0. A missing broker
//!   or command service is waited for, never a reason to exit.
//!
//! # Layout
//! - [`app`] — `Application::build(config).run_until_stopped()`.
//! - [`config`] — flags with environment fallbacks.
//! - [`consumer`] — the group consumer: assignment from the start, commit on revocation.
//! - [`dispatch`] — steps waiting for a slot, and the tasks taking them.
//! - [`driver`] — one partition's fold and the steps it calls for; checkpoints (pure).
//! - [`error`] — the crate's error type.
//! - [`metrics`] — steps per kind, open holds, steps in flight.
//! - [`part`] — what the worker keeps per assigned partition.
//! - [`steps`] — the steps, their HTTP calls, and what each answer means.
//! - [`token`] — the driver's bearer token (minted HS256, or given).
//! - [`worker`] — the loop: records, steps, expiry timers, checkpoints, shutdown.

pub mod app;
pub mod config;
pub mod consumer;
pub mod dispatch;
pub mod driver;
pub mod error;
pub mod metrics;
pub mod part;
pub mod steps;
pub mod token;
pub mod worker;

pub use app::Application;
pub use config::Config;
