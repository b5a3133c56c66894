//! Integration tests of the projection workers: real broker, real Postgres,
//! real worker processes, and a re-fold of the topic to compare against.

mod common;
mod exactly_once;
mod replay_locks;
mod resume;
