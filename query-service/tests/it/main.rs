//! Integration tests of the query service: the whole system in one process
//! (command service, a projection worker, the query service) on a real broker
//! and a real Postgres.

mod reads;
mod security;
mod stack;
