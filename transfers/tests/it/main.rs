//! Integration tests of transfers and of the whole system's observability:
//! every service a process of its own.

mod bank;
mod boot;
mod chaos;
mod cluster;
mod erasure;
mod paths;
mod prometheus;
mod restore;
mod stack;
mod traces;
