//! Integration tests of the command service: one binary, real processes.

mod api;
mod broker_crash;
mod charged_once;
mod client;
mod cluster;
mod cluster_load;
mod crash;
mod fuzz;
mod harness;
mod hostile;
mod idempotency;
mod metrics;
mod snapshot;
mod split_brain;
mod split_brain_chaos;
