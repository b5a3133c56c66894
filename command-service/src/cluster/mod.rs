//! Write-side scale-out: the writers' consumer group that gives each instance
//! its share of the partitions, and the directory in which instances find
//! each other.
//!
//! Ownership is for speed, never for safety: every acknowledgement is still
//! proven by offsets and judged by the fold rule (`docs/log-protocol.md`), so
//! an instance that wrongly believes it owns a partition can cost retries,
//! never a lost or doubled commit.

pub mod membership;
pub mod registry;
