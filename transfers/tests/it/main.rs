//! Integration tests of transfers: every service a process of its own.

mod bank;
mod cluster;
mod paths;
mod stack;
