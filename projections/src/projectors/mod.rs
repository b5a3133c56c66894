//! The read models, one module each.

pub mod accounts;
pub mod archive;
pub mod entries;
