//! The shared contract of Ledgerline: what a record in the events topic means.
//!
//! This crate owns the wire format of a *commit* (one Kafka record per accepted
//! command), the account aggregate (its events, `decide` and `apply`), the
//! transfer legs between accounts and the money identity across them, the fold
//! rule every reader applies to a partition, and the partitioner that maps an
//! aggregate id to a partition exactly as Kafka's default partitioner does.
//!
//! It does not own any I/O: no Kafka, no database, no HTTP. Everything here is
//! pure and deterministic, so the command service, the projection workers and
//! the analyst tools agree on the log's accepted history by construction.
//!
//! # Layout
//! - [`account`] — the account aggregate: commands, events, `decide`, `apply`.
//! - [`currency`] — the ISO-4217 currency codes the domain accepts.
//! - [`commit`] — the commit record (envelope, event encoding, headers).
//! - [`error`] — `DomainError`: why `decide` refused, with stable codes.
//! - [`fold`] — the fold rule (accepted or rejected) and a fold over accounts.
//! - [`ledger`] — money across accounts: each event's effect on the totals, a transfer's status.
//! - [`partition`] — Kafka-compatible murmur2 partitioning.
//! - [`personal`] — personal fields sealed per data subject (crypto-shredding); pure, keys from the caller.
//! - [`subject`] — the data subject aggregate: its erasure, `decide`, `apply`, its commit.
//! - [`position`] — log positions and the opaque consistency token.
//! - [`resume`] — whether the log proves a position saved outside it (checkpoints, snapshots).
//! - [`transfer`] — transfer legs between accounts: their events, `decide` and `apply`.
//! - [`upcast`] — old event schema versions read as the current one.

pub mod account;
pub mod commit;
pub mod currency;
pub mod error;
pub mod fold;
pub mod ledger;
pub mod partition;
pub mod personal;
pub mod position;
pub mod resume;
pub mod subject;
pub mod transfer;
pub mod upcast;

pub use account::{apply, decide, Account, AccountEvent, Command, DomainError, Status};
pub use commit::{CommandInfo, Commit, DecodeError, Event, Metadata, Record};
pub use fold::{fold_commit, judge, LogFold, Rejection, Verdict};
pub use ledger::{Effect, Legs, TransferStatus};
pub use partition::{murmur2, partition_for};
pub use personal::Personal;
pub use position::{ConsistencyToken, Position};
